"""Replay's terminal on a gigabyte recording, generated here: opening it, seeking anywhere, a 50 MB
line, and how fast the emulator goes.

The recording is what a long agent run looks like when it writes a lot: log lines with colours
in 4 KB chunks (as the harness records them), a full-screen section (cursor moves, a scrolling
region, whole-screen redraws), and one 50 MB line. Figures:

1. Opening it (the streamed index) vs reading the file line by line and parsing each with orjson.
2. Memory to hold it open (peak RSS added) vs the file's size.
3. Seek anywhere, key to screen: the time from a request to the emulator's thread until the
   screen is delivered and turned into the pane's text, p50 / p95 over random moments and End,
   right after opening (no keyframes yet: the worst case). Baseline: what the old replay did,
   plain pyte from the start to the same moment, at its throughput measured in this run.
4. The screen just after the 50 MB line, vs plain pyte drawing it.
5. Emulator throughput on log output: ours (whole-run draw) vs plain pyte.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import pyte

from bench.common import Figure, median_seconds
from replay.cast import read_cast
from replay.terminal import Emulator, Screen, Terminal
from replay.terminal_worker import TerminalWorker
from replay.widgets.terminal_pane import screen_text

COLS, ROWS = 120, 36
LONG_LINE = 50_000_000


def _log_chunk(rng: random.Random, n: int) -> str:
    lines = []
    size = 0
    while size < 4000:
        colour = rng.choice(("32", "33", "36", "1;34"))
        line = f"\x1b[{colour}m{n:09d}\x1b[0m step {rng.randrange(10**6)}: " + "output " * rng.randrange(
            1, 14
        )
        lines.append(line + "\r\n")
        size += len(line) + 2
        n += 1
    return "".join(lines)


def _tui_chunk(rng: random.Random, frame: int) -> str:
    rows = [f"\x1b[{y + 2};1H\x1b[2K│ item {frame}.{y} {'█' * rng.randrange(60)}" for y in range(ROWS - 4)]
    head = "\x1b[H\x1b[2J" if frame % 50 == 0 else "\x1b[2;35r\x1b[H"
    return head + f"\x1b[7m frame {frame} \x1b[0m" + "".join(rows) + "\x1b[r\x1b[36;1H"


def write_recording(path: Path, total_bytes: int) -> dict[str, int]:
    """A recording of about ``total_bytes``; returns where its landmarks are (event numbers)."""
    rng = random.Random(7)
    landmarks: dict[str, int] = {}
    with path.open("wb") as out:
        out.write(orjson.dumps({"version": 2, "width": COLS, "height": ROWS, "timestamp": 1_800_000_000}))
        out.write(b"\n")
        written, events, t = 0, 0, 0.0
        # Cache a few hundred chunks: generating 1 GB of distinct text would dominate the bench.
        logs = [_log_chunk(rng, i * 50) for i in range(200)]
        tuis = [_tui_chunk(rng, i) for i in range(100)]
        while written < total_bytes:
            t += 0.01
            if "long" not in landmarks and written > total_bytes // 2:
                chunk = "L" * LONG_LINE + "\r\nafter the long line\r\n"
                landmarks["long"] = events + 1
            elif (events // 2000) % 10 == 3:
                chunk = tuis[events % len(tuis)]
            else:
                chunk = logs[events % len(logs)]
            line = orjson.dumps([round(t, 6), "o", chunk])
            out.write(line)
            out.write(b"\n")
            written += len(line) + 1
            events += 1
    landmarks["events"] = events
    return landmarks


def _parse_only(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if orjson.loads(line))


_MEMORY_PROBE = """
import sys
from pathlib import Path
from replay.cast import read_cast
if sys.argv[1] != "-":
    cast = read_cast(Path(sys.argv[1]))
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def _peak_rss_kb(path: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, path], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def _pyte_throughput(text: str) -> float:
    """Bytes per second plain pyte emulates ``text`` at (the old replay's emulator)."""
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.Stream(screen)
    start = time.perf_counter()
    stream.feed(text)
    return len(text) / (time.perf_counter() - start)


