"""A run's model calls as a conversation, turn by turn: what each call added.

An agent sends the whole conversation with every call: the system prompt, the task, every
answer and tool result so far. Reading call 7 means finding, under six calls' worth of
repeats, the two messages that are new. This module finds them: for each call, the messages
it sends that the conversation it continues did not already hold, then its answer.

Pure (stdlib + orjson), over span records: the replay, the HTML cell page and anything else
that shows a run's conversation read it the same way (this is the one definition of a turn).

How a call is matched to the conversation it continues: among the earlier calls, the one
whose request plus answer is the longest prefix of this call's request (side calls an agent
makes in parallel, a title or a summary, are other conversations and do not confuse it). The
system prompt (``gen_ai.system_instructions`` and the leading ``system``/``developer``
messages) is kept apart: it is shown collapsed, however long. A call whose whole request was
said before (a retry of the same request) adds nothing: it continues the call it repeats.

Old traces and new read alike: a tool result is read under the conventions' ``response`` or
the older ``result`` (:func:`cab_trace.llm.parts.part_response`), and :meth:`Message.as_json`
gives a message in today's shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from cab_trace.llm.parts import part_response
from cab_trace.llm.summary import is_model_call
from cab_trace.model import SpanRecord

__all__ = [
    "RESPONSE_STATUS",
    "Message",
    "PhaseEntry",
    "ToolStepEntry",
    "Turn",
    "is_tool_step",
    "message_text",
    "parse_messages",
    "transcript",
    "turns",
]

SYSTEM_ROLES = ("system", "developer")
#: The span attribute holding the Responses API's status (that API gives no finish reason).
RESPONSE_STATUS = "cab.llm.response.status"
#: How many earlier calls a call is compared with (a run of thousands of calls stays linear).
LOOK_BACK = 64

Content = Literal["recorded", "truncated", "omitted", "missing"]


@dataclass(frozen=True)
class Message:
    """One message of a conversation: its role and parts as the GenAI conventions record them
    (``{"type": "text", "content": …}``, ``tool_call``, ``tool_call_response``, ``reasoning`` …)."""

    role: str
    parts: tuple[dict[str, Any], ...]
    finish_reason: str | None = None

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [p for p in self.parts if p.get("type") == "tool_call"]

    def key(self) -> tuple[object, ...]:
        """What the message says, for matching it with the same message sent again: an agent
        re-sends its earlier answers without their empty text parts or finish reasons, and
        tool-call arguments as text or as objects."""
        return (self.role, tuple(_part_key(p) for p in self.parts if not _empty_text(p)))

    def as_json(self) -> dict[str, Any]:
        """The message in the conventions' shape as written today, whatever version recorded it
        (a tool result under ``response``, where traces before 0.2 wrote ``result``)."""
        out: dict[str, Any] = {"role": self.role, "parts": [_current_part(p) for p in self.parts]}
        if self.finish_reason:
            out["finish_reason"] = self.finish_reason
        return out

    def stored_key(self) -> bytes:
        """A stable key of the message as recorded (canonical JSON of :meth:`as_json`): equal for
        equal messages, for storing each message of a run once. Unlike :meth:`key`, an answer
        and its copy in the next request differ here, so each is shown as it was sent."""
        return orjson.dumps(self.as_json(), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


@dataclass(frozen=True)
class Turn:
    """One model call read as a turn of its conversation."""

    number: int
    """1-based, in the order the run's calls started."""
    span: SpanRecord
    content: Content
    """``recorded``; ``truncated`` (some content over the size limit was left out);
    ``omitted`` (recorded with ``--no-content``); ``missing`` (no content attributes)."""
    system: tuple[Message, ...] = ()
    """The system prompt: system instructions and the leading system/developer messages."""
    earlier: tuple[Message, ...] = ()
    """Messages the continued conversation already held (shown collapsed)."""
    new: tuple[Message, ...] = ()
    """Messages this call adds: tool results, the user's next words."""
    answer: tuple[Message, ...] = ()
    continues: int | None = None
    """The number of the turn this one continues; None for the start of a conversation."""
    system_changed: bool = True
    """The system prompt differs from the continued turn's (always True for a first turn)."""

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The tool calls the answer asks for."""
        return [p for m in self.answer for p in m.tool_calls]

    @property
    def start_ns(self) -> int:
        return self.span.start_time_unix_nano

    @property
    def failed(self) -> bool:
        return self.span.is_error

    def ending(self, message: Message | None = None) -> str:
        """How an answer message (or, without one, the call) ended, in words for its heading:
        its finish reason (or the span's, ``gen_ai.response.finish_reasons``); where the API
        gave none, saying so, with the Responses API's status when it was recorded (that API
        has a status instead)."""
        if message is not None and message.finish_reason:
            return f"finish: {message.finish_reason}"
        reasons = self.span.attributes.get("gen_ai.response.finish_reasons")
        if isinstance(reasons, list) and any(reasons):
            return "finish: " + ", ".join(str(r) for r in reasons if r)
        status = self.span.attributes.get(RESPONSE_STATUS)
        if isinstance(status, str) and status:
            return f"no finish reason given · status: {status}"
        return "no finish reason given"


@dataclass(frozen=True)
class ToolStepEntry:
    """A tool step (``execute_tool``) between the call that asked for it and the one that took its result."""

    span: SpanRecord
    name: str
    arguments: str | None
    result: str | None
    asked_by: int | None
    returned_by: int | None

    @property
    def start_ns(self) -> int:
        return self.span.start_time_unix_nano


@dataclass(frozen=True)
class PhaseEntry:
    """A moment of the run between turns worth a line: the agent started or ended, the task's
    check, what changed, an error."""

    span: SpanRecord
    text: str
    failed: bool = False
    at_end: bool = False
    """The moment is the span's end (an exit, a verdict), not its start."""
    details: tuple[str, ...] = field(default=())

    @property
    def start_ns(self) -> int:
        return self.span.end_time_unix_nano if self.at_end else self.span.start_time_unix_nano


