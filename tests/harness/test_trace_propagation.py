"""An agent instrumented with OpenTelemetry adds its own spans to the run's trace: TRACEPARENT
points at the container span, OTEL_EXPORTER_OTLP_* at the harness, and the agent's spans land,
redacted, in the same trace file (and at the run's collector)."""

from __future__ import annotations

import sys
from pathlib import Path

from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.otlp_receiver import OtlpReceiver

DEMO_TASK = Path(__file__).resolve().parents[2] / "cab_trace" / "examples" / "demo-task"
KEY = "opaque-Key-With-No-Shape-0451"

AGENT = """
import os
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# The environment carrier: TRACEPARENT, as the OpenTelemetry spec names it.
parent = TraceContextTextMapPropagator().extract({"traceparent": os.environ["TRACEPARENT"]})
provider = TracerProvider(resource=Resource.create({"service.name": "my-agent"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint from OTEL_EXPORTER_OTLP_*
tracer = provider.get_tracer("my-agent")
with tracer.start_as_current_span("chat gpt-x", context=parent, kind=trace.SpanKind.CLIENT) as call:
    call.set_attribute("gen_ai.request.model", "gpt-x")
    call.set_attribute("http.request.header.authorization", "Bearer " + os.environ["CAB_KEY"])
    with tracer.start_as_current_span("tool edit_file") as tool:
        tool.set_attribute("path", "greet.py")
provider.shutdown()
print("agent done")
"""


def test_an_instrumented_agent_adds_children_of_the_container_span(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    out = tmp_path / "run"
    with OtlpReceiver("http") as collector:
        result = run_cli(
            "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out),
            "--otlp-endpoint", collector.endpoint, "--", sys.executable, str(agent),
            env={"CAB_KEY": KEY},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = list(read_records(out / "trace.jsonl"))
    by_name = {r.name: r for r in records}
    container = next(r for r in records if r.kind == "container")
    call, tool = by_name["chat gpt-x"], by_name["tool edit_file"]
    assert {call.trace_id, tool.trace_id} == {container.trace_id}
    assert call.parent_span_id == container.span_id
    assert tool.parent_span_id == call.span_id
    assert call.span_kind == "CLIENT" and call.kind == "client"
    assert call.resource["service.name"] == "my-agent"
    assert call.attributes["gen_ai.request.model"] == "gpt-x"
    assert KEY not in call.attributes["http.request.header.authorization"]
    assert container.attributes["agent_spans"] == 2
    assert container.start_time_unix_nano <= call.start_time_unix_nano <= container.end_time_unix_nano
    # The run's collector got the agent's spans too, redacted like everything else.
    received = {span.name for _, span in collector.received.spans()}
    assert {"chat gpt-x", "tool edit_file", container.name} <= received
    assert not any(KEY.encode() in raw for raw in collector.received.raw)
    assert KEY.encode() not in (out / "trace.jsonl").read_bytes()


def test_the_agent_environment_carries_traceparent_and_otlp_settings(tmp_path: Path) -> None:
    out = tmp_path / "run"
    script = (
        "import os; e = os.environ; print(e['TRACEPARENT']); "
        "print(e['OTEL_EXPORTER_OTLP_ENDPOINT']); print(repr(e['OTEL_EXPORTER_OTLP_HEADERS']))"
    )
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out), "--",
        sys.executable, "-c", script,
        env={"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20users-collector-token"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    container = next(r for r in read_records(out / "trace.jsonl") if r.kind == "container")
    traceparent, endpoint, headers = container.attributes["stdout_tail"].splitlines()
    assert traceparent == f"00-{container.trace_id}-{container.span_id}-01"
    assert endpoint.startswith("http://127.0.0.1:")
    assert headers == "''"  # the user's collector token is not handed to the agent
    assert container.attributes["agent_spans"] == 0
