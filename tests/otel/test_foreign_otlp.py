"""Round-trip properties for OTLP/JSON written by other tools: whatever a valid ``TracesData``
holds (schema URLs, scope attributes, dropped counts, trace state, flags, bytes, key-value lists,
mixed and nested arrays, NaN, empty values, enum names, integers as numbers or strings), reading
it and writing it back gives the same protobuf messages, compared through opentelemetry-proto's
own ``TracesData`` and the protobuf JSON mapping (not through our reader)."""

from __future__ import annotations

import base64
import io
import math
from collections import Counter
from typing import Any

import orjson
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from cab_trace.model.formats import records_from_traces_data
from cab_trace.model.otlp_json import write_otlp_lines

hexes = st.text("0123456789abcdefABCDEF", min_size=1, max_size=1)
trace_ids = st.text("0123456789abcdef", min_size=32, max_size=32).filter(lambda s: s.strip("0"))
span_ids = st.text("0123456789abcdef", min_size=16, max_size=16).filter(lambda s: s.strip("0"))
int64 = st.integers(-(2**63), 2**63 - 1)
uint32 = st.integers(0, 2**32 - 1)
small_text = st.text(max_size=12)


def _any_values(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    leaves = st.one_of(
        small_text.map(lambda s: {"stringValue": s}),
        st.booleans().map(lambda b: {"boolValue": b}),
        int64.map(lambda i: {"intValue": str(i)}),
        st.integers(-(2**53), 2**53).map(lambda i: {"intValue": i}),  # a JSON number, also valid
        st.floats(allow_nan=False, allow_infinity=False).map(lambda f: {"doubleValue": f}),
        st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(lambda f: {"doubleValue": f}),
        st.binary(max_size=8).map(lambda b: {"bytesValue": base64.b64encode(b).decode()}),
        st.just({}),
    )
    if depth == 0:
        return leaves
    inner = _any_values(depth - 1)
    return st.one_of(
        leaves,
        st.lists(inner, max_size=3).map(lambda vs: {"arrayValue": {"values": vs}}),
        st.dictionaries(small_text, inner, max_size=3).map(
            lambda d: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in d.items()]}}
        ),
    )


def _attributes() -> st.SearchStrategy[list[dict[str, Any]]]:
    # Keys are unique within a list (the OTLP spec requires it); cab.kind is ours.
    return st.dictionaries(small_text.filter(lambda k: k != "cab.kind"), _any_values(), max_size=4).map(
        lambda d: [{"key": k, "value": v} for k, v in d.items()]
    )


@st.composite
def _span(draw: st.DrawFn, trace_id: str) -> dict[str, Any]:
    start = draw(st.integers(0, 2**63))
    span: dict[str, Any] = {
        "traceId": draw(st.sampled_from([trace_id, trace_id.upper()])),
        "spanId": draw(span_ids),
        "name": draw(small_text),
        "kind": draw(st.sampled_from([0, 1, 2, 3, 4, 5, "SPAN_KIND_SERVER", "SPAN_KIND_INTERNAL"])),
        "startTimeUnixNano": draw(st.sampled_from([str(start), start])),
        "endTimeUnixNano": str(start + draw(st.integers(0, 10**12))),
        "attributes": draw(_attributes()),
        "status": draw(
            st.fixed_dictionaries(
                {}, optional={"code": st.sampled_from([0, 1, 2, "STATUS_CODE_ERROR"]), "message": small_text}
            )
        ),
    }
    optional = {
        "parentSpanId": span_ids,
        "traceState": small_text,
        "flags": uint32,
        "droppedAttributesCount": uint32,
        "droppedEventsCount": uint32,
        "droppedLinksCount": uint32,
        "events": st.lists(
            st.fixed_dictionaries(
                {
                    "timeUnixNano": st.integers(0, 2**64 - 1).map(str),
                    "name": small_text,
                    "attributes": _attributes(),
                },
                optional={"droppedAttributesCount": uint32},
            ),
            max_size=2,
        ),
        "links": st.lists(
            st.fixed_dictionaries(
                {"traceId": trace_ids, "spanId": span_ids, "attributes": _attributes()},
                optional={"traceState": small_text, "flags": uint32, "droppedAttributesCount": uint32},
            ),
            max_size=2,
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            span[key] = draw(strategy)
    return span


@st.composite
def traces_data(draw: st.DrawFn) -> dict[str, Any]:
    trace_id = draw(trace_ids)
    resource_spans = []
    for _ in range(draw(st.integers(1, 2))):
        scope_spans = []
        for _ in range(draw(st.integers(1, 2))):
            scope = draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": small_text,
                        "version": small_text,
                        "attributes": _attributes(),
                        "droppedAttributesCount": uint32,
                    },
                )
            )
            entry: dict[str, Any] = {
                "scope": scope,
                "spans": draw(st.lists(_span(trace_id), min_size=1, max_size=3)),
            }
            if draw(st.booleans()):
                entry["schemaUrl"] = draw(small_text)
            scope_spans.append(entry)
        resource = draw(
            st.fixed_dictionaries({"attributes": _attributes()}, optional={"droppedAttributesCount": uint32})
        )
        rs: dict[str, Any] = {"resource": resource, "scopeSpans": scope_spans}
        if draw(st.booleans()):
            rs["schemaUrl"] = draw(small_text)
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _proto(document: dict[str, Any]) -> TracesData:
    """OTLP/JSON into opentelemetry-proto's TracesData: OTLP writes ids as hex where the plain
    protobuf JSON mapping has base64, so those (and only those) are converted first."""

    def ids_to_base64(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode()
                if k in _ID_FIELDS and isinstance(v, str)
                else ids_to_base64(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [ids_to_base64(x) for x in node]
        return node

    return json_format.ParseDict(ids_to_base64(document), TracesData())


def _triples(messages: list[TracesData]) -> Counter[bytes]:
    """Every span with its resource and scope, as deterministic bytes: grouping may differ."""
    out: Counter[bytes] = Counter()
    for message in messages:
        for rs in message.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    out[
                        b"|".join(
                            [
                                rs.resource.SerializeToString(deterministic=True),
                                rs.schema_url.encode(),
                                ss.scope.SerializeToString(deterministic=True),
                                ss.schema_url.encode(),
                                span.SerializeToString(deterministic=True),
                            ]
                        )
                    ] += 1
    return out


@given(document=traces_data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_foreign_otlp_json_round_trip_is_the_same_protobuf(document: dict[str, Any]) -> None:
    text = orjson.dumps(document)
    records = list(records_from_traces_data(orjson.loads(text)))
    out = io.BytesIO()
    write_otlp_lines(records, out)
    written = [_proto(orjson.loads(line)) for line in out.getvalue().splitlines()]
    assert _triples(written) == _triples([_proto(orjson.loads(text))])


def test_nan_survives_as_nan() -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                                "spanId": "00f067aa0ba902b7",
                                "attributes": [{"key": "x", "value": {"doubleValue": "NaN"}}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    (record,) = records_from_traces_data(document)
    assert math.isnan(record.attributes["x"])  # type: ignore[arg-type]
    assert _triples([_proto(document)]) == _triples([_proto(orjson.loads(orjson.dumps(document)))])
