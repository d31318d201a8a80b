"""The columnar index's fast scan (a pattern over the writer's line prefix, column by column)
must agree with reading every record in full, on generated traces, across chunk boundaries,
with lines the pattern does not take mixed in; and name file and line for a bad one."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cab_trace.errors import TraceFileError
from cab_trace.model import SpanRecord, encode_record
from cab_trace.model import index as index_module
from cab_trace.model.formats import read_trace
from cab_trace.model.index import SpanIndex, open_index
from replay.probe import LatencyProbe
from tests.strategies import span_records


def _columns(ix: SpanIndex) -> tuple[object, ...]:
    return (
        [ix.trace_ids[t] for t in ix.trace],
        list(ix.sid),
        list(ix.pid),
        list(ix.start),
        list(ix.end),
        ix.kind,
        bytes(ix.error),
    )


@given(records=st.lists(span_records(), min_size=1, max_size=12), chunk=st.integers(64, 4096))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_fast_scan_agrees_with_reading_every_record(
    records: list[SpanRecord], chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "_CHUNK", chunk)  # lines split across reads
    path = tmp_path / "t.jsonl"
    lines = [encode_record(r) for r in records]
    # One line in another writer's key order (the pattern does not take it) and a blank line.
    lines[len(lines) // 2] = (
        orjson.dumps(dict(reversed(orjson.loads(lines[len(lines) // 2]).items()))) + b"\n"
    )
    path.write_bytes(b"".join(lines[:1]) + b"\n" + b"".join(lines[1:]))
    fast = open_index(path)
    slow = SpanIndex.from_records(read_trace(path, structure=False))
    try:
        assert _columns(fast) == _columns(slow)
        for row in range(len(records)):
            assert fast.record(row) == slow.record(row)
    finally:
        fast.close()


def test_a_line_bad_past_its_prefix_is_an_error_naming_its_line_when_read(tmp_path: Path) -> None:
    record = SpanRecord("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", None, "a", "run", 1, 2)
    good = encode_record(record)
    bad = good.replace(b'"attributes":{}', b'"attributes":{"x":null}')
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        good + good.replace(b"00f067aa0ba902b7", b"00f067aa0ba902b8") + bad.replace(b"b7", b"b9")
    )
    ix = open_index(path)
    try:
        assert len(ix) == 3
        with pytest.raises(TraceFileError, match=r"t\.jsonl:3: not a span record: attributes\[\"x\"\]: null"):
            ix.record(2)
    finally:
        ix.close()


def test_a_line_the_pattern_refuses_is_an_error_before_anything_is_shown(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"trace_id": "nope"}\n')
    with pytest.raises(TraceFileError, match=r"t\.jsonl:1: not a span record"):
        open_index(path)


def test_latency_probe_pairs_each_key_with_the_next_frame(tmp_path: Path) -> None:
    now = [10.0]
    log = tmp_path / "latency.jsonl"
    probe = LatencyProbe(log, clock=lambda: now[0])
    probe.frame()  # a frame with no key pending measures nothing
    probe.key("right", 10.0)
    now[0] = 10.004
    probe.frame()
    probe.frame()  # ... and only the first frame after the key counts
    probe.tick()
    now[0] = 10.010
    probe.frame()
    probe.key("down", 10.010)
    probe.key("down", 10.020)  # the first drew nothing before the second: not charged to its frame
    now[0] = 10.025
    probe.frame()
    probe.save()
    samples = [orjson.loads(line) for line in log.read_text().splitlines()]
    assert [s["what"] for s in samples] == ["right", "tick", "down"]
    assert [round(s["ms"], 3) for s in samples] == [4.0, 6.0, 5.0]
