"""The demo's model: a tiny OpenAI-compatible server on 127.0.0.1 that answers from a script.

No network, no key, no cost, the same answers every time: ``cab-trace demo`` starts it, and
the scripted agent talks to it through cab-trace's recording proxy, so the very first run has
model calls, tool steps and tokens to show.

It speaks ``POST /v1/chat/completions`` (JSON, and SSE when ``stream`` is true) and
``GET /v1/models``. Like a real model it decides each answer from the conversation alone:

1. no tool result yet: read the file the task is about (``read_file``);
2. the file's text came back: fix it (``edit_file``);
3. the edit is done: run the tests (``run_tests``);
4. the tests' output came back: say what was done.

Every answer reports usage (prompt tokens: the request's size over four), as providers do.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "scripted/demo-1"
OLD = 'return f"Hello, {name}"'
NEW = 'return f"Hello, {name}!"'


def decide(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message for a conversation (OpenAI chat format)."""
    results = [m for m in messages if m.get("role") == "tool"]
    if not results:
        return _tool(
            "I'll read greet.py to see how the greeting is built.", "read_file", {"path": "greet.py"}
        )
    last = str(results[-1].get("content", ""))
    if len(results) == 1:
        if OLD not in last:
            return {"role": "assistant", "content": "greet.py does not look as I expected; I stop here."}
        return _tool(
            "greet() builds the string without the '!'. I'll add it.",
            "edit_file",
            {"path": "greet.py", "old": OLD, "new": NEW},
        )
    if len(results) == 2:
        return _tool("Now the tests.", "run_tests", {})
    verdict = "the tests pass" if "OK" in last and "FAILED" not in last else "the tests still fail"
    return {
        "role": "assistant",
        "content": f"Fixed greet.py: greet() now ends the greeting with an exclamation mark; {verdict}.",
    }


def _tool(text: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {
                "id": "call_" + uuid.uuid4().hex[:12],
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def _usage(body_size: int, message: dict[str, Any]) -> dict[str, int]:
    prompt = max(1, body_size // 4)
    completion = max(1, len(json.dumps(message)) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class ScriptedModel:
    """The server; ``latency`` seconds of "thinking" before each answer. Use as a context manager."""

    def __init__(self, latency: float = 0.3) -> None:
        self.latency = latency
        self.calls = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-model", daemon=True)

    @property
    def url(self) -> str:
        """The base URL an OpenAI client takes: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ScriptedModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(model: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self._json(404, {"error": {"message": f"no such path: {self.path}"}})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(404, {"error": {"message": f"no such path: {self.path}"}})
                return
            try:
                body = json.loads(raw)
                messages = list(body["messages"])
            except (ValueError, KeyError, TypeError):
                self._json(400, {"error": {"message": "expected a JSON chat completions request"}})
                return
            model.calls += 1
            time.sleep(model.latency)
            message = decide(messages)
            usage = _usage(len(raw), message)
            finish = "tool_calls" if message.get("tool_calls") else "stop"
            reply_id = "chatcmpl-" + uuid.uuid4().hex[:16]
            if body.get("stream"):
                self._stream(reply_id, str(body.get("model") or MODEL), message, finish, usage)
                return
            self._json(
                200,
                {
                    "id": reply_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model") or MODEL,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )

        def _stream(
            self, reply_id: str, name: str, message: dict[str, Any], finish: str, usage: dict[str, int]
        ) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()

            def event(delta: dict[str, Any], reason: str | None = None) -> None:
                chunk = {
                    "id": reply_id,
                    "object": "chat.completion.chunk",
                    "model": name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            event({"role": "assistant", "content": ""})
            words = str(message.get("content") or "").split(" ")
            for i, word in enumerate(words):
                event({"content": word if i == len(words) - 1 else word + " "})
            for i, call in enumerate(message.get("tool_calls", [])):
                event({"tool_calls": [{"index": i, **call}]})
            event({}, finish)
            tail = {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "model": name,
                "choices": [],
                "usage": usage,
            }
            self.wfile.write(f"data: {json.dumps(tail)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
            self.close_connection = True

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # nothing on the user's terminal: the trace records every call

    return Handler
