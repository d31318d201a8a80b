"""The three wire formats: which API a request speaks, what it asked for, and what came back.

Messages are normalised to the shapes the OpenTelemetry GenAI conventions give for
``gen_ai.input.messages`` / ``gen_ai.output.messages`` (their JSON schemas are in
``tests/fixtures/semconv/``): ``{"role", "parts": [...]}`` with parts ``text``, ``reasoning``,
``tool_call`` (id, name, arguments) and ``tool_call_response`` (id, response); an id the API
did not give is left out, not null. Finish reasons are the API's own words in
``gen_ai.response.finish_reasons``, and only when the API gave one (the Responses API has none
but for an incomplete answer); inside an output message, where the conventions now deprecate
it but earlier consumers require it, ``finish_reason`` is the well-known value
(:func:`~cab_trace.llm.parts.well_known_finish`), ``""`` when the API gave none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from cab_trace.llm import gemini, params
from cab_trace.llm.bounded import Pieces
from cab_trace.llm.params import Params
from cab_trace.llm.parts import tool_call_part, tool_response_part, well_known_finish
from cab_trace.llm.sse import SseEvent, SseParser

Json = Any
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


def _loads(body: bytes | str) -> Json:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _arguments(text: object) -> Json:
    """Tool-call arguments as an object when they are JSON text (as the conventions ask)."""
    if isinstance(text, str):
        parsed = _loads(text) if text.strip() else None
        return parsed if isinstance(parsed, dict | list) else text
    return text


def _text_of(content: Json) -> str:
    """Plain text of a content value: a string, or the text of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", "")) for block in content if isinstance(block, dict) and "text" in block
        )
    return "" if content is None else orjson.dumps(content).decode()


# -- requests ------------------------------------------------------------------------------------


def parse_request(api: Api, body: bytes, path: str = "") -> RequestInfo:
    """What a request body asks for (Gemini's model and streaming are in its ``path``). Never
    raises: a body that is not a JSON object gives ``parsed=False`` and whatever could be read."""
    doc = _loads(body)
    if not isinstance(doc, dict):
        return RequestInfo(parsed=False)
    if api is Api.GEMINI:
        config = gemini.generation_config(doc)
        messages, gemini_system, tools = gemini.request_messages(doc)
        return RequestInfo(
            model=gemini.model_in_path(path),
            stream=gemini.is_stream_path(path),
            max_tokens=_int(config.get("maxOutputTokens")),
            temperature=_num(config.get("temperature")),
            top_p=_num(config.get("topP")),
            asked_usage=True,  # every Gemini answer carries usageMetadata
            input_messages=messages,
            system_instructions=gemini_system,
            tool_definitions=params.gemini_tools(tools),
            params=params.gemini_params(config),
        )
    info = RequestInfo(
        model=_str(doc.get("model")),
        stream=doc.get("stream") is True,
        temperature=_num(doc.get("temperature")),
        top_p=_num(doc.get("top_p")),
    )
    if api is Api.CHAT:
        info.max_tokens = _int(doc.get("max_completion_tokens")) or _int(doc.get("max_tokens"))
        options = doc.get("stream_options")
        info.asked_usage = isinstance(options, dict) and options.get("include_usage") is True
        info.input_messages = _chat_messages(doc.get("messages"))
        info.tool_definitions = params.chat_tools(doc.get("tools"))
        info.params = params.chat_params(doc)
    elif api is Api.RESPONSES:
        info.max_tokens = _int(doc.get("max_output_tokens"))
        info.asked_usage = True  # the Responses stream always ends with the usage
        info.input_messages = _responses_input(doc.get("input"))
        if isinstance(instructions := doc.get("instructions"), str) and instructions:
            info.system_instructions = [{"type": "text", "content": instructions}]
        info.tool_definitions = params.responses_tools(doc.get("tools"))
        info.params = params.responses_params(doc)
    else:
        info.max_tokens = _int(doc.get("max_tokens"))
        info.asked_usage = True  # Anthropic streams always carry usage
        info.input_messages = _anthropic_messages(doc.get("messages"))
        system = doc.get("system")
        if isinstance(system, str) and system:
            info.system_instructions = [{"type": "text", "content": system}]
        elif isinstance(system, list):
            info.system_instructions = [
                {"type": "text", "content": str(b.get("text", ""))} for b in system if isinstance(b, dict)
            ]
        info.tool_definitions = params.anthropic_tools(doc.get("tools"))
        info.params = params.anthropic_params(doc)
    return info


