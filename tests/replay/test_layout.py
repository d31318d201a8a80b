"""The replay's new parts through Pilot: folds that open, the transcript, maximize, the timeline's
zoom and pan (keys and wheel), space that follows the content, the header's facts and the diff."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from replay.app import ReplayApp
from replay.load import load
from replay.screens.trace import EMPTY_TERMINAL_WIDTH, TraceScreen
from replay.widgets.axis import TimeAxis
from replay.widgets.fold import Fold
from replay.widgets.keybar import KeyBar
from replay.widgets.transcript import Transcript, TranscriptEntry
from replay.widgets.waterfall import Waterfall
from tests.replay.conftest import AGENT_RUN, FakeClock, terminal_settled
from tests.replay.test_app import detail_text, shown, trace_screen


def agent_app() -> ReplayApp:
    return ReplayApp(load(AGENT_RUN), source=AGENT_RUN, clock=FakeClock())


async def test_the_folds_of_a_turn_open_on_a_click_and_on_enter() -> None:
    app = agent_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = trace_screen(app)
        await pilot.press("m", "m")
        await pilot.pause()
        system = screen.query_one("#fold-system", Fold)
        earlier = screen.query_one("#fold-earlier", Fold)
        assert (
            system.display
            and not system.expanded
            and "You are a careful coding agent" not in detail_text(screen).split("▸ system prompt")[0]
        )
        screen.query_one("#detail-scroll").scroll_to_widget(system, animate=False)
        await pilot.pause()
        await pilot.click("#fold-system")
        assert system.expanded
        assert "You are a careful coding agent. You work in the current directory." in detail_text(screen)
        earlier.focus()
        await pilot.press("enter")
        assert earlier.expanded and "greet() forgets the exclamation mark" in detail_text(screen)
        await pilot.press("m")  # another span: its folds start closed
        await pilot.pause()
        assert not system.expanded and not earlier.expanded


async def test_the_transcript_has_every_turn_and_a_click_selects_its_span() -> None:
    app = agent_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = trace_screen(app)
        await pilot.press("t")
        await pilot.pause()
        transcript = screen.query_one(Transcript)
        assert transcript.display and not screen.query_one("#detail-scroll").display
        entries = list(transcript.query(TranscriptEntry))
        text = "\n".join(str(e.block.lines[0]) for e in entries)
        for expected in ("turn 1", "turn 4", "tool read_file", "tool run_tests", "the agent started",
                         "the task's check passed", "terminal"):  # fmt: skip
            assert expected in text, expected
        turn3 = next(e for e in entries if "turn 3" in str(e.block.lines[0]))
        transcript.scroll_to_widget(turn3, animate=False, top=True)
        await pilot.pause()
        await pilot.click(turn3)
        await pilot.pause()
        selected = screen.span_tree.spans[screen.timeline.selected]
        assert selected.kind == "model_call" and turn3.has_class("-current")
        await pilot.press("m")  # the next call: its entry is marked
        await pilot.pause()
        turn4 = next(e for e in entries if "turn 4" in str(e.block.lines[0]))
        assert turn4.has_class("-current") and not turn3.has_class("-current")
        await pilot.press("t")
        assert not transcript.display and screen.query_one("#detail-scroll").display


async def test_z_maximizes_the_focused_pane_and_escape_restores_it() -> None:
    app = agent_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = trace_screen(app)
        await pilot.press("m", "tab", "z")
        await pilot.pause()
        detail = screen.query_one("#detail-scroll")
        assert screen.maximized is detail and detail.region.height >= 20
        assert (
            screen.query_one("#transport").region.height == 1 and screen.query_one(KeyBar).region.height == 1
        )
        await pilot.press("escape")
        await pilot.pause()
        assert screen.maximized is None
        await pilot.press("shift+tab", "z")  # the waterfall
        await pilot.pause()
        assert screen.maximized is screen.query_one(Waterfall)


async def test_zoom_and_pan_with_keys_and_the_wheel() -> None:
    app = agent_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = trace_screen(app)
        waterfall = screen.query_one(Waterfall)
        window = waterfall.window
        await pilot.press("m", "m")
        head = screen.timeline.position_ns
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert window.zoom == pytest.approx(4)
        assert window.start_ns <= head <= window.end_ns  # around the playhead
        assert "zoom ×4" in shown(screen.query_one(TimeAxis))
        start = window.start_ns
        await pilot.press("right_curly_bracket")
        assert window.start_ns == pytest.approx(start + window.span_ns / 4)
        await pilot.press("left_square_bracket")
        assert window.zoom == pytest.approx(2)
        await pilot.press("0")
        assert window.zoom == 1
        # The wheel over the time axis zooms at the pointer; shift+wheel pans.
        axis = screen.query_one(TimeAxis)
        from textual.events import MouseScrollDown, MouseScrollUp

        name_w, bar_w = waterfall.bar_geometry()
        x = name_w + bar_w // 4
        kwargs = dict(x=x, y=0, delta_x=0, delta_y=0, button=0, shift=False, meta=False, ctrl=False)
        axis.post_message(MouseScrollUp(axis, **kwargs))
        await pilot.pause()
        assert window.zoom > 1.3 and window.start_ns < window.duration_ns / 4 < window.end_ns
        axis.post_message(MouseScrollDown(axis, **{**kwargs, "shift": True}))
        await pilot.pause()
        assert window.start_ns > 0  # panned later


async def test_the_window_follows_the_playhead() -> None:
    app = agent_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = trace_screen(app)
        window = screen.query_one(Waterfall).window
        await pilot.press(*["right_square_bracket"] * 4)  # 16 times at the start
        assert window.end_ns < screen.timeline.duration_ns / 2
        await pilot.press("end")
        assert window.start_ns <= screen.timeline.position_ns <= window.end_ns


async def test_the_waterfall_is_as_tall_as_its_rows_and_the_panes_get_the_rest() -> None:
    app = agent_app()
    async with app.run_test(size=(200, 60)) as pilot:
        screen = trace_screen(app)
        await pilot.pause()
        assert screen.query_one(Waterfall).region.height == len(screen.span_tree)  # 15 rows, no blank
        assert screen.query_one("#lower").region.height >= 60 - 15 - 6
    app = agent_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = trace_screen(app)
        await pilot.pause()
        # A small window: the panes keep 45% (at least 10 lines), the waterfall scrolls.
        assert screen.query_one("#lower").region.height >= 10
        assert screen.query_one(Waterfall).region.height < len(screen.span_tree)


async def test_an_empty_terminal_gives_its_width_away(tmp_path: Path) -> None:
    app = agent_app()
    async with app.run_test(size=(160, 40)) as pilot:
        screen = trace_screen(app)
        await terminal_settled(pilot)  # at the start the agent has drawn nothing
        await pilot.pause()
        box = screen.query_one("#terminal-box")
        assert box.region.width == EMPTY_TERMINAL_WIDTH and box.has_class("-empty")
        assert "nothing drawn yet" in box.border_subtitle
        await pilot.press("end")
        await terminal_settled(pilot)
        await pilot.pause()
        assert box.region.width > 60 and not box.has_class("-empty")


async def test_the_changes_span_shows_the_diff() -> None:
    app = agent_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = trace_screen(app)
        row = next(i for i, s in enumerate(screen.span_tree.spans) if s.kind == "blast_radius")
        screen.timeline.selected = row
        screen.redraw()
        await pilot.pause()
        text = detail_text(screen)
        assert "changes.diff" in text and '-    return f"Hello, {name}"' in text
        assert '+    return f"Hello, {name}!"' in text


def test_the_header_says_unknown_tokens_and_a_failed_check(tmp_path: Path) -> None:
    """A call that went through without reporting usage makes tokens unknown, not 0; a failed
    check and an errored call are separate facts from the run's own outcome."""
    run = tmp_path / "run"
    shutil.copytree(AGENT_RUN, run)
    lines = []
    for raw in (run / "trace.jsonl").read_bytes().splitlines():
        record = orjson.loads(raw)
        a = record["attributes"]
        if record["kind"] == "model_call" and a.get("cab.llm.call_index") == 2:
            for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
                a.pop(key)
            a["cab.llm.usage_reported"] = False
        if record["kind"] == "verify":
            a["passed"] = False
        if record["kind"] == "run":
            a["check_passed"] = False
        lines.append(orjson.dumps(record))
    (run / "trace.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    from cab_trace.llm.summary import call_rows
    from cab_trace.outcome import outcome_facts, so_far
    from replay.outcome import run_numbers

    trace = load(run)[0]
    assert trace.tree is not None
    numbers = run_numbers(trace.tree)
    calls = call_rows(s for s in trace.spans if s.kind == "model_call")
    facts = {
        f.value if not f.label else f"{f.label} {f.value}"
        for f in outcome_facts(numbers, so_far(calls, 2**63))
    }
    assert "✗ check failed" in facts and "exit 0" in facts and "run ok" in facts
    assert "tokens unknown (1 call(s) reported none)" in facts
    assert numbers.input_tokens is None  # the same rule as the sweep's numbers


async def test_the_footer_keeps_help_and_quit_and_m_at_80_columns() -> None:
    app = agent_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = trace_screen(app)
        await pilot.pause()
        bar = shown(screen.query_one(KeyBar))
        assert bar.rstrip().endswith("? Help  q Quit") and "m Model call" in bar and "t Transcript" in bar
        # A click on a key does what it says.
        keybar = screen.query_one(KeyBar)
        x = bar.index("m Model call")
        await pilot.click(KeyBar, offset=(x + 1, 0))
        assert screen.span_tree.spans[screen.timeline.selected].kind == "model_call"
        assert isinstance(keybar.screen, TraceScreen)
