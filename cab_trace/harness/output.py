"""The agent's output on its way through the harness: redacted as it streams, with a bounded
tail kept for the span (never the whole output in memory)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import orjson

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
CAST_WIDTH, CAST_HEIGHT = 120, 36


class CastWriter:
    """The agent's (already redacted) output as an asciicast v2 file, one flushed event per chunk,
    so that ``asciinema play`` and the replay show it with its timing, and a killed run keeps
    what was written. Both streams go to the one screen, as in a terminal.

    Pipes carry bare ``\n``; a terminal (a pty with ``onlcr``) turns it into ``\r\n``, so the
    recording does the same and plays back as the agent would have looked. With ``raw`` (the
    agent had a pseudo-terminal), the bytes are recorded exactly as the agent drew them.
    """

    def __init__(
        self, path: Path, width: int = CAST_WIDTH, height: int = CAST_HEIGHT, raw: bool = False
    ) -> None:
        self.path = path
        self._raw = raw
        self._file: IO[bytes] = path.open("wb")
        self._start = time.monotonic()
        header = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(time.time()),
            "env": {"TERM": "xterm-256color"},
        }
        self._file.write(orjson.dumps(header) + b"\n")
        self._file.flush()

    def write(self, text: str) -> None:
        if not self._raw:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        event = [round(time.monotonic() - self._start, 6), "o", text]
        self._file.write(orjson.dumps(event) + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class OutputCapture:
    """Receives raw chunks from the runtime; redacts them per stream; keeps tails; optionally
    records them to a terminal recording and echoes them.

    Args:
        redactor: applied to everything before it is stored, recorded or echoed.
        echo: called with (stream, redacted text) as output arrives, e.g. to show it live.
        cast: the terminal recording to append redacted output to.
    """

    def __init__(
        self,
        redactor: Redactor,
        echo: EchoFn | None = None,
        tail_chars: int = TAIL_CHARS,
        cast: CastWriter | None = None,
    ) -> None:
        self._cast = cast
        self._streams = {name: redactor.stream() for name in ("stdout", "stderr")}
        self._tails = {name: _Tail(tail_chars) for name in ("stdout", "stderr")}
        self._echo = echo
        self._lock = threading.Lock()
        self.bytes_seen = {"stdout": 0, "stderr": 0}

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
                self._cast.write(text)
            if self._echo is not None:
                self._echo(stream, text)
