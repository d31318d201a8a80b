"""Upstreams that misbehave on purpose, for the proxy tests: a raw TCP server whose every answer
is bytes written by a test-chosen function, so a stream can be cut in the middle of a chunk, a
status can be any, and an upstream can never answer at all.

(The well-behaved upstream is the shared scripted model server, tests/model_server.py.)
"""

from __future__ import annotations

import contextlib
import socket
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
    ``behaviour`` write whatever it likes and closes."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

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
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(65536)
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
            request = Request(method, path, headers, body)
            self.requests.append(request)
            with contextlib.suppress(OSError):  # the proxy may hang up on a misbehaving upstream
                self.behaviour(conn, request)

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
