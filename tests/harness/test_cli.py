"""`show`, `validate` and `--help` as a user meets them: clear errors, right exit codes, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.conftest import run_cli
from tests.unit.test_record import GOOD


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_bytes(orjson.dumps(GOOD) + b"\n")
    return path


def test_show_and_validate_a_good_file(good_file: Path) -> None:
    shown = run_cli("show", str(good_file))
    assert shown.returncode == 0 and "run:demo" in shown.stdout
    checked = run_cli("validate", str(good_file))
    assert checked.returncode == 0 and "valid (1 line(s))" in checked.stdout


@pytest.mark.parametrize("command", ["show", "validate"])
def test_malformed_line_names_file_and_line(tmp_path: Path, command: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(orjson.dumps(GOOD) + b"\n" + orjson.dumps({**GOOD, "span_id": "short"}) + b"\n")
    result = run_cli(command, str(path))
    assert result.returncode == 2
    assert f"{path}:2:" in result.stderr and "span_id" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["show", "validate"])
def test_missing_file(tmp_path: Path, command: str) -> None:
    result = run_cli(command, str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2 and "nope.jsonl: no such file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["show", "validate"])
def test_truncated_last_line_is_a_warning(tmp_path: Path, command: str) -> None:
    path = tmp_path / "t.jsonl"
    line = orjson.dumps(GOOD) + b"\n"
    path.write_bytes(line + line[:30])
    result = run_cli(command, str(path))
    # show shows what was recorded; validate does not call a file that lost a line valid.
    assert result.returncode == (1 if command == "validate" else 0), result.stderr
    assert "warning" in result.stderr and f"{path}:2: last line is incomplete" in result.stderr
    if command == "validate":
        assert f"{path}: incomplete: line 2 of 2 is cut off" in result.stdout
        assert "valid (" not in result.stdout


def test_validate_reports_the_schema_path(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(orjson.dumps({**GOOD, "attributes": {"x": {"nested": 1}}}) + b"\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert f"{path}:1: schema: attributes.x:" in result.stderr


def test_help_explains_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "demo", "show", "validate"):
        assert command in result.stdout
    run_help = run_cli("run", "--help").stdout
    for flag in ("--task", "--adapter", "--secret-env", "--otlp-endpoint", "--timeout", "--plugin"):
        assert flag in run_help


def test_no_command_prints_help_and_exits_2() -> None:
    result = run_cli()
    assert result.returncode == 2 and "usage:" in result.stderr
