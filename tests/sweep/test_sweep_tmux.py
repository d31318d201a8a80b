"""The sweep's live view in a real terminal (tmux, a server of its own), and Ctrl-C typed there:
the block is redrawn in place, names from tasks are escaped, and the key reaches the sweep only,
which stops its cells."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cab_trace.sweep.state import read_cells
from tests.sweep.helpers import ROOT, make_task
from tests.tmux import Tmux


def Terminal(command: list[str], cwd: Path, size: tuple[int, int] = (110, 30)) -> Tmux:
    """The sweep in a terminal, run from ``cwd`` with this checkout importable."""
    return Tmux(command, size, env={"PYTHONPATH": str(ROOT)}, cwd=cwd, hold=60)


@pytest.fixture
def task(tmp_path: Path) -> Path:
    return make_task(tmp_path / "tasks", "demo/\\u001b[31mred", check=None)


def sweep(tmp_path: Path, task: Path, *agent: str, repeats: int = 6) -> Iterator[Terminal]:
    command = [
        sys.executable, "-m", "cab_trace", "sweep", "--adapter", "command", "--task", str(task),
        "--repeats", str(repeats), "--workers", "2", "--out", str(tmp_path / "sweep"), "--", *agent,
    ]  # fmt: skip
    term = Terminal(command, tmp_path)
    try:
        yield term
    finally:
        term.close()


def test_the_live_view_is_redrawn_in_place_with_names_escaped(tmp_path: Path, task: Path) -> None:
    for term in sweep(tmp_path, task, "sleep", "0.5"):
        running = term.wait_for(lambda s: "running" in s and "ETA" in s, "the live view", timeout=60)
        assert running.count("sweep sweep:") == 1
        screen = term.wait_for(lambda s: "EXITED=0" in s, "the sweep to end", timeout=120)
        status = [
            line for line in screen.splitlines() if line.startswith("sweep sweep:") and "finished" in line
        ]
        assert len(status) == 1 and "6/6 finished" in status[0] and "0 running" in status[0]
        finished = [line for line in screen.splitlines() if line.startswith("  done ")]
        assert len(finished) == 5  # the last five
        assert all("\\x1b[31mred" in line for line in finished)  # shown, not obeyed
        assert "adapter  model  cells" in screen  # then the table


def test_ctrl_c_typed_in_the_terminal_stops_the_sweep(tmp_path: Path, task: Path) -> None:
    for term in sweep(tmp_path, task, "sleep", "60", repeats=3):
        term.wait_for(lambda s: "2 running" in s, "two running cells", timeout=60)
        term.keys("C-c")
        screen = term.wait_for(lambda s: "EXITED=" in s, "the sweep to stop", timeout=60)
        assert "EXITED=130" in screen and "interrupted: stopping 2 running cell(s)" in screen
        states = [line["state"] for line in read_cells(tmp_path / "sweep" / "cells.jsonl")]
        assert states == ["interrupted", "interrupted", "pending"]
