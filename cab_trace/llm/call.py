"""One model call as it happened, and its OpenTelemetry GenAI span attributes.

Names follow the GenAI semantic conventions (``gen_ai.*``, development status, as of 1.38):
operation, provider, request and response model, response id, finish reasons, usage
(``input_tokens`` includes cached tokens; cache reads, cache writes and reasoning tokens
apart), ``gen_ai.request.stream``, ``gen_ai.response.time_to_first_chunk``, ``server.*``,
``http.response.status_code``, ``error.type``, the request's sampling parameters (seed, top_k,
stop sequences, penalties, choice count) and ``gen_ai.output.type``, and, when content is
recorded, ``gen_ai.input.messages`` / ``output.messages`` / ``system_instructions`` /
``tool.definitions`` as JSON text in the shapes of the conventions' JSON schemas. What the
conventions do not name is under ``cab.llm.*``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cab_trace.llm.partial import CutBody
from cab_trace.llm.wire_types import Api, RequestInfo, ResponseInfo, Usage

#: ``cab.kind`` of a model-call span and of a tool-step span.
MODEL_CALL_KIND = "model_call"
TOOL_STEP_KIND = "tool_step"

#: One text part longer than this keeps its head and tail and says how much was left out.
PART_LIMIT = 16 * 1024
#: One content attribute longer than this loses whole messages from the middle (oldest first
#: after the opening ones), replaced by one message saying how many.
ATTRIBUTE_LIMIT = 256 * 1024

#: Outcomes, as ``cab.llm.outcome``; all but ``ok`` are failures.
OUTCOMES = (
    "ok",
    "http_error",
    "api_error",
    "stream_cut",
    "body_cut",
    "bad_answer",
    "cancelled",
    "unanswered",
    "unreachable",
)


@dataclass
class CallRecord:
    """A call through the proxy. Times are Unix nanoseconds."""

    api: Api
    method: str
    path: str
    server_address: str
    server_port: int
    request_body_sha256: str
    request: RequestInfo
    start_ns: int
    end_ns: int = 0
    status: int | None = None  # the upstream's HTTP status; None when none arrived
    response: ResponseInfo = field(default_factory=ResponseInfo)
    first_chunk_ns: int | None = None  # first body bytes of a streamed answer
    outcome: str = "ok"
    detail: str = ""  # what went wrong, in words
    usage_added: bool = False  # the proxy asked for stream usage the agent had not asked for
    usage_refused: bool = False  # ... and the endpoint refused the request so changed (asked again)
    index: int = 0  # 1-based, in the order calls started
    repeat_of: int | None = None  # an earlier call with the same request body (a retry)
    #: The body as the agent sent it, until the recorder has read it (never recorded as such).
    request_body: bytes = field(default=b"", repr=False)
    #: ... or, for a body over the proxy's limit (relayed as it came), its two ends, likewise.
    request_cut: CutBody | None = field(default=None, repr=False)
    #: Bytes of the request the record does not hold (the middle of a body over the limit).
    request_unread_bytes: int = 0
    content_type: str | None = None  # the answer's Content-Type, as the endpoint labelled it
    content_encoding: str | None = None  # ... and its Content-Encoding, when it had one
    #: What else happened that the record should say (a mislabelled or compressed answer,
    #: bytes the recorder did not read), in words.
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome != "ok"

    @property
    def duration_ns(self) -> int:
        return max(self.end_ns - self.start_ns, 0)


def request_hash(body: bytes) -> str:
    """The request hash a results page shows: sha256 of the body the agent sent, hex."""
    return hashlib.sha256(body).hexdigest()


def span_name(call: CallRecord) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``, as the conventions name spans."""
    model = call.request.model or call.response.model
    return f"{call.api.operation} {model}" if model else call.api.operation


def error_type(call: CallRecord) -> str | None:
    """``error.type``: the HTTP status for an HTTP error, else the outcome; None on success."""
    if not call.failed:
        return None
    if call.outcome == "http_error" and call.status is not None:
        return str(call.status)
    return call.outcome


