"""Reading and writing span records as JSON Lines: one record per line, streamed.

Pure: stdlib and orjson only.

The writer appends one line per record and flushes it at once, so a process that is
killed loses at most the line it was writing. The reader streams line by line, in bounded
memory (a line longer than the limit is an error: :mod:`cab_trace.model.lines`); a line
that is not a valid record is an error naming the file and the line, except a truncated
*last* line (no newline, not parseable, and starting as the writer starts every line), which
is what a killed writer leaves behind: that is reported as a warning and everything before it
is still returned. Any other unterminated last line (``hello world``) is an error.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model.lines import bounded_lines
from cab_trace.model.record import RecordError, SpanRecord

#: Name of the trace file inside a run directory.
TRACE_FILE_NAME = "trace.jsonl"

WarnFn = Callable[[str], None]


def encode_record(record: SpanRecord) -> bytes:
    """One record as one JSON line, newline included."""
    return orjson.dumps(record.to_json_obj()) + b"\n"


def resolve_trace_path(path: Path | str) -> Path:
    """A trace file, or the ``trace.jsonl`` inside a run directory."""
    p = Path(path)
    if p.is_dir():
        candidate = p / TRACE_FILE_NAME
        if not candidate.is_file():
            raise TraceFileError(
                p,
                f"is a directory with no {TRACE_FILE_NAME} in it",
                hint="pass a trace file or a run directory made by `cab-trace run`",
            )
        return candidate
    if (kind := special_file(p)) is not None:
        # Opening a named pipe waits for a writer, for ever; a device may never end.
        raise TraceFileError(
            p,
            f"is {kind}, not a file",
            hint="a trace is read more than once (its format, then its spans): save it to a file first",
        )
    return p


def special_file(path: Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a directory (a named
    pipe, a socket, a device), else None."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # missing, a symlink loop, no permission: opening it says which
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return None


def missing_problem(path: Path) -> str:
    """Why ``path`` cannot be read as a file: what it is instead (a directory, a named pipe),
    the operating system's reason (a symlink loop, a dangling link), or that nothing is there."""
    if (kind := special_file(path)) is not None:
        return f"is {kind}, not a file"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        dangling = os.path.islink(path)
        return "no such file or directory" + (" (a dangling link)" if dangling else "")
    except OSError as exc:
        return f"cannot be opened: {exc.strerror or exc}"
    return "is a directory, not a file" if stat.S_ISDIR(mode) else "is not a regular file"


def read_records(path: Path | str, warn: WarnFn | None = None) -> Iterator[SpanRecord]:
    """Stream the records of a JSONL trace file (or a run directory's trace).

    Args:
        path: the file, or a run directory holding ``trace.jsonl``.
        warn: called with a message for problems that lose nothing already recorded
            (a truncated last line). Defaults to ignoring them.

    Raises:
        TraceFileError: the file cannot be opened, or a line is not a valid record.
    """
    file_path = resolve_trace_path(path)
    try:
        handle = file_path.open("rb")
    except OSError as exc:
        raise open_error(file_path, exc) from None
    with handle:
        yield from _read_lines(handle, file_path, warn)


def open_error(file_path: Path, exc: OSError) -> TraceFileError:
    """The reader's error for a trace file that could not be opened."""
    if isinstance(exc, FileNotFoundError):
        return TraceFileError(file_path, "no such file")
    if isinstance(exc, IsADirectoryError):
        return TraceFileError(file_path, "is a directory")
    return TraceFileError(file_path, f"cannot be opened: {exc.strerror or exc}")


def _read_lines(handle: IO[bytes], file_path: Path, warn: WarnFn | None) -> Iterator[SpanRecord]:
    pending: tuple[int, bytes] | None = None
    for number, raw in bounded_lines(handle, file_path):  # a gigabyte line is an error, not a gigabyte
        # A line is held back one step so that we know whether it is the last one.
        if pending is not None:
            record = _parse_line(*pending, file_path)
            if record is not None:
                yield record
        pending = (number, raw)
    if pending is None:
        return
    number, raw = pending
    if not raw.endswith(b"\n") and looks_truncated(raw):
        try:
            record = _parse_line(number, raw, file_path)
        except TraceFileError as exc:
            if warn is not None:
                warn(
                    f"{file_path}:{number}: last line is incomplete ({exc.problem}); "
                    f"ignored it and read the {number - 1} line(s) before it "
                    f"(the writer was probably killed mid-line)"
                )
            return
        if record is not None:
            yield record
        return
    record = _parse_line(number, raw, file_path)
    if record is not None:
        yield record


_RECORD_START = b'{"trace_id":'


def looks_truncated(raw: bytes) -> bool:
    """Whether an unterminated last line could be a span record cut off by a killed writer:
    it starts as every line the writer writes does. ``hello world`` does not."""
    head = raw.lstrip()[: len(_RECORD_START)]
    return (
        len(head) > 0 and _RECORD_START.startswith(head)
        if len(head) < len(_RECORD_START)
        else head == _RECORD_START
    )


#: What some Windows tools put at the start of a UTF-8 file; JSON Lines does not allow it.
UTF8_BOM = b"\xef\xbb\xbf"


def json_line_problem(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    """What is wrong with a line orjson refused, in a few words."""
    if raw.startswith(UTF8_BOM):
        return "starts with a UTF-8 byte order mark (BOM), which JSON Lines does not allow: remove it"
    return "not UTF-8 text" if "utf-8" in str(exc).lower() else f"not valid JSON ({exc})"


def _parse_line(number: int, raw: bytes, file_path: Path) -> SpanRecord | None:
    if not raw.strip():
        return None  # blank lines (a hand-edited file's trailing newline) carry nothing
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problem = json_line_problem(raw, exc)
        raise TraceFileError(file_path, problem, number) from None
    try:
        return SpanRecord.from_json_obj(obj)
    except RecordError as exc:
        raise TraceFileError(file_path, f"not a span record: {exc}", number) from None


class JsonlWriter:
    """Appends records to a JSONL file or stream, one flushed line per record, thread-safe.

    Given a path it opens (and later closes) the file itself; given a stream it writes to
    it and leaves closing to its owner, like the OpenTelemetry SDK's file exporters.
    """

    def __init__(self, target: Path | str | IO[bytes]) -> None:
        self._lock = threading.Lock()
        if isinstance(target, str | Path):
            self.path: Path | None = Path(target)
            self._stream: IO[bytes] = self.path.open("ab")
            self._owns_stream = True
        else:
            self.path = None
            self._stream = target
            self._owns_stream = False
        self._closed = False

    def write(self, records: list[SpanRecord]) -> None:
        """Write and flush records; raises OSError when the disk refuses."""
        data = b"".join(encode_record(r) for r in records)
        with self._lock:
            if self._closed:
                raise ValueError("writer is closed")
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        """fsync and close (only what this writer opened). Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stream.flush()
            # Pipes, sockets and in-memory streams cannot be fsynced; nothing to do for them.
            with contextlib.suppress(OSError, ValueError):
                os.fsync(self._stream.fileno())
            if self._owns_stream:
                self._stream.close()
