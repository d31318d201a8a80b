"""The recording proxy under load: what it costs in memory and lag, and whether the agent notices.

1. Memory for 1 and 10 concurrent 200 MB streamed chat answers (varied text, the proxy asking
   for usage and taking it out again), measured in a proxy process of its own: its peak resident
   memory over its idle size (goal: under 100 MB, whatever the size). And how long after the
   agent's last byte the call is recorded (goal: about a second at most).
2. Connect latency with 64 calls connecting at once: p95 through the proxy vs straight to the
   same server (goal: within 1 ms).
3. The first bytes of a stream sent at one byte a second: when the agent has its first and its
   third byte, through the proxy (asking for usage) vs straight (goal: as direct).
4. A request body past the proxy's limit (300 MB of varied conversation, relayed as it comes):
   the proxy's peak memory over its idle size (goal: under 100 MB, whatever the size), and the time
   to send it through the proxy vs straight to the same endpoint.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import orjson

from bench.common import Figure
from tests.proxy.upstreams import HashingUpstream, RawUpstream, Request

ROOT = Path(__file__).resolve().parents[1]
_WORDS = [
    *[
        "the",
        "function",
        "returns",
        "a",
        "list",
        "of",
        "files",
        "that",
        "changed",
        "since",
        "the",
        "last",
        "commit",
        "and",
    ],
    *[
        "the",
        "test",
        "checks",
        "each",
        "one",
        "against",
        "its",
        "expected",
        "content",
        "before",
        "the",
        "patch",
        "is",
        "applied",
    ],
    *[
        "to",
        "the",
        "tree",
        "error",
        "warning",
        "retry",
        "timeout",
        "parse",
        "json",
        "stream",
        "token",
        "model",
        "agent",
        "tool",
        "call",
    ],
]

#: The proxy in a process of its own, so that its memory is its own. Prints its URL, then a
#: line "recorded <monotonic time>" per call recorded; "rss" on stdin prints "rss <VmRSS kB>
#: <VmHWM kB>"; end of stdin stops it.
_PROXY_PROCESS = """
import sys, time
from cab_trace.harness.model_proxy import ModelProxy
from cab_trace.llm import call_attributes

def record(call):
    call_attributes(call)
    print("recorded", time.monotonic(), call.outcome, call.response.unread_bytes, flush=True)

proxy = ModelProxy(sys.argv[1], record)
print(proxy.start(), flush=True)
for line in sys.stdin:
    status = open("/proc/self/status").read().split("\\n")
    rss = next(l.split()[1] for l in status if l.startswith("VmRSS"))
    hwm = next(l.split()[1] for l in status if l.startswith("VmHWM"))
    print("rss", rss, hwm, flush=True)
proxy.stop()
"""


def _varied_events(size: int, seed: int = 7) -> bytes:
    """Chat stream events with varied text (not one line repeated), about ``size`` bytes."""
    rng = random.Random(seed)
    out: list[bytes] = []
    total = 0
    while total < size:
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 60)))
        event = (
            b"data: "
            + orjson.dumps(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion.chunk",
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
                    "usage": None,
                }
            )
            + b"\n\n"
        )
        out.append(event)
        total += len(event)
    return b"".join(out)


def _huge_stream(size: int) -> tuple[object, bytes]:
    block = _varied_events(8 * 1024 * 1024)
    end = (
        b'data: {"id":"chatcmpl-bench","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":null}\n\n'
        b'data: {"id":"chatcmpl-bench","model":"m","choices":[],'
        b'"usage":{"prompt_tokens":10,"completion_tokens":99}}\n\ndata: [DONE]\n\n'
    )

    def run(conn: socket.socket, _: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        view = memoryview(block)
        sent = 0
        while sent < size:
            piece = view[: min(len(block), size - sent)]
            for i in range(0, len(piece), 65536):
                conn.sendall(piece[i : i + 65536])
            sent += len(piece)
        conn.sendall(end)

    return run, end


def _post(sock: socket.socket, path: str, body: bytes) -> None:
    head = f"POST {path}/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)


def _read_all(url: str, body: bytes, into: list[tuple[int, float]]) -> None:
    """POST ``body`` to ``url``/chat/completions, read the answer to its end; bytes, end time."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80)) as sock:
        _post(sock, parts.path, body)
        total = 0
        while piece := sock.recv(1 << 18):
            total += len(piece)
    into.append((total, time.monotonic()))


def _status_kb(proc: subprocess.Popen[str]) -> tuple[int, int]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("rss\n")
    proc.stdin.flush()
    while True:
        line = proc.stdout.readline().split()
        if line and line[0] == "rss":
            return int(line[1]), int(line[2])


