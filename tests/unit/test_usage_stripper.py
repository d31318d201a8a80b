"""The usage stripper (the proxy's fast way to take out of a chat stream what asking for usage
added) gives the same bytes, piece for piece, as reading every event: random streams of chat
chunks, keep-alives, comments and mixed line ends, cut at random places (seeded, so a failure
is the same failure every run)."""

from __future__ import annotations

import random

import orjson

from cab_trace.llm.sse import SseParser
from cab_trace.llm.stream_usage import UsageStripper, is_usage_only, without_null_usage


def _event_by_event(pieces: list[bytes]) -> tuple[list[bytes], bytes]:
    parser = SseParser()
    out = [
        b"".join(without_null_usage(e.raw) for e in parser.feed(piece) if not is_usage_only(e))
        for piece in pieces
    ]
    return out, parser.partial


def _stripped(pieces: list[bytes]) -> tuple[list[bytes], bytes]:
    stripper = UsageStripper()
    return [stripper.feed(piece) for piece in pieces], stripper.partial


def _stream(rng: random.Random) -> bytes:
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi\\n"}}], "usage": None}
    usage_only = {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    both = {"id": "c", "choices": [{"index": 0, "delta": {}}], "usage": {"prompt_tokens": 1}}
    parts = [
        b"data: " + orjson.dumps(chunk) + b"\n\n",
        b'data: {"id":"c","usage": null,"choices":[]}\n\n',
        b"data: " + orjson.dumps(usage_only) + b"\n\n",
        b"data: " + orjson.dumps(both) + b"\n\n",
        b"event: x\ndata: " + orjson.dumps(usage_only) + b"\n\n",
        b'data: {\ndata: "usage": {}}\n\n',
        b": keep-alive\n\n",
        b"\n",
        b"data: [DONE]\n\n",
        b"data: " + orjson.dumps(chunk) + b"\r\n\r\n",
        b"data: " + orjson.dumps(usage_only) + b"\r\r",
    ]
    crlf = rng.random() < 0.3
    chosen = [rng.choice(parts if crlf else parts[:-2]) for _ in range(rng.randint(0, 12))]
    data = b"".join(chosen)
    if rng.random() < 0.3:
        data = data[: rng.randint(0, len(data))]  # a stream cut off mid-event
    return data


def test_the_stripper_passes_on_what_reading_every_event_passes_on() -> None:
    rng = random.Random(12)
    for _ in range(3000):
        data = _stream(rng)
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 6))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert _stripped(pieces) == _event_by_event(pieces), (data, pieces)


def test_the_usage_only_chunk_and_null_usage_members_are_taken_out() -> None:
    stream = (
        b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3}}\n\n'
        b"data: [DONE]\n\n"
    )
    stripper = UsageStripper()
    assert stripper.feed(stream[:20]) == b""
    assert stripper.feed(stream[20:]) == b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n'
    assert stripper.partial == b""
