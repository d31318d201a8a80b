"""Export and interop: round trips through OTLP/JSON, Jaeger JSON and the OTLP wire lose nothing
the target format can carry; the files follow their specs; `cab-trace export` as a user runs it."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from cab_trace.errors import TraceFileError
from cab_trace.export.otlp_push import push, rebase_to_now
from cab_trace.model import Event, SpanRecord, Status
from cab_trace.model.formats import (
    jaeger_document,
    read_trace,
    records_from_traces_data,
    traces_data,
    write_jaeger_json,
    write_otlp_json,
)
from cab_trace.otel.agent_receiver import request_as_traces_data
from cab_trace.otel.setup import OtlpSettings, otlp_exporter
from tests.conftest import run_cli
from tests.otlp_receiver import OtlpReceiver, closed_port
from tests.strategies import traces


def _key(records: list[SpanRecord]) -> list[bytes]:
    return sorted(orjson.dumps(r.to_json_obj(), option=orjson.OPT_SORT_KEYS) for r in records)


@given(records=traces())
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_otlp_json_round_trip_loses_nothing(records: list[SpanRecord], tmp_path: Path) -> None:
    path = tmp_path / "t.otlp.jsonl"
    assert write_otlp_json(records, path) == len(records)
    assert _key(list(read_trace(path))) == _key(records)


def _jaeger_normal(r: SpanRecord) -> SpanRecord:
    """What Jaeger's format can carry of a record: microsecond times, lists as JSON text,
    links without attributes, a service name."""

    def attrs(a: dict) -> dict:
        return {k: orjson.dumps(v).decode() if isinstance(v, list) else v for k, v in a.items()}

    resource = attrs(r.resource)
    service = r.resource.get("service.name", "unknown_service")
    resource["service.name"] = service if isinstance(service, str) else orjson.dumps(service).decode()
    start = r.start_time_unix_nano // 1000 * 1000
    return replace(
        r,
        start_time_unix_nano=start,
        # As Jaeger UI computes it: the end is startTime + duration, the end's whole microseconds.
        end_time_unix_nano=r.end_time_unix_nano // 1000 * 1000,
        scope=replace(r.scope, version=r.scope.version or None),
        attributes=attrs(r.attributes),
        events=[Event(e.name, e.time_unix_nano // 1000 * 1000, attrs(e.attributes)) for e in r.events],
        links=[replace(lk, attributes={}) for lk in r.links],
        resource=resource,
    )


RESERVED_JAEGER_TAGS = {
    "span.kind",
    "error",
    "otel.status_code",
    "otel.status_description",
    "otel.scope.name",
    "otel.scope.version",
    "otel.library.name",
    "otel.library.version",
    "w3c.tracestate",
    "event",
}


@given(records=traces())
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_jaeger_json_round_trip_keeps_what_jaeger_can_carry(
    records: list[SpanRecord], tmp_path: Path
) -> None:
    # Tags Jaeger uses for span fields cannot also be ordinary attributes.
    records = [
        replace(
            r,
            attributes={k: v for k, v in r.attributes.items() if k not in RESERVED_JAEGER_TAGS},
            events=[
                replace(e, attributes={k: v for k, v in e.attributes.items() if k != "event"})
                for e in r.events
            ],
        )
        for r in records
    ]
    path = tmp_path / "t.json"
    write_jaeger_json(records, path)
    assert _key(list(read_trace(path))) == _key([_jaeger_normal(r) for r in records])


@pytest.mark.parametrize("service", [[0.0, 1.5], True, 7, "svc"])
def test_jaeger_service_name_that_is_not_a_string_goes_as_json_text(service, tmp_path: Path) -> None:
    record = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        None,
        "x",
        "run",
        1000,
        2000,
        resource={"service.name": service},
    )
    path = tmp_path / "t.json"
    write_jaeger_json([record], path)
    expected = service if isinstance(service, str) else orjson.dumps(service).decode()
    assert jaeger_document([record])["data"][0]["processes"]["p1"]["serviceName"] == expected
    assert next(iter(read_trace(path))).resource["service.name"] == expected


def test_otlp_json_follows_the_json_encoding() -> None:
    record = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "53995c3f42cd8ad8",
        "launch",
        "container",
        1_700_000_000_000_000_001,
        1_700_000_000_500_000_000,
        span_kind="CLIENT",
        status=Status("ERROR", "boom"),
        attributes={"exit_code": 3, "argv": ["a", "b"], "ok": True},
    )
    span = traces_data([record])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == record.trace_id and span["parentSpanId"] == "53995c3f42cd8ad8"
    assert span["kind"] == 3 and span["status"] == {"code": 2, "message": "boom"}
    assert span["startTimeUnixNano"] == "1700000000000000001"  # 64-bit integers as decimal strings
    attrs = {kv["key"]: kv["value"] for kv in span["attributes"]}
    assert attrs["exit_code"] == {"intValue": "3"}
    assert attrs["argv"] == {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}}
    assert attrs["ok"] == {"boolValue": True} and attrs["cab.kind"] == {"stringValue": "container"}


def test_jaeger_json_is_what_jaeger_ui_uploads() -> None:
    parent = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        None,
        "run",
        "run",
        1_700_000_000_000_000_000,
        1_700_000_002_000_000_000,
        resource={"service.name": "cab-trace"},
    )
    child = replace(
        parent,
        span_id="53995c3f42cd8ad8",
        parent_span_id=parent.span_id,
        name="launch",
        events=[Event("output", 1_700_000_001_000_000_000, {"line": "hi"})],
    )
    trace = jaeger_document([parent, child])["data"][0]
    assert trace["traceID"] == parent.trace_id
    assert trace["processes"] == {"p1": {"serviceName": "cab-trace", "tags": []}}
    span = trace["spans"][1]
    assert span["references"] == [
        {"refType": "CHILD_OF", "traceID": parent.trace_id, "spanID": parent.span_id}
    ]
    assert span["startTime"] == 1_700_000_000_000_000 and span["duration"] == 2_000_000  # microseconds
    assert span["logs"][0]["fields"][0] == {"key": "event", "type": "string", "value": "output"}


def _received_records(receiver: OtlpReceiver) -> list[SpanRecord]:
    """What the receiver got, as records (through the proto's own JSON mapping)."""
    out: list[SpanRecord] = []
    for request in receiver.received.requests:
        out.extend(records_from_traces_data(request_as_traces_data(request)))
    # The SDK's exporter sets the span flags' "has is_remote" bits itself (0x100, 0x200): they
    # say how the SDK made the span, not what the record held.
    return [replace(r, flags=0, links=[replace(lk, flags=0) for lk in r.links]) for r in out]


def _wire_normal(r: SpanRecord) -> SpanRecord:
    # The SDK keeps a status description only with ERROR, as the OTLP spec says it should; and
    # protobuf cannot tell an empty scope version from none.
    if r.status.code != "ERROR":
        r = replace(r, status=Status(r.status.code, ""))
    return replace(r, scope=replace(r.scope, version=r.scope.version or None))


@pytest.fixture(scope="module", params=[("grpc", "grpc"), ("http", "http/protobuf")], ids=["grpc", "http"])
def receiver_and_protocol(request):
    mode, protocol = request.param
    with OtlpReceiver(mode) as receiver:
        yield receiver, protocol


@given(records=traces())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_otlp_over_the_wire_loses_nothing(records: list[SpanRecord], receiver_and_protocol) -> None:
    receiver, protocol = receiver_and_protocol
    receiver.received.requests.clear()
    exporter = otlp_exporter(OtlpSettings(receiver.endpoint, protocol))
    result = push(records, exporter)
    exporter.shutdown()
    assert (result.sent, result.refused) == (len(records), 0)
    assert _key(_received_records(receiver)) == _key([_wire_normal(r) for r in records])


def test_pace_sends_spans_in_the_order_they_ended(receiver_and_protocol) -> None:
    receiver, protocol = receiver_and_protocol
    receiver.received.requests.clear()
    base = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", None, "a", "x", 0, 4_000_000_000
    )
    records = [base, replace(base, span_id="00f067aa0ba902b8", name="b", end_time_unix_nano=1_000_000_000)]
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    exporter = otlp_exporter(OtlpSettings(receiver.endpoint, protocol))
    push(records, exporter, pace=2.0, clock=lambda: now[0], sleep=sleep)
    exporter.shutdown()
    assert [s.name for s in receiver.received.spans() for s in [s[1]]] == ["b", "a"]
    assert slept == pytest.approx([0.5, 1.5])  # 1 s and 4 s of recording at 2x


