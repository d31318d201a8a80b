"""What a person would see: text with control sequences and invisible characters taken out,
with a map from each character seen back to where it came from. Pure: stdlib only.

Redaction looks for secrets in these *views* rather than in the raw characters, so that a key
printed with a colour change (``\\x1b[0m``), a zero-width space, a NUL or a backspace between
two of its characters is still found, and the original range (control sequences inside
included) is what gets replaced. Three views, because a secret can hide three ways:

* **stripped**: control sequences, C0/C1 controls and invisible characters removed, in byte
  order (the bytes of a file or a cast still hold the key in that order);
* **screen**: the same, with ``\\r``, backspace, tab, horizontal cursor moves and erases,
  absolute positioning and vertical moves applied to a grid of cells, row by row, so a key
  drawn out of order (its second half first, then ``\\r`` and the first half) is read as
  it is shown;
* **unescaped**: JSON string escapes (``\\u0073``, ``\\"``, ``\\n``) decoded, then stripped,
  for keys written into JSON files, traces and casts.

Clean text (the common case) has one view, the text itself, and costs one check.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from typing import NamedTuple, Protocol

from cab_trace.redact.decode import DEFAULT_IGNORABLE

#: Every Default_Ignorable_Code_Point: zero-width, soft hyphen, direction marks, fillers, tag characters.
_INVISIBLE = DEFAULT_IGNORABLE
#: Control sequences and characters nobody sees as text.
_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC (title, hyperlink, ...)
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # other escapes (charset selection, keypad mode, ...)
    r"|\x1b"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # other controls (\r, backspace, NUL, ...); not \t, \n
    f"|[{_INVISIBLE}]"  # zero-width, soft hyphen, direction marks, fillers
)
#: Whether a text needs any view but itself (one scan, in C).
SPECIAL_PATTERN = f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE}]" + r"|\\[u\"/\\nrtbf]"
SPECIAL = re.compile(SPECIAL_PATTERN)
SPECIAL_CHAR = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE}]")
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\"\\/bfnrt]))")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class View:
    """``text`` as seen, and for each of its characters the range of the original it came from.

    The map is built only when it is asked for (most views hold no secret, and the text alone,
    made by ``re.sub`` in C, is what the search needs)."""

    def __init__(
        self,
        text: str,
        starts: array[int] | None = None,
        ends: array[int] | None = None,
        build: Callable[[], tuple[array[int], array[int] | None]] | None = None,
    ) -> None:
        self.text = text
        self._starts = starts
        #: None: each character came from one original character (its end is its start + 1).
        self._ends = ends
        self._build = build

    def _mapped(self) -> tuple[array[int], array[int] | None]:
        if self._starts is None:
            assert self._build is not None
            self._starts, self._ends = self._build()
            self._build = None
        return self._starts, self._ends

    @property
    def starts(self) -> array[int]:
        return self._mapped()[0]

    @property
    def ends(self) -> array[int] | None:
        return self._mapped()[1]

    def origin(self, start: int, end: int) -> tuple[int, int]:
        """The original range behind ``text[start:end]`` (everything between its first and last
        character, so control sequences inside are included)."""
        starts, ends = self._mapped()
        if ends is None:
            return min(starts[start:end]), max(starts[start:end]) + 1
        return min(starts[start:end]), max(ends[start:end])

    def end_of(self, index: int) -> int:
        starts, ends = self._mapped()
        return starts[index] + 1 if ends is None else ends[index]


#: The ASCII characters that need no view (printable, tab, newline), for the fast check below.
_PLAIN_ASCII = bytes([9, 10, *range(32, 127)])
#: C0 controls and DEL but tab and newline: one byte each in UTF-8 (no multi-byte sequence holds one).
_C0 = bytes([*range(0, 9), *range(11, 32), 127])
#: The other characters that call for the stripped view, for the prefilter's one pass (RE2 syntax).
NON_ASCII_SPECIAL = f"[\x80-\x9f{_INVISIBLE}]"


def has_controls(data: bytes) -> bool:
    """Whether UTF-8 ``data`` holds a C0 control (but tab, newline and ``\r\n``) or DEL:
    ``bytes.translate``, GB/s. A line ended by ``\r\n`` (a terminal's, a cast's) hides nothing."""
    if data.endswith(b"\r"):  # the end of a line whose "\n" has not come yet: nothing after it to hide
        data = data[:-1]
    left = len(data.translate(None, _C0))
    return left != len(data) and left != len(data) - data.count(b"\r\n")


_ASCII_BYTES = bytes(range(128))
_NON_ASCII_SPECIAL = re.compile(NON_ASCII_SPECIAL)
#: Every byte but C0 controls and DEL (tab and newline included: kept apart below).
_NOT_C0 = bytes(b for b in range(256) if b not in _C0)


class Unusual(NamedTuple):
    """What a text holds besides printable ASCII, tab and newline."""

    #: A control :func:`has_controls` counts.
    controls: bool
    #: The distinct characters that are not ASCII.
    others: frozenset[str]


_NOTHING_UNUSUAL = Unusual(False, frozenset())


def unusual(data: bytes) -> Unusual:
    """:func:`has_controls` and the characters that are not ASCII of UTF-8 ``data``, from one
    ``bytes.translate`` (what a redactor asks of every text: controls call for the screen view,
    some characters for a decoder's; in ordinary output nothing is left after the translate)."""
    rest = data.translate(None, _PLAIN_ASCII)
    if not rest:
        return _NOTHING_UNUSUAL
    c0 = rest.translate(None, _NOT_C0)
    controls = bool(c0)
    if controls and not c0.strip(b"\r"):
        # Carriage returns alone: they hide nothing as \r\n, nor as the text's last character.
        controls = len(c0) - data.endswith(b"\r") != data.count(b"\r\n")
    others = rest.translate(None, _ASCII_BYTES) if c0 else rest
    return Unusual(controls, frozenset(others.decode("utf-8", "surrogatepass")) if others else frozenset())


def special_in(found: Unusual) -> bool:
    """:func:`has_special`, from what :func:`unusual` found."""
    return found.controls or any(_NON_ASCII_SPECIAL.match(c) for c in found.others)


def has_special(text: str, data: bytes | None = None) -> bool:
    """Whether ``text`` holds anything the stripped view takes out: a control (``\r\n`` aside)
    or an invisible character, among the few distinct characters that are not ASCII. ``data``
    is ``text`` in UTF-8 if the caller has it."""
    if data is None:
        data = text.encode("utf-8", "surrogatepass")
    if has_controls(data):
        return True
    if len(data) == len(text):
        return False
    others = set(data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))
    return any(_NON_ASCII_SPECIAL.match(c) for c in others)


