"""Model calls and tool steps in the replay: under the container span, the detail pane reads as a
conversation, the header counts tokens up to the playhead, and m / M jump between calls. The
fixture is a real recorded run: a small tool-using agent through the recording proxy, against
the scripted model server (tests/proxy/test_run_model_calls.py records the same kind of run)."""

from __future__ import annotations

from pathlib import Path

from replay.app import ReplayApp, key_table
from replay.load import load
from replay.widgets.waterfall import Waterfall
from tests.replay.conftest import FakeClock
from tests.replay.test_app import SIZE, detail_text, shown, trace_screen

RUN = Path(__file__).parent / "fixtures" / "model-calls-run"


async def test_calls_and_steps_sit_under_the_container_and_m_jumps_between_calls() -> None:
    app = ReplayApp(load(RUN), source=RUN, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        screen = trace_screen(app)
        tree = screen.span_tree
        container = next(i for i, s in enumerate(tree.spans) if s.kind == "container")
        calls = [i for i, s in enumerate(tree.spans) if s.kind == "model_call"]
        steps = [i for i, s in enumerate(tree.spans) if s.kind == "tool_step"]
        assert len(calls) == 3 and len(steps) == 2
        assert all(tree.parent[i] == container for i in calls + steps)
        waterfall = shown(screen.query_one(Waterfall))
        assert "chat scripted-model" in waterfall and "execute_tool edit" in waterfall
        assert "model calls 0/3  tokens 0 in / 0 out" in shown(screen.query_one("#identity"))

        await pilot.press("m")
        assert screen.timeline.selected == calls[0]
        assert (
            screen.timeline.position_ns
            == tree.spans[calls[0]].start_time_unix_nano - screen.timeline.origin_ns
        )
        detail = detail_text(screen)
        assert "the conversation starts (1)" in detail
        assert "greet() forgets the exclamation mark" in detail
        assert "→ read(" in detail and "(finish: tool_calls)" in detail
        assert "▸ system prompt · 23 chars" in detail  # folded to one line
        assert "gen_ai.input.messages =" not in detail  # shown as a conversation, not a JSON blob

        await pilot.press("m", "m")
        third = tree.spans[calls[2]]
        assert screen.timeline.selected == calls[2]
        detail = detail_text(screen)
        # Only what the third call added: the edit's result; the rest is one folded line.
        assert "new in this turn (1)" in detail and "← [call_" in detail and "edited" in detail
        assert "▸ 4 earlier messages · the conversation up to turn 2" in detail
        assert "greet() forgets" not in detail
        first_two = sum(int(tree.spans[i].attributes["gen_ai.usage.input_tokens"]) for i in calls[:2])
        assert f"tokens {first_two:,} in" in shown(screen.query_one("#identity"))
        assert "model calls 2/3" in shown(screen.query_one("#identity"))
        await pilot.press("m")  # wraps around
        assert screen.timeline.selected == calls[0]
        await pilot.press("M")
        assert screen.timeline.selected == calls[2] and third.kind == "model_call"
        await pilot.press("end")
        total = sum(int(tree.spans[i].attributes["gen_ai.usage.input_tokens"]) for i in calls)
        assert f"tokens {total:,} in" in shown(screen.query_one("#identity"))

        screen.timeline.selected = steps[1]
        screen.redraw()
        await pilot.pause()
        detail = detail_text(screen)
        assert "tool step edit" in detail and "result" in detail and "edited" in detail


async def test_m_without_model_calls_says_so(demo_app: ReplayApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        screen = trace_screen(demo_app)
        before = screen.timeline.selected
        await pilot.press("m")
        assert screen.timeline.selected == before
        assert "tokens" not in shown(screen.query_one("#identity"))  # no proxy: not "0 tokens"


def test_the_key_is_in_the_help_table() -> None:
    assert ("m / M", "next / previous model call") in key_table()


def test_content_that_is_not_json_is_shown_as_recorded() -> None:
    from cab_trace.model import SpanRecord
    from replay.widgets.detail import describe

    span = SpanRecord(
        "1" * 32, "2" * 16, None, "chat m", "model_call", 0, 1,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.input.messages": '[{"role": "us'},
    )  # fmt: skip
    text = "\n".join(str(part) for part in describe(span, 0).renderables)
    assert 'gen_ai.input.messages = [{"role": "us' in text


def test_an_answer_without_a_finish_reason_says_how_it_ended() -> None:
    """The Responses API gives a status, not a finish reason: the answer says so, as the cell
    page does (cab_trace.llm.turns.Turn.ending)."""
    from cab_trace.model import SpanRecord
    from replay.widgets.detail import describe

    asked = '[{"role": "user", "parts": [{"type": "text", "content": "go"}]}]'
    answer = '[{"role": "assistant", "parts": [{"type": "text", "content": "done"}], "finish_reason": ""}]'
    span = SpanRecord(
        "1" * 32, "2" * 16, None, "chat m", "model_call", 0, 1,
        attributes={"gen_ai.operation.name": "chat", "cab.llm.api": "openai.responses",
                    "gen_ai.input.messages": asked,
                    "gen_ai.output.messages": answer, "cab.llm.response.status": "completed"},
    )  # fmt: skip
    text = "\n".join(str(part) for part in describe(span, 0).renderables)
    assert "assistant  (no finish reason given · status: completed)" in text
