"""Pinned pictures of the replay (pytest-textual-snapshot) at the sizes people use: 80x24, 120x36
and 200x60. A model call read as its turn, the run mid-way with the agent's terminal, the
transcript, the help; at one size each, the picker, a maximized pane, the changes span's diff
and a zoomed timeline. Update with `make test PYTEST_ARGS=--snapshot-update` after a deliberate
change, and look at the SVGs (tests/replay/__snapshots__/) before committing them."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from replay.app import ReplayApp
from replay.load import load
from tests.replay.conftest import AGENT_RUN, FakeClock, terminal_settled

SIZES = {"80x24": (80, 24), "120x36": (120, 36), "200x60": (200, 60)}


def agent_app() -> ReplayApp:
    return ReplayApp(load(AGENT_RUN), clock=FakeClock())


@pytest.mark.parametrize("size", SIZES)
def test_model_call_turn(snap_compare, size: str) -> None:
    """The second model call: what it added (the file read back), its answer (an edit), and the
    system prompt and earlier messages folded to one line each."""

    async def keys(pilot: Pilot) -> None:
        await pilot.press("m", "m")
        await terminal_settled(pilot)

    assert snap_compare(agent_app(), terminal_size=SIZES[size], run_before=keys)


@pytest.mark.parametrize("size", SIZES)
def test_mid_run_with_the_terminal(snap_compare, size: str) -> None:
    """Half-way through the agent's run: the waterfall, the time axis, the terminal as it was."""

    async def keys(pilot: Pilot) -> None:
        await pilot.press(*["right"] * 4 + ["full_stop"] * 25)
        await terminal_settled(pilot)

    assert snap_compare(agent_app(), terminal_size=SIZES[size], run_before=keys)


@pytest.mark.parametrize("size", SIZES)
def test_transcript(snap_compare, size: str) -> None:
    """Every turn on one page, at the third call."""

    async def keys(pilot: Pilot) -> None:
        await pilot.press("m", "m", "m", "t")
        await terminal_settled(pilot)
        await pilot.pause()

    assert snap_compare(agent_app(), terminal_size=SIZES[size], run_before=keys)


@pytest.mark.parametrize("size", ["80x24", "120x36"])
def test_help(snap_compare, size: str) -> None:
    assert snap_compare(agent_app(), terminal_size=SIZES[size], press=["question_mark"])


def test_picker(snap_compare, sweep_file: Path) -> None:
    assert snap_compare(ReplayApp(load(sweep_file), clock=FakeClock()), terminal_size=SIZES["120x36"])


def test_maximized_detail(snap_compare) -> None:
    """z on the detail pane (tab gives it the focus): the turn at full size, the transport line kept."""

    async def keys(pilot: Pilot) -> None:
        await pilot.press("m", "m", "tab", "z")
        await terminal_settled(pilot)

    assert snap_compare(agent_app(), terminal_size=SIZES["80x24"], run_before=keys)


def test_maximized_terminal(snap_compare) -> None:
    async def keys(pilot: Pilot) -> None:
        await pilot.press("end", "tab", "tab", "z")
        await terminal_settled(pilot)

    assert snap_compare(agent_app(), terminal_size=SIZES["120x36"], run_before=keys)


def test_changes_span_shows_the_diff(snap_compare) -> None:
    async def keys(pilot: Pilot) -> None:
        app = pilot.app
        screen = app.screen
        row = next(i for i, s in enumerate(screen.span_tree.spans) if s.kind == "blast_radius")  # type: ignore[attr-defined]
        screen.timeline.seek_span(row)  # type: ignore[attr-defined]
        screen.redraw()  # type: ignore[attr-defined]
        await terminal_settled(pilot)

    assert snap_compare(agent_app(), terminal_size=SIZES["120x36"], run_before=keys)


def test_zoomed_timeline(snap_compare) -> None:
    """] three times at the second model call: the axis in milliseconds, the calls wide."""

    async def keys(pilot: Pilot) -> None:
        await pilot.press("m", "m", "right_square_bracket", "right_square_bracket", "right_square_bracket")
        await terminal_settled(pilot)

    assert snap_compare(agent_app(), terminal_size=SIZES["120x36"], run_before=keys)


#: The docs' screenshots (docs/img/) are these snapshots, copied: a deliberate change to the
#: replay updates both (`cp` the new SVG over the old).
DOCS_SCREENSHOTS = {
    "replay-turn.svg": "test_model_call_turn[120x36].svg",
    "replay-transcript.svg": "test_transcript[120x36].svg",
    "replay-80x24.svg": "test_model_call_turn[80x24].svg",
    "replay-diff.svg": "test_changes_span_shows_the_diff.svg",
    "replay-zoomed.svg": "test_zoomed_timeline.svg",
}


@pytest.mark.parametrize("image", DOCS_SCREENSHOTS)
def test_the_docs_screenshots_are_the_snapshots(image: str) -> None:
    root = Path(__file__).parents[2]
    snapshot = Path(__file__).parent / "__snapshots__" / "test_snapshots" / DOCS_SCREENSHOTS[image]
    shown = root / "docs" / "img" / image
    assert shown.read_bytes() == snapshot.read_bytes(), f"cp '{snapshot}' '{shown}'"
