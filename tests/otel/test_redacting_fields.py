"""Every field of an SDK span goes through the redacting processor: the test enumerates
``ReadableSpan``'s constructor, fills every field that can hold a string with a secret, and
looks for the secret anywhere in what comes out (and in the JSONL and OTLP forms of it).
A field added to the SDK (or one this test does not know how to fill) fails it."""

from __future__ import annotations

import inspect
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from cab_trace.otel.convert import span_to_record
from cab_trace.otel.redacting import RedactingSpanProcessor
from cab_trace.redact import Redactor

KEY = "opaque-secret-Zq81xWlPA0cR5nTu2Ye7"
CTX = SpanContext(
    0x4BF92F3577B34DA6A3CE929D0E0E4736,
    0x00F067AA0BA902B7,
    False,
    TraceFlags(1),
    TraceState([("vendor", "key-" + KEY.replace("_", "-")[-20:]), ("other", "fine")]),
)

#: How to fill each constructor parameter so that every string in it is the secret.
FILLERS: dict[str, Any] = {
    "name": f"span {KEY}",
    "context": CTX,
    "parent": CTX,
    "resource": Resource({"service.name": KEY, KEY: "v"}, schema_url=f"https://schemas/{KEY}"),
    "attributes": {"a": KEY, KEY: "b", "argv": ("--api-key", KEY), "n": 1},
    "events": [Event(f"ev {KEY}", {"e": KEY}, 1)],
    "links": [Link(CTX, {"l": KEY})],
    "kind": SpanKind.CLIENT,
    "status": Status(StatusCode.ERROR, f"failed {KEY}"),
    "start_time": 1,
    "end_time": 2,
    "instrumentation_scope": InstrumentationScope(
        f"agent-scope-{KEY}", f"1.0+{KEY}", f"https://schemas/{KEY}", {"s": KEY}
    ),
}
#: Parameters that are deprecated aliases of others (the SDK maps them onto the field above).
ALIASES = {"instrumentation_info": "instrumentation_scope"}


def _strings(value: Any, seen: set[int] | None = None) -> list[str]:
    """Every string reachable from ``value`` (attributes, slots, containers)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    if isinstance(value, dict) or hasattr(value, "items"):
        try:
            items = list(value.items())
        except TypeError:
            items = []
        return [s for k, v in items for s in _strings(k, seen) + _strings(v, seen)]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for v in value for s in _strings(v, seen)]
    if isinstance(value, int | float | bool) or value is None:
        return []
    out: list[str] = []
    names = set(getattr(value, "__dict__", {})) | {
        slot for cls in type(value).__mro__ for slot in getattr(cls, "__slots__", ())
    }
    for name in names:
        try:
            out.extend(_strings(getattr(value, name), seen))
        except AttributeError:
            continue
    return out


def test_every_constructor_field_of_a_span_is_filled_by_this_test() -> None:
    params = [p for p in inspect.signature(ReadableSpan.__init__).parameters if p != "self"]
    unknown = [p for p in params if p not in FILLERS and p not in ALIASES]
    assert not unknown, f"ReadableSpan has new fields this test (and the redactor) must cover: {unknown}"


def test_no_field_of_a_redacted_span_holds_the_secret() -> None:
    span = ReadableSpan(**FILLERS)
    assert any(KEY in s for s in _strings(span))  # the filler reaches the span
    redacted = RedactingSpanProcessor(Redactor([KEY]), []).redact_span(span)
    leaked = [s for s in _strings(redacted) if KEY in s or KEY[-20:] in s]
    assert leaked == []
    assert redacted.instrumentation_scope is not None
    assert "[REDACTED]" in redacted.instrumentation_scope.name
    assert dict(redacted.context.trace_state) == {"other": "fine"}  # type: ignore[union-attr]
    record = span_to_record(redacted)
    assert KEY not in str(record.to_json_obj())
