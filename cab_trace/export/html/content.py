"""The conversations of a run's model calls, as the cell page shows them: each call read as a
turn of its conversation (:func:`cab_trace.llm.turns.turns`, the definition the replay uses
too): its new messages first, the answer, the earlier ones and the system prompt collapsed,
and the tool steps it asked for with their arguments and results.

Pure: span records in, JSON-ready values out. Each message is stored once and calls refer to
it by number: an agent re-sends the whole conversation with every call, so storing each call's
messages whole would grow with the square of the run's length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from cab_trace.llm.turns import Message, Turn, turns
from cab_trace.model import SpanRecord

#: Content attributes a model call shows as its conversation (and the span table leaves out).
CALL_CONTENT = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
)
STEP_CONTENT = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result")
CONTENT_ATTRIBUTES = CALL_CONTENT + STEP_CONTENT
#: Attributes other instrumentations put conversations in (an agent's own spans): left out of
#: a page made with ``--no-content`` too. GenAI's older names, OpenInference, the Vercel AI SDK.
_CONTENT_NAMES = re.compile(
    r"^(gen_ai\.(prompt|completion|input|output|system_instructions|tool\.(call\.(arguments|result)|definitions))"
    r"|llm\.(input_messages|output_messages|prompts?|tools)|input\.value|output\.value"
    r"|ai\.(prompt|response\.(text|object|toolCalls|reasoning)|toolCall\.(args|result)|values?))"
)


def is_content(name: str) -> bool:
    """Whether an attribute holds conversation content (messages, tool arguments or results)."""
    return name in CONTENT_ATTRIBUTES or _CONTENT_NAMES.match(name) is not None


def _json(value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _tool_names(tools: list[Any]) -> list[str]:
    names = []
    for tool in tools:
        if isinstance(tool, dict):
            function = tool.get("function")
            function = function if isinstance(function, dict) else {}
            names.append(str(function.get("name") or tool.get("name") or "?"))
    return names


@dataclass
class Conversations:
    """Every call's conversation, with each distinct message stored once."""

    messages: list[Any] = field(default_factory=list)
    """Distinct messages (``{"role": …, "parts": [...]}``, in today's shape: a tool result
    under ``response`` whichever version recorded it)."""
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Per call (in the calls table's order): ``in`` (the messages it sent after the system
    prompt) and ``out`` (its answer), as message numbers; ``earlier`` (how many of ``in`` the
    conversation it continues already held: the rest are new), ``continues`` (that call's
    number, 1-based), ``sys`` (the system prompt's message numbers), ``sys_changed`` (it differs
    from the continued call's), ``end`` (how an answer without a finish reason of its own
    ended, in words), ``tools`` (names), ``tooldefs`` (a message number), ``raw`` (content that
    is not JSON, as recorded, by attribute), ``state`` (recorded, truncated, omitted or
    missing)."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Tool steps: name, id, the calls that asked for and returned it, arguments, result."""

    def to_json(self) -> bytes:
        # An item a line: the leak check reads the page in blocks of whole lines.
        parts = []
        for key in ("messages", "calls", "steps"):
            items = b",\n".join(
                orjson.dumps(item, option=orjson.OPT_NON_STR_KEYS) for item in getattr(self, key)
            )
            parts.append(b'"%s":[\n%s]' % (key.encode(), items))
        return b"{" + b",\n".join(parts) + b"}"


class _Store:
    def __init__(self, into: list[Any]) -> None:
        self._ids: dict[bytes, int] = {}
        self._into = into

    def add(self, message: Message) -> int:
        key = message.stored_key()
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._into)
            self._into.append(message.as_json())
        return found

    def add_all(self, messages: Sequence[Message]) -> list[int]:
        return [self.add(m) for m in messages]


def _call(turn: Turn, store: _Store) -> dict[str, Any]:
    """One call's entry: its turn, with each message as a number in ``store``."""
    a = turn.span.attributes
    entry: dict[str, Any] = {
        "state": turn.content,
        "in": store.add_all(turn.earlier + turn.new),
        "earlier": len(turn.earlier),
        "out": store.add_all(turn.answer),
        "continues": turn.continues,
        "sys": store.add_all(turn.system),
        "sys_changed": turn.system_changed,
    }
    if any(not m.finish_reason for m in turn.answer):
        entry["end"] = turn.ending()
    raw = {}
    for key in CALL_CONTENT:
        value = a.get(key)
        if value is not None and not isinstance(_json(value), list):
            raw[key] = str(value)  # not JSON (a redaction cut it short, say): shown as recorded
    tools = _json(a.get("gen_ai.tool.definitions"))
    if isinstance(tools, list) and tools:
        entry["tools"] = _tool_names(tools)
        entry["tooldefs"] = store.add(Message("tools", tuple(t for t in tools if isinstance(t, dict))))
    if raw:
        entry["raw"] = raw
    return entry


def _step(span: SpanRecord, content: bool) -> dict[str, Any]:
    a = span.attributes
    step: dict[str, Any] = {
        "name": str(a.get("gen_ai.tool.name", span.name)),
        "id": str(a.get("gen_ai.tool.call.id", "")),
        "asked_by": a.get("cab.llm.asked_by_call"),
        "returned_by": a.get("cab.llm.returned_by_call"),
        "returned": a.get("cab.llm.result_returned"),
        "error": span.is_error,
    }
    if content:
        for key, name in zip(STEP_CONTENT, ("arguments", "result"), strict=True):
            if key in a:
                step[name] = str(a[key])
    return step


def conversations(calls: Sequence[SpanRecord], steps: Sequence[SpanRecord], content: bool) -> Conversations:
    """The conversations of ``calls`` (model-call spans, in the order they started) and the
    tool steps ``steps``; with ``content`` False, only what is not content (names, ids,
    which call asked for what)."""
    out = Conversations()
    if content:
        store = _Store(out.messages)
        out.calls = [_call(turn, store) for turn in turns(calls)]
    else:
        out.calls = [{"state": str(s.attributes.get("cab.llm.content", "omitted"))} for s in calls]
    out.steps = [_step(span, content) for span in steps]
    return out
