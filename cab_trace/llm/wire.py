"""The wire formats: which API a request speaks, what it asked for, and what came back.

The public face of the parsers, kept so that ``cab_trace.llm.wire`` imports keep working. The
code lives by job: :mod:`~cab_trace.llm.wire_types` (the API enum and the records),
:mod:`~cab_trace.llm.request` (request bodies), :mod:`~cab_trace.llm.messages` (messages
normalised to the GenAI conventions' shape), :mod:`~cab_trace.llm.accumulator` (answers, JSON or
streamed, and how finish reasons are recorded) and :mod:`~cab_trace.llm.values` (reading
untrusted JSON values).
"""

from __future__ import annotations

from cab_trace.llm.accumulator import ResponseAccumulator
from cab_trace.llm.request import parse_request
from cab_trace.llm.values import Json
from cab_trace.llm.wire_types import Api, Message, RequestInfo, ResponseInfo, Usage, detect_api

__all__ = [
    "Api",
    "Json",
    "Message",
    "RequestInfo",
    "ResponseAccumulator",
    "ResponseInfo",
    "Usage",
    "detect_api",
    "parse_request",
]
