"""The GenAI attributes cab-trace records, checked against the conventions' own JSON schemas
(tests/fixtures/semconv/, copied from the OpenTelemetry repositories) for every provider format,
request and response, JSON and stream; and the attributes the conventions name that the
recorder used to miss (request parameters, output type, tool description)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from cab_trace.llm import (
    Api,
    CallRecord,
    ResponseAccumulator,
    ToolStepTracker,
    call_attributes,
    parse_request,
)
from cab_trace.llm.call import request_hash
from cab_trace.llm.parts import well_known_finish
from cab_trace.llm.tools import tool_step_attributes

ROOT = Path(__file__).resolve().parents[1] / "fixtures"
SCHEMAS = {
    "gen_ai.input.messages": "gen-ai-input-messages.json",
    "gen_ai.output.messages": "gen-ai-output-messages.json",
    "gen_ai.tool.definitions": "gen-ai-tool-definitions.json",
    "gen_ai.system_instructions": "gen-ai-system-instructions.json",
}
GEMINI_PATH = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


def problems(attribute: str, value: Any) -> list[str]:
    """What the schema finds, and more: a part whose ``type`` is one the schema defines must
    match that definition. The schema alone takes any part with a ``type`` (its ``GenericPart``
    is for types it does not know), so a ``tool_call_response`` without ``response`` would
    pass it; consumers read parts by their type, and so does this check."""
    schema = json.loads((ROOT / "semconv" / SCHEMAS[attribute]).read_text("utf-8"))
    found = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(value)]
    by_type = {
        d["properties"]["type"]["const"]: name
        for name, d in schema.get("$defs", {}).items()
        if isinstance(d.get("properties", {}).get("type", {}).get("const"), str)
    }
    parts = (
        [p for m in value if isinstance(m, dict) for p in m.get("parts", [])]
        if "messages" in attribute
        else []
    )
    items = parts if parts else (value if attribute == "gen_ai.system_instructions" else [])
    for part in items:
        name = by_type.get(part.get("type")) if isinstance(part, dict) else None
        if name is not None:
            sub = Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{name}"})
            found += [f"{part.get('type')} part: {e.message}" for e in sub.iter_errors(part)]
    return found


def fixture(name: str) -> bytes:
    return (ROOT / "llm" / name).read_bytes()


def _response(api: Api, name: str) -> ResponseAccumulator:
    acc = ResponseAccumulator(api)
    if name.endswith(".sse"):
        acc.feed_bytes(fixture(name))
    else:
        acc.feed_json(fixture(name))
    return acc


def _call(
    api: Api, body: bytes, acc: ResponseAccumulator, path: str = "/v1/x", status: int = 200
) -> CallRecord:
    return CallRecord(
        api=api,
        method="POST",
        path=path,
        server_address="127.0.0.1",
        server_port=8000,
        request_body_sha256=request_hash(body),
        request=parse_request(api, body, path),
        start_ns=1_000_000_000,
        end_ns=1_250_000_000,
        status=status,
        response=acc.info,
        index=1,
    )


CASES = [
    (Api.CHAT, "chat_request.json", "chat_response.json", "/v1/chat/completions"),
    (Api.CHAT, "chat_request.json", "chat_stream_usage.sse", "/v1/chat/completions"),
    (Api.CHAT, "chat_request.json", "chat_stream_no_usage.sse", "/v1/chat/completions"),
    (Api.RESPONSES, "responses_request.json", "responses_response.json", "/v1/responses"),
    (Api.RESPONSES, "responses_request.json", "responses_stream.sse", "/v1/responses"),
    (Api.ANTHROPIC, "anthropic_request.json", "anthropic_response.json", "/v1/messages"),
    (Api.ANTHROPIC, "anthropic_request.json", "anthropic_stream.sse", "/v1/messages"),
    (Api.GEMINI, "gemini_request.json", "gemini_stream.sse", GEMINI_PATH),
]


@pytest.mark.parametrize(("api", "request_file", "response_file", "path"), CASES)
def test_recorded_content_matches_the_conventions_schemas(
    api: Api, request_file: str, response_file: str, path: str
) -> None:
    attrs = call_attributes(_call(api, fixture(request_file), _response(api, response_file), path))
    checked = 0
    for attribute in SCHEMAS:
        if attribute not in attrs:
            continue
        value = orjson.loads(attrs[attribute])
        errors = problems(attribute, value)
        assert not errors, f"{api.value} {attribute}: {errors[:3]}"
        checked += 1
    # every fixture pair has input and output messages and tools
    assert {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.definitions"} <= set(attrs)
    assert checked >= 3
    reasons = attrs.get("gen_ai.response.finish_reasons", [])
    for i, message in enumerate(orjson.loads(attrs["gen_ai.output.messages"])):
        # deprecated inside messages, but required by consumers of the earlier schema: the
        # conventions' well-known value of the API's reason, "" when it gave none
        assert message["finish_reason"] == (well_known_finish(reasons[i]) if i < len(reasons) else "")


def test_the_schemas_refuse_what_older_versions_wrote() -> None:
    """The test can fail: the shapes cab-trace wrote before are refused by these schemas."""
    old_result = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": "ok"}]}]
    assert problems("gen_ai.input.messages", old_result)
    nested = [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}]
    assert problems("gen_ai.tool.definitions", nested)
    null_id = [{"role": "assistant", "parts": [{"type": "tool_call", "id": None, "name": "read"}]}]
    assert problems("gen_ai.input.messages", null_id)
    good = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "ok"}]}]
    assert not problems("gen_ai.input.messages", good)


def _tool_results(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        part
        for message in orjson.loads(attrs["gen_ai.input.messages"])
        for part in message["parts"]
        if part["type"] == "tool_call_response"
    ]


@pytest.mark.parametrize(("api", "request_file", "response_file", "path"), [*CASES[::2], CASES[-1]])
def test_tool_results_are_under_response_and_tools_are_flat(
    api: Api, request_file: str, response_file: str, path: str
) -> None:
    attrs = call_attributes(_call(api, fixture(request_file), _response(api, response_file), path))
    results = _tool_results(attrs)
    assert results and all("response" in p and "result" not in p for p in results)
    for tool in orjson.loads(attrs["gen_ai.tool.definitions"]):
        assert tool["type"] == "function" and isinstance(tool["name"], str) and "function" not in tool
        assert isinstance(tool.get("parameters"), dict)


def test_gemini_function_responses_stay_objects_and_calls_without_ids_have_none() -> None:
    req = parse_request(Api.GEMINI, fixture("gemini_request.json"), GEMINI_PATH)
    call = req.input_messages[1]["parts"][0]
    assert call["type"] == "tool_call" and "id" not in call  # Gemini gave none: left out, not null
    result = req.input_messages[2]["parts"][0]
    assert result["response"] == {"output": "def greet(name):"} and result["name"] == "read_file"


# -- request parameters and output type ---------------------------------------------------------


def _attrs(api: Api, body: dict[str, Any], path: str = "/v1/x") -> dict[str, Any]:
    raw = orjson.dumps(body)
    return call_attributes(_call(api, raw, ResponseAccumulator(api), path))


def test_chat_request_parameters() -> None:
    attrs = _attrs(
        Api.CHAT,
        {
            "model": "m",
            "messages": [],
            "seed": 7,
            "stop": "END",
            "frequency_penalty": 0.5,
            "presence_penalty": -0.25,
            "n": 2,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        },
    )
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.request.stop_sequences"] == ["END"]
    assert attrs["gen_ai.request.frequency_penalty"] == 0.5
    assert attrs["gen_ai.request.presence_penalty"] == -0.25
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.output.type"] == "json"
    plain = _attrs(Api.CHAT, {"model": "m", "messages": [], "n": 1})
    assert not [k for k in plain if k.startswith("gen_ai.request.") and k.split(".")[-1] in ("seed", "count")]
    assert "gen_ai.output.type" not in plain  # no output format asked for: not set


def test_anthropic_gemini_and_responses_parameters() -> None:
    anthropic = _attrs(
        Api.ANTHROPIC,
        {"model": "c", "max_tokens": 5, "messages": [], "top_k": 40, "stop_sequences": ["x", "y"]},
    )
    assert anthropic["gen_ai.request.top_k"] == 40.0 and anthropic["gen_ai.request.stop_sequences"] == [
        "x",
        "y",
    ]
    gemini = _attrs(
        Api.GEMINI,
        {
            "contents": [],
            "generationConfig": {
                "topK": 3,
                "seed": 11,
                "stopSequences": ["STOP!"],
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.2,
                "candidateCount": 1,
                "responseMimeType": "application/json",
            },
        },
        GEMINI_PATH,
    )
    assert (gemini["gen_ai.request.top_k"], gemini["gen_ai.request.seed"]) == (3.0, 11)
    assert gemini["gen_ai.request.stop_sequences"] == ["STOP!"] and gemini["gen_ai.output.type"] == "json"
    assert "gen_ai.request.choice.count" not in gemini  # 1 is the default: left out
    responses = _attrs(Api.RESPONSES, {"model": "g", "input": "hi", "text": {"format": {"type": "text"}}})
    assert responses["gen_ai.output.type"] == "text"


def test_responses_calls_get_no_invented_finish_reason() -> None:
    done = _attrs(Api.RESPONSES, {"model": "g", "input": "hi"})
    assert "gen_ai.response.finish_reasons" not in done
    acc = ResponseAccumulator(Api.RESPONSES)
    acc.feed_json(
        orjson.dumps(
            {
                "id": "r",
                "model": "g",
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "output": [],
            }
        )
    )
    cut = call_attributes(_call(Api.RESPONSES, b'{"model":"g","input":"hi"}', acc))
    assert cut["gen_ai.response.finish_reasons"] == ["max_output_tokens"]  # the API's own word


def test_finish_reasons_in_messages_are_the_well_known_values() -> None:
    chat = call_attributes(
        _call(Api.CHAT, fixture("chat_request.json"), _response(Api.CHAT, "chat_response.json"))
    )
    assert chat["gen_ai.response.finish_reasons"] == ["tool_calls"]  # the API's word on the span
    assert orjson.loads(chat["gen_ai.output.messages"])[0]["finish_reason"] == "tool_call"  # well known
    claude = call_attributes(
        _call(
            Api.ANTHROPIC, fixture("anthropic_request.json"), _response(Api.ANTHROPIC, "anthropic_stream.sse")
        )
    )
    assert orjson.loads(claude["gen_ai.output.messages"])[0]["finish_reason"] == "tool_call"
    responses = call_attributes(
        _call(
            Api.RESPONSES,
            fixture("responses_request.json"),
            _response(Api.RESPONSES, "responses_response.json"),
        )
    )
    assert orjson.loads(responses["gen_ai.output.messages"])[0]["finish_reason"] == ""  # none given
    assert [well_known_finish(r) for r in ("STOP", "MAX_TOKENS", "SAFETY", "end_turn", "odd", None)] == [
        "stop",
        "length",
        "content_filter",
        "stop",
        "odd",
        "",
    ]


def test_no_first_chunk_time_on_an_error_reply() -> None:
    body = b'{"model":"m","stream":true,"messages":[]}'
    acc = ResponseAccumulator(Api.CHAT)
    acc.feed_json(b'{"error":{"type":"overloaded","message":"busy"}}')
    call = _call(Api.CHAT, body, acc, status=503)
    call.first_chunk_ns, call.outcome = 1_010_000_000, "http_error"
    assert "gen_ai.response.time_to_first_chunk" not in call_attributes(call)
    call.status, call.outcome = 200, "api_error"  # a 200 stream whose only event was the error
    assert "gen_ai.response.time_to_first_chunk" not in call_attributes(call)
    call.status, call.outcome = 200, "ok"
    assert call_attributes(call)["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.01)


def test_tool_steps_carry_the_tool_description() -> None:
    tracker = ToolStepTracker()
    first = _call(
        Api.ANTHROPIC, fixture("anthropic_request.json"), _response(Api.ANTHROPIC, "anthropic_stream.sse")
    )
    tracker.on_call(first)
    follow_up = orjson.loads(fixture("anthropic_request.json"))
    follow_up["messages"] += [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_02", "name": "Bash", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_02", "content": "2 passed"}],
        },
    ]
    second = _call(Api.ANTHROPIC, orjson.dumps(follow_up), ResponseAccumulator(Api.ANTHROPIC))
    second.start_ns, second.index = 1_500_000_000, 2
    (step,) = tracker.on_call(second)
    attrs = tool_step_attributes(step)
    assert attrs["gen_ai.tool.description"] == "Run a shell command"
    assert attrs["gen_ai.tool.call.result"] == "2 passed"
    assert "gen_ai.tool.description" not in tool_step_attributes(step, content=False)
