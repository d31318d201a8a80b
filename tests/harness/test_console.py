"""What `cab-trace run` and `demo` say while they run and when they end: a live status line on a
terminal (tmux, as a person sees it), plain lines in a log, a summary with the check, calls,
tokens and wall time, why most model calls failed, and hints that work when pasted."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from cab_trace.cli.console import Console, failed_calls_line, self_command, status_text, summary_lines
from cab_trace.harness.runner import RunOutcome
from cab_trace.harness.status import LiveStatus, failure_reason, tool_call_text
from cab_trace.llm.call import CallRecord
from cab_trace.llm.wire import Api, RequestInfo, ResponseInfo, Usage
from tests.conftest import ROOT, run_cli
from tests.otlp_receiver import closed_port
from tests.replay.test_tmux import Tmux

DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"
AGENT = ROOT / "cab_trace" / "examples" / "scripted_agent.py"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def call(
    outcome: str = "ok", usage: Usage | None = None, tool: str | None = None, **kw: object
) -> CallRecord:
    response = ResponseInfo(usage=usage)
    if tool:
        response.output_messages = [
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "name": tool, "arguments": {"path": "greet.py"}}],
            }
        ]
    record = CallRecord(
        api=Api.CHAT,
        method="POST",
        path="/v1/chat/completions",
        server_address="127.0.0.1",
        server_port=8999,
        request_body_sha256="0" * 64,
        request=RequestInfo(),
        start_ns=0,
        response=response,
        outcome=outcome,
    )
    for key, value in kw.items():
        setattr(record, key, value)
    return record


def outcome(tmp_path: Path, **kw: object) -> RunOutcome:
    fields: dict[str, object] = {
        "run_dir": tmp_path / "run",
        "trace_path": tmp_path / "run" / "trace.jsonl",
        "trace_id": "ab" * 16,
        "exit_code": 0,
        "message": "ok",
        "agent_exit_code": 0,
        **kw,
    }
    return RunOutcome(**fields)  # type: ignore[arg-type]


def test_the_status_counts_calls_tokens_failures_and_the_last_tool() -> None:
    clock = Clock()
    status = LiveStatus(clock=clock)
    status.enter("container")
    clock.now += 42
    status.on_call(call(usage=Usage(input_tokens=100, output_tokens=20), tool="edit_file"))
    status.on_call(call("http_error", status=429))
    snap = status.snapshot()
    assert (snap.calls, snap.failed, snap.input_tokens, snap.output_tokens) == (2, 1, 100, 20)
    line = status_text(snap, proxy=True)
    assert line.split(" ", 1)[1] == (
        "0:42 · agent running · 2 model calls (1 failed: HTTP 429 from 127.0.0.1:8999) · "
        "tokens 100 in / 20 out · last tool: edit_file greet.py"
    )
    status.on_call(call(usage=None))  # a call that went through and reported no usage
    assert "tokens unknown (1 call(s) reported none)" in status_text(status.snapshot(), proxy=True)
    assert failed_calls_line(status.snapshot()) is None  # 1 of 3: not most


def test_why_most_calls_failed_is_said_in_words() -> None:
    status = LiveStatus()
    for _ in range(12):
        status.on_call(call("unreachable", detail="connection refused"))
    snap = status.snapshot()
    assert failed_calls_line(snap) == "12 of 12 model calls failed: connection refused to 127.0.0.1:8999"
    assert failure_reason(call("http_error", status=401)) == "HTTP 401 from 127.0.0.1:8999"
    assert (
        tool_call_text({"name": "bash", "arguments": '{"command": "ls   -la"}'})
        == 'bash {"command": "ls -la"}'
    )


def test_the_summary_keeps_the_facts_apart(tmp_path: Path) -> None:
    status = LiveStatus()
    status.on_call(call(usage=Usage(input_tokens=1548, output_tokens=209)))
    (line,) = summary_lines(outcome(tmp_path, check_passed=True), status.snapshot(), proxy=True)
    expected = r"cab-trace: run ok · ✓ check passed · exit 0 · 1 model call · tokens 1,548 in / 209 out"
    assert re.fullmatch(expected + r" · wall \d\.\d s", line)
    failed = summary_lines(
        outcome(tmp_path, exit_code=1, message="agent exited with code 1", agent_exit_code=1,
                check_passed=False, check_message="exit code 1"),
        None,
        proxy=False,
    )  # fmt: skip
    assert failed == [
        "cab-trace: run FAILED: agent exited with code 1; task check FAILED: exit code 1 · exit 1"
    ]


def test_not_on_a_terminal_the_status_comes_as_plain_lines() -> None:
    clock = Clock()
    status = LiveStatus(clock=clock)
    stream = io.StringIO()
    console = Console(stream, live=False, clock=clock, plain_every_s=30)
    console._status, console._proxy = status, True
    status.enter("container")
    console._plain_tick()  # the phase changed: its own line came with it
    clock.now += 31
    console._plain_tick()
    console.line("  container    command:launch  31 s")
    assert (
        stream.getvalue() == "  … 0:31 · agent running · 0 model calls\n  container    command:launch  31 s\n"
    )


def test_on_a_terminal_lines_go_above_the_status_line() -> None:
    stream = io.StringIO()
    console = Console(stream, live=True)
    console._status, console._proxy = LiveStatus(), False
    console.line("first")
    console.echo("partial")  # no newline: no status line drawn under a half line
    console.echo(" line\n")
    out = stream.getvalue()
    assert out.startswith("first\n\r\x1b[K")  # the status line, drawn after the line
    assert "\r\x1b[Kpartial line\n" in out.replace("partial\r\x1b[K line", "partial line")
    console.stop()
    assert stream.getvalue().endswith("\r\x1b[K")  # and gone at the end


def test_the_console_in_a_real_terminal_and_the_hint_that_works_when_pasted(tmp_path: Path) -> None:
    """`cab-trace demo` from .venv/bin, in tmux, as `make demo` runs it: the status line while the
    agent runs, the summary, and a `look at it` line whose commands work when pasted."""
    runs = tmp_path / "runs"
    cab = Path(sys.executable).parent / "cab-trace"
    assert cab.exists(), "the venv's cab-trace script"
    session = Tmux([str(cab), "demo", "--pace", "0.5", "--runs-dir", str(runs)], size=(120, 40))
    try:
        screen = session.wait_for(
            lambda s: "· agent running ·" in s and "tokens" in s, "the live status line"
        )
        status = next(line for line in screen.splitlines() if "· agent running ·" in line)
        assert re.match(
            r"^\S \d+:\d\d · agent running · \d model calls? · tokens [\d,]+ in / [\d,]+ out", status
        )
        session.wait_for(lambda s: "EXITED=0" in s, "the demo to finish", timeout=60)
        screen = session.screen(joined=True)  # a long `look at it` line, as one line
    finally:
        session.close()
    lines = screen.splitlines()
    summary = next(line for line in lines if line.startswith("cab-trace: run ok"))
    assert "✓ check passed · exit 0 · 4 model calls · tokens" in summary and "· wall " in summary
    assert not any("· agent running ·" in line for line in lines)  # the status line is gone
    look = next(line for line in lines if "look at it:" in line).split("look at it:", 1)[1].strip()
    also = next(line for line in lines if line.strip().startswith("or:")).split("or:", 1)[1].strip()
    assert look.split()[1] == "replay" and also.split()[1] == "show"
    # Pasted into a shell (cwd: where the demo ran, PATH without the venv), `show` works.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    pasted = subprocess.run(
        ["sh", "-c", also], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )
    assert pasted.returncode == 0, pasted.stderr
    assert "Model calls (4)" in pasted.stdout


def test_self_command_is_what_runs_this_cab_trace() -> None:
    command = self_command()
    assert command == "cab-trace" or command.endswith(("cab-trace", "-m cab_trace"))


def test_an_endpoint_that_is_down_is_named_on_the_console(tmp_path: Path) -> None:
    port = closed_port()
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(tmp_path / "run"),
        "--endpoint", f"http://127.0.0.1:{port}/v1", "--model", "m",
        "--", sys.executable, str(AGENT), "--endpoint", "{endpoint}", "--api-key", "{key}",
        "--model", "{model}", "--pace", "0", "{prompt}",
        env={"CAB_KEY": "sk-test-0123456789abcdef0123"},
    )  # fmt: skip
    assert result.returncode == 1
    err = result.stderr
    assert "\r" not in err and "\x1b[" not in err  # not a terminal: plain lines
    assert f"  1 of 1 model calls failed: connection refused to 127.0.0.1:{port}" in err
    assert "hint: is the model server up at that address? it is --endpoint" in err
    final = next(line for line in err.splitlines() if line.startswith("cab-trace: run FAILED"))
    assert "1 model call (1 failed)" in final and "tokens" not in final  # no call went through


def test_how_to_get_a_missing_agent_comes_from_agents_versions(tmp_path: Path, monkeypatch) -> None:
    from cab_trace.harness import install

    assert install.pinned("opencode") == ("npm", "opencode-ai", install.pinned("opencode")[2])  # type: ignore[index]
    checkout = tmp_path / "checkout"
    (checkout / "agents").mkdir(parents=True)
    (checkout / "agents" / "versions").write_text(
        "# comment\nnpm   @mariozechner/pi-coding-agent  0.73.1   pi\npypi  aider-chat  0.86.2  aider\n"
    )
    (checkout / "Makefile").write_text("")
    monkeypatch.setattr(install, "CHECKOUT", checkout)
    hint = install.install_hint("pi")
    assert hint.startswith("`make agents` installs the pinned agent CLIs (then: export PATH=")
    assert hint.endswith("npm install -g @mariozechner/pi-coding-agent@0.73.1")
    assert install.install_hint("aider").endswith("pipx install aider-chat==0.86.2")
    assert "on PATH" in install.install_hint("my-own-agent")
    (checkout / ".agents" / "bin").mkdir(parents=True)
    (checkout / ".agents" / "bin" / "pi").write_text("")
    local = checkout / ".agents" / "bin"
    assert install.install_hint("pi") == f"it is installed in {local}: export PATH={local}:$PATH"
