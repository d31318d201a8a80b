"""Export throughput: 100,000 spans to a local OTLP receiver, over gRPC and HTTP/protobuf.

Ours: what ``cab-trace export FILE --otlp-endpoint …`` does after start-up: read the trace file,
turn each record back into an SDK span with its original ids, and send it in batches.
Baseline: the same spans, already built as SDK ``ReadableSpan``s, handed straight to the SDK's
OTLP exporter in the same batches: the cost of the wire alone. The ratio says what reading the
file and rebuilding spans add.

The receiver (``tests/otlp_receiver.py``, the official opentelemetry-proto services) runs in a
separate process so that it does not share the measured process's GIL; it decodes every request
and keeps only a count.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Figure, median_seconds
from cab_trace.export.otlp_push import BATCH_SIZE, push
from cab_trace.model import Event, JsonlWriter, SpanRecord, Status
from cab_trace.model.formats import read_trace
from cab_trace.otel.convert import SpanBuilder
from cab_trace.otel.setup import OtlpSettings, otlp_exporter

_RECEIVER = """
import sys, threading
sys.path.insert(0, sys.argv[2])
from tests.otlp_receiver import OtlpReceiver

class Counting(OtlpReceiver):
    def _keep(self, raw, headers):
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        trace_service_pb2.ExportTraceServiceRequest.FromString(raw)

receiver = Counting(sys.argv[1]).start()
print(receiver.endpoint, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
receiver.stop()
"""


def synthetic_trace(count: int) -> list[SpanRecord]:
    """``count`` spans shaped like a sweep's: traces of 50 spans with harness-like attributes."""
    records = []
    t0 = 1_795_000_000_000_000_000
    for i in range(count):
        trace_id = f"{i // 50 + 1:032x}"
        start = t0 + i * 1_000_000
        records.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=f"{i + 1:016x}",
                parent_span_id=None if i % 50 == 0 else f"{i - i % 50 + 1:016x}",
                name=f"tool_call:{i % 7}",
                kind="tool_call" if i % 50 else "run",
                start_time_unix_nano=start,
                end_time_unix_nano=start + 750_000,
                status=Status("ERROR", "exit code 1") if i % 97 == 0 else Status("OK"),
                attributes={
                    "cell_id": f"pi/model-{i % 3}/task-{i // 50}",
                    "argv": ["pi", "--print", "--api-key", "[REDACTED]", "--model", "m"],
                    "exit_code": i % 2,
                    "duration_s": 0.75,
                    "timed_out": False,
                },
                events=[Event("stdout", start + 1000, {"bytes": 120})] if i % 5 == 0 else [],
                resource={"service.name": "cab-trace", "host.name": "bench"},
            )
        )
    return records


def run(quick: bool = False) -> list[Figure]:
    count = 20_000 if quick else 100_000
    repeat = 2 if quick else 3
    records = synthetic_trace(count)
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        writer = JsonlWriter(path)
        writer.write(records)
        writer.close()
        build = SpanBuilder()
        prebuilt = [build(r) for r in records]
        batches = [prebuilt[i : i + BATCH_SIZE] for i in range(0, len(prebuilt), BATCH_SIZE)]
        for mode, protocol in (("grpc", "grpc"), ("http", "http/protobuf")):
            receiver = subprocess.Popen(
                [sys.executable, "-c", _RECEIVER, mode, str(Path(__file__).resolve().parent.parent)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert receiver.stdout is not None
                endpoint = receiver.stdout.readline().strip()
                exporter = otlp_exporter(OtlpSettings(endpoint, protocol))  # type: ignore[arg-type]

                def ours(exporter=exporter) -> None:  # type: ignore[no-untyped-def]
                    result = push(list(read_trace(path)), exporter)
                    if result.sent != count:
                        raise RuntimeError(f"export sent {result.sent} of {count} spans")

                def baseline(exporter=exporter) -> None:  # type: ignore[no-untyped-def]
                    for batch in batches:
                        exporter.export(batch)

                ours_s, base_s = median_seconds(ours, baseline, repeat)
                exporter.shutdown()
            finally:
                if receiver.stdin is not None:
                    receiver.stdin.close()
                receiver.wait(timeout=30)
            figures.append(
                Figure(
                    f"export {count:,} spans over OTLP/{mode} (file -> receiver)",
                    "spans/s",
                    count / ours_s,
                    count / base_s,
                    "pre-built spans -> SDK exporter",
                    target=">= 0.67 (time <= 1.5x)",
                    note="higher is better",
                )
            )
    return figures
