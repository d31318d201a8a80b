"""A trace file as columns: what the replay and `show` need of every span (ids, times, kind,
error), a few dozen bytes per span, with the way back to each span's full record.

Pure: stdlib and orjson. For our own JSONL, the file is scanned in large chunks with one regular
expression over the fixed prefix the writer gives every line (ids, parent, name, kind, times,
status), so a line costs a C-level match instead of a full parse; a span's record is parsed from
its line only when it is asked for (the rows on screen). Lines the pattern does not match
(another writer's key order, a bad line) are parsed in full, so their errors name the file and
the line before anything is shown. Other formats are read whole into records.
"""

from __future__ import annotations

import operator
import os
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, repeat
from operator import itemgetter
from pathlib import Path
from typing import overload

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model.formats import detect_format, read_trace, resolve_source
from cab_trace.model.jsonl import json_line_problem, looks_truncated, open_error
from cab_trace.model.lines import max_line_bytes, too_long
from cab_trace.model.record import RecordError, SpanRecord

WarnFn = Callable[[str], None]

# A JSON string's content, unrolled ("normal* (escape normal*)*") so the engine does not try
# an alternation per character.
_STRING = rb'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'
_SKIP_STRING = rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'  # the same, not captured (the name is not a column)
#: The prefix our writer gives every line: ids, parent, name, kind, times and status code.
_LINE = re.compile(
    rb'\{"trace_id":"([0-9a-f]{32})","span_id":"([0-9a-f]{16})","parent_span_id":(?:null|"([0-9a-f]{16})"),'
    rb'"name":' + _SKIP_STRING + rb',"kind":' + _STRING + rb',"span_kind":"[A-Z]+",'
    rb'"start_time_unix_nano":(\d{1,20}),"end_time_unix_nano":(\d{1,20}),"status":\{"code":"(UNSET|OK|ERROR)"'
)
_CHUNK = 8 * 1024 * 1024
_ZERO_SPAN = b"0" * 16
_ZERO_TRACE = b"0" * 32
_CACHE = 512


