"""The proxy's fault matrix: for every way an endpoint can behave, the agent gets exactly what it
would have got straight from the endpoint (the same bytes, its connection ended the same way)
and the call is recorded as what happened.

The "agent" here is a raw socket client, so that nothing an HTTP library smooths over (a cut
body, a reset, a 1xx, HTTP/1.0) is hidden: each case sends the same request straight to the
scripted upstream (tests/proxy/upstreams.py) and through the proxy, in the same test, and
compares. Timings are compared with generous bounds, never absolute figures (performance is in
`make bench`)."""

from __future__ import annotations

import contextlib
import gzip
import shutil
import socket
import ssl
import statistics
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from cab_trace.harness.model_proxy import ModelProxy
from cab_trace.llm import CallRecord, SseParser, call_attributes
from tests.otlp_receiver import closed_port
from tests.proxy.upstreams import (
    RawUpstream,
    Request,
    answer,
    chat_stream,
    chat_stream_answer,
    early_hints_then,
    echo,
    gzipped,
    length_cut,
    never_answers,
    raw,
    sse_chunked,
    sse_until_close,
    trickle,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**CHAT, "stream": True}
STREAM_USAGE = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
#: How long a client waits for more bytes before taking the connection as left open.
IDLE_S = 1.0


@dataclass
class Got:
    """What a raw client got: the bytes, how the connection ended (``eof``, ``reset``, ``open``
    after IDLE_S without bytes, or ``refused``), when each piece came, and when it connected."""

    data: bytes = b""
    ended: str = "open"
    times: list[tuple[float, int]] = field(default_factory=list)
    connect_s: float = 0.0


