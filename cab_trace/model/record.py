"""The span record: one finished span, self-contained, as one line of a JSONL file.

Pure: stdlib only. The field names and rules here are the ones in
``schemas/span-record.v1.schema.json``; ``tests/unit/test_schema.py`` keeps the two in step.

This module holds the model (:class:`SpanRecord` and its parts), its JSON form and the strict
parser. Three neighbours hold what it is built from, and it re-exports their public names so that
``from cab_trace.model.record import ...`` keeps working for all of them:

- :mod:`.record_fields`: the kinds, codes, limits, :class:`RecordError` and the field readers;
- :mod:`.attr_values`: attribute value types, their validation and the OTLP ``AnyValue`` codec;
- :mod:`.record_fast`: the bulk checks of the fast path (:func:`fast_check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from cab_trace.model.attr_values import (
    AnyAttrValue,
    Attributes,
    AttrValue,
    Scalar,
    attr_to_json,
    attrs_to_json,
    check_attr_value,
    from_any_value,
    otlp_any_value,
    parse_attributes,
)
from cab_trace.model.record_fast import (
    _EVENT_KEYS,
    _LINK_KEYS,
    _SCOPE_KEYS,
    _STATUS_KEYS,
    _ZERO_SPAN,
    _ZERO_TRACE,
    _ok_attrs,
    _ok_id,
    _ok_time,
    fast_check,
)
from cab_trace.model.record_fields import (
    _RECORD_KEY_SET,
    _SPAN_ID,
    _TRACE_ID,
    INT64_MAX,
    INT64_MIN,
    SPAN_KINDS,
    STATUS_CODES,
    UINT32_MAX,
    UINT64_MAX,
    RecordError,
    SpanKind,
    StatusCode,
    _array,
    _hex_id,
    _no_extra,
    _object,
    _optional_string,
    _required,
    _string,
    _uint32,
    _uint64,
)

__all__ = [
    "HARNESS_KINDS",
    "INT64_MAX",
    "INT64_MIN",
    "SPAN_KINDS",
    "STATUS_CODES",
    "UINT32_MAX",
    "UINT64_MAX",
    "AnyAttrValue",
    "AttrValue",
    "Attributes",
    "Event",
    "Link",
    "RecordError",
    "Scalar",
    "Scope",
    "SpanKind",
    "SpanRecord",
    "Status",
    "StatusCode",
    "attr_to_json",
    "attrs_to_json",
    "check_attr_value",
    "fast_check",
    "from_any_value",
    "otlp_any_value",
    "parse_attributes",
]

#: The harness phases. ``kind`` may hold any other string for spans recorded by other programs.
HARNESS_KINDS = (
    "run", "task_setup", "adapter_run", "tool_call", "container", "blast_radius", "verify", "cleanup",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Status:
    code: StatusCode = "UNSET"
    message: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    time_unix_nano: int
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0


@dataclass(frozen=True, slots=True)
class Link:
    trace_id: str
    span_id: str
    attributes: Attributes = field(default_factory=dict)
    trace_state: str = ""
    flags: int = 0
    dropped_attributes_count: int = 0


@dataclass(frozen=True, slots=True)
class Scope:
    name: str = ""
    version: str | None = None
    attributes: Attributes = field(default_factory=dict)
    dropped_attributes_count: int = 0
    schema_url: str = ""
    """The ``schemaUrl`` of the OTLP ``ScopeSpans`` that held the span."""


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span. Times are Unix epoch nanoseconds; ids are lowercase hex.

    The fields after ``scope`` carry what OTLP has beyond the recorder's own spans (trace
    state, flags, dropped counts, the resource's schema URL); they are written to a line only
    when they are not their default, so the recorder's lines do not change.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    span_kind: SpanKind = "INTERNAL"
    status: Status = field(default_factory=Status)
    attributes: Attributes = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    resource: Attributes = field(default_factory=dict)
    scope: Scope = field(default_factory=Scope)
    trace_state: str = ""
    flags: int = 0
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    resource_schema_url: str = ""
    resource_dropped_attributes_count: int = 0

    @property
    def duration_ns(self) -> int:
        return self.end_time_unix_nano - self.start_time_unix_nano

    @property
    def is_error(self) -> bool:
        return self.status.code == "ERROR"

    def to_json_obj(self) -> dict[str, Any]:
        """The record as plain JSON values, in the schema's field order."""
        obj: dict[str, Any] = {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": self.kind,
            "span_kind": self.span_kind,
            "start_time_unix_nano": self.start_time_unix_nano,
            "end_time_unix_nano": self.end_time_unix_nano,
            "status": {"code": self.status.code, "message": self.status.message},
            "attributes": attrs_to_json(self.attributes),
            "events": [_event_json(e) for e in self.events],
            "links": [_link_json(lk) for lk in self.links],
            "resource": attrs_to_json(self.resource),
            "scope": _scope_json(self.scope),
        }
        for key, default in _EXTRA_DEFAULTS.items():
            value = getattr(self, key)
            if value != default:
                obj[key] = value
        return obj

    @classmethod
    def from_json_obj(cls, obj: object) -> SpanRecord:
        """Build and validate a record from a parsed JSON object.

        Raises:
            RecordError: naming the first field that is missing or wrong.
        """
        record = _fast_record(obj)
        if record is not None:
            return record
        return cls._checked(obj)

    @classmethod
    def _checked(cls, obj: object) -> SpanRecord:
        """The thorough path: every check in order, so the error names the first problem."""
        o = _object(obj, "the line")
        _no_extra(o, _RECORD_KEY_SET | set(_EXTRA_DEFAULTS), "")
        trace_id = _hex_id(o, "trace_id", _TRACE_ID, 32)
        span_id = _hex_id(o, "span_id", _SPAN_ID, 16)
        parent = o.get("parent_span_id", _MISSING)
        if parent is _MISSING:
            raise RecordError("missing field 'parent_span_id' (use null for a root span)")
        parent_span_id = None if parent is None else _hex_id(o, "parent_span_id", _SPAN_ID, 16)
        start = _uint64(o, "start_time_unix_nano")
        end = _uint64(o, "end_time_unix_nano")
        if end < start:
            raise RecordError(f"end_time_unix_nano ({end}) is before start_time_unix_nano ({start})")
        span_kind = _required(o, "span_kind")
        if span_kind not in SPAN_KINDS:
            raise RecordError(f"span_kind must be one of {', '.join(SPAN_KINDS)}, not {span_kind!r}")
        status_obj = _object(_required(o, "status"), "status")
        _no_extra(status_obj, {"code", "message"}, "status.")
        code = _required(status_obj, "code", "status.")
        if code not in STATUS_CODES:
            raise RecordError(f"status.code must be one of {', '.join(STATUS_CODES)}, not {code!r}")
        return cls(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span_id,
            name=_string(o, "name"),
            kind=_string(o, "kind"),
            span_kind=cast(SpanKind, span_kind),
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            status=Status(cast(StatusCode, code), _string(status_obj, "message", "status.")),
            attributes=parse_attributes(_required(o, "attributes"), "attributes"),
            events=[_event(e, f"events[{i}]") for i, e in enumerate(_array(o, "events"))],
            links=[_link(lk, f"links[{i}]") for i, lk in enumerate(_array(o, "links"))],
            resource=parse_attributes(_required(o, "resource"), "resource"),
            scope=_scope(_required(o, "scope")),
            trace_state=_optional_string(o, "trace_state"),
            flags=_uint32(o, "flags"),
            dropped_attributes_count=_uint32(o, "dropped_attributes_count"),
            dropped_events_count=_uint32(o, "dropped_events_count"),
            dropped_links_count=_uint32(o, "dropped_links_count"),
            resource_schema_url=_optional_string(o, "resource_schema_url"),
            resource_dropped_attributes_count=_uint32(o, "resource_dropped_attributes_count"),
        )


