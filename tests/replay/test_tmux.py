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
    """A tmux server of this test's own (``tmux -L <unique>``, no user config), running one
    command in a window of ``size``: nothing else that runs tmux on the machine shares it."""

    def __init__(self, command: list[str], size: tuple[int, int] = (150, 42)) -> None:
        assert shutil.which("tmux"), "tmux is needed for the real-terminal replay test (apt-get install tmux)"
        self.socket = f"cab-trace-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.session = "replay"
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        env.pop("TMUX", None)  # started from inside tmux: still a server of its own
        shell = " ".join(shlex.quote(a) for a in command) + "; echo EXITED=$?; sleep 30"
        self._tmux(
            "new-session", "-d", "-s", self.session, "-x", str(size[0]), "-y", str(size[1]), shell, env=env
        )

    def _tmux(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            check=check,
            env=env,
            cwd=ROOT,
        ).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, ok: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        """The first screen for which ``ok`` holds (polled until ``timeout``, generous for a busy
        machine): assert on what this returns, never on a screen read before it settled."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ok(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop this test's tmux server (only ever its own socket)."""
        self._tmux("kill-server", check=False)


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
