"""The tracing pipeline with real exporters: the JSONL file, and OTLP over real gRPC and HTTP to a
receiver on 127.0.0.1 built on opentelemetry-proto."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry.trace import Link, Status, StatusCode

from cab_trace.errors import UsageError
from cab_trace.model import read_records
from cab_trace.otel.convert import KIND_ATTRIBUTE
from cab_trace.otel.setup import OtlpSettings, build_pipeline
from cab_trace.redact import REDACTED, Redactor
from tests.otlp_receiver import OtlpReceiver, closed_port

KEY = "sk-proj-Zq81xWlPA0cR5nTu2Ye7"
PROTOCOLS = [("grpc", "grpc"), ("http", "http/protobuf")]


def _emit(pipeline) -> None:
    tracer = pipeline.tracer
    with tracer.start_as_current_span("run", attributes={KIND_ATTRIBUTE: "run", "cell_id": "c"}) as root:
        with tracer.start_as_current_span(
            f"launch {KEY}",
            attributes={
                KIND_ATTRIBUTE: "container",
                "argv": ["--api-key", KEY, "--model", "m"],
                "exit_code": 3,
                "duration_s": 1.25,
                "timed_out": False,
            },
            links=[Link(root.get_span_context(), {"why": KEY})],
        ) as child:
            child.add_event("output", {"line": f"key is {KEY}"})
            child.set_status(Status(StatusCode.ERROR, f"failed with {KEY}"))


def test_jsonl_spans_are_on_disk_as_soon_as_they_end(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    pipeline = build_pipeline(path, Redactor())
    with pipeline.tracer.start_as_current_span("parent"):
        with pipeline.tracer.start_as_current_span("child"):
            pass
        # Before the parent ends and before any shutdown, the child is already readable.
        assert [r.name for r in read_records(path)] == ["child"]
    assert [r.name for r in read_records(path)] == ["child", "parent"]
    assert pipeline.shutdown() == []
    assert pipeline.shutdown() == []  # idempotent


def test_every_part_of_a_span_is_redacted_before_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    pipeline = build_pipeline(path, Redactor([KEY]), resource_attributes={"deploy.token": KEY})
    _emit(pipeline)
    pipeline.shutdown()
    assert KEY.encode() not in path.read_bytes()
    run, launch = sorted(read_records(path), key=lambda r: r.kind != "run")
    assert launch.name == f"launch {REDACTED}"
    assert launch.attributes["argv"] == ["--api-key", REDACTED, "--model", "m"]
    assert launch.attributes["exit_code"] == 3 and launch.attributes["duration_s"] == 1.25
    assert launch.events[0].attributes == {"line": f"key is {REDACTED}"}
    assert launch.status.message == f"failed with {REDACTED}"
    assert launch.links[0].attributes == {"why": REDACTED}
    assert launch.resource["deploy.token"] == REDACTED
    assert launch.parent_span_id == run.span_id and run.parent_span_id is None
    assert launch.kind == "container" and KIND_ATTRIBUTE not in launch.attributes


def test_secrets_learned_mid_run_are_redacted_from_then_on(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    pipeline = build_pipeline(path, Redactor())
    with pipeline.tracer.start_as_current_span("outer", attributes={"late": KEY}):
        pipeline.add_secrets([KEY])
    pipeline.shutdown()
    assert KEY.encode() not in path.read_bytes()


@pytest.mark.parametrize(("mode", "protocol"), PROTOCOLS)
def test_otlp_receives_redacted_spans_with_ids_and_types(tmp_path: Path, mode, protocol) -> None:
    with OtlpReceiver(mode) as receiver:
        settings = OtlpSettings(receiver.endpoint, protocol, {"x-tenant": "bench"})
        pipeline = build_pipeline(tmp_path / "trace.jsonl", Redactor([KEY]), settings)
        _emit(pipeline)
        assert pipeline.shutdown() == []
    assert not any(KEY.encode() in raw for raw in receiver.received.raw)
    assert receiver.received.headers[0]["x-tenant"] == "bench"
    spans = {s.name: (res, s) for res, s in receiver.received.spans()}
    records = {r.name: r for r in read_records(tmp_path / "trace.jsonl")}
    assert set(spans) == set(records) == {"run", f"launch {REDACTED}"}
    for name, record in records.items():
        resource, sp = spans[name]
        assert sp.trace_id.hex() == record.trace_id and sp.span_id.hex() == record.span_id
        assert (sp.parent_span_id.hex() or None) == record.parent_span_id
        assert sp.start_time_unix_nano == record.start_time_unix_nano
        assert resource["service.name"].string_value == "cab-trace"
    launch = spans[f"launch {REDACTED}"][1]
    attrs = {kv.key: kv.value for kv in launch.attributes}
    assert attrs["exit_code"].int_value == 3
    assert attrs["duration_s"].double_value == 1.25
    assert [v.string_value for v in attrs["argv"].array_value.values] == [
        "--api-key",
        REDACTED,
        "--model",
        "m",
    ]
    assert attrs[KIND_ATTRIBUTE].string_value == "container"


@pytest.mark.parametrize(("mode", "protocol"), PROTOCOLS)
def test_header_values_never_reach_a_span(tmp_path: Path, mode, protocol) -> None:
    token = "Bearer collector-token-9f8e7d6c"
    with OtlpReceiver(mode) as receiver:
        settings = OtlpSettings(receiver.endpoint, protocol, {"authorization": token})
        pipeline = build_pipeline(tmp_path / "trace.jsonl", Redactor())
        pipeline = build_pipeline(tmp_path / "t2.jsonl", Redactor(), settings)
        with pipeline.tracer.start_as_current_span("s", attributes={"echo": token}):
            pass
        pipeline.shutdown()
    assert receiver.received.headers[0]["authorization"] == token  # sent as a header...
    assert not any(token.encode() in raw for raw in receiver.received.raw)  # ...never as data
    assert token.encode() not in (tmp_path / "t2.jsonl").read_bytes()


@pytest.mark.parametrize(("mode", "protocol"), PROTOCOLS)
def test_a_collector_that_is_down_costs_one_warning_and_nothing_else(
    tmp_path: Path, mode, protocol, capfd
) -> None:
    settings = OtlpSettings(f"http://127.0.0.1:{closed_port()}", protocol)
    path = tmp_path / "trace.jsonl"
    pipeline = build_pipeline(path, Redactor([KEY]), settings)
    _emit(pipeline)
    started = time.monotonic()
    warnings = pipeline.shutdown(timeout_s=3)
    # A liveness bound, not a speed claim: shutdown must not hang on a dead collector.
    assert time.monotonic() - started < 20
    assert len(warnings) == 1
    assert "could not send 2 span(s) to the OTLP endpoint" in warnings[0]
    assert f"the trace file is complete: {path}" in warnings[0]
    assert len(list(read_records(path))) == 2
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # the SDK's own retry logs stay out of the user's terminal


@pytest.mark.parametrize(("mode", "protocol"), PROTOCOLS)
def test_a_collector_that_refuses_costs_one_warning(tmp_path: Path, mode, protocol) -> None:
    with OtlpReceiver(mode, refuse=True) as receiver:
        pipeline = build_pipeline(
            tmp_path / "trace.jsonl", Redactor(), OtlpSettings(receiver.endpoint, protocol)
        )
        _emit(pipeline)
        warnings = pipeline.shutdown(timeout_s=3)
    assert len(warnings) == 1 and "could not send 2 span(s)" in warnings[0]
    assert len(list(read_records(tmp_path / "trace.jsonl"))) == 2


def test_settings_from_standard_variables_and_flags() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc%3D%3D,x-team=bench",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
    }
    s = OtlpSettings.resolve(env=env)
    assert s is not None
    assert (s.protocol, s.traces_url, s.timeout_s) == (
        "http/protobuf",
        "http://collector:4318/v1/traces",
        2.5,
    )
    assert s.headers == {"api-key": "abc==", "x-team": "bench"}
    s = OtlpSettings.resolve("http://127.0.0.1:4317", "grpc", ["X-Team=other"], env=env)
    assert s is not None and (s.endpoint, s.protocol, s.headers["x-team"]) == (
        "http://127.0.0.1:4317",
        "grpc",
        "other",
    )
    assert OtlpSettings.resolve(env={}) is None
    assert (
        OtlpSettings.resolve(
            env={
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:1/v1/traces",
            }
        ).protocol
        == "grpc"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("localhost:4317", None, ()), "is not an http:// or https:// URL"),
        (("http://h:4318", "http/json", ()), "protocol 'http/json' is not supported"),
        (("http://h:4318", None, ("novalue",)), "is not KEY=VALUE"),
    ],
)
def test_bad_settings_are_usage_errors(args, message) -> None:
    with pytest.raises(UsageError, match=message):
        OtlpSettings.resolve(*args, env={})