def _our_throughput(text: str) -> float:
    emulator = Emulator(COLS, ROWS)
    start = time.perf_counter()
    emulator.feed(text)
    return len(text) / (time.perf_counter() - start)


def _seek_times(terminal: Terminal, targets: list[int]) -> tuple[list[float], list[bool]]:
    """Key to screen through the emulator's thread: request, delivery, the pane's text."""
    delivered: list[Screen] = []
    ready = threading.Event()

    def deliver(screen: Screen) -> None:
        delivered.append(screen)
        ready.set()

    worker = TerminalWorker(terminal, deliver)
    worker.start()
    times, exact = [], []
    try:
        for target in targets:
            ready.clear()
            start = time.perf_counter()
            worker.request(target)
            deadline = start + 60
            while True:
                if not ready.wait(max(0.0, deadline - time.perf_counter())):
                    raise RuntimeError(f"no screen for event {target} within 60 s")
                ready.clear()
                if delivered and delivered[-1].events == target:
                    break
            screen_text(delivered[-1])
            times.append(time.perf_counter() - start)
            exact.append(delivered[-1].exact)
            time.sleep(0.05)  # a user's pace: the background pass runs in between
    finally:
        worker.stop()
    return times, exact


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def run(quick: bool = False) -> list[Figure]:
    total = 128_000_000 if quick else 1_000_000_000
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "terminal.cast"
        landmarks = write_recording(path, total)
        mb = path.stat().st_size / 1e6
        label = f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB"
        ours, base = median_seconds(lambda: read_cast(path), lambda: _parse_only(path), 1 if not quick else 2)
        figures.append(
            Figure(
                f"open a {label} terminal recording (index it)",
                "s",
                ours,
                base,
                "orjson parse of every line",
            )
        )
        added_mb = (_peak_rss_kb(str(path)) - _peak_rss_kb("-")) / 1000
        figures.append(
            Figure(f"memory to hold a {label} recording open", "MB", added_mb, mb, "the file's size")
        )

        cast = read_cast(path)
        sample = "".join(cast.text(i) for i in range(10, 60))  # log output, ~200 KB
        pyte_rate = statistics.median(_pyte_throughput(sample) for _ in range(3))
        our_rate = statistics.median(_our_throughput(sample) for _ in range(3))
        figures.append(
            Figure(
                "terminal emulation, log output with colours",
                "MB/s",
                our_rate / 1e6,
                pyte_rate / 1e6,
                "plain pyte",
            )
        )

        rng = random.Random(3)
        n = len(cast)
        targets = [rng.randrange(1, n) for _ in range(10 if quick else 30)] + [n, landmarks["long"], n // 3]
        terminal = Terminal(cast)
        times, exact = _seek_times(terminal, targets)
        mean_offset = statistics.mean(cast.cumulative[t] for t in targets)
        old_way = mean_offset / pyte_rate  # the old replay emulated from the start at pyte's rate
        figures.append(
            Figure(
                f"seek anywhere in {label}, key to screen (p95; {sum(exact)}/{len(exact)} exact at once)",
                "ms",
                _p95(times) * 1000,
                old_way * 1000,
                "plain pyte from the start (its rate, the mean position)",
                target="<= 200 ms",
                note=f"median {statistics.median(times) * 1000:.1f} ms, End {times[-3] * 1000:.1f} ms",
            )
        )
        figures.append(
            Figure(
                "the screen just after a 50 MB line, key to screen",
                "ms",
                times[-2] * 1000,
                LONG_LINE / _pyte_throughput("L" * 2_000_000) * 1000,
                "plain pyte drawing the line",
                target="<= 200 ms",
            )
        )
        cast.close()
    return figures