def status_message(call: CallRecord, content: bool = True) -> str:
    """The span's ERROR description, in words. Without ``content`` (``--no-content``) the
    provider's own error message is left out: providers quote the prompt back in it ("This
    model's maximum context length ... your messages: ...")."""
    if call.outcome == "http_error":
        text = f"the model endpoint answered HTTP {call.status}"
    else:
        text = {
            "api_error": "the model endpoint reported an error in its answer",
            "stream_cut": "the stream ended before the API's end marker",
            "body_cut": "the answer's body ended before its end (its length, or its last chunk)",
            "bad_answer": "the answer is not what the API sends",
            "cancelled": "the agent closed the connection before the answer was complete",
            "unanswered": "no answer from the model endpoint",
            "unreachable": "could not reach the model endpoint",
        }.get(call.outcome, call.outcome)
    detail = call.detail or (call.response.error if content else "")
    if not detail and call.response.error:
        detail = "the provider's message is not recorded (--no-content)"
    return f"{text}: {detail}" if detail else text


def call_attributes(  # noqa: PLR0912, PLR0915 - one statement per recorded attribute
    call: CallRecord, content: bool = True, redact: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """The span attributes of one call (JSON values: str, int, float, bool, list of str).

    ``redact``, when given, is applied to every string inside the content before it becomes
    JSON text: the span pipeline redacts the text again, but a rule matching across JSON's
    escapes there could cut a string short and leave text that is no longer JSON."""
    req, resp = call.request, call.response
    attrs: dict[str, Any] = {
        "cab.kind": MODEL_CALL_KIND,
        "gen_ai.operation.name": call.api.operation,
        "gen_ai.provider.name": call.api.provider,
        "cab.llm.api": call.api.value,
        "cab.llm.call_index": call.index,
        "cab.llm.request_sha256": call.request_body_sha256,
        "cab.llm.outcome": call.outcome,
        "gen_ai.request.stream": req.stream,
        "server.address": call.server_address,
        "server.port": call.server_port,
        "http.request.method": call.method,
        "url.path": call.path.split("?", 1)[0],
    }
    if req.model:
        attrs["gen_ai.request.model"] = req.model
    if req.max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = req.max_tokens
    if req.temperature is not None:
        attrs["gen_ai.request.temperature"] = req.temperature
    if req.top_p is not None:
        attrs["gen_ai.request.top_p"] = req.top_p
    attrs.update(req.params.attributes())
    if call.status is not None:
        attrs["http.response.status_code"] = call.status
    if call.content_type is not None:
        attrs["http.response.header.content-type"] = [call.content_type]
    if call.content_encoding is not None:
        attrs["http.response.header.content-encoding"] = [call.content_encoding]
    if call.notes:
        attrs["cab.llm.notes"] = list(call.notes)
    if resp.model:
        attrs["gen_ai.response.model"] = resp.model
    if resp.id:
        attrs["gen_ai.response.id"] = resp.id
    if resp.finish_reasons:
        attrs["gen_ai.response.finish_reasons"] = list(resp.finish_reasons)
    if resp.status:
        # The Responses API has no finish reason; its status (completed, incomplete, failed) is
        # what says how the answer ended, so readers can show it where a finish reason would be.
        attrs["cab.llm.response.status"] = resp.status
    if req.stream and call.first_chunk_ns is not None and _answered(call):
        attrs["gen_ai.response.time_to_first_chunk"] = round((call.first_chunk_ns - call.start_ns) / 1e9, 6)
    if req.stream:
        attrs["cab.llm.stream_events"] = resp.chunks
    if resp.unread_bytes:
        attrs["cab.llm.response.unread_bytes"] = resp.unread_bytes
    if call.request_unread_bytes:
        attrs["cab.llm.request.unread_bytes"] = call.request_unread_bytes
    attrs.update(usage_attributes(resp.usage))
    if call.usage_added:
        attrs["cab.llm.usage_requested_by_proxy"] = True
    if call.usage_refused:
        attrs["cab.llm.usage_request_refused"] = True
    if call.repeat_of is not None:
        attrs["cab.llm.repeat_of"] = call.repeat_of
    if (kind := error_type(call)) is not None:
        attrs["error.type"] = kind
    if content:
        truncated = False
        for key, value in (
            ("gen_ai.system_instructions", req.system_instructions),
            ("gen_ai.input.messages", req.input_messages),
            ("gen_ai.output.messages", resp.output_messages),
            ("gen_ai.tool.definitions", req.tool_definitions),
        ):
            if value:
                text, cut = bounded_json(redact_strings(value, redact) if redact else value)
                attrs[key] = text
                truncated = truncated or cut
        truncated = truncated or resp.content_cut or resp.unread_bytes > 0 or call.request_unread_bytes > 0
        attrs["cab.llm.content"] = "truncated" if truncated else "recorded"
    else:
        attrs["cab.llm.content"] = "omitted"
    return attrs


def _answered(call: CallRecord) -> bool:
    """Whether the first bytes were the start of an answer: not of an error reply (an HTTP error,
    or a stream whose only content was the API's error event)."""
    if call.status is None or not 200 <= call.status < 300:
        return False
    return not (call.outcome == "api_error" and not call.response.output_messages)


def usage_attributes(usage: Usage | None) -> dict[str, Any]:
    """``gen_ai.usage.*`` for what the provider reported; ``cab.llm.usage_reported`` says
    whether it reported anything (nothing is ever estimated)."""
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
        return {"cab.llm.usage_reported": False}
    attrs: dict[str, Any] = {"cab.llm.usage_reported": True}
    for key, value in (
        ("gen_ai.usage.input_tokens", usage.input_tokens),
        ("gen_ai.usage.output_tokens", usage.output_tokens),
        ("gen_ai.usage.cache_read.input_tokens", usage.cache_read_tokens),
        # The current name (semantic-conventions-genai), and the name of semconv 1.41 and before,
        # which consumers in use still read (Phoenix 20 reads only that one).
        ("gen_ai.usage.cache_write.input_tokens", usage.cache_creation_tokens),
        ("gen_ai.usage.cache_creation.input_tokens", usage.cache_creation_tokens),
        ("gen_ai.usage.reasoning.output_tokens", usage.reasoning_tokens),
    ):
        if value is not None:
            attrs[key] = value
    return attrs


def redact_strings(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with ``redact`` applied to every string in it (keys stay as they are)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_strings(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_strings(v, redact) for v in value]
    return value


#: A quote inside a JSON string, escaped as ``\"`` (after an even run of backslashes).
_ESCAPED_QUOTE = re.compile(r'(?<!\\)((?:\\\\)*)\\"')


def content_json(value: Any) -> str:
    """JSON text for a content attribute, with quotes inside strings written ``\u0022``.

    The span pipeline redacts this text as text; a rule that takes a token up to a quote
    (``Bearer abc\"``) would otherwise take the escaping backslash with it and leave a bare
    quote, which is no longer JSON. ``\u0022`` is taken whole or not at all."""
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return _ESCAPED_QUOTE.sub(r"\1\\u0022", text) if '\\"' in text else text


_dumps = content_json


def bound_text(text: str, limit: int = PART_LIMIT) -> tuple[str, bool]:
    """``text`` if it fits; else its head and tail with a marker saying how much is left out."""
    if len(text) <= limit:
        return text, False
    keep = limit // 2
    return (
        f"{text[:keep]}\n…[cab-trace: {len(text) - 2 * keep:,} characters not recorded]…\n{text[-keep:]}",
        True,
    )


def _bound_parts(value: Any) -> tuple[Any, bool]:
    cut = False
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, str) and k in ("content", "response", "result"):
                out[k], c = bound_text(v)
            elif k in ("arguments", "response") and not isinstance(v, str) and len(_dumps(v)) > PART_LIMIT:
                out[k], c = bound_text(_dumps(v))
            else:
                out[k], c = _bound_parts(v)
            cut = cut or c
        return out, cut
    if isinstance(value, list):
        items = []
        for v in value:
            item, c = _bound_parts(v)
            items.append(item)
            cut = cut or c
        return items, cut
    return value, False


def bounded_json(value: list[Any], limit: int = ATTRIBUTE_LIMIT) -> tuple[str, bool]:
    """JSON text of a content attribute, within :data:`ATTRIBUTE_LIMIT`; True when something
    was left out. Long parts are shortened first; then messages go from the middle (the
    first two, usually the system prompt and the task, and the latest ones stay)."""
    bounded, cut = _bound_parts(value)
    text = _dumps(bounded)
    if len(text) <= limit:
        return text, cut
    # Each message's JSON once; then drop from the middle by arithmetic, not by re-encoding.
    texts = [_dumps(item) for item in bounded]
    head, tail = texts[:2], texts[2:]
    room = limit - sum(len(t) + 1 for t in head) - 200  # 200: the marker message and brackets
    size, start = sum(len(t) + 1 for t in tail), 0
    while start < len(tail) and size > room:
        size -= len(tail[start]) + 1
        start += 1
    marker = _dumps(
        {
            "role": "cab-trace",
            "parts": [
                {
                    "type": "text",
                    "content": f"[{start} message(s) not recorded: over the limit of {limit:,} characters]",
                }
            ],
        }
    )
    text = "[" + ",".join([*head, marker, *tail[start:]]) + "]"
    if len(text) > limit:  # even the opening messages are too long
        text = f"[{marker}]"
    return text, True
