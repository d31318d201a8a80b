"""OTLP/JSON, both ways, keeping every field the format carries. Pure: stdlib and orjson.

As the OTLP specification's JSON encoding and the protobuf JSON mapping say: lowerCamelCase
keys (the proto's own snake_case names are accepted too), hex trace and span ids, enums as
integers or names, 64-bit integers as decimal strings or numbers, bytes as base64, NaN and
infinities as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. Unknown fields are
ignored, as OTLP/JSON receivers must.

Errors are :class:`RecordError` naming the span by its path in the document and its
``spanId``, and the problem in OTLP's own field names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson

from cab_trace.model.attr_values import attrs_to_json, from_any_value, otlp_any_value
from cab_trace.model.record import (
    SPAN_KINDS,
    UINT64_MAX,
    Attributes,
    Event,
    Link,
    RecordError,
    Scope,
    SpanKind,
    SpanRecord,
    Status,
    StatusCode,
)

KIND_ATTRIBUTE = "cab.kind"
"""Our ``kind`` (the harness phase) travels as this attribute in other formats."""

#: The top-level keys of the other OTLP signals: a Collector file exporter's file mixes them.
OTHER_SIGNALS = ("resourceLogs", "resourceMetrics", "resourceProfiles")
_OTHER_SIGNALS_SNAKE = ("resource_logs", "resource_metrics", "resource_profiles")

_KIND_TO_OTLP = {k: i + 1 for i, k in enumerate(SPAN_KINDS)}
_OTLP_TO_KIND: dict[int, SpanKind] = {v: k for k, v in _KIND_TO_OTLP.items()} | {0: "INTERNAL"}
_KIND_NAMES: dict[str, int] = {f"SPAN_KIND_{k}": v for k, v in _KIND_TO_OTLP.items()} | {
    "SPAN_KIND_UNSPECIFIED": 0
}
_STATUS_TO_OTLP: dict[str, int] = {"UNSET": 0, "OK": 1, "ERROR": 2}
_OTLP_TO_STATUS: dict[int, StatusCode] = {0: "UNSET", 1: "OK", 2: "ERROR"}
_STATUS_NAMES = {f"STATUS_CODE_{k}": v for k, v in _STATUS_TO_OTLP.items()}
_UINT32_MAX = 2**32 - 1


def signal_of(obj: object) -> str | None:
    """Which OTLP signal a parsed JSON object holds: ``"traces"``, the key of another signal
    (e.g. ``"resourceLogs"``), or None when it is not an OTLP data object."""
    if not isinstance(obj, dict):
        return None
    if "resourceSpans" in obj or "resource_spans" in obj:
        return "traces"
    for camel, snake in zip(OTHER_SIGNALS, _OTHER_SIGNALS_SNAKE, strict=True):
        if camel in obj or snake in obj:
            return camel
    return None


# -- writing ------------------------------------------------------------------------------------


def _key_values(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": k, "value": otlp_any_value(v)} for k, v in attributes.items()]


UNSPECIFIED = "unspecified"
"""The ``kind`` of a span whose OTLP kind was SPAN_KIND_UNSPECIFIED (its span_kind is INTERNAL,
as the spec says to assume): kept so that writing it back writes 0 again."""


def _unspecified(record: SpanRecord) -> bool:
    return record.kind == UNSPECIFIED and record.span_kind == "INTERNAL"


def _with_kind(record: SpanRecord) -> Attributes:
    # A span from another tool has kind = its span kind: nothing to carry, so nothing added.
    if record.kind == record.span_kind.lower() or _unspecified(record):
        return record.attributes
    return {KIND_ATTRIBUTE: record.kind, **record.attributes}


def otlp_span(record: SpanRecord) -> dict[str, Any]:
    """One span in OTLP/JSON form (``cab.kind`` carries our phase when it says anything)."""
    span: dict[str, Any] = {
        "traceId": record.trace_id,
        "spanId": record.span_id,
        "parentSpanId": record.parent_span_id or "",
        "name": record.name,
        "kind": 0 if _unspecified(record) else _KIND_TO_OTLP[record.span_kind],
        "startTimeUnixNano": str(record.start_time_unix_nano),
        "endTimeUnixNano": str(record.end_time_unix_nano),
        "attributes": _key_values(_with_kind(record)),
        "events": [_event(e) for e in record.events],
        "links": [_link(lk) for lk in record.links],
        "status": {"code": _STATUS_TO_OTLP[record.status.code]},
    }
    if record.status.message:
        span["status"]["message"] = record.status.message
    if record.trace_state:
        span["traceState"] = record.trace_state
    if record.flags:
        span["flags"] = record.flags
    for key, value in (
        ("droppedAttributesCount", record.dropped_attributes_count),
        ("droppedEventsCount", record.dropped_events_count),
        ("droppedLinksCount", record.dropped_links_count),
    ):
        if value:
            span[key] = value
    return span


def _event(e: Event) -> dict[str, Any]:
    out: dict[str, Any] = {
        "timeUnixNano": str(e.time_unix_nano),
        "name": e.name,
        "attributes": _key_values(e.attributes),
    }
    if e.dropped_attributes_count:
        out["droppedAttributesCount"] = e.dropped_attributes_count
    return out


def _link(lk: Link) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": lk.trace_id,
        "spanId": lk.span_id,
        "attributes": _key_values(lk.attributes),
    }
    if lk.trace_state:
        out["traceState"] = lk.trace_state
    if lk.flags:
        out["flags"] = lk.flags
    if lk.dropped_attributes_count:
        out["droppedAttributesCount"] = lk.dropped_attributes_count
    return out


def _attrs_key(attributes: Attributes) -> bytes:
    return orjson.dumps(attrs_to_json(attributes), option=orjson.OPT_SORT_KEYS)


def traces_data(records: Iterable[SpanRecord]) -> dict[str, Any]:
    """A ``TracesData`` object: spans grouped by resource, then by scope, in first-seen order."""
    by_resource: dict[tuple[bytes, str, int], tuple[SpanRecord, dict[tuple[Any, ...], list[SpanRecord]]]] = {}
    for r in records:
        rkey = (_attrs_key(r.resource), r.resource_schema_url, r.resource_dropped_attributes_count)
        scopes = by_resource.setdefault(rkey, (r, {}))[1]
        s = r.scope
        skey = (s.name, s.version, _attrs_key(s.attributes), s.dropped_attributes_count, s.schema_url)
        scopes.setdefault(skey, []).append(r)
    resource_spans = []
    for first, scopes in by_resource.values():
        resource: dict[str, Any] = {"attributes": _key_values(first.resource)}
        if first.resource_dropped_attributes_count:
            resource["droppedAttributesCount"] = first.resource_dropped_attributes_count
        scope_spans = []
        for spans in scopes.values():
            s = spans[0].scope
            scope: dict[str, Any] = {"name": s.name}
            if s.version is not None:
                scope["version"] = s.version
            if s.attributes:
                scope["attributes"] = _key_values(s.attributes)
            if s.dropped_attributes_count:
                scope["droppedAttributesCount"] = s.dropped_attributes_count
            entry: dict[str, Any] = {"scope": scope, "spans": [otlp_span(r) for r in spans]}
            if s.schema_url:
                entry["schemaUrl"] = s.schema_url
            scope_spans.append(entry)
        rs: dict[str, Any] = {"resource": resource, "scopeSpans": scope_spans}
        if first.resource_schema_url:
            rs["schemaUrl"] = first.resource_schema_url
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}


#: Spans per line when writing: the Collector's file exporter writes a line per batch, too.
LINE_SPANS = 512


def write_otlp_lines(records: Iterable[SpanRecord], out: IO[bytes]) -> tuple[int, int]:
    """OTLP/JSON lines, streamed: one ``TracesData`` line per run of up to :data:`LINE_SPANS`
    consecutive spans of one trace. Returns (spans, traces) written."""
    spans = 0
    traces: set[str] = set()
    batch: list[SpanRecord] = []
    for r in records:
        if batch and (len(batch) >= LINE_SPANS or r.trace_id != batch[0].trace_id):
            out.write(orjson.dumps(traces_data(batch)) + b"\n")
            batch = []
        batch.append(r)
        spans += 1
        traces.add(r.trace_id)
    if batch:
        out.write(orjson.dumps(traces_data(batch)) + b"\n")
    return spans, len(traces)


# -- reading ------------------------------------------------------------------------------------


def _get(o: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    value = o.get(camel, _ABSENT)
    if value is _ABSENT:
        value = o.get(snake, default)
    return default if value is None else value


_ABSENT = object()


def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{where} must be an object, not {json_kind(value)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{where} must be an array, not {json_kind(value)}")
    return value


def json_kind(value: Any) -> str:
    """How an error names a JSON value of the wrong type (``a string``, ``an array``, ``5``)."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return repr(value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{where} must be a string, not {json_kind(value)}")
    return value


