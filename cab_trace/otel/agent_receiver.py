"""A small OTLP/HTTP receiver for the agent's own spans, alive while the agent runs.

The agent gets ``TRACEPARENT`` (pointing at the container span) and ``OTEL_EXPORTER_OTLP_*``
pointing here, so an agent instrumented with OpenTelemetry sends its spans (model calls, tool
calls) to the harness. Each span it sends goes through the run's redacting processor, like the
harness's own: into the same trace file, and on to the run's OTLP collector when there is one,
redacted (an agent may well put its key in a span). Accepts protobuf and JSON bodies, gzipped
or not, on ``POST /v1/traces``, as the OTLP/HTTP spec says.

A run is one trace, whatever the agent does with ``TRACEPARENT``: a span sent with a trace id
of its own is adopted into the run's trace (its original trace id, and parent span id if it had
one, kept as ``cab.original_trace_id`` / ``cab.original_parent_span_id``), and a span with no
parent becomes a child of the container span. Paths under the user's home directory are
written as ``~/…``, as the harness writes its own.

Every span goes on the moment it arrives, so a run killed with ``kill -9`` (or by the OOM
killer) keeps every span the agent had sent. A parent that never arrives (an agent that exits
with spans still open, as opencode does) is known only at the end: then a placeholder span
stands in for it, under the container span (``cab.placeholder=true``), so the run stays one
tree. The agent's times are its wall clock's; when that clock has stepped since the run began
(NTP, a resumed VM), the step is taken off them (``cab.clock_shift_ns``), so they land on the
run's clock where they happened.

``POST /v1/logs`` and ``POST /v1/metrics`` are accepted (an agent whose exporter gets 404s
retries and complains) and **counted, not kept**: the trace file holds spans only. The counts,
and how many export requests were refused as undecodable, are on the container span
(:meth:`AgentSpanReceiver.counts`).
"""

from __future__ import annotations

import base64
import dataclasses
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.trace import SpanProcessor

from cab_trace.clock import RunClock
from cab_trace.errors import CabTraceError
from cab_trace.model import Attributes, AttrValue, SpanRecord
from cab_trace.model.formats import records_from_traces_data
from cab_trace.model.record import Event, Status
from cab_trace.otel.convert import SpanBuilder

MAX_BODY = 64 * 1024 * 1024
#: Parents waited for (spans whose parent has not arrived yet, by parent id); past this many, a
#: parent that never arrives gets no placeholder, and its children keep their missing parent.
MAX_WAITING = 100_000
#: A wall-clock step smaller than this is not taken off the agent's times (reading the two
#: clocks one after the other differs by microseconds).
_SHIFT_MIN_NS = 1_000_000


