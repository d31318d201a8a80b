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


#: Each API's finish reasons as the conventions' well-known values (``FinishReason``: stop,
#: length, content_filter, tool_call, error). What maps to none stays as the API said it.
_WELL_KNOWN = {
    # Chat Completions
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    # Anthropic Messages
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
    # Responses (incomplete_details.reason)
    "max_output_tokens": "length",
    # Gemini
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "FINISH_REASON_UNSPECIFIED": "",
    # Inspect AI's stop reasons
    "model_length": "length",
}


def well_known_finish(reason: str | None) -> str:
    """A finish reason for inside an output message: the conventions' well-known value when one
    applies, the API's own word otherwise, and ``""`` when the API gave none (nothing is made up).

    The conventions now deprecate ``finish_reason`` inside output messages in favour of
    ``gen_ai.response.finish_reasons`` (which keeps the API's own words), but consumers built on
    the earlier schema, where it is required, drop the whole message without it (Phoenix 20
    does): so it is still written, in the well-known values."""
    if not reason:
        return ""
    return _WELL_KNOWN.get(reason, reason)
