"""The model-API wire formats, on recorded request and response bodies (tests/fixtures/llm/)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.llm import (
    Api,
    CallRecord,
    ResponseAccumulator,
    SseParser,
    ToolStepTracker,
    call_attributes,
    detect_api,
    parse_request,
    span_name,
    tool_step_attributes,
)
from cab_trace.llm.call import ATTRIBUTE_LIMIT, bounded_json, request_hash, status_message
from cab_trace.llm.stream_usage import ask_for_usage, is_usage_only, without_null_usage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def stream(api: Api, name: str, piece: int = 7) -> ResponseAccumulator:
    acc = ResponseAccumulator(api)
    body = fixture(name)
    for i in range(0, len(body), piece):  # in awkward pieces, as a network delivers them
        acc.feed_bytes(body[i : i + piece])
    return acc


def test_detect_api_by_path() -> None:
    assert detect_api("POST", "/v1/chat/completions") is Api.CHAT
    assert detect_api("POST", "/openai/v1/responses?x=1") is Api.RESPONSES
    assert detect_api("POST", "/v1/messages") is Api.ANTHROPIC
    assert detect_api("GET", "/v1/models") is None
    assert detect_api("POST", "/v1/embeddings") is None


# -- SSE -----------------------------------------------------------------------------------------


def test_sse_parser_handles_every_line_end_and_comments() -> None:
    parser = SseParser()
    events = parser.feed(b": hi\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\ndata: x\n\ndata:y\r\r")
    assert [(e.event, e.data) for e in events] == [("a", "1\n2"), ("message", "x"), ("message", "y")]
    assert events[0].raw == b": hi\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\n"
    keepalive = SseParser().feed(b": ping\n\n")
    assert len(keepalive) == 1 and keepalive[0].is_comment and keepalive[0].raw == b": ping\n\n"
    assert parser.partial == b""


@settings(max_examples=60)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20))
def test_sse_events_do_not_depend_on_how_bytes_are_split(cuts: list[int]) -> None:
    body = fixture("chat_stream_no_usage.sse") + fixture("anthropic_stream.sse")
    whole = SseParser().feed(body)
    parser, got = SseParser(), []
    points = sorted({c % (len(body) + 1) for c in cuts})
    for a, b in zip([0, *points], [*points, len(body)], strict=True):
        got.extend(parser.feed(body[a:b]))
    assert [(e.event, e.data) for e in got] == [(e.event, e.data) for e in whole]
    assert b"".join(e.raw for e in got) == body  # raw bytes of each event, nothing lost


def test_sse_cr_split_from_its_lf() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []
    assert [e.data for e in parser.feed(b"\r\n")] == ["a"]


# -- OpenAI chat ---------------------------------------------------------------------------------


def test_chat_request() -> None:
    req = parse_request(Api.CHAT, fixture("chat_request.json"))
    assert (req.model, req.stream, req.max_tokens, req.temperature) == ("fake-coder", False, 1024, 0.2)
    assert [m["role"] for m in req.input_messages] == ["system", "user", "assistant", "tool"]
    assert req.input_messages[2]["parts"] == [
        {"type": "tool_call", "id": "call_1", "name": "read", "arguments": {"path": "greet.py"}}
    ]
    assert req.input_messages[3]["parts"][0]["type"] == "tool_call_response"
    assert req.input_messages[3]["parts"][0]["response"].startswith("def greet")
    # OpenAI's nested {"type": "function", "function": {...}} flattened, as the conventions define it
    assert req.tool_definitions[0]["type"] == "function" and req.tool_definitions[0]["name"] == "read"
    assert "function" not in req.tool_definitions[0]


def test_chat_response_json() -> None:
    info = ResponseAccumulator(Api.CHAT).feed_json(fixture("chat_response.json"))
    assert (info.id, info.model, info.finish_reasons) == (
        "chatcmpl-abc123",
        "fake-coder-0613",
        ["tool_calls"],
    )
    assert info.usage is not None
    assert (info.usage.input_tokens, info.usage.output_tokens, info.usage.cache_read_tokens) == (182, 31, 128)
    part = info.output_messages[0]["parts"][0]
    assert part["name"] == "edit" and part["arguments"]["new"] == "'Hello, '"
    assert info.complete


def test_chat_stream_with_usage_and_tool_call_pieces() -> None:
    info = stream(Api.CHAT, "chat_stream_usage.sse").info
    assert info.complete and info.chunks == 9 and info.usage_only_chunks == 1
    assert info.usage is not None and (info.usage.input_tokens, info.usage.output_tokens) == (57, 12)
    assert info.usage.reasoning_tokens == 4
    parts = info.output_messages[0]["parts"]
    assert parts[0] == {"type": "text", "content": "Let me look."}
    assert parts[1] == {"type": "tool_call", "id": "call_7", "name": "bash", "arguments": {"command": "ls"}}
    assert info.finish_reasons == ["tool_calls"]


def test_chat_stream_without_usage_says_so() -> None:
    acc = stream(Api.CHAT, "chat_stream_no_usage.sse", piece=3)
    assert acc.info.usage is None and acc.info.complete
    assert acc.info.output_messages[0]["parts"] == [{"type": "text", "content": "Done."}]
    call = _call(Api.CHAT, fixture("chat_request.json"), acc)
    attrs = call_attributes(call)
    assert attrs["cab.llm.usage_reported"] is False
    assert "gen_ai.usage.input_tokens" not in attrs  # never guessed


def test_chat_stream_cut_is_incomplete() -> None:
    body = fixture("chat_stream_usage.sse")
    acc = ResponseAccumulator(Api.CHAT)
    acc.feed_bytes(body[: len(body) // 2])
    assert not acc.info.complete and acc.info.chunks >= 1


# -- OpenAI Responses ----------------------------------------------------------------------------


def test_responses_request() -> None:
    req = parse_request(Api.RESPONSES, fixture("responses_request.json"))
    assert req.model == "gpt-5-codex" and req.max_tokens == 2048
    assert req.system_instructions == [{"type": "text", "content": "You are Codex, a coding agent."}]
    assert [m["role"] for m in req.input_messages] == ["user", "assistant", "tool"]
    assert req.input_messages[2]["parts"] == [
        {"type": "tool_call_response", "id": "call_r1", "response": "1 passed in 0.01s"}
    ]
    assert (
        parse_request(Api.RESPONSES, b'{"model":"m","input":"hi"}').input_messages[0]["parts"][0]["content"]
        == "hi"
    )


def test_responses_json_and_stream() -> None:
    info = ResponseAccumulator(Api.RESPONSES).feed_json(fixture("responses_response.json"))
    # The Responses API gives no finish reason for a completed answer: none is made up.
    assert info.id == "resp_67ccd2bed1ec8190" and info.finish_reasons == []
    assert info.usage is not None
    assert (info.usage.input_tokens, info.usage.cache_read_tokens, info.usage.reasoning_tokens) == (
        328,
        256,
        38,
    )
    assert [p["type"] for p in info.output_messages[0]["parts"]] == ["reasoning", "text"]
    s = stream(Api.RESPONSES, "responses_stream.sse").info
    assert s.complete and s.model == "gpt-5-codex-2025" and s.finish_reasons == []
    assert s.usage is not None and (s.usage.input_tokens, s.usage.output_tokens) == (90, 15)
    assert s.output_messages[0]["parts"][0]["arguments"] == {"command": ["ls"]}


def test_a_responses_stream_cut_mid_text_keeps_what_arrived() -> None:
    events = [
        {"type": "response.created", "response": {"id": "resp_c", "model": "m", "status": "in_progress"}},
        {"type": "response.output_text.delta", "delta": "Half "},
        {"type": "response.output_text.delta", "delta": "an answer"},
    ]
    acc = ResponseAccumulator(Api.RESPONSES)
    acc.feed_bytes(
        b"".join(b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e)) for e in events)
    )
    info = acc.info
    assert not info.complete and info.id == "resp_c"
    assert info.output_messages[0]["parts"] == [{"type": "text", "content": "Half an answer"}]
    # The stream never said how it ended: no status is made up (in_progress was only its start).
    assert info.status is None


def test_a_responses_call_records_its_status_where_it_has_no_finish_reason() -> None:
    body = fixture("responses_request.json")
    whole = ResponseAccumulator(Api.RESPONSES)
    whole.feed_json(fixture("responses_response.json"))
    for acc in (whole, stream(Api.RESPONSES, "responses_stream.sse")):
        attrs = call_attributes(_call(Api.RESPONSES, body, acc))
        assert attrs["cab.llm.response.status"] == "completed"
        assert "gen_ai.response.finish_reasons" not in attrs
    chat = ResponseAccumulator(Api.CHAT)
    chat.feed_json(fixture("chat_response.json"))
    attrs = call_attributes(_call(Api.CHAT, fixture("chat_request.json"), chat))
    assert "cab.llm.response.status" not in attrs


# -- Anthropic -----------------------------------------------------------------------------------


def test_anthropic_request() -> None:
    req = parse_request(Api.ANTHROPIC, fixture("anthropic_request.json"))
    assert req.stream and req.max_tokens == 4096
    assert req.system_instructions == [{"type": "text", "content": "You are Claude Code."}]
    assert req.input_messages[1]["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_01",
        "name": "Bash",
        "arguments": {"command": "ls"},
    }
    assert req.input_messages[2]["parts"][0]["response"] == "greet.py\ntest_greet.py"


def test_anthropic_input_tokens_include_the_cache_as_the_conventions_count_them() -> None:
    info = ResponseAccumulator(Api.ANTHROPIC).feed_json(fixture("anthropic_response.json"))
    assert info.usage is not None
    assert info.usage.input_tokens == 12 + 100 + 2000
    assert (info.usage.cache_read_tokens, info.usage.cache_creation_tokens) == (2000, 100)
    assert info.finish_reasons == ["end_turn"]
    s = stream(Api.ANTHROPIC, "anthropic_stream.sse", piece=11).info
    assert s.complete and s.id == "msg_s1"
    assert s.usage is not None and (s.usage.input_tokens, s.usage.output_tokens) == (1525, 42)
    assert s.output_messages[0]["parts"] == [
        {"type": "text", "content": "Running the tests."},
        {"type": "tool_call", "id": "toolu_02", "name": "Bash", "arguments": {"command": "pytest -q"}},
    ]
    assert s.finish_reasons == ["tool_use"]


# -- Gemini --------------------------------------------------------------------------------------

GEMINI_PATH = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


def test_gemini_request_and_stream() -> None:
    assert detect_api("POST", GEMINI_PATH) is Api.GEMINI
    assert detect_api("POST", "/v1beta/models/m:generateContent") is Api.GEMINI
    assert detect_api("POST", "/v1beta/models/m:countTokens") is None
    req = parse_request(Api.GEMINI, fixture("gemini_request.json"), GEMINI_PATH)
    assert (req.model, req.stream, req.max_tokens, req.temperature) == ("gemini-2.5-pro", True, 8192, 0.0)
    assert req.system_instructions == [{"type": "text", "content": "You are Gemini CLI."}]
    assert [m["role"] for m in req.input_messages] == ["user", "assistant", "tool"]
    assert req.input_messages[2]["parts"][0]["type"] == "tool_call_response"
    info = stream(Api.GEMINI, "gemini_stream.sse", piece=13).info
    assert info.complete and info.id == "r-1" and info.finish_reasons == ["STOP"]
    assert info.output_messages[0]["parts"][0] == {"type": "text", "content": "I will edit it."}
    assert info.output_messages[0]["parts"][1]["name"] == "replace"
    assert info.usage is not None
    assert (info.usage.input_tokens, info.usage.output_tokens) == (120, 42)  # reasoning counted as output
    assert (info.usage.cache_read_tokens, info.usage.reasoning_tokens) == (64, 12)


def test_gemini_tool_steps_pair_by_name_and_only_with_the_latest_results() -> None:
    tracker = ToolStepTracker()

    def gemini_call(index: int, contents: list, answer: dict, start: int) -> CallRecord:
        body = orjson.dumps({"contents": contents})
        acc = ResponseAccumulator(Api.GEMINI)
        acc.feed_json(
            orjson.dumps(
                {"candidates": [{"content": {"role": "model", "parts": [answer]}, "finishReason": "STOP"}]}
            )
        )
        call = _call(Api.GEMINI, body, acc, index=index, start_ns=start, end_ns=start + 10)
        call.request = parse_request(Api.GEMINI, body, "/v1beta/models/m:generateContent")
        return call

    read = {"functionCall": {"name": "read", "args": {"n": 1}}}
    result = lambda text: {"functionResponse": {"name": "read", "response": {"output": text}}}  # noqa: E731
    user = {"role": "user", "parts": [{"text": "go"}]}
    assert tracker.on_call(gemini_call(1, [user], read, 100)) == []
    history = [user, {"role": "model", "parts": [read]}, {"role": "user", "parts": [result("first")]}]
    (first,) = tracker.on_call(gemini_call(2, history, read, 200))
    assert (first.name, first.call_id, first.result) == ("read", "", '{"output":"first"}')
    history += [{"role": "model", "parts": [read]}, {"role": "user", "parts": [result("second")]}]
    (second,) = tracker.on_call(gemini_call(3, history, {"text": "done"}, 300))
    assert second.result == '{"output":"second"}' and second.start_ns == 210 and second.end_ns == 300
    assert "gen_ai.tool.call.id" not in tool_step_attributes(second)
    # gemini-cli gives the call an id of its own, and answers with it.
    assert tracker.on_call(gemini_call(4, [user], read, 400)) == []
    with_id = {"functionResponse": {"id": "read_17_0", "name": "read", "response": {"output": "third"}}}
    own = [user, {"role": "model", "parts": [{"functionCall": {"id": "read_17_0", "name": "read"}}]}]
    (third,) = tracker.on_call(
        gemini_call(5, [*own, {"role": "user", "parts": [with_id]}], {"text": "ok"}, 500)
    )
    assert third.result == '{"output":"third"}' and third.asked_by == 4


# -- attributes ----------------------------------------------------------------------------------


def _call(api: Api, body: bytes, acc: ResponseAccumulator, **kw: object) -> CallRecord:
    call = CallRecord(
        api=api,
        method="POST",
        path="/v1/chat/completions",
        server_address="127.0.0.1",
        server_port=8000,
        request_body_sha256=request_hash(body),
        request=parse_request(api, body),
        start_ns=1_000_000_000,
        end_ns=1_250_000_000,
        status=200,
        response=acc.info,
        index=1,
    )
    for key, value in kw.items():
        setattr(call, key, value)
    return call


def test_gen_ai_attributes_of_a_chat_call() -> None:
    body = fixture("chat_request.json")
    acc = ResponseAccumulator(Api.CHAT)
    acc.feed_json(fixture("chat_response.json"))
    call = _call(Api.CHAT, body, acc)
    attrs = call_attributes(call)
    assert span_name(call) == "chat fake-coder"
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "fake-coder"
    assert attrs["gen_ai.response.model"] == "fake-coder-0613"
    assert attrs["gen_ai.usage.input_tokens"] == 182 and attrs["gen_ai.usage.output_tokens"] == 31
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 128
    assert attrs["cab.llm.request_sha256"] == request_hash(body) and len(request_hash(body)) == 64
    assert attrs["http.response.status_code"] == 200 and "error.type" not in attrs
    messages = orjson.loads(attrs["gen_ai.input.messages"])
    assert messages[0] == {
        "role": "system",
        "parts": [{"type": "text", "content": "You are a coding agent. Use the tools."}],
    }
    # The API's word on the span; the conventions' well-known value inside the message.
    assert orjson.loads(attrs["gen_ai.output.messages"])[0]["finish_reason"] == "tool_call"
    assert attrs["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert all(isinstance(v, str | int | float | bool | list) for v in attrs.values())
    lean = call_attributes(call, content=False)
    assert lean["cab.llm.content"] == "omitted"
    assert not [k for k in lean if k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool.def"))]
    assert lean["gen_ai.usage.input_tokens"] == 182


def test_failures_get_an_error_type_and_a_message() -> None:
    acc = ResponseAccumulator(Api.CHAT)
    acc.feed_json(b'{"error":{"type":"rate_limit_exceeded","message":"slow down"}}')
    call = _call(Api.CHAT, b"{}", acc, status=429, outcome="http_error")
    attrs = call_attributes(call)
    assert attrs["error.type"] == "429"
    assert status_message(call) == "the model endpoint answered HTTP 429: rate_limit_exceeded: slow down"
    cut = _call(Api.CHAT, b"{}", ResponseAccumulator(Api.CHAT), outcome="stream_cut")
    assert call_attributes(cut)["error.type"] == "stream_cut"


def test_time_to_first_chunk_for_streams() -> None:
    body = b'{"model":"m","stream":true,"messages":[]}'
    call = _call(Api.CHAT, body, stream(Api.CHAT, "chat_stream_usage.sse"), first_chunk_ns=1_050_000_000)
    attrs = call_attributes(call)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.05)


def test_large_content_is_bounded_with_a_marker() -> None:
    huge = [{"role": "user", "parts": [{"type": "text", "content": "x" * 100_000}]} for _ in range(20)]
    text, cut = bounded_json(huge)
    assert cut and len(text) <= ATTRIBUTE_LIMIT
    kept = orjson.loads(text)
    assert "characters not recorded" in kept[0]["parts"][0]["content"]
    assert any(m["role"] == "cab-trace" and "not recorded" in m["parts"][0]["content"] for m in kept)
    small = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert bounded_json(small) == (orjson.dumps(small).decode(), False)


# -- stream usage --------------------------------------------------------------------------------


def test_asking_for_usage_only_when_the_agent_did_not() -> None:
    added = ask_for_usage(b'{"model":"m","stream":true,"messages":[]}')
    assert added is not None and orjson.loads(added)["stream_options"] == {"include_usage": True}
    assert ask_for_usage(b'{"model":"m","stream":false}') is None
    assert ask_for_usage(b'{"stream":true,"stream_options":{"include_usage":false}}') is None
    assert ask_for_usage(b"not json") is None
    events = SseParser().feed(fixture("chat_stream_usage.sse"))
    assert [is_usage_only(e) for e in events].count(True) == 1 and is_usage_only(events[-2])
    cleaned = without_null_usage(events[1].raw)
    assert b"usage" not in cleaned and orjson.loads(cleaned[len(b"data: ") :].strip())["choices"]


# -- tool steps ----------------------------------------------------------------------------------


def _returns_bash_result() -> CallRecord:
    """The second call of a chat: its request returns the result of the first's ``bash`` call
    (``call_7``), and its answer asks for ``call_2``."""
    body = orjson.dumps(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "call_7", "function": {"name": "bash", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "call_7", "content": "greet.py"},
            ],
        }
    )
    acc = ResponseAccumulator(Api.CHAT)
    acc.feed_json(fixture("chat_response.json"))
    return _call(Api.CHAT, body, acc, start_ns=1_400_000_000, end_ns=1_600_000_000, index=2)


def test_tool_steps_from_a_response_and_the_request_returning_results() -> None:
    tracker = ToolStepTracker()
    first = _call(
        Api.CHAT,
        b'{"model":"m","messages":[{"role":"user","content":"go"}]}',
        stream(Api.CHAT, "chat_stream_usage.sse"),
    )
    assert tracker.on_call(first) == []
    second = _returns_bash_result()
    steps = tracker.on_call(second)
    assert len(steps) == 1
    step = steps[0]
    assert (step.name, step.call_id, step.start_ns, step.end_ns, step.result) == (
        "bash",
        "call_7",
        1_250_000_000,
        1_400_000_000,
        "greet.py",
    )
    attrs = tool_step_attributes(step)
    assert attrs["gen_ai.operation.name"] == "execute_tool" and attrs["gen_ai.tool.name"] == "bash"
    assert orjson.loads(attrs["gen_ai.tool.call.arguments"]) == {"command": "ls"}
    assert "gen_ai.tool.call.result" not in tool_step_attributes(step, content=False)
    assert [s.call_id for s in tracker.unanswered()] == ["call_2"]  # asked by the second, never returned


def test_a_result_recorded_before_the_answer_that_asked_for_it_still_makes_its_step() -> None:
    """On a loaded machine the second call's recording can finish before the first's: the
    result it carries waits for the asking answer instead of being lost as unanswered."""
    second = _returns_bash_result()
    first = _call(
        Api.CHAT,
        b'{"model":"m","messages":[{"role":"user","content":"go"}]}',
        stream(Api.CHAT, "chat_stream_usage.sse"),
    )
    in_order, reversed_order = ToolStepTracker(), ToolStepTracker()
    assert in_order.on_call(first) == []
    (expected,) = in_order.on_call(second)
    assert reversed_order.on_call(second) == []
    (step,) = reversed_order.on_call(first)
    assert step == expected and step.returned_by == 2 and step.result == "greet.py"
    assert [s.call_id for s in reversed_order.unanswered()] == ["call_2"]
    # A result whose asking call started *after* it is history, not this step's result.
    late = ToolStepTracker()
    late.on_call(second)
    (later_first,) = [dataclasses.replace(first, index=3)]
    assert late.on_call(later_first) == []
    assert {s.call_id for s in late.unanswered()} == {"call_7", "call_2"}
