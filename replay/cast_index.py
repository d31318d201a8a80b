"""A terminal recording's index (:class:`Cast`): the header and, per screen event (output and
resize), its time, where its line is in the file, its output bytes so far and the flags
:mod:`replay.cast_escapes` noted. An event's text is read back from the file when the emulator
needs it (:meth:`Cast.text`), so memory stays at a few bytes per event.

Separate from :mod:`replay.cast`, which parses the file and builds this index: what is held and
how it is queried (by time, by event, the size at an event) is one job; reading the format is
another.
"""

from __future__ import annotations

import os
import weakref
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from replay.cast_escapes import HAS_SGR, LAYOUT_DEFAULT_AFTER, SGR_DEFAULT_AFTER, TOUCHES_LAYOUT

MAX_COLS = 1000
MAX_ROWS = 500
"""A size beyond this is taken as this: an emulated screen is drawn cell by cell."""

OUTPUT = ord("o")


@dataclass
class Cast:
    """An asciicast recording's header and an index of its screen events (output and resize)."""

    path: Path
    version: int
    width: int
    height: int
    """The size at the start (a resize event changes it)."""
    timestamp: float | None
    term_type: str | None = None
    times_ns: array[int] = field(default_factory=lambda: array("q"))
    """Time of each screen event, relative to the recording's start."""
    offsets: array[int] = field(default_factory=lambda: array("q"))
    """Where each event's line starts in the file."""
    lengths: array[int] = field(default_factory=lambda: array("q"))
    codes: bytearray = field(default_factory=bytearray)
    """``o`` or ``r`` per event."""
    resizes: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Event index -> (cols, rows) of each resize event."""
    cumulative: array[int] = field(default_factory=lambda: array("q", [0]))
    """Output bytes (as written in the file) before each event; one more entry than events."""
    clears: array[int] = field(default_factory=lambda: array("q"))
    """Indexes of the output events that clear the whole screen and send the cursor home."""
    flags: bytearray = field(default_factory=bytearray)
    """Per event: LAYOUT_DEFAULT_AFTER, TOUCHES_LAYOUT, SGR_DEFAULT_AFTER, HAS_SGR."""
    markers: list[tuple[int, str]] = field(default_factory=list)
    exit_status: str | None = None
    cut_off: bool = False
    """The last line was incomplete (a recording that was cut off): what came before is kept."""

    def __post_init__(self) -> None:
        self._fd: int | None = None
        self._closer: Callable[[], object] | None = None

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def output_bytes(self) -> int:
        return self.cumulative[-1]

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
            self._closer = weakref.finalize(self, os.close, self._fd)
        return self._fd

    def _read(self, index: int) -> bytes:
        # pread: no shared file position, so the UI and the emulator's thread can both read.
        return os.pread(self._file(), self.lengths[index], self.offsets[index])

    def text(self, index: int) -> str:
        """The output of event ``index`` (an empty string for a resize event)."""
        if self.codes[index] != OUTPUT:
            return ""
        try:
            event = orjson.loads(self._read(index))
            return event[2] if isinstance(event, list) and isinstance(event[2], str) else ""
        except (orjson.JSONDecodeError, IndexError, OSError):
            return ""  # checked when indexed; only a file changed since then gets here

    def add(self, time_ns: int, offset: int, length: int, code: int, total: int) -> None:
        self.times_ns.append(time_ns)
        self.offsets.append(offset)
        self.lengths.append(length)
        self.codes.append(code)
        self.cumulative.append(total)

    def text_tail(self, index: int, nbytes: int) -> str:
        """About the last ``nbytes`` of event ``index``'s output, without reading all of it."""
        length = self.lengths[index]
        if self.codes[index] != OUTPUT or length <= nbytes + 64:
            return self.text(index)
        raw = os.pread(self._file(), nbytes + 16, self.offsets[index] + length - nbytes - 16).rstrip()
        body = raw.removesuffix(b"]").rstrip().removesuffix(b'"')
        # Start where no escape (at most 6 bytes, \uXXXX) or UTF-8 sequence can be cut in two.
        start = 8
        while start < len(body) and (b"\\" in body[start - 6 : start] or body[start] & 0xC0 == 0x80):
            start += 1
        try:
            return str(orjson.loads(b'"' + body[start:] + b'"'))
        except orjson.JSONDecodeError:
            return self.text(index)

    def state_default_at(self, index: int, mid_event: bool) -> tuple[bool, bool]:
        """Whether (layout, colours) are a fresh terminal's at the start of event ``index`` or,
        ``mid_event``, anywhere inside it."""
        before = self.flags[index - 1] if index > 0 else LAYOUT_DEFAULT_AFTER | SGR_DEFAULT_AFTER
        inside = self.flags[index] if mid_event and index < len(self.flags) else 0
        return (
            bool(before & LAYOUT_DEFAULT_AFTER) and not inside & TOUCHES_LAYOUT,
            bool(before & SGR_DEFAULT_AFTER) and not inside & HAS_SGR,
        )

    def size_before(self, index: int) -> tuple[int, int]:
        """(cols, rows) in effect just before event ``index``."""
        size = (self.width, self.height)
        for at in sorted(self.resizes):
            if at >= index:
                break
            size = self.resizes[at]
        return size

    def events_before(self, t_ns: float) -> int:
        """How many screen events happened at or before ``t_ns`` (relative to the start)."""
        lo, hi = 0, len(self.times_ns)
        times = self.times_ns
        while lo < hi:
            mid = (lo + hi) // 2
            if times[mid] <= t_ns:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def activity_ns(self, resolution_ns: int = 50_000_000) -> list[int]:
        """Event times thinned to one per ``resolution_ns``: enough for idle compression to see
        every gap longer than that, without a list of millions."""
        out: list[int] = []
        last = -resolution_ns
        for t in self.times_ns:
            if t - last >= resolution_ns:
                out.append(t)
                last = t
        if self.times_ns and (not out or out[-1] != self.times_ns[-1]):
            out.append(self.times_ns[-1])
        return out

    def close(self) -> None:
        if self._fd is not None:
            if self._closer is not None:
                self._closer()
            self._fd = None
