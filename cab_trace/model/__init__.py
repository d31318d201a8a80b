"""The span record model and its JSONL file. Pure: stdlib and orjson only."""

from cab_trace.model.jsonl import (
    TRACE_FILE_NAME,
    JsonlWriter,
    encode_record,
    read_records,
    resolve_trace_path,
)
from cab_trace.model.record import (
    HARNESS_KINDS,
    Attributes,
    AttrValue,
    Event,
    Link,
    RecordError,
    Scope,
    SpanKind,
    SpanRecord,
    Status,
    StatusCode,
)

__all__ = [
    "HARNESS_KINDS",
    "TRACE_FILE_NAME",
    "AttrValue",
    "Attributes",
    "Event",
    "JsonlWriter",
    "Link",
    "RecordError",
    "Scope",
    "SpanKind",
    "SpanRecord",
    "Status",
    "StatusCode",
    "encode_record",
    "read_records",
    "resolve_trace_path",
]
