"""Tokens for every streamed chat call, without changing what the agent sees.

An OpenAI chat stream carries usage only when the request says
``stream_options.include_usage``. When the agent did not ask, the proxy asks for it upstream
(:func:`ask_for_usage`), and on the way back drops the extra usage-only chunk
(:func:`is_usage_only`) and the ``"usage": null`` the other chunks then carry
(:func:`without_null_usage`), so the agent gets the stream it asked for.
"""

from __future__ import annotations

import re

import orjson

from cab_trace.llm.sse import SseEvent, SseParser

_USAGE_OBJECT = re.compile(r'"usage"\s*:\s*\{')
_NULL_USAGE = re.compile(rb'\s*,\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,\s*')


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


_USAGE_OBJECT_BYTES = re.compile(rb'"usage"\s*:\s*\{')


class UsageStripper:
    """A chat stream less what asking for usage added, piece by piece: feed each piece as it
    arrives (:meth:`feed` returns the bytes to pass on now, the events that piece completed
    less the usage-only one and the ``"usage": null`` members); :attr:`partial` is an event the
    stream never finished. The same bytes as reading every event with
    :class:`~cab_trace.llm.sse.SseParser` and applying :func:`is_usage_only` and
    :func:`without_null_usage`, but a stream whose lines end in LF only (the usual) is cut at
    its blank lines and only an event that holds a usage object is read as an event."""

    def __init__(self) -> None:
        self._held = b""  # an unfinished event (LF-only reading)
        self._sse: SseParser | None = None  # line-by-line reading, once a CR has been seen

    @property
    def partial(self) -> bytes:
        return self._sse.partial if self._sse is not None else self._held

    def feed(self, data: bytes) -> bytes:
        if self._sse is None and b"\r" in data:
            # Any line end from now on: read event by event from the unfinished event on.
            self._sse, data, self._held = SseParser(), self._held + data, b""
        if self._sse is not None:
            return b"".join(without_null_usage(e.raw) for e in self._sse.feed(data) if not is_usage_only(e))
        buf = self._held + data if self._held else data
        # In LF-only text every "\n\n" ends an event (or is a keep-alive blank line); the last
        # one ends what can be passed on. A lone "\n" first is a blank line too.
        done = buf.rfind(b"\n\n") + 2
        if done == 1:
            done = 1 if buf[:1] == b"\n" else 0
        region, self._held = buf[:done], buf[done:]
        if b'"usage"' not in region:
            return region
        out: list[bytes] = []
        pos = 0
        while pos < done:
            if region[pos] == 0x0A:  # a blank line on its own: a keep-alive
                out.append(b"\n")
                pos += 1
                continue
            end = region.index(b"\n\n", pos) + 2
            raw = region[pos:end]
            pos = end
            if b'"usage"' not in raw:
                out.append(raw)
            elif not _usage_only(raw):
                out.append(without_null_usage(raw))
        return b"".join(out)


def _usage_only(raw: bytes) -> bool:
    """One whole event's bytes are the usage-only chunk (read as an event only when they
    hold a usage object at all)."""
    return _USAGE_OBJECT_BYTES.search(raw) is not None and any(
        is_usage_only(e) for e in SseParser().feed(raw)
    )
