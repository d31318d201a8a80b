"""An agent's own telemetry, whatever it does with TRACEPARENT: a run is one trace.

The agent here is a real OpenTelemetry-instrumented program (the Python SDK and its OTLP/HTTP
exporters) that behaves like opencode: it starts traces of its own instead of continuing
TRACEPARENT, leaves a span whose parent it never sends, writes paths under the user's home,
and posts logs and metrics besides spans.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cab_trace.model import read_records
from tests.conftest import run_cli

DEMO_TASK = Path(__file__).resolve().parents[2] / "cab_trace" / "examples" / "demo-task"

AGENT = """
import logging, os, urllib.request
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

resource = Resource.create({"service.name": "own-trace-agent", "home.dir": os.environ["USER_HOME"]})
provider = TracerProvider(resource=resource)
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("own-trace-agent")
logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
logging.getLogger().addHandler(LoggingHandler(logger_provider=logs))
logging.getLogger().setLevel(logging.INFO)
reader = PeriodicExportingMetricReader(OTLPMetricExporter())
meters = MeterProvider(resource=resource, metric_readers=[reader])
counter = meters.get_meter("own-trace-agent").create_counter("tokens")

# TRACEPARENT ignored: two traces of its own, as opencode makes them.
for i in range(2):
    with tracer.start_as_current_span(f"session {i}", context=trace.set_span_in_context(trace.INVALID_SPAN)):
        with tracer.start_as_current_span("read file") as span:
            span.set_attribute("path", os.environ["USER_HOME"] + "/project/greet.py")
            span.set_attribute("paths", [os.environ["USER_HOME"] + "/a", "/elsewhere/b"])
            logging.info("reading a file")
            counter.add(5)
# A span whose parent is still open when the agent exits (it never reaches the exporter).
lost = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1))
with tracer.start_as_current_span("orphan", context=trace.set_span_in_context(NonRecordingSpan(lost))):
    pass
# And one export the receiver cannot read.
request = urllib.request.Request(
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces", b"not protobuf",
    {"Content-Type": "application/x-protobuf"},
)
try:
    urllib.request.urlopen(request, timeout=5)
except urllib.error.HTTPError as err:
    print("refused", err.code)
