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
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from cab_trace.errors import TraceFileError

MAX_COLS = 1000
MAX_ROWS = 500
"""A size beyond this is taken as this: an emulated screen is drawn cell by cell."""

OUTPUT, RESIZE = ord("o"), ord("r")

# What the index notes about an output event, found in its JSON text (escape is \u001b there).
_ESC = rb"\\u001[bB]"
_SGR = re.compile(_ESC + rb"\[[0-9;:]*m")
_CLEAR = re.compile(
    _ESC + rb"\[(?:1?;?1?)?H(?:" + _ESC + rb"\[[0-9;]*m)*" + _ESC + rb"\[[023]?J"
    rb"|" + _ESC + rb"\[2J(?:" + _ESC + rb"\[3J)?" + _ESC + rb"\[(?:1?;?1?)?H"
    rb"|" + _ESC + rb"c"
)
"""A whole-screen clear with the cursor sent home (or a full reset): the screen after it does not
depend on what was drawn before."""
_MODE_SET = re.compile(_ESC + rb"\[(\??)([0-9;]*)[hl]")
_LAYOUT_MODES = {("?", "3"), ("?", "6"), ("?", "7"), ("", "4"), ("", "20")}
"""Column mode, origin mode, autowrap, insert, newline: modes that change where text lands."""
_STATE = re.compile(
    _ESC + rb"\[[0-9;]*r"  # scrolling region
    rb"|" + _ESC + rb"[()*+][^B]"  # a character set other than ASCII
    rb"|" + _ESC + rb"[78H]|" + _ESC + rb"\[[0-9]*g|" + _ESC + rb"\[[su]"  # saved cursor, tab stops
    rb"|\\u000[eEfF]|\\u009[bBdD]"  # shift out/in, 8-bit CSI and OSC
)


def changes_layout_state(line: bytes) -> bool:
    """Whether an event (its JSON text) changes terminal state that outlives the screen's
    content: modes that move text, the scrolling region, character sets, saved cursor, tab stops."""
    if _STATE.search(line):
        return True
    for match in _MODE_SET.finditer(line):
        private = match.group(1).decode()
        if any((private, p) in _LAYOUT_MODES for p in match.group(2).decode().split(";")):
            return True
    return False


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
    first_layout_change: int | None = None
    """The first output event that changes layout state (modes, region, charsets); None if none."""
    first_sgr: int | None = None
    """The first output event that sets colours or attributes; None if none."""
    markers: list[tuple[int, str]] = field(default_factory=list)
    exit_status: str | None = None
    cut_off: bool = False
    """The last line was incomplete (a recording that was cut off): what came before is kept."""

    def __post_init__(self) -> None:
        self._fd: int | None = None

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def output_bytes(self) -> int:
        return self.cumulative[-1]

    def _read(self, index: int) -> bytes:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        # pread: no shared file position, so the UI and the emulator's thread can both read.
        return os.pread(self._fd, self.lengths[index], self.offsets[index])

    def text(self, index: int) -> str:
        """The output of event ``index`` (an empty string for a resize event)."""
        if self.codes[index] != OUTPUT:
            return ""
        try:
            event = orjson.loads(self._read(index))
            return event[2] if isinstance(event, list) and isinstance(event[2], str) else ""
        except (orjson.JSONDecodeError, IndexError, OSError):
            return ""  # checked when indexed; only a file changed since then gets here

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
            os.close(self._fd)
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


def _note_output(cast: Cast, line: bytes) -> None:
    """What the index keeps about the output event about to be appended (its JSON ``line``)."""
    if b"\\u001" in line or b"\\u000" in line or b"\\u009" in line:
        index = len(cast.codes)
        if cast.first_sgr is None and _SGR.search(line):
            cast.first_sgr = index
        if cast.first_layout_change is None and changes_layout_state(line):
            cast.first_layout_change = index
        if _CLEAR.search(line):
            cast.clears.append(index)


def read_cast(path: Path) -> Cast:
    """Index an asciicast v2 or v3 file, streaming it (the events' text stays in the file).

    Raises:
        TraceFileError: naming the file, the line and what is wrong.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise TraceFileError(path, f"cannot read the terminal recording: {exc.strerror}") from None
    with handle:
        header_line = handle.readline()
        cast = parse_header(path, header_line)
        v3 = cast.version == 3
        offset = len(header_line)
        clock_s = 0.0
        times, offsets, lengths, codes = cast.times_ns, cast.offsets, cast.lengths, cast.codes
        cumulative = cast.cumulative
        total = 0
        for number, line in enumerate(handle, start=2):
            at, offset = offset, offset + len(line)
            if not line.strip() or (v3 and line.startswith(b"#")):
                continue
            event = _event(path, line, number)
            if event is None:
                cast.cut_off = True
                break  # a recording cut off mid-line: keep what came before
            time_s, code, data = event
            assert isinstance(time_s, int | float) and isinstance(code, str) and isinstance(data, str)
            clock_s = clock_s + time_s if v3 else max(clock_s, float(time_s))
            if code == "o":
                _note_output(cast, line)
                total += len(line)
            elif code == "r":
                cast.resizes[len(codes)] = _resize(path, data, number)
            else:
                if code == "m":
                    cast.markers.append((int(clock_s * 1e9), data))
                elif code == "x":
                    cast.exit_status = data
                continue
            times.append(int(clock_s * 1e9))
            offsets.append(at)
            lengths.append(len(line))
            codes.append(ord(code))
            cumulative.append(total)
    return cast
