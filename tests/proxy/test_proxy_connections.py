"""The recording proxy's upstream connections and long streams: a kept connection the endpoint
closed while it waited is not used, and a stream longer than the recorder's parse batch reaches
the agent byte for byte and is recorded whole. (Upstreams from tests/proxy/upstreams.py.)"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import orjson

from cab_trace.llm import call_attributes
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


def test_a_stream_longer_than_a_parse_batch_reaches_the_agent_whole_and_is_recorded_whole() -> None:
    # 9 MB of events: more than two of the recorder's 4 MB batches and a remainder.
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
    assert call.outcome == "ok" and call.response.complete
    assert call.response.chunks == count + 3  # every event, [DONE] included
    attrs = call_attributes(call)
    assert attrs["gen_ai.usage.output_tokens"] == count
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    # Every piece of the text, in order (the span's attribute is bounded; the record is not).
    assert call.response.output_messages[0]["parts"][0]["content"] == text * count
