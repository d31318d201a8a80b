"""The Docker engine failing under a run, named as what it is: the engine going away mid-run (a
real dockerd of the test's own, killed with -9 and restarted; see private_engine.py) and the
kernel's OOM killer (the shared engine, a container with a small memory limit). Never "timed
out", never "agent exited with code 137"."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cab_trace.harness.docker_runtime import LABEL_RUN
from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.docker.conftest import _unavailable
from tests.faults import isolated_tmpdir, scratch_dirs, start_cli


@pytest.fixture(scope="module")
def engine() -> Iterator[object]:
    from tests.docker.private_engine import PrivateEngine

    if os.geteuid() != 0:
        _unavailable("root, to start a Docker engine of the test's own")
    if not Path("/bin/busybox").is_file():
        _unavailable("busybox (Debian's busybox-static) to build the test image")
    private = PrivateEngine()
    try:
        private.start()
        private.import_image()
        yield private
    finally:
        private.close()


def run_args(image: str, task: Path, out: Path, script: str, *extra: str) -> list[str]:
    return [
        "run", "--runtime", "docker", "--image", image, "--network", "none", "--adapter", "command",
        "--task", str(task), "--out", str(out), *extra, "--", "sh", "-c", script,
    ]  # fmt: skip


def wait_started(out: Path, timeout: float = 60) -> None:
    cast = out / "terminal.cast"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cast.exists() and "started" in cast.read_text():
            return
        time.sleep(0.05)
    raise AssertionError("the agent did not start")


def spans(out: Path) -> dict[str, object]:
    return {r.kind: r for r in read_records(out / "trace.jsonl")}


def test_the_engine_going_away_mid_run_is_said_and_the_container_stopped_when_it_is_back(
    engine, tmp_path: Path, task: Path
) -> None:
    out = tmp_path / "run"
    env = {**engine.env, "CAB_TRACE_ENGINE_WAIT_S": "60"}
    proc = start_cli(*run_args("cab-trace-test:busybox", task, out, "echo started; sleep 120"), env=env)
    wait_started(out)
    engine.kill()
    time.sleep(2)  # away for a while, as a restarted or crashed engine is
    engine.start()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "the Docker engine went away; the container was stopped when it came back" in err
    assert "timed out" not in err and "Traceback" not in err
    container = spans(out)["container"]
    assert container.status.code == "ERROR" and "Docker engine went away" in container.status.message
    assert container.attributes["timed_out"] is False
    # Found and stopped when the engine came back, then removed: nothing left on the engine.
    assert engine.client().containers.list(all=True, filters={"label": LABEL_RUN}) == []


def test_an_engine_that_stays_away_leaves_the_container_named_for_gc(
    engine, tmp_path: Path, task: Path
) -> None:
    tmpdir = isolated_tmpdir(tmp_path)
    out = tmp_path / "run"
    env = {**engine.env, "CAB_TRACE_ENGINE_WAIT_S": "2", "TMPDIR": str(tmpdir)}
    proc = start_cli(*run_args("cab-trace-test:busybox", task, out, "echo started; sleep 120"), env=env)
    wait_started(out)
    engine.kill()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "the Docker engine went away and was not back within 2 s" in err
    assert "`cab-trace gc` removes it once the engine is back" in err and "Traceback" not in err
    container = spans(out)["container"]
    name = container.attributes["container.name"]
    assert f"container {name} may still be running" in container.status.message
    assert container.attributes["exit_code"] == 125  # the engine never said
    cleanup = spans(out)["cleanup"]
    assert cleanup.attributes["left_for_gc"] == [name]
    assert len(scratch_dirs(tmpdir)) == 1  # kept: the container may still be using it
    # The engine is back: gc finds the run's container (its run is over) and removes it.
    engine.start()
    gc = run_cli("gc", env=env)
    assert gc.returncode == 0, gc.stderr
    assert name in gc.stdout
    assert engine.client().containers.list(all=True, filters={"label": LABEL_RUN}) == []
    assert scratch_dirs(tmpdir) == []


def test_an_oom_killed_agent_is_recorded_as_such(image: str, leftovers, tmp_path: Path, task: Path) -> None:
    out = tmp_path / "run"
    script = "echo started; x=0123456789; while :; do x=$x$x; done"
    result = run_cli(*run_args(image, task, out, script, "--memory", "16m"))
    assert result.returncode == 1, result.stderr
    assert "ran out of memory" in result.stderr and "(the container's memory limit is 16m)" in result.stderr
    container = spans(out)["container"]
    assert container.attributes["container.oom_killed"] is True
    assert container.attributes["exit_code"] == 137
    assert "the kernel's OOM killer stopped it" in container.status.message
    assert leftovers() == []
