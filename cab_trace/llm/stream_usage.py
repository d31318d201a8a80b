"""Tokens for every streamed chat call, without changing what the agent sees.

An OpenAI chat stream carries usage only when the request says
``stream_options.include_usage``. When the agent did not ask, the proxy asks for it upstream
(:func:`ask_for_usage`), and on the way back drops the extra usage-only chunk
(:func:`is_usage_only`) and the ``"usage": null`` the other chunks then carry
(:func:`without_null_usage`), so the agent gets the stream it asked for
(:class:`UsageStripper`, which does it as the bytes arrive without holding the upstream's own
bytes back).
"""

from __future__ import annotations

import re

import orjson

from cab_trace.llm.sse import SseEvent, SseParser

_USAGE_OBJECT = re.compile(r'"usage"\s*:\s*\{')
# Spaces and tabs only: a line end inside an event's data is the end of a data line, and a
# stream's blank lines must never be held back waiting to see whether a member follows.
_NULL_USAGE = re.compile(
    rb'[ \t]*,[ \t]*"usage"[ \t]*:[ \t]*null(?=[ \t]*[,}])|"usage"[ \t]*:[ \t]*null[ \t]*,[ \t]*'
)


def ask_for_usage(body: bytes) -> bytes | None:
    """The request body with ``stream_options.include_usage: true`` added, or None when it
    needs none (not a stream, already asking, or not a JSON object)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("stream") is not True:
        return None
    options = doc.get("stream_options")
    if options is not None and not isinstance(options, dict):
        return None
    if isinstance(options, dict) and "include_usage" in options:
        return None  # the agent decided, either way: leave its request alone
    doc["stream_options"] = {**(options or {}), "include_usage": True}
    return orjson.dumps(doc)


def is_usage_only(event: SseEvent) -> bool:
    """The chunk a stream sends when asked for usage: no choices, a usage object."""
    if not _USAGE_OBJECT.search(event.data):
        return False  # no usage, or "usage": null (every other chunk): no need to parse
    try:
        doc = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and not doc.get("choices") and isinstance(doc.get("usage"), dict)


def without_null_usage(raw: bytes) -> bytes:
    """An event's bytes without the ``"usage": null`` member the proxy's request added.
    (An unescaped ``"usage"`` cannot occur inside a JSON string, so only the member matches.)"""
    return _NULL_USAGE.sub(b"", raw) if b'"usage"' in raw else raw


def stream_choices(body: bytes) -> int:
    """How many choices a chat request asks for (``n``, 1 when it does not say)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 1
    n = doc.get("n") if isinstance(doc, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


#: How long bytes may be held back while it is not known yet whether they start what the proxy
#: asked for; past this they go on as they came (a ``"usage": null`` they begin then stays in:
#: it says what leaving usage out says). Only a stream slower than this between two bytes of
#: one JSON member, or of one event's start, ever meets it.
HOLD_S = 0.05
#: An undecided event longer than this is not the usage-only chunk (that one is a few hundred bytes).
_EVENT_CAP = 64 * 1024

_LINE_END = re.compile(rb"[\r\n]")
_CHOICES_GIVEN = re.compile(rb'"choices"[ \t]*:[ \t]*\[[ \t]*[^ \t\]]')
# A literal start (no look-behind), so that the regex engine scans for it fast; an escaped
# quote before it (inside a string) is checked apart.
_FINISHED = re.compile(rb'"finish_reason"[ \t]*:[ \t]*"')
_NULL_CORE = re.compile(rb'"usage"[ \t]*:[ \t]*null')
_FIELD_LINES = re.compile(
    rb"(?:(?:[^d\r\n][^\r\n]*|d(?:[^a\r\n][^\r\n]*)?|da(?:[^t\r\n][^\r\n]*)?"
    rb"|dat(?:[^a\r\n][^\r\n]*)?|data[^:\r\n][^\r\n]*)?(?:\r\n|\r|\n))*"
)


def _prefix(atoms: list[bytes]) -> bytes:
    """A pattern matching any prefix of the concatenation of ``atoms`` (each a regex piece)."""
    out = b""
    for atom in reversed(atoms):
        out = atom + (b"(?:" + out + b")?" if out else b"")
    return out


_WS = b"[ \\t]*"
_KEY = [b'"', b"u", b"s", b"a", b"g", b"e", b'"' + _WS, b":" + _WS, b"n", b"u", b"l", b"l" + _WS]
#: The end of a buffer that could still become a ``"usage": null`` member to take out.
_PARTIAL_NULL = re.compile(
    b"(?:"
    + _WS
    + b","
    + _WS
    + b"(?:"
    + _prefix(_KEY)
    + b")?|[ \\t]+|"
    + _prefix([*_KEY, b"," + _WS])
    + b")\\Z"
)


class UsageStripper:
    """A chat stream less what asking for usage added, as the bytes arrive.

    :meth:`feed` takes each piece and returns the bytes to pass on now: everything, less the
    ``"usage": null`` members and the usage-only event, less only what could still turn out to
    be one of them:

    - the end of a piece that may start a ``"usage": null`` member is held until the next bytes
      tell, and for at most :data:`HOLD_S` (:attr:`deadline`, :meth:`release`; past it the
      bytes go on as they came, and the member, if it was one, stays in);
    - once every choice has finished (the request's ``n``), where the usage asked for comes,
      an event is held until its first bytes show it is not the usage-only chunk (choices, or
      data that is not a JSON object); the usage-only chunk itself is taken out whole.

    The same bytes as reading every event with :class:`~cab_trace.llm.sse.SseParser` and
    applying :func:`is_usage_only` (to the first event after every choice finished) and
    :func:`without_null_usage`, whenever nothing is released by the clock; :meth:`finish`
    gives what is still held at the end, as it came.

    Args:
        choices: how many choices the request asked for (``n``).
        hold_s: how long the start of a member may be held back while undecided.
    """

    def __init__(self, choices: int = 1, hold_s: float = HOLD_S) -> None:
        self._choices = choices
        self._hold_s = hold_s
        self._finished = 0  # choices whose finish_reason has gone by
        self._dropped = False  # the usage-only event has been taken out
        self._fin_carry = b""  # the end of what went by, to find a finish_reason across pieces
        self._event = bytearray()  # the start of an event held while undecided
        self._passing = False  # the current event is known not to be the usage-only one
        self._line_len = 0  # bytes of the current line seen so far
        self._cr = False  # the last byte was a CR (a following LF belongs to it)
        self._ended_on_cr: bool | None = None  # that CR ended an event: passed on (True) or not
        self._tail = b""  # the end of passed bytes that may start a "usage": null member
        self._tail_since: float | None = None

    @property
    def deadline(self) -> float | None:
        """When :meth:`release` must be called (``time.monotonic()`` seconds), or None."""
        return None if self._tail_since is None else self._tail_since + self._hold_s

    @property
    def held(self) -> int:
        """Bytes held back now."""
        return len(self._event) + len(self._tail)

    def feed(self, data: bytes, now: float = 0.0) -> bytes:
        out: list[bytes] = []
        if not data:
            return b""
        if (
            not (self._at_end or self._cr or self._event)
            and b"\r" not in data
            and (self._finished >= self._choices or not _FINISHED.search(self._fin_carry + data))
        ):
            # The bulk of a stream: nothing to hold but the start of a member at its end.
            self._pass(out, data, now)
            last = data.rfind(b"\n")
            self._line_len = len(data) - last - 1 if last >= 0 else self._line_len + len(data)
            self._passing = not data.endswith(b"\n\n")
            return b"".join(out)
        pos, n = 0, len(data)
        if self._cr and data[:1] == b"\n":
            # The LF of a CRLF split between pieces: part of the line end already counted, and
            # the last byte of the event that line end closed, if it closed one.
            self._cr = False
            if self._ended_on_cr is None:
                self._route(out, data[:1], now)
            elif self._ended_on_cr:
                out.append(data[:1])
            pos = 1
        self._ended_on_cr = None
        while pos < n:
            end = self._event_end(data, pos)
            if end < 0:
                self._route(out, data[pos:], now)
                if self._event and self._decided(bytes(self._event)):
                    self._pass_event(out, now)
                break
            self._route(out, data[pos:end], now)
            passed = self._event_done(out, now)
            self._ended_on_cr = passed if self._cr else None
            pos = end
        return b"".join(out)

    def release(self, now: float) -> bytes:
        """What has been held past its time, as it came (nothing when nothing is due)."""
        if self._tail_since is None or now < self._tail_since + self._hold_s:
            return b""
        out, self._tail, self._tail_since = self._tail, b"", None
        return out

    def finish(self) -> bytes:
        """Everything still held (the stream has ended), as it came."""
        out = self._tail + bytes(self._event)
        self._event, self._tail, self._tail_since = bytearray(), b"", None
        return out

    # -- events -----------------------------------------------------------------------------------

    @property
    def _at_end(self) -> bool:
        """Every choice has finished: what comes now is, normally, the usage asked for."""
        return self._finished >= self._choices and not self._dropped

    def _event_end(self, data: bytes, pos: int) -> int:
        """Where the current event ends in ``data`` (just past its blank line), or -1."""
        n = len(data)
        while True:
            match = _LINE_END.search(data, pos)
            if match is None:
                self._line_len += n - pos
                self._cr = False
                return -1
            i = match.start()
            self._line_len += i - pos
            end = i + 1
            self._cr = False
            if data[i] == 0x0D:
                if end < n:
                    end += data[end] == 0x0A
                else:
                    self._cr = True
            blank = self._line_len == 0
            self._line_len = 0
            if blank:
                return end
            pos = end

    def _route(self, out: list[bytes], piece: bytes, now: float) -> None:
        if not piece:
            return
        if self._passing or not (self._event or self._at_end):
            self._passing = True
            self._pass(out, piece, now)
        else:
            self._event += piece

    def _decided(self, start: bytes) -> bool:
        """The start of an event shows it is not the usage-only chunk: a data line whose value
        is not a JSON object, or a chunk that has choices."""
        if len(start) > _EVENT_CAP or _CHOICES_GIVEN.search(start):
            return True
        rest = start[_FIELD_LINES.match(start).end() :]  # type: ignore[union-attr]
        if not rest.startswith(b"data:"):
            return False  # comment or field lines, or the start of a line not yet known
        value = rest[6:] if rest[5:6] == b" " else rest[5:]
        return bool(value) and not value.startswith(b"{")

    def _pass_event(self, out: list[bytes], now: float) -> None:
        held, self._event = bytes(self._event), bytearray()
        self._passing = True
        self._pass(out, held, now)

    def _event_done(self, out: list[bytes], now: float) -> bool:
        """The current event (its bytes routed) has ended; False if it was the usage-only one."""
        passed = True
        if not self._passing:
            raw, self._event = bytes(self._event), bytearray()
            passed = not (
                _USAGE_OBJECT_BYTES.search(raw) and any(is_usage_only(e) for e in SseParser().feed(raw))
            )
            if passed:
                self._pass(out, raw, now)
            else:
                self._dropped = True  # what was asked for has come: nothing more to wait for
        self._passing = False
        return passed

    # -- "usage": null members ----------------------------------------------------------------------

    def _pass(self, out: list[bytes], piece: bytes, now: float) -> None:
        """Bytes known to go on, less complete ``"usage": null`` members; a possible start of one
        at their end is held."""
        self._count_finished(piece)
        buf = self._tail + piece if self._tail else piece
        had_tail = bool(self._tail)
        partial = _PARTIAL_NULL.search(buf, max(0, len(buf) - 96))
        cut = partial.start() if partial is not None else len(buf)
        if b'"usage"' in buf:
            members = _null_members(buf)
            for start, end in members:
                if start < cut < end:
                    cut = start
            kept, last = [], 0
            for start, end in members:
                if end <= cut:
                    kept.append(buf[last:start])
                    last = end
            kept.append(buf[last:cut])
            out.append(b"".join(kept))
        else:
            out.append(buf[:cut])
        self._tail = buf[cut:]
        if not self._tail:
            self._tail_since = None
        elif not had_tail or self._tail_since is None:
            self._tail_since = now

    def _count_finished(self, piece: bytes) -> None:
        if self._finished >= self._choices:
            return
        text = self._fin_carry + piece
        carry = len(self._fin_carry)
        if b'"finish_reason"' in text:
            self._finished += sum(
                1
                for m in _FINISHED.finditer(text)
                if m.end() > carry and text[m.start() - 1 : m.start()] != b"\\"
            )
        self._fin_carry = text[-40:]


def _null_members(buf: bytes) -> list[tuple[int, int]]:
    """Where :data:`_NULL_USAGE` matches in ``buf`` (the same spans, found from the literal
    ``"usage"`` so that a long stream is scanned at the regex engine's speed)."""
    spans: list[tuple[int, int]] = []
    last = 0
    n = len(buf)
    for m in _NULL_CORE.finditer(buf):
        if m.start() < last:
            continue
        # "..., "usage": null" followed by "," or "}": the member and the comma before it.
        k = m.start()
        while k > last and buf[k - 1] in b" \t":
            k -= 1
        after = m.end()
        while after < n and buf[after] in b" \t":
            after += 1
        if k > last and buf[k - 1] == 0x2C and after < n and buf[after] in b",}":
            start = k - 1
            while start > last and buf[start - 1] in b" \t":
                start -= 1
            spans.append((start, m.end()))
            last = m.end()
        elif after < n and buf[after] == 0x2C:  # '"usage": null,' first: the comma after it
            end = after + 1
            while end < n and buf[end] in b" \t":
                end += 1
            spans.append((m.start(), end))
            last = end
    return spans


_USAGE_OBJECT_BYTES = re.compile(rb'"usage"\s*:\s*\{')
