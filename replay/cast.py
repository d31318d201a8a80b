"""Reading an asciicast recording (v2, and v3 as asciinema 3 writes it) without holding it.

A recording can be a gigabyte. :func:`read_cast` reads it once, line by line, and keeps an index
of the events that change the screen (output and resize): their times, where each line is in
the file and a few facts about it. An event's text is read back from the file when the emulator
needs it (:meth:`Cast.text`), so memory stays at a few bytes per event.

The formats (https://docs.asciinema.org/manual/asciicast/v2/, …/v3/):

- v2: header ``{"version": 2, "width": W, "height": H, "timestamp"?: …}``; events
  ``[time, code, data]`` with ``time`` in seconds since the start.
- v3: header ``{"version": 3, "term": {"cols": W, "rows": H, "type"?: …}, "timestamp"?: …}``;
  events ``[interval, code, data]`` with ``interval`` in seconds since the previous event;
  lines starting with ``#`` are comments.

Codes: ``o`` output, ``i`` input, ``r`` resize (``"COLSxROWS"``), ``m`` marker, ``x`` exit
(v3: the exit status). Only ``o`` and ``r`` change the screen; markers and the exit status are
kept; any other code is skipped, as asciinema's player does.

This module reads the format and builds the index; the index itself (:class:`Cast`) is
:mod:`replay.cast_index`'s and what is noted from an event's escape sequences is
:mod:`replay.cast_escapes`'s. Both are re-exported here, so imports from this module keep working.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model.lines import max_line_bytes, too_long
from replay.cast_escapes import (
    _CLEAR,
    HAS_SGR,
    LAYOUT_DEFAULT_AFTER,
    SGR_DEFAULT_AFTER,
    TOUCHES_LAYOUT,
    LayoutTracker,
)
from replay.cast_index import MAX_COLS, MAX_ROWS, OUTPUT, Cast

__all__ = [  # the index and the escape tracking live in their own modules; imported from here too
    "HAS_SGR",
    "LAYOUT_DEFAULT_AFTER",
    "LINE_LIMIT",
    "MAX_COLS",
    "MAX_ROWS",
    "OUTPUT",
    "SGR_DEFAULT_AFTER",
    "TOUCHES_LAYOUT",
    "Cast",
    "LayoutTracker",
    "parse_header",
    "read_cast",
]


def _size(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_header(path: Path, line: bytes) -> Cast:
    """The header line of a v2 or v3 recording.

    Raises:
        TraceFileError: not JSON, not an asciicast header, a version we do not read, no size.
    """
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise TraceFileError(path, "not an asciicast file (the header is not JSON)", 1) from None
    if not isinstance(header, dict):
        raise TraceFileError(path, "not an asciicast file (the header is not a JSON object)", 1)
    version = header.get("version")
    term_type = None
    if version == 2:
        width, height = _size(header.get("width")), _size(header.get("height"))
        env = header.get("env")
        if isinstance(env, dict) and isinstance(env.get("TERM"), str):
            term_type = env["TERM"]
        if width is None or height is None:
            raise TraceFileError(path, "an asciicast v2 header needs positive integer width and height", 1)
    elif version == 3:
        term = header.get("term")
        if not isinstance(term, dict):
            raise TraceFileError(path, 'an asciicast v3 header needs "term": {"cols": …, "rows": …}', 1)
        width, height = _size(term.get("cols")), _size(term.get("rows"))
        if isinstance(term.get("type"), str):
            term_type = term["type"]
        if width is None or height is None:
            raise TraceFileError(
                path, "an asciicast v3 header needs positive integer term.cols and term.rows", 1
            )
    else:
        raise TraceFileError(path, f"not an asciicast v2 or v3 header (version {version!r}; need 2 or 3)", 1)
    stamp = header.get("timestamp")
    return Cast(
        path,
        version,
        min(width, MAX_COLS),
        min(height, MAX_ROWS),
        float(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None,
        term_type,
    )


def _resize(path: Path, data: str, number: int) -> tuple[int, int]:
    cols, sep, rows = data.partition("x")
    if not (sep and cols.isdigit() and rows.isdigit() and int(cols) > 0 and int(rows) > 0):
        raise TraceFileError(path, f'a resize event needs "COLSxROWS", not {data[:40]!r}', number)
    return min(int(cols), MAX_COLS), min(int(rows), MAX_ROWS)


def _event(path: Path, line: bytes, number: int) -> list[object] | None:
    """One event line as ``[time, code, data]``; None for a last line cut off mid-way."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        if not line.endswith(b"\n"):
            return None
        raise TraceFileError(path, "not JSON", number) from None
    if not (
        isinstance(event, list)
        and len(event) == 3
        and isinstance(event[0], int | float)
        and not isinstance(event[0], bool)
        and event[0] >= 0
        and isinstance(event[1], str)
        and event[1]
        and isinstance(event[2], str)
    ):
        raise TraceFileError(
            path, "an event must be [time, code, data] (a time ≥ 0, a code, a string)", number
        )
    return event