class AgentSpanReceiver:
    """Start with :meth:`start` (returns the endpoint), stop with :meth:`stop`.

    Args:
        processor: where received spans go (the run's redacting processor).
        host: the address to listen on: loopback for a local agent, the Docker bridge's
            gateway for one in a container.
    """

    def __init__(
        self,
        processor: SpanProcessor,
        host: str = "127.0.0.1",
        parent: tuple[int, int] | None = None,
        home: str | None = None,
        clock: RunClock | None = None,
    ) -> None:
        """
        Args:
            parent: (trace id, span id) of the span the agent's spans belong under (the
                container span); spans of other traces are adopted into it. None keeps every
                span as it was sent.
            home: the user's home directory, written as ``~`` in the agent's spans (default:
                this process's).
            clock: the run's clock; the agent's times are moved onto it (none: kept as sent).
        """
        self._processor = processor
        self._host = host
        self._parent = (f"{parent[0]:032x}", f"{parent[1]:016x}") if parent else None
        self._home = home if home is not None else str(Path.home())
        self._build = SpanBuilder()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._clock = clock
        self.received = 0
        self.adopted = 0
        self.parent_missing = 0
        self.placeholders = 0
        self._seen: set[str] = set()
        #: Parents not arrived yet, by id: [earliest child start, latest child end, children].
        self._waiting: dict[str, list[int]] = {}
        self.rejected = 0
        self.logs = 0
        self.metrics = 0

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                signal = self.path.rstrip("/")
                if signal not in ("/v1/traces", "/v1/logs", "/v1/metrics"):
                    self._answer(404, b"")
                    return
                declared = self.headers.get("Content-Length") or "0"
                length = int(declared) if declared.isdigit() else -1  # "abc", "-5": no traceback
                if length < 0:
                    self._answer(400, b"")
                    return
                if length > MAX_BODY:
                    self._answer(413, b"")
                    return
                body = self.rfile.read(length)
                try:
                    if self.headers.get("Content-Encoding") == "gzip":
                        body = gunzip(body, MAX_BODY)  # bounded: a gzip bomb is refused
                    is_json = "json" in (self.headers.get("Content-Type") or "")
                    if signal == "/v1/traces":
                        receiver.accept(body, is_json)
                    else:
                        receiver.count(signal.removeprefix("/v1/"), body, is_json)
                except (CabTraceError, ValueError, OSError, EOFError, zlib.error, AttributeError, TypeError):
                    # Bad input (a cut gzip stream ends in EOFError): 400, never a traceback.
                    with receiver._lock:
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
        """Decode an export request and hand every span to the processor, now."""
        document = orjson.loads(body) if is_json else _protobuf_to_json(body)
        if not isinstance(document, dict):
            raise ValueError("not an OTLP export request (not a JSON object)")
        if not document.get("resourceSpans"):
            return  # an empty export (protobuf leaves out empty fields)
        records = list(records_from_traces_data(document))
        shift = self._clock.wall_shift_ns() if self._clock is not None else 0
        if abs(shift) < _SHIFT_MIN_NS:
            shift = 0
        with self._lock:
            self.received += len(records)
            for sent in records:
                record = sent
                if self._parent is not None:
                    record, adopted = adopt(sent, *self._parent)
                    self.adopted += adopted
                if shift:
                    record = shifted(record, shift)
                if self._parent is not None:
                    self._track(record)
                self._processor.on_end(self._build(home_as_tilde(record, self._home)))

    def _track(self, record: SpanRecord) -> None:
        """Note which parents have arrived and which are still awaited."""
        assert self._parent is not None
        self._seen.add(record.span_id)
        self._waiting.pop(record.span_id, None)
        parent = record.parent_span_id
        if not parent or parent == self._parent[1] or parent in self._seen:
            return
        entry = self._waiting.get(parent)
        if entry is None:
            if len(self._waiting) >= MAX_WAITING:
                return
            self._waiting[parent] = [record.start_time_unix_nano, record.end_time_unix_nano, 1]
        else:
            entry[0] = min(entry[0], record.start_time_unix_nano)
            entry[1] = max(entry[1], record.end_time_unix_nano)
            entry[2] += 1

    def _placeholders(self) -> None:
        """A parent that never arrived (an agent that exits with spans still open, as opencode
        does) gets a placeholder under the container span, so that the run stays one tree; its
        children are already in the trace, naming it as their parent."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
            if self._parent is None:
                return
            trace_id, container = self._parent
            for span_id, (start, end, children) in waiting.items():
                self.parent_missing += children
                self.placeholders += 1
                record = SpanRecord(
                    trace_id,
                    span_id,
                    container,
                    "(a span the agent never sent)",
                    "internal",
                    start,
                    max(end, start),
                    attributes={"cab.placeholder": True, "cab.placeholder_children": children},
                )
                self._processor.on_end(self._build(record))

    def count(self, signal: str, body: bytes, is_json: bool) -> None:
        """Count the log records or metrics of an export request (they are not kept)."""
        document = orjson.loads(body) if is_json else _protobuf_signal_to_json(signal, body)
        if not isinstance(document, dict):
            raise ValueError(f"not an OTLP {signal} export request (not a JSON object)")
        if signal == "logs":
            n = sum(
                len(scope.get("logRecords") or [])
                for resource in document.get("resourceLogs") or []
                for scope in resource.get("scopeLogs") or []
            )
        else:
            n = sum(
                len(scope.get("metrics") or [])
                for resource in document.get("resourceMetrics") or []
                for scope in resource.get("scopeMetrics") or []
            )
        with self._lock:
            if signal == "logs":
                self.logs += n
            else:
                self.metrics += n

    def counts(self) -> dict[str, AttrValue]:
        """What arrived, for the container span: spans (and how many were adopted from other
        traces), log records and metrics (counted, not kept), export requests refused."""
        with self._lock:
            return {
                "agent_spans": self.received,
                "agent_spans_adopted": self.adopted,
                "agent_spans_parent_missing": self.parent_missing,
                "agent_span_placeholders": self.placeholders,
                "agent_logs": self.logs,
                "agent_metrics": self.metrics,
                "agent_exports_refused": self.rejected,
            }

    def stop(self) -> None:
        """Stop listening, then write placeholders for the parents that never arrived
        (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._placeholders()


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
        # Export every 200 ms, not every 5 s: an agent that exits without flushing (opencode
        # does) then loses its last fraction of a second of spans, not its last batch.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
    }


