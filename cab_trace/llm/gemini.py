"""The Gemini API's ``generateContent`` / ``streamGenerateContent`` (``?alt=sse``) wire format.

The model is in the path (``/v1beta/models/{model}:generateContent``) and a stream is a
sequence of whole ``GenerateContentResponse`` objects, one per event, with no end marker: the
answer is complete when a candidate has its ``finishReason``. Function calls may come without
ids; tool steps then pair a call with the next result of the same name.
"""

from __future__ import annotations

import re
from typing import Any

from cab_trace.llm.parts import tool_call_part, tool_response_part

_MODEL = re.compile(r"/models/([^/:?]+):(?:stream)?[gG]enerateContent")


def is_gemini(method: str, path: str) -> bool:
    return method.upper() == "POST" and bool(_MODEL.search(path.split("?", 1)[0]))


def model_in_path(path: str) -> str | None:
    match = _MODEL.search(path.split("?", 1)[0])
    return match.group(1) if match else None


def is_stream_path(path: str) -> bool:
    return ":streamGenerateContent" in path


def parts_of(parts: object) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(call := part.get("functionCall"), dict):
            out.append(tool_call_part(call.get("id"), call.get("name"), call.get("args")))
        elif isinstance(result := part.get("functionResponse"), dict):
            # The response is an object, kept as one (the conventions' response is any value);
            # the name stays with it: Gemini's calls may have no id, and steps pair by name.
            response = tool_response_part(result.get("id"), result.get("response"))
            if isinstance(result.get("name"), str):
                response["name"] = result["name"]
            out.append(response)
        elif isinstance(text := part.get("text"), str):
            out.append({"type": "reasoning" if part.get("thought") else "text", "content": text})
    return out


def request_messages(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """(input messages, system instructions, tool definitions) of a request body."""
    messages = []
    for content in doc.get("contents") or []:
        if isinstance(content, dict):
            role = str(content.get("role") or "user")
            parts = parts_of(content.get("parts"))
            if role == "user" and parts and all(p["type"] == "tool_call_response" for p in parts):
                role = "tool"
            messages.append({"role": "assistant" if role == "model" else role, "parts": parts})
    system = doc.get("systemInstruction") or doc.get("system_instruction")
    instructions = [
        {"type": "text", "content": p["content"]}
        for p in parts_of(system.get("parts") if isinstance(system, dict) else None)
        if p["type"] == "text"
    ]
    tools = [t for t in doc.get("tools") or [] if isinstance(t, dict)]
    return messages, instructions, tools


def generation_config(doc: dict[str, Any]) -> dict[str, Any]:
    config = doc.get("generationConfig") or doc.get("generation_config")
    return config if isinstance(config, dict) else {}