class SpanIndex:
    """Columns of every span in a file, in file order (a span's *row*), and :meth:`record`.

    Columns: :attr:`trace` (number into :attr:`trace_ids`), :attr:`sid` / :attr:`pid` (span and
    parent id as integers, 0 for no parent), :attr:`start` / :attr:`end` (Unix ns),
    :attr:`kind` (interned strings) and :attr:`error` (1 for an error status).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.trace_ids: list[str] = []
        self._trace_numbers: dict[str, int] = {}
        self.trace = array("L")
        self.sid = array("Q")
        self.pid = array("Q")
        self.start = array("Q")
        self.end = array("Q")
        self.kind: list[str] = []
        self.error = bytearray()
        self._offset = array("Q")  # where each row's line starts (file-backed only)
        self._length = array("L")
        self._records: list[SpanRecord] | None = None
        self._fd: int | None = None
        self._cache: dict[int, SpanRecord] = {}
        self._kinds: dict[bytes, str] = {}

    def __len__(self) -> int:
        return len(self.sid)

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def from_records(cls, records: Iterable[SpanRecord], path: Path | None = None) -> SpanIndex:
        """An index over records held in memory (other formats, tests)."""
        index = cls(path)
        index._records = []
        for r in records:
            index._add_record(r)
            index._records.append(r)
        return index

    def _trace_number(self, trace_id: str) -> int:
        number = self._trace_numbers.get(trace_id)
        if number is None:
            number = self._trace_numbers[trace_id] = len(self.trace_ids)
            self.trace_ids.append(trace_id)
        return number

    def _add_record(self, r: SpanRecord) -> None:
        self.trace.append(self._trace_number(r.trace_id))
        self.sid.append(int(r.span_id, 16))
        self.pid.append(int(r.parent_span_id, 16) if r.parent_span_id else 0)
        self.start.append(r.start_time_unix_nano)
        self.end.append(r.end_time_unix_nano)
        self.kind.append(self._kinds.setdefault(r.kind.encode(), r.kind))
        self.error.append(r.status.code == "ERROR")

    # -- reading back -------------------------------------------------------------------------

    def record(self, row: int) -> SpanRecord:
        """The full record of ``row``, parsed from its line on first need (a few are cached).

        Raises:
            TraceFileError: the line (which the scan matched only in part) is not a valid record.
        """
        if self._records is not None:
            return self._records[row]
        cached = self._cache.get(row)
        if cached is not None:
            return cached
        assert self._fd is not None and self.path is not None
        raw = os.pread(self._fd, self._length[row], self._offset[row])
        try:
            record = SpanRecord.from_json_obj(orjson.loads(raw))
        except (orjson.JSONDecodeError, RecordError) as exc:
            raise TraceFileError(self.path, f"not a span record: {exc}", self.line_number(row)) from None
        if len(self._cache) >= _CACHE:
            self._cache.clear()
        self._cache[row] = record
        return record

    def line_number(self, row: int) -> int | None:
        """The line ``row`` is on (counted when asked: only error messages need it)."""
        if self._fd is None:
            return None
        offset = self._offset[row]
        count, position = 1, 0
        while position < offset:
            chunk = os.pread(self._fd, min(_CHUNK, offset - position), position)
            count += chunk.count(b"\n")
            position += len(chunk)
        return count

    def records(self, rows: Iterable[int]) -> Iterator[SpanRecord]:
        for row in rows:
            yield self.record(row)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def rows_of(self) -> dict[int, array[int]]:
        """Rows of each trace (by trace number), in file order."""
        out: dict[int, array[int]] = {}
        for row, number in enumerate(self.trace):
            rows = out.get(number)
            if rows is None:
                rows = out[number] = array("L")
            rows.append(row)
        return out


class RecordView(Sequence[SpanRecord]):
    """Records of some rows of an index, in a given order, parsed when indexed."""

    def __init__(self, index: SpanIndex, rows: Sequence[int]) -> None:
        self._index = index
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> SpanRecord: ...
    @overload
    def __getitem__(self, i: slice) -> list[SpanRecord]: ...
    def __getitem__(self, i: int | slice) -> SpanRecord | list[SpanRecord]:
        if isinstance(i, slice):
            return [self._index.record(r) for r in self.rows[i]]
        return self._index.record(self.rows[i])


def open_index(path: Path | str, warn: WarnFn | None = None) -> SpanIndex:
    """Index the spans of a trace file (any format), a run directory or a Harbor trial directory.

    Raises:
        TraceFileError: the file cannot be read, or a line (or span) is malformed.
    """
    file_path = resolve_source(path)
    try:
        fmt = detect_format(file_path)
    except OSError as exc:
        raise open_error(file_path, exc) from None
    if fmt != "cab-jsonl":
        return SpanIndex.from_records(read_trace(file_path, warn=warn, structure=False), file_path)
    index = SpanIndex(file_path)
    index._fd = os.open(file_path, os.O_RDONLY)
    try:
        _scan(index, file_path, warn)
    except BaseException:
        index.close()
        raise
    return index


def _scan(index: SpanIndex, path: Path, warn: WarnFn | None) -> None:
    assert index._fd is not None
    fd = index._fd
    limit = max_line_bytes()
    position = 0  # file offset of ``carry``'s first byte
    line = 1  # line number of ``carry``'s first line
    # The start of a line whose newline has not come yet, in pieces: joined only once it does,
    # so a line longer than the limit costs the limit and a chunk, and is an error.
    carry: list[bytes] = []
    carried = 0
    while True:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            break
        if carry and chunk.find(b"\n") < 0:
            carry.append(chunk)
            carried += len(chunk)
            if carried > limit:
                raise too_long(path, line, limit)
            continue
        data = b"".join([*carry, chunk]) if carry else chunk
        lines = data.split(b"\n")
        rest = lines.pop()  # after the last newline: the start of the next chunk's first line
        carry, carried = ([rest], len(rest)) if rest else ([], 0)
        if carried > limit:
            raise too_long(path, line + len(lines), limit)
        if not lines:
            continue
        if max(map(len, lines)) > limit:
            raise too_long(path, line + next(i for i, raw in enumerate(lines) if len(raw) > limit), limit)
        _scan_lines(index, path, lines, base=position, line=line)
        line += len(lines)
        position += len(data) - carried
    if carry and (last := b"".join(carry)).strip():
        _last_line(index, path, last, offset=position, number=line, warn=warn)


def _scan_lines(index: SpanIndex, path: Path, lines: list[bytes], *, base: int, line: int) -> None:
    """Rows from ``lines`` (complete lines, without their newlines) starting at file offset
    ``base``: by the pattern when every line matches it, else line by line (parsing any line the
    pattern does not take)."""
    matches = list(map(_LINE.match, lines))
    if None not in matches and _fast_rows(index, matches, lines, base):  # type: ignore[arg-type]
        return
    start = base
    for number, raw in enumerate(lines, start=line):
        if raw.strip():
            _line_row(index, path, raw + b"\n", start, number)
        start += len(raw) + 1


def _fast_rows(index: SpanIndex, matches: list[re.Match[bytes]], lines: list[bytes], base: int) -> bool:
    """Append the rows of a chunk whose every line's start matched the pattern. Column by
    column, with ``map`` over C functions: no Python code runs per span. False (nothing
    appended) when a check the pattern cannot make fails, for the slow path to explain."""
    found = list(map(re.Match.groups, matches, repeat(b"")))
    column = [list(map(itemgetter(k), found)) for k in range(7)]
    tids, sids, pids, kinds, starts, ends, codes = column
    if _ZERO_SPAN in sids or _ZERO_SPAN in pids or _ZERO_TRACE in tids:
        return False
    start_ns = array("Q", map(int, starts)) if _all_fit(starts) else None
    end_ns = array("Q", map(int, ends)) if _all_fit(ends) else None
    if start_ns is None or end_ns is None or any(map(operator.lt, end_ns, start_ns)):
        return False
    traces = {t: index._trace_number(t.decode()) for t in dict.fromkeys(tids)}
    kind_names = index._kinds
    for k in dict.fromkeys(kinds):
        if k not in kind_names:
            kind_names[k] = orjson.loads(b'"' + k + b'"')
    lengths = array("L", map(len, lines))
    lengths = array("L", map(operator.add, lengths, repeat(1)))  # and the newline
    index.trace.extend(map(traces.__getitem__, tids))
    index.sid.extend(_hex_column(sids))
    index.pid.extend(_hex_column(list(map(bytes.rjust, pids, repeat(16), repeat(b"0")))))  # none: 0
    index.start.extend(start_ns)
    index.end.extend(end_ns)
    index.kind.extend(map(kind_names.__getitem__, kinds))
    index.error.extend(map(_ERROR.__eq__, codes))
    index._offset.extend(accumulate(lengths[:-1], initial=base))
    index._length.extend(lengths)
    return True


_ERROR = b"ERROR"


def _hex_column(ids: list[bytes]) -> array[int]:
    """16-digit hex ids (the pattern checked their digits) as integers: one ``fromhex`` of them
    all, read as big-endian 64-bit words, instead of an ``int`` call per id."""
    column = array("Q")
    column.frombytes(bytes.fromhex(b"".join(ids).decode("ascii")))
    if sys.byteorder == "little":
        column.byteswap()
    return column


_UINT64_DIGITS = len(str(2**64 - 1))


def _all_fit(numbers: list[bytes]) -> bool:
    """Whether every decimal fits in 64 bits (nearly always: fewer than 20 digits)."""
    if max(map(len, numbers), default=0) < _UINT64_DIGITS:
        return True
    return all(int(digits) < 2**64 for digits in numbers)


def _line_row(index: SpanIndex, path: Path, raw: bytes, offset: int, number: int) -> None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problem = json_line_problem(raw, exc)
        raise TraceFileError(path, problem, number) from None
    try:
        record = SpanRecord.from_json_obj(obj)
    except RecordError as exc:
        raise TraceFileError(path, f"not a span record: {exc}", number) from None
    index._add_record(record)
    index._offset.append(offset)
    index._length.append(len(raw))


def _last_line(
    index: SpanIndex, path: Path, raw: bytes, *, offset: int, number: int, warn: WarnFn | None
) -> None:
    """A last line with no newline: a record, or what a killed writer left (a warning)."""
    try:
        _line_row(index, path, raw, offset, number)
    except TraceFileError as exc:
        if not looks_truncated(raw):
            raise
        if warn is not None:
            warn(
                f"{path}:{number}: last line is incomplete ({exc.problem}); ignored it and read the "
                f"{number - 1} line(s) before it (the writer was probably killed mid-line)"
            )
