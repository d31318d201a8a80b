"""Model calls and tool steps as spans: children of the container span, on the calls' own clock.

Fed by the recording proxy's recorder thread. Spans go through the run's tracer, so through
the one redacting processor like every other span. Also keeps the run totals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context

from cab_trace.llm import (
    CallRecord,
    ToolStep,
    ToolStepTracker,
    call_attributes,
    span_name,
    tool_step_attributes,
)
from cab_trace.llm.call import status_message


class ModelCallSpans:
    """Turns finished calls into spans under ``parent``. :meth:`finish` once at the end.

    Args:
        tracer: the run's tracer.
        content: record messages, tool definitions, arguments and results (redacted by the
            pipeline); False keeps everything else.
        redact: the run's redaction of one string, applied to each string of the content
            before it becomes JSON text (see :func:`cab_trace.llm.call_attributes`).
    """

    def __init__(
        self, tracer: Tracer, content: bool = True, redact: Callable[[str], str] | None = None
    ) -> None:
        self._tracer = tracer
        self.content = content
        self._redact = redact
        self.parent: Span | None = None
        self._tools = ToolStepTracker()
        self._lock = threading.Lock()
        self.calls = 0
        self.failed = 0
        self.without_usage = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.reasoning_tokens = 0
        self.call_ns = 0
        self.tool_steps = 0
        self._last_end_ns = 0

    def __call__(self, call: CallRecord) -> None:
        with self._lock:
            self._record(call)

    def _record(self, call: CallRecord) -> None:
        context = set_span_in_context(self.parent) if self.parent is not None else None
        span = self._tracer.start_span(
            span_name(call),
            context=context,
            kind=SpanKind.CLIENT,
            attributes=call_attributes(call, self.content, self._redact),
            start_time=call.start_ns,
        )
        if call.failed:
            span.set_status(Status(StatusCode.ERROR, status_message(call, self.content)))
        span.end(end_time=max(call.end_ns, call.start_ns))
        self._last_end_ns = max(self._last_end_ns, call.end_ns)
        self.calls += 1
        self.failed += call.failed
        self.call_ns += call.duration_ns
        usage = call.response.usage
        if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
            # A failed call (a 429, a 500, a cut stream) is counted as failed, not as missing usage.
            self.without_usage += not call.failed
        else:
            self.input_tokens += usage.input_tokens or 0
            self.output_tokens += usage.output_tokens or 0
            self.cache_read_tokens += usage.cache_read_tokens or 0
            self.reasoning_tokens += usage.reasoning_tokens or 0
        for step in self._tools.on_call(call):
            self._step(step, step.end_ns or call.start_ns)

    def _step(self, step: ToolStep, end_ns: int) -> None:
        context = set_span_in_context(self.parent) if self.parent is not None else None
        span = self._tracer.start_span(
            f"execute_tool {step.name}",
            context=context,
            kind=SpanKind.INTERNAL,
            attributes=tool_step_attributes(step, self.content, self._redact),
            start_time=step.start_ns,
        )
        span.end(end_time=max(end_ns, step.start_ns))
        self.tool_steps += 1

    def finish(self, end_ns: int) -> None:
        """Steps whose result never went back to the model end here (the agent's end)."""
        with self._lock:
            for step in self._tools.unanswered():
                self._step(step, end_ns)

    def totals(self, check_passed: bool | None) -> dict[str, Any]:
        """Run-span attributes a sweep can sum. Unknown is not zero: the token counts are there
        only when every call that succeeded reported its usage (``model_calls_without_usage``
        says how many did not; as ``cab_trace.model.axes`` reads them); failed calls count in
        ``model_calls_failed``. ``tokens_per_correct_task`` only when the task's check passed."""
        if not self.calls:
            return {"model_calls": 0}
        attrs: dict[str, Any] = {
            "model_calls": self.calls,
            "model_calls_failed": self.failed,
            "model_calls_without_usage": self.without_usage,
            "model_call_ms": round(self.call_ns / 1e6),
            "tool_steps": self.tool_steps,
        }
        known = self.without_usage == 0
        if known:
            attrs["input_tokens"] = self.input_tokens
            attrs["output_tokens"] = self.output_tokens
            attrs["total_tokens"] = self.input_tokens + self.output_tokens
            if self.cache_read_tokens:
                attrs["cache_read_tokens"] = self.cache_read_tokens
            if self.reasoning_tokens:
                attrs["reasoning_tokens"] = self.reasoning_tokens
        if check_passed is not None:
            attrs["correct_tasks"] = int(check_passed)
            if check_passed and known:
                attrs["tokens_per_correct_task"] = self.input_tokens + self.output_tokens
        return attrs
