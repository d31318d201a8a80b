"""Building the tracing pipeline for one run.

    TracerProvider ── RedactingSpanProcessor ─┬─ SimpleSpanProcessor ── JsonlSpanExporter (trace.jsonl)
                                              └─ BatchSpanProcessor ─── LeakGuard ── CountingExporter ── OTLP
                                                                                               (optional)

The LeakGuard (leak_guard.py) runs the leak check on each span before it goes to the collector:
a span that holds a known secret is withheld (and the run fails), never sent.

The JSONL file is written span by span as each ends, so it is complete whatever the
collector does. The OTLP exporter runs in the background with a short timeout; its
failures are counted and reported once by :meth:`Pipeline.shutdown`, never raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from cab_trace import __version__
from cab_trace.errors import UsageError
from cab_trace.otel.exporters import CountingExporter, JsonlSpanExporter
from cab_trace.otel.leak_guard import LeakGuard
from cab_trace.otel.redacting import RedactingSpanProcessor
from cab_trace.redact import Redactor

Protocol = Literal["grpc", "http/protobuf"]
PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http/protobuf")
SCOPE_NAME = "cab_trace"
#: How long one OTLP export may take, retries included, unless OTEL_EXPORTER_OTLP_TIMEOUT says.
DEFAULT_OTLP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class OtlpSettings:
    """Where and how to send spans over OTLP."""

    endpoint: str
    protocol: Protocol = "http/protobuf"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_OTLP_TIMEOUT_S

    @property
    def traces_url(self) -> str:
        """The URL the exporter posts to: for HTTP, the base endpoint plus ``/v1/traces``."""
        if self.protocol == "grpc":
            return self.endpoint
        base = self.endpoint.rstrip("/")
        return base if base.endswith("/v1/traces") else f"{base}/v1/traces"

    @classmethod
    def resolve(
        cls,
        endpoint: str | None = None,
        protocol: str | None = None,
        headers: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> OtlpSettings | None:
        """Settings from CLI flags, falling back to the standard ``OTEL_EXPORTER_OTLP_*`` variables.

        Returns None when no endpoint is configured (no OTLP export).

        Raises:
            UsageError: a protocol, header or endpoint that cannot be used.
        """
        env = os.environ if env is None else env
        endpoint = (
            endpoint
            or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        )
        if not endpoint:
            return None
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise UsageError(
                f"OTLP endpoint {without_userinfo(endpoint)!r} is not an http:// or https:// URL",
                hint="e.g. --otlp-endpoint http://127.0.0.1:4318 (HTTP) or http://127.0.0.1:4317 (gRPC)",
            )
        protocol = (
            protocol
            or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        if protocol not in PROTOCOLS:
            raise UsageError(f"OTLP protocol {protocol!r} is not supported", hint="use grpc or http/protobuf")
        parsed_headers = _parse_env_headers(
            env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS") or ""
        )
        for item in headers:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                # Not the item itself: a malformed header is most often a credential missing its "=".
                number = len(parsed_headers) + 1
                raise UsageError(f"OTLP header {number} ({len(item)} characters) is not KEY=VALUE")
            parsed_headers[key.strip().lower()] = value.strip()
        timeout = env.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or env.get("OTEL_EXPORTER_OTLP_TIMEOUT")
        try:
            # The spec gives this variable in milliseconds.
            timeout_s = float(timeout) / 1000 if timeout else DEFAULT_OTLP_TIMEOUT_S
        except ValueError:
            raise UsageError(
                f"OTEL_EXPORTER_OTLP_TIMEOUT={timeout!r} is not a number of milliseconds"
            ) from None
        return cls(endpoint, protocol, parsed_headers, timeout_s)


def _parse_env_headers(value: str) -> dict[str, str]:
    # W3C baggage-style list, as the OTLP exporter spec says: k1=v1,k2=v2 with URL-encoded values.
    headers: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if sep and key.strip():
            headers[key.strip().lower()] = urllib.parse.unquote(val.strip())
    return headers


def otlp_exporter(settings: OtlpSettings) -> SpanExporter:
    """The SDK's OTLP span exporter (gRPC or HTTP/protobuf) for these settings."""
    headers = dict(settings.headers)
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        parsed = urllib.parse.urlsplit(settings.endpoint)
        return GrpcExporter(
            endpoint=f"{parsed.hostname}:{parsed.port or 4317}",
            insecure=parsed.scheme == "http",
            headers=headers,
            timeout=settings.timeout_s,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=settings.traces_url, headers=headers, timeout=settings.timeout_s)


