"""The recording proxy's upstream connections and long streams: a kept connection the endpoint
closed while it waited is not used, and a long stream reaches the agent byte for byte and is
recorded in bounded memory. (Upstreams from tests/proxy/upstreams.py.)"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import orjson

from cab_trace.llm import call_attributes
from cab_trace.llm.bounded import KEEP, marker
from cab_trace.llm.call import PART_LIMIT
from tests.proxy.test_model_proxy import CHAT, fetch, proxied
from tests.proxy.upstreams import RawUpstream, Request, sse_until_close


def test_a_kept_connection_the_endpoint_closed_meanwhile_is_not_used() -> None:
    closed = threading.Event()
    payload = orjson.dumps(
        {
            "id": "c1",
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )

    def keep_alive_then_close(conn: socket.socket, _: Request) -> None:
        # An answer that keeps the connection (HTTP/1.1, a length, no "Connection: close"),
        # then the endpoint's idle timeout closes it.
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()
        closed.set()

    with RawUpstream(keep_alive_then_close) as upstream, proxied(upstream.url) as (proxy, calls):
        first = fetch(proxy.url, "/chat/completions", CHAT)
        assert closed.wait(10)
        closed.clear()
        second = fetch(proxy.url, "/chat/completions", CHAT)
        # The agent has its answer a moment before the proxy is done with the call: wait for the
        # record, so that stopping the proxy does not catch the call still in flight.
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert first.status == second.status == 200
    assert first.body == second.body == payload
    assert [c.outcome for c in calls] == ["ok", "ok"]
    assert len(upstream.requests) == 2


def test_a_long_stream_reaches_the_agent_whole_and_is_recorded_in_bounded_memory() -> None:
    # 9 MB of events: more than the reader's queue for one call holds at once.
    text = "0123456789" * 90
    chunk = orjson.dumps({"id": "s1", "model": "m", "choices": [{"index": 0, "delta": {"content": text}}]})
    count = 9 * 1024 * 1024 // (len(chunk) + 8)
    last = {"id": "s1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {
        "id": "s1",
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": count},
    }
    stream = (
        (b"data: " + chunk + b"\n\n") * count
        + b"data: "
        + orjson.dumps(last)
        + b"\n\n"
        + b"data: "
        + orjson.dumps(usage)
        + b"\n\ndata: [DONE]\n\n"
    )
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with RawUpstream(sse_until_close(stream)) as upstream, proxied(upstream.url) as (proxy, calls):
        seen = fetch(proxy.url, "/chat/completions", body, timeout=60)
    assert seen.status == 200 and seen.body == stream
    (call,) = calls
    # The end of a stream is always read: usage, finish reasons and the end marker are there.
    assert call.outcome == "ok" and call.response.complete
    attrs = call_attributes(call)
    assert attrs["gen_ai.usage.output_tokens"] == count
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    # The text kept is its head and its tail, with how much is left out between them.
    content = call.response.output_messages[0]["parts"][0]["content"]
    assert isinstance(content, str) and len(content) <= PART_LIMIT
    assert attrs["cab.llm.content"] == "truncated"
    unread = call.response.unread_bytes
    if unread == 0:  # the reader kept up: every event was read, and the text counted whole
        assert call.response.chunks == count + 3  # every event, [DONE] included
        left_out = len(text) * count - 2 * KEEP
        assert content == (text * count)[:KEEP] + marker(left_out) + (text * count)[-KEEP:]
    else:  # it fell behind (a busy machine) and says how much it did not read
        assert attrs["cab.llm.response.unread_bytes"] == unread and call.response.chunks < count + 3
        assert any("not read" in note for note in call.notes)
