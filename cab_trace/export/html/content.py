"""The conversations of a run's model calls, as the cell page shows them: each call's new
messages first (:mod:`cab_trace.export.html.turns`), the earlier ones collapsed, and the tool
steps it asked for with their arguments and results.

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

from cab_trace.export.html.turns import message_key, said_key, split_turns
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
    """Distinct messages (``{"role": …, "parts": [...]}`` as recorded)."""
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Per call (in the calls table's order): ``in`` / ``out`` (message numbers), ``earlier``
    (how many of ``in`` an earlier call had), ``continues`` (that call's number, 1-based),
    ``system`` (a message number), ``tools`` (names), ``tooldefs`` (a message number),
    ``raw`` (content that is not JSON, as recorded, by attribute), ``state`` (recorded,
    truncated or omitted)."""
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

    def add(self, message: Any) -> int:
        key = message_key(message)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._into)
            self._into.append(message)
        return found


def _call(span: SpanRecord, store: _Store, content: bool) -> tuple[dict[str, Any], list[bytes], list[bytes]]:
    """One call's entry, and what its request and answer say (for :func:`split_turns`)."""
    a = span.attributes
    entry: dict[str, Any] = {"state": str(a.get("cab.llm.content", "absent")), "in": [], "out": []}
    said: dict[str, list[bytes]] = {"in": [], "out": []}
    if not content:
        return entry, said["in"], said["out"]
    raw = {}
    for key in CALL_CONTENT:
        value = a.get(key)
        if value is not None and not isinstance(_json(value), list):
            raw[key] = str(value)  # not JSON (a redaction cut it short, say): shown as recorded
    for key, name in (("gen_ai.input.messages", "in"), ("gen_ai.output.messages", "out")):
        messages = _json(a.get(key))
        if isinstance(messages, list):
            entry[name] = [store.add(m) for m in messages]
            said[name] = [said_key(m) for m in messages]
    system = _json(a.get("gen_ai.system_instructions"))
    if isinstance(system, list) and system:
        entry["system"] = store.add({"role": "system", "parts": system})
    tools = _json(a.get("gen_ai.tool.definitions"))
    if isinstance(tools, list) and tools:
        entry["tools"] = _tool_names(tools)
        entry["tooldefs"] = store.add({"role": "tools", "parts": tools})
    if raw:
        entry["raw"] = raw
    return entry, said["in"], said["out"]


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
    store = _Store(out.messages)
    said: list[tuple[list[bytes], list[bytes]]] = []
    for span in calls:
        entry, said_in, said_out = _call(span, store, content)
        out.calls.append(entry)
        said.append((said_in, said_out))
    for entry, turn in zip(out.calls, split_turns(said), strict=True):
        entry["earlier"] = turn.earlier
        entry["continues"] = None if turn.continues is None else turn.continues + 1
    out.steps = [_step(span, content) for span in steps]
    return out
