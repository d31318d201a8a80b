"""Reading an asciicast recording (v2, and v3 as asciinema 3 writes it) without holding it.

A recording can be a gigabyte. :func:`read_cast` reads it once, line by line, and keeps an index
of the events that change the screen (output and resize): their times, where each line is in
the file and a few facts about it. An event's text is read back from the file when the emulator
needs it (:meth:`Cast.text`), so memory stays at a few bytes per event.

The formats (https://docs.asciinema.org/manual/asciicast/v2/, …/v3/):

- v2: header ``{"version": 2, "width": W, "height": H, "timestamp"?: …}``; events
  ``[time, code, data]`` with ``time`` in seconds since the start.
- v3: header ``{"version": 3, "term": {"cols": W, "rows": H, "type"?: …}, "timestamp"?: …}``;
  events ``[interval, code, data]`` with ``interval`` in seconds since the previous event;
  lines starting with ``#`` are comments.

Codes: ``o`` output, ``i`` input, ``r`` resize (``"COLSxROWS"``), ``m`` marker, ``x`` exit
(v3: the exit status). Only ``o`` and ``r`` change the screen; markers and the exit status are
kept; any other code is skipped, as asciinema's player does.
"""

from __future__ import annotations

import os
import re
import weakref
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model.lines import max_line_bytes, too_long

MAX_COLS = 1000
MAX_ROWS = 500
"""A size beyond this is taken as this: an emulated screen is drawn cell by cell."""

OUTPUT = ord("o")

# What the index notes about an output event, found in its JSON text (escape is \u001b there).
_ESC = rb"\\u001[bB]"
_SGR = re.compile(_ESC + rb"\[[0-9;:]*+m")
_CLEAR = re.compile(
    _ESC + rb"\[(?:1?;?1?)?H(?:" + _ESC + rb"\[[0-9;]*m)*" + _ESC + rb"\[[023]?J"
    rb"|" + _ESC + rb"\[2J(?:" + _ESC + rb"\[3J)?" + _ESC + rb"\[(?:1?;?1?)?H"
    rb"|" + _ESC + rb"c"
)
"""A whole-screen clear with the cursor sent home (or a full reset): the screen after it does not
depend on what was drawn before."""
_LAYOUT = re.compile(
    _ESC + rb"\[(\??)([0-9;]*+)([hlr])"  # modes, scrolling region
    rb"|" + _ESC + rb"([()])(.)"  # character set designation
    rb"|" + _ESC + rb"([78cH])"  # save / restore cursor, reset, tab stop
    rb"|" + _ESC + rb"\[[0-9]*+(g)"  # tab stops cleared
    rb"|\\u000([eEfF])"  # shift out / in
    rb"|\\u009([bBdD])"  # 8-bit CSI, OSC: anything may follow
)
_NOT_SGR = re.compile(rb"\\u00(?!1[bB]\[[0-9;:]*+m)")
_PARTIAL = re.compile(rb"(\\u001[bB](?:\[[0-9;?]*|[()])?)(?:\"\s*\]\s*)?$")
"""An escape sequence cut off at the end of an event's text (the next event finishes it)."""
_LAYOUT_MODES = {"?3", "?6", "?7", "4", "20"}
"""Column mode, origin mode, autowrap, insert, newline: modes that change where text lands."""
_DEFAULT_MODES = frozenset({"?7"})
_RESET_SGR = {b"\\u001b[m", b"\\u001b[0m", b"\\u001B[m", b"\\u001B[0m"}

# Bits of Cast.flags, per event.
LAYOUT_DEFAULT_AFTER = 1
"""After this event, modes, scrolling region, character sets, tab stops and the saved-cursor
stack are as a fresh terminal has them (so emulating from a blank screen there is faithful)."""
TOUCHES_LAYOUT = 2
SGR_DEFAULT_AFTER = 4
"""After this event, colours and attributes are the defaults."""
HAS_SGR = 8


