"""Which messages of a model call are new in its turn (the cell page's conversation view)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cab_trace.export.html.turns import Turn, said_key, split_turns


def msg(role: str, text: str) -> dict[str, object]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def keys(messages: list[dict[str, object]]) -> list[bytes]:
    return [said_key(m) for m in messages]


def test_a_growing_conversation_shows_only_what_each_call_added() -> None:
    system, task = msg("system", "be brief"), msg("user", "fix greet.py")
    answer1 = {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "c1", "name": "read", "arguments": {}}],
    }
    result1 = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": "def greet"}]}
    answer2 = msg("assistant", "done")
    calls = [
        (keys([system, task]), keys([answer1])),
        (keys([system, task, answer1, result1]), keys([answer2])),
    ]
    assert split_turns(calls) == [Turn(0, None), Turn(3, 0)]


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
    resent = {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "c1", "name": "read", "arguments": '{"path": "a.py"}'}],
    }
    assert said_key(answer) == said_key(resent)
    assert said_key(msg("user", "a")) != said_key(msg("assistant", "a"))


def test_a_side_call_in_between_is_skipped_over() -> None:
    system, task, a1, r1 = msg("system", "s"), msg("user", "t"), msg("assistant", "a1"), msg("tool", "r1")
    side = msg("user", "write a title for this conversation")
    calls = [
        (keys([system, task]), keys([a1])),
        (keys([side]), keys([msg("assistant", "Fixing greet")])),  # a conversation of its own
        (keys([system, task, a1, r1]), keys([msg("assistant", "done")])),
    ]
    turns = split_turns(calls)
    assert turns[1] == Turn(0, None)
    assert turns[2] == Turn(3, 0)  # continues call 1, not the side call


def test_a_retry_of_the_same_request_shows_the_message_it_answers() -> None:
    system, task = msg("system", "s"), msg("user", "t")
    calls = [(keys([system, task]), []), (keys([system, task]), keys([msg("assistant", "ok")]))]
    assert split_turns(calls) == [Turn(0, None), Turn(1, 0)]


def test_a_rewritten_history_is_new_from_where_it_differs() -> None:
    system, task, a1, r1 = msg("system", "s"), msg("user", "t"), msg("assistant", "a1"), msg("tool", "r1")
    summary = msg("user", "summary of what happened so far")
    calls = [
        (keys([system, task]), keys([a1])),
        (keys([system, task, a1, r1]), keys([msg("assistant", "a2")])),
        (keys([system, summary, msg("user", "go on")]), keys([msg("assistant", "a3")])),  # compacted
    ]
    assert split_turns(calls)[2] == Turn(1, 1)


@given(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12), st.integers(0, 2**16))
def test_new_messages_are_exactly_what_a_call_appended(appended: list[int], seed: int) -> None:
    """A conversation grown call by call: each call's new messages are the ones it added since
    the previous call's request and answer, whatever the messages say."""
    conversation = [msg("system", f"s{seed}")]
    calls, expected, counter = [], [], 0
    for count in appended:
        before = len(conversation)
        for _ in range(count):
            counter += 1
            conversation.append(msg("user" if counter % 2 else "tool", f"m{counter % 3}"))
        answer = msg("assistant", f"a{counter}")
        calls.append((keys(conversation), keys([answer])))
        expected.append(before if calls[:-1] else 0)
        conversation.append(answer)
    turns = split_turns(calls)
    assert [t.earlier for t in turns] == expected
    assert all(t.continues == (i - 1 if i else None) for i, t in enumerate(turns))
