"""Reading untrusted JSON values: a body that may not parse, a field that may hold anything.

Small total functions (never raise, give None or an empty value for the wrong type) shared by
request parsing, message normalisation and the response accumulator.
"""

from __future__ import annotations

from typing import Any

import orjson

#: A decoded JSON value, as the wire formats hand it over.
Json = Any


def _loads(body: bytes | str) -> Json:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _arguments(text: object) -> Json:
    """Tool-call arguments as an object when they are JSON text (as the conventions ask)."""
    if isinstance(text, str):
        parsed = _loads(text) if text.strip() else None
        return parsed if isinstance(parsed, dict | list) else text
    return text


def _text_of(content: Json) -> str:
    """Plain text of a content value: a string, or the text of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", "")) for block in content if isinstance(block, dict) and "text" in block
        )
    return "" if content is None else orjson.dumps(content).decode()


def _list(value: object) -> list[Json]:
    return list(value) if isinstance(value, list) else []


def _get(doc: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc
