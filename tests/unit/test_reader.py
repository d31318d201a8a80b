"""Reading JSONL traces: streaming, clear errors naming file and line, truncated last lines."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cab_trace.errors import TraceFileError
from cab_trace.model import JsonlWriter, SpanRecord, read_records
from tests.unit.test_record import GOOD


def _line(**changes) -> bytes:
    return orjson.dumps({**GOOD, **changes}) + b"\n"


def _ids(n: int) -> list[str]:
    return [f"{i + 1:016x}" for i in range(n)]


def test_reads_every_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"".join(_line(span_id=s) for s in _ids(3)))
    assert [r.span_id for r in read_records(path)] == _ids(3)


def test_a_run_directory_means_its_trace_file(tmp_path: Path) -> None:
    (tmp_path / "trace.jsonl").write_bytes(_line())
    assert len(list(read_records(tmp_path))) == 1


def test_a_directory_without_a_trace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match=r"is a directory with no trace\.jsonl"):
        list(read_records(tmp_path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match=r"nope\.jsonl: no such file"):
        list(read_records(tmp_path / "nope.jsonl"))


def test_malformed_line_names_file_line_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(_line() + b'{"trace_id": \n' + _line())
    with pytest.raises(TraceFileError) as info:
        list(read_records(path))
    assert info.value.line == 2
    assert str(info.value.message).startswith(f"{path}:2: not valid JSON")


def test_invalid_record_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(_line() + _line(span_kind="weird"))
    with pytest.raises(TraceFileError, match=r"t\.jsonl:2: not a span record: span_kind must be one of"):
        list(read_records(path))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(_line() + b'{"name": "\xff\xfe"}\n')
    with pytest.raises(TraceFileError, match=r"t\.jsonl:2: not UTF-8"):
        list(read_records(path))


def test_truncated_last_line_is_a_warning_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    full = _line(span_id=_ids(2)[1])
    path.write_bytes(_line() + full[: len(full) // 2])  # a writer killed mid-line
    warnings: list[str] = []
    records = list(read_records(path, warn=warnings.append))
    assert len(records) == 1
    assert len(warnings) == 1
    assert f"{path}:2: last line is incomplete" in warnings[0]


def test_truncated_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    full = _line()
    path.write_bytes(full[:40] + b"\n" + full)
    with pytest.raises(TraceFileError, match=r":1: not valid JSON"):
        list(read_records(path))


def test_a_complete_last_line_without_newline_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(_line() + _line(span_id=_ids(2)[1]).rstrip(b"\n"))
    assert len(list(read_records(path))) == 2


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\n" + _line() + b"\n\n")
    assert len(list(read_records(path))) == 1


def test_reading_is_streaming(tmp_path: Path) -> None:
    """The first record comes out before a bad line further down is reached."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(_line() + _line() + b"garbage\n")
    it = read_records(path)
    assert isinstance(next(it), SpanRecord)
    assert isinstance(next(it), SpanRecord)
    with pytest.raises(TraceFileError, match=":3:"):
        next(it)


def test_writer_flushes_each_record_before_close(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path)
    record = SpanRecord.from_json_obj(GOOD)
    writer.write([record])
    assert list(read_records(path)) == [record]  # readable while the writer is still open
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write([record])