def test_rebase_time_now_moves_the_trace_to_end_now() -> None:
    base = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        None,
        "a",
        "x",
        10,
        30,
        events=[Event("e", 20, {})],
    )
    (moved,), shift = rebase_to_now([base], now_ns=1_000)
    assert (moved.start_time_unix_nano, moved.end_time_unix_nano, moved.events[0].time_unix_nano) == (
        980,
        1000,
        990,
    )
    assert shift == 970


# -- the command ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Two demo runs: 15 spans each (the six phases, what the agent changed, the task's check,
    four model calls and three tool steps)."""
    root = tmp_path_factory.mktemp("sweep")
    for name in ("a", "b"):
        assert run_cli("demo", "-q", "--pace", "0", "--out", str(root / name)).returncode == 0
    return root


@pytest.mark.parametrize(("mode", "protocol"), [("grpc", "grpc"), ("http", "http/protobuf")])
def test_export_a_sweep_to_a_receiver(sweep: Path, mode: str, protocol: str) -> None:
    with OtlpReceiver(mode) as receiver:
        result = run_cli(
            "export",
            str(sweep),
            "--otlp-endpoint",
            receiver.endpoint,
            "--protocol",
            protocol,
            "--rebase-time",
            "now",
        )
    assert result.returncode == 0, result.stderr
    assert "sent 30 of 30 span(s) in 2 trace(s)" in result.stderr
    assert "so the trace ends now (--rebase-time now)" in result.stderr
    received = receiver.received.spans()
    assert len(received) == 30
    assert max(s.end_time_unix_nano for _, s in received) > time.time_ns() - 60e9


@pytest.mark.parametrize("refuse", [False, True], ids=["down", "refusing"])
def test_a_receiver_that_is_down_or_refuses_fails_clearly_and_soon(sweep: Path, refuse: bool) -> None:
    started = time.monotonic()
    if refuse:
        with OtlpReceiver("http", refuse=True) as receiver:
            result = run_cli("export", str(sweep), "--otlp-endpoint", receiver.endpoint)
    else:
        result = run_cli(
            "export", str(sweep), "--otlp-endpoint", f"http://127.0.0.1:{closed_port()}", "--protocol", "grpc"
        )
    assert time.monotonic() - started < 60  # liveness, not speed: it must not retry for ever
    assert result.returncode == 1
    assert "error: the receiver did not take 30 span(s)" in result.stderr
    assert ("HTTP 400" if refuse else "connection refused") in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_receiver_that_never_answers_is_named_with_the_timeout_to_raise(sweep: Path, protocol: str) -> None:
    """A receiver that takes the connection and never answers (a cold MLflow's first request):
    the error says it did not answer in time, and how to give it longer."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        result = run_cli(
            "export", str(sweep), "--otlp-endpoint", f"http://127.0.0.1:{port}", "--otlp-protocol", protocol,
            env={"OTEL_EXPORTER_OTLP_TIMEOUT": "500"},
        )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: the receiver did not take 30 span(s): no answer within the export timeout" in result.stderr
    assert "the timeout is 0.5 s" in result.stderr and "OTEL_EXPORTER_OTLP_TIMEOUT=60000" in result.stderr


