"""The recording proxy: what it adds to each model call.

The same calls go straight to the scripted model server (tests/model_server.py, the suite's
stand-in for a paid model API) and through a :class:`~cab_trace.harness.model_proxy.ModelProxy`
in front of it, alternately, in the same run, from one client with kept-alive connections as
agents' SDKs use. The proxy's recorder builds each call's span attributes (in its own thread,
as in a run).

1. Non-streaming chat call: request to whole answer, p50 and p95, with a small request and with
   a 256 KB one (an agent's whole conversation, late in a task). Goal: at most 1 ms added at p50.
2. Streaming chat call that did not ask for usage (the proxy asks for it and takes it out
   again): time to the first chunk, p50 and p95. Goal: unchanged within noise.
3. Streamed throughput: a 16 MB event stream through the proxy vs straight. Goal: not limited
   by the proxy.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import ThreadingHTTPServer

import orjson

from bench.common import Figure
from cab_trace.harness.model_proxy import ModelProxy
from cab_trace.llm import CallRecord, call_attributes
from tests.model_server import ScriptedModelServer, _handler_for
from tests.proxy.upstreams import RawUpstream, Request

CHAT = {"model": "scripted-model", "messages": [{"role": "user", "content": "fix greet.py"}]}


class _NoDelay(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, object]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address


class BenchServer(ScriptedModelServer):
    """The scripted server with Nagle's algorithm off on its connections: it writes an answer's
    head and body apart, and with Nagle on each answer would wait for the client's delayed ACK
    (40 ms), which would swamp what is measured here."""

    def start(self) -> ScriptedModelServer:
        self._server = _NoDelay(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self


def _record(call: CallRecord) -> None:
    call_attributes(call)


class Client:
    """One kept-alive connection to ``base``; reconnects when the server closed it."""

    def __init__(self, base: str) -> None:
        url = urllib.parse.urlsplit(base)
        self.host, self.port, self.path = url.hostname or "", url.port or 80, url.path
        self.conn: http.client.HTTPConnection | None = None

    def call(self, body: bytes, first_chunk: bool = False) -> tuple[float, int]:
        """Seconds to the whole answer (or to its first body bytes), and bytes read."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        self.conn.request("POST", self.path + "/chat/completions", body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        first = response.read1(65536)
        took = time.perf_counter() - start
        size = len(first)
        while piece := response.read1(65536):
            size += len(piece)
        if not first_chunk:
            took = time.perf_counter() - start
        will_close = response.will_close
        response.close()
        if will_close:
            self.conn.close()
            self.conn = None
        return took, size


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _paired(
    direct: Callable[[], float], proxied: Callable[[], float], n: int
) -> tuple[list[float], list[float]]:
    ours: list[float] = []
    base: list[float] = []
    for _ in range(10):  # warm up both paths (connections, caches)
        direct()
        proxied()
    for _ in range(n):
        base.append(direct())
        ours.append(proxied())
    return ours, base


def _latency_figures(name: str, ours: list[float], base: list[float], target50: str) -> list[Figure]:
    return [
        Figure(
            f"{name} (p50)",
            "ms",
            _percentile(ours, 50) * 1e3,
            _percentile(base, 50) * 1e3,
            "the same call straight to the server",
            target=target50,
        ),
        Figure(
            f"{name} (p95)",
            "ms",
            _percentile(ours, 95) * 1e3,
            _percentile(base, 95) * 1e3,
            "the same call straight to the server",
        ),
    ]


def _big_stream(size: int) -> Callable[[socket.socket, Request], None]:
    event = b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 900}}]}) + b"\n\n"
    body = event * (size // len(event)) + b"data: [DONE]\n\n"

    def run(conn: socket.socket, _: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        view = memoryview(body)
        for i in range(0, len(body), 65536):
            conn.sendall(view[i : i + 65536])

    return run


def _phase(
    server: ScriptedModelServer, body: bytes, n: int, first_chunk: bool = False
) -> tuple[list[float], list[float]]:
    """``n`` paired calls through a fresh proxy; stopping it waits for its recorder, so one
    phase's recording never runs into the next phase's measurements."""
    proxy = ModelProxy(server.url, _record)
    proxy.start()
    try:
        direct, through = Client(server.url), Client(proxy.url)
        return _paired(
            lambda: direct.call(body, first_chunk)[0], lambda: through.call(body, first_chunk)[0], n
        )
    finally:
        proxy.stop()


def run(quick: bool = False) -> list[Figure]:
    n = 200 if quick else 1000
    figures: list[Figure] = []
    # An agent late in a task sends its whole conversation: 256 KB of it.
    history = [{"role": "user", "content": "x" * 1000} for _ in range(256)]
    big = orjson.dumps({**CHAT, "messages": [*history, *CHAT["messages"]]})
    with BenchServer() as server:
        ours, base = _phase(server, orjson.dumps(CHAT), n)
        figures += _latency_figures(
            "model call through the proxy, non-streaming", ours, base, "<= +1 ms at p50"
        )
        ours, base = _phase(server, orjson.dumps({**CHAT, "stream": True}), n // 2, first_chunk=True)
        figures += _latency_figures(
            "time to first chunk through the proxy, streaming", ours, base, "unchanged within noise"
        )
        ours, base = _phase(server, big, n // 2)
        figures += _latency_figures(
            "model call through the proxy, 256 KB request", ours, base, "<= +1 ms at p50"
        )
    size = (4 if quick else 16) * 1024 * 1024
    with RawUpstream(_big_stream(size)) as upstream:
        proxy = ModelProxy(upstream.url, _record)
        proxy.start()
        try:
            body = orjson.dumps({**CHAT, "stream": True, "stream_options": {"include_usage": True}})
            direct, through = Client(upstream.url), Client(proxy.url)
            rates_ours, rates_base = [], []
            for _ in range(3 if quick else 5):
                took, got = direct.call(body)
                rates_base.append(got / took / 1e6)
                took, got = through.call(body)
                rates_ours.append(got / took / 1e6)
        finally:
            proxy.stop()
    figures.append(
        Figure(
            f"streamed throughput through the proxy ({size // 2**20} MB of events)",
            "MB/s",
            statistics.median(rates_ours),
            statistics.median(rates_base),
            "the same stream straight from the server",
            target="not limited by the proxy",
        )
    )
    return figures