def _list(value: object) -> list[Json]:
    return list(value) if isinstance(value, list) else []


def _chat_messages(messages: object) -> list[Message]:
    out: list[Message] = []
    for m in _list(messages):
        if not isinstance(m, dict):
            continue
        role = str(m.get("role", "user"))
        parts: list[Json] = []
        if role == "tool":
            parts.append(tool_response_part(m.get("tool_call_id"), _text_of(m.get("content"))))
        else:
            reasoning = m.get("reasoning_content") or m.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                parts.append({"type": "reasoning", "content": reasoning})
            text = _text_of(m.get("content"))
            if text:
                parts.append({"type": "text", "content": text})
            for call in _list(m.get("tool_calls")):
                if isinstance(call, dict):
                    fn = _dict(call.get("function") or call.get("custom"))
                    args = fn.get("arguments") if "arguments" in fn else fn.get("input")
                    parts.append(tool_call_part(call.get("id"), fn.get("name"), _arguments(args)))
        out.append({"role": role, "parts": parts})
    return out


def _responses_input(value: object) -> list[Message]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    out: list[Message] = []
    for item in _list(value):
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            out.append(
                {
                    "role": str(item.get("role", "user")),
                    "parts": [{"type": "text", "content": _text_of(item.get("content"))}],
                }
            )
        elif kind in ("function_call", "custom_tool_call"):
            args = item.get("arguments") if kind == "function_call" else item.get("input")
            _append_part(
                out, "assistant", tool_call_part(item.get("call_id"), item.get("name"), _arguments(args))
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            _append_part(out, "tool", tool_response_part(item.get("call_id"), _text_of(item.get("output"))))
        elif kind == "reasoning":
            text = _reasoning_text(item)
            if text:
                _append_part(out, "assistant", {"type": "reasoning", "content": text})
    return out


def _append_part(out: list[Message], role: str, part: Json) -> None:
    if out and out[-1]["role"] == role and role in ("assistant", "tool"):
        out[-1]["parts"].append(part)
    else:
        out.append({"role": role, "parts": [part]})


def _reasoning_text(item: dict[str, Any]) -> str:
    summary = item.get("summary")
    return "".join(str(s.get("text", "")) for s in _list(summary) if isinstance(s, dict))


def _anthropic_blocks(content: object) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[Json] = []
    for block in _list(content):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": str(block.get("text", ""))})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": str(block.get("thinking", ""))})
        elif kind == "tool_use":
            parts.append(tool_call_part(block.get("id"), block.get("name"), block.get("input")))
        elif kind == "tool_result":
            parts.append(tool_response_part(block.get("tool_use_id"), _text_of(block.get("content"))))
        else:
            parts.append({"type": str(kind)})
    return parts


def _anthropic_messages(messages: object) -> list[Message]:
    return [
        {"role": str(m.get("role", "user")), "parts": _anthropic_blocks(m.get("content"))}
        for m in _list(messages)
        if isinstance(m, dict)
    ]


# -- responses -----------------------------------------------------------------------------------


