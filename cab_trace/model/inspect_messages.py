"""Inspect AI's records in the GenAI conventions' terms: its chat messages, tool definitions,
generate config and usage; and a score value as a verdict. Pure."""

from __future__ import annotations

from typing import Any

from cab_trace.model.imported import as_dict, as_int, as_list, as_num, json_text

Json = Any


def passed_of(value: object) -> bool | None:
    """Whether a score value means the check passed: Inspect's ``C``/``I`` (correct,
    incorrect), a boolean, or a number (1 passes, 0 fails; anything else is not a verdict)."""
    if isinstance(value, bool):
        return value
    if value in ("C", "correct", "CORRECT"):
        return True
    if value in ("I", "incorrect", "INCORRECT", "P", "N"):
        return False
    if isinstance(value, int | float):
        return True if value == 1 else False if value == 0 else None
    return None


def resolve_attachments(value: Any, attachments: dict[str, Any]) -> Any:
    """``attachment://<hash>`` strings replaced by what the sample's attachments hold."""
    if isinstance(value, str):
        if value.startswith("attachment://"):
            found = attachments.get(value[len("attachment://") :])
            return found if isinstance(found, str) else value
        return value
    if isinstance(value, dict):
        return {k: resolve_attachments(v, attachments) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_attachments(v, attachments) for v in value]
    return value


def expand_refs(refs: object, pool: list[Any]) -> list[Any]:
    """Inspect's range-encoded refs (``[[start, end_exclusive], …]``) into a message pool."""
    out: list[Any] = []
    for ref in as_list(refs):
        if isinstance(ref, list) and len(ref) == 2 and all(isinstance(x, int) for x in ref):
            out.extend(pool[ref[0] : ref[1]])
    return out


def text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for item in as_list(content):
        if isinstance(item, dict) and item.get("type") == "text":
            texts.append(str(item.get("text", "")))
        elif isinstance(item, str):
            texts.append(item)
    return "".join(texts) if texts or not content else json_text(content)


def _content_parts(content: object) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[Json] = []
    for item in as_list(content):
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": str(item.get("text", ""))})
        elif kind == "reasoning":
            text = item.get("summary") if item.get("redacted") else item.get("reasoning")
            parts.append({"type": "reasoning", "content": str(text or "")})
        elif kind in ("image", "audio", "video"):
            ref = item.get(kind)
            if isinstance(ref, str) and not ref.startswith("data:"):
                parts.append({"type": "uri", "modality": kind, "uri": ref})
            else:
                parts.append({"type": kind})
        else:
            parts.append({"type": str(kind or "unknown")})
    return parts


def messages_of(messages: list[Any]) -> list[Json]:
    """Inspect's chat messages in the conventions' shape."""
    out: list[Json] = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = str(m.get("role") or "user")
        if role == "tool":
            part: dict[str, Any] = {"type": "tool_call_response"}
            if isinstance(m.get("tool_call_id"), str):
                part["id"] = m["tool_call_id"]
            error = as_dict(m.get("error"))
            part["response"] = (
                f"error ({error.get('type')}): {error.get('message')}" if error else text_of(m.get("content"))
            )
            out.append({"role": "tool", "parts": [part]})
            continue
        parts = _content_parts(m.get("content"))
        for call in as_list(m.get("tool_calls")):
            if isinstance(call, dict):
                tool_part: dict[str, Any] = {"type": "tool_call"}
                if isinstance(call.get("id"), str):
                    tool_part["id"] = call["id"]
                tool_part["name"] = str(call.get("function") or "")
                tool_part["arguments"] = call.get("arguments")
                parts.append(tool_part)
        out.append({"role": role, "parts": parts})
    return out


def tool_definitions(tools: object) -> list[Json]:
    out = []
    for tool in as_list(tools):
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            definition: dict[str, Any] = {"type": "function", "name": tool["name"]}
            if isinstance(tool.get("description"), str):
                definition["description"] = tool["description"]
            if isinstance(tool.get("parameters"), dict):
                definition["parameters"] = tool["parameters"]
            out.append(definition)
    return out


_PARAMS = (
    ("max_tokens", "gen_ai.request.max_tokens", as_int),
    ("temperature", "gen_ai.request.temperature", as_num),
    ("top_p", "gen_ai.request.top_p", as_num),
    ("top_k", "gen_ai.request.top_k", as_num),
    ("seed", "gen_ai.request.seed", as_int),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", as_num),
    ("presence_penalty", "gen_ai.request.presence_penalty", as_num),
)


def request_params(config: dict[str, Any]) -> dict[str, Any]:
    """Inspect's ``GenerateConfig`` as the conventions' request attributes."""
    a: dict[str, Any] = {}
    for key, attribute, convert in _PARAMS:
        if (value := convert(config.get(key))) is not None:
            a[attribute] = value
    stops = config.get("stop_seqs")
    if isinstance(stops, list) and stops and all(isinstance(s, str) for s in stops):
        a["gen_ai.request.stop_sequences"] = list(stops)
    if config.get("response_schema"):
        a["gen_ai.output.type"] = "json"
    if (n := as_int(config.get("num_choices"))) is not None and n != 1:
        a["gen_ai.request.choice.count"] = n
    return a


def usage_attributes(usage: dict[str, Any]) -> dict[str, Any]:
    """Inspect's counts in the conventions' terms: input tokens include cache reads and writes."""
    fresh, out = as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens"))
    if fresh is None and out is None:
        return {"cab.llm.usage_reported": False}
    read, write = as_int(usage.get("input_tokens_cache_read")), as_int(usage.get("input_tokens_cache_write"))
    attrs: dict[str, Any] = {"cab.llm.usage_reported": True}
    if fresh is not None:
        attrs["gen_ai.usage.input_tokens"] = fresh + (read or 0) + (write or 0)
    if out is not None:
        attrs["gen_ai.usage.output_tokens"] = out
    if read is not None:
        attrs["gen_ai.usage.cache_read.input_tokens"] = read
    if write is not None:
        attrs["gen_ai.usage.cache_write.input_tokens"] = write  # and the name before it (call.py)
        attrs["gen_ai.usage.cache_creation.input_tokens"] = write
    if (reasoning := as_int(usage.get("reasoning_tokens"))) is not None:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return attrs
