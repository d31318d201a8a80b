"""The waterfall's time window: zoom and pan over a run, and the ticks of its time axis.

Pure (stdlib only). Times are nanoseconds relative to the trace's start, as in
:mod:`replay.timeline`. The window is what the waterfall's bars span: the whole run at first;
zoomed in, a part of it that pans, and follows the playhead when it leaves.
"""

from __future__ import annotations

import math

ZOOM_STEP = 2.0
#: The narrowest window: a millisecond, or a thousandth of the run if that is wider.
MIN_SPAN_NS = 1_000_000
PAN_FRACTION = 0.25
"""How far one pan moves the window: a quarter of its width."""


class TimeWindow:
    """``[start_ns, end_ns)`` of a run of ``duration_ns``; always inside it and never empty."""

    def __init__(self, duration_ns: int) -> None:
        self.duration_ns = max(int(duration_ns), 1)
        self.start_ns = 0.0
        self.end_ns = float(self.duration_ns)

    @property
    def span_ns(self) -> float:
        return self.end_ns - self.start_ns

    @property
    def zoom(self) -> float:
        """How many times narrower than the whole run the window is (1: all of it)."""
        return self.duration_ns / self.span_ns

    @property
    def min_span_ns(self) -> float:
        return float(min(self.duration_ns, max(MIN_SPAN_NS, self.duration_ns / 1000)))

    def _place(self, start: float, span: float) -> None:
        span = min(max(span, self.min_span_ns), float(self.duration_ns))
        start = min(max(start, 0.0), self.duration_ns - span)
        self.start_ns, self.end_ns = start, start + span

    def zoom_by(self, factor: float, anchor_ns: float | None = None) -> bool:
        """Zoom in (``factor`` > 1) or out, keeping ``anchor_ns`` (default: the window's middle)
        where it is on screen. Returns whether the window changed."""
        before = (self.start_ns, self.end_ns)
        anchor = (self.start_ns + self.end_ns) / 2 if anchor_ns is None else anchor_ns
        anchor = min(max(anchor, self.start_ns), self.end_ns)
        at = (anchor - self.start_ns) / self.span_ns if self.span_ns else 0.5
        span = self.span_ns / factor
        span = min(max(span, self.min_span_ns), float(self.duration_ns))
        self._place(anchor - at * span, span)
        return (self.start_ns, self.end_ns) != before

    def pan(self, windows: float) -> bool:
        """Move by ``windows`` times the window's width (negative: earlier)."""
        before = self.start_ns
        self._place(self.start_ns + windows * self.span_ns, self.span_ns)
        return self.start_ns != before

    def reset(self) -> bool:
        changed = (self.start_ns, self.end_ns) != (0.0, float(self.duration_ns))
        self.start_ns, self.end_ns = 0.0, float(self.duration_ns)
        return changed

    def follow(self, t_ns: float) -> bool:
        """Pan so that ``t_ns`` (the playhead) is inside, when it is not: a page at a time, as a
        player's timeline does, so the window does not creep along with every frame."""
        if self.start_ns <= t_ns <= self.end_ns:
            return False
        span = self.span_ns
        start = t_ns - 0.1 * span if t_ns > self.end_ns else t_ns - 0.9 * span
        self._place(start, span)
        return True

    def column(self, t_ns: float, width: int) -> float:
        """Where ``t_ns`` falls on a bar ``width`` cells wide (may be outside 0..width)."""
        return (t_ns - self.start_ns) / self.span_ns * width

    def time_at(self, column: float, width: int) -> float:
        """The time at ``column`` of a bar ``width`` cells wide."""
        return self.start_ns + column / max(width, 1) * self.span_ns


def nice_step(span_ns: float, cells: int, min_gap: int = 10) -> int:
    """A tick step (1, 2 or 5 × 10^k ns) that puts ticks at least ``min_gap`` cells apart."""
    if cells <= 0 or span_ns <= 0:
        return max(int(span_ns), 1)
    raw = span_ns * min_gap / cells
    if raw > 10e9:  # a clock's steps past ten seconds: 15 s, 30 s, 1 min, 2 min, 5 min ...
        for seconds in (15, 30, 60, 120, 300, 600, 900, 1800, 3600):
            if seconds * 1e9 >= raw:
                return seconds * 1_000_000_000
        return math.ceil(raw / 3600e9) * 3_600_000_000_000
    power = 10 ** math.floor(math.log10(max(raw, 1.0)))
    for multiple in (1, 2, 5, 10):
        step = multiple * power
        if step >= raw:
            return int(step)
    return int(10 * power)


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step))) if step > 0 else 0


def format_tick(t_ns: int, step_ns: int) -> str:
    """A tick's label, as precise as the step needs: ``0``, ``250ms``, ``1.5s``, ``2:30``."""
    if t_ns == 0:
        return "0"
    if t_ns < 1_000_000_000:
        return f"{t_ns / 1e6:.{_decimals(step_ns / 1e6)}f}ms"
    if t_ns < 60_000_000_000 or step_ns < 1_000_000_000:
        return f"{t_ns / 1e9:.{_decimals(step_ns / 1e9)}f}s"
    minutes, seconds = divmod(round(t_ns / 1e9), 60)
    return f"{minutes}:{seconds:02d}"


def ticks(window: TimeWindow, width: int, min_gap: int = 10) -> list[tuple[int, str]]:
    """``(column, label)`` of each tick of an axis ``width`` cells wide over ``window``."""
    step = nice_step(window.span_ns, width, min_gap)
    first = math.ceil(window.start_ns / step) * step
    out = []
    t = first
    while t <= window.end_ns:
        column = round(window.column(t, width))
        if 0 <= column < width:
            out.append((column, format_tick(int(t), step)))
        t += step
    return out