class LayoutTracker:
    """Follows, without emulating, the terminal state that outlives the screen's content: the
    modes that move text, the scrolling region, character sets and shifts, tab stops, pyte's
    saved-cursor stack (which keeps some of these), and the current colours. It reads the
    JSON text of each output event, in order, as the index is built."""

    def __init__(self) -> None:
        self.modes: set[str] = set(_DEFAULT_MODES)
        self.region = False
        self.charsets = ("B", "0")
        self.shifted = False
        self.tabs_default = True
        self.saved: list[tuple[frozenset[str], tuple[str, str], bool]] = []
        self.unknown = False  # an 8-bit control: we no longer know
        self.sgr_default = True
        self.pending = b""
        self.restored_at = -1
        self.shift = 0

    @property
    def default(self) -> bool:
        return (
            not self.unknown
            and self.modes == _DEFAULT_MODES
            and not self.region
            and self.charsets == ("B", "0")
            and not self.shifted
            and self.tabs_default
            and not self.saved
        )

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def feed(self, line: bytes) -> int:  # noqa: PLR0912 (one branch per kind of sequence)
        """Follow one event (the JSON text of its output, from just inside the opening quote);
        returns its flags."""
        flags = 0
        self.restored_at = -1
        self.shift = len(self.pending)  # feed_sgr sees the event without it
        if self.pending:  # an escape the previous event began: read it whole
            line, self.pending = self.pending + line, b""
        if b"\\u00" not in line:
            return self._flags(flags)
        partial = _PARTIAL.search(line, max(0, len(line) - 48))
        if partial:
            self.pending = partial.group(1)
        if not _NOT_SGR.search(line):  # colours only, as in most output: nothing to follow here
            return self._flags(flags)
        for match in _LAYOUT.finditer(line):
            flags |= TOUCHES_LAYOUT
            private, params, final, which, charset, esc, tbc, shift, c1 = match.groups()
            if final == b"r":
                self.region = bool(params.strip(b";"))
            elif final:
                prefix = private.decode()
                for number in params.decode().split(";"):
                    mode = prefix + number
                    if mode in _LAYOUT_MODES:
                        (self.modes.add if final == b"h" else self.modes.discard)(mode)
            elif which:
                pair = (
                    (charset.decode(), self.charsets[1])
                    if which == b"("
                    else (self.charsets[0], charset.decode())
                )
                self.charsets = pair
            elif esc == b"7":
                self.saved.append((frozenset(self.modes & {"?6", "?7"}), self.charsets, self.shifted))
            elif esc == b"8":
                if self.saved:
                    kept, self.charsets, self.shifted = self.saved.pop()
                    self.modes = (self.modes - {"?6", "?7"}) | kept
                else:
                    self.modes.discard("?6")
                self.restored_at = match.end()  # the attributes come back too
            elif esc == b"c":
                self.reset()
            elif esc == b"H" or tbc:
                self.tabs_default = False
            elif shift:
                self.shifted = shift in b"eE"
            elif c1:
                self.unknown = True
        return self._flags(flags)

    def _flags(self, flags: int) -> int:
        return flags | (LAYOUT_DEFAULT_AFTER if self.default else 0)

    def feed_sgr(self, line: bytes) -> int:
        """Follow the colours of one event; returns its flags."""
        # Only the last SGR counts: look for it from the end (a log line has hundreds).
        at, last = len(line), None
        upper = b"\\u001B[" in line
        while last is None:
            at = line.rfind(b"\\u001b[", 0, at)
            if upper:
                at = max(at, line.rfind(b"\\u001B[", 0, at))
            if at < 0:
                break
            last = _SGR.match(line, at)
        if last is None:
            if self.restored_at >= 0:
                self.sgr_default = False  # a restored cursor brought its attributes back
            return SGR_DEFAULT_AFTER if self.sgr_default else 0
        self.sgr_default = last.group(0) in _RESET_SGR and last.start() + self.shift >= self.restored_at
        return HAS_SGR | (SGR_DEFAULT_AFTER if self.sgr_default else 0)


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


