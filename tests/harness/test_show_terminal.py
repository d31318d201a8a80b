"""`cab-trace show` in a real terminal (tmux), 80 columns: every line fits, an error is in view,
colour on a terminal but not with NO_COLOR, and none when piped."""

from __future__ import annotations

import sys
from pathlib import Path

from cab_trace.model import JsonlWriter
from tests.conftest import run_cli
from tests.replay.conftest import sweep_spans
from tests.replay.test_tmux import Tmux


def errored_trace(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path)
    writer.write([s for s in sweep_spans() if s.trace_id.endswith("2")])  # the trace with an error
    writer.close()
    return path


def test_show_at_80_columns_in_a_terminal(tmp_path: Path) -> None:
    path = errored_trace(tmp_path)
    for env, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        session = Tmux([sys.executable, "-m", "cab_trace", "show", str(path)], size=(80, 24), env=env)
        try:
            session.wait_for(lambda s: "EXITED=0" in s, "show to finish")
            plain, painted = session.screen(), session.screen(escapes=True)
        finally:
            session.close()
        lines = plain.splitlines()
        assert all(len(line) <= 80 for line in lines)
        row = next(line for line in lines if line.startswith("ERROR"))
        assert "ERROR: exit code 1" in row  # the status and why, at 80 columns
        assert "1 span with errors" in plain
        assert ("\x1b[" in painted) is coloured, env
    piped = run_cli("show", str(path))
    assert "\x1b" not in piped.stdout and "ERROR: exit code 1" in piped.stdout
