"""Other trace formats, both ways: OTLP/JSON lines and Jaeger JSON. Pure: stdlib and orjson.

- **OTLP/JSON lines**, as the OpenTelemetry file-exporter spec and the OTLP JSON encoding
  say: one ``TracesData`` object per line, lowerCamelCase keys, hex ids, integer enums,
  64-bit integers as decimal strings. The Collector's ``otlpjsonfile`` receiver and
  otel-tui read it; the Collector's file exporter writes it.
- **Jaeger JSON**, as Jaeger UI downloads and uploads it: ``{"data": [{"traceID", "spans",
  "processes"}]}``, microsecond times, tags, logs, ``CHILD_OF`` references.

Our ``kind`` (the harness phase) travels as the attribute ``cab.kind`` in both, so a trace
read back is the trace written. :func:`read_trace` reads any of the three formats,
detected from the content, with errors naming file, line and problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model.jsonl import read_records, resolve_trace_path
from cab_trace.model.record import (
    SPAN_KINDS,
    Attributes,
    AttrValue,
    Event,
    Link,
    RecordError,
    Scope,
    SpanRecord,
    Status,
    StatusCode,
    check_attr_value,
)

KIND_ATTRIBUTE = "cab.kind"
Format = Literal["cab-jsonl", "otlp-json", "jaeger-json"]
WarnFn = Callable[[str], None]

# OTLP enums: SpanKind (SPAN_KIND_UNSPECIFIED = 0) and Status.StatusCode.
_KIND_TO_OTLP = {k: i + 1 for i, k in enumerate(SPAN_KINDS)}
_OTLP_TO_KIND = {v: k for k, v in _KIND_TO_OTLP.items()} | {0: "INTERNAL"}
_STATUS_TO_OTLP: dict[str, int] = {"UNSET": 0, "OK": 1, "ERROR": 2}
_OTLP_TO_STATUS: dict[int, StatusCode] = {0: "UNSET", 1: "OK", 2: "ERROR"}


# -- OTLP/JSON ----------------------------------------------------------------------------------


def _any_value(value: AttrValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"arrayValue": {"values": [_any_value(v) for v in value]}}


def _key_values(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in attributes.items()]


def otlp_span(record: SpanRecord) -> dict[str, Any]:
    """One span in OTLP/JSON form (``cab.kind`` carries our phase)."""
    span: dict[str, Any] = {
        "traceId": record.trace_id,
        "spanId": record.span_id,
        "parentSpanId": record.parent_span_id or "",
        "name": record.name,
        "kind": _KIND_TO_OTLP[record.span_kind],
        "startTimeUnixNano": str(record.start_time_unix_nano),
        "endTimeUnixNano": str(record.end_time_unix_nano),
        "attributes": _key_values({KIND_ATTRIBUTE: record.kind, **record.attributes}),
        "events": [
            {"timeUnixNano": str(e.time_unix_nano), "name": e.name, "attributes": _key_values(e.attributes)}
            for e in record.events
        ],
        "links": [
            {"traceId": lk.trace_id, "spanId": lk.span_id, "attributes": _key_values(lk.attributes)}
            for lk in record.links
        ],
        "status": {"code": _STATUS_TO_OTLP[record.status.code]},
    }
    if record.status.message:
        span["status"]["message"] = record.status.message
    return span


def traces_data(records: Iterable[SpanRecord]) -> dict[str, Any]:
    """A ``TracesData`` object: spans grouped by resource, then by scope, in first-seen order."""
    by_resource: dict[bytes, tuple[Attributes, dict[tuple[str, str | None], list[SpanRecord]]]] = {}
    for r in records:
        key = orjson.dumps(r.resource, option=orjson.OPT_SORT_KEYS)
        scopes = by_resource.setdefault(key, (r.resource, {}))[1]
        scopes.setdefault((r.scope.name, r.scope.version), []).append(r)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _key_values(resource)},
                "scopeSpans": [
                    {
                        "scope": {"name": name, **({"version": version} if version is not None else {})},
                        "spans": [otlp_span(r) for r in spans],
                    }
                    for (name, version), spans in scopes.items()
                ],
            }
            for resource, scopes in by_resource.values()
        ]
    }


def write_otlp_json(records: Iterable[SpanRecord], path: Path) -> int:
    """OTLP/JSON lines: one ``TracesData`` line per trace. Returns the number of spans."""
    by_trace: dict[str, list[SpanRecord]] = {}
    for r in records:
        by_trace.setdefault(r.trace_id, []).append(r)
    with path.open("wb") as out:
        for spans in by_trace.values():
            out.write(orjson.dumps(traces_data(spans)) + b"\n")
    return sum(len(s) for s in by_trace.values())


def _from_any_value(value: Any, where: str) -> AttrValue:
    if not isinstance(value, dict) or len(value) != 1:
        raise RecordError(f"{where}: an AnyValue must be an object with exactly one field")
    ((kind, v),) = value.items()
    if kind == "stringValue":
        return str(v)
    if kind == "boolValue":
        return bool(v)
    if kind == "intValue":
        try:
            return check_attr_value(int(v), where)
        except (TypeError, ValueError):
            raise RecordError(f"{where}: intValue {v!r} is not an integer") from None
    if kind == "doubleValue":
        number = float(v)  # the JSON mapping allows "NaN" and "Infinity" as strings
        return number if math.isfinite(number) else str(v)
    if kind == "arrayValue":
        items = [_from_any_value(x, f"{where}[{i}]") for i, x in enumerate((v or {}).get("values", []))]
        try:
            return check_attr_value(items, where)
        except RecordError:
            return orjson.dumps(items).decode()  # a mixed list: keep it, as text
    # bytesValue, kvlistValue: no such attribute type here; keep the content as JSON text.
    return orjson.dumps(v).decode()


def _from_key_values(items: Any, where: str) -> Attributes:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise RecordError(f"{where} must be a list of {{key, value}} objects")
    out: Attributes = {}
    for i, kv in enumerate(items):
        # The proto3 JSON mapping leaves out fields that hold their default: a missing key is "".
        key = kv.get("key", "") if isinstance(kv, dict) else None
        if not isinstance(key, str):
            raise RecordError(f"{where}[{i}] must be an object with a string key")
        out[key] = _from_any_value(kv.get("value", {}), f'{where}["{key}"]')
    return out


def _hex(value: Any, digits: int, where: str, optional: bool = False) -> str | None:
    if optional and value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) != digits:
        raise RecordError(f"{where} must be {digits} hex digits, not {value!r}")
    lowered = value.lower()
    try:
        int(lowered, 16)
    except ValueError:
        raise RecordError(f"{where} must be {digits} hex digits, not {value!r}") from None
    return lowered


def _nanos(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RecordError(f"{where} must be an integer (nanoseconds), not {value!r}") from None


def records_from_traces_data(obj: Any) -> Iterator[SpanRecord]:
    """Span records from one parsed ``TracesData`` (or ``ExportTraceServiceRequest``) object."""
    if not isinstance(obj, dict) or "resourceSpans" not in obj:
        raise RecordError("not an OTLP TracesData object (no resourceSpans)")
    for ri, rs in enumerate(obj["resourceSpans"] or []):
        resource = _from_key_values(
            (rs.get("resource") or {}).get("attributes"), f"resourceSpans[{ri}].resource"
        )
        for si, ss in enumerate(rs.get("scopeSpans") or []):
            scope_obj = ss.get("scope") or {}
            scope = Scope(str(scope_obj.get("name", "")), scope_obj.get("version"))
            for pi, sp in enumerate(ss.get("spans") or []):
                where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                attributes = _from_key_values(sp.get("attributes"), f"{where}.attributes")
                kind_attr = attributes.pop(KIND_ATTRIBUTE, None)
                span_kind = _OTLP_TO_KIND.get(_enum(sp.get("kind", 0)), "INTERNAL")
                status = sp.get("status") or {}
                record = SpanRecord(
                    trace_id=_hex(sp.get("traceId"), 32, f"{where}.traceId") or "",
                    span_id=_hex(sp.get("spanId"), 16, f"{where}.spanId") or "",
                    parent_span_id=_hex(sp.get("parentSpanId"), 16, f"{where}.parentSpanId", optional=True),
                    name=str(sp.get("name", "")),
                    kind=kind_attr if isinstance(kind_attr, str) else span_kind.lower(),
                    span_kind=span_kind,
                    start_time_unix_nano=_nanos(sp.get("startTimeUnixNano", 0), f"{where}.startTimeUnixNano"),
                    end_time_unix_nano=_nanos(sp.get("endTimeUnixNano", 0), f"{where}.endTimeUnixNano"),
                    status=Status(
                        _OTLP_TO_STATUS.get(_enum(status.get("code", 0)), "UNSET"),
                        str(status.get("message", "")),
                    ),
                    attributes=attributes,
                    events=[
                        Event(
                            str(e.get("name", "")),
                            _nanos(e.get("timeUnixNano", 0), f"{where}.events[{i}]"),
                            _from_key_values(e.get("attributes"), f"{where}.events[{i}].attributes"),
                        )
                        for i, e in enumerate(sp.get("events") or [])
                    ],
                    links=[
                        Link(
                            _hex(lk.get("traceId"), 32, f"{where}.links[{i}].traceId") or "",
                            _hex(lk.get("spanId"), 16, f"{where}.links[{i}].spanId") or "",
                            _from_key_values(lk.get("attributes"), f"{where}.links[{i}].attributes"),
                        )
                        for i, lk in enumerate(sp.get("links") or [])
                    ],
                    resource=resource,
                    scope=scope,
                )
                # Validate as our own lines are (ids not all zero, end not before start, ...).
                yield SpanRecord.from_json_obj(record.to_json_obj())


def _enum(value: Any) -> int:
    # The JSON mapping allows enum names as well as numbers.
    if isinstance(value, str):
        for table in (_KIND_TO_OTLP, _STATUS_TO_OTLP):
            for name, number in table.items():
                if value.upper().endswith(name):
                    return number
        return 0
    return int(value) if isinstance(value, int) else 0


# -- Jaeger JSON --------------------------------------------------------------------------------


def _tag(key: str, value: AttrValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    # Jaeger has no list type: a list goes as its JSON text, as Jaeger's own OTLP receiver does.
    return {"key": key, "type": "string", "value": orjson.dumps(value).decode()}


def _service_name(resource: Attributes) -> str:
    """Jaeger's serviceName is a string; any other value goes as its JSON text."""
    value = resource.get("service.name", "unknown_service")
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def jaeger_document(records: Iterable[SpanRecord]) -> dict[str, Any]:
    """Jaeger UI's JSON: one entry in ``data`` per trace, one process per distinct resource."""
    traces: dict[str, list[SpanRecord]] = {}
    for r in records:
        traces.setdefault(r.trace_id, []).append(r)
    data = []
    for trace_id, spans in traces.items():
        processes: dict[bytes, tuple[str, Attributes]] = {}
        out_spans = []
        for r in spans:
            key = orjson.dumps(r.resource, option=orjson.OPT_SORT_KEYS)
            if key not in processes:
                processes[key] = (f"p{len(processes) + 1}", r.resource)
            tags = [_tag(KIND_ATTRIBUTE, r.kind), *(_tag(k, v) for k, v in r.attributes.items())]
            tags.append(_tag("span.kind", r.span_kind.lower()))
            if r.status.code != "UNSET":
                tags.append(_tag("otel.status_code", r.status.code))
            if r.status.message:
                tags.append(_tag("otel.status_description", r.status.message))
            if r.is_error:
                tags.append(_tag("error", True))
            tags.append(_tag("otel.scope.name", r.scope.name))
            if r.scope.version is not None:
                tags.append(_tag("otel.scope.version", r.scope.version))
            references = (
                [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": r.parent_span_id}]
                if r.parent_span_id
                else []
            )
            references += [
                {"refType": "FOLLOWS_FROM", "traceID": lk.trace_id, "spanID": lk.span_id} for lk in r.links
            ]
            out_spans.append(
                {
                    "traceID": trace_id,
                    "spanID": r.span_id,
                    "operationName": r.name,
                    "references": references,
                    "startTime": r.start_time_unix_nano // 1000,
                    "duration": r.end_time_unix_nano // 1000 - r.start_time_unix_nano // 1000,
                    "tags": tags,
                    "logs": [
                        {
                            "timestamp": e.time_unix_nano // 1000,
                            "fields": [_tag("event", e.name), *(_tag(k, v) for k, v in e.attributes.items())],
                        }
                        for e in r.events
                    ],
                    "processID": processes[key][0],
                    "warnings": None,
                }
            )
        data.append(
            {
                "traceID": trace_id,
                "spans": out_spans,
                "processes": {
                    pid: {
                        "serviceName": _service_name(resource),
                        "tags": [_tag(k, v) for k, v in resource.items() if k != "service.name"],
                    }
                    for pid, resource in processes.values()
                },
                "warnings": None,
            }
        )
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}


