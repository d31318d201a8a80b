"""Faults on the local runtime, each against the real thing: a full disk (a real tmpfs, or the
file-size limit where mounting is not allowed), real signals to a real `cab-trace run`, kill -9,
daemons, runs racing for one directory, a collector that never answers. Each test asserts what
is on disk, the exit code and the message, and that no process or directory is left behind."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from cab_trace.harness.ownership import LOCK_FILE as OWNER_FILE
from cab_trace.harness.runtime import KILL_GRACE_S
from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.faults import (
    complete_lines,
    hanging_collector,
    isolated_tmpdir,
    running,
    scratch_dirs,
    small_disk,
    start_cli,
    wait_for_file,
)


@pytest.fixture
def task(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    task.mkdir()
    (task / "task.toml").write_text('id = "faults"\nprompt = "p"\n')
    (task / "a.txt").write_text("a\n")
    return task


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    tmpdir = isolated_tmpdir(tmp_path)
    return tmpdir, {"TMPDIR": str(tmpdir)}


def run_args(task: Path, out: Path, script: str, *extra: str) -> list[str]:
    return [
        "run",
        "--adapter",
        "command",
        "--task",
        str(task),
        "--out",
        str(out),
        *extra,
        "--",
        "sh",
        "-c",
        script,
    ]


def spans(out: Path) -> dict[str, object]:
    return {r.kind: r for r in read_records(out / "trace.jsonl")}


# -- a full disk ---------------------------------------------------------------------------------


def test_a_full_disk_while_recording_output_stops_the_agent_and_fails_the_run(
    tmp_path: Path, task: Path, tmpdir_env
) -> None:
    tmpdir, env = tmpdir_env
    with small_disk(tmp_path, 256 * 1024) as disk:
        out = disk.path / "run"
        script = f'echo $$ > {tmp_path}/agent.pid; i=0; while :; do echo "line $i"; i=$((i+1)); done'
        proc = start_cli(*run_args(task, out, script), env=env, preexec=disk.preexec())
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert "Traceback" not in err and "run ok" not in err
        assert f"could not write {out}/terminal.cast" in err or f"to {out}/trace.jsonl" in err, err
        assert "hint: free space on that disk" in err
        for line in err.splitlines():
            assert not line.startswith("could not write"), line  # no bare log lines
        complete_lines(out / "trace.jsonl")
        events = complete_lines(out / "terminal.cast")[1:]
        assert events and all(isinstance(e, list) and e[1] == "o" for e in events)
        assert not running(int((tmp_path / "agent.pid").read_text()))
    assert scratch_dirs(tmpdir) == []


def test_spans_lost_to_a_full_disk_are_never_run_ok(tmp_path: Path, task: Path, tmpdir_env) -> None:
    tmpdir, env = tmpdir_env
    # With a tmpfs the agent fills the disk itself; with a file-size limit, the trace outgrows it.
    with small_disk(tmp_path, 64 * 1024, fsize=2500) as disk:
        out = disk.path / "run"
        fill = f"cat /dev/zero > {disk.path}/filler 2>/dev/null" if disk.tmpfs else "true"
        proc = start_cli(*run_args(task, out, f"echo hello; {fill}; exit 0"), env=env, preexec=disk.preexec())
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert "run ok" not in err and "Traceback" not in err
        assert f"span(s) to {out}/trace.jsonl" in err and "hint:" in err
        kept = complete_lines(out / "trace.jsonl")  # what was written is whole lines
        assert 0 < len(kept) < 6
    assert scratch_dirs(tmpdir) == []


# -- signals -------------------------------------------------------------------------------------


def test_a_second_ctrl_c_kills_at_once_and_says_so(tmp_path: Path, task: Path, tmpdir_env) -> None:
    tmpdir, env = tmpdir_env
    out = tmp_path / "run"
    pidfile = tmp_path / "agent.pid"
    script = f'trap "" TERM INT; echo $$ > {pidfile}; echo "still here"; while :; do sleep 1; done'
    proc = start_cli(*run_args(task, out, script), env=env)
    pid = int(wait_for_file(pidfile))
    time.sleep(0.2)  # let "still here" reach the recording
    proc.send_signal(signal.SIGINT)
    first = time.monotonic()
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - first
    assert proc.returncode == 130, err
    assert "SIGINT again: killing the agent now" in err and "killed at once" in err, err
    assert elapsed < KILL_GRACE_S, "the second Ctrl-C waited out the grace period"
    assert not running(pid)
    container = spans(out)["container"]
    assert container.status.message == "interrupted"
    assert container.attributes["exit_code"] == 137 and container.attributes["exit_signal"] == "SIGKILL"
    assert "still here" in container.attributes["stdout_tail"]
    assert scratch_dirs(tmpdir) == []


def test_sigterm_exit_codes_follow_the_shell_convention(tmp_path: Path, task: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(*run_args(task, out, "kill -TERM $$"))
    assert result.returncode == 1
    container = spans(out)["container"]
    assert container.attributes["exit_code"] == 143 and container.attributes["exit_signal"] == "SIGTERM"
    assert container.status.message == "agent exited with code 143"


def test_kill_9_takes_the_agent_and_its_daemon_down_and_gc_removes_the_scratch_dir(
    tmp_path: Path, task: Path, tmpdir_env
) -> None:
    tmpdir, env = tmpdir_env
    out = tmp_path / "run"
    agent_pid, daemon_pid = tmp_path / "agent.pid", tmp_path / "daemon.pid"
    daemon = f'setsid sh -c "echo \\$\\$ > {daemon_pid}; trap \\"\\" TERM HUP; exec sleep 1000" &'
    script = f'trap "" TERM; {daemon} echo $$ > {agent_pid}; while :; do sleep 1; done'
    proc = start_cli(*run_args(task, out, script), env=env)
    pids = [int(wait_for_file(agent_pid)), int(wait_for_file(daemon_pid))]
    # A live run of someone else's: gc must leave its scratch directory alone.
    other_pid = tmp_path / "other.pid"
    other = start_cli(*run_args(task, tmp_path / "other", f"echo $$ > {other_pid}; sleep 60"), env=env)
    wait_for_file(other_pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    for pid in pids:
        assert not running(pid), f"process {pid} outlived a kill -9 of cab-trace"
    left = scratch_dirs(tmpdir)
    assert len(left) == 2 and all((d / OWNER_FILE).exists() for d in left)
    shown = run_cli("show", str(out))
    assert shown.returncode == 0 and "task_setup" in shown.stdout  # the spans that had ended
    gc = run_cli("gc", env=env)
    assert gc.returncode == 0, gc.stderr
    assert "removed 1 scratch" in gc.stderr
    (remaining,) = scratch_dirs(tmpdir)
    assert str(remaining) not in gc.stdout and (remaining / "workdir" / "a.txt").exists()
    other.send_signal(signal.SIGTERM)
    _, err = other.communicate(timeout=30)
    assert other.returncode == 143, err
    assert scratch_dirs(tmpdir) == []


def test_the_next_run_removes_a_dead_runs_scratch_dir(tmp_path: Path, task: Path, tmpdir_env) -> None:
    tmpdir, env = tmpdir_env
    pidfile = tmp_path / "agent.pid"
    proc = start_cli(*run_args(task, tmp_path / "dead", f"echo $$ > {pidfile}; sleep 60"), env=env)
    wait_for_file(pidfile)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert len(scratch_dirs(tmpdir)) == 1
    result = run_cli(*run_args(task, tmp_path / "next", "true"), env=env)
    assert result.returncode == 0, result.stderr
    assert "removed 1 scratch directory left by dead runs" in result.stderr
    assert scratch_dirs(tmpdir) == []


def test_a_daemon_the_agent_leaves_is_killed_without_waiting(tmp_path: Path, task: Path) -> None:
    out = tmp_path / "run"
    daemon_pid = tmp_path / "daemon.pid"
    script = f'setsid sh -c "echo \\$\\$ > {daemon_pid}; exec sleep 1000" & sleep 0.3; echo started'
    result = run_cli(*run_args(task, out, script))
    assert result.returncode == 0, result.stderr
    assert not running(int(wait_for_file(daemon_pid)))
    container = spans(out)["container"]
    # It used to wait a fixed 10 s for the output pipes the daemon held open.
    assert container.attributes["duration_s"] < 5
    assert "started" in container.attributes["stdout_tail"]


def test_ctrl_c_while_the_collector_hangs_says_spans_were_unsent(tmp_path: Path, task: Path) -> None:
    out = tmp_path / "run"
    pidfile = tmp_path / "agent.pid"
    with hanging_collector() as url:
        proc = start_cli(*run_args(task, out, f"echo $$ > {pidfile}; sleep 60", "--otlp-endpoint", url))
        wait_for_file(pidfile)
        time.sleep(1.5)  # the batch processor has tried to send the first spans by now
        proc.send_signal(signal.SIGINT)
        first = time.monotonic()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "could not send" in err and "span(s) to the OTLP endpoint" in err and "no answer" in err, err
    assert time.monotonic() - first < 5  # the collector's 5 s timeout is not waited out
    assert len(complete_lines(out / "trace.jsonl")) == 6


# -- the run directory and the flags ---------------------------------------------------------------


def test_eight_runs_racing_for_one_out_directory_get_it_once(tmp_path: Path, task: Path, tmpdir_env) -> None:
    tmpdir, env = tmpdir_env
    out = tmp_path / "shared"
    procs = [start_cli(*run_args(task, out, f"echo run {i}"), env=env) for i in range(8)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0] + [2] * 7, results
    assert all("already exists" in err for code, err in results if code == 2)
    records = complete_lines(out / "trace.jsonl")
    assert len({r["trace_id"] for r in records}) == 1 and len(records) == 7  # type: ignore[index]
    assert scratch_dirs(tmpdir) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--out", "FILE"], "is a file"),
        (["--runs-dir", "FILE"], "is a file"),
        (["--out", "FILE/sub"], "cannot create run directory"),
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--timeout", "inf"], "--timeout"),
        (["--runtime", "docker", "--image", "x", "--memory", "lots"], "--memory"),
        (["--runtime", "docker", "--image", "x", "--memory", "1k"], "--memory"),
        (["--runtime", "docker", "--image", "x", "--cpus", "0"], "--cpus"),
        (["--runtime", "docker", "--image", "x", "--pids-limit", "-3"], "--pids-limit"),
        (["--cast-limit", "lots"], "--cast-limit"),
    ],
)
def test_every_bad_flag_value_is_a_usage_error(
    tmp_path: Path, task: Path, args: list[str], said: str
) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    args = [a.replace("FILE", str(file)) for a in args]
    runs = tmp_path / "runs"
    if "--out" not in args:
        args = [*args, "--runs-dir", str(runs)] if "--runs-dir" not in args else args
    result = run_cli("run", "--adapter", "command", "--task", str(task), *args, "--", "true")
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not runs.exists() and file.read_text() == "x"


# -- terminal.cast bound ---------------------------------------------------------------------------


def test_cast_limit_stops_the_recording_with_a_marker_and_a_warning(tmp_path: Path, task: Path) -> None:
    from replay.terminal import read_cast

    out = tmp_path / "run"
    script = 'i=0; while [ $i -lt 5000 ]; do echo "line $i of the output"; i=$((i+1)); done'
    result = run_cli(*run_args(task, out, script, "--cast-limit", "20k"))
    assert result.returncode == 0, result.stderr
    assert "warning: terminal.cast stops" in result.stderr and "--cast-limit 20480 bytes" in result.stderr
    assert 20 * 1024 - 400 < (out / "terminal.cast").stat().st_size <= 20 * 1024  # filled, not over
    *events, marker = complete_lines(out / "terminal.cast")[1:]
    assert marker[1] == "m" and "recording stops here" in marker[2]  # type: ignore[index]
    assert all(e[1] == "o" for e in events)  # type: ignore[index]
    cast = read_cast(out / "terminal.cast")  # the replay reads it
    screen = "".join(cast.text(i) for i in range(len(cast)))
    assert any("recording stops here" in text for _, text in cast.markers)
    assert screen.startswith("line 0 of the output\r\nline 1 of the output\r\n")
    container = spans(out)["container"]
    assert container.attributes["terminal_cast_stopped_at_s"] >= 0
    assert "line 4999 of the output" in container.attributes["stdout_tail"]


def test_a_scratch_dir_kept_with_keep_workdir_is_left_alone_by_gc(
    tmp_path: Path, task: Path, tmpdir_env
) -> None:
    tmpdir, env = tmpdir_env
    result = run_cli(*run_args(task, tmp_path / "run", "true", "--keep-workdir"), env=env)
    assert result.returncode == 0, result.stderr
    (kept,) = scratch_dirs(tmpdir)
    assert not (kept / OWNER_FILE).exists()
    gc = run_cli("gc", env=env)
    assert gc.returncode == 0 and kept.exists()
    subprocess.run(["rm", "-rf", str(kept)], check=True)


def test_ctrl_c_while_the_run_waits_for_a_hung_collector_at_the_end(tmp_path: Path, task: Path) -> None:
    out = tmp_path / "run"
    with hanging_collector() as url:
        proc = start_cli(*run_args(task, out, "echo done", "--otlp-endpoint", url))
        assert proc.stderr is not None
        for line in proc.stderr:  # the cleanup phase has ended: the run now waits on the collector
            if "cleanup:command" in line:
                break
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        first = time.monotonic()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "could not send 7 span(s)" in err and "interrupted before it answered" in err, err
    assert "interrupted while sending spans; the run had ended" in err
    assert time.monotonic() - first < 2  # not the collector's 5 s timeout
    assert len(complete_lines(out / "trace.jsonl")) == 7


@pytest.mark.parametrize("chunk", [10, 1000, 100_000])
def test_the_cast_limit_is_filled_and_never_passed_whatever_the_chunk_size(
    tmp_path: Path, chunk: int
) -> None:
    from cab_trace.harness.output import CastWriter

    cast = CastWriter(tmp_path / "terminal.cast", limit_bytes=20_000)
    text = "".join(f"\x1b[1mline {i}\x1b[0m é\n" for i in range(20_000))
    for start in range(0, len(text), chunk):
        cast.write(text[start : start + chunk])
    cast.close()
    size = (tmp_path / "terminal.cast").stat().st_size
    assert 20_000 - 400 < size <= 20_000
    _header, *events, marker = complete_lines(tmp_path / "terminal.cast")
    recorded = "".join(e[2] for e in events)  # type: ignore[index]
    assert text.replace("\n", "\r\n").startswith(recorded) and marker[1] == "m"  # type: ignore[index]


def test_a_closed_terminal_sighup_ends_the_run_like_sigterm(tmp_path: Path, task: Path, tmpdir_env) -> None:
    tmpdir, env = tmpdir_env
    out = tmp_path / "run"
    pidfile = tmp_path / "agent.pid"
    proc = start_cli(*run_args(task, out, f"echo $$ > {pidfile}; sleep 60"), env=env)
    pid = int(wait_for_file(pidfile))
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 129, err
    assert "hung up; the agent was stopped" in err
    assert not running(pid)
    s = spans(out)
    # 143 either way: the shell dies of the SIGTERM (exit_signal) or, when its `sleep` dies of it
    # first, exits 143 itself (which of the two wins is a race inside the shell).
    assert s["run"].status.message == "interrupted" and s["container"].attributes["exit_code"] == 143
    assert scratch_dirs(tmpdir) == []
