"""OpenTelemetry SDK spans to span records, and back."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as SdkEvent
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link as SdkLink
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags
from opentelemetry.trace import Status as SdkStatus

from cab_trace.model import Attributes, AttrValue, Event, Link, Scope, SpanRecord, Status
from cab_trace.model.attr_values import attrs_to_json

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


_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _context(trace_id: str, span_id: str) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=_SAMPLED)


def _sdk_attrs(attributes: Mapping[str, object]) -> Mapping[str, Any]:
    # Most attribute maps hold no list: hand those over as they are (the SDK only reads them).
    if not any(type(v) is list for v in attributes.values()):
        return attributes
    return {k: tuple(v) if isinstance(v, list) else v for k, v in attributes.items()}


class _ExactResource(Resource):
    """A resource that keeps its attributes exactly as recorded. ``Resource`` itself drops what
    the SDK would not accept from instrumentation (an empty key, a list mixing ints and
    floats); an export must send what the file holds, which the OTLP encoder can carry."""

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        super().__init__({})
        self._attributes = dict(attributes)  # type: ignore[assignment]


class SpanBuilder:
    """Turns records into SDK ``ReadableSpan``s; shares one ``Resource`` per distinct resource."""

    def __init__(self) -> None:
        self._resources: dict[bytes, Resource] = {}
        self._scopes: dict[tuple[str, str | None], InstrumentationScope] = {}

    def __call__(self, r: SpanRecord) -> ReadableSpan:
        key = orjson.dumps(attrs_to_json(r.resource), option=orjson.OPT_SORT_KEYS)  # bytes too
        resource = self._resources.get(key)
        if resource is None:
            resource = self._resources[key] = _ExactResource(_sdk_attrs(r.resource))
        scope = self._scopes.get((r.scope.name, r.scope.version))
        if scope is None:
            scope = self._scopes[r.scope.name, r.scope.version] = InstrumentationScope(
                r.scope.name, r.scope.version
            )
        code = StatusCode[r.status.code]
        return ReadableSpan(
            name=r.name,
            context=_context(r.trace_id, r.span_id),
            parent=_context(r.trace_id, r.parent_span_id) if r.parent_span_id else None,
            resource=resource,
            attributes=_sdk_attrs({KIND_ATTRIBUTE: r.kind, **r.attributes}),
            events=[SdkEvent(e.name, _sdk_attrs(dict(e.attributes)), e.time_unix_nano) for e in r.events],
            links=[
                SdkLink(_context(lk.trace_id, lk.span_id), _sdk_attrs(dict(lk.attributes))) for lk in r.links
            ],
            kind=SpanKind[r.span_kind],
            # The SDK keeps a description only with ERROR, as the OTLP spec says.
            status=SdkStatus(code, r.status.message or None) if code is StatusCode.ERROR else SdkStatus(code),
            start_time=r.start_time_unix_nano,
            end_time=r.end_time_unix_nano,
            instrumentation_scope=scope,
        )
