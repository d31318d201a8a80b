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
from dataclasses import dataclass

_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
)
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
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\"\\/bfnrt]))")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_CSI_PARTS = re.compile(r"(?:\x1b\[|\x9b)([0-?]*)[ -/]*([@-~])")


@dataclass
class View:
    """``text`` as seen, and for each of its characters the range of the original it came from."""

    text: str
    starts: array[int]
    ends: array[int]

    def origin(self, start: int, end: int) -> tuple[int, int]:
        """The original range behind ``text[start:end]`` (everything between its first and last
        character, so control sequences inside are included)."""
        return min(self.starts[start:end]), max(self.ends[start:end])


def needs_views(text: str) -> bool:
    return SPECIAL.search(text) is not None


def views(text: str) -> list[View] | None:
    """The views of ``text`` to search, or None when the text is its only view."""
    if not needs_views(text):
        return None
    out = [stripped(text), screen(text)]
    if "\\" in text:
        decoded = unescaped(text)
        if decoded.text != text:
            inner = stripped(decoded.text)
            out.append(_compose(inner, decoded))
            out.append(_compose(screen(decoded.text), decoded))
    return out


def _compose(outer: View, inner: View) -> View:
    starts = array("q", (inner.starts[i] for i in outer.starts))
    ends = array("q", (inner.ends[i - 1] for i in outer.ends))
    return View(outer.text, starts, ends)


def stripped(text: str) -> View:
    """Control sequences and invisible characters removed; everything else in byte order."""
    parts: list[str] = []
    starts: array[int] = array("q")
    position = 0
    for m in _SEQUENCE.finditer(text):
        if m.start() > position:
            parts.append(text[position : m.start()])
            starts.extend(range(position, m.start()))
        position = m.end()
    parts.append(text[position:])
    starts.extend(range(position, len(text)))
    ends = array("q", (s + 1 for s in starts))
    return View("".join(parts), starts, ends)


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

    def csi(self, params: str, final: str) -> None:  # noqa: PLR0912 - one branch per final byte
        numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params[:1] != "?" else []
        n = max(numbers[0], 1) if numbers else 1
        chars, origins = self._cells()
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
        elif final == "K":
            mode = numbers[0] if numbers else 0
            if mode == 0:
                del chars[self.col :], origins[self.col :]
            else:
                stop = len(chars) if mode == 2 else min(self.col + 1, len(chars))
                chars[:stop] = " " * stop
        elif final == "J":
            mode = numbers[0] if numbers else 0
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
        elif final == "s":
            self.saved = (self.row, self.col)
        elif final == "u":
            self.row, self.col = self.saved
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
        return View("".join(parts), starts, array("q", (s + 1 for s in starts)))


def screen(text: str) -> View:
    """What a terminal would show after ``text`` (cursor moves and overwrites applied)."""
    grid = _Grid()
    position = 0
    for m in _SEQUENCE.finditer(text):
        if m.start() > position:
            _write(grid, text, position, m.start())
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
        else:
            csi = _CSI_PARTS.fullmatch(seq)
            if csi is not None:
                grid.csi(csi.group(1), csi.group(2))
        position = m.end()
    if position < len(text):
        _write(grid, text, position, len(text))
    length = len(text)
    return grid.view(lambda after: min(after + 1, max(length - 1, 0)))


def _write(grid: _Grid, text: str, start: int, end: int) -> None:
    position = start
    while position < end:
        nl = text.find("\n", position, end)
        tab = text.find("\t", position, end)
        stop = min(i for i in (nl, tab, end) if i != -1)
        if stop > position:
            grid.write(text[position:stop], position)
        if stop == end:
            break
        if stop == nl:
            grid.newline()
        else:
            grid.tab()
        position = stop + 1
