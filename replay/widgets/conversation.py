"""Rich text for a run's conversation: messages, a turn's new messages and answer, tool steps,
the run's moments, a diff. Used by the span detail and the transcript; every string from the
trace goes through :func:`replay.widgets.text.data` (shown, never interpreted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from rich.text import Text

from cab_trace.llm.parts import part_response
from cab_trace.llm.turns import Message, PhaseEntry, ToolStepEntry, Turn, message_text
from cab_trace.model import Attributes, SpanRecord
from cab_trace.show import format_duration
from replay.widgets.text import data

ROLE_STYLE = {
    "system": "bold magenta",
    "developer": "bold magenta",
    "user": "bold green",
    "assistant": "bold #5fafff",
    "tool": "bold yellow",
}
RULE = "─"


def _args(value: object) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _indent(text: str) -> str:
    return "  " + text.replace("\n", "\n  ")


def message_lines(message: Message, ending: str | None = None) -> list[Text]:
    """One message: its role (and for an answer, how it ended: :meth:`Turn.ending`), then each
    part on its own lines (texts keep their newlines)."""
    head = Text(message.role, style=ROLE_STYLE.get(message.role, "bold"))
    if ending:
        head.append(f"  ({ending})", style="dim")
    lines = [head]
    for part in message.parts:
        kind = part.get("type")
        if kind == "text":
            content = str(part.get("content", ""))
            if content.strip():
                lines.append(data(_indent(content), one_line=False))
        elif kind == "reasoning":
            lines.append(
                data(_indent("(thinking) " + str(part.get("content", ""))), "dim italic", one_line=False)
            )
        elif kind == "tool_call":
            call = Text("  → ", style="bold yellow")
            call.append_text(data(f"{part.get('name')}({_args(part.get('arguments'))})", one_line=False))
            call.append_text(data(f"  [{part.get('id')}]", style="dim"))
            lines.append(call)
        elif kind == "tool_call_response":
            result = Text("  ← ", style="bold yellow")
            result.append_text(data(f"[{part.get('id')}] ", style="dim"))
            output = part_response(part)
            text = (
                output if isinstance(output, str) else "" if output is None else orjson.dumps(output).decode()
            )
            result.append_text(data(text.replace("\n", "\n    "), one_line=False))
            lines.append(result)
        else:
            lines.append(data(f"  ({kind})", style="dim"))
    return lines


def messages_lines(messages: Sequence[Message]) -> list[Text]:
    out: list[Text] = []
    for message in messages:
        out.extend(message_lines(message))
    return out


def _number(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def call_summary(a: Attributes) -> Text:
    """Tokens, time to first chunk, HTTP status and request hash of a model call, on one line."""
    summary = []
    tokens_in, tokens_out = a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens")
    if tokens_in is not None or tokens_out is not None:
        shown_in = _number(tokens_in) if tokens_in is not None else "?"
        shown_out = _number(tokens_out) if tokens_out is not None else "?"
        summary.append(f"tokens {shown_in} in / {shown_out} out")
    elif a.get("cab.llm.usage_reported") is False:
        summary.append("tokens unknown (not reported by the provider)")
    if isinstance(ttfc := a.get("gen_ai.response.time_to_first_chunk"), int | float):
        summary.append(f"first chunk after {ttfc * 1000:.0f} ms")
    if "http.response.status_code" in a:
        summary.append(f"HTTP {_number(a['http.response.status_code'])}")
    if "cab.llm.request_sha256" in a:
        summary.append(f"request {str(a['cab.llm.request_sha256'])[:12]}")
    return data(" · ".join(summary), style="bold")


def system_title(turn: Turn) -> Text:
    """The collapsed system prompt's one line."""
    chars = sum(len(str(p.get("content", ""))) for m in turn.system for p in m.parts)
    title = Text("system prompt", style="bold magenta")
    title.append(f" · {chars:,} chars", style="dim")
    if turn.continues is not None:
        title.append(" · changed" if turn.system_changed else " · as before", style="dim")
    first = message_text(turn.system[0], limit=60) if turn.system else ""
    if first:
        title.append("  ")
        title.append_text(data(first, style="dim italic"))
    return title


def earlier_title(turn: Turn) -> Text:
    """The collapsed earlier messages' one line."""
    n = len(turn.earlier)
    title = Text(f"{n} earlier message{'s' if n != 1 else ''}", style="bold")
    if turn.continues is not None:
        title.append(f" · the conversation up to turn {turn.continues}", style="dim")
    return title


def turn_body(turn: Turn) -> list[Text]:
    """What is new in a turn (the messages added since the turn it continues), then the answer."""
    if turn.content == "omitted":
        return [Text("content not recorded (--no-content)", style="dim")]
    if turn.content == "missing":
        return [Text("no conversation recorded for this call", style="dim")]
    out: list[Text] = []
    if turn.new:
        label = "new in this turn" if turn.continues is not None else "the conversation starts"
        out.append(Text(f"{label} ({len(turn.new)})", style="bold underline"))
        out.extend(messages_lines(turn.new))
    elif turn.continues is not None:
        out.append(Text(f"nothing new since turn {turn.continues} (sent again)", style="dim"))
    if turn.answer:
        out.append(Text("answer", style="bold underline"))
        for message in turn.answer:
            # With or without a finish reason, the answer says how it ended (the Responses API
            # gives a status instead), as the cell page does.
            out.extend(message_lines(message, turn.ending(message)))
    elif turn.failed:
        out.append(Text("no answer", style="bold red"))
    if turn.content == "truncated":
        out.append(Text("some content was over the size limit and was left out", style="dim"))
    return out