class Mapped(Protocol):
    """A view of some text: its ``text``, and the original range behind a range of it."""

    text: str

    def origin(self, start: int, end: int) -> tuple[int, int]: ...


class Composed:
    """``outer`` is a view of ``inner.text``: its ranges map back through both."""

    def __init__(self, outer: View, inner: Mapped) -> None:
        self.text = outer.text
        self._outer = outer
        self._inner = inner

    def origin(self, start: int, end: int) -> tuple[int, int]:
        return self._inner.origin(*self._outer.origin(start, end))


def display_views(text: str) -> list[View]:
    """The stripped view, and the screen view if anything moves the cursor."""
    out = [stripped(text)]
    if _MOVES.search(text):
        out.append(screen(text))
    return out


def needs_views(text: str) -> bool:
    """Whether ``text`` holds a control character, an invisible one or a JSON escape. ASCII text
    (nearly all output) is checked with one ``bytes.translate`` (GB/s); other text with a regex."""
    if text.isascii():
        data = text.encode()
        return bool(data.translate(None, _PLAIN_ASCII)) or b"\\" in data
    return SPECIAL.search(text) is not None


#: Whether a text moves the cursor (or overwrites) at all: if not, what it shows is its stripped view.
_MOVES = re.compile(r"\r(?!\n)|[\x08\x0b\x0c]|(?:\x1b\[|\x9b)[0-9;]*[CDG`HfdABEFKJXP@su]|\x1b[78DEM]")
_ESCAPES = re.compile(r"\\[u\"/\\nrtbf]")


