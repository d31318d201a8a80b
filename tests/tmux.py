"""A command in a real terminal for the tests: tmux runs it on a server of its own (``tmux -L``:
tests running side by side, or a user's own tmux, never share one), we send keys and read the
screen back with capture-pane, as a user would see it. tmux is a test dependency (installed by
.ci/run); a missing tmux fails rather than skipping."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT

#: How long a capture is given to settle: a loaded machine draws one frame in several writes,
#: so one capture can hold half of it; two captures this far apart that agree hold a whole one.
SETTLE_S = 0.05
SETTLE_TRIES = 6


class Tmux:
    """``command`` in a tmux session; when it ends the pane shows ``EXITED=<status>`` and stays
    for ``hold`` seconds, so its last screen can still be read."""

    def __init__(
        self,
        command: list[str],
        size: tuple[int, int] = (150, 42),
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        hold: int = 30,
    ) -> None:
        assert shutil.which("tmux"), "tmux is needed for the real-terminal tests (apt-get install tmux)"
        self.session = f"cab-trace-test-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.session]
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", **(env or {})}
        env.pop("TMUX", None)  # started from inside tmux: still a server of its own
        shell = " ".join(shlex.quote(a) for a in command) + f"; echo EXITED=$?; sleep {hold}"
        width, height = size
        new = ["new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), shell]
        subprocess.run([*self.tmux, "-f", "/dev/null", *new], check=True, env=env, cwd=cwd)

    def screen(self, joined: bool = False, escapes: bool = False) -> str:
        """The screen as text; ``joined``: lines the terminal wrapped put back together;
        ``escapes``: with the colour sequences the terminal shows them with."""
        flags = [*(["-J"] if joined else []), *(["-e"] if escapes else [])]
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", *flags, "-t", self.session],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.session, *keys], check=True)

    def wait_for(self, ok: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        """A screen for which ``ok`` holds (polled until ``timeout``, generous for a busy
        machine), once it has settled: assert on what this returns, never on an earlier read.

        A screen that keeps changing while ``ok`` holds (a replay playing) is returned as last
        read; one that stops satisfying ``ok`` while settling returns the last that did."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ok(screen):
                return self._settled(screen, ok)
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.1)

    def _settled(self, screen: str, ok: Callable[[str], bool]) -> str:
        for _ in range(SETTLE_TRIES):
            time.sleep(SETTLE_S)
            again = self.screen()
            if again == screen or not ok(again):
                return screen
            screen = again
        return screen

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], check=False, capture_output=True)
