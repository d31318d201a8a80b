"""One emulated terminal: the agent's output fed through pyte, so colours and cursor movement are
applied as the agent's terminal applied them, and read back as plain cells (:class:`Screen`).
No Textual here: a widget draws the cells, and the cell page (``export --format html``) uses the
same emulator.

Long runs of plain text (a 50 MB line) are cut to the part that can still be on screen before
they are drawn (:class:`FastScreen`), and any error inside the emulator is caught: the screen
carries a note of it and the rest of the output is still fed (:class:`SafeStream`). An emulator's
whole state packs into a compressed keyframe and back (:meth:`Emulator.state`).

Separate from :mod:`replay.terminal`, which decides where to start emulating from to reach a
moment of a long recording with bounded work (keyframes, clean starts, windows): this module
only emulates, and knows nothing of recordings.
"""

from __future__ import annotations

import pickle
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import pyte
from pyte import modes

from replay.cast_index import MAX_COLS, MAX_ROWS

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
YIELD_EVERY = 2048
"""The emulator's thread steps aside for the UI after this many characters."""


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