def write_jaeger_json(records: Iterable[SpanRecord], path: Path) -> int:
    document = jaeger_document(records)
    path.write_bytes(orjson.dumps(document))
    return sum(len(t["spans"]) for t in document["data"])


def _from_tag(tag: Any, where: str) -> tuple[str, AttrValue]:
    if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
        raise RecordError(f"{where} must be an object with a string key")
    value: Any = tag.get("value")
    kind = tag.get("type", "string")
    if kind == "int64":
        value = int(value)
    elif kind == "float64":
        value = float(value)
    elif kind == "bool":
        value = bool(value)
    elif not isinstance(value, str):
        value = orjson.dumps(value).decode()
    return tag["key"], check_attr_value(value, where)


def records_from_jaeger(document: Any) -> Iterator[SpanRecord]:
    """Span records from a Jaeger JSON document (as Jaeger UI downloads it)."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise RecordError('not a Jaeger JSON document (no "data" list)')
    for ti, trace in enumerate(document["data"]):
        processes = trace.get("processes") or {}
        for si, sp in enumerate(trace.get("spans") or []):
            where = f"data[{ti}].spans[{si}]"
            tags = dict(_from_tag(t, f"{where}.tags[{i}]") for i, t in enumerate(sp.get("tags") or []))
            process = processes.get(sp.get("processID"), {})
            resource: Attributes = {"service.name": str(process.get("serviceName", "unknown_service"))}
            resource.update(
                _from_tag(t, f"{where}.process.tags[{i}]") for i, t in enumerate(process.get("tags") or [])
            )
            refs = sp.get("references") or []
            parent = next((r.get("spanID") for r in refs if r.get("refType") == "CHILD_OF"), None)
            kind_tag = tags.pop(KIND_ATTRIBUTE, None)
            span_kind = str(tags.pop("span.kind", "internal")).upper()
            span_kind = span_kind if span_kind in SPAN_KINDS else "INTERNAL"
            code = str(tags.pop("otel.status_code", "ERROR" if tags.get("error") is True else "UNSET"))
            message = str(tags.pop("otel.status_description", ""))
            if code == "ERROR":
                tags.pop("error", None)
            scope = Scope(
                str(tags.pop("otel.scope.name", tags.pop("otel.library.name", ""))),
                _opt_str(tags.pop("otel.scope.version", tags.pop("otel.library.version", None))),
            )
            start = int(sp.get("startTime", 0)) * 1000
            record = SpanRecord(
                trace_id=_hex(str(sp.get("traceID", "")).rjust(32, "0"), 32, f"{where}.traceID") or "",
                span_id=_hex(str(sp.get("spanID", "")).rjust(16, "0"), 16, f"{where}.spanID") or "",
                parent_span_id=_hex(str(parent).rjust(16, "0"), 16, f"{where}.references", optional=True)
                if parent
                else None,
                name=str(sp.get("operationName", "")),
                kind=kind_tag if isinstance(kind_tag, str) else span_kind.lower(),
                span_kind=span_kind,
                start_time_unix_nano=start,
                end_time_unix_nano=start + int(sp.get("duration", 0)) * 1000,
                status=Status(code if code in ("UNSET", "OK", "ERROR") else "UNSET", message),  # type: ignore[arg-type]
                attributes=tags,
                events=[
                    _jaeger_event(log, f"{where}.logs[{i}]") for i, log in enumerate(sp.get("logs") or [])
                ],
                links=[
                    Link(
                        _hex(r.get("traceID", "").rjust(32, "0"), 32, f"{where}.references") or "",
                        _hex(r.get("spanID", "").rjust(16, "0"), 16, f"{where}.references") or "",
                        {},
                    )
                    for r in refs
                    if r.get("refType") == "FOLLOWS_FROM"
                ],
                resource=resource,
                scope=scope,
            )
            yield SpanRecord.from_json_obj(record.to_json_obj())


def _jaeger_event(log: Any, where: str) -> Event:
    fields = dict(_from_tag(t, f"{where}.fields[{i}]") for i, t in enumerate(log.get("fields") or []))
    name = fields.pop("event", "")
    return Event(str(name), int(log.get("timestamp", 0)) * 1000, fields)


def _opt_str(value: AttrValue | None) -> str | None:
    return None if value is None else str(value)


# -- reading any format ---------------------------------------------------------------------------


def detect_format(path: Path) -> Format:
    """Which format a file is in, from its first non-blank bytes."""
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b'{"data"') or (
        head.startswith(b"{") and b'"data"' in head[:200] and b'"resourceSpans"' not in head[:200]
    ):
        return "jaeger-json"
    if b'"resourceSpans"' in head[:200]:
        return "otlp-json"
    return "cab-jsonl"


def read_trace(path: Path | str, warn: WarnFn | None = None) -> Iterator[SpanRecord]:
    """Records from a cab-trace JSONL file or run directory, OTLP/JSON lines, or Jaeger JSON.

    Raises:
        TraceFileError: the file cannot be read, or a line (or the document) is malformed.
    """
    file_path = resolve_trace_path(path)
    try:
        fmt = detect_format(file_path)
    except FileNotFoundError:
        raise TraceFileError(file_path, "no such file") from None
    except OSError as exc:
        raise TraceFileError(file_path, f"cannot be opened: {exc.strerror or exc}") from None
    if fmt == "cab-jsonl":
        yield from read_records(file_path, warn)
    elif fmt == "otlp-json":
        yield from _read_otlp_lines(file_path, warn)
    else:
        yield from _read_jaeger(file_path)


def _read_otlp_lines(path: Path, warn: WarnFn | None) -> Iterator[SpanRecord]:
    with path.open("rb") as handle:
        lines = list(enumerate(handle, start=1))
    for number, raw in lines:
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if number == lines[-1][0] and not raw.endswith(b"\n"):
                if warn is not None:
                    warn(f"{path}:{number}: last line is incomplete ({exc}); read the lines before it")
                return
            raise TraceFileError(path, f"not valid JSON ({exc})", number) from None
        try:
            yield from list(records_from_traces_data(obj))
        except (RecordError, AttributeError, TypeError, ValueError) as exc:
            raise TraceFileError(path, f"not OTLP/JSON TracesData: {exc}", number) from None


def _read_jaeger(path: Path) -> Iterator[SpanRecord]:
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise TraceFileError(path, f"not valid JSON ({exc})", getattr(exc, "lineno", None)) from None
    try:
        records = list(records_from_jaeger(document))
    except (RecordError, AttributeError, TypeError, ValueError) as exc:
        raise TraceFileError(path, f"not a Jaeger JSON trace: {exc}") from None
    yield from records