def tools_offered(a: Attributes) -> Text | None:
    value = a.get("gen_ai.tool.definitions")
    if not isinstance(value, str):
        return None
    try:
        tools: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(tools, list) or not tools:
        return None
    names = [
        str((t.get("function") or {}).get("name") or t.get("name") or "?")
        for t in tools
        if isinstance(t, dict)
    ]
    line = Text("tools offered: ", style="bold")
    line.append_text(data(", ".join(names)))
    return line


def tool_step_lines(step: ToolStepEntry, heading: bool = True) -> list[Text]:
    out: list[Text] = []
    if heading:
        head = Text("tool step ", style="bold underline")
        head.append_text(data(step.name))
        if (call_id := step.span.attributes.get("gen_ai.tool.call.id")) is not None:
            head.append_text(data(f" [{_number(call_id)}]", style="dim"))
        out.append(head)
    if step.arguments is not None:
        out.append(Text("arguments", style="bold yellow"))
        out.append(data(_indent(step.arguments), one_line=False))
    if step.result is not None:
        out.append(Text("result", style="bold yellow"))
        out.append(data(_indent(step.result), one_line=False))
    elif step.returned_by is None:
        out.append(Text("its result never went back to the model", style="dim"))
    return out


def diff_lines(diff: str, cut_bytes: int = 0) -> list[Text]:
    """A unified diff, coloured as git colours one: additions green, removals red, hunks cyan."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        out.append(data(line, style=style))
    if cut_bytes:
        out.append(Text(f"… {cut_bytes:,} more bytes of changes.diff not shown", style="dim"))
    return out


def _offset(ns: int, origin_ns: int) -> str:
    return f"+{(ns - origin_ns) / 1e9:.2f} s"


def turn_heading(turn: Turn, origin_ns: int) -> Text:
    """A turn's rule in the transcript: ``── turn 2 · chat m · +1.53 s · 304 ms · 340 in / 80 out``."""
    a = turn.span.attributes
    text = Text(f"{RULE * 2} turn {turn.number} ", style="bold #5fafff")
    text.append_text(data(f"· {turn.span.name} ", style="bold"))
    bits = [_offset(turn.start_ns, origin_ns), format_duration(turn.span.duration_ns)]
    tokens_in, tokens_out = a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens")
    if tokens_in is not None or tokens_out is not None:
        shown_in = _number(tokens_in) if tokens_in is not None else "?"
        shown_out = _number(tokens_out) if tokens_out is not None else "?"
        bits.append(f"{shown_in} in / {shown_out} out")
    text.append("· " + " · ".join(bits), style="dim")
    if turn.failed:
        text.append_text(data(f"  ERROR: {turn.span.status.message}", style="bold red"))
    return text


def tool_heading(step: ToolStepEntry, origin_ns: int) -> Text:
    text = Text("  ⚙ tool ", style="bold yellow")
    text.append_text(data(step.name, style="bold"))
    if step.arguments is not None:
        args = step.arguments if len(step.arguments) <= 100 else step.arguments[:99] + "…"
        text.append_text(data(f"({args})"))
    text.append(
        f"  {_offset(step.start_ns, origin_ns)} · {format_duration(step.span.duration_ns)}", style="dim"
    )
    return text


def tool_result_lines(step: ToolStepEntry, max_lines: int = 12) -> list[Text]:
    if step.result is None:
        return [Text("    (no result went back to the model)", style="dim")]
    lines = step.result.splitlines() or [""]
    shown = lines[:max_lines]
    out = [data("    " + line, style="#bcbcbc") for line in shown]
    if len(lines) > max_lines:
        out.append(
            Text(f"    … {len(lines) - max_lines} more lines (select the step for all of it)", style="dim")
        )
    return out


def phase_lines(entry: PhaseEntry, origin_ns: int) -> list[Text]:
    style = "bold red" if entry.failed else "bold #87afd7"
    mark = "✗" if entry.failed else "●"
    text = Text(f"{mark} ", style=style)
    text.append_text(data(entry.text, style=style))
    text.append(f"  {_offset(entry.start_ns, origin_ns)}", style="dim")
    return [text, *(data("    " + d, style="dim") for d in entry.details)]


def terminal_lines(lines: Sequence[str], origin_ns: int, at_ns: int) -> list[Text]:
    head = Text("  ▍terminal", style="#5faf5f")
    head.append(f"  {_offset(at_ns, origin_ns)}", style="dim")
    return [head, *(data("  ▍" + line, style="#a8a8a8") for line in lines)]


def span_status(span: SpanRecord) -> Text:
    """``status OK`` / ``status ERROR: why``. A model call or tool step that went well and was
    recorded without a status (OpenTelemetry's UNSET, the default) reads OK, as it was."""
    code = span.status.code
    text = Text("status ")
    if span.is_error:
        text.append("ERROR", style="bold red")
    elif (
        code == "UNSET"
        and span.attributes.get("cab.llm.outcome", "ok") == "ok"
        and span.kind
        in (
            "model_call",
            "tool_step",
        )
    ) or code == "OK":
        text.append("OK", style="bold green")
    else:
        text.append(f"{code} (no error recorded)", style="bold")
    if span.status.message:
        text.append(": ")
        text.append_text(data(span.status.message, one_line=False))
    return text
