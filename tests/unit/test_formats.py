"""Foreign trace files, each shape written from its format's spec: pretty-printed OTLP/JSON (the
shape of opentelemetry-proto's examples/trace.json), a Collector file-exporter file mixing logs
and metrics lines with trace lines, Jaeger JSON bare and wrapped. And our own JSONL whose span
names look like another format's keys, duplicates and cycles, errors in each format's words."""

from __future__ import annotations

import io
import math
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from cab_trace.errors import TraceFileError
from cab_trace.model import JsonlWriter, SpanRecord, Status
from cab_trace.model.formats import detect_format, read_trace
from cab_trace.model.jaeger_json import jaeger_document, write_jaeger
from cab_trace.model.otlp_json import write_otlp_lines
from cab_trace.model.structure import StructureCheck
from cab_trace.model.tree import tree_order

FOREIGN = Path(__file__).resolve().parent.parent / "fixtures" / "foreign"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _read(path: Path) -> tuple[list[SpanRecord], list[str]]:
    warnings: list[str] = []
    return list(read_trace(path, warn=warnings.append)), warnings


def _json_key(records: list[SpanRecord]) -> list[bytes]:
    # Through JSON, so that NaN compares equal to NaN.
    return sorted(orjson.dumps(r.to_json_obj(), option=orjson.OPT_SORT_KEYS) for r in records)


def test_pretty_printed_otlp_json_keeps_every_field() -> None:
    path = FOREIGN / "otlp-pretty.json"
    assert detect_format(path) == "otlp-json"
    records, warnings = _read(path)
    server, child = records
    assert server.trace_id == "5b8efff798038103d269b633813fc60c" and server.span_id == "eee19b7ec3c1b174"
    assert server.span_kind == "SERVER" and server.kind == "server" and child.span_kind == "CLIENT"
    assert server.trace_state == "congo=t61rcWkgMzE" and server.flags == 257
    assert (server.dropped_attributes_count, server.dropped_events_count, server.dropped_links_count) == (
        2,
        3,
        4,
    )
    assert server.resource_schema_url == "https://opentelemetry.io/schemas/1.24.0"
    assert server.resource_dropped_attributes_count == 1
    assert server.scope.name == "my.library" and server.scope.version == "1.0.0"
    assert server.scope.attributes == {"my.scope.attribute": "some scope attribute"}
    assert server.scope.schema_url == "https://opentelemetry.io/schemas/1.21.0"
    attrs = server.attributes
    assert attrs["bytes"] == b"hello"
    assert attrs["map"] == {"a": 1, "b": ["x", True]}
    assert math.isnan(attrs["not.a.number"]) and attrs["infinity"] == -math.inf  # type: ignore[arg-type]
    assert attrs["empty"] is None and attrs["big"] == 9007199254740993
    assert server.status == Status("ERROR", "it broke")
    assert server.events[0].dropped_attributes_count == 5
    link = server.links[0]
    assert (link.trace_state, link.flags, link.dropped_attributes_count) == ("rojo=00f067aa0ba902b7", 1, 6)
    # Its parent is not in the file (the example is an excerpt): said, not hidden.
    assert any("parent that is not in the file" in w and "eee19b7ec3c1b174" in w for w in warnings)


def test_foreign_otlp_json_round_trip_loses_nothing(tmp_path: Path) -> None:
    records, _ = _read(FOREIGN / "otlp-pretty.json")
    out = tmp_path / "again.otlp.jsonl"
    with out.open("wb") as handle:
        write_otlp_lines(records, handle)
    text = out.read_text()
    assert "cab.kind" not in text  # nothing of ours is added to another tool's spans
    assert _json_key(_read(out)[0]) == _json_key(records)
    # ... and through our own JSONL, with the new fields and values written as the schema says.
    ours = tmp_path / "ours.jsonl"
    writer = JsonlWriter(ours)
    writer.write(records)
    writer.close()
    assert detect_format(ours) == "cab-jsonl"
    assert _json_key(_read(ours)[0]) == _json_key(records)


