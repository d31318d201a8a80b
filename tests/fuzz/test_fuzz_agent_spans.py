"""Fuzz target for what an instrumented agent may send the run's span receiver: OTLP export
requests as JSON and protobuf, near-valid and not, gzipped or not, through the whole pipeline
to the trace file (ids checked against the known secrets, redaction, conversion, the JSONL
writer). Anything it sends is taken or refused with a 400: no traceback (the HTTP server would
print one into the user's terminal), no span the writer cannot write, no secret in the file."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import io
import json
import tempfile
import urllib.parse
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from cab_trace.errors import CabTraceError
from cab_trace.otel.agent_receiver import AgentSpanReceiver
from cab_trace.otel.setup import build_pipeline
from cab_trace.redact import Redactor
from tests.fuzz.inputs import FUZZ, mutated, texts, values

SECRET = "5e3f0c2a9b7d41e8a6c0f19d2b4e7a31"
#: What the receiver's handler answers 400 for; anything else would escape as a traceback.
REFUSED = (CabTraceError, ValueError, OSError, EOFError, AttributeError, TypeError)

ids = st.one_of(
    st.sampled_from([SECRET, SECRET[:16], SECRET[16:], SECRET.upper(), "", "0" * 32, "0" * 16, "zz", "abc"]),
    st.binary(min_size=8, max_size=8).map(bytes.hex),
    st.binary(min_size=16, max_size=16).map(bytes.hex),
    texts,
)
any_value = st.one_of(values, ids)


@st.composite
def otlp_json(draw: st.DrawFn) -> bytes:
    def maybe(field_values: dict[str, object]) -> dict[str, object]:
        out = {k: v for k, v in field_values.items() if draw(st.integers(0, 5))}
        for key in draw(
            st.lists(
                st.sampled_from(["attributes", "events", "links", "status", "kind", "flags"]), max_size=2
            )
        ):
            out[key] = draw(any_value)
        return out

    spans = [
        maybe(
            {
                "traceId": draw(ids),
                "spanId": draw(ids),
                "parentSpanId": draw(ids),
                "name": draw(texts),
                "kind": draw(st.sampled_from([0, 1, 2, 5, 9, "SPAN_KIND_SERVER", "x"])),
                "startTimeUnixNano": draw(st.sampled_from(["1", "0", "-1", "18446744073709551616", 5, "x"])),
                "endTimeUnixNano": draw(st.sampled_from(["2", "1", "99999999999999999999", 3.5, None])),
                "attributes": [
                    {"key": draw(texts), "value": {"stringValue": draw(texts)}},
                    {"key": "k", "value": draw(any_value)},
                ],
                "links": [{"traceId": draw(ids), "spanId": draw(ids)}],
                "events": [{"name": draw(texts), "timeUnixNano": "1", "attributes": draw(any_value)}],
                "status": {
                    "code": draw(st.sampled_from([0, 1, 2, 7, "STATUS_CODE_ERROR"])),
                    "message": draw(texts),
                },
            }
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": draw(any_value)},
                "scopeSpans": [{"scope": draw(any_value), "spans": spans}],
            }
        ]
    }
    return json.dumps(doc).encode("utf-8", "surrogatepass")


def protobuf_request() -> bytes:
    span = trace_pb2.Span(
        trace_id=bytes.fromhex(SECRET),
        span_id=bytes.fromhex(SECRET[:16]),
        name="agent",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
    )
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(span)
    return request.SerializeToString()


bodies = st.one_of(
    st.tuples(otlp_json(), st.just(True)),
    st.tuples(st.just(protobuf_request()).flatmap(mutated), st.just(False)),
    st.tuples(st.binary(max_size=200), st.booleans()),
)


@FUZZ
@given(sent=st.lists(bodies, min_size=1, max_size=4), adopt=st.booleans())
def test_any_export_request_from_the_agent(sent: list[tuple[bytes, bool]], adopt: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        pipeline = build_pipeline(trace, Redactor([SECRET]))
        parent = (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7) if adopt else None
        receiver = AgentSpanReceiver(pipeline.redaction, parent=parent)
        for body, is_json in sent:
            try:
                receiver.accept(body, is_json)
                event("accepted")
            except REFUSED:
                event("refused")
        receiver.stop()
        pipeline.shutdown()
        assert pipeline.jsonl_exporter is not None and pipeline.jsonl_exporter.failed == 0, (
            pipeline.jsonl_exporter.first_error
        )
        text = trace.read_text()
        assert not any(SECRET[i : i + 16] in text.lower() for i in range(17))


@FUZZ
@given(
    sent=bodies,
    gzipped=st.booleans(),
    length=st.sampled_from([None, 0, 5, 10**9, -5, "abc", " 7"]),
    path=st.sampled_from(["/v1/traces", "/v1/logs", "/v1/metrics", "/x", "/v1/traces/"]),
)
def test_any_request_over_http(
    sent: tuple[bytes, bool], gzipped: bool, length: int | str | None, path: str
) -> None:
    body, is_json = sent
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = build_pipeline(Path(tmp) / "trace.jsonl", Redactor([SECRET]))
        receiver = AgentSpanReceiver(pipeline.redaction)
        url = urllib.parse.urlsplit(receiver.start())
        said = io.StringIO()
        try:
            # The server prints what its handler did not catch to stderr: the user's terminal.
            with contextlib.redirect_stderr(said):
                conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
                data = gzip.compress(body) if gzipped else body
                headers = {"Content-Type": "application/json" if is_json else "application/x-protobuf"}
                if gzipped:
                    headers["Content-Encoding"] = "gzip"
                # As sent, or a lie: short (the rest is garbage), or huge (refused unread).
                declared = (
                    len(data)
                    if length is None or (isinstance(length, int) and len(data) < length < 10**9)
                    else length
                )
                headers["Content-Length"] = str(declared)
                try:
                    conn.request("POST", path, body=data, headers=headers)
                    status = conn.getresponse().status
                except ConnectionError:
                    status = 400  # refused before the body was read: the connection reset under it
                conn.close()
        finally:
            receiver.stop()
            pipeline.shutdown()
        assert "Traceback" not in said.getvalue(), said.getvalue()
        assert status in (200, 400, 404, 413)
