"""The redaction stage: one span processor in front of every exporter.

The TracerProvider built by :func:`cab_trace.otel.setup.build_pipeline` has exactly one
processor, this one. It rebuilds each ended span with every string redacted (name,
attributes including list values, event names and attributes, links and their attributes,
status message, resource attributes and schema URL, instrumentation scope name, version,
schema URL and attributes, trace-state values), gives any id that holds a known secret a
fresh one (:mod:`cab_trace.otel.ids`: ids an agent chooses are not text, but can carry a key),
and only then hands it to the processors that own the exporters. No exporter is reachable any
other way, so none can see an unredacted span. ``tests/otel/test_redacting_fields.py``
enumerates ``ReadableSpan``'s fields so that a new one cannot pass through unredacted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, Status, TraceState

from cab_trace.otel.ids import IdScrubber
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
        # Ids are not text: an agent's span id that is a known secret gets a fresh one (ids.py).
        self._ids = IdScrubber(redactor.known_secrets)

    def add_secrets(self, secrets: Sequence[str]) -> None:
        self.redactor = self.redactor.with_secrets(secrets)
        self._resource_cache = None
        self._ids.set_secrets(self.redactor.known_secrets)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Inner processors export on end only; a span is never handed out before it is redacted.
        return None

    def on_end(self, span: ReadableSpan) -> None:
        redacted = self.redact_span(self._ids.scrub(span))
        self.forwarded += 1
        for processor in self.processors:
            processor.on_end(redacted)

    def redact_span(self, span: ReadableSpan) -> ReadableSpan:
        r = self.redactor
        status = span.status
        return ReadableSpan(
            name=r.text(span.name),
            context=self._context(span.context),
            parent=self._context(span.parent),
            resource=self._redacted_resource(span.resource),
            attributes=self._attrs(span.attributes),
            events=[Event(r.text(e.name), self._attrs(e.attributes), e.timestamp) for e in span.events],
            links=[Link(self._context(lk.context), self._attrs(lk.attributes)) for lk in span.links],  # type: ignore[arg-type]
            kind=span.kind,
            status=Status(status.status_code, r.text(status.description) if status.description else None),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=self._scope(span.instrumentation_scope),
        )

    def _scope(self, scope: InstrumentationScope | None) -> InstrumentationScope | None:
        # An agent's own spans name their instrumentation scope: a string like any other.
        if scope is None:
            return None
        r = self.redactor
        return InstrumentationScope(
            r.text(scope.name),
            r.text(scope.version) if scope.version else scope.version,
            r.text(scope.schema_url) if scope.schema_url else scope.schema_url,
            self._attrs(scope.attributes) or None,
        )

    def _context(self, context: SpanContext | None) -> SpanContext | None:
        # W3C trace state carries vendor strings; an entry the redactor would change is dropped
        # (a marker is not a valid trace-state value).
        if context is None or not context.trace_state:
            return context
        kept = [
            (k, v)
            for k, v in context.trace_state.items()
            if self.redactor.text(k) == k and self.redactor.text(v) == v
        ]
        if len(kept) == len(context.trace_state):
            return context
        return SpanContext(
            context.trace_id, context.span_id, context.is_remote, context.trace_flags, TraceState(kept)
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
        schema_url = self.redactor.text(resource.schema_url) if resource.schema_url else resource.schema_url
        redacted = Resource(self._attrs(resource.attributes), schema_url)
        self._resource_cache = (resource, redacted)
        return redacted

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.processors)
