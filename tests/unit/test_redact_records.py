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
ATTRS = {
    "a": KEY,
    KEY: "b",
    "argv": ["--api-key", KEY],
    "n": 1,
    # What OTLP/JSON carries besides (bytesValue, kvlistValue, mixed and nested arrays).
    "bytes": f"raw {KEY}".encode(),
    "kvlist": {"inner": KEY, KEY: [1, KEY], "deep": {"x": KEY}},
    "mixed": [1, KEY, {"k": KEY}],
}
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
    "links": [Link("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", ATTRS, f"v=1,k={KEY}", 1, 2)],
    "resource": ATTRS,
    "scope": Scope(f"agent-scope-{KEY}", f"1.0+{KEY}", ATTRS, 3, f"https://s.example/{KEY}"),
    "trace_state": f"vendor=ok,leak={KEY}",
    "flags": 257,
    "dropped_attributes_count": 4,
    "dropped_events_count": 5,
    "dropped_links_count": 6,
    "resource_schema_url": f"https://schemas.example/{KEY}",
    "resource_dropped_attributes_count": 7,
}
NESTED = {
    Status: {"code", "message"},
    Event: {"name", "time_unix_nano", "attributes", "dropped_attributes_count"},
    Link: {"trace_id", "span_id", "attributes", "trace_state", "flags", "dropped_attributes_count"},
    Scope: {"name", "version", "attributes", "dropped_attributes_count", "schema_url"},
}


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
    assert redacted.trace_state == "vendor=ok"  # the entry holding the secret is dropped, not marked
    assert redacted.attributes["kvlist"] == {
        "inner": "[REDACTED]",
        "[REDACTED]": [1, "[REDACTED]"],
        "deep": {"x": "[REDACTED]"},
    }
    assert redacted.attributes["bytes"] == b"raw [REDACTED]"
