"""Reading a request body kept only as its two ends (cab_trace/llm/partial.py) agrees with reading
it whole: every member it reports has the value the whole body gives, the messages before its
marker are the first of the whole conversation and those after it the last, for any body and
any cut (hypothesis), and it never raises on bytes that are not JSON at all."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cab_trace.llm.partial import CutBody, head_part, parse_cut_request, tail_part
from cab_trace.llm.wire import Api, parse_request

# Text with what a scanner could trip on: quotes, backslashes, brackets, commas, non-ASCII.
TEXT = st.text(alphabet=st.sampled_from(list('ab "\\{}[],:é日\n\t')), max_size=40)
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": TEXT})
TOOL = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": TEXT, "parameters": st.just({})}),
    }
)
MEMBERS = {
    "model": TEXT,
    "stream": st.booleans(),
    "temperature": st.floats(0, 2),
    "max_tokens": st.integers(1, 10**6),
    "tools": st.lists(TOOL, max_size=3),
    "messages": st.lists(MESSAGE, min_size=1, max_size=30),
}


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    order = draw(st.permutations(list(MEMBERS)))
    return {name: draw(MEMBERS[name]) for name in order}


def _split(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    (at,) = [i for i, m in enumerate(messages) if m["role"] == "cab-trace"]
    return messages[:at], messages[at + 1 :]


@settings(max_examples=300, deadline=None)
@given(requests(), st.data())
@example({"messages": [{"role": "user", "content": "\\" * 9 + '"'}] * 12, "model": "m"}, None)
def test_the_ends_of_a_body_read_as_the_whole_body_does(
    doc: dict[str, Any], data: st.DataObject | None
) -> None:
    body = orjson.dumps(doc)
    keep = data.draw(st.integers(1, max(1, len(body) // 2 - 1))) if data is not None else 40
    cut = CutBody(len(body), body[:keep], body[-keep:])
    whole = parse_request(Api.CHAT, body)
    read = parse_cut_request(Api.CHAT, cut, "/v1/chat/completions", 100)
    info = read.info
    for name, value in (("model", whole.model), ("stream", whole.stream), ("temperature", whole.temperature)):
        if name in read.members:
            assert getattr(info, name) == value
    if "max_tokens" in read.members:
        assert info.max_tokens == whole.max_tokens
    if "tools" in read.members:
        assert info.tool_definitions == whole.tool_definitions
    before, after = _split(info.input_messages)
    assert before == whole.input_messages[: len(before)]
    assert after == whole.input_messages[len(whole.input_messages) - len(after) :]
    assert len(before) + len(after) <= len(whole.input_messages)
    # What is whole in the head (members before the cut) is found.
    for name, value in doc.items():
        member = orjson.dumps(name) + b":" + orjson.dumps(value)
        if body.index(member) + len(member) < keep:
            assert name in read.members


def test_the_latest_messages_come_from_the_tail_and_the_first_from_the_head() -> None:
    messages = [{"role": "user", "content": f"message {i}"} for i in range(1000)]
    body = orjson.dumps({"messages": messages, "model": "m", "stream": True})
    read = parse_cut_request(Api.CHAT, CutBody(len(body), body[:500], body[-500:]), "/p", 100)
    before, after = _split(read.info.input_messages)
    assert before[0]["parts"][0]["content"] == "message 0"
    assert after[-1]["parts"][0]["content"] == "message 999"
    assert read.info.model == "m" and read.info.stream is True
    assert read.members == frozenset({"model", "stream"})
    marker = read.info.input_messages[len(before)]["parts"][0]["content"]
    assert f"{len(body) - 1000:,} bytes of the request not recorded" in marker


def test_tools_at_the_end_are_not_taken_for_messages() -> None:
    tools = [{"type": "function", "function": {"name": f"tool{i}", "parameters": {}}} for i in range(50)]
    body = orjson.dumps({"messages": [{"role": "user", "content": "x" * 5000}], "model": "m", "tools": tools})
    # The tail starts inside the tool list: its whole elements are tools, not the conversation.
    read = parse_cut_request(Api.CHAT, CutBody(len(body), body[:100], body[-600:]), "/p", 100)
    assert [m["role"] for m in read.info.input_messages] == ["cab-trace"]


def test_each_api_finds_its_conversation_in_the_tail() -> None:
    turns = {
        Api.ANTHROPIC: ("messages", {"role": "user", "content": [{"type": "text", "text": "t"}]}),
        Api.RESPONSES: ("input", {"type": "function_call_output", "call_id": "c", "output": "o"}),
        Api.GEMINI: ("contents", {"role": "user", "parts": [{"text": "t"}]}),
    }
    for api, (key, turn) in turns.items():
        body = orjson.dumps({key: [turn] * 300, "model": "m"})
        read = parse_cut_request(
            api, CutBody(len(body), body[:10], body[-400:]), "/v1/models/g:generateContent", 1
        )
        roles = [m["role"] for m in read.info.input_messages]
        assert roles[0] == "cab-trace" and len(roles) >= 2, api  # (Responses joins tool outputs into one)


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_bytes_that_are_not_json_never_raise(head: bytes, tail: bytes) -> None:
    read = parse_cut_request(Api.CHAT, CutBody(10**6, head, tail), "/p", 100)
    assert [m["role"] for m in read.info.input_messages].count("cab-trace") == 1
    head_part(head)
    tail_part(tail)