Entry = Turn | ToolStepEntry | PhaseEntry


def parse_messages(value: object) -> list[Message] | None:
    """Messages from a ``gen_ai.*.messages`` attribute (JSON text); None when it is not that
    (absent, or cut short by redaction into text that is no longer JSON)."""
    if not isinstance(value, str):
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, list):
        return None
    out = []
    for item in data:
        if not isinstance(item, dict):
            continue
        parts = item.get("parts", [])
        finish = item.get("finish_reason")
        out.append(
            Message(
                role=str(item.get("role") or "?"),
                parts=tuple(p for p in parts if isinstance(p, dict)) if isinstance(parts, list) else (),
                finish_reason=str(finish) if finish else None,
            )
        )
    return out


def _system_parts(value: object) -> Message | None:
    if not isinstance(value, str):
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    parts = tuple(p for p in data if isinstance(p, dict)) if isinstance(data, list) else ()
    return Message("system", parts) if parts else None


def _empty_text(part: dict[str, Any]) -> bool:
    return part.get("type") == "text" and not str(part.get("content") or "").strip()


def _normal_arguments(value: object) -> object:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if value is not None else None


def _response_text(part: dict[str, Any]) -> str:
    """A tool result as text, under the conventions' ``response`` or the older ``result``."""
    value = part_response(part)
    if value is None:
        return ""
    return (value if isinstance(value, str) else orjson.dumps(value).decode()).strip()


