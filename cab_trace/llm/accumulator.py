"""What came back: :class:`ResponseAccumulator` builds a :class:`ResponseInfo` from a JSON
answer or a server-sent-event stream, fed as it arrives, with the usage and error readers.

Finish reasons are the API's own words in ``gen_ai.response.finish_reasons``, and only when the
API gave one (the Responses API has none but for an incomplete answer); inside an output
message, where the conventions now deprecate it but earlier consumers require it,
``finish_reason`` is the well-known value (:func:`~cab_trace.llm.parts.well_known_finish`),
``""`` when the API gave none.

One class, one job (a per-API state machine over a stream), so it stays whole; it is apart from
request parsing because that is one document read once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from cab_trace.llm import gemini
from cab_trace.llm.bounded import Pieces
from cab_trace.llm.messages import _anthropic_blocks, _chat_messages, _reasoning_text
from cab_trace.llm.parts import tool_call_part, well_known_finish
from cab_trace.llm.sse import SseEvent, SseParser
from cab_trace.llm.values import Json, _arguments, _dict, _get, _int, _list, _loads, _str, _text_of
from cab_trace.llm.wire_types import Api, ResponseInfo, Usage


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
