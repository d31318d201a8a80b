"""`cab-trace run` and `cab-trace demo` end to end on the local runtime, as a user runs them."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from cab_trace.model import SpanRecord, read_records
from tests.conftest import run_cli
from tests.otlp_receiver import OtlpReceiver, closed_port

KEY = "sk-ijYE3xQ7pL0mN4vR8tZ2wK6y"
PHASE_PARENT = {
    "task_setup": "run",
    "adapter_run": "run",
    "tool_call": "adapter_run",
    "container": "adapter_run",
    "cleanup": "run",
}


def running(pid: int) -> bool:
    """Whether ``pid`` is still running. A killed orphan stays a zombie until PID 1 reaps it,
    so look at its state, and give the kernel a moment to deliver SIGKILL."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.05)
    return True


def by_kind(run_dir: Path) -> dict[str, SpanRecord]:
    # The phases; model calls and tool steps (the demo's agent makes some) are many per run.
    records = [r for r in read_records(run_dir) if r.kind not in ("model_call", "tool_step")]
    kinds = {r.kind: r for r in records}
    # Every phase once. `blast_radius` is missing when the run was interrupted, `verify` when
    # the task has no check command (the tests that expect them assert on them).
    expected = 6 + ("blast_radius" in kinds) + ("verify" in kinds)
    assert len(kinds) == len(records) == expected, [r.kind for r in records]
    return kinds


def assert_well_formed(run_dir: Path, schema_validator) -> dict[str, SpanRecord]:
    for line in (run_dir / "trace.jsonl").read_bytes().splitlines():
        schema_validator.validate(orjson.loads(line))
    spans = by_kind(run_dir)
    assert len({s.trace_id for s in spans.values()}) == 1
    assert spans["run"].parent_span_id is None
    for kind, parent_kind in {**PHASE_PARENT, "blast_radius": "run", "verify": "run"}.items():
        if kind not in spans and kind in ("blast_radius", "verify"):
            continue
        child, parent = spans[kind], spans[parent_kind]
        assert child.parent_span_id == parent.span_id, kind
        assert parent.start_time_unix_nano <= child.start_time_unix_nano <= child.end_time_unix_nano
        assert child.end_time_unix_nano <= parent.end_time_unix_nano, kind
    order = [
        spans[k] for k in ("task_setup", "adapter_run", "blast_radius", "verify", "cleanup") if k in spans
    ]
    assert all(a.end_time_unix_nano <= b.start_time_unix_nano for a, b in itertools.pairwise(order))
    assert spans["tool_call"].end_time_unix_nano <= spans["container"].start_time_unix_nano
    return spans