def call(base: str, path: str, body: object, *, version: str = "HTTP/1.1", idle: float = IDLE_S) -> Got:
    url = urllib.parse.urlsplit(base)
    payload = orjson.dumps(body)
    got = Got()
    started = time.monotonic()
    try:
        sock = socket.create_connection((url.hostname or "", url.port or 80), timeout=30)
    except ConnectionRefusedError:
        got.ended = "refused"
        return got
    got.connect_s = time.monotonic() - started
    with sock:
        sock.settimeout(idle)
        sock.sendall(
            f"POST {url.path}{path} {version}\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer sk-faults-0123456789\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        while True:
            try:
                piece = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                got.ended = "reset"
                break
            if not piece:
                got.ended = "eof"
                break
            got.data += piece
            got.times.append((time.monotonic(), len(got.data)))
    return got


@contextmanager
def proxied(upstream: str) -> Iterator[tuple[ModelProxy, list[CallRecord]]]:
    calls: list[CallRecord] = []
    proxy = ModelProxy(upstream, calls.append)
    proxy.start()
    try:
        yield proxy, calls
    finally:
        proxy.stop()


def wait_for(calls: list[CallRecord], n: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(calls) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def both(
    behaviour, body: object = CHAT, path: str = "/chat/completions", **kw
) -> tuple[Got, Got, CallRecord]:
    """The same request straight to the upstream and through the proxy, and the call recorded."""
    with RawUpstream(behaviour) as upstream, proxied(upstream.url) as (proxy, calls):
        direct = call(upstream.url, path, body, **kw)
        through = call(proxy.url, path, body, **kw)
        wait_for(calls, 1)
    (recorded,) = calls
    return direct, through, recorded


def body_of(got: Got) -> bytes:
    """The body of the final answer (after any 1xx heads)."""
    head, _, rest = got.data.partition(b"\r\n\r\n")
    while head[9:10] == b"1" and rest.startswith(b"HTTP/"):
        head, _, rest = rest.partition(b"\r\n\r\n")
    return rest


# -- the endpoint answers, one way or another ---------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_error_statuses(status: int) -> None:
    direct, through, recorded = both(answer(status, {"error": {"type": "x", "message": "no"}}))
    assert (through.data, through.ended) == (direct.data, direct.ended) and direct.ended == "eof"
    assert recorded.outcome == "http_error" and recorded.status == status
    assert call_attributes(recorded)["error.type"] == str(status)


def test_an_http_1_0_answer_ends_with_its_connection() -> None:
    payload = orjson.dumps(
        {"id": "a", "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}
    )
    behaviour = raw(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + payload)
    direct, through, recorded = both(behaviour)
    assert (through.data, through.ended) == (direct.data, direct.ended) == (direct.data, "eof")
    assert through.data.startswith(b"HTTP/1.0 200 OK")
    assert recorded.outcome == "ok" and recorded.response.finish_reasons == ["stop"]


def test_an_http_1_0_agent_gets_no_1xx_and_an_answer_it_can_read() -> None:
    direct, through, recorded = both(early_hints_then(), version="HTTP/1.0")
    assert b"103 Early Hints" not in through.data and through.data.startswith(b"HTTP/1.1 200 OK")
    assert body_of(through) == body_of(direct)
    assert recorded.outcome == "ok"


def test_a_body_cut_short_under_its_content_length_is_cut_for_the_agent_too() -> None:
    body = orjson.dumps({"id": "a", "choices": [{"index": 0, "message": {"content": "x" * 200}}]})
    direct, through, recorded = both(length_cut(body[:100], len(body)))
    assert (through.data, through.ended) == (direct.data, direct.ended) == (direct.data, "eof")
    # Ended at once (it used to wait for bytes that never came), and recorded as cut.
    assert through.times and through.times[-1][0] - through.times[0][0] < IDLE_S
    assert recorded.outcome == "body_cut" and f"100 of its {len(body)} bytes" in recorded.detail


def test_a_cut_event_stream() -> None:
    stream = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    direct, through, recorded = both(sse_until_close(stream, stop_at=700), STREAM_USAGE)
    assert (through.data, through.ended) == (direct.data, direct.ended)
    assert recorded.outcome == "stream_cut" and recorded.response.chunks >= 2


def test_a_stream_cut_inside_a_chunk() -> None:
    stream = (FIXTURES / "anthropic_stream.sse").read_bytes()
    request = orjson.loads((FIXTURES / "anthropic_request.json").read_bytes())
    direct, through, recorded = both(sse_chunked(stream, cut_in_chunk=True), request, path="/messages")
    assert (through.data, through.ended) == (direct.data, direct.ended) == (direct.data, "eof")
    assert recorded.outcome == "stream_cut"
    assert "chunked body" in recorded.detail


def test_an_answer_that_is_not_json() -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    behaviour = raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (len(page), page)
    )
    direct, through, recorded = both(behaviour)
    assert (through.data, through.ended) == (direct.data, direct.ended)
    assert recorded.outcome == "bad_answer" and "not JSON (HTML or XML)" in recorded.detail
    assert call_attributes(recorded)["http.response.header.content-type"] == ["text/html"]


def test_a_gzip_answer_and_a_gzip_stream_are_read_and_passed_on_as_they_came() -> None:
    payload = orjson.dumps(
        {
            "id": "g",
            "choices": [{"index": 0, "message": {"content": "zipped"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4},
        }
    )
    direct, through, recorded = both(gzipped(payload, "application/json"))
    assert (through.data, through.ended) == (direct.data, direct.ended)
    assert gzip.decompress(body_of(through)) == payload
    assert recorded.outcome == "ok" and recorded.response.usage is not None
    assert recorded.response.usage.output_tokens == 4
    assert call_attributes(recorded)["http.response.header.content-encoding"] == ["gzip"]
    stream = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    direct, through, recorded = both(gzipped(stream, "text/event-stream", chunked=True), STREAM_USAGE)
    assert (through.data, through.ended) == (direct.data, direct.ended)
    assert recorded.outcome == "ok" and recorded.response.complete  # it used to be "stream_cut"
    assert recorded.response.usage is not None and recorded.response.usage.input_tokens == 57


def test_a_cut_gzip_stream_is_cut() -> None:
    stream = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    packed = gzip.compress(stream)
    behaviour = raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        b"Connection: close\r\n\r\n" + packed[: len(packed) // 2]
    )
    direct, through, recorded = both(behaviour, STREAM_USAGE)
    assert (through.data, through.ended) == (direct.data, direct.ended)
    assert recorded.outcome == "stream_cut"


def test_a_stream_labelled_json_is_read_as_a_stream_and_never_gets_the_usage_asked_for() -> None:
    direct, through, recorded = both(chat_stream_answer("application/json"), STREAM)
    assert (through.data, through.ended) == (direct.data, direct.ended)  # byte for byte
    assert b"usage" not in through.data
    assert recorded.usage_added and recorded.outcome == "ok" and recorded.response.complete
    assert recorded.response.usage is not None and recorded.response.usage.output_tokens == 3
    assert "labelled application/json, but is an event stream" in recorded.notes


def test_json_labelled_as_an_event_stream() -> None:
    payload = orjson.dumps(
        {"id": "j", "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}
    )
    behaviour = raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
        % (len(payload), payload)
    )
    direct, through, recorded = both(behaviour)
    assert (through.data, through.ended) == (direct.data, direct.ended)
    assert recorded.outcome == "ok" and recorded.response.finish_reasons == ["stop"]
    assert "labelled text/event-stream, but is not an event stream" in recorded.notes


def test_a_huge_json_answer_is_passed_on_whole_and_said_to_be_too_long_to_read() -> None:
    payload = orjson.dumps({"id": "h", "choices": [{"index": 0, "message": {"content": "x" * (6 << 20)}}]})
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
    behaviour = raw(head + b"Connection: close\r\n\r\n" + payload)
    direct, through, recorded = both(behaviour)
    assert (through.data, through.ended) == (direct.data, direct.ended)
    assert recorded.outcome == "ok" and any("too long to read" in n for n in recorded.notes)
    assert call_attributes(recorded)["cab.llm.usage_reported"] is False


# -- 1xx ----------------------------------------------------------------------------------------


def test_early_hints_are_passed_on_and_never_serve_one_call_the_answer_of_another() -> None:
    """103 then 200 on a kept-alive connection, twice: each call gets its own answer."""
    with (
        RawUpstream(early_hints_then(), keep_alive=True) as upstream,
        proxied(upstream.url) as (proxy, calls),
    ):
        url = urllib.parse.urlsplit(proxy.url)
        with socket.create_connection((url.hostname or "", url.port or 80), timeout=10) as sock:
            got = []
            for n in (1, 2):
                body = orjson.dumps({**CHAT, "n": n})
                sock.sendall(
                    f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                data = b""
                while not (b"200 OK" in data and data.rstrip().endswith(b"}") and b'"usage"' in data):
                    piece = sock.recv(65536)
                    assert piece, data
                    data += piece
                got.append(data)
        wait_for(calls, 2)
    for n, data in zip((1, 2), got, strict=True):
        assert data.startswith(
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK"
        )
        answer_ = orjson.loads(data.rpartition(b"\r\n\r\n")[2])
        assert orjson.loads(answer_["choices"][0]["message"]["content"])["n"] == n  # its own answer
    assert len(upstream.requests) == 2 and upstream.connections == 1
    assert [c.outcome for c in calls] == ["ok", "ok"] and all(c.status == 200 for c in calls)
    assert all("informational answers first: 103" in c.notes for c in calls)


# -- the endpoint does not answer ---------------------------------------------------------------


def test_a_refusing_endpoint_leaves_the_agent_without_an_answer() -> None:
    gone = f"http://127.0.0.1:{closed_port()}/v1"
    with proxied(gone) as (proxy, calls):
        through = call(proxy.url, "/chat/completions", CHAT)
        wait_for(calls, 1)
    assert call(gone, "/chat/completions", CHAT).ended == "refused"
    assert through.data == b"" and through.ended in ("eof", "reset")
    assert calls[0].outcome == "unreachable" and "refused" in calls[0].detail


def test_a_hanging_endpoint_and_an_agent_that_gives_up() -> None:
    done = threading.Event()
    try:
        direct, through, recorded = both(never_answers(done), idle=0.5)
    finally:
        done.set()
    assert (through.data, through.ended) == (direct.data, direct.ended) == (b"", "open")
    assert recorded.outcome == "cancelled" and recorded.status is None


def test_an_endpoint_that_closes_without_answering() -> None:
    direct, through, recorded = both(raw(b""))
    assert (through.data, through.ended) == (direct.data, direct.ended) == (b"", "eof")
    assert recorded.outcome == "unanswered" and "without an answer" in recorded.detail


def test_a_reset_is_passed_on_as_a_reset() -> None:
    def reset(conn: socket.socket, _: Request) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id')
        time.sleep(0.1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()

    direct, through, recorded = both(reset)
    assert (through.data, through.ended) == (direct.data, direct.ended) == (direct.data, "reset")
    assert recorded.outcome == "body_cut" and "reset" in recorded.detail


# -- slow -----------------------------------------------------------------------------------------


def test_a_slow_stream_reaches_the_agent_as_it_comes_even_when_the_proxy_strips_usage() -> None:
    """The endpoint sends one byte every 20 ms, with the usage the proxy asked for: each of its
    own bytes reaches the agent promptly (it used to wait for whole events), and the usage-only
    chunk never does."""
    sent: list[float] = []

    def slow(conn: socket.socket, request: Request) -> None:
        trickle(chat_stream(request), 0.02, sent)(conn, request)

    with RawUpstream(slow) as upstream, proxied(upstream.url) as (proxy, calls):
        through = call(proxy.url, "/chat/completions", STREAM, idle=10)
        wait_for(calls, 1)
    body = body_of(through)
    assert b'"choices":[]' not in body and body.endswith(b"data: [DONE]\n\n")
    deltas = [
        orjson.loads(e.data)["choices"][0]["delta"] for e in SseParser().feed(body) if e.data != "[DONE]"
    ]
    assert deltas == [{"content": "Hello"}, {"content": ", world"}, {}]
    assert calls[0].usage_added and calls[0].response.usage is not None
    # When each byte of the body reached the agent...
    head_len = len(through.data) - len(body)
    arrivals: list[float] = []
    previous = head_len
    for at, total in through.times:
        if total > previous:
            arrivals.extend([at] * (total - previous))
            previous = total
    # ... against when the upstream sent that byte (the usage-only chunk is not passed on).
    upstream_bytes = chat_stream(upstream.requests[0])
    usage_at = upstream_bytes.index(b'"choices":[]')
    usage_at = upstream_bytes.rindex(b"data: ", 0, usage_at)
    usage_end = upstream_bytes.index(b"\n\n", usage_at) + 2
    delays = []
    position = 0
    for byte, at in zip(body, arrivals, strict=True):
        while upstream_bytes[position] != byte or usage_at <= position < usage_end:
            position += 1
        delays.append(at - sent[position])
        position += 1
    # Generous for a busy machine; holding events back would take seconds (an event is ~80 bytes).
    assert statistics.median(delays) < 0.2 and max(delays) < 1.0, sorted(delays)[-5:]


# -- concurrency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 10, 64, 256])
def test_concurrent_calls_connect_at_once_and_each_gets_its_own_answer(n: int) -> None:
    bodies = [{**(STREAM_USAGE if i % 2 else CHAT), "id": f"call-{i}"} for i in range(n)]
    with RawUpstream(echo(0.05)) as upstream, proxied(upstream.url) as (proxy, calls):
        with ThreadPoolExecutor(n) as pool:
            direct = list(pool.map(lambda b: call(upstream.url, "/chat/completions", b, idle=30), bodies))
            through = list(pool.map(lambda b: call(proxy.url, "/chat/completions", b, idle=30), bodies))
        wait_for(calls, n, timeout=60)
    for d, t, b in zip(direct, through, bodies, strict=True):
        assert (t.data, t.ended) == (d.data, d.ended), b
        assert b["id"].encode() in t.data
    # A listen backlog of 5 made connects wait for SYN retransmits (1 s and more); generous bounds.
    assert max(t.connect_s for t in through) < max(d.connect_s for d in direct) + 0.75
    assert len(calls) == n and sorted(c.index for c in calls) == list(range(1, n + 1))
    assert all(c.outcome == "ok" and c.response.usage is not None for c in calls)
    contents = sorted(
        str(part["content"]) for c in calls for m in c.response.output_messages for part in m["parts"]
    )
    assert contents == sorted(b["id"] for b in bodies)


# -- an https endpoint ------------------------------------------------------------------------------


def test_an_https_endpoint_is_reached_over_tls_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real endpoints are https: the proxy speaks TLS to them (verifying the certificate against
    the system's trust store, here one made for the test) while the agent talks to it in the
    clear on loopback."""
    assert shutil.which("openssl"), "openssl makes the test's certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the proxy's trust store: only this certificate
    stream = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    with RawUpstream(sse_chunked(stream), tls=server) as upstream, proxied(upstream.url) as (proxy, calls):
        assert upstream.url.startswith("https://")
        through = call(proxy.url, "/chat/completions", STREAM_USAGE)
        wait_for(calls, 1)
    assert through.ended == "eof" and through.data.startswith(b"HTTP/1.1 200 OK")
    assert b"".join(_unchunk(body_of(through))) == stream  # the endpoint's chunks, as sent
    (recorded,) = calls
    assert recorded.outcome == "ok" and recorded.response.usage is not None


def _unchunk(body: bytes) -> list[bytes]:
    from cab_trace.harness.http11 import ChunkedReader

    reader = ChunkedReader()
    _, payload = reader.feed(body)
    assert reader.done
    return payload


def test_bytes_after_an_answer_are_never_served_as_the_next_calls_answer() -> None:
    """An endpoint that sends a second, unasked-for answer after the first on a kept-alive
    connection: the agent's next call gets its own answer, from a new connection."""
    payload = orjson.dumps({"id": "a", "choices": [{"index": 0, "message": {"content": "first"}}]})
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnot you"

    def twice(conn: socket.socket, request: Request) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
            + stray
        )

    with RawUpstream(twice, keep_alive=True) as upstream, proxied(upstream.url) as (proxy, calls):
        url = urllib.parse.urlsplit(proxy.url)
        with socket.create_connection((url.hostname or "", url.port or 80), timeout=10) as sock:
            body = orjson.dumps(CHAT)
            request = (
                f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(request.encode() + body)
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                piece = sock.recv(65536)
                assert piece, data
                data += piece
            rest = b""
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                sock.sendall(request.encode() + body)  # the next call on the same connection
                while piece := sock.recv(65536):
                    rest += piece
        wait_for(calls, 1)
    assert b"not you" not in data + rest  # the stray answer reached no call
    assert rest == b""  # the connection was closed after the first answer, as unusable
