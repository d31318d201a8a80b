"""Replay at scale: opening a 100,000-span (and, in a full run, a 1,000,000-span) trace, the
memory it holds, and how long a key takes to reach the screen.

1. Opening: what `cab-trace replay` does before the first screen (index the file as columns,
   build the tree and the timeline) vs only parsing every line with orjson (the least any
   reader must do). Goal: <= 2x.
2. Memory: peak RSS a process adds by opening the trace, vs the file's size. Goal: <= 2x.
3. Keypress to screen: the replay runs in a real pseudo-terminal; its latency probe
   (replay/probe.py) times each key from the key event entering the app to the frame written
   and flushed to the terminal, and each playback tick from its start to its frame. p95 for
   → (step to the next span boundary), . (100 ms step), ↓ (selection) and a play tick, with 100,000
   spans vs the same with the 6-span demo trace. Goal: p95 <= 16.7 ms (one 60 Hz frame).

Big traces are generated on the fly (:func:`write_trace`), never committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from bench.common import Figure, median_seconds
from cab_trace.model import Event, SpanRecord, Status, encode_record
from replay.load import load, settled_objects
from replay.timeline import Timeline

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = ROOT / "tests" / "replay" / "fixtures" / "demo-run"


def spans(count: int) -> Iterator[SpanRecord]:
    """``count`` spans in one trace (a long agent session): a root over everything, 50
    children under each of its children, harness-like attributes."""
    t0 = 1_795_000_000_000_000_000
    trace_id = "0" * 31 + "1"
    for i in range(count):
        start = t0 + i * 1_000_000
        leader = i - (i - 1) % 50  # rows 1, 51, 101, ... lead a group of 50 under the root
        yield SpanRecord(
            trace_id=trace_id,
            span_id=f"{i + 1:016x}",
            parent_span_id=None if i == 0 else f"{1 if i == leader else leader + 1:016x}",
            name=f"tool_call:{i % 7}" if i else "run:session",
            kind="tool_call" if i else "run",
            start_time_unix_nano=t0 if i == 0 else start,
            end_time_unix_nano=t0 + count * 1_000_000 if i == 0 else start + 750_000,
            status=Status("ERROR", "exit code 1") if i % 97 == 0 else Status("OK"),
            attributes={
                "cell_id": f"pi/model-{i % 3}/task-{i // 50}",
                "argv": ["pi", "--print", "--api-key", "[REDACTED]", "--model", "m"],
                "exit_code": i % 2,
                "duration_s": 0.75,
                "timed_out": False,
            },
            events=[Event("stdout", start + 1000, {"bytes": 120})] if i % 5 == 0 else [],
            resource={"service.name": "cab-trace", "host.name": "bench"},
        )


def write_trace(path: Path, count: int) -> float:
    """Write a ``count``-span trace in batches (never all in memory); returns its size in MB."""
    with path.open("wb") as out:
        batch: list[bytes] = []
        for record in spans(count):
            batch.append(encode_record(record))
            if len(batch) == 10_000:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
    return path.stat().st_size / 1e6


def open_trace(path: Path) -> Timeline:
    """What `cab-trace replay` does to open a one-trace file: index it, build the tree (in
    load) and the timeline, with the collector held off as the app does."""
    (trace,) = load(path)
    assert trace.tree is not None
    with settled_objects():
        timeline = Timeline(times=(trace.tree.starts, trace.tree.ends))
    gc.unfreeze()  # the next repeat starts from the same state
    return timeline


def parse_only(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if orjson.loads(line))


_MEMORY_PROBE = """
import sys
from pathlib import Path
from replay.timeline import Timeline
from replay.load import load, settled_objects
if sys.argv[1] != "-":
    (trace,) = load(Path(sys.argv[1]))
    with settled_objects():
        timeline = Timeline(times=(trace.tree.starts, trace.tree.ends))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def peak_rss_mb(code: str, *args: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return int(out.stdout.split()[-1]) / 1000


# -- keypress to screen, in a real pseudo-terminal ----------------------------------------------

KEYS = {"→": b"\x1b[C", ".": b".", "↓": b"\x1b[B"}
PROBE_NAMES = {"right": "→", "full_stop": ".", "down": "↓", "tick": "tick"}


def key_latencies(path: Path, presses: int, gap_s: float = 0.1) -> dict[str, list[float]]:
    """Run `cab-trace replay PATH` in a pseudo-terminal (150x42), press each key ``presses``
    times ``gap_s`` apart, play for two seconds, quit; the app's probe writes what it measured."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "latency.jsonl"
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 42, 150, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "CAB_TRACE_LATENCY_LOG": str(log)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "cab_trace", "replay", str(path)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        screen = bytearray()

        def drain() -> None:  # the terminal's side: read everything, or the app blocks on writes
            with contextlib.suppress(OSError):
                while chunk := os.read(master, 65536):
                    screen.extend(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            while b"paused" not in screen:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the replay did not start: {bytes(screen[-300:])!r}")
                time.sleep(0.05)
            time.sleep(0.5)
            for key in KEYS.values():
                for _ in range(presses):
                    os.write(master, key)
                    time.sleep(gap_s)
            os.write(master, b" ")  # play for two seconds: ticks
            time.sleep(2)
            os.write(master, b" ")
            time.sleep(0.3)
            os.write(master, b"q")
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        out: dict[str, list[float]] = {name: [] for name in PROBE_NAMES.values()}
        for line in log.read_text().splitlines():
            sample = json.loads(line)
            name = PROBE_NAMES.get(sample["what"])
            if name is not None:
                out[name].append(sample["ms"])
        return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def run(quick: bool = False) -> list[Figure]:
    count = 20_000 if quick else 100_000
    repeat = 2 if quick else 3
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [count] if quick else [count, 1_000_000]
        big_path = Path(tmp) / f"trace-{count}.jsonl"
        for n in sizes:
            path = Path(tmp) / f"trace-{n}.jsonl"
            mb = write_trace(path, n)
            ours, base = median_seconds(
                lambda p=path: open_trace(p), lambda p=path: parse_only(p), repeat if n == count else 1
            )
            figures.append(
                Figure(
                    f"replay: open a {n:,}-span trace ({mb:.0f} MB) to its first screen",
                    "s",
                    ours,
                    base,
                    "orjson parse of every line",
                    target="<= 2x",
                )
            )
            added = peak_rss_mb(_MEMORY_PROBE, str(path)) - peak_rss_mb(_MEMORY_PROBE, "-")
            figures.append(
                Figure(
                    f"replay: memory to hold a {n:,}-span trace open",
                    "MB",
                    added,
                    mb,
                    "the file's size",
                    target="<= 2x",
                    note="peak RSS added by opening it",
                )
            )
            if n != count:
                path.unlink()
        presses = 10 if quick else 30
        big = key_latencies(big_path, presses)
        small = key_latencies(DEMO_RUN, presses)
    for name in ("→", ".", "↓", "tick"):
        if not big[name] or not small[name]:
            raise RuntimeError(f"the latency probe measured no {name!r}: {big} {small}")
        figures.append(
            Figure(
                f"replay: keypress to screen, {name}, {count:,} spans (p95)",
                "ms",
                p95(big[name]),
                p95(small[name]),
                "same, 6-span demo trace",
                target="p95 <= 16.7 ms",
                note=f"p50 {statistics.median(big[name]):.1f} ms "
                f"(6 spans: {statistics.median(small[name]):.1f} ms); {len(big[name])} samples",
            )
        )
    return figures
