"""The replay driven through Textual's Pilot: every key, asserting on the timeline's state and on
what the widgets show."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widget import Widget

from replay.app import HelpScreen, PickerScreen, ReplayApp, TraceScreen
from replay.load import load
from replay.timeline import STEP_NS
from replay.widgets.detail import SpanDetail
from replay.widgets.transport import Transport
from replay.widgets.waterfall import Waterfall
from tests.replay.conftest import DEMO_RUN, HOSTILE, FakeClock, terminal_settled

SIZE = (150, 42)


def shown(widget: Widget) -> str:
    """What the widget draws, as text."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(strip.text.rstrip() for strip in lines)


def detail_text(screen: TraceScreen) -> str:
    """What the span detail shows (its open folds with their bodies), as text."""
    return screen.query_one(SpanDetail).text


def trace_screen(app: ReplayApp) -> TraceScreen:
    screen = app.screen
    assert isinstance(screen, TraceScreen)
    return screen


async def test_one_trace_opens_directly_with_its_identity(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = trace_screen(demo_app)
        header = shown(screen.query_one("#identity"))
        identity, outcome = header.splitlines()
        for expected in ("task demo/fix-greeting", "adapter command", "model scripted/demo-1"):
            assert expected in identity
        # This older run had no check and no recording proxy: neither is said to be what it was not.
        assert outcome.split() == ["no", "check", "exit", "0", "run", "ok"]
        waterfall = shown(screen.query_one(Waterfall))
        assert waterfall.splitlines()[0].lstrip().startswith("▾ run:demo/command")
        assert "command:launch" in waterfall and "cleanup:command" in waterfall
        assert "t = 0.000 s / 3.951 s" in shown(screen.query_one(Transport))


async def test_arrows_step_over_span_boundaries_and_select_the_span(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        tl = screen.timeline
        visited = [(tl.position_ns, tl.selected)]
        for _ in range(len(tl.boundaries) - 1):
            await pilot.press("right")
            visited.append((tl.position_ns, tl.selected))
        assert [t for t, _ in visited] == [float(b.time_ns) for b in tl.boundaries]
        assert [s for _, s in visited] == [b.span for b in tl.boundaries]
        assert tl.position_ns == tl.duration_ns
        detail = detail_text(screen)
        assert screen.span_tree.spans[tl.selected].name in detail
        for _ in range(len(tl.boundaries) - 1):
            await pilot.press("left")
        assert (tl.position_ns, tl.selected) == visited[0]


async def test_comma_and_full_stop_move_100_ms(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        await pilot.press("full_stop", "full_stop", "full_stop")
        assert screen.timeline.position_ns == 3 * STEP_NS
        await pilot.press("comma")
        assert screen.timeline.position_ns == 2 * STEP_NS
        await pilot.pause()
        assert "t = 0.200 s / 3.951 s" in shown(screen.query_one(Transport))


async def test_space_plays_on_the_clock_and_pauses(demo_app: ReplayApp, clock: FakeClock) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        await pilot.press("space")
        assert screen.timeline.playing
        clock.now += 1.25
        await pilot.pause(0.1)  # let the ticker run
        assert screen.timeline.position_ns == pytest.approx(1.25e9)
        assert "▶ playing" in shown(screen.query_one(Transport))
        await pilot.press("space")
        clock.now += 5
        await pilot.pause(0.1)
        assert screen.timeline.position_ns == pytest.approx(1.25e9)
        assert "⏸ paused" in shown(screen.query_one(Transport))
        await pilot.press("plus", "plus")
        assert screen.timeline.speed == 4
        await pilot.press("space")
        clock.now += 0.5
        await pilot.pause(0.1)
        assert screen.timeline.position_ns == pytest.approx(3.25e9)
        assert "×4" in shown(screen.query_one(Transport))
        await pilot.press("minus", "minus", "minus")
        assert screen.timeline.speed == 0.5


async def test_select_keys_enter_home_and_end(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        tl, tree = screen.timeline, screen.span_tree
        await pilot.press("j", "down")
        assert tl.selected == 2
        await pilot.press("k")
        assert tl.selected == 1
        await pilot.press("up", "up")
        assert tl.selected == 0
        await pilot.press("down", "down", "down", "down")  # command:launch
        assert tree.spans[tl.selected].name == "command:launch"
        assert tl.position_ns == 0
        await pilot.press("enter")
        assert tl.position_ns == tree.spans[tl.selected].start_time_unix_nano - tl.origin_ns
        await pilot.pause()
        assert "command:launch" in detail_text(screen)
        await pilot.press("end")
        assert tl.position_ns == tl.duration_ns
        await pilot.press("home")
        assert tl.position_ns == 0
        await pilot.press("G")
        assert tl.position_ns == tl.duration_ns
        await pilot.press("g")
        assert tl.position_ns == 0


async def test_the_terminal_pane_shows_the_agent_screen_at_the_playhead(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        await terminal_settled(pilot)
        assert "auth: using key" not in shown(screen.query_one("#terminal"))
        await pilot.press("end")
        await terminal_settled(pilot)
        end_screen = shown(screen.query_one("#terminal"))
        assert "auth: using key [REDACTED]" in end_screen
        assert "\x1b" not in end_screen
        await pilot.press("home")
        await terminal_settled(pilot)
        assert "auth: using key" not in shown(screen.query_one("#terminal"))


async def test_fold_filter_idle_and_help(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        waterfall = screen.query_one(Waterfall)
        await pilot.press("down", "down")  # the adapter_run span, which has children
        assert screen.span_tree.spans[screen.timeline.selected].kind == "adapter_run"
        await pilot.press("f")
        await pilot.pause()
        assert "command:launch" not in shown(waterfall)
        await pilot.press("f")
        await pilot.pause()
        assert "command:launch" in shown(waterfall)

        await pilot.press("slash", *"cleanup")
        await pilot.pause()
        text = shown(waterfall)
        assert "cleanup:command" in text and "command:launch" not in text
        await pilot.press("escape")
        await pilot.pause()
        assert "command:launch" in shown(waterfall)

        await pilot.press("i")
        await pilot.pause()
        assert screen.timeline.idle_limit_s == 2.0
        assert "idle ≤ 2 s" in shown(screen.query_one(Transport))
        await pilot.press("i")
        assert screen.timeline.idle_limit_s is None

        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(demo_app.screen, HelpScreen)
        help_text = shown(demo_app.screen.query_one("#help"))
        for key in ("space", "← / →", ", / .", "enter", "e / E", "+ / -"):
            assert key in help_text
        await pilot.press("escape")
        assert isinstance(demo_app.screen, TraceScreen)
        await pilot.press("q")
    assert demo_app.return_code == 0


async def test_transport_click_seeks(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        transport = screen.query_one(Transport)
        label_w = len(transport.label()) + 2
        bar_w = transport.size.width - max(label_w, 44)
        await pilot.click(Transport, offset=(max(label_w, 44) + bar_w // 2 + 1, 0))
        assert screen.timeline.position_ns / screen.timeline.duration_ns == pytest.approx(0.5, abs=0.03)


async def test_sweep_opens_the_picker_sorts_filters_and_opens_a_trace(
    sweep_file: Path, clock: FakeClock
) -> None:
    app = ReplayApp(load(sweep_file), clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        table = app.screen.query_one("#traces")
        text = shown(table)
        for name in ("run:cell-0", "run:cell-1", "run:cell-2", "ERROR"):
            assert name in text
        await pilot.press("s")  # sort by duration
        await pilot.press("s")  # by span count … then back to name order by clicking the header
        await pilot.click("#traces", offset=(2, 0))
        await pilot.pause()
        rows = [line for line in shown(table).splitlines() if "run:cell" in line]
        assert [r.split()[0] for r in rows] == ["run:cell-0", "run:cell-1", "run:cell-2"]
        await pilot.press("slash", *"cell-2", "enter")
        await pilot.pause()
        rows = [line for line in shown(table).splitlines() if "run:cell" in line]
        assert len(rows) == 1 and "run:cell-2" in rows[0]
        await pilot.press("escape", "down", "enter")
        await pilot.pause()
        screen = trace_screen(app)
        assert screen.trace.root.name == "run:cell-1"
        await pilot.press("escape")
        assert isinstance(app.screen, PickerScreen)


async def test_errors_are_marked_found_with_e_and_hostile_text_is_literal(
    sweep_file: Path, clock: FakeClock
) -> None:
    traces = [t for t in load(sweep_file) if t.root.name == "run:cell-1"]
    app = ReplayApp(traces, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = trace_screen(app)
        await pilot.press("e")
        await pilot.pause()
        selected = screen.span_tree.spans[screen.timeline.selected]
        assert selected.is_error
        assert screen.timeline.position_ns == selected.start_time_unix_nano - screen.timeline.origin_ns
        waterfall = shown(screen.query_one(Waterfall))
        assert "✗ [bold red]not bold[/]" in waterfall
        detail = detail_text(screen)
        assert "[bold red]not bold[/] [link=http://x]link[/link]" in detail
        assert "\\x1b[31mred" in detail and "\x1b" not in detail
        assert "status ERROR: exit code 1" in detail
        # The header keeps the facts apart: the run itself did not fail, one span did.
        outcome = shown(screen.query_one("#identity")).splitlines()[1]
        assert "exit 1" in outcome and "run ok" in outcome and "1 span with errors" in outcome
        await pilot.press("E")
        assert screen.span_tree.spans[screen.timeline.selected] == selected  # the only error: wraps


async def test_no_errors_says_so(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        await pilot.press("e")
        await pilot.pause()
        assert screen.timeline.selected == 0
        assert any("no error spans" in str(n.message) for n in demo_app._notifications)


def test_hostile_text_fixture_really_is_markup() -> None:
    """Guard for the test above: the hostile string would restyle text if parsed as markup."""
    from rich.text import Text

    assert Text.from_markup(HOSTILE.split(" \x1b")[0]).plain != HOSTILE.split(" \x1b")[0]


def test_demo_fixture_is_a_valid_trace(schema_validator) -> None:
    import orjson

    for line in (DEMO_RUN / "trace.jsonl").read_bytes().splitlines():
        schema_validator.validate(orjson.loads(line))


def test_replay_without_a_terminal_says_what_to_use(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    result = run_cli("replay", str(DEMO_RUN))
    assert result.returncode == 2
    assert "replay needs a terminal" in result.stderr and "cab-trace show" in result.stderr
    bad = run_cli("replay", str(DEMO_RUN), "--idle-limit", "0")
    assert bad.returncode == 2 and "--idle-limit must be a positive" in bad.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    nothing = run_cli("replay", str(empty))
    assert nothing.returncode == 2 and "nothing to replay" in nothing.stderr
