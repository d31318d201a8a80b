"""Which API a request speaks (:class:`Api`, :func:`detect_api`) and the records the parsers
fill in (:class:`Usage`, :class:`RequestInfo`, :class:`ResponseInfo`).

Apart from the parsers so that request parsing (:mod:`cab_trace.llm.request`), the response
accumulator (:mod:`cab_trace.llm.accumulator`) and their readers (``call``, ``partial``, the
proxy) share one definition without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cab_trace.llm import gemini
from cab_trace.llm.params import Params
from cab_trace.llm.values import Json

Message = dict[str, Any]


class Api(Enum):
    """A model API, by wire format. The value is what ``cab.llm.api`` records."""

    CHAT = "openai.chat_completions"
    RESPONSES = "openai.responses"
    ANTHROPIC = "anthropic.messages"
    GEMINI = "gcp.gemini.generate_content"

    @property
    def provider(self) -> str:
        """``gen_ai.provider.name``: the format's owner (an OpenAI-compatible server speaks
        OpenAI's format; ``server.address`` and the model names tell which one it is)."""
        return {Api.ANTHROPIC: "anthropic", Api.GEMINI: "gcp.gemini"}.get(self, "openai")

    @property
    def operation(self) -> str:
        """``gen_ai.operation.name``, as the conventions name each API's operation."""
        return "generate_content" if self is Api.GEMINI else "chat"


def detect_api(method: str, path: str) -> Api | None:
    """The API a request speaks, from its method and path; None for anything else (``/models``)."""
    if method.upper() != "POST":
        return None
    if gemini.is_gemini(method, path):
        return Api.GEMINI
    route = path.split("?", 1)[0].rstrip("/")
    if route.endswith("/chat/completions"):
        return Api.CHAT
    if route.endswith("/responses"):
        return Api.RESPONSES
    if route.endswith("/messages"):
        return Api.ANTHROPIC
    return None


@dataclass
class Usage:
    """Token counts as the conventions define them: ``input_tokens`` includes cached tokens."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass
class RequestInfo:
    """What one request asked for."""

    model: str | None = None
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    asked_usage: bool = False  # a stream request that asked for usage itself
    input_messages: list[Message] = field(default_factory=list)
    system_instructions: list[Message] = field(default_factory=list)
    tool_definitions: list[Json] = field(default_factory=list)
    params: Params = field(default_factory=Params)
    parsed: bool = True  # False: the body was not the JSON object the API takes


@dataclass
class ResponseInfo:
    """What came back (or as much as arrived)."""

    id: str | None = None
    model: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    output_messages: list[Message] = field(default_factory=list)
    usage: Usage | None = None
    error: str | None = None  # an error the API reported in its body or stream
    complete: bool = False  # the API's own end marker arrived ([DONE], message_stop, response.completed)
    chunks: int = 0  # stream events seen
    usage_only_chunks: int = 0  # chat chunks holding usage and no choices
    status: str | None = None  # the Responses API's status (completed, incomplete, failed)
    content_cut: bool = False  # a text of the answer kept its head and tail only (bounded memory)
    unread_bytes: int = 0  # stream bytes not read as events (over-long events, or skipped)
