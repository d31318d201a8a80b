"""The conversation turn by turn (cab_trace.llm.turns): what each model call added."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cab_trace.llm.turns import (
    RESPONSE_STATUS,
    Message,
    PhaseEntry,
    ToolStepEntry,
    Turn,
    message_text,
    parse_messages,
    transcript,
    turns,
)
from cab_trace.model import SpanRecord, Status
from cab_trace.model.jsonl import read_records

RUN = Path(__file__).parents[1] / "replay" / "fixtures" / "model-calls-run" / "trace.jsonl"
T0 = 1_800_000_000_000_000_000
TRACE = "ab" * 16


def text(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": content}]}


def ask(name: str, call_id: str, arguments: object) -> dict[str, Any]:
    return {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}],
    }


def result(call_id: str, value: str) -> dict[str, Any]:
    return {"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "result": value}]}


def call(
    n: int,
    sent: list[dict[str, Any]],
    answer: list[dict[str, Any]],
    system: str | None = None,
    **extra: Any,
) -> SpanRecord:
    attrs: dict[str, Any] = {
        "cab.kind": "model_call",
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": orjson.dumps(sent).decode(),
        "gen_ai.output.messages": orjson.dumps(answer).decode(),
        "cab.llm.content": "recorded",
        **extra,
    }
    if system is not None:
        attrs["gen_ai.system_instructions"] = orjson.dumps([{"type": "text", "content": system}]).decode()
    start = T0 + n * 1_000_000_000
    return SpanRecord(
        TRACE,
        f"{n:016x}",
        "f" * 16,
        f"chat m {n}",
        "model_call",
        start,
        start + 500_000_000,
        attributes=attrs,
    )


def test_each_turn_of_a_recorded_run_shows_what_it_added() -> None:
    found = turns(list(read_records(RUN)))
    assert [t.number for t in found] == [1, 2, 3]
    first, second, third = found
    assert [m.role for m in first.system] == ["system"] and first.system_changed
    assert first.continues is None and not first.earlier
    assert [message_text(m) for m in first.new] == [
        "greet() forgets the exclamation mark; fix it so that the tests pass"
    ]
    assert [p["name"] for p in first.tool_calls] == ["read"]
    # Call 2 repeats the system prompt, the task and call 1's answer: only the tool result is new.
    assert second.continues == 1 and not second.system_changed
    assert [m.role for m in second.earlier] == ["user", "assistant"]
    assert [m.role for m in second.new] == ["tool"]
    assert "Hello, {name}" in message_text(second.new[0])
    assert [p["name"] for p in second.tool_calls] == ["edit"]
    # Call 2's answer had an empty text part; call 3 re-sends it without: still the same message.
    assert third.continues == 2 and [m.role for m in third.new] == ["tool"]
    assert message_text(third.new[0]) == "← edited"
    assert third.answer[0].finish_reason == "stop" and not third.tool_calls


def test_a_side_call_in_between_is_another_conversation() -> None:
    task = text("user", "fix the bug")
    main1 = call(1, [text("system", "You code."), task], [ask("read", "c1", {"path": "a.py"})])
    side = call(2, [text("user", "Give this chat a title: fix the bug")], [text("assistant", "Bug fix")])
    main2 = call(
        3,
        [text("system", "You code."), task, ask("read", "c1", '{"path": "a.py"}'), result("c1", "x = 1")],
        [text("assistant", "done")],
    )
    one, two, three = turns([main2, side, main1])  # any order in: the calls' start order out
    assert two.continues is None and [m.role for m in two.new] == ["user"]
    # Arguments re-sent as text match the object they were answered with.
    assert three.continues == 1 and [m.role for m in three.new] == ["tool"]
    assert [m.role for m in three.earlier] == ["user", "assistant"]
    assert one.number == 1 and three.number == 3


def test_a_changed_system_prompt_and_a_rewritten_history() -> None:
    first = call(1, [text("user", "task")], [text("assistant", "a")], system="v1")
    same = call(2, [text("user", "task"), text("assistant", "a"), text("user", "more")], [], system="v1")
    changed = call(3, [text("user", "task"), text("assistant", "a"), text("user", "more")], [], system="v2")
    # An agent that compacts its history: nothing of it is a prefix of what came before.
    compacted = call(4, [text("user", "summary of the work so far")], [], system="v2")
    a, b, c, d = turns([first, same, changed, compacted])
    assert a.system_changed and [message_text(m) for m in a.system] == ["v1"]
    assert not b.system_changed and [message_text(m) for m in b.new] == ["more"]
    assert c.system_changed and c.continues == 2 and not c.new  # a retry of call 2 with a new prompt
    assert d.continues is None and [message_text(m) for m in d.new] == ["summary of the work so far"]


def test_content_not_recorded_or_not_json() -> None:
    omitted = SpanRecord(
        TRACE,
        "1" * 16,
        None,
        "chat m",
        "model_call",
        T0,
        T0 + 1,
        attributes={"cab.kind": "model_call", "cab.llm.content": "omitted"},
    )
    cut = call(2, [], [])
    cut.attributes["gen_ai.input.messages"] = (
        '[{"role": "user", "parts": [{"type": "text", "content": "[REDACTED]'
    )
    cut.attributes["gen_ai.output.messages"] = "not json"
    a, b = turns([omitted, cut])
    assert a.content == "omitted" and not a.new
    assert b.content == "missing"
    assert parse_messages('{"role": "user"}') is None and parse_messages(None) is None


def test_the_transcript_is_in_time_order_with_tool_steps_and_the_runs_moments() -> None:
    entries = transcript(list(read_records(RUN)))
    shape = [
        f"turn {e.number}"
        if isinstance(e, Turn)
        else f"tool {e.name}"
        if isinstance(e, ToolStepEntry)
        else e.text
        for e in entries
    ]
    assert shape == [
        "the agent started",
        "turn 1",
        "tool read",
        "turn 2",
        "tool edit",
        "turn 3",
        "the agent exited with code 0",
        "files changed: modified 1 (+1 -1 lines)",
        "the task's check passed",
    ]
    starts = [e.start_ns for e in entries]
    assert starts == sorted(starts)
    tool = next(e for e in entries if isinstance(e, ToolStepEntry))
    assert (tool.asked_by, tool.returned_by) == (1, 2) and tool.arguments == '{"path":"greet.py"}'


def test_a_failed_check_and_an_errored_span_are_moments_of_their_own() -> None:
    verify = SpanRecord(
        TRACE,
        "2" * 16,
        None,
        "verify:t",
        "verify",
        T0,
        T0 + 5,
        status=Status("ERROR", "check failed: exit code 1"),
        attributes={"passed": False, "stderr_tail": "line\nFAILED (failures=1)"},
    )
    broken = SpanRecord(
        TRACE, "3" * 16, None, "task_setup", "task_setup", T0 - 5, T0 - 1, status=Status("ERROR", "disk full")
    )
    entries = transcript([verify, broken])
    assert all(isinstance(e, PhaseEntry) and e.failed for e in entries)
    assert [e.text for e in entries if isinstance(e, PhaseEntry)] == [
        "task_setup: disk full",
        "the task's check FAILED",
    ]
    assert entries[1].details == ("line", "FAILED (failures=1)")  # type: ignore[union-attr]


def test_message_text_is_one_line_and_bounded() -> None:
    (message,) = parse_messages(orjson.dumps([text("user", "a\nb   c " + "x" * 200)]).decode()) or []
    line = message_text(message, limit=20)
    assert "\n" not in line and len(line) == 20 and line.endswith("…")


def parsed(message: dict[str, Any]) -> Message:
    [out] = parse_messages(orjson.dumps([message]).decode()) or []
    return out


# -- cases from the cell page's own turn split (tests/unit/test_html_turns.py before the two were
# -- made one): the page now reads its turns from here.


def test_a_growing_conversation_shows_only_what_each_call_added() -> None:
    task = text("user", "fix greet.py")
    answer1 = ask("read", "c1", {})
    answer2 = text("assistant", "done")
    one, two = turns(
        [
            call(1, [text("system", "be brief"), task], [answer1]),
            call(2, [text("system", "be brief"), task, answer1, result("c1", "def greet")], [answer2]),
        ]
    )
    assert (one.continues, one.earlier, [m.role for m in one.new]) == (None, (), ["user"])
    assert two.continues == 1 and [m.role for m in two.earlier] == ["user", "assistant"]
    assert [message_text(m) for m in two.new] == ["← def greet"]
    assert [message_text(m) for m in two.answer] == ["done"]


def test_an_answer_and_its_copy_in_the_next_request_are_the_same_message() -> None:
    # As recorded, the answer has a finish reason and an empty text part, and arguments as an
    # object; the agent's next request repeats it without them, with the arguments as text.
    answer = {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": ""},
            {"type": "tool_call", "id": "c1", "name": "read", "arguments": {"path": "a.py"}},
        ],
        "finish_reason": "tool_calls",
    }
    resent = ask("read", "c1", '{"path": "a.py"}')
    a, b = parsed(answer), parsed(resent)
    assert a.key() == b.key()
    # Stored, each is kept as it was sent (the page shows the copy the next call sent).
    assert a.stored_key() != b.stored_key()
    assert parsed(text("user", "a")).key() != parsed(text("assistant", "a")).key()


def test_a_retry_of_the_same_request_adds_nothing_and_continues_the_call_it_repeats() -> None:
    sent = [text("system", "s"), text("user", "t")]
    failed = call(1, sent, [])
    retry = call(2, sent, [text("assistant", "ok")])
    _, again = turns([failed, retry])
    assert again.continues == 1 and not again.new and [m.role for m in again.earlier] == ["user"]
    assert [message_text(m) for m in again.answer] == ["ok"] and not again.system_changed


def test_a_rewritten_history_is_new_from_where_it_differs() -> None:
    system, task, a1, r1 = text("system", "s"), text("user", "t"), text("assistant", "a1"), text("tool", "r1")
    first = call(1, [system, task], [a1])
    second = call(2, [system, task, a1, r1], [text("assistant", "a2")])
    # An agent that keeps the task and rewrites what came after it (a summary of the work).
    summary = call(3, [system, task, text("user", "summary so far"), text("user", "go on")], [])
    *_, third = turns([first, second, summary])
    assert third.continues == 2 and [message_text(m) for m in third.earlier] == ["t"]
    assert [message_text(m) for m in third.new] == ["summary so far", "go on"]


def test_tool_results_of_old_and_new_traces_are_the_same_message_in_todays_shape() -> None:
    old = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": "x = 1"}]}
    new = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "x = 1"}]}
    a, b = parsed(old), parsed(new)
    assert a.key() == b.key() and a.as_json() == b.as_json() == new
    assert a.stored_key() == b.stored_key()
    assert message_text(a) == message_text(b) == "← x = 1"


def test_how_an_answer_ended_is_said_with_or_without_a_finish_reason() -> None:
    chat = call(1, [text("user", "t")], [{**text("assistant", "a"), "finish_reason": "stop"}])
    # The Responses API gives a status, no finish reason: an answer says so, with the status.
    responses = call(2, [text("user", "t")], [{**text("assistant", "a"), "finish_reason": ""}])
    responses.attributes[RESPONSE_STATUS] = "completed"
    bare = call(3, [text("user", "u")], [text("assistant", "b")])
    listed = call(4, [text("user", "v")], [text("assistant", "c")])
    listed.attributes["gen_ai.response.finish_reasons"] = ["end_turn"]
    a, b, c, d = turns([chat, responses, bare, listed])
    assert a.ending(a.answer[0]) == "finish: stop"
    assert b.answer[0].finish_reason is None
    assert b.ending(b.answer[0]) == b.ending() == "no finish reason given · status: completed"
    assert c.ending(c.answer[0]) == "no finish reason given"
    assert d.ending(d.answer[0]) == "finish: end_turn"


def test_ids_and_types_of_any_json_shape_are_read_not_a_crash() -> None:
    odd = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": {"x": [1]}, "name": ["n"], "arguments": 1}],
        },
        {"role": "tool", "parts": [{"type": ["tool_call_response"], "id": [1], "response": {"a": 1}}]},
    ]
    _, two = turns([call(1, [text("user", "t")], odd[:1]), call(2, [text("user", "t"), *odd], [])])
    assert two.continues == 1 and [m.role for m in two.new] == ["tool"]


@given(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12), st.integers(0, 2**16))
def test_new_messages_are_exactly_what_a_call_appended(appended: list[int], seed: int) -> None:
    """A conversation grown call by call: each call's new messages are the ones it added since
    the previous call's request and answer, whatever the messages say (repeated texts too)."""
    conversation = [text("system", f"s{seed}")]
    spans, expected, counter = [], [], 0
    for n, count in enumerate(appended, 1):
        before = len(conversation) - 1  # the system prompt is apart
        for _ in range(count):
            counter += 1
            conversation.append(text("user" if counter % 2 else "tool", f"m{counter % 3}"))
        answer = text("assistant", f"a{counter}")
        spans.append(call(n, list(conversation), [answer]))
        expected.append(before if n > 1 else 0)
        conversation.append(answer)
    found = turns(spans)
    assert [len(t.earlier) for t in found] == expected
    assert [len(t.new) for t in found] == appended
    assert all(t.continues == (t.number - 1 if t.number > 1 else None) for t in found)
