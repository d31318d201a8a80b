"""Model-API wire formats: OpenAI Chat Completions, OpenAI Responses, Anthropic Messages and
Gemini generateContent, JSON and server-sent-event streams, turned into call records and
OpenTelemetry GenAI attributes.

Pure: stdlib + orjson. The recording proxy (``cab_trace.harness.model_proxy``) hands these
parsers the bytes it forwards; everything that can be tested on a recorded body lives here.
"""

from __future__ import annotations

from cab_trace.llm.accumulator import ResponseAccumulator
from cab_trace.llm.call import CallRecord, call_attributes, span_name
from cab_trace.llm.request import parse_request
from cab_trace.llm.sse import SseEvent, SseParser
from cab_trace.llm.tools import ToolStep, ToolStepTracker, tool_step_attributes
from cab_trace.llm.wire_types import Api, Usage, detect_api

__all__ = [
    "Api",
    "CallRecord",
    "ResponseAccumulator",
    "SseEvent",
    "SseParser",
    "ToolStep",
    "ToolStepTracker",
    "Usage",
    "call_attributes",
    "detect_api",
    "parse_request",
    "span_name",
    "tool_step_attributes",
]