_MISSING = object()
#: Optional top-level keys, with the value that leaves them out of a line.
_EXTRA_DEFAULTS: dict[str, object] = {
    "trace_state": "",
    "flags": 0,
    "dropped_attributes_count": 0,
    "dropped_events_count": 0,
    "dropped_links_count": 0,
    "resource_schema_url": "",
    "resource_dropped_attributes_count": 0,
}


def _fast_record(o: object) -> SpanRecord | None:
    """The same rules as :meth:`SpanRecord._checked`, checked in bulk: a valid line (nearly
    every line) is built here; anything else returns None for the thorough path to explain.

    The builder half of the fast path stays beside the classes it builds (its checks are in
    :mod:`.record_fast`), so that :meth:`SpanRecord.from_json_obj` needs no import cycle."""
    if type(o) is not dict or o.keys() != _RECORD_KEY_SET:
        return None
    status, scope, parent = o["status"], o["scope"], o["parent_span_id"]
    start, end = o["start_time_unix_nano"], o["end_time_unix_nano"]
    if not (
        _ok_id(o["trace_id"], _TRACE_ID, _ZERO_TRACE)
        and _ok_id(o["span_id"], _SPAN_ID, _ZERO_SPAN)
        and (parent is None or _ok_id(parent, _SPAN_ID, _ZERO_SPAN))
        and type(o["name"]) is str
        and type(o["kind"]) is str
        and o["span_kind"] in SPAN_KINDS
        and _ok_time(start)
        and _ok_time(end)
        and end >= start
        and type(status) is dict
        and status.keys() == _STATUS_KEYS
        and status["code"] in STATUS_CODES
        and type(status["message"]) is str
        and _ok_attrs(o["attributes"])
        and _ok_attrs(o["resource"])
        and type(scope) is dict
        and scope.keys() == _SCOPE_KEYS
        and type(scope["name"]) is str
        and (scope["version"] is None or type(scope["version"]) is str)
        and type(o["events"]) is list
        and type(o["links"]) is list
    ):
        return None
    events = []
    for e in o["events"]:
        if not (
            type(e) is dict
            and e.keys() == _EVENT_KEYS
            and type(e["name"]) is str
            and _ok_time(e["time_unix_nano"])
            and _ok_attrs(e["attributes"])
        ):
            return None
        events.append(Event(e["name"], e["time_unix_nano"], e["attributes"]))
    links = []
    for lk in o["links"]:
        if not (
            type(lk) is dict
            and lk.keys() == _LINK_KEYS
            and _ok_id(lk["trace_id"], _TRACE_ID, _ZERO_TRACE)
            and _ok_id(lk["span_id"], _SPAN_ID, _ZERO_SPAN)
            and _ok_attrs(lk["attributes"])
        ):
            return None
        links.append(Link(lk["trace_id"], lk["span_id"], lk["attributes"]))
    return SpanRecord(
        o["trace_id"],
        o["span_id"],
        parent,
        o["name"],
        o["kind"],
        start,
        end,
        o["span_kind"],
        Status(status["code"], status["message"]),
        o["attributes"],
        events,
        links,
        o["resource"],
        Scope(scope["name"], scope["version"]),
    )


