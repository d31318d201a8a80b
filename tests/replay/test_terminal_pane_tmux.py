"""The terminal pane in a real terminal (tmux): maximized, it shows the last line of a 120x36 recording in
a 140x40 window, and q quits at once while the emulator is busy with a large recording."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.replay.test_terminal_pane import busy_run, tall_run
from tests.replay.test_tmux import Tmux


def test_maximize_shows_the_whole_recorded_screen_in_a_140x40_terminal(tmp_path: Path) -> None:
    run = tall_run(tmp_path / "run")
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(run)], size=(140, 40))
    try:
        session.wait_for(lambda s: "t = 0.000 s" in s, "the replay to start")
        session.keys("End")
        # The pane beside the span detail is too short for 36 rows: the last line shows, row 01
        # not. Every condition in the wait, so that no screen drawn half-way is judged.
        session.wait_for(
            lambda s: "t = 3.951 s / 3.951 s" in s and "LAST LINE: task fixed" in s and "row 01" not in s,
            "the end, the terminal's last rows in the pane",
        )
        session.keys("Tab", "Tab", "z")  # the focus to the terminal pane, then maximize it
        session.wait_for(
            lambda s: (
                "LAST LINE: task fixed, 1 file changed" in s
                and "row 01" in s
                and "terminal 120×36" in s
                and "t = 3.951 s" in s
            ),  # the transport line stays
            "the maximized terminal, with the transport line",
        )
        session.keys("z")
        session.wait_for(lambda s: "command:launch" in s, "the waterfall back after z again")
        session.keys("q")
        session.wait_for(lambda s: "EXITED=0" in s, "replay to quit with exit 0")
    finally:
        session.close()


def test_q_quits_at_once_while_the_emulator_is_busy(tmp_path: Path) -> None:
    run = busy_run(tmp_path / "run", 30)
    session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(run)])
    try:
        session.wait_for(lambda s: "t = 0.000 s" in s, "the replay to start", timeout=60)
        session.keys("End")
        session.wait_for(lambda s: "approximate" in s, "an approximate screen, marked")
        start = time.monotonic()
        session.keys("q")
        session.wait_for(lambda s: "EXITED=0" in s, "replay to quit with exit 0", timeout=10)
        assert time.monotonic() - start < 2.0
    finally:
        session.close()
