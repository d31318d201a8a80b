"""The replay clock: a playhead over one trace's spans, stepped, sought and played back.

Pure (stdlib only): no Textual here. The widgets draw what this module says; every key of the
replay is one method call, so the behaviour is tested without a terminal.

Times are integer nanoseconds relative to the trace's first start (``0 .. duration``).

Playback follows asciinema's model, a chain of small transforms: wall time since the last
tick × speed gives *replay* time; replay time maps to *trace* time through the idle
compression, which shortens every stretch with no span boundary longer than ``idle_limit`` to
``idle_limit`` (as asciinema's ``--idle-time-limit`` does for a terminal recording).
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, NamedTuple, overload

from cab_trace.model import SpanRecord

Clock = Callable[[], float]
"""Monotonic seconds; injected so tests can drive playback with a fake clock."""

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
STEP_NS = 100_000_000
"""What `,` and `.` move the playhead by: 100 ms."""

SpanState = Literal["pending", "running", "done"]


class Boundary(NamedTuple):
    """A span's start or end: the stops of ``←`` / ``→``. A tuple, so that sorting 200,000 of
    them compares in C."""

    time_ns: int
    order: int
    """Tie-breaker: starts before ends, then the span's position in the trace."""
    span: int
    """Index into :attr:`Timeline.spans`."""
    is_end: bool


def state_at(span: SpanRecord, origin_ns: int, t_ns: int) -> SpanState:
    """Whether ``span`` has not started, is running or has ended at ``t_ns`` (relative)."""
    start = span.start_time_unix_nano - origin_ns
    if t_ns < start:
        return "pending"
    if t_ns < span.end_time_unix_nano - origin_ns:
        return "running"
    return "done"


class IdleCompression:
    """A monotonic, piecewise-linear map between trace time and replay time that shortens every
    gap longer than ``limit_ns`` between consecutive activity times to ``limit_ns``."""

    def __init__(self, activity_ns: Iterable[int], limit_ns: int | None, end_ns: int) -> None:
        points = sorted({0, end_ns, *(t for t in activity_ns if 0 <= t <= end_ns)})
        self.limit_ns = limit_ns
        self._trace = points
        replay = [0]
        for a, b in itertools.pairwise(points):
            gap = b - a
            replay.append(replay[-1] + (gap if limit_ns is None else min(gap, limit_ns)))
        self._replay = replay

    @property
    def replay_end_ns(self) -> int:
        return self._replay[-1]

    def to_replay(self, t_ns: float) -> float:
        return _interpolate(self._trace, self._replay, t_ns)

    def to_trace(self, r_ns: float) -> float:
        return _interpolate(self._replay, self._trace, r_ns)


def _interpolate(xs: Sequence[int], ys: Sequence[int], x: float) -> float:
    if x <= xs[0]:
        return float(ys[0])
    if x >= xs[-1]:
        return float(ys[-1])
    i = bisect.bisect_right(xs, x) - 1
    x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0) if x1 > x0 else float(y0)


class _Boundaries(Sequence[Boundary]):
    """The boundaries, sorted, read from their packed keys (``time << shift | order``): one
    int each instead of a tuple, so that 2,000,000 of them sort in C and take little room."""

    def __init__(self, keys: list[int], shift: int, n: int) -> None:
        self._keys, self._shift, self._n = keys, shift, n
        self._mask = (1 << shift) - 1

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, i: int) -> Boundary: ...
    @overload
    def __getitem__(self, i: slice) -> list[Boundary]: ...
    def __getitem__(self, i: int | slice) -> Boundary | list[Boundary]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        key = self._keys[i]
        order = key & self._mask
        is_end = order >= self._n
        return Boundary(key >> self._shift, order, order - self._n if is_end else order, is_end)

    def time_ns(self, i: int) -> int:
        return self._keys[i] >> self._shift


