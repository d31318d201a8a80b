"""`show`, `validate` and `export` on foreign and odd files, as a user runs them: warnings are
visible, a one-line file that is not a span is an error, `--width` cuts, a closed pipe does not
turn a bad file into exit 0."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from cab_trace.model import JsonlWriter, SpanRecord
from tests.conftest import run_cli
from tests.unit.test_record import GOOD

FOREIGN = Path(__file__).resolve().parent.parent / "fixtures" / "foreign"


@pytest.mark.parametrize("command", ["show", "validate"])
def test_a_one_line_file_that_is_not_a_span_is_an_error(tmp_path: Path, command: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("hello world")  # no newline
    result = run_cli(command, str(path))
    assert result.returncode == 2, result.stdout
    assert f"{path}:1:" in result.stderr and "not valid JSON" in result.stderr
    assert "valid" not in result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["show", "validate"])
def test_a_cut_off_last_span_line_is_a_warning(tmp_path: Path, command: str) -> None:
    line = orjson.dumps(GOOD)
    path = tmp_path / "t.jsonl"
    path.write_bytes(line + b"\n" + line[:60])
    result = run_cli(command, str(path))
    # show reads what was recorded; validate does not call a file that lost a line valid.
    assert result.returncode == (1 if command == "validate" else 0), result.stderr
    assert f"{path}:2: last line is incomplete" in result.stderr


@pytest.mark.parametrize(
    "name", ["otlp-pretty.json", "collector-mixed.jsonl", "jaeger-bare.json", "jaeger-wrapped.json"]
)
@pytest.mark.parametrize("command", ["show", "validate"])
def test_foreign_files_are_read(name: str, command: str) -> None:
    result = run_cli(command, str(FOREIGN / name))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_warnings_are_visible_in_show_and_validate(tmp_path: Path) -> None:
    record = SpanRecord.from_json_obj(GOOD)
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path)
    writer.write([record, replace(record, name="again")])  # the same span id twice
    writer.close()
    shown = run_cli("show", str(path))
    assert shown.returncode == 0 and "repeat a span id" in shown.stderr
    assert "run:demo" in shown.stdout and "again" in shown.stdout  # both rows, not one
    checked = run_cli("validate", str(path))
    assert checked.returncode == 0 and "repeat a span id" in checked.stderr
    skipped = run_cli("validate", str(FOREIGN / "collector-mixed.jsonl"))
    assert "skipped 3 line(s) that hold no traces" in skipped.stderr


def test_show_width_cuts_every_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(orjson.dumps(GOOD) + b"\n")
    for full in ([], ["--full"]):
        result = run_cli("show", str(path), "--width", "30", *full)
        assert result.returncode == 0
        lines = result.stdout.splitlines()
        assert lines and max(len(line) for line in lines) <= 30
        assert any(line.endswith("…") for line in lines)


def _with_closed_pipe(*args: str) -> int:
    """Run cab-trace with stdout and stderr a pipe whose reader has already gone (`| head`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cab_trace", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    proc.stdout.close()
    return proc.wait(timeout=120)


def test_validate_keeps_its_verdict_when_the_pipe_closes_early(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(orjson.dumps({**GOOD, "span_id": "short"}) + b"\n" for _ in range(50)))
    assert _with_closed_pipe("validate", str(bad)) == 2
    good = tmp_path / "good.jsonl"
    good.write_bytes(orjson.dumps(GOOD) + b"\n")
    assert _with_closed_pipe("validate", str(good)) == 0


@pytest.mark.parametrize("fmt", ["otlp-json", "jaeger-json"])
def test_export_of_a_foreign_file(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run_cli("export", str(FOREIGN / "otlp-pretty.json"), "--format", fmt, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote 2 span(s) of 1 trace(s)" in result.stderr
    again = run_cli("validate", str(out))
    assert again.returncode == 0 and "2 span(s)" in again.stdout
