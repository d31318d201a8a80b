"""Jaeger JSON, both ways, as Jaeger UI downloads and uploads it. Pure: stdlib and orjson.

``{"data": [{"traceID", "spans", "processes"}]}``, or one trace object on its own (which Jaeger
UI's upload also takes); microsecond times, tags, logs, ``CHILD_OF`` / ``FOLLOWS_FROM``
references. Times are written so that Jaeger UI computes what the trace says: Jaeger UI takes
a span's end as ``startTime + duration`` and the trace's end as the latest of those
(``transformTraceData``), so a span's duration is written as its end in whole microseconds
minus its start in whole microseconds (truncating the length in nanoseconds instead, as
Jaeger's OTLP translator does, puts the end 1 µs early whenever the start has a fraction of a
microsecond left over). The scope goes as ``otel.library.name`` / ``otel.library.version``
(what Jaeger UI's OTel view reads), the trace state as ``w3c.tracestate``.

Ids: Jaeger UI takes any string as an id (its own fixtures use ``trace-123``). An id that is not
hex is read as a hex id derived from it (sha256, so the same string always gives the same id
and parents still match), the original kept as ``jaeger.trace_id`` / ``jaeger.span_id`` /
``jaeger.parent_span_id``, and the reader warns once per document.

Errors are :class:`RecordError` naming the span (``data[0].spans[3]`` and its ``spanID``) and the
problem in Jaeger's field names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, cast

import orjson

from cab_trace.model.attr_values import attr_to_json, attrs_to_json
from cab_trace.model.otlp_json import KIND_ATTRIBUTE, UNSPECIFIED, json_kind
from cab_trace.model.record import (
    INT64_MAX,
    INT64_MIN,
    SPAN_KINDS,
    UINT64_MAX,
    AnyAttrValue,
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

#: Tags that carry span fields, not attributes, in Jaeger's OTLP translation.
SCOPE_NAME_TAGS = ("otel.library.name", "otel.scope.name")
SCOPE_VERSION_TAGS = ("otel.library.version", "otel.scope.version")
TRACE_STATE_TAG = "w3c.tracestate"


def _tag(key: str, value: AnyAttrValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"key": key, "type": "float64", "value": value}
        return {"key": key, "type": "string", "value": str(value)}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode("ascii")}
    # Jaeger has no list or map type: the value's JSON text, as Jaeger's own OTLP receiver does.
    return {"key": key, "type": "string", "value": orjson.dumps(attr_to_json(value)).decode()}


def _service_name(resource: Attributes) -> str:
    """Jaeger's serviceName is a string; any other value goes as its JSON text."""
    value = resource.get("service.name", "unknown_service")
    return value if isinstance(value, str) else orjson.dumps(attr_to_json(value)).decode()


def jaeger_span(r: SpanRecord, process_id: str) -> dict[str, Any]:
    """One span as Jaeger JSON."""
    unspecified = r.kind == UNSPECIFIED and r.span_kind == "INTERNAL"
    tags = [] if r.kind == r.span_kind.lower() or unspecified else [_tag(KIND_ATTRIBUTE, r.kind)]
    tags += [_tag(k, v) for k, v in r.attributes.items()]
    if not unspecified:  # as Jaeger's translator: no span.kind tag for an unspecified kind
        tags.append(_tag("span.kind", r.span_kind.lower()))
    if r.status.code != "UNSET":
        tags.append(_tag("otel.status_code", r.status.code))
    if r.status.message:
        tags.append(_tag("otel.status_description", r.status.message))
    if r.is_error:
        tags.append(_tag("error", True))
    if r.scope.name:
        tags.append(_tag("otel.library.name", r.scope.name))
    if r.scope.version:
        tags.append(_tag("otel.library.version", r.scope.version))
    if r.trace_state:
        tags.append(_tag(TRACE_STATE_TAG, r.trace_state))
    references = (
        [{"refType": "CHILD_OF", "traceID": r.trace_id, "spanID": r.parent_span_id}]
        if r.parent_span_id
        else []
    )
    references += [
        {"refType": "FOLLOWS_FROM", "traceID": lk.trace_id, "spanID": lk.span_id} for lk in r.links
    ]
    return {
        "traceID": r.trace_id,
        "spanID": r.span_id,
        "operationName": r.name,
        "references": references,
        "startTime": r.start_time_unix_nano // 1000,
        # Jaeger UI's end is startTime + duration: so the duration is between the whole-µs ends.
        "duration": r.end_time_unix_nano // 1000 - r.start_time_unix_nano // 1000,
        "tags": tags,
        "logs": [
            {
                "timestamp": e.time_unix_nano // 1000,
                "fields": [_tag("event", e.name), *(_tag(k, v) for k, v in e.attributes.items())],
            }
            for e in r.events
        ],
        "processID": process_id,
        "warnings": None,
    }