def _int(value: Any, where: str, maximum: int, what: str = "an integer") -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None or not 0 <= number <= maximum:
        raise RecordError(f"{where} must be {what}, not {value!r}")
    return number


def _nanos(value: Any, where: str) -> int:
    return _int(value, where, UINT64_MAX, "a non-negative integer (nanoseconds since the epoch)")


def _count(o: dict[str, Any], where: str) -> int:
    field = f"{where}.droppedAttributesCount" if where else "droppedAttributesCount"
    return _int(_get(o, "droppedAttributesCount", "dropped_attributes_count", 0), field, _UINT32_MAX)


def _id(value: Any, digits: int, where: str, optional: bool = False) -> str | None:
    if optional and value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) != digits:
        raise RecordError(f"{where} must be {digits} hex digits, not {value!r}")
    lowered = value.lower()
    if lowered.strip("0123456789abcdef"):
        raise RecordError(f"{where} must be {digits} hex digits, not {value!r}")
    if lowered == "0" * digits:
        if optional:
            return None
        raise RecordError(f"{where} must not be all zeros (that is OpenTelemetry's invalid id)")
    return lowered


def _enum(value: Any, names: dict[str, int], where: str) -> int:
    if isinstance(value, str):
        if value in names:
            return names[value]
        raise RecordError(f"{where}: unknown value {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RecordError(f"{where} must be an enum number or name, not {value!r}")


def _attributes(items: Any, where: str) -> Attributes:
    out: Attributes = {}
    for i, kv in enumerate(_list(items, where)):
        # The protobuf JSON mapping leaves out fields holding their default: a missing key is "".
        if not isinstance(kv, dict):
            raise RecordError(f"{where}[{i}] must be a {{key, value}} object, not {json_kind(kv)}")
        key = kv.get("key", "")
        if not isinstance(key, str):
            raise RecordError(f"{where}[{i}].key must be a string, not {json_kind(key)}")
        out[key] = from_any_value(kv.get("value") or {}, f"{where}[{i}].value")
    return out


def records_from_traces_data(obj: Any, where: str = "") -> Iterator[SpanRecord]:
    """Span records from one parsed ``TracesData`` (or ``ExportTraceServiceRequest``) object.

    Raises:
        RecordError: naming the span (path and ``spanId``) and the problem in OTLP's terms.
    """
    if not isinstance(obj, dict) or signal_of(obj) != "traces":
        raise RecordError("not an OTLP TracesData object (no resourceSpans)")
    prefix = f"{where}." if where else ""
    for ri, rs_value in enumerate(
        _list(_get(obj, "resourceSpans", "resource_spans"), f"{prefix}resourceSpans")
    ):
        rwhere = f"{prefix}resourceSpans[{ri}]"
        rs = _obj(rs_value, rwhere)
        res = _obj(rs.get("resource"), f"{rwhere}.resource")
        resource = _attributes(res.get("attributes"), f"{rwhere}.resource.attributes")
        res_dropped = _count(res, f"{rwhere}.resource")
        res_schema = _str(_get(rs, "schemaUrl", "schema_url", ""), f"{rwhere}.schemaUrl")
        for si, ss_value in enumerate(_list(_get(rs, "scopeSpans", "scope_spans"), f"{rwhere}.scopeSpans")):
            swhere = f"{rwhere}.scopeSpans[{si}]"
            ss = _obj(ss_value, swhere)
            sc = _obj(ss.get("scope"), f"{swhere}.scope")
            version = sc.get("version")
            scope = Scope(
                _str(sc.get("name") or "", f"{swhere}.scope.name"),
                None if version is None else _str(version, f"{swhere}.scope.version"),
                _attributes(sc.get("attributes"), f"{swhere}.scope.attributes"),
                _count(sc, f"{swhere}.scope"),
                _str(_get(ss, "schemaUrl", "schema_url", ""), f"{swhere}.schemaUrl"),
            )
            for pi, sp_value in enumerate(_list(ss.get("spans"), f"{swhere}.spans")):
                pwhere = f"{swhere}.spans[{pi}]"
                sp = _obj(sp_value, pwhere)
                try:
                    yield _span(sp, resource, res_dropped, res_schema, scope)
                except RecordError as exc:
                    span_id = sp.get("spanId", sp.get("span_id"))
                    named = f" (spanId {span_id!r})" if isinstance(span_id, str) and span_id else ""
                    raise RecordError(f"{pwhere}{named}: {exc}") from None


def _span(
    sp: dict[str, Any], resource: Attributes, res_dropped: int, res_schema: str, scope: Scope
) -> SpanRecord:
    attributes = _attributes(sp.get("attributes"), "attributes")
    kind_attr = attributes.pop(KIND_ATTRIBUTE, None)
    kind_number = _enum(sp.get("kind") or 0, _KIND_NAMES, "kind")
    span_kind = _OTLP_TO_KIND.get(kind_number, "INTERNAL")
    status = _obj(sp.get("status"), "status")
    code = _OTLP_TO_STATUS.get(_enum(status.get("code") or 0, _STATUS_NAMES, "status.code"))
    if code is None:
        raise RecordError(f"status.code must be 0, 1 or 2, not {status.get('code')!r}")
    start = _nanos(_get(sp, "startTimeUnixNano", "start_time_unix_nano", 0), "startTimeUnixNano")
    end = _nanos(_get(sp, "endTimeUnixNano", "end_time_unix_nano", 0), "endTimeUnixNano")
    if end < start:
        raise RecordError(f"endTimeUnixNano ({end}) is before startTimeUnixNano ({start})")
    events = []
    for i, e_value in enumerate(_list(sp.get("events"), "events")):
        e = _obj(e_value, f"events[{i}]")
        events.append(
            Event(
                _str(e.get("name") or "", f"events[{i}].name"),
                _nanos(_get(e, "timeUnixNano", "time_unix_nano", 0), f"events[{i}].timeUnixNano"),
                _attributes(e.get("attributes"), f"events[{i}].attributes"),
                _count(e, f"events[{i}]"),
            )
        )
    links = []
    for i, lk_value in enumerate(_list(sp.get("links"), "links")):
        lk = _obj(lk_value, f"links[{i}]")
        links.append(
            Link(
                _id(_get(lk, "traceId", "trace_id"), 32, f"links[{i}].traceId") or "",
                _id(_get(lk, "spanId", "span_id"), 16, f"links[{i}].spanId") or "",
                _attributes(lk.get("attributes"), f"links[{i}].attributes"),
                _str(_get(lk, "traceState", "trace_state", ""), f"links[{i}].traceState"),
                _int(lk.get("flags") or 0, f"links[{i}].flags", _UINT32_MAX),
                _count(lk, f"links[{i}]"),
            )
        )
    return SpanRecord(
        trace_id=_id(_get(sp, "traceId", "trace_id"), 32, "traceId") or "",
        span_id=_id(_get(sp, "spanId", "span_id"), 16, "spanId") or "",
        parent_span_id=_id(_get(sp, "parentSpanId", "parent_span_id"), 16, "parentSpanId", optional=True),
        name=_str(sp.get("name") or "", "name"),
        kind=kind_attr
        if isinstance(kind_attr, str)
        else UNSPECIFIED
        if kind_number == 0
        else span_kind.lower(),
        span_kind=span_kind,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status=Status(code, _str(status.get("message") or "", "status.message")),
        attributes=attributes,
        events=events,
        links=links,
        resource=resource,
        scope=scope,
        trace_state=_str(_get(sp, "traceState", "trace_state", ""), "traceState"),
        flags=_int(sp.get("flags") or 0, "flags", _UINT32_MAX),
        dropped_attributes_count=_count(sp, ""),
        dropped_events_count=_int(
            _get(sp, "droppedEventsCount", "dropped_events_count", 0), "droppedEventsCount", _UINT32_MAX
        ),
        dropped_links_count=_int(
            _get(sp, "droppedLinksCount", "dropped_links_count", 0), "droppedLinksCount", _UINT32_MAX
        ),
        resource_schema_url=res_schema,
        resource_dropped_attributes_count=res_dropped,
    )
