"""`cab-trace replay` in a real terminal: tmux runs it, we send keys and read the screen back
with capture-pane, as a user would see it. tmux is a test dependency (installed by .ci/run); a
missing tmux fails here rather than skipping."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import pytest

from tests.replay.conftest import AGENT_RUN, DEMO_RUN
from tests.tmux import Tmux


@pytest.fixture
def tmux_replay() -> Iterator[Tmux]:
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(DEMO_RUN)])
    try:
        yield session
    finally:
        session.close()


def test_replay_in_a_real_terminal(tmux_replay: Tmux) -> None:
    screen = tmux_replay.wait_for(lambda s: "t = 0.000 s / 3.951 s" in s, "the replay to start")
    assert "⏸ paused" in screen
    assert "command:launch" in screen and "cleanup:command" in screen
    assert "\x1b" not in screen

    tmux_replay.keys(".", ".", ".")
    tmux_replay.wait_for(lambda s: "t = 0.300 s" in s, "three 100 ms steps")

    tmux_replay.keys("End")
    tmux_replay.wait_for(lambda s: "t = 3.951 s / 3.951 s" in s, "the end")
    # The agent's terminal, replayed (it comes from the emulator's thread a moment later).
    tmux_replay.wait_for(lambda s: "auth: using key [REDACTED]" in s, "the terminal at the end")

    tmux_replay.keys("Home", "Right")
    tmux_replay.wait_for(lambda s: "task_setup · INTERNAL" in s, "→ to select the next span to start")

    tmux_replay.keys("Space")
    tmux_replay.wait_for(lambda s: "▶ playing" in s, "playback")
    tmux_replay.wait_for(lambda s: "t = 0.000 s" not in s, "the playhead to move")

    tmux_replay.keys("?")
    tmux_replay.wait_for(lambda s: "cab-trace replay: keys" in s, "the help")
    tmux_replay.keys("Escape")  # alone: an escape followed at once by q would read as alt+q
    tmux_replay.wait_for(lambda s: "cab-trace replay: keys" not in s, "the help to close")
    tmux_replay.keys("q")
    tmux_replay.wait_for(lambda s: "EXITED=0" in s, "replay to quit with exit 0")


def test_replay_of_a_bad_file_is_a_clear_error_before_the_ui(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"trace_id": "nope"}\n')
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(bad)])
    try:
        screen = session.wait_for(lambda s: "EXITED=" in s, "replay to exit")
    finally:
        session.close()
    assert f"cab-trace: error: {bad}:1:" in screen.replace("\n", "")
    assert "EXITED=2" in screen
    assert "Traceback" not in screen


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 60)], ids=["80x24", "120x36", "200x60"])
def test_what_a_new_user_sees_at_every_size(size: tuple[int, int]) -> None:
    """The demo's run as a person sees it: the outcome in the header, help and quit in the footer,
    m to the model calls (what each turn added first), t for the transcript, z to maximize."""
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(AGENT_RUN)], size=size)
    try:
        screen = session.wait_for(lambda s: "t = 0.000 s" in s, "the replay to start")
        lines = screen.splitlines()
        assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines)
        for essential in (
            "task demo/fix-greeting",
            "✓ check passed",
            "exit 0",
            "model calls 0/4",
            "tokens 0 in",
        ):
            assert essential in screen, essential
        assert lines[-1].rstrip().endswith("? Help  q Quit") and "m Model call" in lines[-1]
        assert re.search(r"╷0 +╷(500ms|1s)", screen)  # the time axis, its ticks

        session.keys("m", "m")
        screen = session.wait_for(lambda s: "new in this turn (1)" in s, "the second call's new messages")
        assert "model calls 1/4" in screen and "▸ system prompt" not in screen.split("new in this turn")[0]
        session.keys("Tab", "z")  # the detail pane, maximized: the answer is on screen too
        screen = session.wait_for(lambda s: "answer" in s and "╷0" not in s, "the maximized detail")
        assert "edit_file(" in screen and "t = 1.911 s" in screen
        session.keys("z")
        session.wait_for(lambda s: "╷0" in s, "the layout back")

        session.keys("t")
        screen = session.wait_for(lambda s: "transcript" in s and "── turn 2" in s, "the transcript")
        session.keys("End", "q")
        session.wait_for(lambda s: "EXITED=0" in s, "replay to quit with exit 0")
    finally:
        session.close()