def adopt(record: SpanRecord, trace_id: str, parent_span_id: str) -> tuple[SpanRecord, bool]:
    """The record as a span of the run's trace; True if it came with a trace id of its own.

    A span of another trace keeps its original ids as attributes; a span without a parent (in
    whichever trace) becomes a child of ``parent_span_id``, so the run keeps a single root.
    """
    foreign = record.trace_id != trace_id
    parent = record.parent_span_id or parent_span_id
    if not foreign and parent == record.parent_span_id:
        return record, False
    attributes = dict(record.attributes)
    if foreign:
        attributes["cab.original_trace_id"] = record.trace_id
        if record.parent_span_id:
            attributes["cab.original_parent_span_id"] = record.parent_span_id
    return dataclasses.replace(
        record, trace_id=trace_id, parent_span_id=parent, attributes=attributes
    ), foreign


def shifted(record: SpanRecord, shift_ns: int) -> SpanRecord:
    """The record's times (and its events') less ``shift_ns``: a wall-clock step taken off."""
    return dataclasses.replace(
        record,
        start_time_unix_nano=record.start_time_unix_nano - shift_ns,
        end_time_unix_nano=record.end_time_unix_nano - shift_ns,
        events=[Event(e.name, e.time_unix_nano - shift_ns, e.attributes) for e in record.events],
        attributes={**record.attributes, "cab.clock_shift_ns": shift_ns},
    )


def home_as_tilde(record: SpanRecord, home: str) -> SpanRecord:
    """The record with every path under ``home`` written ``~/…`` (names, attributes, events,
    resource, status message), as the harness writes its own paths."""
    home = home.rstrip("/")
    if home in ("", "/"):
        return record
    pattern = re.compile(r"(?<![\w.-])" + re.escape(home) + r"(?=/|$|[^\w.-])")
    if not any(home in text for text in _texts(record)):
        return record

    def text(value: str) -> str:
        return pattern.sub("~", value) if home in value else value

    def attrs(values: Attributes) -> Attributes:
        out: Attributes = {}
        for key, value in values.items():
            if isinstance(value, str):
                out[key] = text(value)
            elif isinstance(value, list) and value and isinstance(value[0], str):
                out[key] = [text(v) if isinstance(v, str) else v for v in value]
            else:
                out[key] = value
        return out

    return dataclasses.replace(
        record,
        name=text(record.name),
        attributes=attrs(record.attributes),
        resource=attrs(record.resource),
        events=[Event(text(e.name), e.time_unix_nano, attrs(e.attributes)) for e in record.events],
        status=Status(record.status.code, text(record.status.message)),
    )


def _texts(record: SpanRecord) -> list[str]:
    out = [record.name, record.status.message]
    for values in (record.attributes, record.resource, *(e.attributes for e in record.events)):
        for value in values.values():
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out.extend(v for v in value if isinstance(v, str))
    out.extend(e.name for e in record.events)
    return out


def _protobuf_signal_to_json(signal: str, body: bytes) -> Any:
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError

    if signal == "logs":
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

        message: Any = logs_service_pb2.ExportLogsServiceRequest
    else:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        message = metrics_service_pb2.ExportMetricsServiceRequest
    try:
        return MessageToDict(message.FromString(body))
    except DecodeError as exc:
        raise ValueError(f"not an OTLP {signal} export request: {exc}") from None


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


def gunzip(data: bytes, limit: int) -> bytes:
    """A gzip body (one member or several) decompressed, refused if it would be more than ``limit``
    bytes: 64 MB of gzip can hold gigabytes, and an agent may send it.

    Raises:
        ValueError: not gzip, cut short, or larger than ``limit`` once decompressed.
    """
    out = bytearray()
    rest = data
    while rest:
        member = zlib.decompressobj(wbits=31)
        out += member.decompress(rest, limit + 1 - len(out))
        if len(out) > limit or member.unconsumed_tail:
            raise ValueError(f"the gzip body decompresses to more than {limit} bytes")
        if not member.eof:
            raise ValueError("the gzip body ends early")
        rest = member.unused_data
    return bytes(out)
