"""Span detail: every attribute, event and the status of the selected span, exactly as recorded.

A model call is shown as the conversation it was (system instructions, each message by role
with its text, tool calls and tool results, then the answer), and a tool step as its
arguments and result, before the remaining attributes; the pane scrolls for long content.
"""

from __future__ import annotations

from typing import Any

import orjson
from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from cab_trace.llm.summary import is_model_call
from cab_trace.model import Attributes, SpanRecord
from cab_trace.show import format_duration, format_value
from replay.widgets.text import data

#: Attributes the conversation view shows in its own way.
CONTENT_ATTRIBUTES = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
)
#: Of those, the ones recorded as JSON text.
JSON_CONTENT = CONTENT_ATTRIBUTES[:4]
ROLE_STYLE = {
    "system": "bold magenta",
    "developer": "bold magenta",
    "user": "bold green",
    "assistant": "bold #5fafff",
    "tool": "bold yellow",
}


def describe(span: SpanRecord, origin_ns: int) -> Group:
    """Rich renderables for one span; every value from the trace is literal text."""
    parts: list[Text] = []
    title = data(span.name, style="bold")
    title.append(f"   {span.kind} · {span.span_kind}", style="dim")
    parts.append(title)
    start = (span.start_time_unix_nano - origin_ns) / 1e9
    duration = format_duration(span.end_time_unix_nano - span.start_time_unix_nano)
    timing = Text(
        f"start +{start:.3f} s · duration {duration} · span {span.span_id}"
        f" · parent {span.parent_span_id or '–'}",
        style="dim",
    )
    parts.append(timing)
    status = Text("status ")
    status.append(span.status.code, style="bold red" if span.is_error else "bold")
    if span.status.message:
        status.append(": ")
        status.append_text(data(span.status.message, one_line=False))
    parts.append(status)
    attributes = span.attributes
    if is_model_call(span) or attributes.get("gen_ai.operation.name") == "execute_tool":
        parts.extend(conversation(span))
        # Content shown above leaves the list; content that is not JSON (cut short by a
        # redaction rule, say) stays in it, as recorded.
        attributes = {
            k: v
            for k, v in attributes.items()
            if k not in CONTENT_ATTRIBUTES or (k in JSON_CONTENT and _json(v) is None)
        }
    if attributes:
        parts.append(Text("attributes", style="bold underline"))
        parts.extend(_attribute_lines(attributes))
    for event in span.events:
        head = Text(f"event +{(event.time_unix_nano - origin_ns) / 1e9:.3f} s ", style="bold")
        head.append_text(data(event.name))
        parts.append(head)
        parts.extend(_attribute_lines(event.attributes, indent="  "))
    for link in span.links:
        parts.append(Text(f"link → {link.trace_id}/{link.span_id}", style="dim"))
    if span.resource:
        parts.append(Text("resource", style="bold underline"))
        parts.extend(_attribute_lines(span.resource))
    return Group(*parts)


def _attribute_lines(attributes: Attributes, indent: str = "") -> list[Text]:
    """``key = value``, one per attribute; values wrap and keep their newlines."""
    lines = []
    for key, value in attributes.items():
        line = data(indent + key, style="#87afd7")
        line.append(" = ")
        line.append_text(data(format_value(value), one_line=False))
        lines.append(line)
    return lines


