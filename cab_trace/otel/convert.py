"""OpenTelemetry SDK spans to span records."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from cab_trace.model import Attributes, AttrValue, Event, Link, Scope, SpanRecord, Status

#: The attribute through which the harness tells a span's phase (``kind`` in the record).
KIND_ATTRIBUTE = "cab.kind"

_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


def span_to_record(span: ReadableSpan) -> SpanRecord:
    """Convert a finished SDK span. ``cab.kind`` becomes the record's ``kind``; spans
    without it (from other instrumentation) get their OpenTelemetry span kind, lowercased."""
    ctx = span.context
    if ctx is None:
        raise ValueError(f"span {span.name!r} has no context")
    attributes = plain_attributes(span.attributes)
    kind_value = attributes.pop(KIND_ATTRIBUTE, None)
    span_kind = span.kind if isinstance(span.kind, SpanKind) else SpanKind.INTERNAL
    kind = kind_value if isinstance(kind_value, str) else span_kind.name.lower()
    start = span.start_time or 0
    scope = span.instrumentation_scope
    return SpanRecord(
        trace_id=format(ctx.trace_id, "032x"),
        span_id=format(ctx.span_id, "016x"),
        parent_span_id=format(span.parent.span_id, "016x") if span.parent is not None else None,
        name=span.name,
        kind=kind,
        span_kind=span_kind.name,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=max(span.end_time or start, start),
        status=Status(_STATUS[span.status.status_code], span.status.description or ""),  # type: ignore[arg-type]
        attributes=attributes,
        events=[Event(e.name, e.timestamp, plain_attributes(e.attributes)) for e in span.events],
        links=[
            Link(
                format(lk.context.trace_id, "032x"),
                format(lk.context.span_id, "016x"),
                plain_attributes(lk.attributes),
            )
            for lk in span.links
        ],
        resource=plain_attributes(span.resource.attributes),
        scope=Scope(scope.name, scope.version) if scope is not None else Scope(),
    )


def plain_attributes(attributes: Mapping[str, Any] | None) -> Attributes:
    """SDK attributes (which may hold tuples) as plain JSON values."""
    if not attributes:
        return {}
    return {key: _plain(value) for key, value in attributes.items()}


def _plain(value: Any) -> AttrValue:
    if isinstance(value, tuple | list):
        return [_finite(v) for v in value]
    return _finite(value)  # type: ignore[no-any-return]


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity; keep the information as text rather than lose the line.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