def _current_part(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") != "tool_call_response" or "response" in part:
        return part
    return {**{k: v for k, v in part.items() if k != "result"}, "response": part_response(part)}


def _scalar(value: object) -> object:
    """A value of a key as something hashable: a trace is data, and an id may be any JSON."""
    if value is None or isinstance(value, str | int | float):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def _part_key(part: dict[str, Any]) -> tuple[object, ...]:
    kind = _scalar(part.get("type"))
    if kind == "tool_call":
        return (
            kind,
            _scalar(part.get("id")),
            _scalar(part.get("name")),
            _normal_arguments(part.get("arguments")),
        )
    if kind == "tool_call_response":
        return (kind, _scalar(part.get("id")), _response_text(part))
    if kind in ("text", "reasoning"):
        return (kind, str(part.get("content", "")).strip())
    return (kind, orjson.dumps(part, option=orjson.OPT_SORT_KEYS).decode())


def message_text(message: Message, limit: int = 80) -> str:
    """One line saying what a message holds (for a collapsed message or a short listing)."""
    bits: list[str] = []
    for part in message.parts:
        kind = part.get("type")
        if kind == "text" and not _empty_text(part):
            bits.append(" ".join(str(part.get("content", "")).split()))
        elif kind == "tool_call":
            bits.append(f"→ {part.get('name')}(…)")
        elif kind == "tool_call_response":
            bits.append(f"← {' '.join(_response_text(part).split())}")
        elif kind == "reasoning":
            bits.append("(thinking)")
    text = " · ".join(bits) or "(empty)"
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _split_system(messages: list[Message]) -> tuple[list[Message], list[Message]]:
    at = 0
    while at < len(messages) and messages[at].role in SYSTEM_ROLES:
        at += 1
    return messages[:at], messages[at:]


def _shared_opening(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the longest common opening of ``a`` and ``b``. A binary search over slice
    comparisons (which run in C): a long run compares every call with the last
    :data:`LOOK_BACK` calls, each holding most of the conversation."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n - 1  # a[:lo] == b[:lo] and a[:hi + 1] != b[:hi + 1]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class _Seen:
    number: int
    keys: list[int]  # its request and answer, without the system prompt (as message numbers)
    system: list[int]


def turns(spans: Iterable[SpanRecord]) -> list[Turn]:
    """Every model call of a run as a turn, in the order the calls started."""
    calls = sorted((s for s in spans if is_model_call(s)), key=lambda s: s.start_time_unix_nano)
    seen: list[_Seen] = []
    out: list[Turn] = []
    # Each distinct message (by what it says) as a number: calls are compared as lists of ints.
    numbers: dict[tuple[object, ...], int] = {}

    def number_of(message: Message) -> int:
        return numbers.setdefault(message.key(), len(numbers))

    for number, span in enumerate(calls, 1):
        a = span.attributes
        answer = parse_messages(a.get("gen_ai.output.messages")) or []
        sent = parse_messages(a.get("gen_ai.input.messages"))
        recorded = a.get("cab.llm.content")
        content: Content
        if recorded == "omitted":
            content = "omitted"
        elif sent is None and not answer:
            content = "missing"
        else:
            content = "truncated" if recorded == "truncated" else "recorded"
        leading, rest = _split_system(sent or [])
        instructions = _system_parts(a.get("gen_ai.system_instructions"))
        system = ([instructions] if instructions else []) + leading
        keys = [number_of(m) for m in rest]
        system_keys = [number_of(m) for m in system]
        best, best_len = None, 0
        for earlier in reversed(seen[-LOOK_BACK:]):  # the most recent first: it wins a tie
            n = _shared_opening(earlier.keys, keys)
            if n > best_len:
                best, best_len = earlier, n
                if n == len(keys):
                    break  # all of it was said before: no earlier call can match more
        out.append(
            Turn(
                number=number,
                span=span,
                content=content,
                system=tuple(system),
                earlier=tuple(rest[:best_len]),
                new=tuple(rest[best_len:]),
                answer=tuple(answer),
                continues=best.number if best is not None else None,
                system_changed=best is None or best.system != system_keys,
            )
        )
        if sent is not None:
            seen.append(_Seen(number, keys + [number_of(m) for m in answer], system_keys))
    return out


def is_tool_step(span: SpanRecord) -> bool:
    return span.kind == "tool_step" or span.attributes.get("gen_ai.operation.name") == "execute_tool"


def _tool_step(span: SpanRecord) -> ToolStepEntry:
    a = span.attributes

    def text(key: str) -> str | None:
        value = a.get(key)
        return None if value is None else value if isinstance(value, str) else str(value)

    def number(key: str) -> int | None:
        value = a.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return ToolStepEntry(
        span=span,
        name=str(a.get("gen_ai.tool.name") or span.name),
        arguments=text("gen_ai.tool.call.arguments"),
        result=text("gen_ai.tool.call.result"),
        asked_by=number("cab.llm.asked_by_call"),
        returned_by=number("cab.llm.returned_by_call"),
    )


def _phase(span: SpanRecord) -> list[PhaseEntry]:
    """The run's moments worth a line between turns (ours; a foreign trace's errors)."""
    a = span.attributes
    kind = span.kind
    if kind == "container":
        out = [PhaseEntry(span, "the agent started")]
        code = a.get("exit_code")
        timed_out = a.get("timed_out") is True
        end = (
            "the agent was stopped: timed out"
            if timed_out
            else f"the agent exited with code {code!s}"
            if isinstance(code, int)
            else "the agent ended"
        )
        out.append(PhaseEntry(span, end, failed=span.is_error, at_end=True))
        return out
    if kind == "verify":
        passed = a.get("passed")
        text = "the task's check passed" if passed is True else "the task's check FAILED"
        if passed is None:
            text = "the task's check ran"
        tail = str(a.get("stderr_tail") or a.get("stdout_tail") or "").strip()
        details = tuple(tail.splitlines()[-6:]) if passed is False and tail else ()
        return [PhaseEntry(span, text, failed=passed is False, at_end=True, details=details)]
    if kind == "blast_radius":
        changed = [
            f"{label} {len(files)}"
            for label, key in (
                ("added", "files_added"),
                ("modified", "files_modified"),
                ("removed", "files_removed"),
            )
            if isinstance(files := a.get(key), list) and files
        ]
        lines = ""
        added, removed = a.get("lines_added"), a.get("lines_removed")
        if isinstance(added, int) and isinstance(removed, int):
            lines = f" (+{added} -{removed} lines)"
        text = f"files changed: {', '.join(changed)}{lines}" if changed else "no files changed"
        return [PhaseEntry(span, text, at_end=True)]
    if span.is_error and not is_model_call(span) and kind not in ("run", "adapter_run"):
        return [PhaseEntry(span, f"{span.name}: {span.status.message or 'error'}", failed=True, at_end=True)]
    return []


def transcript(spans: Iterable[SpanRecord]) -> list[Entry]:
    """The run as one page in time order: each turn (new messages and answer), the tool steps
    between turns, and the run's moments (the agent's start and exit, what changed, the check)."""
    records = list(spans)
    entries: list[Entry] = list(turns(records))
    for span in records:
        if is_tool_step(span):
            entries.append(_tool_step(span))
        elif not is_model_call(span):
            entries.extend(_phase(span))
    # Stable: at one instant a turn comes before the tool steps its answer asked for.
    order = {Turn: 0, ToolStepEntry: 1, PhaseEntry: 2}
    entries.sort(key=lambda e: (e.start_ns, order[type(e)]))
    return entries
