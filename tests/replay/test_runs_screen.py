"""The table of runs and the two-run screen, driven with Pilot: sorting, filtering, grouping,
opening a cell and coming back where we were, marking two and comparing them on one clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.screen import Screen

from cab_trace.sweep.runs import RunsListing, scan_runs
from cab_trace.sweep.runs_table import COLUMNS
from replay.app import ReplayApp, TraceScreen
from replay.screens.compare import CompareScreen, DiffScreen, LabelledTerminalPane, open_pair
from replay.screens.keys import KeysScreen
from replay.screens.runs import RunsScreen
from replay.widgets.rows import RowTable
from replay.widgets.terminal_pane import screen_text
from replay.widgets.waterfall import Waterfall
from tests.replay.conftest import DEMO_RUN, FIXTURES, FakeClock
from tests.runs_factory import Spec, write_sweep


def sweep_specs() -> list[Spec]:
    specs = []
    for n, (model, task) in enumerate(
        [(m, t) for m in ("model-a", "model-b") for t in ("demo/fix-greeting", "demo/add-test")], 1
    ):
        slow = model == "model-b"
        calls = [(1000 + 100 * n, 50)] * (5 if slow else 2)
        specs.append(
            Spec(
                model=model,
                task=task,
                calls=calls,
                tools=["read"],
                passed=n != 3,
                seed=n,
                agent_gap_ms=10 * n,
            )
        )
    return specs


@pytest.fixture
def listing(tmp_path: Path) -> RunsListing:
    sweep = write_sweep(tmp_path / "sweep", sweep_specs())
    (sweep / "cells" / "broken").mkdir()
    (sweep / "cells" / "broken" / "trace.jsonl").write_text("hello world\n")
    cells = (sweep / "cells.jsonl").read_text().splitlines()
    last = {k: v for k, v in json.loads(cells[-1]).items() if k in ("adapter", "model", "task_id", "state")}
    last |= {"cell_id": "s/broken", "run_dir": "cells/broken", "repeat": 2}
    (sweep / "cells.jsonl").write_text("\n".join([*cells, json.dumps(last)]) + "\n")
    return scan_runs(sweep, cache_dir=tmp_path / "cache")


def runs_app(found: RunsListing) -> ReplayApp:
    return ReplayApp([], clock=FakeClock(), first_screen=lambda app: RunsScreen(found, app.clock))


def table_text(app: ReplayApp) -> list[str]:
    table = app.screen.query_one(RowTable)
    return [table.render_line(y).text for y in range(table.size.height)]


def shown_numbers(app: ReplayApp) -> list[int]:
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    return [screen.rows[i].number for i in screen.query_one(RowTable).order]


async def wait_for_screen(pilot: Pilot, kind: type[Screen[None]], timeout: float = 10.0) -> Screen[None]:
    for _ in range(int(timeout / 0.02)):
        await pilot.pause(0.02)
        if isinstance(pilot.app.screen, kind):
            return pilot.app.screen
    raise AssertionError(f"{kind.__name__} did not open; the screen is {pilot.app.screen}")


async def settled(pilot: Pilot, panes: list[LabelledTerminalPane], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        await pilot.pause(0.02)
        if all(p.settled for p in panes):
            return
    raise AssertionError("the terminals did not settle")


async def test_the_table_sorts_filters_and_groups(listing: RunsListing) -> None:
    app = runs_app(listing)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        lines = table_text(app)
        assert lines[0].split()[:4] == ["#▲", "adapter", "model", "task"]
        assert lines[1].split()[:6] == ["1", "pi", "model-a", "demo/fix-greeting", "1", "pass"]
        assert "FAIL" in lines[3] and "broken" in lines[5] and lines[5].startswith("⚠")
        assert shown_numbers(app) == [1, 2, 3, 4, 5]
        # s moves the sort to the next column; wall is a number: longest first.
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        while COLUMNS[screen.sort_column].key != "wall_ms":
            await pilot.press("s")
        walls = [screen.rows[i].get("wall_ms") for i in screen.query_one(RowTable).order]
        assert walls[:4] == sorted(walls[:4], reverse=True) and walls[4] is None  # unknown last
        assert "wall▼" in table_text(app)[0]
        await pilot.press("S")
        walls = [screen.rows[i].get("wall_ms") for i in screen.query_one(RowTable).order]
        assert walls[:4] == sorted(walls[:4]) and walls[4] is None
        # / filters on any column's text; escape clears.
        await pilot.press("slash", *"add-test", "enter")
        assert sorted(shown_numbers(app)) == [2, 4, 5]
        await pilot.press("escape")
        assert len(shown_numbers(app)) == 5
        # f: only what did not pass.
        await pilot.press("f")
        assert sorted(shown_numbers(app)) == [3, 5]
        await pilot.press("f")
        # g: the groups, with pass rates; enter on one shows its cells.
        await pilot.press("g")
        lines = table_text(app)
        assert lines[0].split()[:3] == ["adapter", "model", "cells"]
        assert lines[1].split()[:6] == ["pi", "model-a", "2", "2", "0", "2/2"]
        # The cell that cannot be read counts as one that could not complete.
        assert lines[2].split()[:6] == ["pi", "model-b", "3", "2", "1", "1/2"]
        await pilot.press("down", "enter")
        assert sorted(shown_numbers(app)) == [3, 4, 5]
        await pilot.press("escape")
        assert len(shown_numbers(app)) == 5
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeysScreen)
        assert ("f", "only the cells that did not pass (FAIL, error, unreadable)") in app.screen.keys


async def test_enter_opens_a_cell_and_escape_comes_back_where_we_were(listing: RunsListing) -> None:
    app = runs_app(listing)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("S")  # highest number first
        await pilot.press("slash", *"pi", "enter")
        await pilot.press("down", "down")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one(RowTable)
        before = (table.cursor, list(table.order), screen.reverse, screen.filter_text)
        row = screen.rows[table.order[table.cursor]]
        await pilot.press("enter")
        trace_screen = await wait_for_screen(pilot, TraceScreen)
        assert isinstance(trace_screen, TraceScreen)
        assert trace_screen.trace.root.attributes["cell_id"] == row.get("cell_id")
        assert trace_screen.terminal is not None  # the cell's terminal.cast came with it
        await pilot.press("escape")
        assert app.screen is screen
        assert (table.cursor, list(table.order), screen.reverse, screen.filter_text) == before


async def test_a_sample_of_an_inspect_log_opens_as_its_own_run(tmp_path: Path) -> None:
    from tests.unit.test_runs_index import imported_runs

    found = scan_runs(imported_runs(tmp_path / "imported"), cache_dir=tmp_path / "cache")
    row = found.rows[3]  # the second sample of the .eval log
    assert row.trace is not None and row.fields["task_id"] == "fix_greeting/greet-2"
    app = runs_app(found)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "down", "enter")
        trace_screen = await wait_for_screen(pilot, TraceScreen)
        assert isinstance(trace_screen, TraceScreen)
        assert trace_screen.trace.trace_id == row.trace
        assert trace_screen.trace.root.attributes["task_id"] == "fix_greeting/greet-2"


async def test_a_cell_that_cannot_be_opened_says_why(listing: RunsListing) -> None:
    app = runs_app(listing)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("end", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert any("cannot be opened" in str(n.message) for n in app._notifications)


async def test_two_marked_cells_open_on_one_clock(listing: RunsListing) -> None:
    app = runs_app(listing)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.press("x", "down", "x")  # marks #1 and #3 (x moves the cursor down)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        assert [screen.rows[i].number for i in screen.marks] == [1, 3]
        await pilot.press("c")
        compare = await wait_for_screen(pilot, CompareScreen)
        assert isinstance(compare, CompareScreen)
        assert compare.pair.title_a.startswith("#1 ") and compare.pair.title_b.startswith("#3 ")
        assert "model calls, 5 calls against 2" in compare.pair.comparison.headline
        await pilot.press("d")
        assert isinstance(app.screen, DiffScreen)
        await pilot.press("escape", "escape")
        assert app.screen is screen


async def test_two_runs_step_together_and_both_terminals_follow(tmp_path: Path) -> None:
    pair = open_pair((str(DEMO_RUN), None, "demo"), (str(FIXTURES / "model-calls-run"), None, "calls"))
    app = ReplayApp([], clock=FakeClock(), first_screen=lambda app: CompareScreen(pair, app.clock))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        panes = list(screen.query(LabelledTerminalPane))
        assert len(panes) == 2
        # 0.1 s after both started: the calls run's agent has printed its three lines, the demo
        # agent its first.
        await pilot.press(*["full_stop"] * 1)
        await settled(pilot, panes)
        a, b = screen.clock.timelines
        assert a.position_ns == b.position_ns == 100_000_000
        assert panes[0].screen_shown is not None and panes[1].screen_shown is not None
        text_a = screen_text(panes[0].screen_shown).plain
        text_b = screen_text(panes[1].screen_shown).plain
        assert "scripted-agent 1.0" in text_a and "auth:" not in text_a
        assert "Fixed greet.py" in text_b
        # → steps through the boundaries of both runs in time order.
        before = screen.clock.position_ns
        await pilot.press("right")
        assert screen.clock.position_ns > before
        # m goes to a model call of the run in focus; tab puts B in focus (A has none).
        await pilot.press("tab", "m")
        assert screen.clock.timelines[1].selected in screen.runs[1].call_positions
        call_start = screen.clock.timelines[1].start_ns(screen.clock.timelines[1].selected)
        assert screen.clock.position_ns == call_start
        # a: line the runs up at adapter_run; the playhead goes where the anchors meet.
        await pilot.press("a")
        assert screen.clock.anchor == "adapter_run"
        k = [screen.runs[i].tree.kind(j) for i in (0, 1) for j in range(len(screen.runs[i].tree))]
        assert "adapter_run" in k
        ra = next(j for j in range(len(screen.runs[0].tree)) if screen.runs[0].tree.kind(j) == "adapter_run")
        rb = next(j for j in range(len(screen.runs[1].tree)) if screen.runs[1].tree.kind(j) == "adapter_run")
        assert a is not screen.clock.a
        assert screen.clock.a.start_ns(ra) == screen.clock.b.start_ns(rb) == screen.clock.position_ns
        await pilot.press("space")
        assert screen.clock.master.playing
        await pilot.press("space")
        assert not screen.clock.master.playing
        # / filters both waterfalls; z gives the terminals the window; ? lists the keys.
        await pilot.press("slash", *"chat", "enter")
        assert [screen.runs[1].tree.kind(i) for i in screen.query_one("#cmp-waterfall-b", Waterfall).rows][
            -1
        ] == ("model_call")
        assert len(screen.query_one("#cmp-waterfall-a", Waterfall).rows) == 0
        await pilot.press("escape", "z")
        assert screen.has_class("zoomed") and not screen.query_one("#cmp-waterfall-a").display
        await pilot.press("z", "question_mark")
        assert isinstance(app.screen, KeysScreen)
        assert (
            "a",
            "line the runs up at their start, their adapter_run or their first model call",
        ) in app.screen.keys


def test_a_path_that_is_not_one_trace_is_refused(tmp_path: Path) -> None:
    both = tmp_path / "both.jsonl"
    both.write_bytes(
        (DEMO_RUN / "trace.jsonl").read_bytes() + (FIXTURES / "model-calls-run" / "trace.jsonl").read_bytes()
    )
    from cab_trace.errors import TraceFileError

    with pytest.raises(TraceFileError, match="holds 2 traces"):
        open_pair((str(both), None, "x"), (str(DEMO_RUN), None, "y"))
    pair = open_pair((str(both), "a5de", "x"), (str(DEMO_RUN), None, "y"))
    assert pair.a.trace_id.startswith("a5de")
