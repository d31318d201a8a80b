"""The usage stripper (what the proxy takes out of a chat stream it asked usage for) passes on
the same bytes as reading every event, piece for piece, and holds nothing back longer than it
must: random streams of chat chunks, keep-alives, comments and mixed line ends, cut at random
places (seeded, so a failure is the same failure every run), and a stream of one byte a second."""

from __future__ import annotations

import random
import re
from pathlib import Path

import orjson

from cab_trace.llm.sse import SseParser
from cab_trace.llm.stream_usage import HOLD_S, UsageStripper, is_usage_only, without_null_usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


_FINISH = re.compile(rb'(?<!\\)"finish_reason"[ \t]*:[ \t]*"')


def _event_by_event(data: bytes) -> tuple[bytes, bytes]:
    """The reference: complete events less null usage, and less the first usage-only event
    after the (one) choice finished; the rest."""
    parser = SseParser()
    out: list[bytes] = []
    finished, dropped = 0, False
    for event in parser.feed(data):
        if finished and not dropped and is_usage_only(event):
            dropped = True
            continue
        out.append(without_null_usage(event.raw))
        finished += len(_FINISH.findall(event.raw))
    return b"".join(out), parser.partial


def _stream(rng: random.Random) -> bytes:
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi, \\n"}}], "usage": None}
    usage_only = {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    both = {"id": "c", "choices": [{"index": 0, "delta": {}}], "usage": {"prompt_tokens": 1}}
    finish = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None}
    parts = [
        b"data: " + orjson.dumps(finish) + b"\n\n",
        b"data: " + orjson.dumps(chunk) + b"\n\n",
        b'data: {"id":"c","usage": null,"choices":[]}\n\n',
        b'data: {"id":"c", "usage" : null , "choices":[{"index":0}]}\n\n',
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


def _pieces(rng: random.Random, data: bytes) -> list[bytes]:
    cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 8))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


#: An event's start that does not show yet whether it is the usage-only chunk: field or comment
#: lines, then a line not yet known, or a data line opening a JSON object without choices.
_UNDECIDED = re.compile(
    rb"^(?:(?!data:)[^\r\n]*(?:\r\n|\r|\n))*(?:(?!data:)[^\r\n]*|data: ?(?:\{(?!.*\"choices\":\[\{).*)?)\Z",
    re.S,
)


def test_the_stripper_passes_on_what_reading_every_event_passes_on() -> None:
    rng = random.Random(12)
    for _ in range(3000):
        data = _stream(rng)
        pieces = _pieces(rng, data)
        stripper = UsageStripper()
        outs = []
        for piece in pieces:
            outs.append(stripper.feed(piece))
            # Held back: only the start of a member that may be "usage": null, or, after the
            # choice finished, the start of an event that may be the usage-only chunk.
            event, tail = bytes(stripper._event), stripper._tail
            assert len(tail) <= 96 and b"\n" not in tail and b"\r" not in tail, (pieces, tail)
            if event:
                assert stripper._at_end and _UNDECIDED.match(event.lstrip(b"\r\n")), (pieces, event)
        total = b"".join(outs) + stripper.finish()
        complete, partial = _event_by_event(data)
        assert total.startswith(complete), (data, pieces)
        assert without_null_usage(total[len(complete) :]) == without_null_usage(partial), (data, pieces)


def test_the_usage_only_chunk_and_null_usage_members_are_taken_out() -> None:
    first = b'data: {"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}],"usage":null}\n\n'
    stream = first + b'data: {"choices":[],"usage":{"prompt_tokens":3}}\n\ndata: [DONE]\n\n'
    stripper = UsageStripper()
    assert stripper.feed(stream[:9]) == stream[:9]  # a choice is not finished: on at once
    assert stripper.feed(stream[9 : len(first) + 9]) == first[9:].replace(b',"usage":null', b"")
    # Every choice has finished: the next event is held until it shows what it is.
    assert stripper.feed(stream[len(first) + 9 : len(first) + 20]) == b""
    assert stripper.feed(stream[len(first) + 20 :]) == b"data: [DONE]\n\n"  # taken out; then on
    assert stripper.finish() == b""


def test_a_stream_of_one_byte_a_second_is_passed_on_as_it_comes() -> None:
    """Each of the upstream's own bytes leaves within HOLD_S of arriving; the usage-only chunk
    the proxy asked for, which comes after the last choice finished, never reaches the agent."""
    data = (FIXTURES / "chat_stream_usage.sse").read_bytes()
    stripper = UsageStripper()
    sent: list[tuple[float, bytes]] = []
    for i, byte in enumerate(data):
        deadline = stripper.deadline
        if deadline is not None and deadline <= i:
            sent.append((deadline, stripper.release(deadline)))
        sent.append((float(i), stripper.feed(bytes([byte]), float(i))))
    sent.append((float(len(data)), stripper.finish()))
    out = b"".join(piece for _, piece in sent)
    usage_event = next(e.raw for e in SseParser().feed(data) if is_usage_only(e))
    assert usage_event not in out and b'"choices":[]' not in out
    assert out.endswith(b"data: [DONE]\n\n")
    # Map every byte passed on to the upstream byte it is and check its delay.
    position = 0
    for at, piece in sent:
        for byte in piece:
            while data[position] != byte or (
                usage_event and data.find(usage_event) <= position < data.find(usage_event) + len(usage_event)
            ):
                position += 1
            assert at - position <= HOLD_S + 1e-9, (position, at)
            position += 1