def memory_rows(quick: bool) -> list[Figure]:
    size = (20 if quick else 200) * 1024 * 1024
    figures: list[Figure] = []
    behaviour, _ = _huge_stream(size)
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "go"}], "stream": True})
    for streams in (1, 10):
        with RawUpstream(behaviour) as upstream:  # type: ignore[arg-type]
            proc = subprocess.Popen(
                [sys.executable, "-c", _PROXY_PROCESS, upstream.url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            assert proc.stdout is not None and proc.stdin is not None
            url = proc.stdout.readline().strip()
            time.sleep(0.5)
            idle_kb, _ = _status_kb(proc)
            results: list[tuple[int, float]] = []
            threads = [threading.Thread(target=_read_all, args=(url, body, results)) for _ in range(streams)]
            started = time.monotonic()
            for t in threads:
                t.start()
            recorded: list[float] = []
            unread = 0
            while len(recorded) < streams:
                line = proc.stdout.readline().split()
                if line and line[0] == "recorded":
                    recorded.append(float(line[1]))
                    unread += int(line[3])
            for t in threads:
                t.join()
            took = time.monotonic() - started
            _, peak_kb = _status_kb(proc)
            proc.stdin.close()
            proc.wait(timeout=30)
        got = sum(r[0] for r in results)
        last_byte = max(r[1] for r in results)
        mb = size * streams / 2**20
        figures.append(
            Figure(
                f"proxy memory, {streams} x {size // 2**20} MB streamed answers (peak over idle)",
                "MB",
                (peak_kb - idle_kb) / 1024,
                mb,
                "the MB streamed",
                target="< 100 MB",
                note=f"idle {idle_kb / 1024:.0f} MB; {got / took / 2**20:.0f} MB/s to the agents; "
                f"{unread / 2**20:.0f} MB not read by the recorder",
            )
        )
        figures.append(
            Figure(
                f"recording done after the agent's last byte, {streams} x {size // 2**20} MB",
                "s",
                max(max(recorded) - last_byte, 0.0),
                took,
                "the time the streams took",
                target="<= about 1 s",
            )
        )
    return figures


def _connect_times(url: str, n: int) -> list[float]:
    parts = urllib.parse.urlsplit(url)
    address = (parts.hostname or "", parts.port or 80)
    barrier = threading.Barrier(n)
    times: list[float] = []
    socks: list[socket.socket] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        start = time.perf_counter()
        sock = socket.create_connection(address, timeout=30)
        took = time.perf_counter() - start
        with lock:
            times.append(took)
            socks.append(sock)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sock in socks:
        sock.close()
    return times


def connect_rows(quick: bool) -> list[Figure]:
    from cab_trace.harness.model_proxy import ModelProxy

    rounds = 5 if quick else 20
    ours: list[float] = []
    base: list[float] = []

    def nothing(conn: socket.socket, _: Request) -> None:
        return None

    with RawUpstream(nothing) as upstream:
        proxy = ModelProxy(upstream.url, lambda _call: None)
        proxy.start()
        try:
            for _ in range(rounds):
                base += _connect_times(upstream.url, 64)
                ours += _connect_times(proxy.url, 64)
                time.sleep(0.05)
        finally:
            proxy.stop()
    q = statistics.quantiles
    return [
        Figure(
            "connect latency, 64 calls at once (p95)",
            "ms",
            q(ours, n=100)[94] * 1e3,
            q(base, n=100)[94] * 1e3,
            "the same connects straight to the server",
            target="<= +1 ms",
        ),
        Figure(
            "connect latency, 64 calls at once (max)",
            "ms",
            max(ours) * 1e3,
            max(base) * 1e3,
            "the same connects straight to the server",
        ),
    ]


def _slow(sent: list[float]) -> object:
    def run(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        asked = b"stream_options" in request.body
        stream = b'data: {"id":"s","choices":[{"index":0,"delta":{"content":"a"}}]' + (
            b',"usage":null}\n\n' if asked else b"}\n\n"
        )
        for byte in stream[:4]:
            conn.sendall(bytes([byte]))
            sent.append(time.monotonic())
            time.sleep(1.0)

    return run


def _first_bytes(url: str, body: bytes, count: int) -> list[float]:
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80)) as sock:
        start = time.monotonic()
        _post(sock, parts.path, body)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        got = len(data.partition(b"\r\n\r\n")[2])
        times = [time.monotonic() - start] * got
        while len(times) < count:
            piece = sock.recv(4096)
            if not piece:
                break
            times += [time.monotonic() - start] * len(piece)
    return times[:count]


def slow_stream_rows(quick: bool) -> list[Figure]:
    from cab_trace.harness.model_proxy import ModelProxy

    repeat = 1 if quick else 3
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "go"}], "stream": True})
    sent: list[float] = []
    ours: list[list[float]] = []
    base: list[list[float]] = []
    with RawUpstream(_slow(sent)) as upstream:  # type: ignore[arg-type]
        proxy = ModelProxy(upstream.url, lambda _call: None)
        proxy.start()
        try:
            for _ in range(repeat):
                base.append(_first_bytes(upstream.url, body, 3))
                ours.append(_first_bytes(proxy.url, body, 3))
        finally:
            proxy.stop()
    return [
        Figure(
            f"{name} byte of a 1 byte/s stream (the proxy asking for usage)",
            "ms",
            statistics.median(t[i] for t in ours) * 1e3,
            statistics.median(t[i] for t in base) * 1e3,
            "the same stream straight from the server",
            target="as direct",
        )
        for i, name in ((0, "first"), (2, "third"))
    ]