def _event_json(e: Event) -> dict[str, Any]:
    obj = {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": attrs_to_json(e.attributes)}
    if e.dropped_attributes_count:
        obj["dropped_attributes_count"] = e.dropped_attributes_count
    return obj


def _link_json(lk: Link) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "trace_id": lk.trace_id,
        "span_id": lk.span_id,
        "attributes": attrs_to_json(lk.attributes),
    }
    if lk.trace_state:
        obj["trace_state"] = lk.trace_state
    if lk.flags:
        obj["flags"] = lk.flags
    if lk.dropped_attributes_count:
        obj["dropped_attributes_count"] = lk.dropped_attributes_count
    return obj


def _scope_json(scope: Scope) -> dict[str, Any]:
    obj: dict[str, Any] = {"name": scope.name, "version": scope.version}
    if scope.attributes:
        obj["attributes"] = attrs_to_json(scope.attributes)
    if scope.dropped_attributes_count:
        obj["dropped_attributes_count"] = scope.dropped_attributes_count
    if scope.schema_url:
        obj["schema_url"] = scope.schema_url
    return obj


def _event(obj: object, where: str) -> Event:
    o = _object(obj, where)
    _no_extra(o, {"name", "time_unix_nano", "attributes", "dropped_attributes_count"}, f"{where}.")
    return Event(
        name=_string(o, "name", f"{where}."),
        time_unix_nano=_uint64(o, "time_unix_nano", f"{where}."),
        attributes=parse_attributes(_required(o, "attributes", f"{where}."), f"{where}.attributes"),
        dropped_attributes_count=_uint32(o, "dropped_attributes_count", f"{where}."),
    )


def _link(obj: object, where: str) -> Link:
    o = _object(obj, where)
    _no_extra(
        o,
        {"trace_id", "span_id", "attributes", "trace_state", "flags", "dropped_attributes_count"},
        f"{where}.",
    )
    return Link(
        trace_id=_hex_id(o, "trace_id", _TRACE_ID, 32, f"{where}."),
        span_id=_hex_id(o, "span_id", _SPAN_ID, 16, f"{where}."),
        attributes=parse_attributes(_required(o, "attributes", f"{where}."), f"{where}.attributes"),
        trace_state=_optional_string(o, "trace_state", f"{where}."),
        flags=_uint32(o, "flags", f"{where}."),
        dropped_attributes_count=_uint32(o, "dropped_attributes_count", f"{where}."),
    )


def _scope(obj: object) -> Scope:
    o = _object(obj, "scope")
    _no_extra(o, {"name", "version", "attributes", "dropped_attributes_count", "schema_url"}, "scope.")
    version = o.get("version")
    if version is not None and not isinstance(version, str):
        raise RecordError("scope.version must be a string or null")
    return Scope(
        _string(o, "name", "scope."),
        version,
        parse_attributes(o.get("attributes", {}), "scope.attributes"),
        _uint32(o, "dropped_attributes_count", "scope."),
        _optional_string(o, "schema_url", "scope."),
    )
