"""What a user sees in a real terminal (tmux, each test on a server of its own): the table of a
sweep at 80x24, sorting it, opening a cell and coming back where we were; two runs at 200x60 with
both terminals at the same playhead. A missing tmux fails here rather than skipping."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.replay.conftest import DEMO_RUN, FIXTURES
from tests.replay.test_runs_screen import sweep_specs
from tests.runs_factory import write_sweep
from tests.tmux import Tmux


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return write_sweep(tmp_path / "sweep", sweep_specs())


@pytest.fixture
def table(sweep: Path) -> Iterator[Tmux]:
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(sweep)], (80, 24))
    try:
        yield session
    finally:
        session.close()


def _rows(screen: str) -> list[list[str]]:
    """The table's rows as their cells (the lines starting with a row number)."""
    rows = [line for line in screen.splitlines() if re.match(r"^[ ⚠AB]\s*\d+ ", line)]
    return [line.split() for line in rows if "cells:" not in line]


def test_the_table_sorts_opens_a_cell_and_comes_back(table: Tmux) -> None:
    screen = table.wait_for(lambda s: "4 cells: 3 pass, 1 FAIL" in s and "Open" in s, "the table")
    assert "\x1b" not in screen
    assert [r[0] for r in _rows(screen)] == ["1", "2", "3", "4"]
    assert screen.splitlines()[2].split()[:6] == ["#▲", "adapter", "model", "task", "rep", "result"]
    # Sort by wall time: s moves the sort a column right (#, adapter, model, task, rep, result,
    # exit, wall); a number sorts longest first.
    table.keys(*["s"] * 7)
    screen = table.wait_for(lambda s: "sort wall ▼" in s, "the sort by wall time")
    walls = [float(r[r.index("s") - 1]) for r in _rows(screen)]
    assert walls == sorted(walls, reverse=True) and len(walls) == 4
    # Open the second row's cell, then come back: the sort and the cursor are as they were.
    table.keys("Down")
    before = table.wait_for(lambda s: re.search(r"^ #\d+ s/", s, re.M) is not None, "the detail line")
    cursor = re.search(r"^ (#\d+ \S+)", before, re.M)
    assert cursor is not None
    table.keys("Enter")
    table.wait_for(lambda s: "t = 0.000 s" in s and "▾ run:" in s, "the cell's replay")
    table.keys("Escape")
    after = table.wait_for(lambda s: "sort wall ▼" in s, "the table again")
    assert f" {cursor.group(1)}" in after
    assert _rows(after) == _rows(screen)
    table.keys("q")
    table.wait_for(lambda s: "EXITED=0" in s, "quit with exit 0")


def test_two_runs_on_one_clock_with_both_terminals_in_sync() -> None:
    runs = [str(DEMO_RUN), str(FIXTURES / "model-calls-run")]
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", *runs], (200, 60))
    try:
        screen = session.wait_for(lambda s: "t = 0.000 s / 3.951 s" in s, "the two runs")
        assert "B was 3.48 s faster than A" in screen
        assert "A · terminal" in screen and "B · terminal" in screen
        # 100 ms in: the calls run's agent has said all it says; the demo agent its first line.
        session.keys(".")
        screen = session.wait_for(
            lambda s: "t = 0.100 s" in s and "Fixed greet.py" in s and "scripted-agent 1.0" in s,
            "both terminals at 0.100 s",
        )
        assert "auth: using key" not in screen
        # 1.0 s in: the demo agent is further; B's terminal keeps its last screen.
        session.keys(*["."] * 9)
        screen = session.wait_for(
            lambda s: "t = 1.000 s" in s and "auth: using key [REDACTED]" in s, "both terminals at 1.000 s"
        )
        assert "Fixed greet.py" in screen and "reading 2 files" not in screen
        session.keys("q")
        session.wait_for(lambda s: "EXITED=0" in s, "quit with exit 0")
    finally:
        session.close()
