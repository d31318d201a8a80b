"""Upstreams that misbehave on purpose, for the proxy tests: a raw TCP server whose every answer
is bytes written by a test-chosen function, so a stream can be cut in the middle of a chunk, a
status can be any, and an upstream can never answer at all. The behaviours below are the fault
matrix of the proxy tests (tests/proxy/test_proxy_faults.py).

(The well-behaved upstream is the shared scripted model server, tests/model_server.py.)
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[socket.socket, Request], None]


class RawUpstream:
    """A TCP server on 127.0.0.1: reads one HTTP/1.1 request per connection, then lets
    ``behaviour`` write whatever it likes and closes; with ``keep_alive``, reads the next
    request on the same connection after each answer, until the client closes."""

    def __init__(
        self, behaviour: Behaviour, keep_alive: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        self.behaviour = behaviour
        self.keep_alive = keep_alive
        self.tls = tls
        self.requests: list[Request] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def __enter__(self) -> RawUpstream:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        # close() alone leaves a thread blocked in accept() listening; shutdown() wakes it.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._one, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _one(self, conn: socket.socket) -> None:
        self.connections += 1
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    try:
                        piece = conn.recv(65536)
                    except OSError:
                        return
                    if not piece:
                        return
                    data += piece
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
                }
                length = int(headers.get("content-length", "0"))
                while len(body) < length:
                    body += conn.recv(65536)
                body, data = body[:length], body[length:]
                request = Request(method, path, headers, body)
                self.requests.append(request)
                try:
                    self.behaviour(conn, request)
                except OSError:
                    return  # the proxy may hang up on a misbehaving upstream
                if not self.keep_alive:
                    return

    def wait_stopped(self, timeout: float) -> None:
        self._stopped.wait(timeout)


def answer(status: int, payload: object, reason: str = "X") -> Behaviour:
    """A JSON answer with a length."""

    def run(conn: socket.socket, _: Request) -> None:
        body = orjson.dumps(payload)
        conn.sendall(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return run


def sse_until_close(stream: bytes, stop_at: int | None = None, pause_s: float = 0.0) -> Behaviour:
    """An event stream with no length that ends when the connection closes; ``stop_at``
    cuts it after that many bytes."""

    def run(conn: socket.socket, _: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        data = stream if stop_at is None else stream[:stop_at]
        for line in data.splitlines(keepends=True):
            conn.sendall(line)
            if pause_s:
                time.sleep(pause_s)

    return run


def sse_chunked(stream: bytes, cut_in_chunk: bool = False) -> Behaviour:
    """An event stream in HTTP chunks, one per event; ``cut_in_chunk`` stops half-way
    through the third chunk (the connection closes mid-chunk)."""

    def run(conn: socket.socket, _: Request) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        events = [e + b"\n\n" for e in stream.split(b"\n\n") if e.strip()]
        for i, event in enumerate(events):
            if cut_in_chunk and i == 2:
                conn.sendall(b"%x\r\n%s" % (len(event), event[: len(event) // 2]))
                return
            conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
        conn.sendall(b"0\r\n\r\n")

    return run


def never_answers(upstream_done: threading.Event) -> Behaviour:
    """Reads the request and says nothing until the test is over."""

    def run(conn: socket.socket, _: Request) -> None:
        upstream_done.wait(30)

    return run


def raw(payload: bytes) -> Behaviour:
    """Exactly these bytes, whatever was asked."""

    def run(conn: socket.socket, _: Request) -> None:
        conn.sendall(payload)

    return run


def length_cut(body: bytes, declared: int, content_type: str = "application/json") -> Behaviour:
    """An answer that says ``Content-Length: declared`` and sends ``body`` (shorter), then
    closes: a body cut short."""
    return raw(
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {declared}\r\n\r\n".encode()
        + body
    )


def trickle(payload: bytes, interval_s: float, sent_at: list[float]) -> Behaviour:
    """``payload`` one byte at a time, ``interval_s`` apart; the send time of each byte of the
    body (after the head, sent at once) goes into ``sent_at``."""

    def run(conn: socket.socket, _: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        for byte in payload:
            conn.sendall(bytes([byte]))
            sent_at.append(time.monotonic())
            time.sleep(interval_s)

    return run


def gzipped(body: bytes, content_type: str, chunked: bool = False) -> Behaviour:
    """``body`` gzip-encoded (whatever the request accepted), with a length or in chunks."""
    packed = gzip.compress(body)

    def run(conn: socket.socket, _: Request) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Encoding: gzip\r\n"
        if chunked:
            conn.sendall(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(packed), 100):
                piece = packed[i : i + 100]
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
        else:
            conn.sendall(head.encode() + f"Content-Length: {len(packed)}\r\n\r\n".encode() + packed)

    return run


def chat_stream(request: Request, content_type: str = "text/event-stream") -> bytes:
    """A chat stream as OpenAI sends it: with ``"usage": null`` in every chunk and a usage-only
    chunk at the end only when the request asked for usage."""
    doc = orjson.loads(request.body)
    asked = (doc.get("stream_options") or {}).get("include_usage") is True
    extra = {"usage": None} if asked else {}
    chunks = [
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": part}}], **extra}
        for part in ("Hello", ", world")
    ]
    chunks.append(
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra}
    )
    if asked:
        chunks.append(
            {"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
        )
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def chat_stream_answer(content_type: str = "text/event-stream") -> Behaviour:
    """:func:`chat_stream`, ended by closing the connection, labelled ``content_type``."""

    def run(conn: socket.socket, request: Request) -> None:
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n".encode()
            + chat_stream(request)
        )

    return run


def early_hints_then(status: int = 200) -> Behaviour:
    """``103 Early Hints``, then an answer (kept alive) that names the request it answers."""

    def run(conn: socket.socket, request: Request) -> None:
        body = orjson.dumps(
            {
                "id": "c",
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": request.body.decode()},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            }
        )
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        time.sleep(0.05)
        head = (
            f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        conn.sendall(head.encode() + body)

    return run


def echo(delay_s: float = 0.0) -> Behaviour:
    """A complete chat answer (with a length) whose content is the request's body, after
    ``delay_s``; streamed (one event per word, then [DONE]) when the request asks for a stream."""

    def run(conn: socket.socket, request: Request) -> None:
        if delay_s:
            time.sleep(delay_s)
        doc = orjson.loads(request.body)
        usage = {"prompt_tokens": 2, "completion_tokens": 1}
        if doc.get("stream"):
            body = (
                b"data: "
                + orjson.dumps({"id": "e", "choices": [{"index": 0, "delta": {"content": doc["id"]}}]})
                + b"\n\ndata: "
                + orjson.dumps({"id": "e", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                + b"\n\ndata: "
                + orjson.dumps({"id": "e", "choices": [], "usage": usage})
                + b"\n\ndata: [DONE]\n\n"
            )
            kind = "text/event-stream"
        else:
            message = {"role": "assistant", "content": doc["id"]}
            body = orjson.dumps(
                {
                    "id": "e",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": usage,
                }
            )
            kind = "application/json"
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )

    return run


@dataclass
class Received:
    """What an endpoint got of one request whose body it did not keep: its head, and the sha256
    and size of the body's bytes as they came (chunked framing included) and of its payload."""

    head: bytes
    raw_size: int
    raw_sha256: str
    size: int
    sha256: str


