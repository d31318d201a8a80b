"""`scan` and the leak check on files: an unshaped key in a JSON argv and in a trace, a known
secret across a line end, JSON-escaped, behind control codes, and drawn across a cast's events."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from cab_trace.model import SpanRecord, encode_record
from cab_trace.redact import Redactor
from cab_trace.redact.scan import leak_check, scan_path
from tests.conftest import run_cli

KEY = "qwertyuiopasdf1234zz"  # no provider shape


def test_scan_finds_an_unshaped_key_in_a_json_argv_and_in_a_trace(tmp_path: Path) -> None:
    (tmp_path / "page.json").write_text(json.dumps({"cmd": ["pi", "--api-key", KEY, "--print"]}))
    record = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", None, "launch", "container", 1, 2,
        attributes={"argv": ["pi", "--api-key", KEY]},
    )  # fmt: skip
    (tmp_path / "trace.jsonl").write_bytes(encode_record(record))
    hits = list(scan_path(tmp_path, Redactor()))
    assert {(h.path.name, h.rule) for h in hits} == {
        ("page.json", "secret-option"),
        ("trace.jsonl", "secret-option"),
    }
    result = run_cli("scan", str(tmp_path))
    assert result.returncode == 1
    assert KEY not in result.stdout + result.stderr
    assert "trace.jsonl:1: secret-option" in result.stdout


def test_leak_check_reads_across_lines_escapes_controls_and_cast_events(tmp_path: Path) -> None:
    key = "opaque-Key-With-No-Shape-0451"
    (tmp_path / "split.txt").write_text("first " + key[:10] + "\n" + key[10:] + " rest\n")
    (tmp_path / "escaped.json").write_text(json.dumps({"k": key}).replace("o", "\\u006f"))
    (tmp_path / "coloured.log").write_text("\x1b[31m".join(key) + "\n")
    events = [[0.1 * i, "o", part] for i, part in enumerate([key[:6], "\x1b[0m", key[6:14], key[14:]])]
    (tmp_path / "terminal.cast").write_bytes(
        b"\n".join(orjson.dumps(e) for e in [{"version": 2, "width": 80, "height": 24}, *events]) + b"\n"
    )
    (tmp_path / "clean.txt").write_text("nothing here\n" * 1000)
    hits = leak_check(tmp_path, [key])
    assert sorted({h.path.name for h in hits}) == [
        "coloured.log",
        "escaped.json",
        "split.txt",
        "terminal.cast",
    ]
    assert all(key not in str(h) for h in hits)
    split = next(h for h in hits if h.path.name == "split.txt")
    assert split.line == 1


def test_scan_reads_big_files_in_blocks_and_keeps_line_numbers(tmp_path: Path) -> None:
    lines = [f"line {i} nothing" for i in range(200_000)]
    lines[150_000] = f"export OPENAI_API_KEY={KEY}"
    (tmp_path / "big.log").write_text("\n".join(lines) + "\n")
    hits = list(scan_path(tmp_path, Redactor()))
    assert [(h.line, h.rule) for h in hits] == [(150_001, "secret-assignment")]
