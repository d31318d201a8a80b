"""The agent's terminal at any moment of a recording: an asciicast v2 file fed through a
terminal emulator (pyte), so colours and cursor movement are applied as the agent's terminal
applied them. No Textual here: :meth:`Terminal.screen_at` returns plain cells for a widget to draw.

Seeking backwards restarts from the nearest keyframe (a copy of the screen taken every
``KEYFRAME_EVERY`` output events), so scrubbing a long recording stays cheap.
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyte

from cab_trace.errors import TraceFileError

KEYFRAME_EVERY = 500


@dataclass(frozen=True)
class Cell:
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


@dataclass
class Cast:
    """An asciicast v2 recording: its size, start (Unix seconds, if recorded) and output events."""

    path: Path
    width: int
    height: int
    timestamp: float | None
    times_ns: list[int]
    """Event times relative to the recording's start."""
    data: list[str]


def read_cast(path: Path) -> Cast:
    """Read an asciicast v2 file; only output (``"o"``) events matter to the screen.

    Raises:
        TraceFileError: naming the file, the line and what is wrong.
    """
    times: list[int] = []
    data: list[str] = []
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise TraceFileError(path, f"cannot read the terminal recording: {exc.strerror}") from None
    with handle:
        header_line = handle.readline()
        try:
            header = orjson.loads(header_line)
        except orjson.JSONDecodeError:
            raise TraceFileError(path, "not an asciicast file (the header is not JSON)", 1) from None
        if not isinstance(header, dict) or header.get("version") != 2:
            raise TraceFileError(path, 'not an asciicast v2 header (need "version": 2)', 1)
        width, height = header.get("width"), header.get("height")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise TraceFileError(path, "the header needs positive integer width and height", 1)
        for number, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                if not line.endswith(b"\n"):
                    break  # a recording cut off mid-line: keep what came before
                raise TraceFileError(path, "not JSON", number) from None
            if not (
                isinstance(event, list)
                and len(event) == 3
                and isinstance(event[0], int | float)
                and isinstance(event[1], str)
                and isinstance(event[2], str)
            ):
                raise TraceFileError(path, "an event must be [time, code, data]", number)
            if event[1] == "o":
                times.append(int(event[0] * 1e9))
                data.append(event[2])
    stamp = header.get("timestamp")
    return Cast(path, width, height, float(stamp) if isinstance(stamp, int | float) else None, times, data)


class Terminal:
    """Replays a :class:`Cast` through a terminal emulator to any time."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self._keyframes: list[tuple[int, pyte.Screen]] = []  # (events applied, screen copy)
        self._reset()

    def _reset(self) -> None:
        self._screen = pyte.Screen(self.cast.width, self.cast.height)
        self._stream = pyte.Stream(self._screen)
        self._applied = 0

    def _advance_to(self, count: int) -> None:
        while self._applied < count:
            self._stream.feed(self.cast.data[self._applied])
            self._applied += 1
            # Keyframes only where no escape sequence is cut in two: a copy's parser starts fresh.
            if (
                self._applied % KEYFRAME_EVERY == 0
                and (not self._keyframes or self._keyframes[-1][0] < self._applied)
                and "\x1b" not in self.cast.data[self._applied - 1][-32:]
            ):
                self._keyframes.append((self._applied, copy.deepcopy(self._screen)))

    def events_before(self, t_ns: float) -> int:
        """How many output events happened at or before ``t_ns`` (relative to the cast start)."""
        return bisect.bisect_right(self.cast.times_ns, t_ns)

    def screen_at(self, t_ns: float) -> Screen:
        count = self.events_before(t_ns)
        if count < self._applied:
            frame = next((kf for kf in reversed(self._keyframes) if kf[0] <= count), None)
            if frame is None:
                self._reset()
            else:
                self._screen = copy.deepcopy(frame[1])
                self._stream = pyte.Stream(self._screen)
                self._applied = frame[0]
        self._advance_to(count)
        return self._snapshot()

    def _snapshot(self) -> Screen:
        s = self._screen
        lines = []
        for y in range(s.lines):
            row = s.buffer[y]
            cells = []
            for x in range(s.columns):
                c = row[x]
                cells.append(Cell(c.data, c.fg, c.bg, c.bold, c.italics, c.underscore, c.reverse))
            lines.append(cells)
        return Screen(s.columns, s.lines, lines, (s.cursor.x, s.cursor.y))
