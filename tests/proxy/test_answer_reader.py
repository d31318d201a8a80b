"""The side reader of answers: bounded memory, whatever the answer's size. When the reading is
behind by more than its queue, the oldest bytes go unread, the stream is read on from its next
event, and the record says how much was not read; the end of the stream (usage, the end marker)
is always read. A busy machine that only slows the reading loses nothing that fits."""

from __future__ import annotations

import threading

import orjson

from cab_trace.harness.answer_reader import AnswerReader, Budget
from cab_trace.llm import Api


def _stream(n: int) -> list[bytes]:
    events = [
        b"data: "
        + orjson.dumps({"id": "x", "choices": [{"index": 0, "delta": {"content": f"part {i} "}}]})
        + b"\n\n"
        for i in range(n)
    ]
    events.append(
        b'data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"id":"x","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":50}}\n\n'
        b"data: [DONE]\n\n"
    )
    return events


def _held_reader(queue_bytes: int, budget: Budget | None = None) -> tuple[AnswerReader, threading.Event]:
    """A reader whose thread waits until the test lets it read."""
    reader = AnswerReader(Api.CHAT, "text/event-stream", None, budget or Budget(), queue_bytes=queue_bytes)
    go = threading.Event()
    read = reader._read

    def held(piece: bytes) -> None:
        go.wait(10)
        read(piece)

    reader._read = held  # type: ignore[method-assign]
    return reader, go


def test_a_reader_far_behind_drops_the_oldest_bytes_and_says_so() -> None:
    budget = Budget()
    reader, go = _held_reader(queue_bytes=2_000, budget=budget)
    events = _stream(200)
    for event in events:
        reader.feed(event)
    assert budget.used <= 2_000  # memory: the queue's bound, not the answer's size
    go.set()
    result = reader.result()
    info = result.info
    assert info.unread_bytes > 0 and any("not read" in note for note in result.notes)
    assert info.chunks < len(events) + 2
    # The end is read: usage, the finish reason, the end marker.
    assert info.complete and info.usage is not None and info.usage.output_tokens == 50
    assert info.finish_reasons == ["stop"]
    assert budget.used == 0


def test_a_slow_reader_loses_nothing_that_fits_in_its_queue() -> None:
    reader, go = _held_reader(queue_bytes=1 << 20)
    events = _stream(200)
    for event in events:
        reader.feed(event)
    go.set()
    result = reader.result()
    assert result.info.unread_bytes == 0 and result.info.chunks == 200 + 3
    text = result.info.output_messages[0]["parts"][0]["content"]
    assert text == "".join(f"part {i} " for i in range(200))


def test_the_shared_budget_bounds_all_readers_together() -> None:
    budget = Budget(limit=3_000)
    readers = [_held_reader(queue_bytes=1 << 20, budget=budget) for _ in range(4)]
    for reader, _ in readers:
        for event in _stream(100):
            reader.feed(event)
    assert budget.used <= 3_000
    for reader, go in readers:
        go.set()
        result = reader.result()
        # What a reader could not queue (the others held the budget) it says it did not read.
        assert result.info.complete or result.info.unread_bytes > 0
    assert readers[0][0].result().info.complete  # the first kept its newest bytes: its end
    assert budget.used == 0
