"""The agent's terminal at any moment of a recording: the output fed through a terminal emulator
(pyte), so colours and cursor movement are applied as the agent's terminal applied them. No
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

Long runs of plain text (a 50 MB line) are cut to the part that can still be on screen before
they are drawn, and any error inside the emulator is caught: the screen carries a note of it
and the rest of the output is still fed (:class:`SafeStream`).
"""

from __future__ import annotations

import pickle
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import pyte
from pyte import modes

from replay.cast import MAX_COLS, MAX_ROWS, OUTPUT, Cast, read_cast

__all__ = ["Cast", "Cell", "Emulator", "Screen", "Terminal", "read_cast"]  # load.py reads casts from here

SMALL_STEP = 8192
"""A request this close after a screen already emulated just continues from it (playback)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MIN_BUDGET = 16_384
YIELD_EVERY = 2048
"""The emulator's thread steps aside for the UI after this many characters."""
FEED_SLICE = 65_536
"""The background pass works in steps of this much output, so a request is seen soon."""
MAX_WINDOW_EVENTS = 4000
"""Events cost time of their own (a read, a JSON parse): a window or a run from a keyframe
spans at most this many, and keyframes are at most this many events apart."""


class Cell(NamedTuple):
    char: str
    fg: str
    bg: str
    bold: bool
    italics: bool
    underscore: bool
    reverse: bool


@dataclass(frozen=True)
class Screen:
    width: int
    height: int
    lines: list[list[Cell]]
    cursor: tuple[int, int]
    events: int = 0
    """How many screen events of the recording this screen shows applied."""
    exact: bool = True
    """False: emulated from a blank screen a bounded window before this moment, and the window
    did not prove that what came earlier cannot show; the exact screen follows when the
    background pass gets here."""
    error: str | None = None
    """The emulator failed on part of the output (the rest was still applied)."""


class FastScreen(pyte.Screen):
    """pyte's screen with a quicker ``draw`` for plain ASCII text: whole runs per row instead of
    a width lookup per character, and a run longer than the screen cut to what can still show."""

    def draw(self, data: str) -> None:
        cols, cursor = self.columns, self.cursor
        autowrap = modes.DECAWM in self.mode
        keep = (self.lines + 1) * cols
        if (
            autowrap
            and len(data) > keep + cols
            and modes.IRM not in self.mode
            and data.isascii()
            and data.isprintable()
        ):
            # Only the tail can still be on screen; dropping a multiple of the width keeps every
            # character that stays in the column it would have landed in. (Cut before the
            # character set is applied: it maps one character to one.)
            data = data[len(data) - keep - (len(data) - keep) % cols :]
        translated = data.translate(self.g1_charset if self.charset else self.g0_charset)
        if not (translated.isascii() and translated.isprintable()) or modes.IRM in self.mode:
            super().draw(data)
            return
        data = translated
        attrs = tuple(cursor.attrs)[1:]
        make = tuple.__new__
        char_type = type(cursor.attrs)
        n, i = len(data), 0
        while i < n:
            if cursor.x >= cols:
                if autowrap:
                    self.dirty.add(cursor.y)
                    self.carriage_return()
                    self.linefeed()
                else:  # no wrap: every further character overwrites the last column
                    self.buffer[cursor.y][cols - 1] = make(char_type, (data[-1], *attrs))
                    break
            take = min(n - i, cols - cursor.x)
            line, x = self.buffer[cursor.y], cursor.x
            for k, char in enumerate(data[i : i + take]):
                line[x + k] = make(char_type, (char, *attrs))
            cursor.x += take
            i += take
        self.dirty.add(cursor.y)


class SafeStream(pyte.Stream):
    """pyte's stream, but an exception in the emulator skips the character it happened on and
    is remembered, instead of ending the replay: no byte sequence can stop the feed."""

    def __init__(self, screen: pyte.Screen) -> None:
        super().__init__(screen)
        self.error: str | None = None

    def feed(self, data: str) -> None:
        send = self._send_to_parser
        assert self.listener is not None
        draw = self.listener.draw
        match_text = self._text_pattern.match
        plain = self._taking_plain_text
        length, offset = len(data), 0
        while offset < length:
            # Both branches move `offset` on before they call into the emulator, so after an
            # exception the feed goes on with the next character.
            try:
                if plain:
                    match = match_text(data, offset)
                    if match:
                        start, offset = match.span()
                        draw(data[start:offset])
                    else:
                        plain = False
                else:
                    offset += 1
                    plain = send(data[offset - 1 : offset])
            except Exception as exc:  # noqa: BLE001 (pyte fails on some input, e.g. ESC [ 8 J)
                self.error = f"{type(exc).__name__} near {data[max(0, offset - 8) : offset + 8]!r}"
                self._initialize_parser()
                plain = self._taking_plain_text
        self._taking_plain_text = plain

    @property
    def in_ground_state(self) -> bool:
        """Not inside an escape sequence (so a copy of the screen is all there is to the state)."""
        return bool(self._taking_plain_text)