def views(text: str) -> list[View] | None:
    """The views of ``text`` to search, or None when the text is its only view."""
    if not needs_views(text):
        return None
    out: list[View] = []
    if SPECIAL_CHAR.search(text):
        out.append(stripped(text))
        if _MOVES.search(text):
            out.append(screen(text))
    if _ESCAPES.search(text):
        decoded = unescaped(text)
        if decoded.text != text:
            out.append(_compose(stripped(decoded.text), decoded))
            if _MOVES.search(decoded.text):
                out.append(_compose(screen(decoded.text), decoded))
    return out


def _compose(outer: View, inner: View) -> View:
    def build() -> tuple[array[int], array[int] | None]:
        starts = array("q", (inner.starts[i] for i in outer.starts))
        ends = array("q", (inner.end_of(i) for i in outer.starts))
        return starts, ends

    return View(outer.text, build=build)


def stripped(text: str) -> View:
    """Control sequences and invisible characters removed; everything else in byte order."""

    def build() -> tuple[array[int], array[int] | None]:
        starts: array[int] = array("q")
        position = 0
        for m in _SEQUENCE.finditer(text):
            starts.extend(range(position, m.start()))
            position = m.end()
        starts.extend(range(position, len(text)))
        return starts, None

    return View(_SEQUENCE.sub("", text), build=build)


def unescaped(text: str) -> View:
    """JSON string escapes decoded (the rest as it is)."""
    parts: list[str] = []
    starts: array[int] = array("q")
    ends: array[int] = array("q")
    position = 0
    for m in _JSON_ESCAPE.finditer(text):
        if m.start() > position:
            parts.append(text[position : m.start()])
            starts.extend(range(position, m.start()))
            ends.extend(range(position + 1, m.start() + 1))
        parts.append(chr(int(m.group(1), 16)) if m.group(1) else _JSON_SIMPLE[m.group(2)])
        starts.append(m.start())
        ends.append(m.end())
        position = m.end()
    parts.append(text[position:])
    starts.extend(range(position, len(text)))
    ends.extend(range(position + 1, len(text) + 1))
    return View("".join(parts), starts, ends)


_CURSOR_FINALS = frozenset("CDG`HfdAFBEsu")
_MOVING_FINALS = _CURSOR_FINALS | frozenset("KJXP@")


