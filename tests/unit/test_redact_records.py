"""``redact_record`` covers every field of the record model: the test enumerates the
dataclass fields of SpanRecord (and of the records inside it), fills every string with a
secret, and finds none after redaction. A new field it cannot fill fails it."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from cab_trace.model import Event, Link, Scope, SpanRecord, Status, encode_record
from cab_trace.redact import Redactor
from cab_trace.redact.records import redact_record

KEY = "opaque-secret-Zq81xWlPA0cR5nTu2Ye7"
ATTRS = {"a": KEY, KEY: "b", "argv": ["--api-key", KEY], "n": 1}
#: A value for every field, holding the secret wherever a string can be. Ids and times are
#: checked for their form by the model (hex, integers): no string can hide there.
FILLERS: dict[str, Any] = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "parent_span_id": "00f067aa0ba902b8",
    "name": f"span {KEY}",
    "kind": f"kind-{KEY}",
    "start_time_unix_nano": 1,
    "end_time_unix_nano": 2,
    "span_kind": "CLIENT",
    "status": Status("ERROR", f"failed {KEY}"),
    "attributes": ATTRS,
    "events": [Event(f"ev {KEY}", 1, ATTRS)],
    "links": [Link("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", ATTRS)],
    "resource": ATTRS,
    "scope": Scope(f"agent-scope-{KEY}", f"1.0+{KEY}"),
}
NESTED = {Status: {"code", "message"}, Event: {"name", "time_unix_nano", "attributes"},
          Link: {"trace_id", "span_id", "attributes"}, Scope: {"name", "version"}}  # fmt: skip


def test_the_test_knows_every_field_of_the_record_model() -> None:
    fields = {f.name for f in dataclasses.fields(SpanRecord)}
    assert fields == set(FILLERS), f"new or removed fields: {fields ^ set(FILLERS)}"
    for cls, known in NESTED.items():
        assert {f.name for f in dataclasses.fields(cls)} == known, cls.__name__


def test_no_field_of_a_redacted_record_holds_the_secret() -> None:
    record = SpanRecord(**FILLERS)
    assert KEY.encode() in encode_record(record)
    redacted = redact_record(record, Redactor([KEY]))
    line = encode_record(redacted)
    assert KEY.encode() not in line
    assert SpanRecord.from_json_obj(orjson.loads(line)) == redacted  # still a valid record
    assert redacted.scope.name == "agent-scope-[REDACTED]"
