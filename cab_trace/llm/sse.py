"""An incremental parser for server-sent events (the WHATWG ``text/event-stream`` format).

Bytes go in as they arrive, in pieces of any size; complete events come out. Lines end in
CRLF, LF or CR; a line starting with ``:`` is a comment; an event ends at a blank line.
Memory is bounded: an event longer than ``max_event`` bytes is skipped (counted in
:attr:`SseParser.skipped`), and :meth:`SseParser.skip` drops what is buffered and reads on from
the next event, for a reader that lost bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"[\r\n]")


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its ``event:`` type (``message`` when none), joined ``data:`` lines
    and ``id:``. ``raw`` is the event's bytes exactly as they arrived, blank line included. A
    block of comments only (a keep-alive) comes out with an empty ``event`` (:attr:`is_comment`)."""

    event: str
    data: str
    id: str | None = None
    raw: bytes = b""

    @property
    def is_comment(self) -> bool:
        return not self.event


#: An event longer than this is skipped, not buffered (a model's stream events are a few KB).
MAX_EVENT = 8 * 1024 * 1024


class SseParser:
    """Feed bytes with :meth:`feed`; each call returns the events completed by those bytes."""

    def __init__(self, max_event: int = MAX_EVENT) -> None:
        self._buffer = bytearray()
        self._event_start = 0  # where the event being read starts in _buffer
        self._scan = 0  # where to look for the next line end
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._pending_cr = False
        self.events = 0
        self._max_event = max_event
        #: Bytes not read as events: over-long events, and what :meth:`skip` dropped.
        self.skipped = 0
        self._skipping = False
        self._skip_line = 0  # bytes of the line being skipped, seen so far
        self._skip_cr = False

    @property
    def partial(self) -> bytes:
        """Bytes of an event that has not ended yet (what :meth:`feed` has not dispatched)."""
        return bytes(self._buffer[self._event_start :])

    def skip(self, dropped: int = 0) -> None:
        """Bytes were lost before what comes next (``dropped`` of them): forget the event being
        read and read on from the next blank line."""
        self.skipped += dropped
        self._skip_from(0 if self._at_line_start() else 1, self._buffer[-1:] == b"\r")

    def _at_line_start(self) -> bool:
        return not self._buffer or bytes(self._buffer[-1:]) in (b"\n", b"\r")

    def _skip_from(self, line: int, cr: bool) -> None:
        self.skipped += len(self._buffer) - self._event_start
        self._buffer.clear()
        self._event_start = self._scan = 0
        self._event, self._data, self._pending_cr = "", [], False
        self._skipping, self._skip_line, self._skip_cr = True, line, cr

    def _skip_to_event(self, chunk: bytes) -> bytes:
        """Drop ``chunk`` up to the next blank line; what follows it (nothing while skipping)."""
        pos, n = 0, len(chunk)
        if self._skip_cr and chunk[:1] == b"\n":
            pos = 1
        self._skip_cr = False
        while True:
            match = _LINE_END.search(chunk, pos)
            if match is None:
                self._skip_line += n - pos
                self.skipped += n
                return b""
            i = match.start()
            self._skip_line += i - pos
            end = i + 1
            if chunk[i] == 0x0D:
                if end < n:
                    end += chunk[end] == 0x0A
                else:
                    self._skip_cr = True
            blank, self._skip_line = self._skip_line == 0, 0
            if blank:
                self._skipping = False
                self._pending_cr = self._skip_cr
                self.skipped += end
                return chunk[end:]
            pos = end

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self._skipping:
            chunk = self._skip_to_event(chunk)
            if not chunk:
                return []
        buf = self._buffer
        buf += chunk
        if len(buf) - self._event_start > self._max_event:
            out = self._feed_lines(buf) if b"\r" in buf or self._pending_cr else self._feed_lf(buf)
            if len(self._buffer) - self._event_start > self._max_event:
                self._skip_from(0 if self._at_line_start() else 1, self._buffer[-1:] == b"\r")
            return out
        if (
            self._scan == self._event_start
            and not self._pending_cr
            and not self._data
            and not self._event
            and b"\r" not in buf
        ):
            return self._feed_lf(buf)
        return self._feed_lines(buf)

    def _feed_lines(self, buf: bytearray) -> list[SseEvent]:
        """:meth:`feed` line by line, for any line ends and an event begun."""
        out: list[SseEvent] = []
        pos = self._scan
        n = len(buf)
        while pos < n:
            if self._pending_cr:
                # A CR seen at the end of the last piece: a following LF belongs to it.
                self._pending_cr = False
                if buf[pos] == 0x0A:
                    pos += 1
                    continue
            # One search for either line end: two finds would each run to the end of a long
            # piece that lacks one of them, for every line.
            match = _LINE_END.search(buf, pos)
            if match is None:
                break
            end = match.start()
            line = bytes(buf[pos:end])
            nxt = end + 1
            if buf[end] == 0x0D:
                if nxt < n:
                    if buf[nxt] == 0x0A:
                        nxt += 1
                else:
                    self._pending_cr = True
            pos = nxt
            if line:
                self._field(line)
                continue
            # A blank line: dispatch.
            raw = bytes(buf[self._event_start : pos])
            self._event_start = pos
            if self._data or self._event:
                out.append(SseEvent(self._event or "message", "\n".join(self._data), self._id, raw))
                self.events += 1
            else:
                # Comments only (a keep-alive): no event, but a forwarder must pass its bytes on.
                out.append(SseEvent("", "", self._id, raw))
            self._event, self._data = "", []
        if self._event_start:
            del buf[: self._event_start]
            pos -= self._event_start
            self._event_start = 0
        self._scan = pos
        return out

    def _feed_lf(self, buf: bytearray) -> list[SseEvent]:
        """:meth:`feed` for the usual case, lines ending in LF only and no event begun: whole
        events are found by their blank line and read at once (what is left of an unfinished
        one waits, unread, for more bytes); the same events as the line-by-line reading."""
        out: list[SseEvent] = []
        pos, n = 0, len(buf)
        while pos < n:
            if buf[pos] == 0x0A:  # a blank line with nothing before it: a keep-alive
                out.append(SseEvent("", "", self._id, b"\n"))
                pos += 1
                continue
            end = buf.find(b"\n\n", pos)
            if end < 0:
                break
            raw = bytes(buf[pos : end + 2])
            for line in raw[:-2].split(b"\n"):
                if line.startswith(b"data: "):
                    self._data.append(line[6:].decode("utf-8", "replace"))
                else:
                    self._field(line)
            pos = end + 2
            if self._data or self._event:
                out.append(SseEvent(self._event or "message", "\n".join(self._data), self._id, raw))
                self.events += 1
                self._event, self._data = "", []
            else:
                out.append(SseEvent("", "", self._id, raw))
        if pos:
            del buf[:pos]
        self._scan = self._event_start = 0
        return out

    def _field(self, line: bytes) -> None:
        if line.startswith(b":"):
            return
        name, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", "replace")
        key = name.decode("utf-8", "replace")
        if key == "data":
            self._data.append(text)
        elif key == "event":
            self._event = text
        elif key == "id" and "\0" not in text:
            self._id = text
