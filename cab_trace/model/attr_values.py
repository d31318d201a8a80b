"""Attribute values: their types, their validation, and the OTLP ``AnyValue`` codec.

An attribute map holds JSON's own values (strings, booleans, 64-bit integers, finite floats,
lists of one of these); a value JSON cannot hold plainly (bytes, a key-value list, a mixed or
nested list, NaN, the empty value) is written as its OTLP/JSON ``AnyValue`` object. Pure: stdlib
only.

Separate from :mod:`.record` because it is a job of its own, one value at a time, that the
record, the OTLP/JSON and Jaeger readers, the SDK conversion and the viewers all use; the record
model imports it, not the other way round.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import re
from collections.abc import Callable
from typing import Any, TypeAlias, cast

from cab_trace.model.record_fields import INT64_MAX, INT64_MIN, RecordError, _json_type, _object

Scalar: TypeAlias = str | bool | int | float
AttrValue: TypeAlias = Scalar | list[str] | list[bool] | list[int] | list[float] | list[int | float]
"""What the recorder writes: JSON's own values."""
AnyAttrValue: TypeAlias = AttrValue | bytes | dict[str, Any] | list[Any] | None
"""Any OpenTelemetry ``AnyValue`` a foreign trace may hold: besides :data:`AttrValue`, bytes, a
key-value list (a dict), a list mixing types or nesting, NaN or infinity, and the empty value
(None). JSON cannot hold these plainly: see :func:`attr_to_json`."""
Attributes: TypeAlias = dict[str, AnyAttrValue]


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
    """Whether a value is written as plain JSON: :func:`_plain_ok`'s verdict, and for a list it
    turns down (numbers, or a mix), the exact check's."""
    if _plain_ok(value):
        return True
    if type(value) is list:
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


#: How deep lists and key-value lists may nest in one value. Each level is three levels of JSON
#: when written (``{"arrayValue": {"values": [...]}}``), and a JSON writer has a depth limit
#: (orjson's is 254): a value read but not writable would fail every export of the trace, and
#: the recorder writing an agent's span. Sixty-four is far beyond what any tool sends.
MAX_VALUE_DEPTH = 64


def from_any_value(obj: object, where: str, depth: int = 0) -> AnyAttrValue:
    """Decode an OTLP/JSON ``AnyValue`` (the empty object is the empty value, None).

    Raises:
        RecordError: naming ``where`` and the problem, in OTLP's field names.
    """
    if depth > MAX_VALUE_DEPTH:
        raise RecordError(f"{where}: lists nest deeper than {MAX_VALUE_DEPTH} levels")
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: an AnyValue must be an object, not {_json_type(obj)}")
    if not obj:
        return None
    if len(obj) != 1:
        raise RecordError(f"{where}: an AnyValue holds one of its fields, not {', '.join(sorted(obj))}")
    ((kind, v),) = obj.items()
    name = str(kind)
    field = _CAMEL.get(name, name)
    if field == "arrayValue":
        return _array_value(v, where, depth + 1)
    if field == "kvlistValue":
        return _kvlist_value(v, where, depth + 1)
    decode = _ANY_VALUE_DECODERS.get(field)
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


def _array_value(v: object, where: str, depth: int) -> AnyAttrValue:
    items = _values_list(v, f"{where}.arrayValue")
    return [from_any_value(x, f"{where}.arrayValue.values[{i}]", depth) for i, x in enumerate(items)]


def _kvlist_value(v: object, where: str, depth: int) -> AnyAttrValue:
    out: dict[str, AnyAttrValue] = {}
    for i, kv in enumerate(_values_list(v, f"{where}.kvlistValue")):
        inner = f"{where}.kvlistValue.values[{i}]"
        if not isinstance(kv, dict) or not isinstance(kv.get("key", ""), str):
            raise RecordError(f"{inner}: must be an object with a string key")
        out[kv.get("key", "")] = from_any_value(kv.get("value", {}), f"{inner}.value", depth)
    return out


_ANY_VALUE_DECODERS: dict[str, Callable[[object, str], AnyAttrValue]] = {
    "stringValue": _string_value,
    "boolValue": _bool_value,
    "intValue": _int_value,
    "doubleValue": _double_value,
    "bytesValue": _bytes_value,
}
#: The protobuf JSON mapping accepts the proto's own field names too.
_CAMEL = {
    re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), k): k
    for k in (*_ANY_VALUE_DECODERS, "arrayValue", "kvlistValue")
}


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
