"""A directory of 10,000 runs (1,000 with --quick): the runs table's first open, its second open
(the index), and the second open to the table on screen.

1. First open: what `cab-trace show DIR` / `replay DIR` does the first time (find the run
   directories, read every trace into its per-axis numbers, write the index) vs only parsing
   every line of every trace with orjson (the least any reader must do).
2. Second open: the same with the index in place (a walk, one stat per trace, the index read)
   vs the walk and the stats alone. Goal: <= 1 s for 10,000 runs.
3. Second open to the table on screen: `cab-trace replay DIR` in a pseudo-terminal, from the
   start of the process to the table drawn (interpreter start and imports included), vs the
   same for the one-run replay of the 6-span demo run. Goal: <= 1 s for 10,000 runs.

The runs are realistic, not one run copied: each is made by tests/runs_factory.py from its own
seed (1 to 12 model calls of varied length and content, tool steps, pass, fail or no check,
four adapters, six models, twenty tasks), with its terminal recording. Generated on the fly in a
temporary directory, never committed. The machine's load is noted with each figure.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import orjson

from bench.common import Figure, median_seconds
from cab_trace.sweep.runs import INDEX_FILE_NAME, scan_runs
from tests.runs_factory import Spec, write_run

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = ROOT / "tests" / "replay" / "fixtures" / "demo-run"

ADAPTERS = ("pi", "codex", "claude", "aider")
MODELS = ("model-a", "model-b", "model-c", "model-d", "model-e", "model-f")


def make_runs(root: Path, count: int) -> int:
    """``count`` run directories in ``root/<adapter>/<run>``; returns the bytes of their traces."""
    rng = random.Random(19)
    size = 0
    for i in range(count):
        calls = [
            (rng.randint(200, 9000), rng.choice((None, rng.randint(50, 900))))
            for _ in range(rng.randint(1, 12))
        ]
        tools = [rng.choice(("read", "edit", "bash", "write")) for _ in range(max(len(calls) - 1, 0))]
        spec = Spec(
            adapter=rng.choice(ADAPTERS),
            model=rng.choice(MODELS),
            task=f"bench/task-{rng.randint(1, 20):02d}",
            repeat=rng.randint(1, 3),
            calls=calls,
            tools=tools,
            tool_ms=rng.randint(5, 400),
            agent_gap_ms=rng.randint(20, 2000),
            passed=rng.choice((True, True, True, False, None)),
            exit_code=rng.choice((0, 0, 0, 0, 1)),
            usage=rng.random() > 0.05,
            seed=i,
            t0=1_795_000_000_000_000_000 + i * 60_000_000_000,
        )
        run_dir = write_run(root / spec.adapter / f"run-{i:05d}", spec)
        size += (run_dir / "trace.jsonl").stat().st_size
    return size


def parse_only(root: Path) -> int:
    lines = 0
    for trace in root.rglob("trace.jsonl"):
        with trace.open("rb") as handle:
            lines += sum(1 for line in handle if orjson.loads(line))
    return lines


def walk_and_stat(root: Path) -> int:
    found = 0
    for here, dirs, files in os.walk(root):
        if "trace.jsonl" in files:
            os.stat(Path(here) / "trace.jsonl")
            dirs[:] = []
            found += 1
    return found


def first_open(root: Path, cache: Path) -> None:
    (root / INDEX_FILE_NAME).unlink(missing_ok=True)
    scan_runs(root, cache_dir=cache)


def time_to_screen(args: list[str], marker: bytes) -> tuple[float, float]:
    """Seconds from starting `cab-trace ARGS` in a pseudo-terminal (200x60) to ``marker`` on
    its screen (what a user waits for, interpreter start and imports included), and the CPU
    seconds the process used in all (to the quit): on a busy machine the first is the load's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 200, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cab_trace", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()
    seen = threading.Event()

    def drain() -> None:  # the terminal's side: read everything, or the app blocks on writes
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                screen.extend(chunk)
                if marker in screen and not seen.is_set():
                    seen.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not seen.wait(120):
            raise RuntimeError(f"`cab-trace {' '.join(args)}` showed no {marker!r}: {bytes(screen[-300:])!r}")
        took = time.perf_counter() - start
        os.write(master, b"q")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return took, cpu


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} CPUs"


def run(quick: bool = False) -> list[Figure]:
    count = 1_000 if quick else 10_000
    repeat = 2 if quick else 3
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "runs", Path(tmp) / "cache"
        mb = make_runs(root, count) / 1e6
        ours, base = median_seconds(lambda: first_open(root, cache), lambda: parse_only(root), 1)
        figures.append(
            Figure(
                f"runs table: first open of {count:,} run directories ({mb:.0f} MB of traces)",
                "s",
                ours,
                base,
                "orjson parse of every line of every trace",
                target="<= 2x",
                note=_load(),
            )
        )
        scan_runs(root, cache_dir=cache)  # the index in place
        ours, base = median_seconds(
            lambda: scan_runs(root, cache_dir=cache), lambda: walk_and_stat(root), repeat
        )
        figures.append(
            Figure(
                f"runs table: second open of {count:,} run directories (the index)",
                "s",
                ours,
                base,
                "walking the tree and a stat per trace",
                target="<= 1 s",
                note=_load(),
            )
        )
        screens, bases = [], []
        for _ in range(repeat):
            screens.append(time_to_screen(["replay", str(root)], b"cells:"))
            bases.append(time_to_screen(["replay", str(DEMO_RUN)], b"paused"))
        cpu = statistics.median(c for _, c in screens)
        figures.append(
            Figure(
                f"runs table: `cab-trace replay DIR`, {count:,} runs, second open to the table on screen",
                "s",
                statistics.median(t for t, _ in screens),
                statistics.median(t for t, _ in bases),
                "`cab-trace replay` of the 6-span demo run to its first screen",
                target="<= 1 s",
                note=f"{_load()}; in a pseudo-terminal, interpreter start included; the whole process "
                f"used {cpu:.2f} s of CPU (the demo run's: {statistics.median(c for _, c in bases):.2f} s)",
            )
        )
    return figures
