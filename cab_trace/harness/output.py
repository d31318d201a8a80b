"""The agent's output on its way through the harness: redacted as it streams, with a bounded
tail kept for the span (never the whole output in memory)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import orjson

from cab_trace.clock import RunClock
from cab_trace.harness.lifecycle import RunWriteError, write_error
from cab_trace.redact import Redactor, StreamRedactor

#: How much of each stream's end the container span keeps (``stdout_tail`` / ``stderr_tail``).
TAIL_CHARS = 4096

EchoFn = Callable[[str, str], None]


class _Tail:
    """The last ``limit`` characters of a stream, kept in bounded memory."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._text = ""

    def add(self, text: str) -> None:
        # Amortised: trim only when the buffer has grown to twice the limit.
        self._text += text
        if len(self._text) > 2 * self._limit:
            self._text = self._text[-self._limit :]

    def value(self) -> str:
        return self._text[-self._limit :]


CAST_FILE_NAME = "terminal.cast"
#: Bytes kept free under ``--cast-limit`` for the marker that says where the recording stopped.
_MARKER_ROOM = 200
CAST_WIDTH, CAST_HEIGHT = 120, 36


class CastWriter:
    """The agent's (already redacted) output as an asciicast v2 file, one flushed event per chunk,
    so that ``asciinema play`` and the replay show it with its timing, and a killed run keeps
    what was written. Both streams go to the one screen, as in a terminal.

    Pipes carry bare ``\n``; a terminal (a pty with ``onlcr``) turns it into ``\r\n``, so the
    recording does the same and plays back as the agent would have looked. With ``raw`` (the
    agent had a pseudo-terminal), the bytes are recorded exactly as the agent drew them.

    Event times are seconds from ``origin_ns`` on the run's ``clock`` (the container span's
    start), so a step of the wall clock during the run moves nothing.
    """

    def __init__(
        self,
        path: Path,
        width: int = CAST_WIDTH,
        height: int = CAST_HEIGHT,
        raw: bool = False,
        limit_bytes: int | None = None,
        *,
        clock: RunClock | None = None,
        origin_ns: int | None = None,
    ) -> None:
        self.path = path
        self._clock = clock or RunClock()
        self._origin_ns = origin_ns if origin_ns is not None else self._clock.now_ns()
        self._raw = raw
        self._limit = limit_bytes
        self.bytes_written = 0
        #: Seconds into the recording where ``limit_bytes`` stopped it (None: it did not).
        self.stopped_at: float | None = None
        # Unbuffered: a write the disk refuses is undone whole (see _append), never left half.
        self._file: IO[bytes] = path.open("wb", buffering=0)
        header = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": self._origin_ns // 1_000_000_000,
            "env": {"TERM": "xterm-256color"},
        }
        self._append(orjson.dumps(header) + b"\n")
        self.bytes_written = self._file.tell()

    def write(self, text: str) -> None:
        if self.stopped_at is not None:
            return
        if not self._raw:
            # The first replace only where there is a \r to pair (a pipe's output has none): each
            # replace of the whole output costs about a twentieth of recording it.
            text = (text.replace("\r\n", "\n") if "\r" in text else text).replace("\n", "\r\n")
        at = round(max(self._clock.now_ns() - self._origin_ns, 0) / 1e9, 6)
        line = orjson.dumps([at, "o", text]) + b"\n"
        if self._limit is not None and self.bytes_written + len(line) > self._limit - _MARKER_ROOM:
            # As much of this output as fits, then an asciicast marker ("m") that says where,
            # and why, the recording stops.
            room = self._limit - _MARKER_ROOM - self.bytes_written
            keep = len(text) * room // len(line)
            while keep > 0:
                line = orjson.dumps([at, "o", text[:keep]]) + b"\n"
                if len(line) <= room:
                    self._append(line)
                    self.bytes_written += len(line)
                    break
                keep -= (len(line) - room) * keep // len(line) + 1  # shrink by the overshoot
            self.stopped_at = at
            note = f"cab-trace: the recording stops here (--cast-limit {self._limit} bytes)"
            line = orjson.dumps([at, "m", note]) + b"\n"
        self._append(line)
        self.bytes_written += len(line)

    def _append(self, data: bytes) -> None:
        """All of ``data`` or, if the disk refuses (OSError), none of it: every line is whole."""
        fd = self._file.fileno()
        good = os.lseek(fd, 0, os.SEEK_CUR)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, good)
                os.lseek(fd, good, os.SEEK_SET)
            raise

    def close(self) -> None:
        self._file.close()


class OutputCapture:
    """Receives raw chunks from the runtime; redacts them per stream; keeps tails; optionally
    records them to a terminal recording and echoes them.

    Args:
        redactor: applied to everything before it is stored, recorded or echoed.
        echo: called with (stream, redacted text) as output arrives, e.g. to show it live.
        cast: the terminal recording to append redacted output to.
        on_error: called once if writing the recording fails (e.g. the disk is full), from the
            thread that reads the output; the output keeps being read (and redacted into the
            tails), so the agent never blocks on a pipe nobody drains.
    """

    def __init__(
        self,
        redactor: Redactor,
        echo: EchoFn | None = None,
        tail_chars: int = TAIL_CHARS,
        cast: CastWriter | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self._cast = cast
        self._streams = {name: redactor.stream() for name in ("stdout", "stderr")}
        self._tails = {name: _Tail(tail_chars) for name in ("stdout", "stderr")}
        self._echo = echo
        self._lock = threading.Lock()
        self.bytes_seen = {"stdout": 0, "stderr": 0}
        #: The first write that failed (the recording is then given up; tails are still kept).
        self.error: RunWriteError | None = None
        self._on_error = on_error

    def __call__(self, stream: str, chunk: bytes) -> None:
        redactor: StreamRedactor = self._streams[stream]
        text = redactor.feed(chunk)
        self.bytes_seen[stream] += len(chunk)
        self._emit(stream, text)

    def finish(self) -> None:
        """Flush what each stream redactor held back (call once the agent has ended)."""
        for name, redactor in self._streams.items():
            self._emit(name, redactor.finish())

    def tail(self, stream: str) -> str:
        return self._tails[stream].value()

    def _emit(self, stream: str, text: str) -> None:
        if not text:
            return
        self._tails[stream].add(text)
        with self._lock:
            if self._cast is not None:
                try:
                    self._cast.write(text)
                except OSError as exc:
                    self.error = write_error(self._cast.path, exc)
                    self._cast = None
                    if self._on_error is not None:
                        self._on_error()
            if self._echo is not None:
                try:
                    self._echo(stream, text)
                except OSError:
                    self._echo = None  # the terminal went away; the recording goes on
