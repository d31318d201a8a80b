"""The terminal pane through Pilot: zoom shows all of a recording larger than the pane, resize
events and asciicast v3 are honoured, an emulator error is a note in the pane, and q quits while
the emulator is busy with a large recording."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from replay.app import ReplayApp
from replay.load import load
from replay.terminal import Emulator
from replay.widgets.terminal_pane import TerminalPane, screen_text
from tests.replay.conftest import DEMO_RUN, FakeClock, terminal_settled
from tests.replay.test_app import shown, trace_screen


def run_with_cast(directory: Path, header: dict[str, object], events: list[list[object]]) -> Path:
    """A copy of the demo run (its trace) with the given terminal recording."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO_RUN / "trace.jsonl", directory / "trace.jsonl")
    lines = [orjson.dumps(header)] + [orjson.dumps(e) for e in events]
    (directory / "terminal.cast").write_bytes(b"\n".join(lines) + b"\n")
    return directory


def tall_run(directory: Path) -> Path:
    """120x36, every row written: the last one says LAST LINE (as pi's and aider's final lines)."""
    rows = [f"row {y:02d} " + "·" * 100 for y in range(1, 36)] + ["LAST LINE: task fixed, 1 file changed"]
    events: list[list[object]] = [
        [0.1 + y * 0.02, "o", row + ("\r\n" if y < 35 else "")] for y, row in enumerate(rows)
    ]
    return run_with_cast(directory, {"version": 2, "width": 120, "height": 36}, events)


async def test_maximize_gives_the_terminal_the_window_and_shows_every_row(tmp_path: Path) -> None:
    app = ReplayApp(load(tall_run(tmp_path / "run")), clock=FakeClock())
    async with app.run_test(size=(140, 40)) as pilot:
        screen = trace_screen(app)
        await pilot.press("end")
        await terminal_settled(pilot)
        box = screen.query_one("#terminal-box")
        assert box.size.height < 36  # the pane alone cannot show all 36 rows
        await pilot.press("tab", "tab")  # waterfall → detail → terminal
        assert screen.focused is box
        await pilot.press("z")
        await pilot.pause()
        assert screen.maximized is box
        assert screen.query_one("#waterfall").region.height == 0  # not laid out beside it
        pane = screen.query_one(TerminalPane)
        # Every row of the pane is inside the box's visible area (the tmux test reads the screen).
        visible = pane.region.intersection(box.scrollable_content_region)
        assert visible.height == 36 and visible.width >= 120
        text = shown(pane)
        assert "row 01" in text and "LAST LINE: task fixed, 1 file changed" in text
        await pilot.press("z")
        await pilot.pause()
        assert screen.maximized is None
        assert screen.query_one("#waterfall").size.height > 0 and box.size.height < 36


async def test_without_zoom_the_pane_follows_the_cursor_to_the_last_line(tmp_path: Path) -> None:
    app = ReplayApp(load(tall_run(tmp_path / "run")), clock=FakeClock())
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("end")
        await terminal_settled(pilot)
        await pilot.pause()
        box = trace_screen(app).query_one("#terminal-box")
        pane = trace_screen(app).query_one(TerminalPane)
        # The last row (the cursor's) is scrolled into view.
        last_row = pane.region.y + 35
        assert box.scrollable_content_region.y <= last_row < box.scrollable_content_region.bottom


async def test_v3_recording_with_a_resize(tmp_path: Path) -> None:
    run = run_with_cast(
        tmp_path / "run",
        {"version": 3, "term": {"cols": 40, "rows": 10, "type": "xterm-256color"}},
        [[0.2, "o", "first\r\n"], [0.3, "r", "60x12"], [0.3, "o", "after the resize\r\n"], [0.1, "x", "0"]],
    )
    app = ReplayApp(load(run), clock=FakeClock())
    async with app.run_test(size=(150, 42)) as pilot:
        screen = trace_screen(app)
        await terminal_settled(pilot)
        assert screen.query_one("#terminal-box").border_title == "terminal 40×10"
        await pilot.press("end")
        pane = await terminal_settled(pilot)
        assert screen.query_one("#terminal-box").border_title == "terminal 60×12"
        assert pane.screen_shown is not None and pane.screen_shown.width == 60
        assert "after the resize" in shown(pane)


async def test_an_emulator_error_is_a_note_in_the_pane_not_a_crash(tmp_path: Path) -> None:
    run = run_with_cast(
        tmp_path / "run",
        {"version": 2, "width": 80, "height": 10},
        [[0.2, "o", "before \x1b[8J after\r\n"], [0.4, "o", "still here"]],
    )
    app = ReplayApp(load(run), clock=FakeClock())
    async with app.run_test(size=(150, 42)) as pilot:
        await pilot.press("end")
        pane = await terminal_settled(pilot)
        assert "before  after" in shown(pane) and "still here" in shown(pane)
        subtitle = str(trace_screen(app).query_one("#terminal-box").border_subtitle)
        assert "emulator error" in subtitle and "UnboundLocalError" in subtitle


def busy_run(directory: Path, megabytes: int) -> Path:
    """A full-screen program's output: cursor moves and a scrolling region, never a clean start,
    so a seek far in can only be approximate and the emulator's background pass has work."""
    frame = "\x1b[2;20r" + "".join(f"\x1b[{y};1Hcell {y} " + "#" * 90 for y in range(1, 20)) + "\x1b[r"
    count = megabytes * 1_000_000 // len(frame)
    events: list[list[object]] = [[0.1 + i * 3.0 / count, "o", frame] for i in range(count)]
    return run_with_cast(directory, {"version": 2, "width": 120, "height": 36}, events)


async def test_a_far_seek_in_a_busy_recording_is_marked_approximate_and_q_ends_the_emulator(
    tmp_path: Path,
) -> None:
    """(How fast q quits is measured in a real terminal, test_tmux: Pilot waits for the whole
    process to be idle after each key, which a busy emulator thread never is.)"""
    app = ReplayApp(load(busy_run(tmp_path / "run", 8)), clock=FakeClock())
    async with app.run_test(size=(150, 42)) as pilot:
        await pilot.press("end")
        await pilot.pause(0.3)
        pane = trace_screen(app).query_one(TerminalPane)
        assert pane.screen_shown is not None and not pane.screen_shown.exact  # approximate, marked
        assert "approximate" in str(trace_screen(app).query_one("#terminal-box").border_subtitle)
        assert "cell 19 ####" in shown(pane)
        worker = pane.worker
        await pilot.press("q")
    assert worker is not None
    worker._thread.join(2)
    assert not worker._thread.is_alive()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.one_of(
            st.binary(max_size=40).map(lambda b: b.decode("utf-8", errors="replace")),
            st.sampled_from(
                ["\x1b[38;5;208m", "\x1b[48;2;1;2;3m", "\x1b[1;3;4;7;9m", "\x1b[97;100m", "\x1b(0lqk"]
            ),
        ),
        max_size=20,
    ).map("".join)
)
def test_any_output_draws_as_text_in_the_pane(data: str) -> None:
    """From bytes to what the pane draws: the emulator and the colour mapping never raise."""
    emulator = Emulator(30, 6)
    emulator.feed(data)
    text = screen_text(emulator.snapshot())
    console = Console(file=io.StringIO(), width=40, color_system="truecolor", force_terminal=True)
    console.print(text)
    assert len(text.plain.split("\n")) == 6
