"""Nothing a task, an adapter, the agent or a trace file says reaches the user's terminal as
control: hostile ids, names and values driven through every command's output (stdout and
stderr of real `cab-trace` processes) come out escaped, as `show` escapes them. Escapes that
would change the terminal (a title, colours, a clear, a right-to-left override) never appear raw."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

#: A window-title change, a bell, a colour, the 8-bit CSI, a carriage return, a backspace, a
#: right-to-left override (and its isolate), a line separator, an OSC 52 clipboard write.
HOSTILE = "evil\x1b]0;pwned\x07\x1b[31mred\x9b2J\r\x08\u202egnp.exe\u2067x\u2028\x1b]52;c;aGk=\x07"
#: What must never reach a terminal raw.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
T = "4bf92f3577b34da6a3ce929d0e0e4736"


def clean(result) -> None:
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        found = RAW.findall(text)
        assert not found, f"{name} holds raw {found!r}: {text[-1500:]!r}"
    assert "Traceback" not in result.stderr


def record(span_id: str, parent: str | None, **overrides) -> dict:
    base = {
        "trace_id": T,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": f"name {HOSTILE}",
        "kind": f"kind{HOSTILE}",
        "span_kind": "INTERNAL",
        "start_time_unix_nano": 1_000,
        "end_time_unix_nano": 2_000,
        "status": {"code": "ERROR", "message": f"status {HOSTILE}"},
        "attributes": {f"key{HOSTILE}": f"value {HOSTILE}", "task_id": HOSTILE},
        "events": [{"name": f"event {HOSTILE}", "time_unix_nano": 1_500, "attributes": {"e": HOSTILE}}],
        "links": [],
        "resource": {"service.name": HOSTILE},
        "scope": {"name": HOSTILE, "version": None},
    }
    base.update(overrides)
    return base


@pytest.fixture
def hostile_trace(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines = [
        record("00f067aa0ba902b7", None),
        record("00f067aa0ba902b8", "00f067aa0ba902b7"),
        record("00f067aa0ba902b8", "00f067aa0ba902b9", name=HOSTILE),  # a duplicate id: a warning
    ]
    (run_dir / "trace.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    header = {"version": 2, "width": 80, "height": 24, "env": {"TERM": HOSTILE}}
    events = [[0.1, "o", HOSTILE], [0.2, "m", HOSTILE]]
    (run_dir / "terminal.cast").write_text("\n".join(json.dumps(x) for x in [header, *events]) + "\n")
    return run_dir


@pytest.mark.parametrize(
    "args",
    [["show"], ["show", "--full"], ["validate"], ["replay"], ["scan"]],
    ids=["show", "show-full", "validate", "replay", "scan"],
)
def test_a_hostile_trace_through_every_reading_command(hostile_trace: Path, args: list[str]) -> None:
    result = run_cli(*args, str(hostile_trace))
    clean(result)


def test_a_hostile_trace_through_export(hostile_trace: Path, tmp_path: Path) -> None:
    for fmt in ("jaeger-json", "otlp-json", "asciicast"):
        result = run_cli("export", str(hostile_trace), "--format", fmt, "-o", str(tmp_path / f"out.{fmt}"))
        clean(result)
        assert result.returncode == 0, result.stderr


def test_a_hostile_line_that_does_not_validate(tmp_path: Path) -> None:
    bad = record("00f067aa0ba902b7", None, trace_id=HOSTILE, end_time_unix_nano=HOSTILE, span_kind=HOSTILE)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n" + HOSTILE + "\n")
    for args in (["validate"], ["show"], ["export", "--format", "otlp-json", "-o", str(tmp_path / "o")]):
        result = run_cli(*args, str(path))
        assert result.returncode != 0
        clean(result)


def test_hostile_file_names_through_scan_and_the_readers(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    named = run_dir / f"x{HOSTILE.replace('/', '_')}.jsonl"
    named.write_text('{"nope": 1}\nAKIAIOSFODNN7EXAMPLE token=ghp_' + "a" * 36 + "\n")
    for args in (["scan", str(run_dir)], ["show", str(named)], ["validate", str(named)]):
        clean(run_cli(*args))


def test_a_hostile_task_adapter_and_agent_through_run(tmp_path: Path, task_dir: Path) -> None:
    (task_dir / "task.toml").write_text(
        f"id = {json.dumps('demo/' + HOSTILE)}\nprompt = {json.dumps(HOSTILE)}\n"
        f"category = {json.dumps(HOSTILE)}\n"
        f"check = {json.dumps('echo ' + HOSTILE.replace(chr(0), ''))}\n"
    )
    adapter = tmp_path / "adapter.toml"
    agent = "import sys; print(sys.argv[1]); print('\\x1b[1mbold\\x1b[0m ok', file=sys.stderr)"
    adapter.write_text(
        f"name = {json.dumps('a' + HOSTILE)}\n"
        f"command = [{json.dumps(sys.executable)}, '-c', {json.dumps(agent)}, \"{{prompt}}\"]\n"
    )
    result = run_cli(
        "run", "--adapter", str(adapter), "--task", str(task_dir), "--runs-dir", str(tmp_path / "runs"),
        "--echo", "--plugin", "missing",
    )  # fmt: skip
    clean(result)
    assert result.returncode == 0, result.stderr
    assert "\\x1b]0;pwned" in result.stderr  # escaped, as show escapes it, so the user still sees it
    assert "\\x1b[1mbold\\x1b[0m ok" in result.stderr  # --echo shows the agent's escapes as text
    # The run's own directory names carry none of it.
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not RAW.search(run_dir.name)
    for args in (["show"], ["show", "--full"], ["validate"], ["scan"]):
        clean(run_cli(*args, str(run_dir)))


def test_an_agent_that_cannot_be_found_by_a_hostile_name(tmp_path: Path, task_dir: Path) -> None:
    result = run_cli(
        "run", "--adapter", "command", "--task", str(task_dir), "--runs-dir", str(tmp_path / "runs"),
        "--", f"no-such-agent{HOSTILE}",
    )  # fmt: skip
    assert result.returncode == 2  # a usage error before anything runs (the command is looked for first)
    assert "command not found" in result.stderr
    clean(result)


def test_gc_names_what_it_leaves_escaped(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    (tmpdir / f"cab-trace-{HOSTILE.replace('/', '_')}" / "workdir").mkdir(parents=True)
    result = run_cli("gc", env={"TMPDIR": str(tmpdir), "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.returncode == 0
    clean(result)
