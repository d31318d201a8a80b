"""A sweep of Docker cells, N at a time: containers, ports and directories never collide."""

from __future__ import annotations

from pathlib import Path

from cab_trace.model import read_records
from cab_trace.sweep.state import read_cells
from tests.conftest import run_cli


def test_docker_cells_run_side_by_side_and_leave_nothing(
    task: Path, image: str, leftovers, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    result = run_cli(
        "sweep", "--adapter", "command", "--task", str(task), "--repeats", "4", "--workers", "4",
        "--runtime", "docker", "--image", image, "--network", "none", "--out", str(out), "-q",
        "--", "sh", "-c", "sleep 1; echo Hello > greet.py", timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = read_cells(out / "cells.jsonl")
    assert [line["state"] for line in lines] == ["done"] * 4 and all(line["passed"] for line in lines)
    containers = set()
    for line in lines:
        container = next(r for r in read_records(out / line["run_dir"]) if r.kind == "container")
        containers.add(container.attributes["container.name"])
        assert line["image"] == image and line["runtime"] == "docker"
    assert len(containers) == 4  # one container each, none shared
    assert leftovers() == []  # every cell removed its container