class Timeline:
    """The playhead over one trace.

    Args:
        spans: the trace's spans, in the order the UI lists them (index = row); or None with
            ``times``.
        clock: monotonic seconds, for playback.
        idle_limit_s: compress idle stretches longer than this on playback (None: off).
        extra_activity_ns: more activity times (absolute ns), e.g. terminal output, so that
            idle compression does not skip over what the terminal shows.
        times: (starts, ends) in absolute ns, one per row, instead of ``spans``: a columnar
            trace need not make a record per span.
        axis: (origin, end) in absolute ns, when the time axis is wider than the spans (two
            runs on one clock: each run's spans sit where the shared clock puts them).
    """

    def __init__(
        self,
        spans: Sequence[SpanRecord] | None = None,
        clock: Clock = time.monotonic,
        idle_limit_s: float | None = None,
        extra_activity_ns: Iterable[int] = (),
        *,
        times: tuple[Sequence[int], Sequence[int]] | None = None,
        axis: tuple[int, int] | None = None,
    ) -> None:
        if times is None:
            if spans is None:
                raise ValueError("a timeline needs spans or times")
            times = ([s.start_time_unix_nano for s in spans], [s.end_time_unix_nano for s in spans])
        starts, ends = times
        if not starts:
            raise ValueError("a timeline needs at least one span")
        self.spans = spans
        n = len(starts)
        first, last = min(starts), max(ends)
        self.origin_ns = origin = first if axis is None else min(axis[0], first)
        self.duration_ns = (last if axis is None else max(axis[1], last)) - origin
        self._clock = clock
        # Column-wise (``map`` over C functions): this runs once per span of a big trace.
        self._start: array[int] = array("q", map(operator.sub, starts, itertools.repeat(origin)))
        self._end: array[int] = array("q", map(operator.sub, ends, itertools.repeat(origin)))
        shift = (2 * n).bit_length()
        # Tie-break at one instant: starts before ends, then the span's position in the trace.
        keys: list[int] = list(
            map(operator.or_, map(operator.lshift, self._start, itertools.repeat(shift)), range(n))
        )
        keys += map(operator.or_, map(operator.lshift, self._end, itertools.repeat(shift)), range(n, 2 * n))
        keys.sort()
        self._keys, self._shift, self._n = keys, shift, n
        self.boundaries: Sequence[Boundary] = _Boundaries(keys, shift, n)
        self._by_start: list[int] | None = None  # for active_at, built on first use
        self._starts: list[int] = []
        self._extra = sorted(t - origin for t in extra_activity_ns)
        self.position_ns: float = 0.0
        self.cursor: int | None = 0
        """Index of the boundary the playhead sits on after a step; None after a seek or play."""
        self.selected = self.boundaries[0].span
        self.speed_index = SPEEDS.index(1.0)
        self.playing = False
        self._last_tick: float | None = None
        self.idle_limit_s: float | None = None
        self._compression: IdleCompression | None = None
        self.set_idle_limit(idle_limit_s)

    @property
    def _activity(self) -> list[int]:
        times = [k >> self._shift for k in self._keys]
        if self._extra:
            times += self._extra
            times.sort()  # two sorted runs: linear
        return times

    # -- where the playhead is ----------------------------------------------------------------

    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_index]

    @property
    def at_end(self) -> bool:
        return self.position_ns >= self.duration_ns

    def state(self, index: int) -> SpanState:
        t = int(self.position_ns)
        if t < self._start[index]:
            return "pending"
        if t < self._end[index]:
            return "running"
        return "done"

    def start_ns(self, index: int) -> int:
        """A span's start, relative to the trace's start."""
        return self._start[index]

    def end_ns(self, index: int) -> int:
        return self._end[index]

    def elapsed_fraction(self, index: int) -> float:
        """How much of the span lies before the playhead (0 … 1)."""
        start = self._start[index]
        length = self._end[index] - start
        if length <= 0:
            return 1.0 if self.position_ns >= start else 0.0
        return min(1.0, max(0.0, (self.position_ns - start) / length))

    def active_at(self, t_ns: float | None = None) -> list[int]:
        """Indices of the spans running at ``t_ns`` (default: the playhead): start <= t < end."""
        t = self.position_ns if t_ns is None else t_ns
        if self._by_start is None:
            self._by_start = sorted(range(self._n), key=self._start.__getitem__)
            self._starts = [self._start[i] for i in self._by_start]
        started = bisect.bisect_right(self._starts, t)
        return sorted(i for i in self._by_start[:started] if self._end[i] > t)

    # -- moving the playhead ------------------------------------------------------------------

    def seek(self, t_ns: float) -> None:
        """Move the playhead to ``t_ns``, clamped to the trace."""
        self.position_ns = float(min(max(t_ns, 0), self.duration_ns))
        self.cursor = None
        self._last_tick = self._clock() if self.playing else None

    def seek_fraction(self, fraction: float) -> None:
        self.seek(fraction * self.duration_ns)

    def step_time(self, steps: int) -> None:
        """``,`` / ``.``: move by ``steps`` × 100 ms."""
        self.seek(self.position_ns + steps * STEP_NS)

    def step_boundary(self, direction: int) -> bool:
        """``←`` / ``→``: to the previous / next span start or end, selecting that span.

        Several boundaries at one instant are separate steps, so stepping forward n times
        and back n times always lands where it started. Returns False at either end.
        """
        if self.cursor is not None:
            target = self.cursor + direction
        elif direction > 0:  # the first boundary after the playhead
            target = bisect.bisect_left(self._keys, (math.floor(self.position_ns) + 1) << self._shift)
        else:  # the last one before it
            target = bisect.bisect_left(self._keys, math.ceil(self.position_ns) << self._shift) - 1
        if not 0 <= target < len(self.boundaries):
            return False
        boundary = self.boundaries[target]
        self.position_ns = float(boundary.time_ns)
        self.cursor = target
        self.selected = boundary.span
        self._last_tick = self._clock() if self.playing else None
        return True

    def seek_span(self, index: int) -> None:
        """``enter``: the playhead to a span's start (which becomes the current boundary)."""
        self.selected = index
        target = bisect.bisect_left(self._keys, self._start[index] << self._shift | index)
        self.position_ns = float(self._start[index])
        self.cursor = target

    # -- playback ----------------------------------------------------------------------------

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.at_end:
            self.position_ns = 0.0  # play at the end starts over, as media players do
        self.playing = True
        self.cursor = None
        self._last_tick = self._clock()

    def pause(self) -> None:
        self.tick()
        self.playing = False
        self._last_tick = None

    def tick(self) -> None:
        """Advance the playhead by the wall time since the last tick × speed (when playing)."""
        if not self.playing or self._last_tick is None:
            return
        now = self._clock()
        elapsed_ns = (now - self._last_tick) * 1e9 * self.speed
        self._last_tick = now
        replay = self.to_replay(self.position_ns) + elapsed_ns
        self.position_ns = min(self.to_trace(replay), float(self.duration_ns))
        self.cursor = None
        if self.at_end:
            self.playing = False
            self._last_tick = None

    def faster(self) -> None:
        self.tick()
        self.speed_index = min(self.speed_index + 1, len(SPEEDS) - 1)

    def slower(self) -> None:
        self.tick()
        self.speed_index = max(self.speed_index - 1, 0)

    def set_idle_limit(self, seconds: float | None) -> None:
        """Compress idle stretches longer than ``seconds`` on playback (None: off)."""
        self.tick()
        self.idle_limit_s = seconds
        # Without a limit replay time is trace time: no map to build (it costs a pass over
        # every boundary, which a 1,000,000-span trace should not pay to open).
        self._compression = (
            None if seconds is None else IdleCompression(self._activity, int(seconds * 1e9), self.duration_ns)
        )

    @property
    def replay_duration_ns(self) -> int:
        """How long playing the whole trace takes at ×1 (shorter with idle compression)."""
        return self.duration_ns if self._compression is None else self._compression.replay_end_ns

    def to_replay(self, t_ns: float) -> float:
        if self._compression is None:
            return min(max(float(t_ns), 0.0), float(self.duration_ns))
        return self._compression.to_replay(t_ns)

    def to_trace(self, r_ns: float) -> float:
        if self._compression is None:
            return min(max(float(r_ns), 0.0), float(self.duration_ns))
        return self._compression.to_trace(r_ns)
