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


def _parts(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        part
        for message in messages
        for part in message.get("parts", [])
        if isinstance(part, dict) and part.get("type") == kind and part.get("id")
    ]


class ToolStepTracker:
    """Feed every finished call in the order calls finished; collect the steps it completes."""

    def __init__(self) -> None:
        self._pending: dict[str, ToolStep] = {}
        self._done: set[str] = set()

    def on_call(self, call: CallRecord) -> list[ToolStep]:
        """The steps whose results this call's request carries; then remember what it asks for."""
        finished: list[ToolStep] = []
        for part in _parts(call.request.input_messages, "tool_call_response"):
            step = self._pending.pop(str(part["id"]), None)
            if step is None:
                continue
            step.end_ns = max(call.start_ns, step.start_ns)
            step.result = str(part.get("result", ""))
            step.returned_by = call.index
            self._done.add(step.call_id)
            finished.append(step)
        if not call.failed:
            for part in _parts(call.response.output_messages, "tool_call"):
                call_id = str(part["id"])
                if call_id in self._done or call_id in self._pending:
                    continue
                self._pending[call_id] = ToolStep(
                    call_id, str(part.get("name") or "?"), part.get("arguments"), call.end_ns, call.index
                )
        return finished

    def unanswered(self) -> list[ToolStep]:
        """Steps whose result never went back to the model (the run ended first)."""
        steps = list(self._pending.values())
        self._pending.clear()
        return steps


def tool_step_attributes(
    step: ToolStep, content: bool = True, redact: Callable[[str], str] | None = None
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "cab.kind": TOOL_STEP_KIND,
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": step.name,
        "gen_ai.tool.call.id": step.call_id,
        "gen_ai.tool.type": "function",
        "cab.llm.asked_by_call": step.asked_by,
        "cab.llm.result_returned": step.returned_by is not None,
    }
    if step.returned_by is not None:
        attrs["cab.llm.returned_by_call"] = step.returned_by
    if content:
        args = redact_strings(step.arguments, redact) if redact else step.arguments
        arguments = args if isinstance(args, str) else content_json(args)
        attrs["gen_ai.tool.call.arguments"] = bound_text(arguments)[0]
        if step.result is not None:
            attrs["gen_ai.tool.call.result"] = bound_text(redact(step.result) if redact else step.result)[0]
    return attrs
