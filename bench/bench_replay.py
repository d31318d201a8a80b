"""Replay on a 100,000-span trace: opening it, and how long a key takes to repaint.

1. Loading: reading the file into span records and building the tree and the timeline, vs only
   parsing every line with orjson (the least any reader must do).
2. Responsiveness: keypress-to-repaint latency through Pilot for `→`, `.` and a playback tick,
   median and p95, vs the same for a 6-span trace (the demo's size): a UI that redraws every
   span on every tick would show the ratio growing with the trace.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.bench_export import synthetic_trace
from bench.common import Figure, median_seconds
from cab_trace.model import JsonlWriter, SpanRecord
from replay.app import ReplayApp, TraceScreen
from replay.load import LoadedTrace, load, settled_objects
from replay.timeline import Timeline
from replay.tree import SpanTree


def one_trace(count: int) -> list[SpanRecord]:
    """``count`` spans in one trace (a long agent session), 50 children under each parent."""
    from dataclasses import replace

    return [
        replace(
            r, trace_id="0" * 31 + "1", parent_span_id=None if i == 0 else r.parent_span_id or f"{1:016x}"
        )
        for i, r in enumerate(synthetic_trace(count))
    ]


def _open(path: Path) -> Timeline:
    """What `cab-trace replay` does to open a one-trace file: load it, then build the tree and
    the timeline (each with the collector held off, as the app does)."""
    (trace,) = load(path)
    with settled_objects():
        tree = SpanTree(trace.spans)
        timeline = Timeline(tree.spans)
    gc.unfreeze()  # the next repeat starts from the same state
    return timeline


_MEMORY_PROBE = """
import sys
from pathlib import Path
from replay.timeline import Timeline
from replay.tree import SpanTree
if sys.argv[1] != "-":
    from replay.load import load, settled_objects
    (trace,) = load(Path(sys.argv[1]))
    with settled_objects():
        timeline = Timeline(SpanTree(trace.spans).spans)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def _peak_rss_kb(path: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, path], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def _parse_only(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if orjson.loads(line))


async def _latencies(spans: list[SpanRecord], presses: int) -> dict[str, list[float]]:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    app = ReplayApp([LoadedTrace(spans[0].trace_id, spans)], clock=clock)
    out: dict[str, list[float]] = {"→": [], ".": [], "tick": []}
    async with app.run_test(size=(150, 42)) as pilot:
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        await pilot.pause()
        for _ in range(presses):
            for key, name in (("right", "→"), ("full_stop", ".")):
                start = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()  # until the repaint the key caused has been processed
                out[name].append(time.perf_counter() - start)
            screen.timeline.play()
            clock.now += 0.05
            start = time.perf_counter()
            screen._tick()
            await pilot.pause()
            out["tick"].append(time.perf_counter() - start)
            screen.timeline.pause()
    return out


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def run(quick: bool = False) -> list[Figure]:
    count = 20_000 if quick else 100_000
    repeat = 2 if quick else 3
    figures = []
    spans = one_trace(count)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        writer = JsonlWriter(path)
        writer.write(spans)
        writer.close()
        mb = path.stat().st_size / 1e6
        ours, base = median_seconds(lambda: _open(path), lambda: _parse_only(path), repeat)
        figures.append(
            Figure(
                f"open a {count:,}-span trace ({mb:.0f} MB) into the replay timeline",
                "s",
                ours,
                base,
                "orjson parse of every line",
                target="<= 2x",
            )
        )
        # Peak memory of a process that opened the trace, less that of one that only imported
        # the same modules, against the file's size.
        added_mb = (_peak_rss_kb(str(path)) - _peak_rss_kb("-")) / 1000
        figures.append(
            Figure(
                f"memory to hold a {count:,}-span trace open",
                "MB",
                added_mb,
                mb,
                "the file's size",
                note="peak RSS added by opening it",
            )
        )
    presses = 10 if quick else 30
    big = asyncio.run(_latencies(spans, presses))
    small = asyncio.run(_latencies(one_trace(6), presses))
    for name in ("→", ".", "tick"):
        figures.append(
            Figure(
                f"keypress to repaint, {name}, {count:,} spans (p95)",
                "ms",
                _p95(big[name]) * 1000,
                _p95(small[name]) * 1000,
                "same, 6-span trace",
                target="p95 <= 50 ms",
                note=f"median {statistics.median(big[name]) * 1000:.1f} ms",
            )
        )
    return figures