class _Grid:
    """Rows of cells (a character and where it came from) and a cursor: just enough of a
    terminal to read what is shown, with no scrolling and no width limit."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[list[str], list[int]]] = {}
        self.row = 0
        self.col = 0
        self.saved = (0, 0)

    def _cells(self) -> tuple[list[str], list[int]]:
        cells = self.rows.get(self.row)
        if cells is None:
            cells = self.rows[self.row] = ([], [])
        return cells

    def write(self, run: str, origin: int) -> None:
        chars, origins = self._cells()
        col, n = self.col, len(run)
        if col > len(chars):  # the cursor was moved past the end: blank cells in between
            gap = col - len(chars)
            chars.extend(" " * gap)
            origins.extend([origin] * gap)
        chars[col : col + n] = run
        origins[col : col + n] = range(origin, origin + n)
        self.col = col + n

    def newline(self) -> None:
        self.row += 1
        self.col = 0

    def control(self, char: str) -> None:
        if char == "\r":
            self.col = 0
        elif char == "\b":
            self.col = max(self.col - 1, 0)
        elif char in "\x0b\x0c":
            self.row += 1

    def tab(self) -> None:
        self.col = (self.col // 8 + 1) * 8

    def csi(self, params: str, final: str) -> None:
        if final not in _MOVING_FINALS:
            return  # colours (m), modes (h, l), reports: nothing moves or is erased
        numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params[:1] != "?" else []
        n = max(numbers[0], 1) if numbers else 1
        if final in _CURSOR_FINALS:
            self._move(final, n, numbers)
        else:
            self._erase(final, n, numbers[0] if numbers else 0)

    def _move(self, final: str, n: int, numbers: list[int]) -> None:
        if final == "C":
            self.col += n
        elif final == "D":
            self.col = max(self.col - n, 0)
        elif final in "G`":
            self.col = n - 1
        elif final in "Hf":
            self.row = n - 1
            self.col = max(numbers[1], 1) - 1 if len(numbers) > 1 else 0
        elif final == "d":
            self.row = n - 1
        elif final in "AF":
            self.row = max(self.row - n, 0)
            self.col = 0 if final == "F" else self.col
        elif final in "BE":
            self.row += n
            self.col = 0 if final == "E" else self.col
        elif final == "s":
            self.saved = (self.row, self.col)
        elif final == "u":
            self.row, self.col = self.saved

    def _erase(self, final: str, n: int, mode: int) -> None:
        chars, origins = self._cells()
        if final == "K":
            if mode == 0:
                del chars[self.col :], origins[self.col :]
            else:
                stop = len(chars) if mode == 2 else min(self.col + 1, len(chars))
                chars[:stop] = " " * stop
        elif final == "J":
            if mode in (2, 3):
                self.rows.clear()
            elif mode == 0:
                del chars[self.col :], origins[self.col :]
                for row in [r for r in self.rows if r > self.row]:
                    del self.rows[row]
        elif final == "X":
            stop = min(self.col + n, len(chars))
            chars[self.col : stop] = " " * max(stop - self.col, 0)
        elif final == "P":
            del chars[self.col : self.col + n], origins[self.col : self.col + n]
        elif final == "@" and self.col < len(chars):
            chars[self.col : self.col] = " " * n
            origins[self.col : self.col] = [origins[self.col]] * n

    def view(self, newline_origin: Callable[[int], int]) -> View:
        parts: list[str] = []
        starts: array[int] = array("q")
        for number in sorted(self.rows):
            chars, origins = self.rows[number]
            parts.append("".join(chars))
            parts.append("\n")
            starts.extend(origins)
            starts.append(newline_origin(origins[-1] if origins else 0))
        if parts:
            parts.pop()
            starts.pop()
        return View("".join(parts), starts)


#: One token of terminal output: a run of text, a line break, a tab, a CSI (its parameters and
#: final byte captured), or any other sequence or control.
_TOKEN = re.compile(
    f"(?P<text>[^\\x00-\\x1f\\x7f-\\x9f{_INVISIBLE}]+)"
    r"|(?P<nl>\n)|(?P<tab>\t)"
    r"|(?:\x1b\[|\x9b)(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"
    r"|(?P<other>\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]|\x1b|[\x00-\x1f\x7f-\x9f]"
    f"|[{_INVISIBLE}])"
)


def screen(text: str) -> View:
    """What a terminal would show after ``text`` (cursor moves and overwrites applied)."""
    grid = _Grid()
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "text":
            grid.write(m.group(), m.start())
        elif kind == "final":
            grid.csi(m.group("params"), m.group("final"))
        elif kind == "nl":
            grid.newline()
        elif kind == "tab":
            grid.tab()
        else:
            seq = m.group()
            if len(seq) == 1 and seq < "\x20":
                grid.control(seq)
            elif seq == "\x1b7":
                grid.saved = (grid.row, grid.col)
            elif seq == "\x1b8":
                grid.row, grid.col = grid.saved
            elif seq in ("\x1bD", "\x1bE"):  # index, next line
                grid.row += 1
                grid.col = 0 if seq == "\x1bE" else grid.col
            elif seq == "\x1bM":  # reverse index
                grid.row = max(grid.row - 1, 0)
    length = len(text)
    return grid.view(lambda after: min(after + 1, max(length - 1, 0)))
