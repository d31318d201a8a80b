"""Which messages of a model call are new in its turn: the conversation view's "new messages
first, earlier ones collapsed".

Pure (stdlib and orjson). An agent sends the whole conversation with every call, so call 7 repeats
calls 1 to 6. What a reader wants of call 7 is what happened since: the tool results and user
messages the agent added, then the answer. A call *continues* the earlier call whose request
and answer, as one conversation, share the longest opening with its request (ties: the most
recent); the messages after that shared opening are its new ones. Side calls an agent makes
in between (a title, a summary, a quota check) have conversations of their own and are skipped
over by the same rule. A call that continues none is all new.

Messages are compared by what they say (:func:`said_key`): an answer as recorded and its copy
in the next request differ in details (the finish reason, an empty text part) that do not make
it a new message.

(Issue 23 writes the same view for the replay; the two are meant to be unified.)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Turn:
    """One call's input messages split into what was already said and what is new."""

    earlier: int
    """How many opening input messages an earlier call already had (shown collapsed)."""
    continues: int | None
    """0-based position of the call this one continues (None: a conversation of its own)."""

    def new(self, messages: Sequence[Any]) -> Sequence[Any]:
        return messages[self.earlier :]


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def message_key(message: Any) -> bytes:
    """A message's identity: canonical JSON."""
    return orjson.dumps(message, option=_CANONICAL, default=str)


def _part(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") == "tool_call" and isinstance(part.get("arguments"), str):
        try:
            return {**part, "arguments": orjson.loads(part["arguments"])}
        except orjson.JSONDecodeError:
            return part
    return part


def said_key(message: Any) -> bytes:
    """What a message says, for telling whether a later request repeats it: its role and parts,
    without what an answer carries and its copy in the next request does not (the finish
    reason, empty text parts, tool arguments as text rather than JSON)."""
    if not isinstance(message, dict):
        return message_key(message)
    parts = message.get("parts")
    if isinstance(parts, list):
        parts = [
            _part(p)
            for p in parts
            if not (isinstance(p, dict) and p.get("type") == "text" and not p.get("content"))
        ]
    return message_key({"role": message.get("role"), "parts": parts})


#: How many earlier calls a call is compared with (an agent's side calls come and go quickly;
#: a conversation is continued by one of the last few calls).
LOOK_BACK = 64


def _shared_opening(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """The length of the longest common opening of ``a`` and ``b`` (slice compares run in C)."""
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


def split_turns(calls: Sequence[tuple[Sequence[Hashable], Sequence[Hashable]]]) -> list[Turn]:
    """The :class:`Turn` of every call, given each call's (input, output) messages as keys
    (:func:`message_key`, or any id that is equal for equal messages), in the order the calls
    started."""
    turns: list[Turn] = []
    seen: list[list[Hashable]] = []  # each earlier call's request followed by its answer
    for sent, outputs in calls:
        inputs = list(sent)
        best, best_at = 0, None
        for j in range(len(seen) - 1, max(-1, len(seen) - 1 - LOOK_BACK), -1):
            shared = _shared_opening(inputs, seen[j])
            if shared > best:
                best, best_at = shared, j
        if best == len(inputs) and best_at is not None and best:
            # The whole request was said before (a retry of the same request): nothing is new,
            # but a retry still shows its last message, the one it answers.
            best -= 1
        turns.append(Turn(best, best_at))
        seen.append([*inputs, *outputs])
    return turns
