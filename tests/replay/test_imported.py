"""What other harnesses recorded, in the replay: a Harbor trial with its model calls, tool steps
and asciinema recording; an Inspect AI log's samples in the picker, each with its calls."""

from __future__ import annotations

import sys
from pathlib import Path

from replay.app import PickerScreen, ReplayApp
from replay.load import load
from replay.widgets.waterfall import Waterfall
from tests.replay.conftest import FakeClock, terminal_settled
from tests.replay.test_app import SIZE, detail_text, shown, trace_screen
from tests.tmux import Tmux

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
        detail = detail_text(screen)
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
        detail = detail_text(screen)
        assert "edited greet.py" in detail  # the edit tool's result, sent with the third call


def test_a_harbor_trial_in_a_real_terminal() -> None:
    """`cab-trace replay TRIAL_DIR` in tmux (a server of its own): the phases, the model calls
    and, at the end, the agent's screen from the trial's asciinema recording."""
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(TRIAL)], size=(150, 42))
    try:
        phases = ("agent_execution", "environment_setup", "chat scripted-model", "verifier")
        session.wait_for(lambda s: all(p in s for p in phases), "the trial's phases and calls")
        session.keys("End")
        # the recording's last screen, at the end of the trial
        session.wait_for(lambda s: "Hello, x!" in s, "the agent's last screen")
    finally:
        session.close()


def test_a_recording_on_its_own_replays_as_its_own_terminal() -> None:
    cast = TRIAL / "agent" / "recording.cast"
    (trace,) = load(cast)
    assert trace.cast is not None and trace.cast.path == cast
    assert trace.cast_origin_ns == trace.root.start_time_unix_nano  # the one span is the recording
    assert trace.duration_ns == trace.cast.times_ns[-1]
