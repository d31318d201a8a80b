"""The span record: one finished span, self-contained, as one line of a JSONL file.

Pure: stdlib only. The field names and rules here are the ones in
``schemas/span-record.v1.schema.json``; ``tests/unit/test_schema.py`` keeps the two in step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

Scalar: TypeAlias = str | bool | int | float
AttrValue: TypeAlias = Scalar | list[str] | list[bool] | list[int] | list[float] | list[int | float]
Attributes: TypeAlias = dict[str, AttrValue]

SpanKind = Literal["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
StatusCode = Literal["UNSET", "OK", "ERROR"]
SPAN_KINDS: tuple[SpanKind, ...] = ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES: tuple[StatusCode, ...] = ("UNSET", "OK", "ERROR")

#: The harness phases. ``kind`` may hold any other string for spans recorded by other programs.
HARNESS_KINDS = (
    "run", "task_setup", "adapter_run", "tool_call", "container", "blast_radius", "verify", "cleanup",
)  # fmt: skip

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1


class RecordError(ValueError):
    """A JSON object is not a valid span record. ``str()`` says which field and why."""


@dataclass(frozen=True, slots=True)
class Status:
    code: StatusCode = "UNSET"
    message: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    time_unix_nano: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Link:
    trace_id: str
    span_id: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scope:
    name: str = ""
    version: str | None = None


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span. Times are Unix epoch nanoseconds; ids are lowercase hex."""

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

    @property
    def duration_ns(self) -> int:
        return self.end_time_unix_nano - self.start_time_unix_nano

    @property
    def is_error(self) -> bool:
        return self.status.code == "ERROR"

    def to_json_obj(self) -> dict[str, Any]:
        """The record as plain JSON values, in the schema's field order."""
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": self.kind,
            "span_kind": self.span_kind,
            "start_time_unix_nano": self.start_time_unix_nano,
            "end_time_unix_nano": self.end_time_unix_nano,
            "status": {"code": self.status.code, "message": self.status.message},
            "attributes": self.attributes,
            "events": [
                {"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": e.attributes}
                for e in self.events
            ],
            "links": [
                {"trace_id": lk.trace_id, "span_id": lk.span_id, "attributes": lk.attributes}
                for lk in self.links
            ],
            "resource": self.resource,
            "scope": {"name": self.scope.name, "version": self.scope.version},
        }

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
        _no_extra(o, _RECORD_KEYS, "")
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
        )


_RECORD_KEYS = {
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "span_kind",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "status",
    "attributes",
    "events",
    "links",
    "resource",
    "scope",
}
_MISSING = object()


_RECORD_KEY_SET = frozenset(_RECORD_KEYS)
_STATUS_KEYS = frozenset({"code", "message"})
_EVENT_KEYS = frozenset({"name", "time_unix_nano", "attributes"})
_LINK_KEYS = frozenset({"trace_id", "span_id", "attributes"})
_SCOPE_KEYS = frozenset({"name", "version"})
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def _ok_id(value: object, pattern: re.Pattern[str], zero: str) -> bool:
    return type(value) is str and value != zero and pattern.fullmatch(value) is not None


def _ok_time(value: object) -> bool:
    return type(value) is int and 0 <= value <= UINT64_MAX


def _ok_attrs(value: object) -> bool:
    if type(value) is not dict:
        return False
    # Inlined: this loop runs for every attribute of every span read.
    for v in value.values():
        t = type(v)
        if t is str or t is bool:
            continue
        if t is int:
            if not INT64_MIN <= v <= INT64_MAX:
                return False
        elif t is float:
            if not math.isfinite(v):
                return False
        elif not _plain_ok(v):
            return False
    return True


def _fast_record(o: object) -> SpanRecord | None:
    """The same rules as :meth:`SpanRecord._checked`, checked in bulk: a valid line (nearly
    every line) is built here; anything else returns None for the thorough path to explain."""
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


