"""A small OTLP/HTTP receiver for the agent's own spans, alive while the agent runs.

The agent gets ``TRACEPARENT`` (pointing at the container span) and ``OTEL_EXPORTER_OTLP_*``
pointing here, so an agent instrumented with OpenTelemetry sends its spans (model calls, tool
calls) to the harness. Each span it sends goes through the run's redacting processor, like the
harness's own: into the same trace file, and on to the run's OTLP collector when there is one,
redacted (an agent may well put its key in a span). Accepts protobuf and JSON bodies, gzipped
or not, on ``POST /v1/traces``, as the OTLP/HTTP spec says.
"""

from __future__ import annotations

import base64
import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from opentelemetry.sdk.trace import SpanProcessor

from cab_trace.errors import CabTraceError
from cab_trace.model.formats import records_from_traces_data
from cab_trace.otel.convert import SpanBuilder

MAX_BODY = 64 * 1024 * 1024


class AgentSpanReceiver:
    """Start with :meth:`start` (returns the endpoint), stop with :meth:`stop`.

    Args:
        processor: where received spans go (the run's redacting processor).
        host: the address to listen on: loopback for a local agent, the Docker bridge's
            gateway for one in a container.
    """

    def __init__(self, processor: SpanProcessor, host: str = "127.0.0.1") -> None:
        self._processor = processor
        self._host = host
        self._build = SpanBuilder()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.received = 0
        self.rejected = 0

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/traces":
                    self._answer(404, b"")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413, b"")
                    return
                body = self.rfile.read(length)
                try:
                    if self.headers.get("Content-Encoding") == "gzip":
                        body = gzip.decompress(body)
                    is_json = "json" in (self.headers.get("Content-Type") or "")
                    receiver.accept(body, is_json)
                except (CabTraceError, ValueError, OSError):
                    receiver.rejected += 1
                    self._answer(400, b"")
                    return
                self._answer(200, b"{}" if is_json else b"")

            def _answer(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # nothing in the user's terminal

        self._server = ThreadingHTTPServer((self._host, 0), Handler)
        # A short poll interval: stop() waits for the next poll, and every run stops it.
        threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="cab-trace-agent-spans", daemon=True
        ).start()
        return f"http://{self._host}:{self._server.server_address[1]}"

    def accept(self, body: bytes, is_json: bool) -> None:
        """Decode an export request and hand every span to the processor."""
        document = orjson.loads(body) if is_json else _protobuf_to_json(body)
        if not document.get("resourceSpans"):
            return  # an empty export (protobuf leaves out empty fields)
        records = list(records_from_traces_data(document))
        with self._lock:
            for record in records:
                self._processor.on_end(self._build(record))
            self.received += len(records)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def agent_otlp_env(endpoint: str) -> dict[str, str]:
    """The agent's OTLP settings: everything to this receiver, over HTTP/protobuf. The traces-
    specific variables are set too, since they win over the general ones in the agent's SDK;
    headers are emptied (the user's may hold a collector's token, which the agent must not get)."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{endpoint}/v1/traces",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "",
        "OTEL_TRACES_EXPORTER": "otlp",
    }


def _protobuf_to_json(body: bytes) -> Any:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    try:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise ValueError(f"not an OTLP export request: {exc}") from None
    return request_as_traces_data(request)


def request_as_traces_data(request: Any) -> dict[str, Any]:
    """A decoded ``ExportTraceServiceRequest`` in the OTLP/JSON shape the file reader takes.
    Protobuf's own JSON mapping writes ids as base64; OTLP/JSON wants them as hex."""
    from google.protobuf.json_format import MessageToDict

    document: dict[str, Any] = MessageToDict(request)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for item in (span, *span.get("links", [])):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if item.get(key):
                            item[key] = base64.b64decode(item[key]).hex()
    return document
