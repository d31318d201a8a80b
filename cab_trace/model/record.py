"""The span record: one finished span, self-contained, as one line of a JSONL file.

Pure: stdlib only. The field names and rules here are the ones in
``schemas/span-record.v1.schema.json``; ``tests/unit/test_schema.py`` keeps the two in step.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

Scalar: TypeAlias = str | bool | int | float
AttrValue: TypeAlias = Scalar | list[str] | list[bool] | list[int] | list[float] | list[int | float]
"""What the recorder writes: JSON's own values."""
AnyAttrValue: TypeAlias = AttrValue | bytes | dict[str, Any] | list[Any] | None
"""Any OpenTelemetry ``AnyValue`` a foreign trace may hold: besides :data:`AttrValue`, bytes, a
key-value list (a dict), a list mixing types or nesting, NaN or infinity, and the empty value
(None). JSON cannot hold these plainly: see :func:`attr_to_json`."""
Attributes: TypeAlias = dict[str, AnyAttrValue]

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
UINT32_MAX = 2**32 - 1


#: The keys in the writer's order (a line in another order is compared as a set).
_RECORD_KEY_LIST = [
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
]
_RECORD_KEY_SET = frozenset(_RECORD_KEY_LIST)
_STATUS_KEYS = frozenset({"code", "message"})
_EVENT_KEYS = frozenset({"name", "time_unix_nano", "attributes"})
_LINK_KEYS = frozenset({"trace_id", "span_id", "attributes"})
_SCOPE_KEYS = frozenset({"name", "version"})
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


def _ok_id(value: object, pattern: re.Pattern[str], zero: str) -> bool:
    # ``pattern`` is what this checks (lowercase hex of zero's length); stripping the hex digits
    # off in C is several times faster than the regular expression, on every id of every line.
    return type(value) is str and len(value) == len(zero) and value != zero and not value.strip(_HEX)


_HEX = "0123456789abcdef"


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


def fast_check(o: object) -> bool:
    """Whether ``o`` is a valid record line of the common shape (no optional field, plain
    attribute values), by the same rules as :meth:`SpanRecord._checked` checked in bulk, without
    building anything: `validate` needs only the verdict. False is "ask the thorough path",
    not "invalid".

    :func:`_ok_id` and :func:`_ok_time` are inlined here (this runs once per line of a file, and
    a call costs as much as the check): the three ids are checked for hex digits in one strip of
    their concatenation; both attribute maps' values are checked in one call."""
    if type(o) is not dict or ([*o] != _RECORD_KEY_LIST and o.keys() != _RECORD_KEY_SET):
        return False
    trace_id, span_id, parent = o["trace_id"], o["span_id"], o["parent_span_id"]
    if parent is None:
        parent = _ONE_SPAN  # a valid id, so that one test covers both cases
    start, end = o["start_time_unix_nano"], o["end_time_unix_nano"]
    status, scope = o["status"], o["scope"]
    if not (
        type(trace_id) is str
        and type(span_id) is str
        and type(parent) is str
        and len(trace_id) == 32
        and len(span_id) == 16
        and len(parent) == 16
        and trace_id != _ZERO_TRACE
        and _ZERO_SPAN not in (span_id, parent)
        and not (trace_id + span_id + parent).strip(_HEX)
        and type(o["name"]) is str
        and type(o["kind"]) is str
        and o["span_kind"] in SPAN_KINDS
        and type(start) is int
        and type(end) is int
        and 0 <= start <= end <= UINT64_MAX
        and type(status) is dict
        and len(status) == 2  # and both keys: exactly these two
        and status.get("code") in STATUS_CODES
        and type(status.get("message")) is str
        and type(scope) is dict
        and len(scope) == 2
        and type(scope.get("name")) is str
        and "version" in scope
        and (scope["version"] is None or type(scope["version"]) is str)
    ):
        return False
    attributes, resource, events, links = o["attributes"], o["resource"], o["events"], o["links"]
    if type(attributes) is not dict or type(resource) is not dict:
        return False
    if not _ok_values((*attributes.values(), *resource.values())):
        return False
    return (
        type(events) is list
        and type(links) is list
        and (not events or all(map(_ok_event, events)))
        and (not links or all(map(_ok_link, links)))
    )


