"""What the importers of other harnesses' records share: deterministic ids, times, and a small
builder of span records. Pure: stdlib and orjson.

Ids are derived from what the foreign record names (an Inspect eval id and sample, a Harbor
trial id), never random: importing the same file twice gives the same trace, so a trace can be
exported, compared and linked to.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from cab_trace.model.record import (
    INT64_MAX,
    INT64_MIN,
    Attributes,
    Event,
    Link,
    Scope,
    SpanKind,
    SpanRecord,
    Status,
    StatusCode,
)

#: One imported text value longer than this keeps its head and tail (as the recorder bounds them).
TEXT_LIMIT = 16 * 1024


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def hex_id(digits: int, *parts: object) -> str:
    """``digits`` lowercase hex digits from sha256 of the parts; never all zeros (invalid in OTLP)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:digits]
    return digest if digest.strip("0") else "1".rjust(digits, "0")


def trace_id(*parts: object) -> str:
    return hex_id(32, *parts)


def span_id(*parts: object) -> str:
    return hex_id(16, *parts)


def iso_ns(value: object) -> int | None:
    """Unix nanoseconds of an ISO 8601 time (``2026-01-02T03:04:05.123456+00:00`` or ``…Z``);
    None for anything else. A time without a zone is taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    # Whole seconds as integers and the microseconds apart: a float would lose the last digits.
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1000


def bounded(text: str, limit: int = TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}\n…[cab-trace: {len(text) - 2 * keep:,} characters not imported]…\n{text[-keep:]}"


def json_text(value: Any) -> str:
    """JSON text of a value, as the recorder writes content attributes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits (JSON has no limit, orjson has)
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def _scalar_ok(value: object) -> bool:
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    return isinstance(value, float) and math.isfinite(value)


def plain(value: Any) -> Any:
    """An attribute value a span record holds: a string, boolean, 64-bit integer or finite float
    as it is (a long string bounded), a list of one such type as it is, anything else (a
    number out of range, an object, a mixed list) as text."""
    if isinstance(value, str):
        return bounded(value)
    if _scalar_ok(value):
        return value
    if (
        isinstance(value, list)
        and value
        and len({type(v) for v in value}) == 1
        and all(map(_scalar_ok, value))
    ):
        return [bounded(v) if isinstance(v, str) else v for v in value]
    return bounded(str(value) if isinstance(value, int | float) else json_text(value))


@dataclass
class SpanDraft:
    """A span being put together; :meth:`record` makes the finished record."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    span_kind: SpanKind = "INTERNAL"
    status: StatusCode = "UNSET"
    message: str = ""
    attributes: Attributes = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.status, self.message = "ERROR", message

    def event(self, name: str, time_ns: int | None, attributes: Mapping[str, Any] | None = None) -> None:
        when = self.start_ns if time_ns is None else time_ns
        self.events.append(Event(name, when, {k: plain(v) for k, v in (attributes or {}).items()}))

    def record(self, resource: Attributes, scope: Scope) -> SpanRecord:
        start = max(self.start_ns, 0)
        end = max(self.end_ns, start)
        events = sorted(self.events, key=lambda e: e.time_unix_nano)
        return SpanRecord(
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_span_id=self.parent_span_id,
            name=self.name,
            kind=self.kind,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            span_kind=self.span_kind,
            status=Status(self.status, self.message if self.status == "ERROR" else ""),
            attributes={k: plain(v) for k, v in self.attributes.items()},
            events=events,
            links=list(self.links),
            resource=dict(resource),
            scope=scope,
        )


def stretch_parents(drafts: list[SpanDraft]) -> None:
    """Widen each span to hold its children (a foreign record's times may not nest exactly:
    Inspect's tool span begins after its tool event does)."""
    by_id = {d.span_id: d for d in drafts}
    # Children before parents: deepest first, so a widened child widens its parent in turn.
    depth: dict[str, int] = {}

    def level(d: SpanDraft) -> int:
        seen: set[str] = set()
        n, cur = 0, d
        while cur.parent_span_id in by_id and cur.span_id not in seen:
            seen.add(cur.span_id)
            cur = by_id[cur.parent_span_id]
            n += 1
        return n

    for d in drafts:
        depth[d.span_id] = level(d)
    for d in sorted(drafts, key=lambda x: -depth[x.span_id]):
        parent = by_id.get(d.parent_span_id or "")
        if parent is not None and parent is not d:
            parent.start_ns = min(parent.start_ns, d.start_ns)
            parent.end_ns = max(parent.end_ns, d.end_ns)
