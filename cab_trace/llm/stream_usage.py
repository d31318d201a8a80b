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

from cab_trace.llm.sse import SseEvent

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
