"""Two runs on one clock: one playhead over both, each run's spans placed where the shared clock
puts them. Pure (stdlib only), as :mod:`replay.timeline` is: the compare screen draws what this
says, and every key is one method call.

The runs are lined up at an *anchor*: their starts (default), their ``adapter_run`` spans (the
agent's start, when the task setups took different times) or their first model calls. On the
shared axis the run whose anchor comes later starts at 0 and the other starts later by the
difference, so the anchors fall at the same moment.

Each run keeps a :class:`~replay.timeline.Timeline` of its own over the shared axis (what its
waterfall draws); a third one over both runs' spans (the *master*) plays, steps and seeks, and
after every move the two follow it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from replay.timeline import Clock, Timeline

ANCHORS = ("start", "adapter_run", "first model call")
"""What ``a`` lines the runs up at, in turn."""


class RunTimes:
    """What the pair needs of one run: its spans' times (in the order its waterfall lists them),
    its anchors, and more activity (terminal output) for idle compression. Absolute ns."""

    def __init__(
        self,
        starts: Sequence[int],
        ends: Sequence[int],
        kinds: Sequence[str] = (),
        call_starts: Sequence[int] = (),
        activity_ns: Sequence[int] = (),
    ) -> None:
        if not starts:
            raise ValueError("a run needs at least one span")
        self.starts, self.ends = starts, ends
        self.origin_ns = min(starts)
        self.end_ns = max(ends)
        self.activity_ns = activity_ns
        adapter = [s for s, k in zip(starts, kinds, strict=False) if k == "adapter_run"]
        self.anchors = {
            "start": self.origin_ns,
            "adapter_run": min(adapter) if adapter else None,
            "first model call": min(call_starts) if call_starts else None,
        }

    def anchor(self, name: str) -> int:
        """The anchor's absolute time, or the run's start when the run has no such span."""
        found = self.anchors.get(name)
        return self.origin_ns if found is None else found


class PairClock:
    """The shared playhead over runs A and B.

    Attributes:
        a, b: each run's timeline on the shared axis (position = the shared playhead).
        master: the timeline over both runs' spans (A's rows, then B's) that plays and steps.
        offsets: for each run, the absolute time (in that run's clock) of the shared 0.
    """

    def __init__(
        self,
        a: RunTimes,
        b: RunTimes,
        anchor: str = "start",
        clock: Clock = time.monotonic,
        idle_limit_s: float | None = None,
    ) -> None:
        if anchor not in ANCHORS:
            raise ValueError(f"anchor is one of {', '.join(ANCHORS)}, not {anchor!r}")
        self.anchor = anchor
        self.runs = (a, b)
        rel = [r.anchor(anchor) - r.origin_ns for r in self.runs]
        lead = max(rel)
        self.starts_at = [lead - x for x in rel]
        """Where each run's first span sits on the shared axis (ns)."""
        duration = max(d + r.end_ns - r.origin_ns for d, r in zip(self.starts_at, self.runs, strict=True))
        self.offsets = [r.origin_ns - d for r, d in zip(self.runs, self.starts_at, strict=True)]
        self.a, self.b = (
            Timeline(times=(r.starts, r.ends), clock=clock, axis=(off, off + duration))
            for r, off in zip(self.runs, self.offsets, strict=True)
        )
        self.n_a = len(a.starts)
        starts = [*_shift(a.starts, -self.offsets[0]), *_shift(b.starts, -self.offsets[1])]
        ends = [*_shift(a.ends, -self.offsets[0]), *_shift(b.ends, -self.offsets[1])]
        activity = [*_shift(a.activity_ns, -self.offsets[0]), *_shift(b.activity_ns, -self.offsets[1])]
        self.master = Timeline(
            times=(starts, ends),
            clock=clock,
            idle_limit_s=idle_limit_s,
            extra_activity_ns=activity,
            axis=(0, duration),
        )
        self.sync()

    @property
    def timelines(self) -> tuple[Timeline, Timeline]:
        return self.a, self.b

    @property
    def position_ns(self) -> float:
        return self.master.position_ns

    @property
    def duration_ns(self) -> int:
        return self.master.duration_ns

    def anchor_position(self) -> int:
        """Where on the shared axis the anchors meet."""
        return max(self.runs[i].anchor(self.anchor) - self.offsets[i] for i in (0, 1))

    def at(self, side: int) -> int:
        """The playhead as an absolute time in run ``side``'s own clock (for its terminal)."""
        return self.offsets[side] + int(self.master.position_ns)

    def sync(self) -> None:
        """The runs' playheads follow the master's."""
        for tl in self.timelines:
            tl.position_ns = self.master.position_ns
            tl.cursor = None

    def side_of(self, row: int) -> tuple[int, int]:
        """A master row as (run, that run's row)."""
        return (0, row) if row < self.n_a else (1, row - self.n_a)

    # -- moving the playhead (each the master's, then the runs follow) ---------------------------

    def step_boundary(self, direction: int) -> int | None:
        """To the previous / next span start or end in either run, selecting that span in its
        run; returns the run it was in (None at either end)."""
        if not self.master.step_boundary(direction):
            return None
        side, row = self.side_of(self.master.selected)
        self.timelines[side].selected = row
        self.sync()
        return side

    def seek(self, t_ns: float) -> None:
        self.master.seek(t_ns)
        self.sync()

    def seek_fraction(self, fraction: float) -> None:
        self.master.seek_fraction(fraction)
        self.sync()

    def step_time(self, steps: int) -> None:
        self.master.step_time(steps)
        self.sync()

    def seek_span(self, side: int, row: int) -> None:
        """The playhead to a span's start in run ``side`` (selecting it)."""
        self.timelines[side].selected = row
        self.master.seek(self.timelines[side].start_ns(row))
        self.sync()

    def tick(self) -> None:
        self.master.tick()
        self.sync()

    def toggle_play(self) -> None:
        self.master.toggle_play()
        self.sync()

    def pause(self) -> None:
        self.master.pause()
        self.sync()

    def change(self, action: Callable[[Timeline], None]) -> None:
        """Any other change of the master (speed, idle compression), then follow it."""
        action(self.master)
        self.sync()


def _shift(values: Sequence[int], by: int) -> list[int]:
    return [v + by for v in values]
