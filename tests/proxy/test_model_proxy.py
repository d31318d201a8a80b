"""The recording proxy over real HTTP: what the agent sees is what it would have seen straight from
the endpoint, and every call is recorded as it happened. The well-behaved endpoint is the
scripted model server (the suite's stand-in for a paid model API); misbehaving ones are in
tests/proxy/upstreams.py."""

from __future__ import annotations

import hashlib
import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from cab_trace.harness.model_proxy import ModelProxy
from cab_trace.llm import Api, CallRecord, SseParser, call_attributes
from tests.model_server import ScriptedModelServer
from tests.otlp_receiver import closed_port
from tests.proxy.upstreams import RawUpstream, Request, answer, never_answers, sse_chunked, sse_until_close

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
KEY = "sk-proxy-test-key-0123456789abcdef"
CHAT = {"model": "scripted-model", "messages": [{"role": "user", "content": "fix greet.py"}]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "edit",
            "parameters": {
                "type": "object",
                "properties": {"path": {}, "oldText": {}, "newText": {}},
            },
        },
    }
]


@dataclass
class Seen:
    """What an HTTP client got: status, body bytes, or the error it raised."""

    status: int | None
    body: bytes
    error: str | None = None
    headers: dict[str, str] | None = None


def fetch(base: str, path: str, body: object | None = None, timeout: float = 10.0) -> Seen:
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    data = orjson.dumps(body) if body is not None else None
    try:
        conn.request(
            "POST" if data is not None else "GET",
            url.path + path,
            body=data,
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        try:
            return Seen(response.status, response.read(), headers=headers)
        except http.client.IncompleteRead as exc:
            return Seen(response.status, bytes(exc.partial), "IncompleteRead", headers)
    except (OSError, http.client.HTTPException) as exc:
        return Seen(None, b"", type(exc).__name__)
    finally:
        conn.close()


@contextmanager
def proxied(upstream: str, **kw: object) -> Iterator[tuple[ModelProxy, list[CallRecord]]]:
    calls: list[CallRecord] = []
    proxy = ModelProxy(upstream, calls.append, **kw)  # type: ignore[arg-type]
    proxy.start()
    try:
        yield proxy, calls
    finally:
        proxy.stop()


def events(body: bytes) -> list[dict[str, object]]:
    out = []
    for event in SseParser().feed(body):
        if event.data and event.data != "[DONE]":
            doc = orjson.loads(event.data)
            for volatile in ("id", "created", "call_id"):
                doc.pop(volatile, None)
            out.append(doc)
    return out


# -- the well-behaved endpoint -------------------------------------------------------------------


def test_a_chat_call_through_the_proxy_is_recorded_with_its_tokens() -> None:
    with ScriptedModelServer(expect_key=KEY) as server, proxied(server.url) as (proxy, calls):
        assert proxy.url.endswith("/v1")  # the endpoint's path is kept
        seen = fetch(proxy.url, "/chat/completions", {**CHAT, "tools": TOOLS})
        direct = fetch(server.url, "/chat/completions", {**CHAT, "tools": TOOLS})
    assert seen.status == direct.status == 200
    answer_ = orjson.loads(seen.body)
    assert answer_["choices"][0]["finish_reason"] == "tool_calls"
    (call,) = calls
    assert call.api is Api.CHAT and call.status == 200 and call.outcome == "ok"
    usage = call.response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (
        answer_["usage"]["prompt_tokens"],
        answer_["usage"]["completion_tokens"],
    )
    assert call.request_body_sha256 == hashlib.sha256(orjson.dumps({**CHAT, "tools": TOOLS})).hexdigest()
    assert KEY not in repr(call) and KEY not in orjson.dumps(call_attributes(call)).decode()
    assert server.requests[0].credential_ok  # the key still reached the endpoint


def test_a_stream_that_did_not_ask_for_usage_still_gets_tokens_and_the_agent_its_own_stream() -> None:
    body = {**CHAT, "stream": True}
    with ScriptedModelServer() as server, proxied(server.url) as (proxy, calls):
        direct = fetch(server.url, "/chat/completions", body)
        through = fetch(proxy.url, "/chat/completions", body)
    assert through.status == 200
    assert events(through.body) == events(direct.body)  # no usage chunk, no "usage": null
    assert through.body.rstrip().endswith(b"data: [DONE]")
    assert b"usage" not in through.body
    assert server.requests[-1].body["stream_options"] == {"include_usage": True}  # asked upstream
    (call,) = calls
    assert call.usage_added and call.outcome == "ok"
    usage = call.response.usage
    assert usage is not None and usage.input_tokens == max(
        1, server.requests[-1].raw_size // 4
    )  # as reported
    assert usage.output_tokens is not None and usage.output_tokens > 0
    assert call.first_chunk_ns is not None and call.start_ns <= call.first_chunk_ns <= call.end_ns


def test_a_stream_that_asked_for_usage_is_passed_unchanged() -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with ScriptedModelServer() as server, proxied(server.url) as (proxy, calls):
        through = fetch(proxy.url, "/chat/completions", body)
        direct = fetch(server.url, "/chat/completions", body)
    assert events(through.body) == events(direct.body)
    assert b'"usage": null' in through.body
    assert not calls[0].usage_added and calls[0].response.usage is not None


def test_responses_api_stream_and_models_pass_through() -> None:
    body = {"model": "scripted-model", "input": "fix greet.py", "stream": True}
    with ScriptedModelServer() as server, proxied(server.url) as (proxy, calls):
        models = fetch(proxy.url, "/models")
        through = fetch(proxy.url, "/responses", body)
    assert models.status == 200 and orjson.loads(models.body)["data"][0]["id"] == "scripted-model"
    assert [e["type"] for e in events(through.body)][-1] == "response.completed"
    (call,) = calls  # /models is passed through, not a model call
    assert call.api is Api.RESPONSES and call.outcome == "ok" and call.response.usage is not None
    assert call.response.output_messages[0]["parts"][0]["content"]


def test_anthropic_messages_stream_in_chunks() -> None:
    stream = (FIXTURES / "anthropic_stream.sse").read_bytes()
    request = orjson.loads((FIXTURES / "anthropic_request.json").read_bytes())
    with RawUpstream(sse_chunked(stream)) as upstream, proxied(upstream.url) as (proxy, calls):
        through = fetch(proxy.url, "/messages", request)
        direct = fetch(upstream.url, "/messages", request)
    assert through.body == direct.body == stream
    assert through.headers is not None and through.headers.get("transfer-encoding") == "chunked"
    (call,) = calls
    assert call.api is Api.ANTHROPIC and call.outcome == "ok"
    assert call.response.usage is not None and call.response.usage.input_tokens == 1525
    assert call.response.finish_reasons == ["tool_use"]


def test_concurrent_calls_are_each_recorded_once() -> None:
    with ScriptedModelServer() as server, proxied(server.url) as (proxy, calls):
        with ThreadPoolExecutor(8) as pool:
            results = list(
                pool.map(
                    lambda i: fetch(proxy.url, "/chat/completions", {**CHAT, "stream": i % 2 == 0, "n": i}),
                    range(16),
                )
            )
    assert all(r.status == 200 for r in results)
    assert len(calls) == 16 == len(server.requests)
    assert sorted(c.index for c in calls) == list(range(1, 17))
    assert all(c.outcome == "ok" and c.response.usage is not None for c in calls)


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_ends_no_later_than_the_agent_had_its_answer(
    monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """The proxy's thread can run late after the last bytes go out (a loaded machine, or slow
    bookkeeping, made slow here): the call's end is still stamped before the agent could act on
    the answer, so the next call, or a tool step, is never placed before the call that caused it."""
    from cab_trace.harness import answer_reader

    feed = answer_reader.AnswerReader.feed

    def slow_feed(self: answer_reader.AnswerReader, piece: bytes) -> None:
        feed(self, piece)
        time.sleep(0.05)

    monkeypatch.setattr(answer_reader.AnswerReader, "feed", slow_feed)
    with ScriptedModelServer(chunk_size=4096) as server, proxied(server.url) as (proxy, calls):
        seen = fetch(proxy.url, "/chat/completions", {**CHAT, "stream": stream})
        had_it = proxy.clock.now_ns()
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
    assert seen.status == 200 and seen.error is None
    (call,) = calls
    assert call.outcome == "ok" and call.start_ns < call.end_ns <= had_it


# -- failures: the agent sees what it would have seen; the span says what happened -------------


@pytest.mark.parametrize("status", [429, 500])
def test_upstream_errors_are_passed_on_and_recorded(status: int) -> None:
    payload = {"error": {"type": "rate_limit_exceeded" if status == 429 else "server_error", "message": "no"}}
    with RawUpstream(answer(status, payload)) as upstream, proxied(upstream.url) as (proxy, calls):
        through = fetch(proxy.url, "/chat/completions", CHAT)
        direct = fetch(upstream.url, "/chat/completions", CHAT)
        again = fetch(proxy.url, "/chat/completions", CHAT)  # the agent retries
    assert (through.status, through.body) == (direct.status, direct.body) == (status, orjson.dumps(payload))
    assert again.status == status
    first, retry = calls
    assert first.outcome == "http_error" and first.status == status
    attrs = call_attributes(first)
    assert attrs["error.type"] == str(status) and attrs["cab.llm.usage_reported"] is False
    assert retry.repeat_of == first.index  # the same request again: a retry


def test_a_stream_cut_mid_way_is_passed_on_and_recorded() -> None:
    stream = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with (
        RawUpstream(sse_until_close(stream, stop_at=700)) as upstream,
        proxied(upstream.url) as (proxy, calls),
    ):
        through = fetch(proxy.url, "/chat/completions", body)
        direct = fetch(upstream.url, "/chat/completions", body)
    assert through.body == direct.body == stream[:700]
    (call,) = calls
    assert call.outcome == "stream_cut" and call.response.chunks >= 2
    assert call_attributes(call)["error.type"] == "stream_cut"


def test_a_chunked_stream_cut_inside_a_chunk_fails_the_agent_the_same_way() -> None:
    stream = (FIXTURES / "anthropic_stream.sse").read_bytes()
    request = orjson.loads((FIXTURES / "anthropic_request.json").read_bytes())
    behaviour = sse_chunked(stream, cut_in_chunk=True)
    with RawUpstream(behaviour) as upstream, proxied(upstream.url) as (proxy, calls):
        through = fetch(proxy.url, "/messages", request)
        direct = fetch(upstream.url, "/messages", request)
    assert through.error == direct.error == "IncompleteRead"
    (call,) = calls
    assert call.outcome == "stream_cut"


def test_an_upstream_that_never_answers() -> None:
    done = threading.Event()
    with RawUpstream(never_answers(done)) as upstream, proxied(upstream.url) as (proxy, calls):
        through = fetch(proxy.url, "/chat/completions", CHAT, timeout=0.5)
        direct = fetch(upstream.url, "/chat/completions", CHAT, timeout=0.5)
        assert through.error == direct.error == "TimeoutError"
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        # A call the agent is still waiting on when the run ends.
        waiting = threading.Thread(target=fetch, args=(proxy.url, "/chat/completions", CHAT, 30.0))
        waiting.start()
        time.sleep(0.3)
    done.set()
    first, last = calls
    assert first.outcome == "cancelled" and first.status is None  # the agent gave up
    assert 0.4e9 < first.duration_ns < 3e9
    assert last.outcome == "unanswered"
    assert call_attributes(last)["error.type"] == "unanswered"
    waiting.join(5)


def test_an_unreachable_endpoint_is_a_connection_error_for_the_agent() -> None:
    gone = f"http://127.0.0.1:{closed_port()}/v1"
    with proxied(gone) as (proxy, calls):
        through = fetch(proxy.url, "/chat/completions", CHAT)
    direct = fetch(gone, "/chat/completions", CHAT)
    assert through.status is None and direct.status is None
    assert through.error in ("RemoteDisconnected", "ConnectionResetError")
    assert calls[0].outcome == "unreachable" and "refused" in calls[0].detail


def test_a_stream_still_running_when_the_run_ends(capfd: pytest.CaptureFixture[str]) -> None:
    stream = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with RawUpstream(sse_until_close(stream, pause_s=0.2)) as upstream:
        with proxied(upstream.url) as (proxy, calls):
            reader = threading.Thread(target=fetch, args=(proxy.url, "/chat/completions", body))
            reader.start()
            time.sleep(0.5)  # a few events in
        reader.join(10)
    (call,) = calls
    assert call.outcome == "stream_cut" and call.status == 200 and call.first_chunk_ns is not None
    assert "still waiting when the agent finished" in call.detail
    assert capfd.readouterr().err == ""  # nothing in the user's terminal


def test_an_endpoint_that_refuses_stream_options_gets_the_agents_own_request() -> None:
    stream = (FIXTURES / "chat_stream_no_usage.sse").read_bytes()
    strict = answer(400, {"error": {"message": "Unrecognized request argument: stream_options"}})
    streams = sse_until_close(stream)

    def picky(conn: socket.socket, request: Request) -> None:
        (strict if b"stream_options" in request.body else streams)(conn, request)

    body = {**CHAT, "stream": True}
    with RawUpstream(picky) as upstream, proxied(upstream.url) as (proxy, calls):
        through = fetch(proxy.url, "/chat/completions", body)
    assert through.status == 200 and through.body == stream  # what it would have had
    assert [b"stream_options" in r.body for r in upstream.requests] == [True, False]
    (call,) = calls
    assert call.outcome == "ok" and call.response.usage is None
    attrs = call_attributes(call)
    assert attrs["cab.llm.usage_request_refused"] is True and attrs["cab.llm.usage_reported"] is False


def test_an_agent_that_hangs_up_on_a_stalled_stream_is_seen_at_once() -> None:
    stream = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    stalled = threading.Event()

    def stall(conn: socket.socket, request: Request) -> None:
        sse_until_close(stream[:300])(conn, request)
        stalled.wait(30)  # and then nothing more, for a long time

    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with RawUpstream(stall) as upstream, proxied(upstream.url) as (proxy, calls):
        url = urllib.parse.urlsplit(proxy.url)
        client = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
        client.request("POST", url.path + "/chat/completions", orjson.dumps(body))
        response = client.getresponse()
        assert response.read1(65536)  # the first events arrive
        hung_up = time.time_ns()
        response.close()
        client.close()  # the agent gives up on the stalled stream
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        stalled.set()
        assert calls, "recorded while the run goes on, not at its end"
    (call,) = calls
    assert call.outcome == "cancelled" and call.status == 200
    assert call.end_ns - hung_up < 2e9
