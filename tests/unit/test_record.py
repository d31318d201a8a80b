"""The span record: round trips, and agreement with the published JSON Schema."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings

from cab_trace.model import RecordError, SpanRecord, encode_record
from tests.strategies import span_records

GOOD = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "parent_span_id": None,
    "name": "run:demo",
    "kind": "run",
    "span_kind": "INTERNAL",
    "start_time_unix_nano": 1_700_000_000_000_000_000,
    "end_time_unix_nano": 1_700_000_001_000_000_000,
    "status": {"code": "OK", "message": ""},
    "attributes": {"argv": ["--model", "m"], "exit_code": 0, "timed_out": False, "duration_s": 1.5},
    "events": [{"name": "e", "time_unix_nano": 1_700_000_000_500_000_000, "attributes": {}}],
    "links": [],
    "resource": {"service.name": "cab-trace"},
    "scope": {"name": "cab_trace", "version": "0.1.0"},
}


@given(record=span_records())
@settings(max_examples=200)
def test_round_trip_through_a_json_line(record: SpanRecord) -> None:
    line = encode_record(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert SpanRecord.from_json_obj(orjson.loads(line)) == record


@given(record=span_records())
@settings(max_examples=200)
def test_every_generated_record_validates_against_the_schema(record: SpanRecord, schema_validator) -> None:
    errors = list(schema_validator.iter_errors(orjson.loads(encode_record(record))))
    assert errors == []


def test_the_reference_record_is_valid_in_both(schema_validator) -> None:
    schema_validator.validate(GOOD)
    assert SpanRecord.from_json_obj(GOOD).name == "run:demo"


def _mutate(path: tuple, value):
    obj = copy.deepcopy(GOOD)
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


BAD = [
    ((("trace_id",), "4BF92F3577B34DA6A3CE929D0E0E4736"), "trace_id must be 32 lowercase hex"),
    ((("trace_id",), "0" * 32), "all zeros"),
    ((("span_id",), "85b6b970d1234ede927d3aadd1c124b7"), "span_id must be 16 lowercase hex"),
    ((("parent_span_id",), KeyError), "missing field 'parent_span_id'"),
    ((("parent_span_id",), "xyz"), "parent_span_id must be 16"),
    ((("name",), 3), "name must be a string"),
    ((("kind",), KeyError), "missing field 'kind'"),
    ((("span_kind",), "internal"), "span_kind must be one of"),
    ((("start_time_unix_nano",), -1), "start_time_unix_nano must be a non-negative integer"),
    ((("end_time_unix_nano",), 1.5), "end_time_unix_nano must be a non-negative integer"),
    ((("status", "code"), "FAILED"), "status.code must be one of"),
    ((("status", "message"), None), "status.message must be a string"),
    ((("attributes",), []), "attributes must be a JSON object"),
    ((("attributes", "x"), None), 'attributes["x"]: null is not an attribute value'),
    ((("attributes", "x"), {"a": 1}), 'attributes["x"]: unknown AnyValue field'),
    ((("attributes", "x"), {"intValue": "x1"}), 'attributes["x"]: intValue'),
    ((("attributes", "x"), {"bytesValue": "!!"}), "is not base64"),
    ((("attributes", "x"), ["a", 1]), "list mixes str and number"),
    ((("attributes", "x"), [True, "a"]), "list mixes bool and str"),
    ((("attributes", "x"), [["a"]]), "lists may hold only"),
    ((("events", 0, "time_unix_nano"), "now"), "events[0].time_unix_nano must be"),
    ((("events", 0, "attributes"), KeyError), "missing field 'events[0].attributes'"),
    ((("links",), [{"trace_id": "a" * 32, "span_id": "b" * 15, "attributes": {}}]), "links[0].span_id"),
    ((("resource",), {"k": [1, "x"]}), "resource"),
    ((("scope", "version"), 3), "scope.version must be a string or null"),
    ((("extra",), 1), "unknown field 'extra'"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _, m in BAD])
def test_invalid_records_are_rejected_by_both_model_and_schema(change, message, schema_validator) -> None:
    obj = _mutate(*change)
    with pytest.raises(RecordError, match=__import__("re").escape(message)):
        SpanRecord.from_json_obj(obj)
    assert list(schema_validator.iter_errors(obj)), "the schema accepted what the model rejects"


def test_end_before_start_is_rejected_by_the_model() -> None:
    # JSON Schema cannot compare two fields; the reader and `validate` check it through the model.
    obj = _mutate(("end_time_unix_nano",), GOOD["start_time_unix_nano"] - 1)
    with pytest.raises(RecordError, match="is before start_time_unix_nano"):
        SpanRecord.from_json_obj(obj)


def test_ints_beyond_64_bits_are_rejected() -> None:
    with pytest.raises(RecordError, match="does not fit in 64 bits"):
        SpanRecord.from_json_obj(_mutate(("attributes", "n"), 2**63))


# The reader's fast path must accept exactly what the thorough checks accept: every place in
# generated records, replaced by each of these values or deleted, gets the same verdict.
_MUTANTS = [None, True, 0, 2, -1, 2**64, 2**63, 1.5, float("nan"), "", "x", "0" * 16, "0" * 32, "INTERNAL",
            "ERROR", [], [1, "a"], [1.5, 2], ["a"], {}, {"a": 1}]  # fmt: skip


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _mutants(obj):
    for path in _paths(obj):
        if not path:
            continue
        for value in [*_MUTANTS, "delete"]:
            copy_ = orjson.loads(orjson.dumps(obj))
            target = copy_
            for key in path[:-1]:
                target = target[key]
            if value != "delete":
                target[path[-1]] = value
            elif isinstance(target, dict):
                del target[path[-1]]
            else:
                continue
            yield path, value, copy_


@settings(max_examples=25, deadline=None)  # each example checks hundreds of mutants
@given(record=span_records())
def test_fast_and_thorough_checks_agree(record) -> None:
    from cab_trace.model.record import _fast_record

    obj = record.to_json_obj()
    for path, value, mutant in _mutants(orjson.loads(orjson.dumps(obj))):
        fast = _fast_record(mutant)
        try:
            thorough = SpanRecord._checked(mutant)
        except RecordError:
            assert fast is None, (path, value)
        else:
            assert fast is None or fast == thorough, (path, value)