class HashingUpstream:
    """An endpoint on 127.0.0.1 that reads each request's body as it comes (a length or chunks)
    without keeping it, hashes it, and then writes ``answer``; one request per connection. With
    ``refuse_after_head``, it answers ``413`` and closes as soon as the head has come, without
    reading the body (as a gateway with a size limit does)."""

    def __init__(self, answer: bytes, refuse_after_head: bool = False) -> None:
        self.answer = answer
        self.refuse_after_head = refuse_after_head
        self.received: list[Received] = []
        self.cut_short = 0
        self.done = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def __enter__(self) -> HashingUpstream:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            self._read_and_answer(conn)
        except OSError:
            self.cut_short += 1  # the request ended (or the connection did) before its body's end
            self.done.set()

    def _read_and_answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            head, _, rest = data.partition(b"\r\n\r\n")
            if self.refuse_after_head:
                conn.sendall(
                    b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                self.received.append(Received(head, 0, "", 0, ""))
                self.done.set()
                return
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:])
            }
            raw, payload = hashlib.sha256(), hashlib.sha256()
            sizes = [0, 0]

            def take(n: int) -> bytes:
                nonlocal rest
                if not rest:
                    rest = conn.recv(max(n, 1 << 16))
                    if not rest:
                        raise ConnectionError("the request's body ended early")
                piece, rest = rest[:n], rest[n:]
                raw.update(piece)
                sizes[0] += len(piece)
                return piece

            def body(piece: bytes) -> None:
                payload.update(piece)
                sizes[1] += len(piece)

            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    line = b""
                    while not line.endswith(b"\r\n"):
                        line += take(1)
                    size = int(line.split(b";")[0], 16)
                    while size:
                        piece = take(min(size, 1 << 20))
                        body(piece)
                        size -= len(piece)
                    if int(line.split(b";")[0], 16) == 0:
                        while not line.endswith(b"\r\n\r\n"):  # trailers, then the end
                            line += take(1)
                        break
                    take(2)
            else:
                left = int(headers.get("content-length", "0"))
                while left:
                    piece = take(min(left, 1 << 20))
                    body(piece)
                    left -= len(piece)
            self.received.append(Received(head, sizes[0], raw.hexdigest(), sizes[1], payload.hexdigest()))
            conn.sendall(self.answer)
            self.done.set()