def _process(resource: Attributes) -> dict[str, Any]:
    return {
        "serviceName": _service_name(resource),
        "tags": [_tag(k, v) for k, v in resource.items() if k != "service.name"],
    }


class _Trace:
    __slots__ = ("offsets", "processes", "trace_id")

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.offsets = array("Q")  # (start, length) pairs of its spans in the spool
        self.processes: dict[bytes, tuple[str, Attributes]] = {}


def write_jaeger(records: Iterable[SpanRecord], out: IO[bytes]) -> tuple[int, int]:
    """Jaeger UI's JSON document, in bounded memory: each span is encoded once into a spool
    file, then the spans of each trace are copied out together. Returns (spans, traces)."""
    traces: dict[str, _Trace] = {}
    count = 0
    with tempfile.TemporaryFile() as spool:
        position = 0
        for r in records:
            trace = traces.get(r.trace_id)
            if trace is None:
                trace = traces[r.trace_id] = _Trace(r.trace_id)
            key = orjson.dumps(attrs_to_json(r.resource), option=orjson.OPT_SORT_KEYS)
            process = trace.processes.get(key)
            if process is None:
                process = trace.processes[key] = (f"p{len(trace.processes) + 1}", r.resource)
            data = orjson.dumps(jaeger_span(r, process[0]))
            spool.write(data)
            trace.offsets.extend((position, len(data)))
            position += len(data)
            count += 1
        spool.flush()
        out.write(b'{"data":[')
        for n, trace in enumerate(traces.values()):
            out.write(b"," if n else b"")
            out.write(b'{"traceID":' + orjson.dumps(trace.trace_id) + b',"spans":[')
            for i in range(0, len(trace.offsets), 2):
                spool.seek(trace.offsets[i])
                out.write((b"," if i else b"") + spool.read(trace.offsets[i + 1]))
            processes = {pid: _process(resource) for pid, resource in trace.processes.values()}
            out.write(b'],"processes":' + orjson.dumps(processes) + b',"warnings":null}')
        out.write(b'],"total":0,"limit":0,"offset":0,"errors":null}')
    return count, len(traces)


def jaeger_document(records: Iterable[SpanRecord]) -> dict[str, Any]:
    """The same document as :func:`write_jaeger`, as a dict (for tests and small traces)."""
    import io

    buffer = io.BytesIO()
    write_jaeger(records, buffer)
    document: dict[str, Any] = orjson.loads(buffer.getvalue())
    return document


# -- reading ------------------------------------------------------------------------------------


def is_jaeger(obj: object) -> bool:
    """A Jaeger JSON document: ``{"data": [...]}`` or one bare trace ``{"traceID", "spans"}``."""
    return isinstance(obj, dict) and (
        isinstance(obj.get("data"), list) or ("spans" in obj and ("traceID" in obj or "processes" in obj))
    )


