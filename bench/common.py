"""Timing helpers: medians of repeated runs, interleaved with the baseline so that machine noise
hits both sides alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Figure:
    name: str
    unit: str
    ours: float
    baseline: float
    baseline_name: str
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


def median_seconds(
    fn: Callable[[], object], baseline: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Median wall time of ``fn`` and of ``baseline``, run alternately ``repeat`` times each."""
    ours: list[float] = []
    base: list[float] = []
    for _ in range(repeat):
        for target, into in ((fn, ours), (baseline, base)):
            start = time.perf_counter()
            target()
            into.append(time.perf_counter() - start)
    return statistics.median(ours), statistics.median(base)
