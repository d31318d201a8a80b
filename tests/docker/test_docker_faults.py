"""Faults on the Docker runtime against a real engine: a full disk, signals (one convention for
exit codes), a Ctrl-C while the engine creates the container, and kill -9 leftovers."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from cab_trace.harness import lifecycle
from cab_trace.harness.docker_runtime import LABEL_OWNER, LABEL_RUN, DockerOptions, DockerRuntime
from cab_trace.harness.runtime import LaunchSpec
from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.faults import complete_lines, isolated_tmpdir, scratch_dirs, small_disk, start_cli


def docker_args(image: str, task: Path, out: Path, script: str, *extra: str) -> list[str]:
    return [
        "run", "--runtime", "docker", "--image", image, "--adapter", "command", "--task", str(task),
        "--out", str(out), *extra, "--", "sh", "-c", script,
    ]  # fmt: skip


def spans(out: Path) -> dict[str, object]:
    return {r.kind: r for r in read_records(out / "trace.jsonl")}


def test_a_full_disk_stops_the_container_promptly_and_fails_the_run(
    tmp_path: Path, image: str, leftovers, task: Path
) -> None:
    tmpdir = isolated_tmpdir(tmp_path)
    with small_disk(tmp_path, 256 * 1024) as disk:
        out = disk.path / "run"
        proc = start_cli(
            *docker_args(image, task, out, "while :; do echo line; done"),
            env={"TMPDIR": str(tmpdir)},
            preexec=disk.preexec(),
        )
        _, err = proc.communicate(timeout=60)  # it used to hang until killed
        assert proc.returncode == 1, err
        assert f"could not write {out}/terminal.cast" in err, err
        assert "hint: free space" in err and "Traceback" not in err and "run ok" not in err
        complete_lines(out / "trace.jsonl")
        complete_lines(out / "terminal.cast")
    assert leftovers() == []
    assert scratch_dirs(tmpdir) == []


def test_an_interrupted_container_span_has_its_exit_code_and_output(
    tmp_path: Path, image: str, leftovers, task: Path
) -> None:
    out = tmp_path / "run"
    proc = start_cli(*docker_args(image, task, out, "echo ready; echo oops >&2; sleep 60"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (out / "terminal.cast").exists() and "ready" in (out / "terminal.cast").read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    container = spans(out)["container"]
    assert container.status.message == "interrupted"
    # The init process passes SIGTERM on; sh dies of it: 128+15, as the local runtime says it.
    assert container.attributes["exit_code"] == 143 and container.attributes["exit_signal"] == "SIGTERM"
    assert "ready" in container.attributes["stdout_tail"] and "oops" in container.attributes["stderr_tail"]
    assert leftovers() == []


def test_signal_exit_codes_match_the_local_runtime(tmp_path: Path, image: str, task: Path) -> None:
    codes = {}
    for runtime in ("docker", "local"):
        out = tmp_path / runtime
        args = docker_args(image, task, out, "kill -TERM $$")
        if runtime == "local":
            args = [a for a in args if a not in ("--runtime", "docker", "--image", image)]
        result = run_cli(*args)
        assert result.returncode == 1, result.stderr
        attrs = spans(out)["container"].attributes
        codes[runtime] = (attrs["exit_code"], attrs["exit_signal"])
    assert codes == {"docker": (143, "SIGTERM"), "local": (143, "SIGTERM")}


def test_ctrl_c_while_the_engine_creates_the_container_leaves_nothing(
    tmp_path: Path, image: str, docker_client, leftovers, monkeypatch
) -> None:
    """A real SIGINT arrives while the engine is creating the container: the container is
    still known to the runtime, the interrupt comes after, and cleanup removes it."""
    from docker.models.containers import ContainerCollection

    runtime = DockerRuntime(DockerOptions(image))
    runtime.prepare()
    real_create = ContainerCollection.create

    def create_while_interrupted(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands now, mid-request
        return real_create(self, *args, **kwargs)

    monkeypatch.setattr(ContainerCollection, "create", create_while_interrupted)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    spec = LaunchSpec(["sh", "-c", "sleep 60"], {}, workdir, 30, run_id="faults-create")
    with lifecycle.handle_signals(), pytest.raises(lifecycle.Interrupted):
        runtime.launch(spec, lambda _stream, _chunk: None)
    assert len(leftovers()) == 1
    removed = runtime.cleanup()
    assert removed == ["container:cab-trace-faults-create-1"]
    assert leftovers() == []


def test_cleanup_removes_a_container_of_the_run_it_never_heard_of(
    tmp_path: Path, image: str, docker_client, leftovers
) -> None:
    """The engine finished creating a container after the client gave up on the request: it
    carries the run's label, and cleanup finds it by that."""
    runtime = DockerRuntime(DockerOptions(image))
    runtime.prepare()
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    runtime.launch(LaunchSpec(["true"], {}, workdir, 30, run_id="faults-orphan"), lambda _s, _c: None)
    # What the engine made of a request the client gave up on: the labels the run asked for.
    labels = docker_client.containers.get("cab-trace-faults-orphan-1").labels
    stray = docker_client.containers.create(image, ["true"], labels=labels)
    # Someone else's container with the run's id but not its token is not the run's.
    other = docker_client.containers.create(
        image, ["true"], labels={LABEL_RUN: "faults-orphan", LABEL_OWNER: lifecycle.owner_mark()}
    )
    removed = runtime.cleanup()
    assert f"container:{stray.name}" in removed and "container:cab-trace-faults-orphan-1" in removed
    assert f"container:{other.name}" not in removed
    assert leftovers() == [other.name]
    other.remove(force=True)


def test_kill_9_stops_the_container_at_once_and_gc_removes_it_and_the_scratch_dir(
    tmp_path: Path, image: str, docker_client, leftovers, task: Path
) -> None:
    tmpdir = isolated_tmpdir(tmp_path)
    env = {"TMPDIR": str(tmpdir)}
    out = tmp_path / "run"
    proc = start_cli(*docker_args(image, task, out, "echo started; sleep 60"), env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not leftovers():
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    (left,) = leftovers()
    # The watchdog saw cab-trace die and killed the container: the agent is not still running.
    deadline = time.monotonic() + 10
    while docker_client.containers.get(left).status == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert docker_client.containers.get(left).attrs["State"]["ExitCode"] == 137
    assert len(scratch_dirs(tmpdir)) == 1
    gc = run_cli("gc", env=env)
    assert gc.returncode == 0, gc.stderr
    assert left in gc.stdout.split() and str(tmpdir) in gc.stdout
    assert leftovers() == [] and scratch_dirs(tmpdir) == []