def _micros(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise RecordError(f"{where} must be an integer (microseconds), not {json_kind(value)}")
    if not 0 <= value <= _MAX_MICROS:
        raise RecordError(f"{where} must be from 0 to {_MAX_MICROS} (microseconds), not {value}")
    return int(value)


_MAX_MICROS = UINT64_MAX // 1000


def _int64(value: Any) -> AnyAttrValue:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError
    return number


def _float64(value: Any) -> AnyAttrValue:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError
    return float(value)


def _bool(value: Any) -> AnyAttrValue:
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise ValueError
    return value


def _binary(value: Any) -> AnyAttrValue:
    if not isinstance(value, str):
        raise ValueError
    return base64.b64decode(value, validate=True)


def _string(value: Any) -> AnyAttrValue:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


_TAG_TYPES = {"int64": _int64, "float64": _float64, "bool": _bool, "binary": _binary, "string": _string}


def _from_tag(tag: Any, where: str) -> tuple[str, AnyAttrValue]:
    if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
        raise RecordError(f"{where} must be an object with a string key")
    key = tag["key"]
    where = f"{where} (key {key!r})"
    value: Any = tag.get("value")
    kind = tag.get("type", "string")
    decode = _TAG_TYPES.get(kind) if isinstance(kind, str) else None
    if decode is None:
        raise RecordError(f"{where}: unknown tag type {kind!r} (string, bool, int64, float64 or binary)")
    try:
        return key, decode(value)
    except (ValueError, TypeError, binascii.Error):
        raise RecordError(f"{where}: value {value!r} is not a valid {kind}") from None


def _hex(value: Any, digits: int, where: str, mapped: dict[str, str] | None = None) -> str:
    """The id as ``digits`` lowercase hex digits. A string that is not hex (or is all zeros) is
    mapped to a hex id derived from it when ``mapped`` is given (which records the original)."""
    if isinstance(value, int) and not isinstance(value, bool) and mapped is not None:
        value = str(value)
    if not isinstance(value, str) or not value:
        raise RecordError(f"{where} must be a string id, not {value!r}")
    lowered = value.lower().rjust(digits, "0")
    if len(value) <= digits and not lowered.strip("0123456789abcdef") and lowered != "0" * digits:
        return lowered
    if mapped is None:
        if lowered == "0" * digits:
            raise RecordError(f"{where} must not be all zeros")
        raise RecordError(f"{where} must be up to {digits} hex digits, not {value!r}")
    derived = hashlib.sha256(f"jaeger-id:{value}".encode()).hexdigest()[:digits]
    mapped[derived] = value
    return derived


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{where} must be an array, not {json_kind(value)}")
    return value


def records_from_jaeger(document: Any, warn: Callable[[str], None] | None = None) -> Iterator[SpanRecord]:
    """Span records from a Jaeger JSON document, wrapped in ``data`` or a bare trace.

    Args:
        warn: told once when ids that are not hex were mapped to hex ids.

    Raises:
        RecordError: naming the span (``data[i].spans[j]`` and its ``spanID``) and the problem.
    """
    mapped: dict[str, str] = {}
    yield from _records(document, mapped)
    if mapped and warn is not None:
        example = next(iter(mapped.values()))
        warn(
            f"{len(set(mapped.values()))} id(s) are not hex (e.g. {example[:40]!r}): read as hex ids derived "
            "from them; the originals are kept as jaeger.trace_id / jaeger.span_id / jaeger.parent_span_id"
        )


def _originals(mapped: dict[str, str], **ids: str | None) -> dict[str, AnyAttrValue]:
    """``jaeger.<field>`` with the original of each id that was mapped from a non-hex string."""
    return {f"jaeger.{field}": mapped[value] for field, value in ids.items() if value in mapped}


def _records(document: Any, mapped: dict[str, str]) -> Iterator[SpanRecord]:
    if not is_jaeger(document):
        raise RecordError('not a Jaeger JSON document (no "data" list, and not a trace with "spans")')
    wrapped = isinstance(document.get("data"), list)
    traces = document["data"] if wrapped else [document]
    for ti, trace in enumerate(traces):
        twhere = f"data[{ti}]" if wrapped else ""
        if not isinstance(trace, dict):
            raise RecordError(f"{twhere} must be a trace object, not {json_kind(trace)}")
        processes = trace.get("processes") or {}
        if not isinstance(processes, dict):
            raise RecordError(f"{twhere}.processes must be an object, not {json_kind(processes)}".lstrip("."))
        for si, sp in enumerate(_list(trace.get("spans"), f"{twhere}.spans".lstrip("."))):
            where = f"{twhere}.spans[{si}]".lstrip(".")
            if not isinstance(sp, dict):
                raise RecordError(f"{where} must be a span object, not {json_kind(sp)}")
            try:
                yield _span(sp, processes, mapped)
            except RecordError as exc:
                span_id = sp.get("spanID")
                named = f" (spanID {span_id!r})" if isinstance(span_id, str) and span_id else ""
                raise RecordError(f"{where}{named}: {exc}") from None


def _span(sp: dict[str, Any], processes: dict[str, Any], mapped: dict[str, str]) -> SpanRecord:
    tags = dict(_from_tag(t, f"tags[{i}]") for i, t in enumerate(_list(sp.get("tags"), "tags")))
    process = sp.get("process")
    if process is None:
        pid = sp.get("processID")
        process = processes.get(pid) if isinstance(pid, str) else None
        if pid is not None and process is None:
            raise RecordError(f"processID {pid!r} is not in the trace's processes")
    if process is not None and not isinstance(process, dict):
        raise RecordError(f"process must be an object, not {json_kind(process)}")
    process = process or {}
    service = process.get("serviceName", "unknown_service")
    resource: Attributes = {
        "service.name": service if isinstance(service, str) else orjson.dumps(service).decode()
    }
    resource.update(
        _from_tag(t, f"process.tags[{i}]") for i, t in enumerate(_list(process.get("tags"), "process.tags"))
    )
    refs = _list(sp.get("references"), "references")
    parent: str | None = None
    links: list[Link] = []
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            raise RecordError(f"references[{i}] must be an object, not {json_kind(ref)}")
        span_id = _hex(ref.get("spanID"), 16, f"references[{i}].spanID", mapped)
        if ref.get("refType", "CHILD_OF") == "CHILD_OF" and parent is None:
            parent = span_id
        else:
            links.append(Link(_hex(ref.get("traceID"), 32, f"references[{i}].traceID", mapped), span_id, {}))
    if parent is None and isinstance(sp.get("parentSpanID"), str) and sp["parentSpanID"].strip("0"):
        parent = _hex(sp["parentSpanID"], 16, "parentSpanID", mapped)  # the older Jaeger JSON field
    kind_tag = tags.pop(KIND_ATTRIBUTE, None)
    kind_text = str(tags.pop("span.kind", UNSPECIFIED)).upper()
    span_kind: SpanKind = kind_text if kind_text in SPAN_KINDS else "INTERNAL"
    code_text = str(tags.pop("otel.status_code", "ERROR" if tags.get("error") is True else "UNSET"))
    code = cast(StatusCode, code_text) if code_text in ("UNSET", "OK", "ERROR") else "UNSET"
    message = str(tags.pop("otel.status_description", ""))
    if code == "ERROR" and tags.get("error") is True:
        tags.pop("error")
    names = [tags.pop(k) for k in SCOPE_NAME_TAGS if k in tags]
    versions = [tags.pop(k) for k in SCOPE_VERSION_TAGS if k in tags]
    trace_state = tags.pop(TRACE_STATE_TAG, "")
    start = _micros(sp.get("startTime", 0), "startTime")
    duration = _micros(sp.get("duration", 0), "duration")
    if start + duration > _MAX_MICROS:
        raise RecordError(f"startTime + duration ({start + duration} µs) does not fit 64-bit nanoseconds")
    events = []
    for i, log in enumerate(_list(sp.get("logs"), "logs")):
        if not isinstance(log, dict):
            raise RecordError(f"logs[{i}] must be an object, not {json_kind(log)}")
        fields = dict(
            _from_tag(t, f"logs[{i}].fields[{j}]")
            for j, t in enumerate(_list(log.get("fields"), f"logs[{i}].fields"))
        )
        name = fields.pop("event", "")
        events.append(
            Event(str(name), _micros(log.get("timestamp", 0), f"logs[{i}].timestamp") * 1000, fields)
        )
    trace_id = _hex(sp.get("traceID"), 32, "traceID", mapped)
    span_id = _hex(sp.get("spanID"), 16, "spanID", mapped)
    tags.update(_originals(mapped, trace_id=trace_id, span_id=span_id, parent_span_id=parent))
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=str(sp.get("operationName", "")),
        kind=kind_tag
        if isinstance(kind_tag, str)
        else UNSPECIFIED
        if kind_text == "UNSPECIFIED"
        else span_kind.lower(),
        span_kind=span_kind,
        start_time_unix_nano=start * 1000,
        end_time_unix_nano=(start + duration) * 1000,
        status=Status(code, message),
        attributes=tags,
        events=events,
        links=links,
        resource=resource,
        scope=Scope(str(names[0]) if names else "", str(versions[0]) if versions else None),
        trace_state=str(trace_state),
    )