class LogCapture(logging.Handler):
    """Keeps the SDK's and exporters' log records out of the user's terminal while a run lasts.

    What they say is surfaced once, in the run's summary (see :meth:`Pipeline.shutdown`).
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < 100:
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured_otel_logs() -> Iterator[LogCapture]:
    """Keep the SDK's and exporters' log records out of the terminal for a while; yields them."""
    capture = LogCapture()
    otel_logger = logging.getLogger("opentelemetry")
    state = (otel_logger.propagate, list(otel_logger.handlers))
    otel_logger.handlers, otel_logger.propagate = [capture], False
    try:
        yield capture
    finally:
        otel_logger.propagate, otel_logger.handlers = state


@dataclass
class Pipeline:
    """A run's tracing pipeline. Use :attr:`tracer`; call :meth:`shutdown` once at the end."""

    provider: TracerProvider
    tracer: Tracer
    redaction: RedactingSpanProcessor
    jsonl_path: Path
    otlp: OtlpSettings | None
    otlp_exporter: CountingExporter | None
    _capture: LogCapture
    _logger_state: tuple[bool, list[logging.Handler]]
    _shut_down: bool = False
    jsonl_exporter: JsonlSpanExporter | None = None
    """The trace file's exporter: what it could not write (a full disk) fails the run."""
    leak_guard: LeakGuard | None = None
    """In front of the OTLP exporter: the spans it withheld (holding a known secret) fail the run."""

    def add_secrets(self, secrets: Sequence[str]) -> None:
        """Redact these too in every span that ends from now on."""
        self.redaction.add_secrets(secrets)

    def shutdown(self, timeout_s: float | None = None, abandon: threading.Event | None = None) -> list[str]:
        """Flush and close everything; returns warnings for the user. Idempotent.

        The JSONL file is closed (fsynced) first, so it is complete whatever the collector
        does. The OTLP side gets ``timeout_s`` (default: its export timeout plus a second)
        to deliver what is queued; what it has not delivered by then is reported, not waited for.
        Setting ``abandon`` (e.g. on Ctrl-C) stops the wait at once.
        """
        if self._shut_down:
            return []
        self._shut_down = True
        budget = timeout_s if timeout_s is not None else (self.otlp.timeout_s + 1 if self.otlp else 1.0)
        deadline = time.monotonic() + budget
        background: list[threading.Thread] = []
        for processor in self.redaction.processors:
            if isinstance(processor, BatchSpanProcessor):
                # Its shutdown takes no timeout; run it aside and stop waiting at the deadline.
                thread = threading.Thread(
                    target=processor.shutdown, name="cab-trace-otlp-shutdown", daemon=True
                )
                thread.start()
                background.append(thread)
            else:
                processor.shutdown()
        for thread in background:
            while thread.is_alive() and time.monotonic() < deadline:
                if abandon is not None and abandon.is_set():
                    budget = 0  # reported below as unsent, not waited for
                    break
                thread.join(min(0.05, max(deadline - time.monotonic(), 0)))
        if not any(t.is_alive() for t in background):
            # A still-running exporter may log on; keep its messages captured rather than printed.
            otel_logger = logging.getLogger("opentelemetry")
            otel_logger.removeHandler(self._capture)
            otel_logger.propagate, otel_logger.handlers = self._logger_state
        warnings: list[str] = []
        exporter = self.otlp_exporter
        withheld = self.leak_guard.withheld if self.leak_guard is not None else 0
        unsent = self.redaction.forwarded - exporter.sent - withheld if exporter is not None else 0
        if exporter is not None and self.otlp is not None and unsent > 0:
            reason = exporter.first_error or export_failure_reason(self._capture.messages)
            if not reason and any(t.is_alive() for t in background):
                reason = f"no answer within {budget:g} s" if budget else "interrupted before it answered"
            warnings.append(
                f"could not send {unsent} span(s) to the OTLP endpoint "
                f"{without_userinfo(self.otlp.traces_url)} "
                f"({self.otlp.protocol})"
                + (f": {reason}" if reason else "")
                + f"; the trace file is complete: {self.jsonl_path}"
            )
        return warnings


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``[REDACTED]@``: a warning is no place for it."""
    parsed = urllib.parse.urlsplit(url)
    if "@" not in parsed.netloc:
        return url
    host = parsed.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parsed._replace(netloc=f"[REDACTED]@{host}"))


#: What :func:`export_failure_reason` says of a receiver that took longer than the export timeout.
NO_ANSWER_IN_TIME = "no answer within the export timeout"


def export_failure_reason(messages: Sequence[str]) -> str:
    """What the exporters' log messages say went wrong, in a few words."""
    text = "\n".join(messages)
    if "connection refused" in text.lower():
        return "connection refused (is the collector running, and on that port?)"
    if "Name or service not known" in text or "DNS resolution failed" in text:
        return "host not found"
    if "DEADLINE_EXCEEDED" in text:
        return NO_ANSWER_IN_TIME
    if m := re.search(r"error code: StatusCode\.(\w+), error details: ([^\n]+)", text):
        return f"the receiver answered {m[1]}: {m[2]}"
    if m := re.search(r"code: (\d+), reason: ([^\n]+)", text):
        return f"the receiver answered HTTP {m[1]} {m[2]}"
    if "due to timeout" in text or "timed out" in text.lower():
        return NO_ANSWER_IN_TIME
    last = messages[-1].strip() if messages else ""
    return last.splitlines()[0][:300] if last else ""


