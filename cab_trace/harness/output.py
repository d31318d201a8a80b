"""The agent's output on its way through the harness: redacted as it streams, with a bounded
tail kept for the span (never the whole output in memory)."""

from __future__ import annotations

import threading
from collections.abc import Callable

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


class OutputCapture:
    """Receives raw chunks from the runtime; redacts them per stream; keeps tails; optionally echoes.

    Args:
        redactor: applied to everything before it is stored or echoed.
        echo: called with (stream, redacted text) as output arrives, e.g. to show it live.
    """

    def __init__(self, redactor: Redactor, echo: EchoFn | None = None, tail_chars: int = TAIL_CHARS) -> None:
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
        if self._echo is not None:
            with self._lock:
                self._echo(stream, text)