def test_demo_records_every_phase_and_show_prints_them(tmp_path: Path, schema_validator) -> None:
    out = tmp_path / "run"
    result = run_cli("demo", "--pace", "0.02", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    spans = assert_well_formed(out, schema_validator)
    container = spans["container"]
    assert container.attributes["exit_code"] == 0 and container.attributes["timed_out"] is False
    assert "the tests pass" in container.attributes["stdout_tail"]
    assert "auth: using key [REDACTED]" in container.attributes["stdout_tail"]
    assert "[REDACTED]" in container.attributes["argv"]
    assert all(s.status.code == "OK" for s in spans.values())
    assert spans["run"].attributes["cell_id"] == "demo/command/scripted/demo-1/demo/fix-greeting"
    # What the agent changed, and the task's check.
    changes = spans["blast_radius"].attributes
    assert (
        changes["files_modified"] == ["greet.py"] and changes["files_added"] == changes["files_removed"] == []
    )
    assert (changes["lines_added"], changes["lines_removed"]) == (1, 1)
    diff = (out / "changes.diff").read_text()
    assert diff.startswith("--- a/greet.py\n+++ b/greet.py\n") and '+    return f"Hello, {name}!"' in diff
    assert spans["verify"].attributes["passed"] is True and spans["verify"].attributes["exit_code"] == 0
    assert spans["verify"].attributes["command"] == "python3 -m unittest -q test_greet"
    assert spans["run"].attributes["check_passed"] is True
    # The agent talked to the demo's scripted model through the recording proxy: model calls
    # with tokens, and the tool steps between them.
    records = list(read_records(out / "trace.jsonl"))
    calls = [s for s in records if s.kind == "model_call"]
    steps = [s.attributes["gen_ai.tool.name"] for s in records if s.kind == "tool_step"]
    assert len(calls) == 4 and all(s.attributes["gen_ai.usage.input_tokens"] > 0 for s in calls)
    assert steps == ["read_file", "edit_file", "run_tests"]
    assert spans["run"].attributes["model_calls"] == 4
    shown = run_cli("show", str(out))
    assert shown.returncode == 0
    for kind in PHASE_PARENT:
        assert kind in shown.stdout
    assert run_cli("validate", str(out)).returncode == 0


def test_pi_key_appears_nowhere_while_argv_stays_intact(
    tmp_path: Path, task_dir: Path, agent_env, schema_validator
) -> None:
    out = tmp_path / "run"
    with OtlpReceiver("http") as receiver:
        result = run_cli(
            "run",
            "--adapter",
            "pi",
            "--model",
            "stepfun-ai/step-3.5-flash",
            "--task",
            str(task_dir),
            "--runtime",
            "local",
            "--var",
            "provider=nim",
            "--out",
            str(out),
            "--otlp-endpoint",
            receiver.endpoint,
            "--echo",
            env={**agent_env, "CAB_KEY": KEY},
        )
    assert result.returncode == 0, result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in result.stdout + result.stderr  # not even in the live echo
    assert receiver.received.raw and not any(KEY.encode() in raw for raw in receiver.received.raw)
    assert len(receiver.received.spans()) == 7
    spans = assert_well_formed(out, schema_validator)
    argv = spans["container"].attributes["argv"]
    assert argv == [
        "pi",
        "--print",
        "--no-session",
        "--offline",
        "--provider",
        "nim",
        "--model",
        "stepfun-ai/step-3.5-flash",
        "Function uses unwrap on user input; replace it",
    ]
    assert spans["container"].attributes["process.command_args"] == argv
    tail = spans["container"].attributes["stdout_tail"]
    assert "CAB_KEY=[REDACTED]" in tail  # inherited by the local runtime, printed, redacted
    assert json.loads(tail.splitlines()[0].removeprefix("argv ")) == argv[1:]
    assert spans["run"].attributes["model"] == "stepfun-ai/step-3.5-flash"
    assert spans["task_setup"].attributes["files_copied"] == 1


def test_secrets_in_env_and_secret_env_are_redacted(tmp_path: Path, task_dir: Path, agent_env) -> None:
    out = tmp_path / "run"
    other = "opaque-value-without-any-shape-123"
    openai = "sk-proj-envkey1234567890abcdef"
    result = run_cli(
        "run",
        "--adapter",
        "pi",
        "--model",
        "m",
        "--task",
        str(task_dir),
        "--out",
        str(out),
        "--secret-env",
        "MY_SECRET",
        env={**agent_env, "CAB_KEY": KEY, "MY_SECRET": other, "OPENAI_API_KEY": openai},
    )
    assert result.returncode == 0, result.stderr
    data = (out / "trace.jsonl").read_bytes()
    for secret in (KEY, other, openai):
        assert secret.encode() not in data
    tail = by_kind(out)["container"].attributes["stdout_tail"]
    assert "MY_SECRET=[REDACTED]" in tail and "OPENAI_API_KEY=[REDACTED]" in tail


def test_agent_failure_is_recorded_and_exits_1(tmp_path: Path, task_dir: Path, agent_env) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "run",
        "--adapter",
        "pi",
        "--model",
        "m",
        "--task",
        str(task_dir),
        "--out",
        str(out),
        env={**agent_env, "CAB_KEY": KEY, "FAKE_EXIT": "3"},
    )
    assert result.returncode == 1
    assert "FAILED: agent exited with code 3" in result.stderr
    spans = by_kind(out)
    assert spans["container"].status.code == "ERROR"
    assert spans["container"].status.message == "agent exited with code 3"
    assert spans["container"].attributes["process.exit.code"] == 3
    assert spans["adapter_run"].status.code == "ERROR" and spans["adapter_run"].attributes["exit_code"] == 3
    assert spans["run"].status.code == "ERROR"
    assert spans["cleanup"].status.code == "OK"
    assert "working in" in spans["container"].attributes["stderr_tail"]