def build_pipeline(
    jsonl_path: Path,
    redactor: Redactor,
    otlp: OtlpSettings | None = None,
    resource_attributes: Mapping[str, str] | None = None,
) -> Pipeline:
    """The one place a run's TracerProvider is built.

    Args:
        jsonl_path: the trace file to append spans to.
        redactor: applied to every span before any exporter sees it. OTLP header values
            are added to its known secrets (they are often credentials).
        otlp: where else to send spans, if anywhere.
        resource_attributes: extra resource attributes; ``OTEL_RESOURCE_ATTRIBUTES`` and
            ``OTEL_SERVICE_NAME`` are honoured as the SDK does.
    """
    capture = LogCapture()
    otel_logger = logging.getLogger("opentelemetry")
    logger_state = (otel_logger.propagate, list(otel_logger.handlers))
    otel_logger.handlers = [capture]
    otel_logger.propagate = False

    if otlp is not None:
        redactor = redactor.with_secrets(otlp.headers.values())
    resource = Resource.create(dict(resource_attributes or {}))
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "cab-trace"}))
    resource = resource.merge(Resource({"service.version": __version__}))

    jsonl = JsonlSpanExporter(jsonl_path)
    inner: list[SpanProcessor] = [SimpleSpanProcessor(jsonl)]
    counting: CountingExporter | None = None
    guard: LeakGuard | None = None
    if otlp is not None:
        counting = CountingExporter(otlp_exporter(otlp), f"OTLP {otlp.protocol} {otlp.traces_url}")
        guard = LeakGuard(counting)
        inner.append(BatchSpanProcessor(guard, schedule_delay_millis=1000))
    redaction = RedactingSpanProcessor(redactor, inner)
    if guard is not None:
        guard.known = lambda: redaction.redactor.known_secrets  # late-bound: the run learns more
    # Sampling would drop spans from a recording; whatever OTEL_TRACES_SAMPLER says, keep all.
    provider = TracerProvider(resource=resource, sampler=ALWAYS_ON, shutdown_on_exit=False)
    provider.add_span_processor(redaction)
    return Pipeline(
        provider=provider,
        tracer=provider.get_tracer(SCOPE_NAME, __version__),  # type: ignore[arg-type]
        redaction=redaction,
        jsonl_path=jsonl_path,
        otlp=otlp,
        otlp_exporter=counting,
        _capture=capture,
        _logger_state=logger_state,
        jsonl_exporter=jsonl,
        leak_guard=guard,
    )
