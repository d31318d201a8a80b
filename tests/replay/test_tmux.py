"""`cab-trace replay` in a real terminal: tmux runs it, we send keys and read the screen back
with capture-pane, as a user would see it. tmux is a test dependency (installed by .ci/run); a
missing tmux fails here rather than skipping."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import ROOT
from tests.replay.conftest import DEMO_RUN


class Tmux:
    def __init__(self, command: list[str], size: tuple[int, int] = (150, 42)) -> None:
        assert shutil.which("tmux"), "tmux is needed for the real-terminal replay test (apt-get install tmux)"
        self.session = f"cab-trace-test-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        shell = " ".join(shlex.quote(a) for a in command) + "; echo EXITED=$?; sleep 30"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.session, "-x", str(size[0]), "-y", str(size[1]), shell],
            check=True,
            env=env,
            cwd=ROOT,
        )

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True, text=True, check=True
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def wait_for(self, ok: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ok(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], check=False, capture_output=True)


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