_ONE_SPAN = "0" * 15 + "1"


def _ok_values(values: tuple[object, ...]) -> bool:
    """:func:`_ok_attrs` of a map's values (of several maps' at once)."""
    for v in values:
        t = type(v)
        if t is str or t is bool:
            continue
        if t is int:
            if not INT64_MIN <= v <= INT64_MAX:  # type: ignore[operator]
                return False
        elif t is float:
            if not math.isfinite(v):  # type: ignore[arg-type]
                return False
        elif t is list:
            try:
                "".join(v)  # type: ignore[arg-type]  # a list of strings (the common list): one C call
            except TypeError:
                if not _plain_ok(v):
                    return False
        elif not _plain_ok(v):
            return False
    return True


def _ok_event(e: object) -> bool:
    return (
        type(e) is dict
        and e.keys() == _EVENT_KEYS
        and type(e["name"]) is str
        and _ok_time(e["time_unix_nano"])
        and _ok_attrs(e["attributes"])
    )


def _ok_link(lk: object) -> bool:
    return (
        type(lk) is dict
        and lk.keys() == _LINK_KEYS
        and _ok_id(lk["trace_id"], _TRACE_ID, _ZERO_TRACE)
        and _ok_id(lk["span_id"], _SPAN_ID, _ZERO_SPAN)
        and _ok_attrs(lk["attributes"])
    )


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
        # One C-level pass (the set of the items' types), not a generator per item.
        return (first is str or first is bool) and set(map(type, value)) == {first}  # type: ignore[call-overload]
    return False


def parse_attributes(obj: object, where: str) -> Attributes:
    """Validate an attribute map (string keys, plain values, or OTLP ``AnyValue`` objects for
    what JSON cannot hold plainly) and return it with those objects decoded."""
    mapping = _object(obj, where)
    decoded: dict[str, AnyAttrValue] | None = None
    for key, value in mapping.items():
        if type(value) is dict:
            if decoded is None:
                decoded = dict(mapping)
            decoded[key] = from_any_value(value, f'{where}["{key}"]')
        elif not _plain_ok(value):
            check_attr_value(value, f'{where}["{key}"]')
    return decoded if decoded is not None else cast(Attributes, mapping)


# -- attribute values beyond JSON's own --------------------------------------------------------
#
# A value JSON cannot hold plainly (bytes, a key-value list, a list mixing types, NaN, the empty
# value) is written as the OTLP/JSON ``AnyValue`` object it would be in an OTLP file, e.g.
# ``{"bytesValue": "aGk="}``; every other value stays the plain JSON it always was.

_NON_FINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _plain_value(value: object) -> bool:
    t = type(value)
    if t is str or t is bool:
        return True
    if t is int:
        return INT64_MIN <= value <= INT64_MAX  # type: ignore[operator]
    if t is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if t is list:
        try:
            check_attr_value(value, "")
        except RecordError:
            return False
        return True
    return False


def attrs_to_json(attributes: Attributes) -> dict[str, Any]:
    """An attribute map as JSON values (the same dict when every value is plain, nearly always)."""
    for value in attributes.values():
        if not _plain_value(value):
            return {k: attr_to_json(v) for k, v in attributes.items()}
    return attributes


def attr_to_json(value: AnyAttrValue) -> Any:
    """One attribute value as JSON: itself when plain, else its OTLP/JSON ``AnyValue``."""
    return value if _plain_value(value) else otlp_any_value(value)


