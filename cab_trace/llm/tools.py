"""Tool steps from the conversation itself, for any agent.

A response that asks for tool calls, and a later request that carries their results, give
one ``execute_tool {gen_ai.tool.name}`` step per call: from the end of the asking response to
the start of the request that returns the result. Calls are matched by their ids, so side
calls made in parallel do not confuse them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cab_trace.llm.call import TOOL_STEP_KIND, CallRecord, bound_text, content_json, redact_strings
from cab_trace.llm.params import descriptions
from cab_trace.llm.parts import part_response


@dataclass
class ToolStep:
    call_id: str
    name: str
    arguments: Any
    start_ns: int  # end of the response that asked for it
    asked_by: int  # the call index of that response
    end_ns: int | None = None  # start of the request that returned its result
    result: str | None = None
    returned_by: int | None = None
    description: str | None = None  # from the asking request's tool definitions


def _key(part: dict[str, Any]) -> str | None:
    """How a call and its result are paired: by id, or (Gemini's calls may have none) by name."""
    if part.get("id"):
        return str(part["id"])
    return f"name:{part['name']}" if part.get("name") else None


def _parts(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        part
        for message in messages
        for part in message.get("parts", [])
        if isinstance(part, dict) and part.get("type") == kind and _key(part)
    ]


def _latest_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages after the last assistant message: the results this request sends back."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    return messages[last + 1 :]


#: Results seen for calls not asked yet, kept for this many ids (see ``ToolStepTracker._early``).
EARLY_RESULTS = 64


class ToolStepTracker:
    """Feed every finished call in the order calls finished; collect the steps it completes.

    Calls are fed as their recording finishes, which on a loaded machine is not always the
    order they ended in: a request carrying a result can be fed before the answer that asked
    for it. Results with an id are then held (a bounded few) until the asking call comes.
    """

    def __init__(self) -> None:
        self._pending: dict[str, list[ToolStep]] = {}
        self._done: set[str] = set()
        self._early: dict[str, tuple[dict[str, Any], CallRecord]] = {}

    def on_call(self, call: CallRecord) -> list[ToolStep]:
        """The steps whose results this call's request carries; then remember what it asks for."""
        finished: list[ToolStep] = []
        messages = call.request.input_messages
        latest = _parts(_latest_turn(messages), "tool_call_response")
        for part in _parts(messages, "tool_call_response"):
            key = own = str(_key(part))
            this_turn = any(part is p for p in latest)
            if key not in self._pending and part.get("name") and this_turn:
                # A call that came without an id, answered with one the agent gave it (gemini-cli
                # does): by name, and only for this turn's results, since a request repeats them all.
                key = f"name:{part['name']}"
            elif key.startswith("name:") and not this_turn:
                continue
            waiting = self._pending.get(key)
            if not waiting:
                if this_turn and not own.startswith("name:") and own not in self._done:
                    self._early.setdefault(own, (part, call))
                    while len(self._early) > EARLY_RESULTS:
                        del self._early[next(iter(self._early))]
                continue
            step = waiting.pop(0)
            if not waiting:
                del self._pending[key]
            finished.append(self._returned(step, part, call))
        if not call.failed:
            described = descriptions(call.request.tool_definitions)
            for part in _parts(call.response.output_messages, "tool_call"):
                key = str(_key(part))
                if not key.startswith("name:") and (key in self._done or key in self._pending):
                    continue
                step = ToolStep(
                    str(part.get("id") or ""),
                    str(part.get("name") or "?"),
                    part.get("arguments"),
                    call.end_ns,
                    call.index,
                    description=described.get(str(part.get("name") or "")),
                )
                early = self._early.pop(key, None)
                if early is not None and early[1].index > call.index:
                    finished.append(self._returned(step, *early))
                else:
                    self._pending.setdefault(key, []).append(step)
        return finished

    def _returned(self, step: ToolStep, part: dict[str, Any], call: CallRecord) -> ToolStep:
        """``step`` with its result, which ``call``'s request carried back to the model."""
        step.end_ns = max(call.start_ns, step.start_ns)
        response = part_response(part)
        step.result = response if isinstance(response, str) else content_json(response)
        step.returned_by = call.index
        if step.call_id:
            self._done.add(step.call_id)
        return step

    def unanswered(self) -> list[ToolStep]:
        """Steps whose result never went back to the model (the run ended first)."""
        steps = [step for waiting in self._pending.values() for step in waiting]
        self._pending.clear()
        return steps


def tool_step_attributes(
    step: ToolStep, content: bool = True, redact: Callable[[str], str] | None = None
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "cab.kind": TOOL_STEP_KIND,
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": step.name,
        "gen_ai.tool.type": "function",
        "cab.llm.asked_by_call": step.asked_by,
        "cab.llm.result_returned": step.returned_by is not None,
    }
    if step.call_id:
        attrs["gen_ai.tool.call.id"] = step.call_id
    if step.description and content:
        # Recommended by the conventions; it comes from the request's content, so it is
        # recorded only when content is.
        attrs["gen_ai.tool.description"] = bound_text(
            redact(step.description) if redact else step.description
        )[0]
    if step.returned_by is not None:
        attrs["cab.llm.returned_by_call"] = step.returned_by
    if content:
        args = redact_strings(step.arguments, redact) if redact else step.arguments
        arguments = args if isinstance(args, str) else content_json(args)
        attrs["gen_ai.tool.call.arguments"] = bound_text(arguments)[0]
        if step.result is not None:
            attrs["gen_ai.tool.call.result"] = bound_text(redact(step.result) if redact else step.result)[0]
    return attrs
