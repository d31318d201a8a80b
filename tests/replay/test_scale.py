"""The replay on a trace too long for one screen, and on odd ones: the keys still step and select
(a scrolling waterfall once took ↓ and →), warnings about the trace's shape are on screen, and in
a real terminal (tmux) the latency probe times a key to the frame that showed it."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import orjson

from bench.bench_replay import write_trace
from cab_trace.model import JsonlWriter, SpanRecord
from replay.app import ReplayApp, TraceScreen
from replay.load import load
from replay.widgets.waterfall import Waterfall
from tests.replay.conftest import T0
from tests.replay.test_tmux import Tmux


async def test_keys_step_and_select_on_a_trace_longer_than_the_screen(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_trace(path, 3000)
    app = ReplayApp(load(path))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        tl = screen.timeline
        await pilot.pause()
        for _ in range(3):
            await pilot.press("right")
        assert tl.cursor == 3  # → stepped three boundaries, the waterfall did not scroll sideways
        selected = tl.selected
        await pilot.press("down")
        rows = screen.query_one(Waterfall).rows
        assert rows.index(tl.selected) == rows.index(selected) + 1  # ↓ selected the next row
        await pilot.press("end")
        assert tl.at_end
        for _ in range(40):
            await pilot.press("down")
        await pilot.pause()
        waterfall = screen.query_one(Waterfall)
        assert waterfall.scroll_offset.y > 0 and waterfall.scroll_offset.x == 0  # kept in view


async def test_shape_warnings_are_on_screen(tmp_path: Path) -> None:
    root = SpanRecord(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", None, "root", "run", T0, T0 + 10
    )
    spans = [
        root,
        replace(root, name="twin"),
        replace(root, span_id="00f067aa0ba902b8", parent_span_id="ff" * 8),
    ]
    path = tmp_path / "odd.jsonl"
    writer = JsonlWriter(path)
    writer.write(spans)
    writer.close()
    said: list[str] = []
    traces = load(path, warn=said.append)
    assert any("repeat a span id" in m for m in said) and any("not in the file" in m for m in said)
    app = ReplayApp(traces)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        text = str(app.screen.query_one("#warnings").render())
        assert "repeat a span id" in text and "not in the file" in text
        assert len(app.screen.query_one(Waterfall).rows) == 3  # both twins listed


def test_latency_probe_in_a_real_terminal(tmp_path: Path) -> None:
    log = tmp_path / "latency.jsonl"
    path = tmp_path / "big.jsonl"
    write_trace(path, 5000)
    os.environ["CAB_TRACE_LATENCY_LOG"] = str(log)
    try:
        session = Tmux([sys.executable, "-m", "cab_trace", "replay", str(path)])
    finally:
        del os.environ["CAB_TRACE_LATENCY_LOG"]
    try:
        session.wait_for(lambda s: "t = 0.000 s" in s, "the replay to start")
        session.keys(".")
        session.wait_for(lambda s: "t = 0.100 s" in s, "a 100 ms step on screen")
        session.keys("q")
        session.wait_for(lambda s: "EXITED=0" in s, "replay to quit")
    finally:
        session.close()
    samples = [orjson.loads(line) for line in log.read_text().splitlines()]
    steps = [s["ms"] for s in samples if s["what"] == "full_stop"]
    assert steps and all(0 < ms < 5000 for ms in steps), samples