provider.shutdown(); logs.shutdown(); meters.shutdown()
"""


def test_foreign_traces_are_adopted_and_everything_is_counted(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    user_home = tmp_path / "userhome"
    user_home.mkdir()
    out = tmp_path / "run"
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out),
        "--", sys.executable, str(agent),
        env={"HOME": str(user_home), "USER_HOME": str(user_home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = list(read_records(out / "trace.jsonl"))
    container = next(r for r in records if r.kind == "container")
    assert "refused 400" in container.attributes["stdout_tail"]

    # One trace, one root, every parent present.
    assert {r.trace_id for r in records} == {container.trace_id}
    assert [r.kind for r in records if r.parent_span_id is None] == ["run"]
    ids = {r.span_id for r in records}
    assert all(r.parent_span_id in ids for r in records if r.parent_span_id)

    sessions = [r for r in records if r.name.startswith("session ")]
    assert len(sessions) == 2
    for session in sessions:
        assert session.parent_span_id == container.span_id
        original = session.attributes["cab.original_trace_id"]
        assert isinstance(original, str) and len(original) == 32 and original != container.trace_id
        assert "cab.original_parent_span_id" not in session.attributes
    reads = [r for r in records if r.name == "read file"]
    assert {r.parent_span_id for r in reads} == {s.span_id for s in sessions}
    assert {r.attributes["cab.original_parent_span_id"] for r in reads} == {s.span_id for s in sessions}
    # A span whose parent never arrives keeps it; a placeholder under the container stands in.
    orphan = next(r for r in records if r.name == "orphan")
    assert orphan.parent_span_id == f"{0x5678:016x}"
    assert orphan.attributes["cab.original_parent_span_id"] == f"{0x5678:016x}"
    assert orphan.attributes["cab.original_trace_id"] == f"{0x1234:032x}"
    (placeholder,) = [r for r in records if r.attributes.get("cab.placeholder")]
    assert placeholder.span_id == orphan.parent_span_id and placeholder.parent_span_id == container.span_id
    assert placeholder.start_time_unix_nano <= orphan.start_time_unix_nano
    assert placeholder.end_time_unix_nano >= orphan.end_time_unix_nano

    # Paths under the user's home are written ~/..., as the harness writes its own.
    assert reads[0].attributes["path"] == "~/project/greet.py"
    assert reads[0].attributes["paths"] == ["~/a", "/elsewhere/b"]
    assert reads[0].resource["home.dir"] == "~"
    assert str(user_home).encode() not in (out / "trace.jsonl").read_bytes()

    counts = {k: v for k, v in container.attributes.items() if k.startswith("agent_")}
    assert counts == {
        "agent_spans": 5,
        "agent_spans_adopted": 5,
        "agent_spans_parent_missing": 1,
        "agent_span_placeholders": 1,
        "agent_logs": 2,
        "agent_metrics": counts["agent_metrics"],
        "agent_exports_refused": 1,
    }
    assert isinstance(counts["agent_metrics"], int) and counts["agent_metrics"] >= 1


def test_spans_are_handed_on_as_they_come_and_a_parent_never_sent_gets_a_placeholder() -> None:
    """Nothing is held for the end (kill -9 loses no span the agent sent); at the end, a parent
    that never arrived gets a placeholder under the container span, one per missing parent."""
    import orjson
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

    from cab_trace.model import SpanRecord
    from cab_trace.model.formats import traces_data
    from cab_trace.otel import agent_receiver

    class Sink(SpanProcessor):
        def __init__(self) -> None:
            self.spans: list[ReadableSpan] = []

        def on_end(self, span: ReadableSpan) -> None:
            self.spans.append(span)

    def record(span_id: str, parent: str | None, start: int = 1, end: int = 2) -> SpanRecord:
        return SpanRecord("ab" * 16, span_id, parent, f"s{span_id[-1]}", "internal", start, end)

    sink = Sink()
    receiver = agent_receiver.AgentSpanReceiver(sink, parent=(0xC0FFEE, 0xC0DE), home="/home/u")
    # Children before their parents, as SDKs export them; "c" and "d" hang from "f", never sent.
    first = [record("b" * 16, "a" * 16), record("c" * 16, "f" * 16, 5, 9), record("d" * 16, "f" * 16, 3, 7)]
    receiver.accept(orjson.dumps(traces_data(first)), is_json=True)
    assert [s.name for s in sink.spans] == ["sb", "sc", "sd"]  # at once
    receiver.accept(orjson.dumps(traces_data([record("a" * 16, None)])), is_json=True)
    assert len(sink.spans) == 4
    receiver.stop()
    by_name = {s.name: s for s in sink.spans}
    container = f"{0xC0DE:016x}"
    placeholder = sink.spans[-1]
    assert placeholder.attributes is not None and placeholder.attributes["cab.placeholder"] is True
    assert f"{placeholder.context.span_id:016x}" == "f" * 16
    assert placeholder.parent is not None and f"{placeholder.parent.span_id:016x}" == container
    assert (placeholder.start_time, placeholder.end_time) == (3, 9)  # spans its children
    assert by_name["sa"].parent is not None and f"{by_name['sa'].parent.span_id:016x}" == container
    assert by_name["sb"].parent is not None and f"{by_name['sb'].parent.span_id:016x}" == "a" * 16
    assert by_name["sc"].parent is not None and f"{by_name['sc'].parent.span_id:016x}" == "f" * 16
    assert all(f"{s.context.trace_id:032x}" == f"{0xC0FFEE:032x}" for s in sink.spans)
    counts = receiver.counts()
    assert (counts["agent_spans_parent_missing"], counts["agent_span_placeholders"]) == (2, 1)
    assert counts["agent_spans_adopted"] == 4


def test_bad_exports_are_refused_with_400_and_counted() -> None:
    import urllib.error
    import urllib.request

    from opentelemetry.sdk.trace import SpanProcessor

    from cab_trace.otel.agent_receiver import AgentSpanReceiver

    receiver = AgentSpanReceiver(SpanProcessor(), parent=(1, 2))
    endpoint = receiver.start()
    try:
        for path, body in [
            ("/v1/logs", b"[1, 2]"),
            ("/v1/logs", b'{"resourceLogs": [1]}'),
            ("/v1/metrics", b"not json"),
            ("/v1/traces", b'"a string"'),
        ]:
            request = urllib.request.Request(endpoint + path, body, {"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError as err:
                assert err.code == 400, (path, body)
            else:
                raise AssertionError(f"{path} {body!r} was accepted")
        ok = urllib.request.Request(
            endpoint + "/v1/logs", b'{"resourceLogs": []}', {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(ok, timeout=5) as response:
            assert response.status == 200
    finally:
        receiver.stop()
    assert receiver.counts()["agent_exports_refused"] == 4
    assert receiver.counts()["agent_logs"] == 0