def test_collector_file_with_logs_and_metrics_lines_skips_and_counts_them() -> None:
    records, warnings = _read(FOREIGN / "collector-mixed.jsonl")
    assert [r.name for r in records] == ["GET /cart", "SELECT cart"]
    assert records[0].flags == 257 and records[1].scope.name == "otelsql"
    assert any(
        "skipped 3 line(s) that hold no traces (2 resourceLogs, 1 resourceMetrics)" in w for w in warnings
    )


@pytest.mark.parametrize("name", ["jaeger-bare.json", "jaeger-wrapped.json"])
def test_jaeger_bare_and_wrapped(name: str) -> None:
    path = FOREIGN / name
    assert detect_format(path) == "jaeger-json"
    records, warnings = _read(path)
    root, child = records
    assert root.trace_id == "0" * 16 + "d269b633813fc60c"  # a 64-bit Jaeger trace id, padded
    assert root.span_kind == "SERVER" and root.status.code == "ERROR" and "error" not in root.attributes
    assert root.attributes == {"http.status_code": 500, "ratio": 0.25, "cached": False, "blob": b"hi"}
    assert root.scope.name == "net/http" and root.scope.version == "1.2.3"
    assert root.trace_state == "congo=t61rcWkgMzE"
    assert root.resource == {"service.name": "frontend", "hostname": "web-1"}
    assert root.events[0].name == "retry" and root.events[0].time_unix_nano == 1544712660500000000
    assert child.parent_span_id == root.span_id and child.resource == {
        "service.name": "db",
        "host.name": "db-1",
    }
    assert child.end_time_unix_nano - child.start_time_unix_nano == 2_000_000
    assert warnings == []


def _records(names: list[str]) -> list[SpanRecord]:
    return [
        SpanRecord(TRACE, f"{i + 1:016x}", None if i == 0 else f"{1:016x}", name, "run", 10 + i, 20 + i)
        for i, name in enumerate(names)
    ]


@pytest.mark.parametrize("first", ["data", "resourceSpans", '{"data": [', "traceID"])
def test_our_jsonl_is_ours_whatever_the_span_names(first: str, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path)
    writer.write(_records([first, "resourceSpans", "data"]))
    writer.close()
    assert detect_format(path) == "cab-jsonl"
    assert [r.name for r in read_trace(path)] == [first, "resourceSpans", "data"]


def _write(path: Path, records: list[SpanRecord]) -> Path:
    writer = JsonlWriter(path)
    writer.write(records)
    writer.close()
    return path


def test_duplicates_self_parents_cycles_and_dangling_parents_are_warned_about(tmp_path: Path) -> None:
    base = _records(["root", "a", "b", "c", "d", "e"])
    spans = [
        base[0],
        base[1],
        replace(base[2], span_id=base[1].span_id, name="a-again"),  # duplicate id
        replace(base[3], parent_span_id=base[3].span_id),  # its own parent
        replace(base[4], parent_span_id="00000000000000ff"),  # a parent not in the file
        replace(base[5], span_id="0000000000000aaa", parent_span_id="0000000000000bbb"),
        replace(base[5], span_id="0000000000000bbb", parent_span_id="0000000000000aaa", name="f"),  # a cycle
    ]
    records, warnings = _read(_write(tmp_path / "t.jsonl", spans))
    assert len(records) == 7
    text = "\n".join(warnings)
    assert "1 span(s) repeat a span id" in text and "0000000000000002" in text
    assert "1 span(s) name themselves as parent" in text
    assert "1 span(s) have a parent that is not in the file" in text and "0000000000000005" in text
    assert "2 span(s) have parents that form a cycle" in text
    # Every span is listed once in tree order, duplicates included.
    assert sorted(s.name for _, s in tree_order(records)) == sorted(s.name for s in spans)