def _size(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_header(path: Path, line: bytes) -> Cast:
    """The header line of a v2 or v3 recording.

    Raises:
        TraceFileError: not JSON, not an asciicast header, a version we do not read, no size.
    """
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise TraceFileError(path, "not an asciicast file (the header is not JSON)", 1) from None
    if not isinstance(header, dict):
        raise TraceFileError(path, "not an asciicast file (the header is not a JSON object)", 1)
    version = header.get("version")
    term_type = None
    if version == 2:
        width, height = _size(header.get("width")), _size(header.get("height"))
        env = header.get("env")
        if isinstance(env, dict) and isinstance(env.get("TERM"), str):
            term_type = env["TERM"]
        if width is None or height is None:
            raise TraceFileError(path, "an asciicast v2 header needs positive integer width and height", 1)
    elif version == 3:
        term = header.get("term")
        if not isinstance(term, dict):
            raise TraceFileError(path, 'an asciicast v3 header needs "term": {"cols": …, "rows": …}', 1)
        width, height = _size(term.get("cols")), _size(term.get("rows"))
        if isinstance(term.get("type"), str):
            term_type = term["type"]
        if width is None or height is None:
            raise TraceFileError(
                path, "an asciicast v3 header needs positive integer term.cols and term.rows", 1
            )
    else:
        raise TraceFileError(path, f"not an asciicast v2 or v3 header (version {version!r}; need 2 or 3)", 1)
    stamp = header.get("timestamp")
    return Cast(
        path,
        version,
        min(width, MAX_COLS),
        min(height, MAX_ROWS),
        float(stamp) if isinstance(stamp, int | float) and not isinstance(stamp, bool) else None,
        term_type,
    )


def _resize(path: Path, data: str, number: int) -> tuple[int, int]:
    cols, sep, rows = data.partition("x")
    if not (sep and cols.isdigit() and rows.isdigit() and int(cols) > 0 and int(rows) > 0):
        raise TraceFileError(path, f'a resize event needs "COLSxROWS", not {data[:40]!r}', number)
    return min(int(cols), MAX_COLS), min(int(rows), MAX_ROWS)


def _event(path: Path, line: bytes, number: int) -> list[object] | None:
    """One event line as ``[time, code, data]``; None for a last line cut off mid-way."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        if not line.endswith(b"\n"):
            return None
        raise TraceFileError(path, "not JSON", number) from None
    if not (
        isinstance(event, list)
        and len(event) == 3
        and isinstance(event[0], int | float)
        and not isinstance(event[0], bool)
        and event[0] >= 0
        and isinstance(event[1], str)
        and event[1]
        and isinstance(event[2], str)
    ):
        raise TraceFileError(
            path, "an event must be [time, code, data] (a time ≥ 0, a code, a string)", number
        )
    return event


def _note_output(cast: Cast, tracker: LayoutTracker, line: bytes) -> int:
    """What the index keeps about the output event about to be appended (its JSON ``line``)."""
    data = line[line.find(b'"', line.find(b'"o"') + 3) + 1 :]
    flags = tracker.feed(data)
    if b"\\u001" in line:
        flags |= tracker.feed_sgr(data)
        if b"J" in line or b"u001bc" in line:
            clear = _CLEAR.search(line)
            if clear:
                cast.clears.append(len(cast.codes))
    elif tracker.sgr_default:
        flags |= SGR_DEFAULT_AFTER
    return flags


LINE_LIMIT = 1 << 20
"""Lines longer than this are read in pieces of this size and checked by their shape (the JSON
prefix and ending), so that indexing holds no more than this of the file at a time."""
_BIG_PREFIX = re.compile(rb'\s*\[\s*([0-9][0-9.eE+-]*)\s*,\s*"o"\s*,\s*"')
_CARRY = 16


def _big_output(
    cast: Cast, tracker: LayoutTracker, head: bytes, handle: BinaryIO, number: int
) -> tuple[int, float] | None:
    """An output event longer than LINE_LIMIT, read piece by piece after its first ``head``
    bytes. Returns (its length, its time) or None if the file ends inside it."""
    match = _BIG_PREFIX.match(head)
    if match is None:
        raise TraceFileError(
            cast.path, 'an event over 1 MiB must be an output event [time, "o", text]', number
        )
    try:
        time_s = float(match.group(1))
    except ValueError:
        raise TraceFileError(cast.path, "not JSON (the event's time)", number) from None
    length, piece, carry, overlap, flags = len(head), head[match.end() :], b"", b"", 0
    clears = False
    limit = max_line_bytes()
    while True:
        # Escapes must not be cut in two for the trackers: hold back from the last backslash.
        text = carry + piece
        cut = text.rfind(b"\\", max(0, len(text) - _CARRY))
        cut = len(text) if cut < 0 or piece.endswith(b"\n") else cut
        chunk, carry = text[:cut], text[cut:]
        flags |= tracker.feed(chunk) | tracker.feed_sgr(chunk)
        clears = clears or bool(_CLEAR.search(overlap + chunk))
        overlap = chunk[-64:]
        if piece.endswith(b"\n") or not piece:
            break
        if length > limit:
            # Its text is read back whole when shown: held to the line limit like any reader's.
            raise too_long(cast.path, number, limit)
        piece = handle.readline(LINE_LIMIT)
        length += len(piece)
    if not piece.endswith(b"\n"):
        return None
    if not chunk.rstrip().endswith(b'"]'):
        raise TraceFileError(cast.path, 'not JSON (an event must end with "])', number)
    flags = (flags & (TOUCHES_LAYOUT | HAS_SGR)) | tracker._flags(0)
    flags |= SGR_DEFAULT_AFTER if tracker.sgr_default else 0
    if clears:
        cast.clears.append(len(cast.codes))
    cast.flags.append(flags)
    return length, time_s


def read_cast(path: Path) -> Cast:  # noqa: PLR0915 (one loop over the lines, kept whole)
    """Index an asciicast v2 or v3 file, streaming it (the events' text stays in the file).

    Raises:
        TraceFileError: naming the file, the line and what is wrong.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise TraceFileError(path, f"cannot read the terminal recording: {exc.strerror}") from None
    with handle:
        header_line = handle.readline(LINE_LIMIT)
        cast = parse_header(path, header_line)
        v3 = cast.version == 3
        offset = len(header_line)
        clock_s = 0.0
        tracker = LayoutTracker()
        total, number = 0, 1
        while True:
            line = handle.readline(LINE_LIMIT)
            if not line:
                break
            number += 1
            at = offset
            if len(line) == LINE_LIMIT and not line.endswith(b"\n"):
                big = _big_output(cast, tracker, line, handle, number)
                if big is None:
                    cast.cut_off = True
                    break
                length, time_s = big
                offset += length
                clock_s = clock_s + time_s if v3 else max(clock_s, time_s)
                total += length
                cast.add(int(clock_s * 1e9), at, length, OUTPUT, total)
                continue
            offset += len(line)
            if not line.strip() or (v3 and line.startswith(b"#")):
                continue
            event = _event(path, line, number)
            if event is None:
                cast.cut_off = True
                break  # a recording cut off mid-line: keep what came before
            when, code, data = event
            assert isinstance(when, int | float) and isinstance(code, str) and isinstance(data, str)
            clock_s = clock_s + when if v3 else max(clock_s, float(when))
            if code == "o":
                cast.flags.append(_note_output(cast, tracker, line))
                total += len(line)
            elif code == "r":
                cast.resizes[len(cast.codes)] = _resize(path, data, number)
                cast.flags.append(cast.flags[-1] if cast.flags else LAYOUT_DEFAULT_AFTER | SGR_DEFAULT_AFTER)
            else:
                if code == "m":
                    cast.markers.append((int(clock_s * 1e9), data))
                elif code == "x":
                    cast.exit_status = data
                continue
            cast.add(int(clock_s * 1e9), at, len(line), ord(code), total)
    return cast
