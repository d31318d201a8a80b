"""Hypothesis strategies for span records: unicode, empty and huge attributes, lists, events,
error status, several traces."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from cab_trace.model import Event, Link, Scope, SpanRecord, Status

hex32 = st.text("0123456789abcdef", min_size=32, max_size=32).filter(lambda s: s != "0" * 32)
hex16 = st.text("0123456789abcdef", min_size=16, max_size=16).filter(lambda s: s != "0" * 16)
int64 = st.integers(-(2**63), 2**63 - 1)
finite = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=40) | st.text(min_size=1, max_size=8).map(lambda s: s * 500)  # huge values too
scalars = texts | st.booleans() | int64 | finite
values = (
    scalars
    | st.lists(texts, max_size=5)
    | st.lists(st.booleans(), max_size=5)
    | st.lists(int64, max_size=5)
    | st.lists(finite, max_size=5)
)
# "cab.kind" is where other formats carry our `kind`; a record never holds it as an attribute.
attributes = st.dictionaries(st.text(max_size=20).filter(lambda k: k != "cab.kind"), values, max_size=6)
times = st.integers(0, 2**63)


@st.composite
def span_records(draw: st.DrawFn, trace_id: str | None = None) -> SpanRecord:
    start = draw(times)
    end = start + draw(st.integers(0, 10**12))
    return SpanRecord(
        trace_id=trace_id or draw(hex32),
        span_id=draw(hex16),
        parent_span_id=draw(st.none() | hex16),
        name=draw(texts),
        kind=draw(
            st.sampled_from(["run", "task_setup", "adapter_run", "tool_call", "container", "cleanup"])
            | st.text(max_size=10)
        ),
        span_kind=draw(st.sampled_from(["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"])),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status=Status(draw(st.sampled_from(["UNSET", "OK", "ERROR"])), draw(texts)),
        attributes=draw(attributes),
        events=draw(st.lists(st.builds(Event, texts, times, attributes), max_size=3)),
        links=draw(st.lists(st.builds(Link, hex32, hex16, attributes), max_size=2)),
        resource=draw(attributes),
        scope=Scope(draw(st.text(max_size=10)), draw(st.none() | st.text(max_size=5))),
    )


@st.composite
def traces(draw: st.DrawFn) -> list[SpanRecord]:
    """Several traces of a few spans each, with unique span ids and real parent links."""
    records: list[SpanRecord] = []
    used: set[str] = set()
    for trace_id in draw(st.lists(hex32, min_size=1, max_size=3, unique=True)):
        ids: list[str] = []
        for _ in range(draw(st.integers(1, 4))):
            record = draw(span_records(trace_id=trace_id))
            span_id = draw(hex16.filter(lambda s: s not in used))
            used.add(span_id)
            parent = draw(st.sampled_from(ids)) if ids and draw(st.booleans()) else None
            records.append(replace(record, span_id=span_id, parent_span_id=parent))
            ids.append(span_id)
    return records
