"""Fixtures for the replay: a recorded demo run (trace + terminal.cast, committed so that
snapshots are stable) and a small sweep with errors and hostile text, built here."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from cab_trace.model import JsonlWriter, SpanRecord, Status
from replay.app import ReplayApp
from replay.load import load
from replay.widgets.terminal_pane import TerminalPane

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_RUN = FIXTURES / "demo-run"
#: `cab-trace demo` as it is now: the bundled agent and its scripted model (4 model calls, 3 tool
#: steps, the diff and the check). DEMO_RUN is an older demo: no model calls, no check.
AGENT_RUN = FIXTURES / "agent-run"
T0 = 1_795_000_000_000_000_000
HOSTILE = "[bold red]not bold[/] [link=http://x]link[/link] \x1b[31mred\x1b]0;title\x07"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sweep_spans() -> list[SpanRecord]:
    """Three traces; the second has a failing tool call and a hostile span name and attribute."""
    spans = []
    for t in range(3):
        trace = f"{t + 1:032x}"
        root = f"{t * 10 + 1:016x}"
        base = T0 + t * 60_000_000_000
        spans.append(
            SpanRecord(
                trace,
                root,
                None,
                f"run:cell-{t}",
                "run",
                base,
                base + (t + 2) * 1_000_000_000,
                attributes={"cell_id": f"cell-{t}", "adapter": "pi", "model": "m", "exit_code": t % 2},
            )
        )
        for c in range(3):
            start = base + c * 500_000_000
            error = t == 1 and c == 1
            spans.append(
                SpanRecord(
                    trace,
                    f"{t * 10 + c + 2:016x}",
                    root,
                    HOSTILE if error else f"tool_call:{c}",
                    "tool_call",
                    start,
                    start + 400_000_000,
                    status=Status("ERROR", "exit code 1") if error else Status("OK"),
                    attributes={"note": HOSTILE} if error else {"i": c},
                )
            )
    return spans


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.jsonl"
    writer = JsonlWriter(path)
    writer.write(sweep_spans())
    writer.close()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def demo_app(clock: FakeClock) -> ReplayApp:
    return ReplayApp(load(DEMO_RUN), source=DEMO_RUN, clock=clock)


async def terminal_settled(pilot: Pilot, timeout: float = 10.0) -> TerminalPane:
    """Wait until the terminal pane shows the exact screen at the playhead: the emulator answers
    from its own thread, so a key's effect on the pane arrives a moment after the key."""
    pane = pilot.app.screen.query_one(TerminalPane)
    for _ in range(int(timeout / 0.02)):
        await pilot.pause()
        if pane.settled:
            return pane
        await pilot.pause(0.02)
    raise AssertionError(f"the terminal pane did not settle: wanted {pane.wanted}, shows {pane.screen_shown}")
