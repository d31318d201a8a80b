"""Redacting span records that were already written (old traces, traces from other tools).

Pure: works on :mod:`cab_trace.model` records, so a redacted trace is still a valid trace.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import orjson

from cab_trace.model import Attributes, RecordError, SpanRecord, Status, encode_record
from cab_trace.model.lines import PIECE, bounded_lines, max_line_bytes, too_long
from cab_trace.redact.redactor import Redactor


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


def redact_stream(
    source: BinaryIO,
    sink: BinaryIO,
    redactor: Redactor,
    chunk_size: int = 64 * 1024,
    *,
    path: Path | str = "<stdin>",
    limit: int | None = None,
) -> None:
    """Copy ``source`` to ``sink`` redacted, in bounded memory.

    A cab-trace trace (its first line parses as a span record) is redacted record by
    record, so the output is still a valid trace; each record is written whole, once redacted.
    Anything else streams through a :class:`~cab_trace.redact.StreamRedactor` in pieces
    (secrets split across pieces included), so a line of any length costs a piece.

    Raises:
        TraceFileError: a line of a trace is longer than ``limit`` (default: the line limit,
            ``CAB_TRACE_MAX_LINE``): a record cannot be redacted without holding it whole, and
            redacted as text it might no longer be a record. The records before it have been
            written, each whole; nothing of it or after it.
    """
    limit = max_line_bytes() if limit is None else limit
    pieces, whole = _first_line(source, limit)
    first = b"".join(pieces) if whole else b""
    if whole and _is_record(first):
        sink.write(_redact_line(first, redactor))
        del first, pieces
        for _, raw in bounded_lines(source, path, limit, first_number=2):
            sink.write(_redact_line(raw, redactor))
        sink.flush()
        return
    if not whole and _RECORD_START.match(pieces[0]):
        raise too_long(path, 1, limit)
    stream = redactor.stream()
    for piece in pieces:
        for at in range(0, len(piece), chunk_size):
            sink.write(stream.feed(piece[at : at + chunk_size]).encode())
    del first, pieces
    while chunk := source.read(chunk_size):
        sink.write(stream.feed(chunk).encode())
    sink.write(stream.finish().encode())
    sink.flush()


#: A first line that starts as a span record does: one longer than the limit is a record too
#: long to redact as one (an error), not text.
_RECORD_START = re.compile(rb'\s*\{\s*"(?:trace_id|span_id)"\s*:')


def _first_line(source: BinaryIO, limit: int) -> tuple[list[bytes], bool]:
    """The first line, in pieces, and whether it is whole (ended, within ``limit``). Only a line
    that could be a record (it starts with ``{``) is read on past a piece, and never much past
    the limit."""
    first = min(limit + 1, PIECE)
    head = source.readline(first)
    if head[-1:] == b"\n" or len(head) < first:
        return [head], len(head.rstrip(b"\r\n")) <= limit
    if head.lstrip()[:1] != b"{":
        return [head], False
    pieces, size = [head], len(head)
    while size <= limit:
        piece = source.readline(min(limit + 1 - size, PIECE))
        if not piece:
            return pieces, True
        pieces.append(piece)
        size += len(piece)
        if piece[-1:] == b"\n":
            return pieces, size - len(piece) + len(piece.rstrip(b"\r\n")) <= limit
    return pieces, False


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