def _note_output(cast: Cast, tracker: LayoutTracker, line: bytes) -> int:
    """What the index keeps about the output event about to be appended (its JSON ``line``)."""
    data = line[line.find(b'"', line.find(b'"o"') + 3) + 1 :]
    flags = tracker.feed(data)
    if b"\\u001" in line:
        flags |= tracker.feed_sgr(data)
        if b"J" in line or b"u001bc" in line:
            clear = _CLEAR.search(line)
            if clear:
                cast.clears.append(len(cast.codes))
    elif tracker.sgr_default:
        flags |= SGR_DEFAULT_AFTER
    return flags


LINE_LIMIT = 1 << 20
"""Lines longer than this are read in pieces of this size and checked by their shape (the JSON
prefix and ending), so that indexing holds no more than this of the file at a time."""
_BIG_PREFIX = re.compile(rb'\s*\[\s*([0-9][0-9.eE+-]*)\s*,\s*"o"\s*,\s*"')
_CARRY = 16


def _big_output(
    cast: Cast, tracker: LayoutTracker, head: bytes, handle: BinaryIO, number: int
) -> tuple[int, float] | None:
    """An output event longer than LINE_LIMIT, read piece by piece after its first ``head``
    bytes. Returns (its length, its time) or None if the file ends inside it."""
    match = _BIG_PREFIX.match(head)
    if match is None:
        raise TraceFileError(
            cast.path, 'an event over 1 MiB must be an output event [time, "o", text]', number
        )
    try:
        time_s = float(match.group(1))
    except ValueError:
        raise TraceFileError(cast.path, "not JSON (the event's time)", number) from None
    length, piece, carry, overlap, flags = len(head), head[match.end() :], b"", b"", 0
    clears = False
    limit = max_line_bytes()
    while True:
        # Escapes must not be cut in two for the trackers: hold back from the last backslash.
        text = carry + piece
        cut = text.rfind(b"\\", max(0, len(text) - _CARRY))
        cut = len(text) if cut < 0 or piece.endswith(b"\n") else cut
        chunk, carry = text[:cut], text[cut:]
        flags |= tracker.feed(chunk) | tracker.feed_sgr(chunk)
        clears = clears or bool(_CLEAR.search(overlap + chunk))
        overlap = chunk[-64:]
        if piece.endswith(b"\n") or not piece:
            break
        if length > limit:
            # Its text is read back whole when shown: held to the line limit like any reader's.
            raise too_long(cast.path, number, limit)
        piece = handle.readline(LINE_LIMIT)
        length += len(piece)
    if not piece.endswith(b"\n"):
        return None
    if not chunk.rstrip().endswith(b'"]'):
        raise TraceFileError(cast.path, 'not JSON (an event must end with "])', number)
    flags = (flags & (TOUCHES_LAYOUT | HAS_SGR)) | tracker._flags(0)
    flags |= SGR_DEFAULT_AFTER if tracker.sgr_default else 0
    if clears:
        cast.clears.append(len(cast.codes))
    cast.flags.append(flags)
    return length, time_s


def read_cast(path: Path) -> Cast:  # noqa: PLR0915 (one loop over the lines, kept whole)
    """Index an asciicast v2 or v3 file, streaming it (the events' text stays in the file).

    Raises:
        TraceFileError: naming the file, the line and what is wrong.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise TraceFileError(path, f"cannot read the terminal recording: {exc.strerror}") from None
    with handle:
        header_line = handle.readline(LINE_LIMIT)
        cast = parse_header(path, header_line)
        v3 = cast.version == 3
        offset = len(header_line)
        clock_s = 0.0
        tracker = LayoutTracker()
        total, number = 0, 1
        while True:
            line = handle.readline(LINE_LIMIT)
            if not line:
                break
            number += 1
            at = offset
            if len(line) == LINE_LIMIT and not line.endswith(b"\n"):
                big = _big_output(cast, tracker, line, handle, number)
                if big is None:
                    cast.cut_off = True
                    break
                length, time_s = big
                offset += length
                clock_s = clock_s + time_s if v3 else max(clock_s, time_s)
                total += length
                cast.add(int(clock_s * 1e9), at, length, OUTPUT, total)
                continue
            offset += len(line)
            if not line.strip() or (v3 and line.startswith(b"#")):
                continue
            event = _event(path, line, number)
            if event is None:
                cast.cut_off = True
                break  # a recording cut off mid-line: keep what came before
            when, code, data = event
            assert isinstance(when, int | float) and isinstance(code, str) and isinstance(data, str)
            clock_s = clock_s + when if v3 else max(clock_s, float(when))
            if code == "o":
                cast.flags.append(_note_output(cast, tracker, line))
                total += len(line)
            elif code == "r":
                cast.resizes[len(cast.codes)] = _resize(path, data, number)
                cast.flags.append(cast.flags[-1] if cast.flags else LAYOUT_DEFAULT_AFTER | SGR_DEFAULT_AFTER)
            else:
                if code == "m":
                    cast.markers.append((int(clock_s * 1e9), data))
                elif code == "x":
                    cast.exit_status = data
                continue
            cast.add(int(clock_s * 1e9), at, len(line), ord(code), total)
    return cast
