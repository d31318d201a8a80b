"""Sweeps: what running many cells at once costs, against the same cells run alone.

1. Throughput: `cab-trace sweep` of 64 cells of an agent that exits at once, --workers 8, vs
   64/8 x the wall of one such `cab-trace run` alone (the time 8 perfect workers would take).
   Target 1.25x. Both ways a cell starts its process are measured: fork (the default: forked
   from the sweep, which imported the runner once) and exec (`python -m cab_trace run`).
2. cab-trace's own CPU per cell (the sweep and its cells, user + system), fork and exec, vs one
   `cab-trace run` alone.
3. Memory per worker: the proportional set size (PSS: shared pages split between the processes
   that share them) of a running cell, fork vs exec.
4. Ray: the time the Ray executor adds per cell against the local one, from the slope of sweep
   wall time over the number of cells (so the cluster connection, paid once, is left out), on a
   loopback Ray cluster of one node with one CPU vs the local executor with --workers 1. Needs
   Ray and a network namespace (tests/sweep/ray_cluster.py); left out with a note otherwise.

The machine's load (1-minute average) is printed with each figure: on a 2-core machine shared
with others, throughput figures move with it.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import Figure

TASK_TOML = 'id = "bench/sweep"\nprompt = "nothing"\n'


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} CPUs"


def _task(root: Path) -> Path:
    task = root / "task"
    task.mkdir()
    (task / "task.toml").write_text(TASK_TOML)
    (task / "README").write_text("a file to copy\n")
    return task


def _timed_cpu(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the command and every process it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        cmd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cab(*args: str) -> list[str]:
    return [sys.executable, "-m", "cab_trace", *args]


def _one_cell(task: Path, out: Path, agent: Sequence[str]) -> list[str]:
    return _cab("run", "-q", "--adapter", "command", "--task", str(task), "--out", str(out), "--", *agent)


def _sweep(task: Path, out: Path, cells: int, workers: int, spawn: str, *extra: str) -> list[str]:
    return _cab(
        "sweep", "-q", "--adapter", "command", "--task", str(task), "--repeats", str(cells),
        "--workers", str(workers), "--spawn", spawn, "--out", str(out), *extra, "--", "true",
    )  # fmt: skip


def throughput(quick: bool) -> list[Figure]:
    cells, workers = (16, 4) if quick else (64, 8)
    repeat = 3 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        task = _task(root)
        counter = iter(range(10**6))
        alone = [_timed_cpu(_one_cell(task, root / f"one-{next(counter)}", ["true"])) for _ in range(repeat)]
        one_wall = statistics.median(w for w, _ in alone)
        one_cpu = statistics.median(c for _, c in alone)
        figures: list[Figure] = []
        for spawn in ("fork", "exec"):
            runs = []
            for _ in range(2 if quick else 3):
                runs.append(_timed_cpu(_sweep(task, root / f"sweep-{next(counter)}", cells, workers, spawn)))
            wall = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            ideal = cells / workers * one_wall
            figures.append(
                Figure(
                    f"sweep of {cells} instant cells, --workers {workers}, {spawn}",
                    "s",
                    wall,
                    ideal,
                    f"{cells}/{workers} x one `cab-trace run` alone ({one_wall * 1000:.0f} ms)",
                    target="<= 1.25x" if spawn == "fork" else "",
                    note=_load(),
                )
            )
            figures.append(
                Figure(
                    f"cab-trace CPU per cell in a sweep, {spawn}",
                    "ms",
                    cpu / cells * 1000,
                    one_cpu * 1000,
                    "CPU of one `cab-trace run` alone (interpreter, imports, run)",
                    note="user + system of the sweep and its cells; the agent `true` is ~1 ms of it",
                )
            )
    return figures


def _pss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cell_pss(cmd: list[str], workers: int) -> float | None:
    """The median PSS (KB) of the cell processes of a running sweep (its children, once all run)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _children(proc.pid)
            if len(kids) >= workers:
                time.sleep(0.5)  # let each cell reach its agent
                samples = [p for p in (_pss_kb(k) for k in _children(proc.pid)) if p]
                break
            time.sleep(0.05)
    finally:
        proc.wait(timeout=120)
    return statistics.median(samples) if samples else None


def memory(quick: bool) -> list[Figure]:
    workers = 4
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        task = _task(root)
        got = {}
        for spawn in ("fork", "exec"):
            cmd = _cab(
                "sweep", "-q", "--adapter", "command", "--task", str(task), "--repeats", str(workers),
                "--workers", str(workers), "--spawn", spawn, "--out", str(root / spawn), "--", "sleep", "3",
            )  # fmt: skip
            got[spawn] = _cell_pss(cmd, workers)
    if got["fork"] is None or got["exec"] is None:
        print("  sweep memory skipped: no cell process could be measured", file=sys.stderr)
        return []
    return [
        Figure(
            "memory per worker (PSS of a running cell), fork",
            "MB",
            got["fork"] / 1024,
            got["exec"] / 1024,
            "the same cell started with exec (python -m cab_trace run)",
            note="PSS splits pages shared with the sweep's process between them",
        )
    ]


def ray_overhead(quick: bool) -> list[Figure]:
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.sweep.ray_cluster import LoopbackCluster, available
    except ImportError as exc:
        print(f"  ray overhead skipped: {exc}", file=sys.stderr)
        return []
    if why := available():
        print(f"  ray overhead skipped: {why}", file=sys.stderr)
        return []
    small, large = (4, 12) if quick else (8, 24)
    try:
        return _ray_overhead(LoopbackCluster, small, large)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        print(f"  ray overhead skipped: {exc}", file=sys.stderr)
        return []


def _ray_overhead(cluster_type: type, small: int, large: int) -> list[Figure]:
    cluster = cluster_type()
    try:
        return _ray_rows(cluster, small, large)
    finally:
        cluster.stop()
        cluster.cleanup()


def _ray_rows(cluster: Any, small: int, large: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp, cluster:
        root = Path(tmp)
        task = _task(root)
        cluster.start_node("head", cpus=1)
        walls: dict[tuple[str, int], float] = {}
        counter = iter(range(10**6))
        for n in (small, large):
            for name, extra in (
                ("local", []),
                ("ray", ["--executor", "ray", "--ray-address", cluster.address]),
            ):
                cmd = _sweep(task, root / f"s{next(counter)}", n, 1, "fork", *extra)
                started = time.perf_counter()
                subprocess.run(
                    cluster.command(cmd), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                walls[name, n] = time.perf_counter() - started
    per_cell = {
        name: (walls[name, large] - walls[name, small]) / (large - small) for name in ("local", "ray")
    }
    added = per_cell["ray"] - per_cell["local"]
    connect = walls["ray", small] - walls["local", small] - small * added
    return [
        Figure(
            "Ray executor, time per cell (1 node, 1 CPU)",
            "ms",
            per_cell["ray"] * 1000,
            per_cell["local"] * 1000,
            "local executor, --workers 1",
            target="added < 500 ms",
            note=f"added {added * 1000:.0f} ms per cell; connecting to the cluster: {connect:.1f} s once; "
            f"{_load()}",
        )
    ]


def run(quick: bool = False) -> list[Figure]:
    return [*throughput(quick), *memory(quick), *ray_overhead(quick)]
