"""The fast path of record validation: the common shape of a valid line, checked in bulk.

:func:`fast_check` gives `validate` its verdict without building anything; the ``_ok_*``
helpers are the same checks one field at a time, which :func:`cab_trace.model.record._fast_record`
uses to build a record. A False is "ask the thorough path" (:meth:`SpanRecord._checked`), never
"invalid". Pure: stdlib only.

Separate from :mod:`.record` because it is a second, measured implementation of the same rules,
tuned for speed rather than for messages; ``tests/unit/test_record.py`` and
``tests/unit/test_validate.py`` keep it in agreement with the exact parser and the schema.
"""

from __future__ import annotations

import math
import re

from cab_trace.model.attr_values import _plain_ok
from cab_trace.model.record_fields import (
    _RECORD_KEY_LIST,
    _RECORD_KEY_SET,
    _SPAN_ID,
    _TRACE_ID,
    INT64_MAX,
    INT64_MIN,
    SPAN_KINDS,
    STATUS_CODES,
    UINT64_MAX,
)

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