def test_timeout_kills_the_agent_and_its_children(tmp_path: Path, task_dir: Path, agent_env) -> None:
    out = tmp_path / "run"
    pidfile = tmp_path / "child.pid"
    result = run_cli(
        "run",
        "--adapter",
        "pi",
        "--model",
        "m",
        "--task",
        str(task_dir),
        "--out",
        str(out),
        "--timeout",
        "1.5",
        env={**agent_env, "CAB_KEY": KEY, "FAKE_SLEEP": "60", "FAKE_PIDFILE": str(pidfile)},
    )
    assert result.returncode == 1
    container = by_kind(out)["container"]
    assert container.attributes["timed_out"] is True
    assert container.status.code == "ERROR" and "timed out after 1.5 s" in container.status.message
    assert container.attributes["exit_code"] != 0
    assert container.duration_ns < 30e9
    assert not running(int(pidfile.read_text()))  # the agent's own child went with it


def test_a_missing_agent_command_is_found_before_the_run_and_says_how_to_get_it(
    tmp_path: Path, task_dir: Path
) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "run",
        "--adapter",
        "pi",
        "--model",
        "m",
        "--task",
        str(task_dir),
        "--out",
        str(out),
        env={"CAB_KEY": KEY, "PATH": "/nonexistent", "CAB_ENDPOINT": "http://127.0.0.1:9/v1"},
    )
    assert result.returncode == 2, result.stderr  # a usage error: nothing was run or recorded
    assert "cab-trace: error: pi: command not found" in result.stderr
    # How to get it: the pinned package (agents/versions), or `make agents` in a checkout.
    assert "npm install -g @mariozechner/pi-coding-agent@" in result.stderr or ".agents/bin" in result.stderr
    assert not out.exists() and "Traceback" not in result.stderr


def test_an_agent_that_cannot_start_is_still_recorded(tmp_path: Path, task_dir: Path) -> None:
    """A command the check cannot see in advance (a path inside the workdir) fails in the run,
    and the run records why."""
    out = tmp_path / "run"
    result = run_cli(
        "run", "--adapter", "command", "--task", str(task_dir), "--out", str(out), "--", "./no-such-agent",
    )  # fmt: skip
    assert result.returncode == 1
    container = by_kind(out)["container"]
    assert container.status.message == "command not found: ./no-such-agent"
    assert container.attributes["exit_code"] == 127


def test_unreachable_collector_costs_one_warning(tmp_path: Path, task_dir: Path, agent_env) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "run",
        "--adapter",
        "pi",
        "--model",
        "m",
        "--task",
        str(task_dir),
        "--out",
        str(out),
        "--otlp-endpoint",
        f"http://127.0.0.1:{closed_port()}",
        "--otlp-protocol",
        "grpc",
        env={**agent_env, "CAB_KEY": KEY},
    )
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if "warning" in line.lower()]
    assert len(warnings) == 1, result.stderr
    assert "could not send 7 span(s)" in warnings[0] and "connection refused" in warnings[0]
    assert len(list(read_records(out))) == 7


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--adapter", "pi", "--model", "m", "--task", "/nonexistent/task"],
            {"CAB_KEY": KEY},
            "does not exist",
        ),
        (["--adapter", "pi", "--model", "m"], {}, r"needs a value for {key}"),
        (["--adapter", "aider", "--model", "m"], {"CAB_KEY": KEY}, r"needs a value for {endpoint}"),
        (["--adapter", "nope", "--model", "m"], {}, "unknown adapter 'nope'"),
        (["--adapter", "command"], {}, "needs the agent's command after --"),
        (
            ["--adapter", "pi", "--model", "m", "--var", "colour=red"],
            {"CAB_KEY": KEY},
            "has no such variable",
        ),
        (["--adapter", "pi", "--model", "m", "--secret-env", "UNSET_VAR_X"], {"CAB_KEY": KEY}, "is not set"),
        (
            ["--adapter", "pi", "--model", "m", "--otlp-endpoint", "localhost:4317"],
            {"CAB_KEY": KEY},
            "not an http",
        ),
    ],
)
def test_bad_usage_exits_2_with_a_message_and_writes_nothing(
    tmp_path: Path, task_dir: Path, args, env, message
) -> None:
    if "--task" not in args:
        args = [*args, "--task", str(task_dir)]
    runs = tmp_path / "runs"
    result = run_cli("run", *args, "--runs-dir", str(runs), env={**env, "CAB_KEY": env.get("CAB_KEY", "")})
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not runs.exists()


