"""The agent's terminal at any moment of a recording, with bounded work per request: where to
start emulating from, and how far. The emulating itself is :mod:`replay.emulator`'s (pyte). No
Textual here: :meth:`Terminal.screen_at` returns plain cells for a widget to draw.

A recording can be a gigabyte and pyte emulates about a megabyte a second, so no moment may
need everything before it. Three things keep a seek within a fixed amount of work:

- **Keyframes**: a background pass (:meth:`Terminal.advance`, run off the UI thread) emulates
  the recording from the start and keeps a compressed copy of the emulator every
  ``keyframe_bytes``. A moment near a keyframe is emulated from it: exact.
- **Clean starts**: where the output clears the whole screen and homes the cursor, or scrolls
  a whole screen of fresh lines past with nothing but text, colours and line erases, the
  screen no longer depends on what came before; emulating a bounded window from a blank
  screen gives the exact screen (:func:`window_is_self_contained` says when).
- Otherwise the window from a blank screen is shown marked as approximate, until the
  background pass reaches that moment.

The emulator (:class:`~replay.emulator.Emulator`, its :class:`~replay.emulator.Screen` and
cells) lives in :mod:`replay.emulator` and is re-exported here, so imports from this module
keep working.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from replay.cast import read_cast
from replay.cast_index import OUTPUT, Cast
from replay.emulator import (
    Cell,
    Emulator,
    FastScreen,
    SafeStream,
    Screen,
    error_screen,
    throughput,
)

__all__ = [  # load.py reads casts from here; the emulator's names are re-exported for old imports
    "Cast",
    "Cell",
    "Emulator",
    "FastScreen",
    "SafeStream",
    "Screen",
    "Terminal",
    "error_screen",
    "read_cast",
    "throughput",
    "window_is_self_contained",
]

SMALL_STEP = 8192
"""A request this close after a screen already emulated just continues from it (playback)."""
MIN_BUDGET = 16_384
FEED_SLICE = 65_536
"""The background pass works in steps of this much output, so a request is seen soon."""
MAX_WINDOW_EVENTS = 4000
"""Events cost time of their own (a read, a JSON parse): a window or a run from a keyframe
spans at most this many, and keyframes are at most this many events apart."""


# -- when a window from a blank screen gives the exact screen ----------------------------------

_UNSAFE = re.compile(r"\x1b(?!\[[0-9;]*[mK])|[\x00-\x06\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
"""Anything but text, CR, LF, tab, backspace, bell, colours (SGR) and line erase (EL)."""
_SGR_RESET = re.compile(r"\x1b\[0*(?:;[0-9;]*)?m")
_SGR_OR_EL = re.compile(r"\x1b\[[0-9;]*[mK]")
_AUTOWRAP_OFF = re.compile(r"\x1b\[\?(?:[0-9;]*;)?7(?:;[0-9;]*)?l")


def _wraps(segment: str, cols: int) -> int:
    """How many rows a line of text at least advances by wrapping at the right margin (0 for
    what we cannot count for sure: tabs, backspaces, characters wider or narrower than one)."""
    total = 0
    for piece in _SGR_OR_EL.sub("", segment).replace("\x07", "").split("\r"):
        if len(piece) > cols and piece.isascii() and piece.isprintable():
            total += (len(piece) - 1) // cols  # from any column: at least this many
    return total


def window_is_self_contained(text: str, rows: int, attributes_known: bool, cols: int = 0) -> bool:
    """Whether ``text`` alone decides the whole screen, whatever state the terminal was in.

    True when, after the last control that is not text-like (cursor moves, modes, …) and a
    carriage return after it (from there the column is known), the cursor moves down
    ``2 × rows`` times, by line feeds or, given ``cols``, by long lines wrapping: a cursor
    anywhere reaches the bottom within ``rows`` of them and the next ``rows`` scroll every
    earlier row off, so each visible row was drawn by ``text``. Colours are decided too when
    ``text`` resets them before that point, or ``attributes_known`` (nothing before it set
    any). The layout state (scrolling region, autowrap, …) at the start of ``text`` is the
    caller's to know (the defaults, for this to hold).
    """
    last = 0
    for match in _UNSAFE.finditer(text):
        last = match.end()
    cr = text.find("\r", last)
    if cr < 0:
        return False
    needed = 2 * rows
    count_wraps = cols > 0 and _AUTOWRAP_OFF.search(text) is None
    # Where the last `needed` moves down begin: everything visible is drawn after it.
    at, moves = len(text), 0
    while moves < needed:
        feed = text.rfind("\n", cr, at)
        if feed < 0:
            return False
        moves += 1 + (_wraps(text[feed + 1 : at], cols) if count_wraps else 0)
        at = feed
    # A reset after the last control (a restored cursor brings old attributes back).
    return attributes_known or _SGR_RESET.search(text, last, at) is not None


@dataclass
class _Keyframe:
    events: int
    state: bytes


@dataclass
class Terminal:
    """Replays a :class:`Cast` to any moment with bounded work per request.

    Not thread-safe: one thread (the replay's terminal worker) owns it.
    """

    cast: Cast
    keyframe_bytes: int = 0
    """Output between keyframes (0: chosen from the recording's size)."""
    budget_bytes: int = 256 * 1024
    """At most this much output is emulated to answer a request at once."""
    seek_seconds: float | None = None
    """If set, ``budget_bytes`` follows how fast this recording emulates, to take this long."""
    keyframes: list[_Keyframe] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keyframe_bytes:
            self.keyframe_bytes = max(256 * 1024, self.cast.output_bytes // 1000)
        self._background = self._fresh()
        self._rest: str | None = None  # what the background pass has still to feed of its event
        self._last: Emulator | None = None  # the emulator that answered the last request

    def _fresh(self) -> Emulator:
        return Emulator(self.cast.width, self.cast.height)

    # -- the background pass -----------------------------------------------------------------

    @property
    def emulated(self) -> int:
        """How many events the background pass has emulated (every moment up to here is exact)."""
        return self._background.events

    @property
    def done(self) -> bool:
        return self._background.events >= len(self.cast)

    def advance(self, max_bytes: int = FEED_SLICE, interrupted: Callable[[], bool] = lambda: False) -> None:
        """Emulate about ``max_bytes`` more of the recording from the start, keeping keyframes;
        stops early if ``interrupted`` (inside an event too: the rest is fed next time)."""
        emulator, cast = self._background, self.cast
        stop = cast.cumulative[emulator.events] + max_bytes
        last_frame = self.keyframes[-1].events if self.keyframes else 0
        while emulator.events < len(cast) and cast.cumulative[emulator.events] < stop and not interrupted():
            if cast.codes[emulator.events] != OUTPUT:
                self._apply(emulator, emulator.events)
            else:
                rest = self._rest if self._rest is not None else cast.text(emulator.events)
                fed = emulator.feed(rest, interrupted)
                if fed < len(rest):
                    self._rest = rest[fed:]  # mid-event: not a moment to start from
                    return
                self._rest = None
                emulator.events += 1
            if (
                self.cost(last_frame, emulator.events) >= self.keyframe_bytes
                or emulator.events - last_frame >= MAX_WINDOW_EVENTS
            ) and emulator.stream.in_ground_state:
                self.keyframes.append(_Keyframe(emulator.events, emulator.state()))
                last_frame = emulator.events

    def _apply(self, emulator: Emulator, index: int) -> None:
        cast = self.cast
        if cast.codes[index] == OUTPUT:
            emulator.feed(cast.text(index))
        else:
            emulator.resize(*cast.resizes[index])
        emulator.events = index + 1

    # -- answering a request -----------------------------------------------------------------

    def cost(self, start: int, end: int) -> int:
        return self.cast.cumulative[end] - self.cast.cumulative[start]

    def _within(self, start: int, end: int, limit: int) -> bool:
        """Whether emulating events ``start`` to ``end`` fits the work allowed for a request."""
        return self.cost(start, end) <= limit and end - start <= MAX_WINDOW_EVENTS

    def screen_at(self, events: int, interrupted: Callable[[], bool] = lambda: False) -> Screen | None:
        """The screen after ``events`` screen events, emulating at most about ``budget_bytes``;
        None if ``interrupted`` said so on the way."""
        events = max(0, min(events, len(self.cast)))
        start = self._exact_start(events)
        cost = self.cost(start.events, events) if start is not None else self.budget_bytes
        last = self._last
        if (
            start is None
            and last is not None
            and last.events <= events
            and self._within(last.events, events, SMALL_STEP)
        ):
            # Playing on from an approximate screen: it stays approximate, unless a short
            # stretch of plain output now decides the screen on its own.
            short = self._self_contained_window(events, 4 * SMALL_STEP)
            return short if short is not None else self._run(last, events, interrupted)
        if cost > SMALL_STEP:
            # Plain output often decides the screen from its last few dozen lines: cheaper.
            short = self._self_contained_window(events, cost)
            if short is not None:
                return short
        if start is None:
            start = self._clean_start(events)
        if start is None:
            return self._window(events, interrupted)
        return self._run(start, events, interrupted)

    def _self_contained_window(self, events: int, limit: int) -> Screen | None:
        """The shortest stretch of whole events before ``events``, at most ``limit`` bytes, that
        decides the whole screen on its own (:func:`window_is_self_contained`), emulated from a
        blank screen; None if there is none."""
        cast = self.cast
        cols, rows = cast.size_before(events)
        texts: list[str] = []
        lines = size = checked = 0
        start = events
        while start > 0 and self._within(start - 1, events, limit):
            start -= 1
            if cast.codes[start] != OUTPUT:
                return None  # a resize inside: not worth the care
            text = cast.text(start)
            texts.append(text)
            lines += text.count("\n")
            size += len(text)
            # What follows the last control is settled once one is in: earlier output cannot
            # help, so that is the last check. Before that, check when there are lines enough,
            # and then only as the stretch doubles (a check reads the whole stretch).
            unsafe = _UNSAFE.search(text) is not None
            if lines + size // cols < 2 * rows or (size < 2 * checked and not unsafe):
                if unsafe:
                    return None
                continue
            checked = size
            layout, attributes = cast.state_default_at(start, mid_event=False)
            if layout and window_is_self_contained("".join(reversed(texts)), rows, attributes, cols):
                emulator = Emulator(cols, rows)
                for piece in reversed(texts):
                    emulator.feed(piece)
                emulator.events = events
                self._last = emulator
                return emulator.snapshot()
            if unsafe:
                return None
        return None

    def exact_screen_at(self, events: int, interrupted: Callable[[], bool] = lambda: False) -> Screen | None:
        """The exact screen, from the nearest keyframe whatever that costs; None if interrupted
        or if the background pass has not got there yet (no keyframe before ``events``)."""
        events = max(0, min(events, len(self.cast)))
        if events > self.emulated:
            return None
        start = self._start_from_keyframe(events, unbounded=True)
        return None if start is None else self._run(start, events, interrupted)

    def _start_from_keyframe(self, events: int, unbounded: bool = False) -> Emulator | None:
        best: Emulator | None = None
        for emulator in (self._last, None if self._rest is not None else self._background):
            if (
                emulator is not None
                and emulator.exact
                and emulator.events <= events
                and emulator.stream.in_ground_state
                and (unbounded or self._within(emulator.events, events, self.budget_bytes))
                and (best is None or emulator.events > best.events)
            ):
                best = emulator
        lo, hi = 0, len(self.keyframes)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.keyframes[mid].events <= events:
                lo = mid + 1
            else:
                hi = mid
        frame = self.keyframes[lo - 1] if lo else None
        if (
            frame is not None
            and (best is None or frame.events > best.events)
            and (unbounded or self._within(frame.events, events, self.budget_bytes))
        ):
            return Emulator.from_state(frame.state)
        if best is None and (unbounded or self._within(0, events, self.budget_bytes)):
            return self._fresh()
        if best is self._background:
            return Emulator.from_state(best.state())  # the background pass keeps its own
        return best

    def _exact_start(self, events: int) -> Emulator | None:
        return self._start_from_keyframe(events)

    def _clean_start(self, events: int) -> Emulator | None:
        """A blank screen at the last whole-screen clear within budget, when that is exact."""
        clears = self.cast.clears
        lo, hi = 0, len(clears)
        while lo < hi:
            mid = (lo + hi) // 2
            if clears[mid] < events:
                lo = mid + 1
            else:
                hi = mid
        if not lo:
            return None
        clear = clears[lo - 1]
        if self.cost(clear, events) > self.budget_bytes or not all(
            self.cast.state_default_at(clear, mid_event=False)
        ):
            return None
        emulator = Emulator(*self.cast.size_before(clear))
        emulator.events = clear
        return emulator

    def _window(self, events: int, interrupted: Callable[[], bool]) -> Screen | None:
        """From a blank screen, the last ``budget_bytes`` of output before ``events``."""
        cast = self.cast
        start, budget = events, self.budget_bytes
        while start > 0 and self._within(start - 1, events, budget):
            start -= 1
        partial = start > 0 and events - start < MAX_WINDOW_EVENTS and cast.codes[start - 1] == OUTPUT
        first = start - 1 if partial else start
        emulator = Emulator(*cast.size_before(first))
        texts: list[str] = []
        if partial:  # the window begins inside this event: its tail
            room = budget - self.cost(start, events)
            head = cast.text_tail(start - 1, room)
            texts.append(head[len(head) - room :] if room > 0 else "")
            emulator.feed(texts[-1])
        began = time.perf_counter()
        for index in range(start, events):
            if interrupted():
                return None
            if cast.codes[index] == OUTPUT:
                texts.append(cast.text(index))
                emulator.feed(texts[-1])
            else:
                emulator.resize(*cast.resizes[index])
        self._adapt_budget(sum(map(len, texts)), time.perf_counter() - began)
        emulator.events = events
        emulator.exact = first == 0 and not partial
        layout, attributes = cast.state_default_at(first, mid_event=partial)
        if not emulator.exact and layout:
            resized = any(first <= at < events for at in cast.resizes)
            emulator.exact = not resized and window_is_self_contained(
                "".join(texts), emulator.screen.lines, attributes, emulator.screen.columns
            )
        self._last = emulator
        return emulator.snapshot()

    def _adapt_budget(self, fed: int, seconds: float) -> None:
        """Keep a window's work near ``seek_seconds`` for this recording's kind of output (a
        full-screen program's escapes emulate several times slower than log lines)."""
        if self.seek_seconds is not None and seconds > 0.01 and fed > 0:
            wanted = fed / seconds * self.seek_seconds
            self.budget_bytes = max(MIN_BUDGET, int((self.budget_bytes + wanted) / 2))

    def _run(self, emulator: Emulator, events: int, interrupted: Callable[[], bool]) -> Screen | None:
        while emulator.events < events:
            if interrupted():
                return None
            self._apply(emulator, emulator.events)
        self._last = emulator
        return emulator.snapshot()
