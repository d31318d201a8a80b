"""Ownership that cannot be mistaken: `cab-trace gc` and the sweep at the start of every run remove
a scratch directory only when they can prove its run is dead (the lock the live run holds on a
file in it is free). Tried for real across PID namespaces (`unshare --pid --fork --mount-proc`):
a live run whose pid means nothing outside its namespace, sharing TMPDIR and the hostname, must
survive; a dead one there is still collected; what cannot be proven either way is left, and said."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.faults import isolated_tmpdir, scratch_dirs, wait_for_file


def unshare_prefix() -> list[str]:
    """How to start a process in a new PID namespace (with its own /proc), or fail/skip saying why."""
    tool = shutil.which("unshare")
    prefix = [tool, "--pid", "--fork", "--mount-proc", "--kill-child"] if tool else []
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    if not tool or subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("needs unshare (util-linux) and PID namespaces (root, or user namespaces)")
        pytest.skip("needs unshare and PID namespaces")
    return prefix


@pytest.fixture
def task(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    task.mkdir()
    (task / "task.toml").write_text('id = "owned"\nprompt = "p"\ncheck = "test -f made-late.txt"\n')
    (task / "a.txt").write_text("a\n")
    return task


def in_namespace(prefix: list[str], *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "cab_trace", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_args(task: Path, out: Path, script: str) -> list[str]:
    return ["run", "--adapter", "command", "--task", str(task), "--out", str(out), "--", "sh", "-c", script]


def test_a_live_run_in_another_pid_namespace_survives_gc_and_the_next_runs_sweep(
    tmp_path: Path, task: Path
) -> None:
    prefix = unshare_prefix()
    tmpdir = isolated_tmpdir(tmp_path)
    env = {"TMPDIR": str(tmpdir)}
    started, go = tmp_path / "started", tmp_path / "go"
    # The agent says it has started, waits until the test says go, then works in its workdir.
    script = (
        f"echo $$ > {started}; while [ ! -e {go} ]; do sleep 0.05; done; rm a.txt; echo x > made-late.txt"
    )
    out = tmp_path / "run"
    live = in_namespace(prefix, *run_args(task, out, script), env=env)
    try:
        wait_for_file(started)
        (scratch,) = scratch_dirs(tmpdir)
        gc = run_cli("gc", env={**env, "DOCKER_HOST": "unix:///nonexistent.sock"})
        assert gc.returncode == 0, gc.stderr
        assert "removed 0 scratch" in gc.stderr and str(scratch) not in gc.stdout
        nxt = run_cli(*run_args(task, tmp_path / "next", "touch made-late.txt"), env=env)
        assert nxt.returncode == 0, nxt.stderr
        assert "left by dead runs" not in nxt.stderr
        assert (scratch / "workdir" / "a.txt").exists()  # untouched: the run is alive
    finally:
        go.touch()
    _, err = live.communicate(timeout=60)
    assert live.returncode == 0, err  # its check passed: its workdir was there all along
    changes = next(r for r in read_records(out) if r.kind == "blast_radius")
    assert changes.attributes["files_removed"] == ["a.txt"]
    assert changes.attributes["files_added"] == ["made-late.txt"]
    assert scratch_dirs(tmpdir) == []


def test_a_dead_run_in_another_pid_namespace_is_collected(tmp_path: Path, task: Path) -> None:
    prefix = unshare_prefix()
    tmpdir = isolated_tmpdir(tmp_path)
    env = {"TMPDIR": str(tmpdir)}
    started = tmp_path / "started"
    proc = in_namespace(prefix, *run_args(task, tmp_path / "run", f"echo $$ > {started}; sleep 60"), env=env)
    wait_for_file(started)
    proc.send_signal(signal.SIGKILL)  # --kill-child: the namespace's init, and all in it, die too
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        gc = run_cli("gc", env={**env, "DOCKER_HOST": "unix:///nonexistent.sock"})
        if not scratch_dirs(tmpdir):
            break
        time.sleep(0.2)  # the kernel releases the dead run's lock as its last process goes
    assert scratch_dirs(tmpdir) == [], gc.stderr
    assert "removed 1 scratch" in gc.stderr


def test_what_cannot_be_proven_dead_is_left_and_said(tmp_path: Path) -> None:
    from cab_trace.harness import ownership

    tmpdir = isolated_tmpdir(tmp_path)
    host = socket.gethostname()
    # An older cab-trace's mark (host:pid:start) of a pid that is surely not running here.
    old = tmpdir / "cab-trace-old-abc"
    (old / "workdir").mkdir(parents=True)
    (old / "cab-trace.owner").write_text(f"{host}:999999999:1\n")
    # No mark at all (a kept workdir), and a lock file that is a symlink.
    bare = tmpdir / "cab-trace-bare-abc"
    (bare / "workdir").mkdir(parents=True)
    linked = tmpdir / "cab-trace-linked-abc"
    (linked / "workdir").mkdir(parents=True)
    (linked / ownership.LOCK_FILE).symlink_to(tmp_path / "elsewhere")
    # A lock file without our header (someone else's format).
    foreign = tmpdir / "cab-trace-foreign-abc"
    (foreign / "workdir").mkdir(parents=True)
    (foreign / ownership.LOCK_FILE).write_text("not ours\n")
    gc = run_cli("gc", env={"TMPDIR": str(tmpdir), "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert gc.returncode == 0, gc.stderr
    for path in (old, bare, linked, foreign):
        assert (path / "workdir").exists(), path
    assert "left 4 scratch" in gc.stderr and str(old) in gc.stderr and "older cab-trace" in gc.stderr


def test_a_scratch_dir_of_a_dead_run_is_collected_only_with_its_proof(tmp_path: Path) -> None:
    from cab_trace.harness import ownership

    tmpdir = isolated_tmpdir(tmp_path)
    # A run in this very process: its lock is held by another open file description, so even
    # the same process (a sweep running cells in threads) cannot mistake it for dead.
    held = ownership.Scratch.create("held", root=tmpdir)
    report = ownership.collect_scratch(tmpdir)
    assert report.removed == [] and held.path.exists()
    held.abandon()  # what its death does: the lock is released, the directory stays
    report = ownership.collect_scratch(tmpdir)
    assert report.removed == [held.path] and not held.path.exists()
