"""`validate` checks a line with the record model's fast path and only asks the JSON Schema
validator about lines the model refuses: the two must agree. Generated records with every
optional OTLP field and every kind of attribute value are valid in both."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cab_trace.model import Event, JsonlWriter, Link, Scope, SpanRecord, encode_record
from cab_trace.model.record import fast_check
from cab_trace.model.structure import StructureCheck
from cab_trace.validate import validate_file
from tests.strategies import span_records

uint32 = st.integers(0, 2**32 - 1)
any_values = st.recursive(
    st.none()
    | st.binary(max_size=6)
    | st.sampled_from([math.nan, math.inf, -math.inf])
    | st.text(max_size=5)
    | st.integers(-(2**63), 2**63 - 1),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
foreign_attributes = st.dictionaries(st.text(max_size=6), any_values, max_size=3)


@st.composite
def foreign_records(draw: st.DrawFn) -> SpanRecord:
    r = draw(span_records())
    return replace(
        r,
        attributes={**r.attributes, **draw(foreign_attributes)},
        events=[replace(e, dropped_attributes_count=draw(uint32)) for e in r.events]
        + draw(st.lists(st.builds(Event, st.just("e"), st.just(5), foreign_attributes, uint32), max_size=1)),
        links=[replace(lk, trace_state=draw(st.text(max_size=5)), flags=draw(uint32)) for lk in r.links]
        + draw(
            st.lists(
                st.builds(
                    Link,
                    st.just("1" * 32),
                    st.just("2" * 16),
                    foreign_attributes,
                    st.text(max_size=3),
                    uint32,
                ),
                max_size=1,
            )
        ),
        scope=Scope(
            r.scope.name, r.scope.version, draw(foreign_attributes), draw(uint32), draw(st.text(max_size=5))
        ),
        trace_state=draw(st.text(max_size=8)),
        flags=draw(uint32),
        dropped_attributes_count=draw(uint32),
        dropped_events_count=draw(uint32),
        dropped_links_count=draw(uint32),
        resource_schema_url=draw(st.text(max_size=8)),
        resource_dropped_attributes_count=draw(uint32),
    )


@given(record=foreign_records())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_model_and_schema_agree_on_generated_lines(record: SpanRecord, schema_validator) -> None:
    line = encode_record(record)
    obj = orjson.loads(line)
    assert list(schema_validator.iter_errors(obj)) == []
    again = SpanRecord.from_json_obj(obj)
    assert encode_record(again) == line  # and the line reads back to the same record


@given(records=st.lists(foreign_records(), min_size=1, max_size=6))
@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_validate_is_ok_on_generated_records_and_warns_on_duplicates(
    records: list[SpanRecord], tmp_path: Path
) -> None:
    path = tmp_path / "t.jsonl"
    path.unlink(missing_ok=True)  # tmp_path outlives one example; the writer appends
    writer = JsonlWriter(path)
    writer.write([*records, records[0]])
    writer.close()
    report = validate_file(path)
    assert report.ok, report.problems
    assert report.spans == len(records) + 1
    assert any("repeat a span id" in w for w in report.warnings)


# -- the fast path never takes a line the schema refuses ----------------------------------------

_BAD_VALUES = st.sampled_from(
    [
        None,
        "",
        "0" * 16,
        "0" * 32,
        "G" * 16,
        "A" * 32,
        1,
        -1,
        2**64,
        2**63,
        True,
        1.5,
        [],
        {},
        ["a", 1],
        [True, "a"],
        "x",
    ]
)
_PATHS = st.sampled_from(
    [
        ("trace_id",),
        ("span_id",),
        ("parent_span_id",),
        ("name",),
        ("kind",),
        ("span_kind",),
        ("start_time_unix_nano",),
        ("end_time_unix_nano",),
        ("status",),
        ("status", "code"),
        ("status", "message"),
        ("status", "extra"),
        ("scope",),
        ("scope", "name"),
        ("scope", "version"),
        ("scope", "extra"),
        ("attributes", "a"),
        ("resource", "a"),
        ("attributes",),
        ("events",),
        ("links",),
    ]
)


@given(record=span_records(), path=_PATHS, value=_BAD_VALUES, drop=st.booleans())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_fast_check_takes_no_line_the_schema_refuses(
    record: SpanRecord, path: tuple[str, ...], value: object, drop: bool, schema_validator
) -> None:
    obj = orjson.loads(encode_record(record))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if drop:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    if fast_check(obj):
        assert list(schema_validator.iter_errors(obj)) == []
        SpanRecord.from_json_obj(obj)


# -- the shape check fed column-wise says what it says span by span ------------------------------

_IDS = st.sampled_from(["0000000000000001", "0000000000000002", "0000000000000003", "00000000000000ff"])


@given(
    spans=st.lists(
        st.tuples(st.sampled_from(["a" * 32, "b" * 32]), _IDS, st.none() | st.just("") | _IDS), max_size=12
    ),
    cuts=st.lists(st.integers(0, 12), max_size=3),
)
def test_shape_check_by_columns_agrees_with_span_by_span(
    spans: list[tuple[str, str, str | None]], cuts: list[int]
) -> None:
    one = StructureCheck()
    for t, s, p in spans:
        one.add(t, s, p)
    many = StructureCheck()
    bounds = [0, *sorted(cuts), len(spans)]
    for lo, hi in pairwise(bounds):
        chunk = spans[lo:hi]
        many.add_columns([c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk])
    assert many.warnings() == one.warnings()
