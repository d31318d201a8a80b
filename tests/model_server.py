"""A scripted OpenAI-compatible model server: the test suite's stand-in for a paid model API.

Everything else in the agent tests is real (the agent CLIs from npm and PyPI, the harness,
the OTLP receiver); only the model is scripted, because a real one costs money, needs a key
and does not answer the same way twice. The server speaks enough of the OpenAI wire formats
for real agents (pi, opencode, aider, codex) to run a whole task against it:

- ``GET /v1/models``: one model list entry per name in ``models`` (any id is accepted anyway).
- ``POST /v1/chat/completions``: non-streaming, and streaming (SSE ``data:`` chunks, then
  ``data: [DONE]``); the final usage chunk (``choices: []``) is sent only when the request
  asks for it with ``stream_options.include_usage``, as OpenAI does.
- ``POST /v1/responses``: the Responses API, non-streaming and streaming (``response.created``,
  ``response.output_item.added``, ``…delta``, ``response.output_item.done``,
  ``response.completed`` with usage).
- ``POST /v1/messages``: the Anthropic Messages API, non-streaming and streaming
  (``message_start``, ``content_block_*`` with ``text_delta`` / ``input_json_delta``,
  ``message_delta`` with usage, ``message_stop``), and ``/v1/messages/count_tokens``.
- ``POST /v1beta/models/M:generateContent`` and ``:streamGenerateContent`` (SSE): the Gemini
  API, and ``:countTokens``.

Every request is logged (:attr:`ScriptedModelServer.requests`): method, path, the JSON body
and the headers, minus the credential headers (``Authorization``, ``api-key``,
``x-api-key``); whether a credential was sent, and whether it was the expected one, is kept
as two booleans instead.

The script fixes one file with a :class:`Fix` (by default the bundled demo task's
``greet.py``, which forgets the ``!``). The server is stateless: it decides each answer from
the request alone, as a real model does from the conversation:

- A request that offers **tools** (pi, opencode, codex, claude, gemini) gets, in turn: a call
  to the ``read`` tool on the file (when one is offered: opencode and claude refuse to edit a
  file they have not read), then an ``edit`` call (or ``write``, or failing both a ``bash``
  command), and once that tool's result is in the conversation, a final text message.
  Argument names are taken from each tool's JSON schema (``path`` or ``filePath``,
  ``oldText`` or ``oldString`` …; other required text parameters get the fix's summary), and
  the path is made absolute when the system prompt names the working directory.
- A request with **no tools** (aider) gets the fix in aider's edit format: a SEARCH/REPLACE
  block when the system prompt asks for those, else the whole file under its name.

Every answer reports token usage (``prompt_tokens`` is the request body's size over four).

Use::

    with ScriptedModelServer() as server:
        run_agent(endpoint=server.url)          # http://127.0.0.1:PORT/v1
        assert server.requests_to("/v1/chat/completions")
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Headers that carry a credential; never logged.
AUTH_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key"})


@dataclass(frozen=True)
class Fix:
    """The change the scripted model makes: in ``path``, ``old`` becomes ``new``.

    ``content`` is the whole file after the fix (for ``write`` tools and aider's whole-file
    format).
    """

    path: str
    old: str
    new: str
    content: str
    summary: str = "Done: the file is fixed."


#: The bundled demo task (cab_trace/examples/demo-task): greet() forgets the exclamation mark.
DEMO_FIX = Fix(
    path="greet.py",
    old='return f"Hello, {name}"',
    new='return f"Hello, {name}!"',
    content='def greet(name: str) -> str:\n    return f"Hello, {name}!"\n',
    summary="Fixed greet.py: greet() now ends the greeting with an exclamation mark.",
)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it (credential headers left out)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any  # the parsed JSON body, or None for an empty or non-JSON body
    raw_size: int
    had_credential: bool  # an Authorization / api-key header was sent
    credential_ok: bool  # ... and it carried the expected key (always True when none is expected)
    reply: str = ""  # what the script answered: "tool:<name>", "text", "models", "error:<status>"


@dataclass(frozen=True)
class ToolCall:
    """A tool call the script decided on."""

    name: str
    arguments: dict[str, Any]
    call_id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:16])


@dataclass(frozen=True)
class Reply:
    """What the script answers: text, or one tool call."""

    text: str = ""
    tool_call: ToolCall | None = None


class ScriptedModelServer:
    """An OpenAI-compatible HTTP server on 127.0.0.1 (port chosen by the OS), in a thread.

    Args:
        fix: the change the scripted conversation makes (default: the demo task's).
        expect_key: when given, a request without ``Bearer <expect_key>`` (or an ``api-key``
            / ``x-api-key`` header holding it) is answered 401, as a real API would.
        models: ids listed by ``GET /v1/models``.
        chunk_size: characters per streamed text or argument delta.
    """

    def __init__(
        self,
        fix: Fix = DEMO_FIX,
        expect_key: str | None = None,
        models: Sequence[str] = ("scripted-model",),
        chunk_size: int = 16,
    ) -> None:
        self.fix = fix
        self.expect_key = expect_key
        self.models = list(models)
        self.chunk_size = chunk_size
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what an agent takes as its OpenAI base URL."""
        return f"{self.base_url}/v1"

    def start(self) -> ScriptedModelServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the log -----------------------------------------------------------------------------

    def requests_to(self, path: str) -> list[LoggedRequest]:
        """The logged requests whose path (query left out) is ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def _log(self, request: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # -- the script --------------------------------------------------------------------------

    def reply_to_chat(self, body: Mapping[str, Any]) -> Reply:
        """The answer to a chat-completions request body."""
        messages = body.get("messages") or []
        tools = [_chat_tool(t) for t in body.get("tools") or []]
        system = "\n".join(_text_of(m.get("content")) for m in messages if m.get("role") in _SYSTEM)
        tool_results = [_text_of(m.get("content")) for m in messages if m.get("role") == "tool"]
        return self._decide([t for t in tools if t], system, tool_results)

    def reply_to_responses(self, body: Mapping[str, Any]) -> Reply:
        """The answer to a Responses API request body."""
        items = body.get("input") or []
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        tools = [_responses_tool(t) for t in body.get("tools") or []]
        system = _text_of(body.get("instructions"))
        system += "\n".join(_text_of(i.get("content")) for i in items if i.get("role") in _SYSTEM)
        results = [_text_of(i.get("output")) for i in items if i.get("type") == "function_call_output"]
        return self._decide([t for t in tools if t], system, results)

    def reply_to_messages(self, body: Mapping[str, Any]) -> Reply:
        """The answer to an Anthropic Messages API request body."""
        messages = body.get("messages") or []
        tools = [_anthropic_tool(t) for t in body.get("tools") or []]
        system = _text_of(body.get("system"))
        results = [
            _text_of(part.get("content"))
            for m in messages
            if m.get("role") == "user" and isinstance(m.get("content"), list)
            for part in m["content"]
            if isinstance(part, dict) and part.get("type") == "tool_result"
        ]
        return self._decide([t for t in tools if t], system, results)

    def reply_to_gemini(self, body: Mapping[str, Any]) -> Reply:
        """The answer to a Gemini API ``generateContent`` request body."""
        contents = body.get("contents") or []
        tools = [
            _schema_tool(d["name"], d.get("parametersJsonSchema") or d.get("parameters"))
            for t in body.get("tools") or []
            for d in t.get("functionDeclarations") or []
            if d.get("name")
        ]
        instruction = body.get("systemInstruction") or {}
        system = "\n".join(str(p.get("text", "")) for p in instruction.get("parts") or [])
        results = [
            json.dumps(part["functionResponse"].get("response"))
            for c in contents
            for part in c.get("parts") or []
            if isinstance(part, dict) and "functionResponse" in part
        ]
        return self._decide(tools, system, results)

    def _decide(self, tools: list[_Tool], system: str, tool_results: list[str]) -> Reply:
        if not tools:
            return Reply(text=self._edit_format_reply(system))
        workdir = _workdir_in(system)
        path = f"{workdir.rstrip('/')}/{self.fix.path}" if workdir else self.fix.path
        steps: list[ToolCall] = []
        read = _find(tools, ("read", "read_file", "view"))
        change = self._change_call(tools, path)
        if read is not None and change is not None and change.name != "bash":
            steps.append(read.call({read.path_arg(): path}, f"Read {self.fix.path}"))
        if change is not None:
            steps.append(change)
        if len(tool_results) < len(steps):
            return Reply(tool_call=steps[len(tool_results)])
        return Reply(text=self.fix.summary)

    def _change_call(self, tools: list[_Tool], path: str) -> ToolCall | None:
        edit = _find(tools, ("edit", "edit_file", "str_replace", "replace"))
        if edit is not None:
            args = edit.edit_args(path, self.fix.old, self.fix.new)
            if args is not None:
                return edit.call(args, self.fix.summary)
        write = _find(tools, ("write", "write_file", "create_file"))
        if write is not None and (content_arg := write.arg(("content", "contents", "text"))):
            return write.call({write.path_arg(): path, content_arg: self.fix.content}, self.fix.summary)
        bash = _find(tools, ("bash", "shell", "run_shell_command", "exec_command"))
        if bash is not None:
            command_arg = bash.arg(("command", "cmd", "script")) or "command"
            script = (
                "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
                "p.write_text(p.read_text().replace(sys.argv[2], sys.argv[3], 1))"
            )
            line = shlex.join(["python3", "-c", script, path, self.fix.old, self.fix.new])
            command: Any = ["bash", "-lc", line] if bash.is_array(command_arg) else line
            return bash.call({command_arg: command}, self.fix.summary)
        return None

    def _edit_format_reply(self, system: str) -> str:
        fence = "```"
        if "SEARCH/REPLACE" in system or "<<<<<<< SEARCH" in system:
            return (
                f"I'll add the exclamation mark.\n\n{self.fix.path}\n{fence}python\n"
                f"<<<<<<< SEARCH\n    {self.fix.old}\n=======\n    {self.fix.new}\n>>>>>>> REPLACE\n{fence}\n"
            )
        return (
            f"I'll add the exclamation mark.\n\n{self.fix.path}\n{fence}python\n{self.fix.content}{fence}\n"
        )


_SYSTEM = ("system", "developer")


@dataclass(frozen=True)
class _Tool:
    name: str
    properties: Mapping[str, Any]
    required: tuple[str, ...] = ()

    def call(self, arguments: dict[str, Any], note: str) -> ToolCall:
        """A call with ``arguments``, and ``note`` for any other required text parameter (Gemini
        CLI's ``replace`` wants an ``instruction``, say)."""
        for name in self.required:
            spec = self.properties.get(name)
            if name not in arguments and isinstance(spec, dict) and spec.get("type") == "string":
                arguments = {**arguments, name: note}
        return ToolCall(self.name, arguments)

    def arg(self, names: Sequence[str]) -> str | None:
        """The first of ``names`` (case-insensitive) among the tool's parameters."""
        lowered = {p.lower(): p for p in self.properties}
        for name in names:
            if name.lower() in lowered:
                return lowered[name.lower()]
        return None

    def path_arg(self) -> str:
        return self.arg(("path", "filePath", "file_path", "absolute_path", "file", "filename")) or "path"

    def is_array(self, name: str) -> bool:
        spec = self.properties.get(name)
        return isinstance(spec, dict) and spec.get("type") == "array"

    def edit_args(self, path: str, old: str, new: str) -> dict[str, Any] | None:
        old_arg = self.arg(("oldText", "oldString", "old_string", "old_str", "old", "search"))
        new_arg = self.arg(("newText", "newString", "new_string", "new_str", "new", "replace"))
        if old_arg and new_arg:
            return {self.path_arg(): path, old_arg: old, new_arg: new}
        edits_arg = self.arg(("edits",))
        if edits_arg:  # a list of {oldText, newText}: read the item schema for the names
            item = self.properties[edits_arg].get("items", {}).get("properties", {})
            inner = _Tool(self.name, item)
            old_arg = inner.arg(("oldText", "oldString", "old_string", "old"))
            new_arg = inner.arg(("newText", "newString", "new_string", "new"))
            if old_arg and new_arg:
                return {self.path_arg(): path, edits_arg: [{old_arg: old, new_arg: new}]}
        return None


def _chat_tool(spec: Mapping[str, Any]) -> _Tool | None:
    function = spec.get("function") if spec.get("type", "function") == "function" else None
    if not isinstance(function, dict) or not function.get("name"):
        return None
    return _schema_tool(function["name"], function.get("parameters"))


def _responses_tool(spec: Mapping[str, Any]) -> _Tool | None:
    if spec.get("type") != "function" or not spec.get("name"):
        return None
    return _schema_tool(spec["name"], spec.get("parameters"))


def _anthropic_tool(spec: Mapping[str, Any]) -> _Tool | None:
    if not spec.get("name") or "input_schema" not in spec:
        return None  # a server tool (web search, ...), not one the agent runs
    return _schema_tool(spec["name"], spec.get("input_schema"))


def _schema_tool(name: Any, schema: Any) -> _Tool:
    schema = schema if isinstance(schema, dict) else {}
    return _Tool(str(name), schema.get("properties") or {}, tuple(schema.get("required") or ()))


def _find(tools: Sequence[_Tool], names: Sequence[str]) -> _Tool | None:
    by_name = {t.name.lower(): t for t in tools}
    for name in names:
        if name in by_name:
            return by_name[name]
    return None


_WORKDIR = re.compile(r"(?:current working directory|working directory|cwd)\s*[:=]\s*(/[^\s<>\"'`]+)", re.I)


def _workdir_in(system: str) -> str | None:
    match = _WORKDIR.search(system)
    return match.group(1).rstrip(".,;") if match else None


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _usage(body_size: int, completion: str) -> tuple[int, int]:
    return max(1, body_size // 4), max(1, len(completion) // 4)


# -- wire formats ------------------------------------------------------------------------------


def chat_completion(reply: Reply, model: str, body_size: int) -> dict[str, Any]:
    """A non-streaming chat-completions response body."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    finish = "stop"
    completion = reply.text
    if reply.tool_call is not None:
        arguments = json.dumps(reply.tool_call.arguments)
        completion = arguments
        message["tool_calls"] = [
            {
                "id": reply.tool_call.call_id,
                "type": "function",
                "function": {"name": reply.tool_call.name, "arguments": arguments},
            }
        ]
        finish = "tool_calls"
    prompt_tokens, completion_tokens = _usage(body_size, completion)
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chat_completion_chunks(
    reply: Reply, model: str, body_size: int, include_usage: bool, chunk_size: int = 16
) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed chat completion (each one SSE ``data:`` line), before ``[DONE]``."""
    base = {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if include_usage:
            out["usage"] = None
        return out

    yield chunk({"role": "assistant", "content": ""})
    completion = reply.text
    if reply.tool_call is not None:
        call = reply.tool_call
        arguments = json.dumps(call.arguments)
        completion = arguments
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(arguments, chunk_size):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls")
    else:
        for piece in _pieces(reply.text, chunk_size):
            yield chunk({"content": piece})
        yield chunk({}, "stop")
    if include_usage:
        prompt_tokens, completion_tokens = _usage(body_size, completion)
        yield {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def response_object(reply: Reply, model: str, body_size: int, status: str = "completed") -> dict[str, Any]:
    """A Responses API ``response`` object holding the reply as its output."""
    output: list[dict[str, Any]] = []
    completion = reply.text
    if reply.tool_call is not None:
        arguments = json.dumps(reply.tool_call.arguments)
        completion = arguments
        output.append(
            {
                "type": "function_call",
                "id": "fc_" + reply.tool_call.call_id,
                "call_id": reply.tool_call.call_id,
                "name": reply.tool_call.name,
                "arguments": arguments,
                "status": "completed",
            }
        )
    else:
        output.append(_message_item(reply.text))
    prompt_tokens, completion_tokens = _usage(body_size, completion)
    return {
        "id": "resp_" + uuid.uuid4().hex[:24],
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def response_events(
    reply: Reply, model: str, body_size: int, chunk_size: int = 16
) -> Iterator[dict[str, Any]]:
    """The events of a streamed Responses API answer, each one an SSE event (``type`` is its name)."""
    final = response_object(reply, model, body_size)
    item = final["output"][0]
    seq = iter(range(1_000_000))
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "sequence_number": next(seq), "response": created}
    yield {"type": "response.in_progress", "sequence_number": next(seq), "response": created}
    if item["type"] == "function_call":
        yield {
            "type": "response.output_item.added",
            "sequence_number": next(seq),
            "output_index": 0,
            "item": {**item, "arguments": "", "status": "in_progress"},
        }
        for piece in _pieces(item["arguments"], chunk_size):
            yield {
                "type": "response.function_call_arguments.delta",
                "sequence_number": next(seq),
                "item_id": item["id"],
                "output_index": 0,
                "delta": piece,
            }
        yield {
            "type": "response.function_call_arguments.done",
            "sequence_number": next(seq),
            "item_id": item["id"],
            "output_index": 0,
            "arguments": item["arguments"],
        }
    else:
        text = reply.text
        yield {
            "type": "response.output_item.added",
            "sequence_number": next(seq),
            "output_index": 0,
            "item": {**item, "content": [], "status": "in_progress"},
        }
        part = {"type": "output_text", "text": "", "annotations": []}
        common = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        yield {"type": "response.content_part.added", "sequence_number": next(seq), **common, "part": part}
        for piece in _pieces(text, chunk_size):
            yield {
                "type": "response.output_text.delta",
                "sequence_number": next(seq),
                **common,
                "delta": piece,
            }
        yield {"type": "response.output_text.done", "sequence_number": next(seq), **common, "text": text}
        yield {
            "type": "response.content_part.done",
            "sequence_number": next(seq),
            **common,
            "part": {**part, "text": text},
        }
    yield {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": 0, "item": item}
    yield {"type": "response.completed", "sequence_number": next(seq), "response": final}


def anthropic_message(reply: Reply, model: str, body_size: int) -> dict[str, Any]:
    """A non-streaming Anthropic Messages API response body."""
    completion = reply.text
    content: list[dict[str, Any]]
    if reply.tool_call is not None:
        completion = json.dumps(reply.tool_call.arguments)
        content = [
            {
                "type": "tool_use",
                "id": "toolu_" + reply.tool_call.call_id.removeprefix("call_"),
                "name": reply.tool_call.name,
                "input": reply.tool_call.arguments,
            }
        ]
    else:
        content = [{"type": "text", "text": reply.text}]
    prompt_tokens, completion_tokens = _usage(body_size, completion)
    return {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if reply.tool_call is not None else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
    }


def anthropic_events(
    reply: Reply, model: str, body_size: int, chunk_size: int = 16
) -> Iterator[dict[str, Any]]:
    """The events of a streamed Anthropic Messages API answer (``type`` is the SSE event name)."""
    final = anthropic_message(reply, model, body_size)
    start = {**final, "content": [], "stop_reason": None, "usage": {**final["usage"], "output_tokens": 1}}
    yield {"type": "message_start", "message": start}
    block = final["content"][0]
    if block["type"] == "tool_use":
        yield {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}}
        for piece in _pieces(json.dumps(block["input"]), chunk_size):
            yield {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
    else:
        yield {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        for piece in _pieces(block["text"], chunk_size):
            yield {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
    yield {"type": "content_block_stop", "index": 0}
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": final["usage"]["output_tokens"]},
    }
    yield {"type": "message_stop"}


def gemini_response(reply: Reply, model: str, body_size: int) -> dict[str, Any]:
    """A Gemini API ``GenerateContentResponse`` (one, or the only chunk of a stream)."""
    completion = reply.text
    if reply.tool_call is not None:
        completion = json.dumps(reply.tool_call.arguments)
        parts: list[dict[str, Any]] = [
            {"functionCall": {"name": reply.tool_call.name, "args": reply.tool_call.arguments}}
        ]
    else:
        parts = [{"text": reply.text}]
    prompt_tokens, completion_tokens = _usage(body_size, completion)
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": completion_tokens,
            "totalTokenCount": prompt_tokens + completion_tokens,
        },
        "modelVersion": model,
    }


def _message_item(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_" + uuid.uuid4().hex[:24],
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), max(1, size)):
        yield text[start : start + size]


# -- HTTP ----------------------------------------------------------------------------------------


def _handler_for(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._handle(self.rfile.read(length) if length else b"")

        def _handle(self, raw: bytes | None) -> None:
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in AUTH_HEADERS}
            had, ok = self._credential()
            path = self.path.split("?", 1)[0]
            size = len(raw or b"")
            # Decide the whole answer first and log it before a byte goes out, so a client that
            # has its answer always finds its request in the log.
            status, kind = 200, ""
            payload: Any = None
            stream: list[tuple[str | None, Any]] | None = None
            if server.expect_key is not None and not ok:
                status, kind = 401, "error:401"
                payload = {"error": {"message": "invalid api key", "type": "invalid_request_error"}}
            elif self.command == "GET" and path.rstrip("/").endswith("/models"):
                kind, payload = "models", {"object": "list", "data": [_model(m) for m in server.models]}
            elif self.command == "POST" and path.endswith("/chat/completions") and isinstance(body, dict):
                reply = server.reply_to_chat(body)
                kind = f"tool:{reply.tool_call.name}" if reply.tool_call else "text"
                model = str(body.get("model") or "scripted-model")
                if body.get("stream"):
                    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    chunks = chat_completion_chunks(reply, model, size, include_usage, server.chunk_size)
                    stream = [*((None, c) for c in chunks), (None, "[DONE]")]
                else:
                    payload = chat_completion(reply, model, size)
            elif self.command == "POST" and ":countTokens" in path and isinstance(body, dict):
                kind, payload = "count_tokens", {"totalTokens": max(1, size // 4)}
            elif self.command == "POST" and path.endswith(_GEMINI_METHODS) and isinstance(body, dict):
                reply = server.reply_to_gemini(body)
                kind = f"tool:{reply.tool_call.name}" if reply.tool_call else "text"
                model = path.rsplit("/", 1)[-1].split(":", 1)[0]
                answer = gemini_response(reply, model, size)
                if ":streamGenerateContent" in path:
                    stream = [(None, answer)]
                else:
                    payload = answer
            elif (
                self.command == "POST" and path.endswith("/messages/count_tokens") and isinstance(body, dict)
            ):
                kind, payload = "count_tokens", {"input_tokens": max(1, size // 4)}
            elif self.command == "POST" and path.endswith("/messages") and isinstance(body, dict):
                reply = server.reply_to_messages(body)
                kind = f"tool:{reply.tool_call.name}" if reply.tool_call else "text"
                model = str(body.get("model") or "scripted-model")
                if body.get("stream"):
                    stream = [(e["type"], e) for e in anthropic_events(reply, model, size, server.chunk_size)]
                else:
                    payload = anthropic_message(reply, model, size)
            elif self.command == "POST" and path.endswith("/responses") and isinstance(body, dict):
                reply = server.reply_to_responses(body)
                kind = f"tool:{reply.tool_call.name}" if reply.tool_call else "text"
                model = str(body.get("model") or "scripted-model")
                if body.get("stream"):
                    stream = [(e["type"], e) for e in response_events(reply, model, size, server.chunk_size)]
                else:
                    payload = response_object(reply, model, size)
            else:
                status, kind = 404, "error:404"
                payload = {"error": {"message": f"no route {self.command} {path}"}}
            server._log(LoggedRequest(self.command, self.path, headers, body, size, had, ok, kind))
            if stream is None:
                self._json(status, payload)
                return
            self._start_sse()
            for event, data in stream:
                self._sse(event, data)

        def _credential(self) -> tuple[bool, bool]:
            values = [
                self.headers.get(h) for h in ("Authorization", "api-key", "x-api-key", "x-goog-api-key")
            ]
            sent = [v.removeprefix("Bearer ").strip() for v in values if v]
            if not sent:
                return False, server.expect_key is None
            return True, server.expect_key is None or server.expect_key in sent

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _start_sse(self) -> None:
            # No length: the stream ends when the connection closes, as an SSE stream may.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

        def _sse(self, event: str | None, data: Any) -> None:
            prefix = f"event: {event}\n" if event else ""
            text = data if isinstance(data, str) else json.dumps(data)
            self.wfile.write(f"{prefix}data: {text}\n\n".encode())
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


_GEMINI_METHODS = (":generateContent", ":streamGenerateContent")


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "cab-trace-tests"}
