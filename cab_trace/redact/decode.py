"""Decoded views of the lines that hold an encoding a person's tools undo on the way to them.

Pure: stdlib only. Each decoder turns a line into what a reader (a browser, a shell, a
terminal, a URL bar, a copy-paste) would make of it, with a map from each decoded character
back to the original characters, so that a secret found in the decoded line is replaced where
it sits in the original. Decoders run only on the lines where the prefilter saw their mark
(a backslash escape, ``%41``, ``&#115;``, a fullwidth letter, a right-to-left override), so
text without any costs nothing here.

What each one follows (tests in ``tests/unit/test_redact_decode.py`` are written from these):

* **escapes**: JSON string escapes (RFC 8259 §7: ``\\"`` ``\\\\`` ``\\/`` ``\\b`` ``\\f`` ``\\n``
  ``\\r`` ``\\t`` ``\\uXXXX``), and the C/shell escapes ``printf``, ``echo -e`` and ``$'...'``
  decode: ``\\xHH`` and three-digit octal ``\\NNN``.
* **percent**: percent-encoding (RFC 3986 §2.1): each ``%HH`` is an octet, runs of them are
  UTF-8; whole values and values with only their special characters encoded alike.
* **html**: numeric character references (HTML §13.2.5.72-80: ``&#115;``, ``&#x73;``, the ``;``
  optional) and the five XML entities.
* **unicode**: compatibility folding (NFKC, UAX #15: fullwidth letters U+FF41.., mathematical
  alphanumerics U+1D400.., circled and other compatibility forms fold to ASCII), with every
  Default_Ignorable_Code_Point (tag characters U+E0000-E0FFF, variation selectors, joiners,
  fillers; DerivedCoreProperties.txt) left out.
* **bidi**: what a right-to-left override (U+202E RLO, U+2067 RLI) makes a terminal or
  editor show: the run after it, to its PDF/PDI or the line's end, reversed.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable

#: Default_Ignorable_Code_Point (Unicode 15.1 DerivedCoreProperties.txt), as a class body.
DEFAULT_IGNORABLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_IGNORABLE = re.compile(f"[{DEFAULT_IGNORABLE}]")

#: Marks of each decoder (RE2 syntax too: they join the prefilter's one pass).
ESCAPE_MARK = r"\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[0-3][0-7]{2}|[\"\\/bfnrt])"
PERCENT_MARK = r"%[0-9A-Fa-f]{2}"
HTML_MARK = r"&#[0-9xX]|&(?:amp|lt|gt|quot|apos);"
#: Characters NFKC changes that fold to ASCII letters, digits and punctuation.
COMPAT_CHARS = (
    "\u00aa\u00b2\u00b3\u00b9\u00ba\u2070-\u209f\u2100-\u214f\u2150-\u218f\u2460-\u24ff\u2c7c\u2c7d"
    "\u3200-\u33ff\ufb00-\ufb06\uff01-\uff5e\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff\U0001fbf0-\U0001fbf9"
)
UNICODE_MARK = f"[{COMPAT_CHARS}{DEFAULT_IGNORABLE}]"
BIDI_MARK = "[\u202e\u2067]"

_ESCAPE = re.compile(ESCAPE_MARK)
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_HTML = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));?|&(amp|lt|gt|quot|apos);")
_HTML_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
COMPAT = re.compile(f"[{COMPAT_CHARS}]")
_BIDI_RUN = re.compile("[\u202e\u2067]([^\u202c\u2069\n]*)[\u202c\u2069]?")

Decoded = tuple[str, list[int], list[int]]


def _by_matches(line: str, pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str]) -> Decoded:
    """``line`` with each match of ``pattern`` replaced; every character of the result mapped to
    the original range it came from (a replacement's characters to its whole match)."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for m in pattern.finditer(line):
        if m.start() > position:
            parts.append(line[position : m.start()])
            starts.extend(range(position, m.start()))
            ends.extend(range(position + 1, m.start() + 1))
        out = replace(m)
        parts.append(out)
        starts.extend([m.start()] * len(out))
        ends.extend([m.end()] * len(out))
        position = m.end()
    parts.append(line[position:])
    starts.extend(range(position, len(line)))
    ends.extend(range(position + 1, len(line) + 1))
    return "".join(parts), starts, ends


def _escape(m: re.Match[str]) -> str:
    s = m.group()
    kind = s[1]
    if kind == "u":
        return chr(int(s[2:6], 16))
    if kind == "x":
        return chr(int(s[2:4], 16))
    if kind.isdigit():
        return chr(int(s[1:4], 8))
    return _JSON_SIMPLE[kind]


def unescape(line: str) -> Decoded:
    return _by_matches(line, _ESCAPE, _escape)


#: A backslash (once ``\\\\`` pairs are out) that does not start a simple JSON escape.
_NOT_SIMPLE = re.compile(r'\\(?:[^"/ntrbf]|$)')


def unescape_fast(text: str) -> str:
    """What :func:`unescape` gives, without the map, for the common case: only the simple JSON
    escapes. Python's ``unicode_escape`` codec decodes them in one pass in C (6x a chain of
    ``str.replace``); it is used only when every backslash, once ``\\\\`` pairs are taken
    out as left-to-right decoding pairs them, starts one of the simple escapes, so its result is
    exactly :func:`unescape`'s. Anything else (``\\u``, ``\\x``, octal, a stray backslash) goes
    the exact way."""
    unpaired = text.replace("\\\\", "")
    if _NOT_SIMPLE.search(unpaired):
        return unescape(text)[0]
    if "\\/" in unpaired:
        if "\\\\" in text:
            return unescape(text)[0]  # "\\\\/" next to "\\/": the replace below could not tell them apart
        text = text.replace("\\/", "/")
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def _percent(m: re.Match[str]) -> str:
    raw = bytes(int(m.group()[i + 1 : i + 3], 16) for i in range(0, len(m.group()), 3))
    return raw.decode("utf-8", errors="replace") if len(raw) > 1 else chr(raw[0])


def _percent_run(line: str) -> Decoded:
    # A run of %HH is one UTF-8 sequence; each decoded character maps to the whole run.
    return _by_matches(line, _PERCENT_RUN, _percent)


def _html(m: re.Match[str]) -> str:
    if m.group(3):
        return _HTML_NAMED[m.group(3)]
    number = int(m.group(1), 16) if m.group(1) else int(m.group(2))
    return chr(number) if 0 < number <= 0x10FFFF and not 0xD800 <= number <= 0xDFFF else "\ufffd"


def html(line: str) -> Decoded:
    return _by_matches(line, _HTML, _html)


def _fold(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", m.group())


def unicode_fold(line: str) -> Decoded:
    """Compatibility characters folded (NFKC), default-ignorable code points left out."""
    text, starts, ends = _by_matches(line, COMPAT, _fold)
    if not _IGNORABLE.search(text):
        return text, starts, ends
    keep = [i for i, c in enumerate(text) if not _IGNORABLE.match(c)]
    return "".join(text[i] for i in keep), [starts[i] for i in keep], [ends[i] for i in keep]


def bidi(line: str) -> Decoded:
    """The runs after a right-to-left override shown as a terminal shows them: reversed."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for m in _BIDI_RUN.finditer(line):
        parts.append(line[position : m.start()])
        starts.extend(range(position, m.start()))
        ends.extend(range(position + 1, m.start() + 1))
        a, b = m.span(1)
        parts.append(line[a:b][::-1])
        starts.extend(range(b - 1, a - 1, -1))
        ends.extend(range(b, a, -1))
        position = m.end()
    parts.append(line[position:])
    starts.extend(range(position, len(line)))
    ends.extend(range(position + 1, len(line) + 1))
    return "".join(parts), starts, ends


#: The decoders that run on the lines their mark is on: name -> (mark, decode).
DECODERS: dict[str, tuple[str, Callable[[str], Decoded]]] = {
    "percent": (PERCENT_MARK, _percent_run),
    "html": (HTML_MARK, html),
    "bidi": (BIDI_MARK, bidi),
    "unicode": (UNICODE_MARK, unicode_fold),
}
#: What each of those decoders gives, without the map (for the common case: nothing found).
FAST: dict[str, Callable[[str], str]] = {
    "percent": lambda line: _PERCENT_RUN.sub(_percent, line),
    "html": lambda line: _HTML.sub(_html, line),
    "unicode": lambda line: _IGNORABLE.sub("", COMPAT.sub(_fold, line)),
}


class Lines:
    """Some lines of a text, decoded, joined by ``\\n``; the map back to the original is made
    per line, when a finding needs it.

    Args:
        text: the original text.
        ranges: the lines' ``(start, end)`` in ``text`` (ascending, not overlapping).
        decode: a line -> its decoded text and map.
        fast: a line -> its decoded text only (the same text, cheaper), if there is such a way.
    """

    def __init__(
        self,
        text: str,
        ranges: list[tuple[int, int]],
        decode: Callable[[str], Decoded],
        fast: Callable[[str], str] | None = None,
    ) -> None:
        self._source = text
        self._ranges = ranges
        self._decode = decode
        self._maps: dict[int, Decoded] = {}
        self._fast = fast
        joined = "\n".join(text[a:b] for a, b in ranges)
        self._offsets: list[int] = []
        if fast is not None:
            # One chain of str.replace over all the lines; where each line's part starts is worked
            # out only when a finding needs it (rarely).
            self.text = fast(joined)
        else:
            parts = [self._line(i)[0] for i in range(len(ranges))]
            self._set_offsets(parts)
            self.text = "\n".join(parts)
        #: Whether decoding changed anything (it only ever shortens the text).
        self.changed = len(self.text) != len(joined)

    def _set_offsets(self, parts: list[str]) -> None:
        position = 0
        for part in parts:
            self._offsets.append(position)
            position += len(part) + 1

    def _line(self, index: int, line: str | None = None) -> Decoded:
        mapped = self._maps.get(index)
        if mapped is None:
            start, end = self._ranges[index]
            mapped = self._maps[index] = self._decode(self._source[start:end] if line is None else line)
        return mapped

    def origin(self, start: int, end: int) -> tuple[int, int]:
        """The original range behind ``text[start:end]``."""
        if not self._offsets and self._fast is not None:
            self._set_offsets([self._fast(self._source[a:b]) for a, b in self._ranges])
        first = bisect.bisect_right(self._offsets, start) - 1
        last = bisect.bisect_right(self._offsets, max(end - 1, start)) - 1
        lo, hi = len(self._source), 0
        for index in range(first, last + 1):
            _, starts, ends = self._line(index)
            base = self._ranges[index][0]
            a = max(start - self._offsets[index], 0)
            b = min(end - self._offsets[index], len(starts))
            if b > a:
                lo = min(lo, base + min(starts[a:b]))
                hi = max(hi, base + max(ends[a:b]))
            elif a >= len(starts) and index < last:  # the joining newline
                hi = max(hi, self._ranges[index][1])
        return (lo, hi) if hi > lo else (self._ranges[first][0], self._ranges[first][0])


def line_ranges(text: str, positions: list[int]) -> list[tuple[int, int]]:
    """The lines of ``text`` that hold the given positions (ascending, each once)."""
    out: list[tuple[int, int]] = []
    for position in positions:
        if out and position < out[-1][1]:
            continue
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        out.append((start, len(text) if end == -1 else end))
    return out


def lines_with(text: str, needle: str) -> list[tuple[int, int]]:
    """The lines of ``text`` that hold ``needle`` (found with ``str.find``: C speed, line by line)."""
    out: list[tuple[int, int]] = []
    i = text.find(needle)
    while i != -1:
        start = text.rfind("\n", 0, i) + 1
        end = text.find("\n", i)
        end = len(text) if end == -1 else end
        out.append((start, end))
        i = text.find(needle, end)
    return out


def lines_around(text: str, position: int, count: int) -> tuple[int, int]:
    """The stretch of ``count`` lines before and after the line of ``position``."""
    start = text.rfind("\n", 0, position) + 1
    for _ in range(count):
        if start == 0:
            break
        start = text.rfind("\n", 0, start - 1) + 1
    end = text.find("\n", position)
    for _ in range(count):
        if end == -1:
            break
        end = text.find("\n", end + 1)
    return start, len(text) if end == -1 else end


#: What tools put in front of each line of a file they show: a line number (``cat -n``, ``nl``,
#: ``grep -n``), a hex dump's offset and byte columns (``xxd``, ``hexdump -C``, ``od``), a quote
#: or diff marker (``> ``, ``+``, ``-``, ``|``, ``#``), indentation (a YAML block).
_LINE_PREFIX = re.compile(
    r"[0-9a-fA-F]{6,16}:?(?:[ ]{1,2}[0-9a-fA-F]{2,4})+[ ]+\|?"
    r"|[ \t]*[0-9]+(?:[ \t]*[\t:|][ \t]?|[ \t]+)"
    r"|[ \t]*[>+\-|#][ \t]?"
    r"|[ \t]+"
)
#: The same without the one-character markers: a line of a folded secret may start with "-" or "+".
_PLAIN_PREFIX = re.compile(
    r"[0-9a-fA-F]{6,16}:?(?:[ ]{1,2}[0-9a-fA-F]{2,4})+[ ]+\|?|[ \t]*[0-9]+(?:[ \t]*[\t:|][ \t]?|[ \t]+)|[ \t]+"  # noqa: E501
)


def _body_end(line: str, start: int) -> int:
    """Where a line's body ends: before trailing blanks, or a hex dump's closing bar, ``cat -A``'s
    ``$``, a continuation backslash."""
    end = len(line.rstrip(" \t"))
    if end > start and line[end - 1] in "|$\\":
        end -= 1
    return max(end, start)


class Bodies:
    """The lines of ``text[start:end]`` without what tools put in front of and after each, joined
    with nothing in between: what a line-wrapped or line-numbered secret spells."""

    def __init__(self, text: str, start: int, end: int, markers: bool = True) -> None:
        prefixes = _LINE_PREFIX if markers else _PLAIN_PREFIX
        parts: list[str] = []
        self._starts: list[int] = []  # where each body begins in the joined text
        self._origins: list[int] = []  # ... and in the original
        position = 0
        line_start = start
        while line_start <= end:
            line_end = text.find("\n", line_start, end)
            line_end = end if line_end == -1 else line_end
            line = text[line_start:line_end].rstrip("\r")
            prefix = prefixes.match(line)
            a = prefix.end() if prefix else 0
            b = _body_end(line, a)
            self._starts.append(position)
            self._origins.append(line_start + a)
            parts.append(line[a:b])
            position += b - a
            line_start = line_end + 1
        self._ends = [*self._starts[1:], position]
        self.text = "".join(parts)

    def pieces(self, start: int, end: int) -> list[tuple[int, int]]:
        """The original ranges behind ``text[start:end]``, one per line."""
        out: list[tuple[int, int]] = []
        first = bisect.bisect_right(self._starts, start) - 1
        for i in range(max(first, 0), len(self._starts)):
            a, b = max(start, self._starts[i]), min(end, self._ends[i])
            if self._starts[i] >= end:
                break
            if b > a:
                base = self._origins[i] - self._starts[i]
                out.append((base + a, base + b))
        return out
