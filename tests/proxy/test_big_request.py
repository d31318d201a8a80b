"""A model call's request body of any size goes through the proxy in bounded memory: past the
limit it is relayed as it comes, exactly the bytes the agent sent, hashed on the way, recorded
from its two ends with a marker where the rest was left out; the agent gets exactly the answer.

The big case runs a real proxy in a process of its own on 127.0.0.1 and measures its peak
resident memory (VmHWM, as tests/harness/test_bounded_readers.py measures a command's), while
a raw-socket agent streams a body of a few hundred MB generated on the fly. The other cases use
a small limit, in this process, to go through the edges quickly."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from cab_trace.harness.answer_reader import Budget
from cab_trace.harness.request_body import MAX_BODY, BodyDigest
from cab_trace.llm import call_attributes
from cab_trace.llm.partial import KEEP
from tests.proxy.test_model_proxy import proxied
from tests.proxy.upstreams import HashingUpstream

ANSWER_BODY = orjson.dumps(
    {
        "id": "c1",
        "model": "big-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "seen"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 70000000, "completion_tokens": 1},
    }
)
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(ANSWER_BODY),
    ANSWER_BODY,
)
#: What the proxy may take beyond its idle peak while a body of any size goes through it (a
#: chunked body's size is known only as it comes: it holds up to the limit before relaying).
ALLOWANCE = 48 << 20


def _filler() -> bytes:
    words = [b"alpha", b"beta", b"gamma", b"the", b"quick", b"fox", b"result:", b"0451"]
    return b" ".join(words[(i * 5 + i // 7) % len(words)] for i in range(200_000))[: 1 << 20]


def request_body(size: int) -> Iterator[bytes]:
    """A chat request of ``size`` bytes (about), in pieces: the model first, a first message, one
    huge message of text, a last message, and ``stream`` and ``temperature`` at the end."""
    start = (
        b'{"model":"big-model","messages":[{"role":"system","content":"You are a coder."},'
        b'{"role":"user","content":"fix greet.py"},{"role":"user","content":"'
    )
    end = b'"},{"role":"user","content":"the last word"}],"stream":false,"temperature":0.5}'
    yield start
    piece = _filler()
    for _ in range((size - len(start) - len(end)) // len(piece)):
        yield piece
    yield end


def _agent_call(
    url: str, pieces: list[bytes] | Iterator[bytes], length: int | None
) -> tuple[bytes, str, int]:
    """Send one POST /chat/completions through a raw socket, its body as ``pieces`` (a length, or
    chunks of uneven sizes when ``length`` is None); (what came back, sha256 of the body's bytes
    as sent, their count). Reads the answer while it sends, as a client on two threads would."""
    host, port = url.split("//")[1].split("/", maxsplit=1)[0].split(":")
    sock = socket.create_connection((host, int(port)))
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    sock.sendall(
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode()
    )
    got: list[bytes] = []

    def read() -> None:
        while data := sock.recv(65536):
            got.append(data)
            if b"".join(got).endswith(ANSWER_BODY):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sha, sent = hashlib.sha256(), 0
    for i, piece in enumerate(pieces):
        data = piece if length is not None else b"%x;n=%d\r\n%s\r\n" % (len(piece), i, piece)
        sock.sendall(data)
        sha.update(data)
        sent += len(data)
    if length is None:
        sock.sendall(b"0\r\n\r\n")
        sha.update(b"0\r\n\r\n")
        sent += 5
    reader.join(120)
    sock.close()
    return b"".join(got), sha.hexdigest(), sent


def _uneven(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for k, piece in enumerate(pieces):
        if k % 3 == 1:
            yield piece[:7777]
            yield piece[7777:]
        else:
            yield piece


#: A proxy in a process of its own: prints its URL; on "mark" prints its peak so far; on "stop"
#: stops, writes every call's attributes (one JSON line each) to $CALLS_OUT, prints its peak.
_PROXY = """
import os, sys, orjson
from cab_trace.harness.model_proxy import ModelProxy
from cab_trace.llm import call_attributes
calls = []
proxy = ModelProxy(sys.argv[1], calls.append)
print(proxy.start(), flush=True)
def peak():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
for line in sys.stdin:
    if line.strip() == "mark":
        print(peak(), flush=True)
    elif line.strip() == "stop":
        proxy.stop()
        with open(os.environ["CALLS_OUT"], "wb") as out:
            for call in calls:
                out.write(orjson.dumps(call_attributes(call)) + b"\\n")
        print(peak(), flush=True)
        break