def _conversation(size: int, seed: int = 11) -> list[bytes]:
    """A chat request of about ``size`` bytes with varied messages, as the pieces it is sent in
    (8 different 1 MiB blocks of messages, cycled: what the proxy relays, not parses)."""
    rng = random.Random(seed)
    blocks: list[bytes] = []
    for _ in range(8):
        messages: list[bytes] = []
        while sum(len(m) + 1 for m in messages) < 1 << 20:
            text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 400)))
            messages.append(
                orjson.dumps({"role": rng.choice(["user", "assistant", "tool"]), "content": text})
            )
        blocks.append(b",".join(messages) + b",")
    start = b'{"model":"m","messages":[{"role":"system","content":"You are a coding agent."},'
    end = b'{"role":"user","content":"go on"}],"stream":true}'
    pieces = [start]
    total = len(start) + len(end)
    while total < size:
        pieces.append(blocks[len(pieces) % len(blocks)])
        total += len(pieces[-1])
    return [*pieces, end]


def _send_body(url: str, pieces: list[bytes]) -> float:
    """Seconds to POST ``pieces`` (with a length) to ``url``/chat/completions and read the answer."""
    parts = urllib.parse.urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname or "", parts.port or 80)) as sock:
        head = f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: x\r\n"
        sock.sendall(f"{head}Content-Length: {sum(map(len, pieces))}\r\nConnection: close\r\n\r\n".encode())
        for piece in pieces:
            sock.sendall(piece)
        while sock.recv(1 << 16):
            pass
    return time.monotonic() - started


def _recorded(proc: subprocess.Popen[str]) -> None:
    """Wait until the proxy process says it recorded a call."""
    assert proc.stdout is not None
    while (line := proc.stdout.readline()) and not line.startswith("recorded"):
        pass


def request_rows(quick: bool) -> list[Figure]:
    size = (100 if quick else 300) * 1024 * 1024  # past the 64 MiB limit either way
    pieces = _conversation(size)
    mb = sum(map(len, pieces)) / 2**20
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    with HashingUpstream(answer) as upstream:
        straight = _send_body(upstream.url, pieces)
        proc = subprocess.Popen(
            [sys.executable, "-c", _PROXY_PROCESS, upstream.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None and proc.stdin is not None
        url = proc.stdout.readline().strip()
        _send_body(url, [b'{"model":"m","messages":[]}'])  # a call first: the idle size includes one
        _recorded(proc)
        idle_kb, _ = _status_kb(proc)
        through = _send_body(url, pieces)
        _recorded(proc)
        _, peak_kb = _status_kb(proc)
        proc.stdin.close()
        proc.wait(timeout=30)
    return [
        Figure(
            f"proxy memory, a {mb:.0f} MB request body (peak over idle)",
            "MB",
            (peak_kb - idle_kb) / 1024,
            mb,
            "the MB sent",
            target="< 100 MB, whatever the size",
            note=f"idle {idle_kb / 1024:.0f} MB; read whole, as before, 300 MB cost 0.9 GB",
        ),
        Figure(
            f"time to send a {mb:.0f} MB request body",
            "s",
            through,
            straight,
            "straight to the same endpoint",
            note=f"{mb / through:.0f} MB/s through the proxy (relayed and hashed on the way)",
        ),
    ]


def run(quick: bool = False) -> list[Figure]:
    return [*connect_rows(quick), *slow_stream_rows(quick), *memory_rows(quick), *request_rows(quick)]
