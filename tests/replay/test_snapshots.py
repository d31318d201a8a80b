"""Pinned pictures of the main screens (pytest-textual-snapshot): the trace picker, the waterfall
mid-run with the agent's terminal, the help, a model call as a conversation, and the terminal
zoomed. Update with `make test PYTEST_ARGS=--snapshot-update` after a deliberate change, and look
at the SVGs before committing them."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from replay.app import ReplayApp
from replay.load import load
from tests.replay.conftest import DEMO_RUN, FakeClock, terminal_settled

SIZE = (150, 42)


def test_picker(snap_compare, sweep_file: Path) -> None:
    assert snap_compare(ReplayApp(load(sweep_file), clock=FakeClock()), terminal_size=SIZE)


def test_waterfall_mid_run_with_terminal(snap_compare) -> None:
    app = ReplayApp(load(DEMO_RUN), clock=FakeClock())

    async def keys(pilot: Pilot) -> None:
        # Four boundaries in (the agent's launch), then 2.5 s on: the agent is half-way through.
        await pilot.press(*["right"] * 4 + ["full_stop"] * 25)
        await terminal_settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=keys)


def test_help(snap_compare) -> None:
    assert snap_compare(
        ReplayApp(load(DEMO_RUN), clock=FakeClock()), terminal_size=SIZE, press=["question_mark"]
    )


def test_model_call_as_a_conversation(snap_compare) -> None:
    run = Path(__file__).parent / "fixtures" / "model-calls-run"
    # The second model call: the conversation so far (a tool call and its result), the answer.
    app = ReplayApp(load(run), clock=FakeClock())

    async def keys(pilot: Pilot) -> None:
        await pilot.press("m", "m")
        await terminal_settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=keys)


def test_zoomed_terminal(snap_compare) -> None:
    app = ReplayApp(load(DEMO_RUN), clock=FakeClock())

    async def keys(pilot: Pilot) -> None:
        await pilot.press("end", "z")
        await terminal_settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=keys)
