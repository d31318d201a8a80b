"""The span record's vocabulary and the readers of its JSON fields.

The span kinds and status codes, the integer limits and id patterns of
``schemas/span-record.v1.schema.json``, the top-level keys, :class:`RecordError`, and the small
readers (``_required``, ``_string``, ``_uint64``, ...) that take one field out of a parsed JSON
object or raise an error naming it. Pure: stdlib only.

Separate because three modules apply these rules: the strict parser (:mod:`.record`), the bulk
check (:mod:`.record_fast`) and the attribute codec (:mod:`.attr_values`); keeping them here lets
each import them without importing the others, so there is no import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Literal

SpanKind = Literal["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
StatusCode = Literal["UNSET", "OK", "ERROR"]
SPAN_KINDS: tuple[SpanKind, ...] = ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES: tuple[StatusCode, ...] = ("UNSET", "OK", "ERROR")

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1


class RecordError(ValueError):
    """A JSON object is not a valid span record. ``str()`` says which field and why."""


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
