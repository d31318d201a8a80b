"""Redacting span records that were already written (old traces, traces from other tools).

Pure: works on :mod:`cab_trace.model` records, so a redacted trace is still a valid trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import BinaryIO

import orjson

from cab_trace.model import Attributes, RecordError, SpanRecord, Status, encode_record
from cab_trace.redact import Redactor


def redact_attributes(attributes: Attributes, redactor: Redactor) -> Attributes:
    return {redactor.text(key): redactor.value(value) for key, value in attributes.items()}


def redact_record(record: SpanRecord, redactor: Redactor) -> SpanRecord:
    """The record with every string in it redacted: name, kind, attributes (lists as argv),
    event names and attributes, link attributes and trace state, status message, resource and
    its schema URL, scope name, version, attributes and schema URL, the span's trace state
    (entries that would change are dropped). Attribute values of every type OTLP allows
    (key-value lists, mixed lists, bytes) are redacted element by element. Ids, times, flags
    and counts are not strings a secret can hide in: the model checks their form.
    ``tests/unit/test_redact_records.py`` enumerates the record's fields, so a new one
    cannot skip this."""
    return replace(
        record,
        name=redactor.text(record.name),
        kind=redactor.text(record.kind),
        status=Status(record.status.code, redactor.text(record.status.message)),
        attributes=redact_attributes(record.attributes, redactor),
        events=[
            replace(e, name=redactor.text(e.name), attributes=redact_attributes(e.attributes, redactor))
            for e in record.events
        ],
        links=[
            replace(
                lk,
                attributes=redact_attributes(lk.attributes, redactor),
                trace_state=redactor.trace_state(lk.trace_state),
            )
            for lk in record.links
        ],
        resource=redact_attributes(record.resource, redactor),
        scope=replace(
            record.scope,
            name=redactor.text(record.scope.name),
            version=redactor.text(record.scope.version) if record.scope.version else record.scope.version,
            attributes=redact_attributes(record.scope.attributes, redactor),
            schema_url=redactor.text(record.scope.schema_url),
        ),
        trace_state=redactor.trace_state(record.trace_state),
        resource_schema_url=redactor.text(record.resource_schema_url),
    )


def redact_stream(source: BinaryIO, sink: BinaryIO, redactor: Redactor, chunk_size: int = 64 * 1024) -> None:
    """Copy ``source`` to ``sink`` redacted, in bounded memory.

    A cab-trace trace (its first line parses as a span record) is redacted record by
    record, so the output is still a valid trace; anything else streams through a
    :class:`~cab_trace.redact.StreamRedactor` (secrets split across chunks included).
    """
    first = source.readline()
    if _is_record(first):
        for raw in _chain([first], source):
            sink.write(_redact_line(raw, redactor))
        sink.flush()
        return
    stream = redactor.stream()
    sink.write(stream.feed(first).encode())
    while chunk := source.read(chunk_size):
        sink.write(stream.feed(chunk).encode())
    sink.write(stream.finish().encode())
    sink.flush()


def _chain(first: Iterable[bytes], rest: Iterable[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def _is_record(raw: bytes) -> bool:
    if not raw.lstrip().startswith(b"{"):
        return False
    try:
        SpanRecord.from_json_obj(orjson.loads(raw))
    except (orjson.JSONDecodeError, RecordError):
        return False
    return True


def _redact_line(raw: bytes, redactor: Redactor) -> bytes:
    try:
        record = SpanRecord.from_json_obj(orjson.loads(raw))
    except (orjson.JSONDecodeError, RecordError):
        # Not a record (a truncated last line, say): redact it as text, keep its line ending.
        return redactor.text(raw.decode("utf-8", errors="replace")).encode()
    return encode_record(redact_record(record, redactor))
