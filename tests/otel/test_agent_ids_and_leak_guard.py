"""Ids an agent chooses are checked against the known secrets (a secret id gets a fresh one, the
same wherever it appears, and the change is recorded), and the leak check runs on every span
before it goes to a collector: real pipelines, a real OTLP receiver on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link, SpanContext, TraceFlags

from cab_trace.model import read_records
from cab_trace.otel.agent_receiver import AgentSpanReceiver
from cab_trace.otel.ids import REPLACED_ATTRIBUTE, IdScrubber, SecretIds
from cab_trace.otel.setup import OtlpSettings, build_pipeline
from cab_trace.redact import Redactor
from tests.otlp_receiver import OtlpReceiver

SECRET = "0A1B2C3D4E5F60718293A4B5C6D7E8F9"  # upper case: the ids carry it in lower case
LOW = SECRET.lower()


def context(trace: str, span: str) -> SpanContext:
    return SpanContext(int(trace, 16), int(span, 16), False, TraceFlags(1))


def test_secret_ids_are_found_whole_in_pieces_and_in_any_case() -> None:
    ids = SecretIds([SECRET, "not-hex-but-long-enough-secret", "beef1234"])
    assert ids.holds_secret(LOW) and ids.holds_secret(LOW[3:19]) and ids.holds_secret(LOW[16:].upper())
    assert ids.holds_secret("00000000beef1234")  # a short secret, whole inside an id
    assert not ids.holds_secret("4bf92f3577b34da6a3ce929d0e0e4736")
    assert not SecretIds(["short"]) and not SecretIds([])


def test_a_scrubbed_tree_stays_whole_and_says_what_changed() -> None:
    scrub = IdScrubber([SECRET])
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = ReadableSpan("p", context(trace, LOW[:16]), attributes={"cab.original_trace_id": LOW})
    child = ReadableSpan(
        "c",
        context(LOW, "00f067aa0ba902b7"),
        parent=context(LOW, LOW[:16]),
        links=[Link(context(LOW, LOW[8:24]))],
    )
    p, c = scrub.scrub(parent), scrub.scrub(child)
    assert p.context.span_id == c.parent.span_id != int(LOW[:16], 16)  # one id, one replacement
    assert c.context.trace_id == c.parent.trace_id == c.links[0].context.trace_id != int(LOW, 16)
    assert c.context.span_id == int("00f067aa0ba902b7", 16)  # a clean id is kept
    assert list(p.attributes[REPLACED_ATTRIBUTE]) == ["span_id", "cab.original_trace_id"]
    assert p.attributes["cab.original_trace_id"] == "[REDACTED]"
    assert list(c.attributes[REPLACED_ATTRIBUTE]) == [
        "trace_id", "parent_span_id", "links[0].trace_id", "links[0].span_id",
    ]  # fmt: skip
    clean = ReadableSpan("x", context(trace, "00f067aa0ba902b7"))
    assert scrub.scrub(clean) is clean


def test_agent_spans_with_secret_ids_never_reach_the_file_or_the_collector(tmp_path: Path) -> None:
    import orjson

    with OtlpReceiver("http") as collector:
        pipeline = build_pipeline(
            tmp_path / "trace.jsonl", Redactor([SECRET]), OtlpSettings(collector.endpoint)
        )
        receiver = AgentSpanReceiver(pipeline.redaction, parent=None)
        span = {
            "traceId": LOW,
            "spanId": LOW[16:],
            "parentSpanId": LOW[:16],
            "name": "agent",
            "startTimeUnixNano": "1",
            "endTimeUnixNano": "2",
            "links": [{"traceId": LOW, "spanId": LOW[4:20]}],
        }
        receiver.accept(orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}), True)
        warnings = pipeline.shutdown()
    assert warnings == []
    raw = b"".join(collector.received.raw)
    pieces = [LOW[i : i + 16] for i in range(17)]
    assert raw and not any(bytes.fromhex(p) in raw or p.encode() in raw for p in pieces)
    text = (tmp_path / "trace.jsonl").read_text()
    assert not any(p in text for p in pieces)
    (record,) = read_records(tmp_path / "trace.jsonl")
    assert set(record.attributes[REPLACED_ATTRIBUTE]) == {
        "trace_id", "span_id", "parent_span_id", "links[0].trace_id", "links[0].span_id",
    }  # fmt: skip
    assert pipeline.leak_guard is not None and pipeline.leak_guard.withheld == 0


def test_the_leak_guard_withholds_a_span_the_redactor_missed(tmp_path: Path) -> None:
    """As if the redactor had missed a secret: the guard learns one the redactor does not know."""
    missed = "tok-Missed-By-The-Redactor-77QxZ"
    with OtlpReceiver("http") as collector:
        pipeline = build_pipeline(tmp_path / "trace.jsonl", Redactor([]), OtlpSettings(collector.endpoint))
        assert pipeline.leak_guard is not None
        pipeline.leak_guard.known = lambda: [missed]
        with pipeline.tracer.start_as_current_span("clean", attributes={"cab.kind": "run"}):
            with pipeline.tracer.start_as_current_span("dirty", attributes={"note": f"x {missed} y"}):
                pass
        warnings = pipeline.shutdown()
    names = [span.name for _, span in collector.received.spans()]
    assert names == ["clean"]
    assert not any(missed[:16].encode() in raw for raw in collector.received.raw)
    assert pipeline.leak_guard.withheld == 1
    (described,) = pipeline.leak_guard.descriptions
    assert (
        "not sent to the collector" in described and missed not in described and missed[:16] not in described
    )
    assert warnings == []  # withheld is not "could not send": it is a leak, and the run says so


def test_what_the_agent_sends_cannot_exhaust_the_run_or_print_a_traceback(tmp_path: Path) -> None:
    """A gzip bomb (a few hundred kB that inflate to gigabytes), a Content-Length that is not a
    number or is negative: each is a 400, in bounded memory, with nothing on stderr."""
    import contextlib
    import gzip
    import http.client
    import io
    import urllib.parse

    from cab_trace.otel import agent_receiver

    pipeline = build_pipeline(tmp_path / "trace.jsonl", Redactor([SECRET]))
    receiver = AgentSpanReceiver(pipeline.redaction)
    url = urllib.parse.urlsplit(receiver.start())
    bomb = gzip.compress(b"{" + b" " * (agent_receiver.MAX_BODY + 1024) + b"}")
    said = io.StringIO()
    statuses = []
    try:
        with contextlib.redirect_stderr(said):
            for body, headers in (
                (bomb, {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}),
                (b"{}", {"Content-Length": "abc"}),
                (b"{}", {"Content-Length": "-5"}),
            ):
                conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
                conn.putrequest("POST", "/v1/traces")
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    conn.putheader(key, value)
                conn.endheaders()
                with contextlib.suppress(ConnectionError):
                    conn.send(body)
                statuses.append(conn.getresponse().status)
                conn.close()
    finally:
        receiver.stop()
        pipeline.shutdown()
    assert statuses == [400, 400, 400]
    assert said.getvalue() == ""
    assert len(bomb) < 1 << 20
