"""Containers are removed by `cab-trace gc` only with a proof that binds them to a dead run: the
lock file of its scratch directory (free), the random token written in it (matching the
container's label), and the container's name recorded there before the engine made it. A label
anyone can write (the old ``cab-trace.owner`` = host:pid:start) proves nothing."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.faults import isolated_tmpdir, scratch_dirs
from tests.harness.test_ownership import in_namespace, unshare_prefix


def test_a_container_cab_trace_never_made_survives_gc_whatever_its_labels(
    tmp_path: Path, image: str, docker_client
) -> None:
    host = socket.gethostname()
    fake_lock = tmp_path / "cab-trace-fake" / "cab-trace.lock"
    fake_lock.parent.mkdir()
    fake_lock.write_text("cab-trace lock v1\ntoken 00\n")
    made = []
    try:
        for i, labels in enumerate(
            [
                {"cab-trace.owner": f"{host}:999999999:1", "cab-trace.run-id": "i21-not-ours"},
                {"cab-trace.lock": str(fake_lock), "cab-trace.token": "00"},
                {"cab-trace.lock": "/nonexistent/cab-trace.lock", "cab-trace.token": "ff"},
            ]
        ):
            made.append(
                docker_client.containers.run(
                    image, ["sleep", "60"], name=f"i21-not-ours-{i}", labels=labels, detach=True
                )
            )
        gc = run_cli("gc", env={"TMPDIR": str(isolated_tmpdir(tmp_path))})
        assert gc.returncode == 0, gc.stderr
        for container in made:
            container.reload()
            assert container.status == "running", container.name
            assert container.name not in gc.stdout
    finally:
        for container in made:
            container.remove(force=True)


def test_a_live_docker_run_in_another_pid_namespace_survives_gc(
    tmp_path: Path, image: str, task: Path, leftovers
) -> None:
    prefix = unshare_prefix()
    tmpdir = isolated_tmpdir(tmp_path)
    env = {"TMPDIR": str(tmpdir)}
    out = tmp_path / "run"
    args = [
        "run", "--runtime", "docker", "--image", image, "--adapter", "command", "--task", str(task),
        "--out", str(out), "--", "sh", "-c", "echo started; sleep 3; echo Hello > greet.py",
    ]  # fmt: skip
    live = in_namespace(prefix, *args, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not leftovers():
        time.sleep(0.05)
    (name,) = leftovers()
    gc = run_cli("gc", env=env)
    assert gc.returncode == 0, gc.stderr
    assert name not in gc.stdout
    _, err = live.communicate(timeout=60)
    assert live.returncode == 0, err  # the container ran to its end and the check passed
    container = next(r for r in read_records(out) if r.kind == "container")
    assert container.attributes["exit_code"] == 0
    assert scratch_dirs(tmpdir) == [] and leftovers() == []