def test_a_clean_trace_has_no_structure_warnings() -> None:
    check = StructureCheck()
    for r in _records(["root", "a", "b"]):
        check.add(r.trace_id, r.span_id, r.parent_span_id)
    assert check.warnings() == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"data": [{"spans": [{"traceID": "ab", "spanID": "cd", "duration": "5"}]}]}',
            r"j\.json: not valid Jaeger JSON: data\[0\]\.spans\[0\] \(spanID 'cd'\): "
            r"duration must be an integer",
        ),
        (
            '{"data": [{"spans": [{"traceID": "ab", "spanID": "cd", "tags": [{"key": "n", "type": "int64", '
            '"value": "x"}]}]}]}',
            r"data\[0\]\.spans\[0\] \(spanID 'cd'\): tags\[0\] \(key 'n'\): value 'x' is not a valid int64",
        ),
        (
            '{"traceID": "ab", "spans": [{"traceID": "ab", "spanID": "cd", "startTime": 10, '
            '"processID": "p9"}]}',
            r"spans\[0\] \(spanID 'cd'\): processID 'p9' is not in the trace's processes",
        ),
    ],
)
def test_jaeger_errors_name_the_span_in_jaegers_words(content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    path.write_text(content)
    with pytest.raises(TraceFileError, match=message):
        list(read_trace(path))


def test_otlp_errors_name_the_span_in_otlps_words(tmp_path: Path) -> None:
    span = {"traceId": TRACE, "spanId": "00f067aa0ba902b7", "startTimeUnixNano": "9", "endTimeUnixNano": "5"}
    path = tmp_path / "o.json"
    path.write_bytes(
        orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}, option=orjson.OPT_INDENT_2)
    )
    with pytest.raises(
        TraceFileError,
        match=r"o\.json: not valid OTLP/JSON: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\] "
        r"\(spanId '00f067aa0ba902b7'\): endTimeUnixNano \(5\) is before startTimeUnixNano \(9\)",
    ):
        list(read_trace(path))


def test_a_line_of_another_signal_only_is_not_an_error_but_an_unknown_object_is(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    path.write_text('{"resourceLogs": []}\n{"resourceSpans": []}\n{"something": 1}\n')
    with pytest.raises(TraceFileError, match=r"o\.jsonl:3: not an OTLP/JSON line"):
        list(read_trace(path))


def test_jaeger_export_durations_as_jaeger_ui_computes_the_end_and_scope_tags() -> None:
    # 1.999 µs to 3.001 µs: Jaeger UI takes the end as startTime + duration, so the duration is
    # 3 - 1 = 2 µs and the end lands on 3 µs, the span's end (truncating 1.002 µs would say 2).
    record = replace(_records(["x"])[0], start_time_unix_nano=1_999, end_time_unix_nano=3_001)
    record = replace(record, scope=replace(record.scope, name="lib", version="2.0"))
    span = jaeger_document([record])["data"][0]["spans"][0]
    assert span["startTime"] == 1 and span["duration"] == 2
    tags = {t["key"]: t["value"] for t in span["tags"]}
    assert tags["otel.library.name"] == "lib" and tags["otel.library.version"] == "2.0"
    assert "otel.scope.name" not in tags


def test_jaeger_export_streams_interleaved_traces_into_one_entry_each() -> None:
    a = _records(["a1", "a2"])
    b = [
        replace(r, trace_id="f" * 32, span_id=f"{0xF0 + i:016x}", parent_span_id=None)
        for i, r in enumerate(a)
    ]
    out = io.BytesIO()
    assert write_jaeger([a[0], b[0], a[1], b[1]], out) == (4, 2)
    data = orjson.loads(out.getvalue())["data"]
    assert [[s["operationName"] for s in t["spans"]] for t in data] == [["a1", "a2"], ["a1", "a2"]]
    assert [t["traceID"] for t in data] == [TRACE, "f" * 32]
