"""Pinned pictures of the table of runs (cells and groups) and of two runs on one clock, at 80x24
and 200x60 (pytest-textual-snapshot). Update with `make test PYTEST_ARGS=--snapshot-update` after a
deliberate change, and look at the SVGs before committing them."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from cab_trace.sweep.runs import scan_runs
from replay.app import ReplayApp
from replay.screens.compare import CompareScreen, LabelledTerminalPane, open_pair
from replay.screens.runs import RunsScreen
from tests.replay.conftest import DEMO_RUN, FIXTURES, FakeClock
from tests.replay.test_runs_screen import sweep_specs
from tests.runs_factory import Spec, write_sweep

SIZES = {"80x24": (80, 24), "200x60": (200, 60)}


@pytest.fixture
def runs_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReplayApp:
    monkeypatch.chdir(tmp_path)  # the header shows the directory as given: the same in every run
    specs = [*sweep_specs(), Spec(adapter="codex", model="model-a", passed=None, seed=9, exit_code=3)]
    write_sweep(Path("sweep"), specs, states={1: "failed"})
    found = scan_runs(Path("sweep"), cache_dir=tmp_path / "cache")
    return ReplayApp([], clock=FakeClock(), first_screen=lambda app: RunsScreen(found, app.clock))


@pytest.mark.parametrize("size", list(SIZES))
def test_runs_table(snap_compare, runs_app: ReplayApp, size: str) -> None:
    # The cursor on the failed cell: the line under the table says why.
    assert snap_compare(runs_app, terminal_size=SIZES[size], press=["down", "down"])


def test_runs_grouped(snap_compare, runs_app: ReplayApp) -> None:
    assert snap_compare(runs_app, terminal_size=SIZES["80x24"], press=["g"])


def _compare_app() -> ReplayApp:
    calls = FIXTURES / "model-calls-run"
    pair = open_pair((str(DEMO_RUN), None, "demo-run"), (str(calls), None, "model-calls-run"))
    return ReplayApp([], clock=FakeClock(), first_screen=lambda app: CompareScreen(pair, app.clock))


async def _to_a_playhead(pilot: Pilot) -> None:
    """0.3 s in, B's second model call selected: both terminals have output by then."""
    await pilot.press(*["full_stop"] * 3, "tab", "m", "m", "shift+tab")
    await pilot.press(*["full_stop"] * 2)
    screen = pilot.app.screen
    for _ in range(500):
        await pilot.pause(0.02)
        if all(p.settled for p in screen.query(LabelledTerminalPane)):
            return
    raise AssertionError("the terminals did not settle")


@pytest.mark.parametrize("size", list(SIZES))
def test_two_runs_on_one_clock(snap_compare, size: str) -> None:
    assert snap_compare(_compare_app(), terminal_size=SIZES[size], run_before=_to_a_playhead)


def test_the_comparison_as_text(snap_compare) -> None:
    assert snap_compare(_compare_app(), terminal_size=SIZES["80x24"], press=["d"])
