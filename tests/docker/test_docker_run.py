"""`cab-trace run --runtime docker` against a real engine, as a user runs it: success, failure,
timeout, interrupts, a missing image or engine, secrets, big output and leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cab_trace.model import read_records
from tests.conftest import run_cli

KEY = "opaque-Key-With-No-Shape-0451"


def docker_run(
    image: str, task: Path, out: Path, script: str, *extra: str, env: dict[str, str] | None = None
):
    return run_cli(
        "run", "--runtime", "docker", "--image", image, "--adapter", "command", "--task", str(task),
        "--out", str(out), *extra, "--", "sh", "-c", script, env=env,
    )  # fmt: skip


def spans(out: Path) -> dict[str, object]:
    return {r.kind: r for r in read_records(out / "trace.jsonl")}


def cast_text(out: Path) -> str:
    header, *events = [json.loads(line) for line in (out / "terminal.cast").read_text().splitlines()]
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    return "".join(e[2] for e in events if e[1] == "o")


def test_a_run_in_a_container_records_the_whole_tree(
    tmp_path: Path, image: str, leftovers, docker_client, task: Path
) -> None:
    out = tmp_path / "run"
    script = 'echo "in $(pwd) as $(id -u)"; ls; echo oops >&2; echo new > added.txt; rm greet.py'
    result = docker_run(image, task, out, script)
    assert result.returncode == 0, result.stderr
    s = spans(out)
    assert set(s) == {
        "run",
        "task_setup",
        "adapter_run",
        "tool_call",
        "container",
        "blast_radius",
        "verify",
        "cleanup",
    }
    assert f"as {os.getuid()}" in s["container"].attributes["stdout_tail"]  # files it writes stay yours
    changes = s["blast_radius"].attributes
    assert changes["files_added"] == ["added.txt"] and changes["files_removed"] == ["greet.py"]
    assert "+++ b/added.txt" in (out / "changes.diff").read_text()
    verify = s["verify"]  # the check runs in a container too: greet.py is gone, so it fails
    assert (
        verify.attributes["passed"] is False and verify.status.message == "check failed: exit code 2"
    )  # grep: no such file
    assert len(s["cleanup"].attributes["removed"]) == 4  # two containers, the config dir and the workdir
    c = s["container"].attributes
    image_id = docker_client.images.get(image).id
    assert c["runtime"] == "docker" and c["container.runtime.name"] == "docker"
    assert c["container.image.name"] == image and c["image"] == image
    assert c["container.image.tags"] == [image]
    assert c["container.image.repo_digests"] == [image_id]  # imported locally: no registry digest
    assert len(c["container.id"]) == 64 and c["container.name"].startswith("cab-trace-")
    assert c["exit_code"] == 0 and c["process.exit.code"] == 0 and c["timed_out"] is False
    assert c["argv"][:2] == ["sh", "-c"] and c["timeout_s"] == 600 and c["duration_s"] > 0
    assert s["run"].attributes["image_digest"] == image_id
    assert "in /workspace" in c["stdout_tail"] and "greet.py" in c["stdout_tail"]
    assert c["stderr_tail"] == "oops\n"
    screen = cast_text(out)
    assert "in /workspace" in screen and "oops\r\n" in screen
    removed = s["cleanup"].attributes["removed"]
    assert f"container:{c['container.name']}" in removed
    assert leftovers() == []


def test_a_failing_agent(tmp_path: Path, image: str, leftovers, task: Path) -> None:
    out = tmp_path / "run"
    result = docker_run(image, task, out, "echo trying; exit 3")
    assert result.returncode == 1
    s = spans(out)
    assert s["container"].attributes["exit_code"] == 3
    assert s["container"].status.code == "ERROR" and "code 3" in s["container"].status.message
    assert s["run"].status.code == "ERROR"
    assert leftovers() == []


def test_a_timeout_kills_the_container_and_cleanup_still_runs(
    tmp_path: Path, image: str, leftovers, task: Path
) -> None:
    out = tmp_path / "run"
    started = time.monotonic()
    result = docker_run(image, task, out, "echo start; sleep 60", "--timeout", "1.5")
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    s = spans(out)
    assert s["container"].attributes["timed_out"] is True
    assert s["container"].attributes["exit_code"] != 0
    assert "timed out after 1.5 s" in s["container"].status.message
    assert s["cleanup"].status.code == "OK"
    assert leftovers() == []


def _start_and_wait_for_output(image: str, out: Path, task: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cab_trace", "run", "--runtime", "docker", "--image", image, "--adapter",
         "command", "--task", str(task), "--out", str(out), "--echo", "--", "sh", "-c",
         "echo started; sleep 60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cast = out / "terminal.cast"
        if cast.exists() and "started" in cast.read_text():
            return proc
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the agent never started")


@pytest.mark.parametrize(
    ("sig", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_ctrl_c_or_sigterm_stops_the_container_and_ends_every_span(
    tmp_path: Path, image: str, leftovers, task: Path, sig: signal.Signals, code: int, said: str
) -> None:
    out = tmp_path / "run"
    proc = _start_and_wait_for_output(image, out, task)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert said in stderr and "Traceback" not in stderr
    s = spans(out)
    assert set(s) == {"run", "task_setup", "adapter_run", "tool_call", "container", "cleanup"}
    for kind in ("run", "adapter_run", "container"):
        assert (s[kind].status.code, s[kind].status.message) == ("ERROR", "interrupted")
    assert leftovers() == []


def test_kill_9_leaves_a_readable_trace_and_gc_removes_the_container(
    tmp_path: Path, image: str, leftovers, task: Path
) -> None:
    out = tmp_path / "run"
    proc = _start_and_wait_for_output(image, out, task)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    shown = run_cli("show", str(out))
    assert shown.returncode == 0 and "task_setup" in shown.stdout  # the spans that had ended
    (left,) = leftovers()
    gc = run_cli("gc")
    assert gc.returncode == 0, gc.stderr
    assert left in gc.stdout.split() and "removed" in gc.stderr
    assert leftovers() == []


def test_a_missing_image_is_one_clear_error(tmp_path: Path, image: str, task: Path) -> None:
    out = tmp_path / "run"
    result = docker_run("cab-trace-test:no-such-tag", task, out, "true")
    assert result.returncode == 2
    assert "image 'cab-trace-test:no-such-tag' is not on this machine" in result.stderr
    assert "--pull" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_an_unreachable_engine_is_one_clear_error(tmp_path: Path, task: Path) -> None:
    result = docker_run("anything", task, tmp_path / "run", "true", env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert result.returncode == 2
    assert "cannot reach the Docker engine" in result.stderr and "--runtime local" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_secret_the_agent_prints_is_redacted_in_cast_and_trace(
    tmp_path: Path, image: str, task: Path
) -> None:
    out = tmp_path / "run"
    script = f'echo "key is {KEY}"; echo "OPENAI_API_KEY=sk-proj-abcdefghijklmnop0123456789" >&2'
    result = docker_run(image, task, out, script, "--secret-env", "MY_TOKEN", env={"MY_TOKEN": KEY})
    assert result.returncode == 0, result.stderr
    for path in out.rglob("*"):
        data = path.read_bytes()
        assert KEY.encode() not in data and b"sk-proj-abcdefghijklmnop" not in data, path
    screen = cast_text(out)
    assert "key is [REDACTED]" in screen and "OPENAI_API_KEY=[REDACTED]" in screen


def _peak_rss_kb(cmd: list[str]) -> int:
    """The high-water mark of a command's resident memory (VmHWM), read while it runs.
    (Not ru_maxrss: Linux carries that over from the parent, here pytest, through fork and exec.)"""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        hwm = [line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")]
        peak = max([peak, *map(int, hwm)])
        time.sleep(0.02)
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    assert peak > 0
    return peak


def test_big_output_is_streamed_in_bounded_memory(tmp_path: Path, image: str, task: Path) -> None:
    """Peak memory of `cab-trace run` for 64 MB of output vs for none: output is never held whole."""

    def run(script: str, out: Path) -> list[str]:
        cli = [sys.executable, "-m", "cab_trace", "run", "-q", "--runtime", "docker", "--image", image]
        agent = ["--", "sh", "-c", script]
        return [*cli, "--adapter", "command", "--task", str(task), "--out", str(out), *agent]

    quiet = _peak_rss_kb(run("true", tmp_path / "quiet"))
    noisy = _peak_rss_kb(
        run("yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 64000000", tmp_path / "noisy")
    )
    assert (tmp_path / "noisy" / "terminal.cast").stat().st_size > 64_000_000
    assert noisy - quiet < 32_000, f"peak RSS grew by {(noisy - quiet) / 1000:.0f} MB for 64 MB of output"
