"""Redaction end to end: a key in argv, env and stdout never reaches a byte of the run directory
or the OTLP receiver; `scan`, `redact` and the leak check, as a user runs them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson
import pytest

from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.otlp_receiver import OtlpReceiver

KEY = "opaque-Key-With-No-Shape-0451"  # no provider shape: only the known-secret layer can catch it
AGENT = (
    "import os, sys; k = os.environ['CAB_KEY']; "
    "print('argv key', sys.argv[1]); print('env key', k); "
    "sys.stdout.write('split ' + k[:7]); sys.stdout.flush(); sys.stdout.write(k[7:] + '\\n'); "
    "print('aws ' + 'AKIA' + 'IOSFODNN7EXAMPLE', file=sys.stderr)"
)


@pytest.mark.parametrize(("mode", "protocol"), [("grpc", "grpc"), ("http", "http/protobuf")])
def test_a_key_in_argv_env_and_stdout_appears_in_no_byte(
    tmp_path: Path, task_dir: Path, mode, protocol
) -> None:
    out = tmp_path / "run"
    with OtlpReceiver(mode) as receiver:
        result = run_cli(
            "run",
            "--adapter",
            "command",
            "--task",
            str(task_dir),
            "--out",
            str(out),
            "--otlp-endpoint",
            receiver.endpoint,
            "--otlp-protocol",
            protocol,
            "--echo",
            "--",
            sys.executable,
            "-c",
            AGENT,
            "{key}",
            env={"CAB_KEY": KEY},
        )
    assert result.returncode == 0, result.stderr
    for path in out.rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path
    assert KEY not in result.stdout + result.stderr
    assert receiver.received.raw and not any(KEY.encode() in raw for raw in receiver.received.raw)
    container = next(r for r in read_records(out) if r.kind == "container")
    assert container.attributes["argv"][-1] == "[REDACTED]"
    assert container.attributes["stdout_tail"] == (
        "argv key [REDACTED]\nenv key [REDACTED]\nsplit [REDACTED]\n"
    )
    assert container.attributes["stderr_tail"] == "aws [REDACTED]\n"
    # The terminal recording: asciicast v2, redacted, both streams, newlines as a terminal shows them.
    assert container.attributes["terminal_cast"] == "terminal.cast"
    header, *events = [json.loads(line) for line in (out / "terminal.cast").read_text().splitlines()]
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    assert all(e[1] == "o" and isinstance(e[0], float | int) for e in events)
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    shown = "".join(e[2] for e in events)
    for line in (
        "argv key [REDACTED]\r\n",
        "env key [REDACTED]\r\n",
        "split [REDACTED]\r\n",
        "aws [REDACTED]\r\n",
    ):
        assert line in shown


def test_leak_check_fails_the_run_and_names_the_file(tmp_path: Path, task_dir: Path) -> None:
    out = tmp_path / "run"
    # An agent that writes its key straight into the run directory, around every redactor.
    leak = f"open({str(out / 'notes.txt')!r}, 'w').write('k=' + __import__('os').environ['CAB_KEY'])"
    result = run_cli(
        "run",
        "--adapter",
        "command",
        "--task",
        str(task_dir),
        "--out",
        str(out),
        "--",
        sys.executable,
        "-c",
        leak,
        env={"CAB_KEY": KEY},
    )
    assert result.returncode == 1
    assert f"leak check: {out / 'notes.txt'}:1: known-secret" in result.stderr
    assert KEY not in result.stderr + result.stdout
    assert KEY.encode() not in (out / "trace.jsonl").read_bytes()


def test_scan_reports_file_line_rule_and_never_the_secret(tmp_path: Path) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
    (tmp_path / "a.log").write_text(f"fine\nclone with {token}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("nothing here\n")
    result = run_cli("scan", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == f"{tmp_path / 'a.log'}:2: github-token: ghp_…(44 chars)\n"
    assert token not in result.stdout + result.stderr
    assert "1 suspected secret(s) in 1 of 2 file(s)" in result.stderr
    clean = run_cli("scan", str(tmp_path / "sub"))
    assert clean.returncode == 0 and "no suspected secrets" in clean.stderr


def test_scan_finds_a_known_secret_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "t.log").write_text(f"x {KEY} y\n")
    assert run_cli("scan", str(tmp_path)).returncode == 0  # no shape: unknown to the rules
    result = run_cli("scan", str(tmp_path), "--known-secret-env", "MY_KEY", env={"MY_KEY": KEY})
    assert result.returncode == 1 and "known-secret: …(29 chars)" in result.stdout


def test_redact_a_log_from_stdin_and_a_file(tmp_path: Path) -> None:
    import subprocess

    text = "export OPENAI_API_KEY=abc123def456\nplain line\n"
    result = subprocess.run(
        [sys.executable, "-m", "cab_trace", "redact"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout == "export OPENAI_API_KEY=[REDACTED]\nplain line\n"
    path = tmp_path / "x.log"
    path.write_text(f"using {KEY}\n")
    result = run_cli("redact", str(path), "--known-secret-env", "K", env={"K": KEY})
    assert result.stdout == "using [REDACTED]\n"


def test_redact_keeps_an_old_trace_valid(tmp_path: Path, schema_validator) -> None:
    from tests.unit.test_record import GOOD

    leaky = {
        **GOOD,
        "attributes": {
            "argv": ["--api-key", "zz9yy8xx7ww6", "--model", "m"],
            "note": 'say "hi" with Authorization: Bearer abcdefghijklmnop1234',
        },
    }
    path = tmp_path / "old.jsonl"
    path.write_bytes(orjson.dumps(leaky) + b"\n")
    result = run_cli("redact", str(path))
    assert result.returncode == 0
    line = orjson.loads(result.stdout)
    schema_validator.validate(line)
    assert line["attributes"]["argv"] == ["--api-key", "[REDACTED]", "--model", "m"]
    assert line["attributes"]["note"] == 'say "hi" with Authorization: Bearer [REDACTED]'


def test_scan_and_redact_usage_errors(tmp_path: Path) -> None:
    result = run_cli("scan", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such file or directory" in result.stderr
    result = run_cli("redact", str(tmp_path / "nope"))
    assert result.returncode == 2 and "cannot be read" in result.stderr
    result = run_cli("scan", str(tmp_path), "--known-secret-env", "UNSET_XYZ")
    assert result.returncode == 2 and "is not set" in result.stderr
