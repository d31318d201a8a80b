"""What other harnesses recorded, in the replay: a Harbor trial with its model calls, tool steps
and asciinema recording; an Inspect AI log's samples in the picker, each with its calls."""

from __future__ import annotations

from pathlib import Path

from replay.app import PickerScreen, ReplayApp
from replay.load import load
from replay.widgets.detail import SpanDetail
from replay.widgets.waterfall import Waterfall
from tests.replay.conftest import FakeClock, terminal_settled
from tests.replay.test_app import SIZE, shown, trace_screen

FOREIGN = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"
TRIAL = FOREIGN / "harbor" / "fix-greeting__Ab3dE9x"
EVAL = FOREIGN / "inspect" / "fix-greeting.eval"


def test_a_trial_loads_with_its_recording_lined_up_with_the_agent_run() -> None:
    (trace,) = load(TRIAL)
    assert trace.cast is not None and trace.cast.path == TRIAL / "agent" / "recording.cast"
    execution = next(s for s in trace.spans if s.name == "agent_execution")
    assert trace.cast_origin_ns == execution.start_time_unix_nano


async def test_a_harbor_trial_replays_with_calls_steps_and_its_terminal() -> None:
    app = ReplayApp(load(TRIAL), source=TRIAL, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        screen = trace_screen(app)
        tree = screen.span_tree
        calls = [i for i, s in enumerate(tree.spans) if s.kind == "model_call"]
        steps = [i for i, s in enumerate(tree.spans) if s.kind == "tool_step"]
        assert len(calls) == 4 and len(steps) == 4
        waterfall = shown(screen.query_one(Waterfall))
        assert "agent_execution" in waterfall and "execute_tool bash_command" in waterfall
        await pilot.press("m", "m")  # the second model call: it was sent the first command's output
        assert screen.timeline.selected == calls[1]
        detail = shown(screen.query_one(SpanDetail))
        assert "← [call_0_1]" in detail and "def greet(name):" in detail
        await pilot.press("end")
        await terminal_settled(pilot)
        assert "Hello, x!" in shown(screen.query_one("#terminal"))


async def test_an_inspect_log_opens_the_picker_with_its_samples() -> None:
    app = ReplayApp(load(EVAL), source=EVAL, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        text = shown(app.screen.query_one("#traces"))
        assert "sample fix_greeting/greet-1" in text and "eval fix_greeting" in text
        await pilot.press("slash", *"greet-1", "enter")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        screen = trace_screen(app)
        assert screen.trace.root.name == "sample fix_greeting/greet-1"
        await pilot.press("m", "m", "m")
        detail = shown(screen.query_one(SpanDetail))
        assert "edited greet.py" in detail  # the edit tool's result, sent with the third call