def check_attr_value(value: object, where: str) -> AttrValue:
    """Return ``value`` if it is a valid attribute value, else raise RecordError naming ``where``."""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise RecordError(f"{where}: integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RecordError(f"{where}: {value} is not a finite number")
        return value
    if isinstance(value, list):
        family: str | None = None
        for i, item in enumerate(value):
            if isinstance(item, list | dict) or item is None:
                raise RecordError(f"{where}[{i}]: lists may hold only strings, numbers or booleans")
            check_attr_value(item, f"{where}[{i}]")
            item_family = "bool" if isinstance(item, bool) else "str" if isinstance(item, str) else "number"
            if family is None:
                family = item_family
            elif item_family != family:
                raise RecordError(f"{where}: list mixes {family} and {item_family} values")
        return cast(AttrValue, value)
    kind = "null" if value is None else type(value).__name__
    raise RecordError(f"{where}: {kind} is not an attribute value (string, number, bool or list of one)")


def _plain_ok(value: object) -> bool:
    """Fast check for the common valid values; False sends the value to check_attr_value for
    a precise verdict and message."""
    t = type(value)
    if t is str or t is bool:
        return True
    if t is int:
        return INT64_MIN <= value <= INT64_MAX  # type: ignore[operator]
    if t is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if t is list:
        if not value:
            return True
        first = type(value[0])  # type: ignore[index]
        return (first is str or first is bool) and all(type(v) is first for v in value)  # type: ignore[attr-defined]
    return False


def parse_attributes(obj: object, where: str) -> Attributes:
    """Validate an attribute map (string keys, plain values)."""
    mapping = _object(obj, where)
    for key, value in mapping.items():
        if not _plain_ok(value):
            check_attr_value(value, f'{where}["{key}"]')
    return cast(Attributes, mapping)


def _event(obj: object, where: str) -> Event:
    o = _object(obj, where)
    _no_extra(o, {"name", "time_unix_nano", "attributes"}, f"{where}.")
    return Event(
        name=_string(o, "name", f"{where}."),
        time_unix_nano=_uint64(o, "time_unix_nano", f"{where}."),
        attributes=parse_attributes(_required(o, "attributes", f"{where}."), f"{where}.attributes"),
    )


def _link(obj: object, where: str) -> Link:
    o = _object(obj, where)
    _no_extra(o, {"trace_id", "span_id", "attributes"}, f"{where}.")
    return Link(
        trace_id=_hex_id(o, "trace_id", _TRACE_ID, 32, f"{where}."),
        span_id=_hex_id(o, "span_id", _SPAN_ID, 16, f"{where}."),
        attributes=parse_attributes(_required(o, "attributes", f"{where}."), f"{where}.attributes"),
    )


def _scope(obj: object) -> Scope:
    o = _object(obj, "scope")
    _no_extra(o, {"name", "version"}, "scope.")
    version = o.get("version")
    if version is not None and not isinstance(version, str):
        raise RecordError("scope.version must be a string or null")
    return Scope(_string(o, "name", "scope."), version)


def _object(obj: object, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise RecordError(f"{where} must be a JSON object, not {_json_type(obj)}")
    return obj


def _array(o: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = _required(o, key)
    if not isinstance(value, list):
        raise RecordError(f"{key} must be an array, not {_json_type(value)}")
    return value


def _required(o: Mapping[str, Any], key: str, prefix: str = "") -> Any:
    if key not in o:
        raise RecordError(f"missing field '{prefix}{key}'")
    return o[key]


def _no_extra(o: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    extra = sorted(set(o) - allowed)
    if extra:
        raise RecordError(f"unknown field '{prefix}{extra[0]}'")


def _string(o: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = _required(o, key, prefix)
    if not isinstance(value, str):
        raise RecordError(f"{prefix}{key} must be a string, not {_json_type(value)}")
    return value


def _uint64(o: Mapping[str, Any], key: str, prefix: str = "") -> int:
    value = _required(o, key, prefix)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT64_MAX:
        raise RecordError(f"{prefix}{key} must be a non-negative integer (nanoseconds), not {value!r}")
    return value


def _hex_id(o: Mapping[str, Any], key: str, pattern: re.Pattern[str], digits: int, prefix: str = "") -> str:
    value = _string(o, key, prefix)
    if not pattern.fullmatch(value):
        raise RecordError(f"{prefix}{key} must be {digits} lowercase hex digits, not {value!r}")
    if value == "0" * digits:
        raise RecordError(f"{prefix}{key} must not be all zeros (that is OpenTelemetry's invalid id)")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
