"""Sending recorded span records to an OTLP receiver, ids and all, through the SDK's exporters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from cab_trace.model import Event as RecordEvent
from cab_trace.model import SpanRecord
from cab_trace.otel.convert import KIND_ATTRIBUTE

BATCH_SIZE = 512
#: Give up after this many batches in a row fail: a receiver that is down should cost seconds, not hours.
MAX_CONSECUTIVE_FAILURES = 3
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
        key = orjson.dumps(r.resource, option=orjson.OPT_SORT_KEYS)
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
            events=[Event(e.name, _sdk_attrs(dict(e.attributes)), e.time_unix_nano) for e in r.events],
            links=[
                Link(_context(lk.trace_id, lk.span_id), _sdk_attrs(dict(lk.attributes))) for lk in r.links
            ],
            kind=SpanKind[r.span_kind],
            # The SDK keeps a description only with ERROR, as the OTLP spec says.
            status=Status(code, r.status.message or None) if code is StatusCode.ERROR else Status(code),
            start_time=r.start_time_unix_nano,
            end_time=r.end_time_unix_nano,
            instrumentation_scope=scope,
        )


def rebase_to_now(records: Sequence[SpanRecord], now_ns: int | None = None) -> tuple[list[SpanRecord], int]:
    """Shift every timestamp so that the last span ends now; returns the records and the shift (ns)."""
    if not records:
        return [], 0
    shift = (now_ns if now_ns is not None else time.time_ns()) - max(r.end_time_unix_nano for r in records)
    return [
        replace(
            r,
            start_time_unix_nano=r.start_time_unix_nano + shift,
            end_time_unix_nano=r.end_time_unix_nano + shift,
            events=[RecordEvent(e.name, e.time_unix_nano + shift, e.attributes) for e in r.events],
        )
        for r in records
    ], shift


@dataclass
class PushResult:
    sent: int = 0
    refused: int = 0
    gave_up: bool = False


def push(
    records: Sequence[SpanRecord],
    exporter: SpanExporter,
    progress: Callable[[int, int], None] | None = None,
    *,
    pace: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Send ``records`` in batches; count what the receiver accepted and refused.

    With ``pace`` (a speed factor), spans are sent as they ended in the recording, ``pace``
    times faster: a live replay into a collector. A receiver that fails
    :data:`MAX_CONSECUTIVE_FAILURES` batches in a row is given up on; what was not sent
    counts as refused.
    """
    build = SpanBuilder()
    result = PushResult()
    total = len(records)
    failures = 0
    for batch in _batches(records, pace, clock, sleep):
        if exporter.export([build(r) for r in batch]) is SpanExportResult.SUCCESS:
            result.sent += len(batch)
            failures = 0
        else:
            result.refused += len(batch)
            failures += 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                result.gave_up = True
                result.refused = total - result.sent
                break
        if progress is not None:
            progress(result.sent + result.refused, total)
    return result


def _batches(
    records: Sequence[SpanRecord],
    pace: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[list[SpanRecord]]:
    if pace is None:
        for i in range(0, len(records), BATCH_SIZE):
            yield list(records[i : i + BATCH_SIZE])
        return
    # Paced: each span is due when it ended in the recording, measured from the first start.
    ordered = sorted(records, key=lambda r: r.end_time_unix_nano)
    t0 = min((r.start_time_unix_nano for r in ordered), default=0)
    started = clock()
    i = 0
    while i < len(ordered):
        wait = (ordered[i].end_time_unix_nano - t0) / 1e9 / pace - (clock() - started)
        if wait > 0:
            sleep(wait)
        now_ns = t0 + (clock() - started) * pace * 1e9
        batch = [ordered[i]]
        i += 1
        while i < len(ordered) and len(batch) < BATCH_SIZE and ordered[i].end_time_unix_nano <= now_ns:
            batch.append(ordered[i])
            i += 1
        yield batch
