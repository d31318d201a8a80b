"""Wire-format messages normalised to the shapes the OpenTelemetry GenAI conventions give for
``gen_ai.input.messages`` / ``gen_ai.output.messages`` (their JSON schemas are in
``tests/fixtures/semconv/``): ``{"role", "parts": [...]}`` with parts ``text``, ``reasoning``,
``tool_call`` (id, name, arguments) and ``tool_call_response`` (id, response); an id the API
did not give is left out, not null.

Apart from request parsing because the same readers serve both directions: a request's history
and a complete (non-stream) answer.
"""

from __future__ import annotations

from typing import Any

from cab_trace.llm.parts import tool_call_part, tool_response_part
from cab_trace.llm.values import Json, _arguments, _dict, _list, _text_of
from cab_trace.llm.wire_types import Message


def _chat_messages(messages: object) -> list[Message]:
    out: list[Message] = []
    for m in _list(messages):
        if not isinstance(m, dict):
            continue
        role = str(m.get("role", "user"))
        parts: list[Json] = []
        if role == "tool":
            parts.append(tool_response_part(m.get("tool_call_id"), _text_of(m.get("content"))))
        else:
            reasoning = m.get("reasoning_content") or m.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                parts.append({"type": "reasoning", "content": reasoning})
            text = _text_of(m.get("content"))
            if text:
                parts.append({"type": "text", "content": text})
            for call in _list(m.get("tool_calls")):
                if isinstance(call, dict):
                    fn = _dict(call.get("function") or call.get("custom"))
                    args = fn.get("arguments") if "arguments" in fn else fn.get("input")
                    parts.append(tool_call_part(call.get("id"), fn.get("name"), _arguments(args)))
        out.append({"role": role, "parts": parts})
    return out


def _responses_input(value: object) -> list[Message]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    out: list[Message] = []
    for item in _list(value):
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            out.append(
                {
                    "role": str(item.get("role", "user")),
                    "parts": [{"type": "text", "content": _text_of(item.get("content"))}],
                }
            )
        elif kind in ("function_call", "custom_tool_call"):
            args = item.get("arguments") if kind == "function_call" else item.get("input")
            _append_part(
                out, "assistant", tool_call_part(item.get("call_id"), item.get("name"), _arguments(args))
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            _append_part(out, "tool", tool_response_part(item.get("call_id"), _text_of(item.get("output"))))
        elif kind == "reasoning":
            text = _reasoning_text(item)
            if text:
                _append_part(out, "assistant", {"type": "reasoning", "content": text})
    return out


def _append_part(out: list[Message], role: str, part: Json) -> None:
    if out and out[-1]["role"] == role and role in ("assistant", "tool"):
        out[-1]["parts"].append(part)
    else:
        out.append({"role": role, "parts": [part]})


def _reasoning_text(item: dict[str, Any]) -> str:
    summary = item.get("summary")
    return "".join(str(s.get("text", "")) for s in _list(summary) if isinstance(s, dict))


def _anthropic_blocks(content: object) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[Json] = []
    for block in _list(content):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": str(block.get("text", ""))})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": str(block.get("thinking", ""))})
        elif kind == "tool_use":
            parts.append(tool_call_part(block.get("id"), block.get("name"), block.get("input")))
        elif kind == "tool_result":
            parts.append(tool_response_part(block.get("tool_use_id"), _text_of(block.get("content"))))
        else:
            parts.append({"type": str(kind)})
    return parts


def _anthropic_messages(messages: object) -> list[Message]:
    return [
        {"role": str(m.get("role", "user")), "parts": _anthropic_blocks(m.get("content"))}
        for m in _list(messages)
        if isinstance(m, dict)
    ]
