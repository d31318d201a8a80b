"""Fuzz targets for the recording proxy: what the agent sends it (any method, path, body), what
the endpoint answers (any status, JSON or event stream, cut or whole, chunked or not), and the
pure parsers that read both. The agent always gets an answer or a closed connection, as it would
from the endpoint; nothing raises in the proxy's threads; every call becomes span attributes."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from cab_trace.harness.model_proxy import ModelProxy
from cab_trace.llm import Api, CallRecord, ResponseAccumulator, call_attributes, parse_request
from cab_trace.llm.wire import RequestInfo
from tests.fuzz.inputs import FUZZ, mutated
from tests.proxy.upstreams import RawUpstream, Request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
REQUESTS = {api: (FIXTURES / f"{name}_request.json").read_bytes() for api, name in [
    (Api.CHAT, "chat"), (Api.RESPONSES, "responses"), (Api.ANTHROPIC, "anthropic"), (Api.GEMINI, "gemini"),
]}  # fmt: skip
RESPONSES = [
    (FIXTURES / n).read_bytes()
    for n in ("chat_response.json", "responses_response.json", "anthropic_response.json")
]
STREAMS = [
    (FIXTURES / n).read_bytes()
    for n in (
        "chat_stream_usage.sse",
        "chat_stream_no_usage.sse",
        "responses_stream.sse",
        "anthropic_stream.sse",
        "gemini_stream.sse",
    )
]
PATHS = {
    Api.CHAT: "/v1/chat/completions",
    Api.RESPONSES: "/v1/responses",
    Api.ANTHROPIC: "/v1/messages",
    Api.GEMINI: "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
}

bodies = st.one_of(st.sampled_from(list(REQUESTS.values())).flatmap(mutated), st.binary(max_size=200))
answers = st.one_of(
    st.sampled_from(RESPONSES).flatmap(mutated),
    st.sampled_from(STREAMS).flatmap(mutated),
    st.binary(max_size=200),
)


@FUZZ
@given(api=st.sampled_from(list(Api)), body=bodies, answer=answers, pieces=st.integers(1, 7))
def test_the_parsers_take_any_request_and_answer(api: Api, body: bytes, answer: bytes, pieces: int) -> None:
    request = parse_request(api, body, PATHS[api])  # never raises, by contract
    for streamed in (False, True):
        acc = ResponseAccumulator(api)
        if streamed:
            step = max(len(answer) // pieces, 1)
            for at in range(0, len(answer), step):
                acc.feed_bytes(answer[at : at + step])
        else:
            acc.feed_json(answer)
        call = CallRecord(
            api, "POST", PATHS[api], "127.0.0.1", 1, "0" * 64, request or RequestInfo(), 1, 2, 200, acc.info
        )
        call_attributes(call, content=True, redact=lambda text: text)
        call_attributes(call, content=False)


@st.composite
def upstream_answer(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from([200, 200, 200, 400, 429, 500, 204, 304, 999]))
    body = draw(answers)
    framing = draw(st.sampled_from(["length", "close", "chunked", "short", "garbage-head"]))
    kind = draw(st.sampled_from(["application/json", "text/event-stream", "text/plain"]))
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n"
    if framing == "length":
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    if framing == "short":
        return (head + f"Content-Length: {len(body) + 50}\r\n\r\n").encode() + body  # then the close
    if framing == "chunked":
        cut = draw(st.integers(0, len(body)))
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (
            cut,
            body[:cut],
        )
    if framing == "garbage-head":
        return body
    return (head + "Connection: close\r\n\r\n").encode() + body


# A real exchange costs about a second (the proxy gives calls still in flight half a second at
# stop): fewer of them in the normal suite.
@settings(FUZZ, max_examples=FUZZ.max_examples // 3)
# Found by this target: a body shorter than its Content-Length, then the endpoint hung up; the
# proxy kept the agent's connection open, so the agent waited for bytes that would never come.
@example(
    api=Api.CHAT,
    method="POST",
    body=b"{}",
    answer=b"HTTP/1.1 200 X\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{}",
    chunked_request=False,
)
@given(
    api=st.sampled_from([*list(Api), None]),
    method=st.sampled_from(["POST", "POST", "GET", "PUT"]),
    body=bodies,
    answer=upstream_answer(),
    chunked_request=st.booleans(),
)
def test_the_proxy_takes_any_exchange(
    api: Api | None, method: str, body: bytes, answer: bytes, chunked_request: bool
) -> None:
    def behave(conn: socket.socket, _request: Request) -> None:
        conn.sendall(answer)

    calls: list[CallRecord] = []
    # What the proxy's threads raised and did not handle (Python would print it as a traceback:
    # the bug we look for).
    raised: list[BaseException | None] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: raised.append(args.exc_value)
    with RawUpstream(behave) as upstream:
        proxy = ModelProxy(upstream.url, calls.append)
        url = urllib.parse.urlsplit(proxy.start())
        path = url.path + (PATHS[api].removeprefix("/v1") if api is not None else "/models")
        try:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
            if chunked_request:
                conn.putrequest(method, path)
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            else:
                conn.request(method, path, body=body)
            try:
                response = conn.getresponse()
                response.read()
                event(f"answered {response.status // 100}xx")
            except TimeoutError:
                # The endpoint answered at once, or hung up: the agent must know as soon.
                pytest.fail("the proxy left the agent waiting for an answer the endpoint had ended")
            except (http.client.HTTPException, OSError):
                event("closed")  # as the endpoint did: a cut answer, a broken head
            conn.close()
        finally:
            proxy.stop()
            threading.excepthook = previous_hook
    assert raised == []
    assert proxy.failed_callbacks == 0
    for call in calls:
        call_attributes(call, content=True, redact=lambda text: text)