class ResponseAccumulator:
    """Builds a :class:`ResponseInfo` from a response body: a JSON document (:meth:`feed_json`)
    or a stream, fed as bytes (:meth:`feed_bytes`) or as parsed events (:meth:`feed_event`)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._info = ResponseInfo()
        self._stale: Callable[[], None] | None = None  # rebuilds the output of a stream, when due
        self._sse = SseParser()
        # chat: per choice index: text, reasoning, tool calls by their index, finish reason
        self._choices: dict[int, dict[str, Any]] = {}
        # anthropic: content blocks by index
        self._blocks: dict[int, dict[str, Any]] = {}
        self._stop_reason: str | None = None
        self._responses_items: list[Json] = []
        self._responses_text = Pieces()
        self._raw_usage: dict[str, Any] = {}

    @property
    def info(self) -> ResponseInfo:
        """What has arrived so far. A stream's output messages are put together when asked for,
        not per event (which would make a long stream quadratic)."""
        if self._stale is not None:
            build, self._stale = self._stale, None
            build()
        return self._info

    # JSON ---------------------------------------------------------------------------------------

    def feed_json(self, body: bytes) -> ResponseInfo:
        doc = _loads(body)
        info = self._info
        if self.api is Api.GEMINI and isinstance(doc, list):
            doc = {"chunks": doc}  # streamGenerateContent without alt=sse: one JSON array
        if not isinstance(doc, dict):
            return info
        if isinstance(doc.get("error"), dict | str):
            info.error = _error_text(doc["error"])
        if self.api is Api.CHAT:
            self._chat_document(doc)
        elif self.api is Api.RESPONSES:
            self._responses_document(doc)
        elif self.api is Api.GEMINI:
            for chunk in doc.get("chunks", [doc]):
                if isinstance(chunk, dict):
                    self._gemini_chunk(chunk)
            self._build_gemini_output()
        else:
            self._anthropic_document(doc)
        info.complete = info.error is None
        return self.info

    def _chat_document(self, doc: dict[str, Any]) -> None:
        info = self._info
        info.id, info.model = _str(doc.get("id")), _str(doc.get("model"))
        for choice in _list(doc.get("choices")):
            if not isinstance(choice, dict):
                continue
            message = _dict(choice.get("message"))
            finish = _str(choice.get("finish_reason"))
            out = _chat_messages([{"role": "assistant", **message}])[0]
            info.output_messages.append({**out, "finish_reason": well_known_finish(finish)})
            if finish:
                info.finish_reasons.append(finish)
        info.usage = _chat_usage(doc.get("usage"))

    def _responses_document(self, doc: dict[str, Any]) -> None:
        info = self._info
        info.id, info.model = _str(doc.get("id")), _str(doc.get("model"))
        parts: list[Json] = []
        for item in _list(doc.get("output")):
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "message":
                parts.append({"type": "text", "content": _text_of(item.get("content"))})
            elif kind in ("function_call", "custom_tool_call"):
                args = item.get("arguments") if kind == "function_call" else item.get("input")
                parts.append(tool_call_part(item.get("call_id"), item.get("name"), _arguments(args)))
            elif kind == "reasoning" and (text := _reasoning_text(item)):
                parts.append({"type": "reasoning", "content": text})
        status = _str(doc.get("status"))
        info.status = status
        # The Responses API gives no finish reason; an incomplete answer says why it stopped.
        details = doc.get("incomplete_details")
        finish = _str(details.get("reason")) if status == "incomplete" and isinstance(details, dict) else None
        if status == "failed" and isinstance(doc.get("error"), dict):
            info.error = _error_text(doc["error"])
        if parts:
            info.output_messages = [
                {"role": "assistant", "parts": parts, "finish_reason": well_known_finish(finish)}
            ]
        info.finish_reasons = [finish] if finish else []
        usage = doc.get("usage")
        if isinstance(usage, dict):
            info.usage = Usage(
                input_tokens=_int(usage.get("input_tokens")),
                output_tokens=_int(usage.get("output_tokens")),
                cache_read_tokens=_int(_get(usage, "input_tokens_details", "cached_tokens")),
                reasoning_tokens=_int(_get(usage, "output_tokens_details", "reasoning_tokens")),
            )

    def _anthropic_document(self, doc: dict[str, Any]) -> None:
        info = self._info
        if doc.get("type") == "error":
            return
        info.id, info.model = _str(doc.get("id")), _str(doc.get("model"))
        stop = _str(doc.get("stop_reason"))
        info.output_messages = [
            {
                "role": "assistant",
                "parts": _anthropic_blocks(doc.get("content")),
                "finish_reason": well_known_finish(stop),
            }
        ]
        if stop:
            info.finish_reasons = [stop]
        info.usage = _anthropic_usage(doc.get("usage"))

    def _text(self, pieces: object) -> str:
        """The text of a stream's pieces (none yet: empty), noting when it was cut."""
        if not isinstance(pieces, Pieces):
            return ""
        self._info.content_cut = self._info.content_cut or pieces.cut
        return pieces.text()

    # streams ------------------------------------------------------------------------------------

    def feed_bytes(self, chunk: bytes) -> list[SseEvent]:
        """Feed raw stream bytes; returns the events they completed (already accounted for)."""
        events = self._sse.feed(chunk)
        for event in events:
            self.feed_event(event)
        self._info.unread_bytes = self._sse.skipped
        return events

    def skip(self, dropped: int) -> None:
        """``dropped`` stream bytes were not given to the accumulator: read on from the next event."""
        self._sse.skip(dropped)
        self._info.unread_bytes = self._sse.skipped

    def feed_event(self, event: SseEvent) -> None:
        if event.is_comment:
            return
        info = self._info
        info.chunks += 1
        data = event.data.strip()
        if data == "[DONE]":
            info.complete = True
            return
        doc = _loads(data) if data else None
        if not isinstance(doc, dict):
            return
        if self.api is Api.CHAT:
            self._chat_chunk(doc)
        elif self.api is Api.RESPONSES:
            self._responses_event(event.event, doc)
        elif self.api is Api.GEMINI:
            self._gemini_chunk(doc)
        else:
            self._anthropic_event(event.event, doc)

    def _chat_chunk(self, doc: dict[str, Any]) -> None:  # noqa: PLR0912 (one branch per field)
        info = self._info
        if isinstance(doc.get("error"), dict | str):
            info.error = _error_text(doc["error"])
            return
        info.id = info.id or _str(doc.get("id"))
        info.model = info.model or _str(doc.get("model"))
        choices = _list(doc.get("choices"))
        usage = _chat_usage(doc.get("usage"))
        if usage is not None:
            info.usage = usage
            if not choices:
                info.usage_only_chunks += 1
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            index = _int(choice.get("index")) or 0
            state = self._choices.setdefault(
                index, {"text": Pieces(), "reasoning": Pieces(), "calls": {}, "finish": None}
            )
            delta = _dict(choice.get("delta"))
            if isinstance(content := delta.get("content"), str):
                state["text"].append(content)
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str):
                state["reasoning"].append(reasoning)
            for call in _list(delta.get("tool_calls")):
                if not isinstance(call, dict):
                    continue
                slot = state["calls"].setdefault(
                    _int(call.get("index")) or 0, {"id": None, "name": "", "args": Pieces()}
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                fn = _dict(call.get("function"))
                if isinstance(fn.get("name"), str):
                    slot["name"] += fn["name"]
                if isinstance(fn.get("arguments"), str):
                    slot["args"].append(fn["arguments"])
            if finish := _str(choice.get("finish_reason")):
                state["finish"] = finish
        self._stale = self._build_chat_output

    def _build_chat_output(self) -> None:
        info = self._info
        info.output_messages, info.finish_reasons = [], []
        for index in sorted(self._choices):
            state = self._choices[index]
            parts: list[Json] = []
            if state["reasoning"]:
                parts.append({"type": "reasoning", "content": self._text(state["reasoning"])})
            if state["text"]:
                parts.append({"type": "text", "content": self._text(state["text"])})
            for _, slot in sorted(state["calls"].items()):
                parts.append(tool_call_part(slot["id"], slot["name"], _arguments(self._text(slot["args"]))))
            info.output_messages.append(
                {"role": "assistant", "parts": parts, "finish_reason": well_known_finish(state["finish"])}
            )
            if state["finish"]:
                info.finish_reasons.append(state["finish"])

    def _responses_event(self, name: str, doc: dict[str, Any]) -> None:
        kind = _str(doc.get("type")) or name
        response = doc.get("response")
        if kind in ("response.created", "response.in_progress") and isinstance(response, dict):
            self._info.id = _str(response.get("id"))
            self._info.model = _str(response.get("model"))
        elif kind == "response.output_text.delta" and isinstance(doc.get("delta"), str):
            self._responses_text.append(doc["delta"])  # kept for a stream cut before its item is done
            self._stale = self._build_responses_partial
        elif kind == "response.output_item.done" and isinstance(doc.get("item"), dict):
            self._responses_items.append(doc["item"])
            self._responses_text = Pieces()
            self._stale = self._build_responses_partial
        elif kind in ("response.completed", "response.incomplete", "response.failed") and isinstance(
            response, dict
        ):
            self._responses_document(response)
            self._info.complete = True
        elif kind == "error":
            self._info.error = _error_text(doc.get("error") or doc)

    def _gemini_chunk(self, doc: dict[str, Any]) -> None:
        """One GenerateContentResponse: text parts add up across a stream's chunks."""
        info = self._info
        if isinstance(doc.get("error"), dict):
            info.error = _error_text(doc["error"])
            return
        info.id = info.id or _str(doc.get("responseId"))
        info.model = _str(doc.get("modelVersion")) or info.model
        for candidate in _list(doc.get("candidates")):
            if not isinstance(candidate, dict):
                continue
            index = _int(candidate.get("index")) or 0
            state = self._choices.setdefault(index, {"parts": [], "finish": None})
            content = _dict(candidate.get("content"))
            for part in gemini.parts_of(content.get("parts")):
                last = state["parts"][-1] if state["parts"] else None
                if (
                    part["type"] in ("text", "reasoning")
                    and last is not None
                    and last["type"] == part["type"]
                ):
                    last["chunks"].append(part["content"])
                elif part["type"] in ("text", "reasoning"):
                    state["parts"].append({"type": part["type"], "chunks": _pieces(part["content"])})
                else:
                    state["parts"].append(part)
            if finish := _str(candidate.get("finishReason")):
                state["finish"] = finish
                info.complete = True
        usage = doc.get("usageMetadata")
        if isinstance(usage, dict):
            thoughts = _int(usage.get("thoughtsTokenCount"))
            candidates = _int(usage.get("candidatesTokenCount"))
            info.usage = Usage(
                input_tokens=_int(usage.get("promptTokenCount")),
                # The conventions' output tokens include reasoning, as OpenAI counts them.
                output_tokens=None
                if candidates is None and thoughts is None
                else (candidates or 0) + (thoughts or 0),
                cache_read_tokens=_int(usage.get("cachedContentTokenCount")),
                reasoning_tokens=thoughts,
            )
        self._stale = self._build_gemini_output

    def _build_gemini_output(self) -> None:
        info = self._info
        info.output_messages, info.finish_reasons = [], []
        for index in sorted(self._choices):
            state = self._choices[index]
            parts = [
                {"type": p["type"], "content": self._text(p["chunks"])} if "chunks" in p else p
                for p in state["parts"]
            ]
            info.output_messages.append(
                {"role": "assistant", "parts": parts, "finish_reason": well_known_finish(state["finish"])}
            )
            if state["finish"]:
                info.finish_reasons.append(state["finish"])

    def _build_responses_partial(self) -> None:
        if self._info.complete:
            return  # response.completed said it all
        items = list(self._responses_items)
        if self._responses_text:
            items.append(
                {
                    "type": "message",
                    "content": [{"type": "output_text", "text": self._text(self._responses_text)}],
                }
            )
        self._responses_document({**self._partial_response(), "output": items})

    def _partial_response(self) -> dict[str, Any]:
        # No status: the API never said one (a cut stream); none is made up.
        return {"id": self._info.id, "model": self._info.model}

    def _anthropic_event(self, name: str, doc: dict[str, Any]) -> None:  # noqa: PLR0912 (one per event type)
        info = self._info
        kind = _str(doc.get("type")) or name
        if kind == "message_start" and isinstance(doc.get("message"), dict):
            message = doc["message"]
            info.id, info.model = _str(message.get("id")), _str(message.get("model"))
            if isinstance(message.get("usage"), dict):
                self._raw_usage = dict(message["usage"])
                info.usage = _anthropic_usage(self._raw_usage)
        elif kind == "content_block_start" and isinstance(doc.get("content_block"), dict):
            block = dict(doc["content_block"])
            if block.get("type") == "tool_use":
                block["partial_json"] = Pieces()
            self._blocks[_int(doc.get("index")) or 0] = block
        elif kind == "content_block_delta" and isinstance(doc.get("delta"), dict):
            delta = doc["delta"]
            block = self._blocks.setdefault(_int(doc.get("index")) or 0, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block.setdefault("text_parts", Pieces()).append(str(delta.get("text", "")))
            elif delta.get("type") == "thinking_delta":
                block.setdefault("thinking_parts", Pieces()).append(str(delta.get("thinking", "")))
            elif delta.get("type") == "input_json_delta":
                block.setdefault("partial_json", Pieces()).append(str(delta.get("partial_json", "")))
        elif kind == "message_delta":
            delta = _dict(doc.get("delta"))
            self._stop_reason = _str(delta.get("stop_reason")) or self._stop_reason
            if isinstance(doc.get("usage"), dict):
                # message_delta's counts are cumulative: they replace message_start's, key by key.
                self._raw_usage.update(doc["usage"])
                info.usage = _anthropic_usage(self._raw_usage)
        elif kind == "message_stop":
            info.complete = True
        elif kind == "error":
            info.error = _error_text(doc.get("error") or doc)
        if kind in ("content_block_start", "content_block_delta", "content_block_stop", "message_delta"):
            self._stale = self._build_anthropic_output

    def _build_anthropic_output(self) -> None:
        blocks = []
        for _, block in sorted(self._blocks.items()):
            if block.get("type") == "tool_use":
                text = self._text(block.get("partial_json"))
                blocks.append({**block, "input": _arguments(text) if text else block.get("input")})
            else:
                blocks.append(
                    {
                        **block,
                        "text": str(block.get("text", "")) + self._text(block.get("text_parts")),
                        "thinking": str(block.get("thinking", "")) + self._text(block.get("thinking_parts")),
                    }
                )
        stop = self._stop_reason
        self._info.output_messages = [
            {
                "role": "assistant",
                "parts": _anthropic_blocks(blocks),
                "finish_reason": well_known_finish(stop),
            }
        ]
        self._info.finish_reasons = [stop] if stop else []


def _pieces(first: str) -> Pieces:
    out = Pieces()
    out.append(first)
    return out


def _get(doc: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _chat_usage(usage: object) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    return Usage(
        input_tokens=_int(usage.get("prompt_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        cache_read_tokens=_int(_get(usage, "prompt_tokens_details", "cached_tokens")),
        reasoning_tokens=_int(_get(usage, "completion_tokens_details", "reasoning_tokens")),
    )


def _anthropic_usage(usage: object) -> Usage | None:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; the conventions'
    input tokens include them, so they are added back."""
    if not isinstance(usage, dict):
        return None
    fresh = _int(usage.get("input_tokens"))
    read = _int(usage.get("cache_read_input_tokens"))
    created = _int(usage.get("cache_creation_input_tokens"))
    total = None if fresh is None else fresh + (read or 0) + (created or 0)
    return Usage(
        input_tokens=total,
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_tokens=read,
        cache_creation_tokens=created,
    )


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        kind, message = error.get("type") or error.get("code"), error.get("message")
        return ": ".join(str(x) for x in (kind, message) if x) or orjson.dumps(error).decode()
    return str(error)
