"""Message parts in the GenAI conventions' shapes, built by every wire format."""

from __future__ import annotations

from typing import Any

Json = Any


def tool_call_part(call_id: object, name: object, arguments: Json) -> Json:
    """A ``tool_call`` part; the id only when the API gave one (the schema takes a string)."""
    part: dict[str, Any] = {"type": "tool_call"}
    if isinstance(call_id, str) and call_id:
        part["id"] = call_id
    part["name"] = name if isinstance(name, str) else ""
    part["arguments"] = arguments
    return part


def tool_response_part(call_id: object, response: Json) -> Json:
    """A ``tool_call_response`` part: the tool's output under ``response``, as the conventions
    name it (traces before 0.2 wrote ``result``; readers take either: :func:`part_response`)."""
    part: dict[str, Any] = {"type": "tool_call_response"}
    if isinstance(call_id, str) and call_id:
        part["id"] = call_id
    part["response"] = response
    return part


def part_response(part: dict[str, Any]) -> Json:
    """The output of a ``tool_call_response`` part, as written now (``response``) or by older
    versions (``result``)."""
    return part["response"] if "response" in part else part.get("result")