def test_export_files_that_jaeger_and_the_collector_open(
    sweep: Path, tmp_path: Path, schema_validator
) -> None:
    run = sweep / "a"
    for fmt, name in (("jaeger-json", "t.json"), ("otlp-json", "t.jsonl")):
        out = tmp_path / name
        result = run_cli("export", str(run), "--format", fmt, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert "wrote 15 span(s) of 1 trace(s)" in result.stderr
        back = list(read_trace(out))
        assert len(back) == 15
        for r in back:
            schema_validator.validate(r.to_json_obj())
        shown = run_cli("show", str(out))
        assert shown.returncode == 0 and "container" in shown.stdout
    doc = json.loads((tmp_path / "t.json").read_text())
    assert len(doc["data"]) == 1 and len(doc["data"][0]["spans"]) == 15


def test_export_asciicast_copies_a_v2_recording(tmp_path: Path, sweep: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "trace.jsonl").write_bytes((sweep / "a" / "trace.jsonl").read_bytes())
    cast = '{"version": 2, "width": 80, "height": 24}\n[0.5, "o", "hello\\r\\n"]\n'
    (run / "terminal.cast").write_text(cast)
    out = tmp_path / "out.cast"
    result = run_cli("export", str(run), "--format", "asciicast", "-o", str(out))
    assert result.returncode == 0 and out.read_text() == cast
    bare = tmp_path / "bare"  # a trace with no terminal recording beside it
    bare.mkdir()
    (bare / "trace.jsonl").write_bytes((sweep / "a" / "trace.jsonl").read_bytes())
    missing = run_cli("export", str(bare), "--format", "asciicast", "-o", str(out))
    assert missing.returncode == 2 and "found 0" in missing.stderr


def test_export_asciicast_takes_v3_and_refuses_other_headers(tmp_path: Path, sweep: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "trace.jsonl").write_bytes((sweep / "a" / "trace.jsonl").read_bytes())
    v3 = '{"version": 3, "term": {"cols": 120, "rows": 36}}\n# a comment\n[0.5, "o", "hi"]\n[0.1, "x", "0"]\n'
    (run / "terminal.cast").write_text(v3)
    out = tmp_path / "out.cast"
    # By default, v2: what asciinema 2.x players (still the most used) open; times made absolute.
    result = run_cli("export", str(run), "--format", "asciicast", "-o", str(out))
    assert result.returncode == 0 and "(asciicast v2, converted from v3)" in result.stderr
    assert out.read_text() == '{"version":2,"width":120,"height":36}\n[0.5, "o", "hi"]\n'
    assert "exit status '0' is left out" in result.stderr  # v2 has no exit event: said, not hidden
    kept = run_cli("export", str(run), "--format", "asciicast", "--cast-version", "3", "-o", str(out))
    assert kept.returncode == 0 and out.read_text() == v3 and "(asciicast v3)" in kept.stderr
    for bad in ('{"version": 3, "width": 80, "height": 24}', '{"version": 1}', "[]", "nope"):
        (run / "terminal.cast").write_text(bad + "\n")
        refused = run_cli("export", str(run), "--format", "asciicast", "-o", str(out))
        assert refused.returncode == 2 and "terminal.cast:1: not an asciicast v2 or v3 file" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "jaeger-json"], "needs -o FILE"),
        (["-o", "x.json"], "-o needs --format"),
        ([], "nowhere to export to"),
        (["--otlp-endpoint", "http://127.0.0.1:4318", "--pace", "0"], "--speed must be a positive"),
    ],
)
def test_export_usage_errors(sweep: Path, args: list[str], message: str) -> None:
    result = run_cli("export", str(sweep / "a"), *args, env={"OTEL_EXPORTER_OTLP_ENDPOINT": ""})
    assert result.returncode == 2 and message in result.stderr


def test_foreign_files_with_bad_lines_name_file_and_line(tmp_path: Path) -> None:
    good = orjson.dumps(
        traces_data(
            [SpanRecord("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", None, "a", "x", 1, 2)]
        )
    )
    path = tmp_path / "t.jsonl"
    path.write_bytes(good + b"\n" + good.replace(b'"00f067aa0ba902b7"', b'"zz"') + b"\n")
    with pytest.raises(
        TraceFileError,
        match=r"t\.jsonl:2: not valid OTLP/JSON: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\] "
        r"\(spanId 'zz'\): spanId must be 16 hex",
    ):
        list(read_trace(path))
    path.write_bytes(good + b"\n" + good[:50])
    warnings: list[str] = []
    assert len(list(read_trace(path, warn=warnings.append))) == 1
    assert "t.jsonl:2: last line is incomplete" in warnings[0]
    bad_jaeger = tmp_path / "j.json"
    # Jaeger UI takes any string id (a non-hex one is mapped); an id that is no string is an error.
    bad_jaeger.write_text('{"data": [{"spans": [{"traceID": ["x"], "spanID": "ab"}]}]}')
    with pytest.raises(
        TraceFileError, match=r"j\.json: not valid Jaeger JSON: data\[0\]\.spans\[0\] .*: trace"
    ):
        list(read_trace(bad_jaeger))