def test_sigint_stops_the_agent_ends_every_span_and_exits_130(
    tmp_path: Path, task_dir: Path, agent_env
) -> None:
    out = tmp_path / "run"
    pidfile = tmp_path / "child.pid"
    env = {**os.environ, **agent_env, "CAB_KEY": KEY, "FAKE_SLEEP": "60", "FAKE_PIDFILE": str(pidfile)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cab_trace",
            "run",
            "--adapter",
            "pi",
            "--model",
            "m",
            "--task",
            str(task_dir),
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    spans = by_kind(out)
    assert spans["container"].status.message == "interrupted"
    assert spans["run"].status.code == "ERROR"
    assert not running(int(pidfile.read_text()))


def test_blast_radius_lists_added_removed_and_binary_files_and_redacts_the_diff(
    tmp_path: Path, task_dir: Path
) -> None:
    (task_dir / "old.txt").write_text("going away\n")
    (task_dir / "task.toml").write_text(
        (task_dir / "task.toml").read_text() + 'check = "test -f fixed.txt"\n'
    )
    out = tmp_path / "run"
    script = (
        "import os, pathlib; os.remove('old.txt'); "
        "pathlib.Path('src/lib.rs').write_text('pub fn f() -> u8 { 1 }\\n'); "
        "pathlib.Path('blob.bin').write_bytes(bytes(range(256))); "
        "pathlib.Path('notes.md').write_text('key ' + os.environ['CAB_KEY'] + '\\n'); "
        "os.makedirs('__pycache__'); pathlib.Path('__pycache__/x.pyc').write_bytes(b'x')"
    )
    result = run_cli(
        "run", "--adapter", "command", "--task", str(task_dir), "--out", str(out), "--",
        sys.executable, "-c", script, env={"CAB_KEY": KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # a failed check is recorded, it does not fail the run
    spans = by_kind(out)
    changes = spans["blast_radius"].attributes
    assert changes["files_added"] == ["blob.bin", "notes.md"]
    assert changes["files_removed"] == ["old.txt"] and changes["files_modified"] == ["src/lib.rs"]
    diff = (out / "changes.diff").read_text()
    assert "Binary files a/blob.bin and b/blob.bin differ" in diff
    assert "--- /dev/null\n+++ b/notes.md\n" in diff and "+key [REDACTED]" in diff
    assert "--- a/old.txt\n+++ /dev/null\n" in diff and "__pycache__" not in diff
    assert KEY not in diff
    verify = spans["verify"]
    assert verify.attributes["passed"] is False and verify.attributes["exit_code"] == 1
    assert (verify.status.code, verify.status.message) == ("ERROR", "check failed: exit code 1")
    assert spans["run"].attributes["check_passed"] is False and spans["run"].status.code == "OK"


def test_tty_gives_the_agent_a_terminal_and_records_exactly_what_it_drew(
    tmp_path: Path, task_dir: Path
) -> None:
    out = tmp_path / "run"
    script = (
        "import os, sys; print('tty', sys.stdout.isatty(), os.get_terminal_size().columns); "
        "sys.stdout.write('\\x1b[31mred\\x1b[0m\\x1b[2;5Hmoved\\n'); print('key', os.environ['CAB_KEY'])"
    )
    result = run_cli(
        "run", "--adapter", "command", "--task", str(task_dir), "--out", str(out), "--tty", "--",
        sys.executable, "-c", script, env={"CAB_KEY": KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (out / "terminal.cast").read_text().splitlines()[1:]]
    drawn = "".join(e[2] for e in events)
    assert "tty True 120\r\n" in drawn  # the pty's own newline translation, not ours
    assert "\x1b[31mred\x1b[0m\x1b[2;5Hmoved\r\n" in drawn  # escape sequences kept as drawn
    assert "key [REDACTED]" in drawn and KEY not in drawn
    assert "tty True 120" in by_kind(out)["container"].attributes["stdout_tail"]