def otlp_any_value(value: AnyAttrValue) -> dict[str, Any]:
    """The OTLP/JSON ``AnyValue`` of a value (the protobuf JSON mapping: 64-bit integers as
    decimal strings, bytes as base64, NaN and infinities as the strings "NaN", "Infinity")."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": otlp_any_value(v)} for k, v in value.items()]}}
    return {"arrayValue": {"values": [otlp_any_value(v) for v in value]}}


def from_any_value(obj: object, where: str) -> AnyAttrValue:
    """Decode an OTLP/JSON ``AnyValue`` (the empty object is the empty value, None).

    Raises:
        RecordError: naming ``where`` and the problem, in OTLP's field names.
    """
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: an AnyValue must be an object, not {_json_type(obj)}")
    if not obj:
        return None
    if len(obj) != 1:
        raise RecordError(f"{where}: an AnyValue holds one of its fields, not {', '.join(sorted(obj))}")
    ((kind, v),) = obj.items()
    name = str(kind)
    decode = _ANY_VALUE_DECODERS.get(_CAMEL.get(name, name))
    if decode is None:
        raise RecordError(f"{where}: unknown AnyValue field {kind!r}")
    return decode(v, where)


def _string_value(v: object, where: str) -> AnyAttrValue:
    if not isinstance(v, str):
        raise RecordError(f"{where}: stringValue must be a string, not {_json_type(v)}")
    return v


def _bool_value(v: object, where: str) -> AnyAttrValue:
    if not isinstance(v, bool):
        raise RecordError(f"{where}: boolValue must be true or false, not {v!r}")
    return v


def _int_value(v: object, where: str) -> AnyAttrValue:
    number = _json_int(v)
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise RecordError(f"{where}: intValue {v!r} is not a 64-bit integer")
    return number


def _double_value(v: object, where: str) -> AnyAttrValue:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        if v in _NON_FINITE_TEXT:
            return _NON_FINITE_TEXT[v]
        with contextlib.suppress(ValueError):
            return float(v)
    raise RecordError(f"{where}: doubleValue {v!r} is not a number")


def _bytes_value(v: object, where: str) -> AnyAttrValue:
    if not isinstance(v, str):
        raise RecordError(f"{where}: bytesValue must be a base64 string, not {_json_type(v)}")
    try:  # the protobuf JSON mapping accepts standard and URL-safe base64, padded or not
        return base64.b64decode(v.replace("-", "+").replace("_", "/") + "=" * (-len(v) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"{where}: bytesValue {v[:40]!r} is not base64") from None


def _array_value(v: object, where: str) -> AnyAttrValue:
    items = _values_list(v, f"{where}.arrayValue")
    return [from_any_value(x, f"{where}.arrayValue.values[{i}]") for i, x in enumerate(items)]


def _kvlist_value(v: object, where: str) -> AnyAttrValue:
    out: dict[str, AnyAttrValue] = {}
    for i, kv in enumerate(_values_list(v, f"{where}.kvlistValue")):
        inner = f"{where}.kvlistValue.values[{i}]"
        if not isinstance(kv, dict) or not isinstance(kv.get("key", ""), str):
            raise RecordError(f"{inner}: must be an object with a string key")
        out[kv.get("key", "")] = from_any_value(kv.get("value", {}), f"{inner}.value")
    return out


_ANY_VALUE_DECODERS: dict[str, Callable[[object, str], AnyAttrValue]] = {
    "stringValue": _string_value,
    "boolValue": _bool_value,
    "intValue": _int_value,
    "doubleValue": _double_value,
    "bytesValue": _bytes_value,
    "arrayValue": _array_value,
    "kvlistValue": _kvlist_value,
}
#: The protobuf JSON mapping accepts the proto's own field names too.
_CAMEL = {re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), k): k for k in _ANY_VALUE_DECODERS}


def _values_list(v: object, where: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, dict):
        raise RecordError(f"{where} must be an object with a values list, not {_json_type(v)}")
    items = v.get("values", [])
    if items is None:
        return []
    if not isinstance(items, list):
        raise RecordError(f"{where}.values must be an array, not {_json_type(items)}")
    return items


def _json_int(v: object) -> int | None:
    """A protobuf JSON integer: a number without a fraction, or a decimal string."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            return None
    return None


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


def _optional_string(o: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = o.get(key, "")
    if not isinstance(value, str):
        raise RecordError(f"{prefix}{key} must be a string, not {_json_type(value)}")
    return value


def _uint32(o: Mapping[str, Any], key: str, prefix: str = "") -> int:
    value = o.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT32_MAX:
        raise RecordError(f"{prefix}{key} must be an integer from 0 to {UINT32_MAX}, not {value!r}")
    return value


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


def _no_extra(o: Mapping[str, Any], allowed: AbstractSet[str], prefix: str) -> None:
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