def _clamp(cols: int, rows: int) -> tuple[int, int]:
    return max(1, min(cols, MAX_COLS)), max(1, min(rows, MAX_ROWS))


class Emulator:
    """One emulated terminal: a screen and its stream, fed output and resizes."""

    def __init__(self, cols: int, rows: int) -> None:
        cols, rows = _clamp(cols, rows)
        self.screen = FastScreen(cols, rows)
        self.stream = SafeStream(self.screen)
        self.events = 0
        """Screen events applied."""
        self.exact = True

    def feed(self, text: str, interrupted: Callable[[], bool] | None = None) -> int:
        """Feed ``text``; returns how much of it was fed (all of it, unless ``interrupted``
        said stop between two pieces)."""
        start = 0
        while start < len(text):
            if interrupted is not None and start and interrupted():
                return start
            # Pieces end at a control character, so that a long run of text reaches the screen
            # whole (and is cut to what can still show) rather than piece by piece.
            control = _CONTROL.search(text, start + YIELD_EVERY)
            end = control.end() if control else len(text)
            self.stream.feed(text[start:end])
            start = end
            # Let the UI thread have the interpreter: without this it waits up to the switch
            # interval (5 ms) at every step it takes, and a busy emulator makes it crawl.
            time.sleep(0)
        return len(text)

    def resize(self, cols: int, rows: int) -> None:
        cols, rows = _clamp(cols, rows)
        try:
            self.screen.resize(rows, cols)
        except Exception as exc:  # noqa: BLE001 (the same promise as SafeStream: note it, go on)
            self.stream.error = f"{type(exc).__name__} on resize to {cols}x{rows}"

    @property
    def error(self) -> str | None:
        return self.stream.error

    def state(self) -> bytes:
        """Everything the emulator is, compressed (a keyframe)."""
        s = self.screen
        fields = {k: v for k, v in vars(s).items() if k not in ("buffer", "dirty")}
        # Empty rows too: which rows exist changes what pyte's delete_lines does.
        rows = {y: dict(row) for y, row in s.buffer.items()}
        return zlib.compress(pickle.dumps((fields, rows, self.events, self.stream.error), protocol=5), 1)

    @classmethod
    def from_state(cls, state: bytes) -> Emulator:
        fields, rows, events, error = pickle.loads(zlib.decompress(state))  # noqa: S301 (our own bytes)
        emulator = cls(fields["columns"], fields["lines"])
        vars(emulator.screen).update(fields)
        for y, row in rows.items():
            emulator.screen.buffer[y].update(row)
        emulator.events = events
        emulator.stream.error = error
        return emulator

    def snapshot(self) -> Screen:
        s = self.screen
        lines = []
        blank = Cell(" ", "default", "default", False, False, False, False)
        for y in range(s.lines):
            row = s.buffer.get(y)
            if not row:
                lines.append([blank] * s.columns)
                continue
            line = []
            for x in range(s.columns):
                c = row[x]
                line.append(Cell(c.data, c.fg, c.bg, c.bold, c.italics, c.underscore, c.reverse))
            lines.append(line)
        cursor = (min(s.cursor.x, s.columns - 1), min(s.cursor.y, s.lines - 1))
        return Screen(s.columns, s.lines, lines, cursor, self.events, self.exact, self.error)


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


def error_screen(cols: int, rows: int, message: str, events: int = 0) -> Screen:
    """A blank screen that says the emulator could not show this moment."""
    cols, rows = _clamp(cols, rows)
    blank = Cell(" ", "default", "default", False, False, False, False)
    return Screen(cols, rows, [[blank] * cols for _ in range(rows)], (0, 0), events, False, message)


def throughput(seconds: float = 0.05) -> float:
    """Bytes of typical output this machine emulates per second (for the worker's budget)."""
    emulator = Emulator(120, 36)
    line = "\x1b[32mok\x1b[0m " + "lorem ipsum dolor sit amet " * 3 + "\r\n"
    fed, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        emulator.feed(line * 64)
        fed += len(line) * 64
    return fed / (time.perf_counter() - start)