def _json(value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _args(value: object) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _response(part: dict[str, Any]) -> str:
    """A tool result: under ``response`` (the conventions' name), or ``result`` in traces
    written before cab-trace 0.2."""
    value = part["response"] if "response" in part else part.get("result", "")
    return value if isinstance(value, str) else _args(value)


def _message(role: str, parts: list[Any], finish: str | None = None) -> list[Text]:
    """One message: its role, then each part on its own lines (texts keep their newlines)."""
    lines = [Text(role, style=ROLE_STYLE.get(role, "bold"))]
    if finish:
        lines[0].append(f"  (finish: {finish})", style="dim")
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            lines.append(data("  " + str(part.get("content", "")).replace("\n", "\n  "), one_line=False))
        elif kind == "reasoning":
            lines.append(
                data("  (thinking) " + str(part.get("content", "")), style="dim italic", one_line=False)
            )
        elif kind == "tool_call":
            call = Text("  → ", style="bold yellow")
            call.append_text(data(f"{part.get('name')}({_args(part.get('arguments'))})", one_line=False))
            if part.get("id"):
                call.append_text(data(f"  [{part.get('id')}]", style="dim"))
            lines.append(call)
        elif kind == "tool_call_response":
            result = Text("  ← ", style="bold yellow")
            if part.get("id"):
                result.append_text(data(f"[{part.get('id')}] ", style="dim"))
            result.append_text(data(_response(part), one_line=False))
            lines.append(result)
        else:
            lines.append(data(f"  ({kind})", style="dim"))
    return lines


def _text(value: object) -> str:
    """An attribute value as text (bytes, which OTLP allows, as hex)."""
    return value.hex() if isinstance(value, bytes) else str(value)


def _tool_step(a: Attributes) -> list[Text]:
    head = Text("tool step ", style="bold underline")
    head.append_text(data(str(a.get("gen_ai.tool.name"))))
    if "gen_ai.tool.call.id" in a:
        head.append_text(data(f" [{_text(a['gen_ai.tool.call.id'])}]", style="dim"))
    out = [head]
    if "gen_ai.tool.call.arguments" in a:
        out.append(Text("arguments", style="bold yellow"))
        out.append(data("  " + str(a["gen_ai.tool.call.arguments"]), one_line=False))
    if "gen_ai.tool.call.result" in a:
        out.append(Text("result", style="bold yellow"))
        out.append(data("  " + str(a["gen_ai.tool.call.result"]).replace("\n", "\n  "), one_line=False))
    return out


def _call_summary(a: Attributes) -> Text:
    summary = []
    tokens_in, tokens_out = a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens")
    if tokens_in is not None or tokens_out is not None:
        shown_in = _text(tokens_in) if tokens_in is not None else "?"
        summary.append(f"tokens {shown_in} in / {_text(tokens_out or 0)} out")
    elif a.get("cab.llm.usage_reported") is False:
        summary.append("tokens: not reported by the provider")
    if isinstance(ttfc := a.get("gen_ai.response.time_to_first_chunk"), int | float):
        summary.append(f"first chunk after {ttfc * 1000:.0f} ms")
    if "http.response.status_code" in a:
        summary.append(f"HTTP {_text(a['http.response.status_code'])}")
    if "cab.llm.request_sha256" in a:
        summary.append(f"request {str(a['cab.llm.request_sha256'])[:12]}")
    return data(" · ".join(summary), style="bold")


def conversation(span: SpanRecord) -> list[Text]:
    """A model call as a readable conversation, or a tool step as its arguments and result."""
    a = span.attributes
    if a.get("gen_ai.operation.name") == "execute_tool":
        return _tool_step(a)
    out = [_call_summary(a)]
    if a.get("cab.llm.content") == "omitted":
        out.append(Text("content not recorded (--no-content)", style="dim"))
        return out
    system = _json(a.get("gen_ai.system_instructions"))
    if isinstance(system, list) and system:
        out.append(Text("system instructions", style="bold underline"))
        out.extend(_message("system", system))
    messages = _json(a.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        out.append(Text(f"conversation sent ({len(messages)} messages)", style="bold underline"))
        for m in messages:
            if isinstance(m, dict):
                out.extend(_message(str(m.get("role", "?")), m.get("parts", [])))
    answers = _json(a.get("gen_ai.output.messages"))
    if isinstance(answers, list):
        out.append(Text("answer", style="bold underline"))
        # The finish reason per answer: the span's list (now), or the message's own (older traces).
        reasons = a.get("gen_ai.response.finish_reasons")
        reasons = reasons if isinstance(reasons, list) else []
        for i, m in enumerate(answers):
            if isinstance(m, dict):
                finish = m.get("finish_reason") or (reasons[i] if i < len(reasons) else "")
                out.extend(_message(str(m.get("role", "assistant")), m.get("parts", []), str(finish) or None))
    tools = _json(a.get("gen_ai.tool.definitions"))
    if isinstance(tools, list) and tools:
        names = [
            str((t.get("function") or {}).get("name") or t.get("name") or "?")
            for t in tools
            if isinstance(t, dict)
        ]
        line = Text("tools offered: ", style="bold")
        line.append_text(data(", ".join(names)))
        out.append(line)
    return out


class SpanDetail(Static):
    """Shows :func:`describe` of one span; long values wrap."""

    def show_span(self, span: SpanRecord, origin_ns: int) -> None:
        self.update(describe(span, origin_ns))
