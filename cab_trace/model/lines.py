"""Lines read in bounded memory: a line longer than the limit is an error, not a gigabyte.

Pure: stdlib only. Every reader of trace files and terminal recordings reads its lines through
:func:`bounded_lines` (or checks its own chunks against :func:`max_line_bytes`), so that a file
whose single line is a gigabyte costs the limit and a small constant, and gives one error
naming the file and the line. Documents that are parsed whole (Jaeger JSON, a pretty-printed
OTLP/JSON file) are held to the same limit as a whole (:func:`check_document_size`).

The limit is 64 MiB unless ``CAB_TRACE_MAX_LINE`` says otherwise (a size: ``256m``, ``1g``,
``1048576``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from cab_trace.errors import TraceFileError, UsageError

ENV = "CAB_TRACE_MAX_LINE"
DEFAULT_MAX_LINE = 64 << 20
#: A long line is read in pieces of this size (each checked against the limit as it comes).
PIECE = 1 << 20
_SIZE = re.compile(r"\s*(\d+)\s*([kmg]?)(?:i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def max_line_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The longest line (and largest whole document) a reader takes, in bytes.

    Raises:
        UsageError: ``CAB_TRACE_MAX_LINE`` is set to something that is not a size.
    """
    text = (os.environ if environ is None else environ).get(ENV)
    if not text:
        return DEFAULT_MAX_LINE
    match = _SIZE.fullmatch(text)
    if match is None or int(match[1]) <= 0:
        raise UsageError(f"{ENV}={text!r} is not a size", hint=f"e.g. {ENV}=256m (bytes, or k, m, g)")
    return int(match[1]) * _UNITS[match[2].lower()]


def too_long(path: Path | str, number: int, limit: int) -> TraceFileError:
    """The error for line ``number`` of ``path`` being longer than ``limit`` bytes."""
    return TraceFileError(
        path,
        f"line is longer than {limit} bytes (the most a line may be); not read",
        number,
        hint=f"if the file is right, raise the limit: {ENV}={_bigger(limit)}",
    )


def check_document_size(path: Path, limit: int | None = None) -> None:
    """Raise if ``path``, a JSON document read whole, is larger than the limit."""
    limit = max_line_bytes() if limit is None else limit
    size = os.stat(path).st_size
    if size > limit:
        raise TraceFileError(
            path,
            f"a JSON document of {size} bytes, larger than {limit} bytes (the most read whole); not read",
            hint=f"if the file is right, raise the limit: {ENV}={_bigger(size)}",
        )


def _bigger(size: int) -> str:
    mib = -(-size // (1 << 20))
    return f"{max(mib * 2, 128)}m"


def bounded_lines(
    handle: IO[bytes], path: Path | str, limit: int | None = None, first_number: int = 1
) -> Iterator[tuple[int, bytes]]:
    """(line number, the line with its newline) for each line of ``handle``; the last line may
    lack its newline. Lines are numbered from ``first_number`` (a reader that read the first
    line itself passes 2).

    Raises:
        TraceFileError: a line is longer than ``limit`` bytes (default :func:`max_line_bytes`),
            found after reading no more than the limit and one piece of it.
    """
    limit = max_line_bytes() if limit is None else limit
    first = min(limit + 1, PIECE)
    readline = handle.readline
    number = first_number - 1
    while True:
        raw = readline(first)
        if not raw:
            return
        number += 1
        if raw[-1:] != b"\n" and len(raw) == first:
            raw = _rest_of_line(handle, raw, path, number, limit)
        yield number, raw


def _rest_of_line(handle: IO[bytes], head: bytes, path: Path | str, number: int, limit: int) -> bytes:
    """A line longer than the first piece: read on, in pieces, until its end or the limit."""
    pieces = [head]
    content = len(head)
    while True:
        if content > limit:
            raise too_long(path, number, limit)
        piece = handle.readline(min(limit + 1 - content, PIECE))
        if not piece:
            break
        pieces.append(piece)
        if piece[-1:] == b"\n":
            break
        content += len(piece)
    return b"".join(pieces)