"""


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_hundreds_of_mb_is_relayed_byte_for_byte_in_bounded_memory(
    tmp_path: Path, chunked: bool
) -> None:
    size = 300 << 20
    assert size > 4 * MAX_BODY
    whole = hashlib.sha256()
    total = 0
    for piece in request_body(size):
        whole.update(piece)
        total += len(piece)
    with HashingUpstream(ANSWER) as upstream:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PROXY, upstream.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "CALLS_OUT": str(tmp_path / "calls.jsonl")},
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            url = proc.stdout.readline().strip()
            # A small call first, so that the idle peak includes what any call costs.
            small, _, _ = _agent_call(url, [b'{"model":"m","messages":[]}'], 27)
            assert small.endswith(ANSWER_BODY)
            proc.stdin.write("mark\n")
            proc.stdin.flush()
            idle = int(proc.stdout.readline())
            pieces = request_body(size)
            if chunked:
                # Uneven chunks, so that chunk boundaries fall anywhere in the proxy's reads.
                pieces = _uneven(pieces)
            seen, sent_sha, sent = _agent_call(url, pieces, None if chunked else total)
            proc.stdin.write("stop\n")
            proc.stdin.flush()
            peak = int(proc.stdout.readline())
        finally:
            proc.kill()
            proc.wait()
    # The agent got exactly what the endpoint sent.
    assert seen == ANSWER
    # The endpoint got every byte the agent sent, as it sent them (framing included).
    big = upstream.received[-1]
    assert (big.raw_size, big.raw_sha256) == (sent, sent_sha)
    assert (big.size, big.sha256) == (total, whole.hexdigest())
    assert b"stream_options" not in big.head
    assert (b"transfer-encoding: chunked" if chunked else b"content-length: %d" % total) in big.head.lower()
    # Recorded as usual, its hash the whole body's, with a marker where its middle was left out.
    attrs = orjson.loads((tmp_path / "calls.jsonl").read_bytes().splitlines()[-1])
    assert attrs["cab.llm.request_sha256"] == whole.hexdigest()
    assert attrs["cab.llm.outcome"] == "ok" and attrs["http.response.status_code"] == 200
    assert attrs["gen_ai.request.model"] == "big-model"
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.usage.input_tokens"] == 70000000
    assert attrs["cab.llm.request.unread_bytes"] == total - 2 * KEEP
    assert attrs["cab.llm.content"] == "truncated"
    assert "cab.llm.usage_requested_by_proxy" not in attrs
    assert any(
        f"the request body ({total:,} bytes) is over the proxy's limit" in n for n in attrs["cab.llm.notes"]
    )
    messages = orjson.loads(attrs["gen_ai.input.messages"])
    assert [m["role"] for m in messages] == ["system", "user", "cab-trace", "user"]
    assert messages[-1]["parts"][0]["content"] == "the last word"
    assert f"{total - 2 * KEEP:,} bytes of the request not recorded" in messages[2]["parts"][0]["content"]
    allowance = ALLOWANCE + (MAX_BODY if chunked else 0)
    assert peak - idle < allowance, f"the proxy took {(peak - idle) >> 20} MB more for a {size >> 20} MB body"


# -- the edges, with a small limit ---------------------------------------------------------------


def _doc(size: int) -> bytes:
    return b"".join(request_body(size))


def _wait_for(calls: list[object], n: int) -> None:
    deadline = time.monotonic() + 10
    while len(calls) < n and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_over_a_small_limit_the_body_is_relayed_and_recorded_from_its_ends(chunked: bool) -> None:
    body = _doc(3 << 20)
    pieces = [body[i : i + 100_000] for i in range(0, len(body), 100_000)]
    with (
        HashingUpstream(ANSWER) as upstream,
        proxied(upstream.url, max_request_body=1 << 20) as (proxy, calls),
    ):
        seen, sha, sent = _agent_call(proxy.url, pieces, None if chunked else len(body))
        _wait_for(calls, 1)
    assert seen == ANSWER
    (got,) = upstream.received
    assert (got.raw_size, got.raw_sha256, got.sha256) == (sent, sha, hashlib.sha256(body).hexdigest())
    (call,) = calls
    assert call.request_body_sha256 == hashlib.sha256(body).hexdigest()
    assert call.request_unread_bytes == len(body) - 2 * KEEP
    assert call.request.model == "big-model" and call.outcome == "ok"
    assert [m["role"] for m in call.request.input_messages] == ["system", "user", "cab-trace", "user"]


def test_under_the_limit_nothing_changes() -> None:
    body = _doc(3 << 20)
    with HashingUpstream(ANSWER) as upstream, proxied(upstream.url) as (proxy, calls):
        seen, _, _ = _agent_call(proxy.url, [body], len(body))
        _wait_for(calls, 1)
    assert seen == ANSWER
    (call,) = calls
    assert call.request_unread_bytes == 0 and call.request_body_sha256 == hashlib.sha256(body).hexdigest()
    assert [m["role"] for m in call.request.input_messages] == ["system", "user", "user", "user"]
    attrs = call_attributes(call)
    assert "cab.llm.request.unread_bytes" not in attrs
    assert proxy.held.used == 0  # given back once recorded


def test_bodies_past_what_all_calls_may_hold_together_are_relayed() -> None:
    body = _doc(4 << 20)
    with HashingUpstream(ANSWER) as upstream, proxied(upstream.url) as (proxy, calls):
        proxy.held = Budget(2 << 20)  # less than this one body, though under the limit for one
        seen, _, _ = _agent_call(proxy.url, [body], len(body))
        _wait_for(calls, 1)
    assert seen == ANSWER
    (got,) = upstream.received
    assert got.sha256 == hashlib.sha256(body).hexdigest()
    (call,) = calls
    assert call.request_unread_bytes == len(body) - 2 * KEEP
    assert any("the proxy holds of all requests at once" in note for note in call.notes)


def test_an_endpoint_that_refuses_the_body_early_is_answered_and_recorded() -> None:
    body = _doc(8 << 20)
    with (
        HashingUpstream(ANSWER, refuse_after_head=True) as upstream,
        proxied(upstream.url, max_request_body=1 << 20) as (proxy, calls),
    ):
        host, port = proxy.url.split("//")[1].split("/", maxsplit=1)[0].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.settimeout(20)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        with contextlib.suppress(OSError):
            sock.sendall(body)  # may fail: the proxy stops reading, as the endpoint did
        try:
            answer = sock.recv(65536)
        except OSError:
            answer = b""  # reset: the endpoint's connection was reset too
        sock.close()
        _wait_for(calls, 1)
    assert upstream.done.is_set()
    # The agent gets the refusal, as it does straight from the endpoint (the answer arrived
    # before the reset, and is read first), and the call is recorded, not left waiting.
    assert answer.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    (call,) = calls
    assert (call.outcome, call.status) == ("http_error", 413)


def test_an_agent_that_hangs_up_in_a_big_body_is_recorded_as_cancelled() -> None:
    body = _doc(4 << 20)
    with (
        HashingUpstream(ANSWER) as upstream,
        proxied(upstream.url, max_request_body=1 << 20) as (proxy, calls),
    ):
        host, port = proxy.url.split("//")[1].split("/", maxsplit=1)[0].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        sock.sendall(body[: 3 << 20])
        time.sleep(0.2)
        sock.close()
        _wait_for(calls, 1)
    (call,) = calls
    assert call.outcome == "cancelled"
    assert any(
        f"the request body ({3 << 20:,} of its {len(body):,} bytes, all that came)" in n for n in call.notes
    )
    upstream.done.wait(10)
    assert upstream.cut_short == 1 and not upstream.received  # the endpoint saw it end there too


def test_the_digest_keeps_the_hash_and_both_ends() -> None:
    data = os.urandom(1 << 20)
    digest = BodyDigest(keep=1000)
    for at in range(0, len(data), 3333):
        digest.feed(data[at : at + 3333])
    cut = digest.cut()
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert (cut.size, cut.head, cut.tail, cut.left_out) == (
        len(data),
        data[:1000],
        data[-1000:],
        len(data) - 2000,
    )
