"""The redaction stage: one span processor in front of every exporter.

The TracerProvider built by :func:`cab_trace.otel.setup.build_pipeline` has exactly one
processor, this one. It rebuilds each ended span with every string redacted (name,
attributes including list values, event names and attributes, link attributes, status
message, resource attributes) and only then hands it to the processors that own the
exporters. No exporter is reachable any other way, so none can see an unredacted span.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, Status

from cab_trace.redact import Redactor


class RedactingSpanProcessor(SpanProcessor):
    """Redacts ended spans and forwards them to ``inner`` processors.

    Args:
        redactor: what to redact. :meth:`add_secrets` extends it during the run (the
            harness learns some secrets, such as the environment it passes, only later).
        inner: the processors (each owning an exporter) that receive redacted spans.
    """

    def __init__(self, redactor: Redactor, inner: Sequence[SpanProcessor]) -> None:
        self.redactor = redactor
        self.processors = list(inner)
        self.forwarded = 0  # spans handed to the inner processors
        self._resource_cache: tuple[Resource, Resource] | None = None

    def add_secrets(self, secrets: Sequence[str]) -> None:
        self.redactor = self.redactor.with_secrets(secrets)
        self._resource_cache = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Inner processors export on end only; a span is never handed out before it is redacted.
        return None

    def on_end(self, span: ReadableSpan) -> None:
        redacted = self.redact_span(span)
        self.forwarded += 1
        for processor in self.processors:
            processor.on_end(redacted)

    def redact_span(self, span: ReadableSpan) -> ReadableSpan:
        r = self.redactor
        status = span.status
        return ReadableSpan(
            name=r.text(span.name),
            context=span.context,
            parent=span.parent,
            resource=self._redacted_resource(span.resource),
            attributes=self._attrs(span.attributes),
            events=[Event(r.text(e.name), self._attrs(e.attributes), e.timestamp) for e in span.events],
            links=[Link(lk.context, self._attrs(lk.attributes)) for lk in span.links],
            kind=span.kind,
            status=Status(status.status_code, r.text(status.description) if status.description else None),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _attrs(self, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
        if not attributes:
            return {}
        r = self.redactor
        return {r.text(key): r.value(value) for key, value in attributes.items()}

    def _redacted_resource(self, resource: Resource) -> Resource:
        # Every span of a run shares one resource; redact it once per set of secrets.
        cached = self._resource_cache
        if cached is not None and cached[0] is resource:
            return cached[1]
        redacted = Resource(self._attrs(resource.attributes), resource.schema_url)
        self._resource_cache = (resource, redacted)
        return redacted

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.processors)
