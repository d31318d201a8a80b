"""Which views of a text the Redactor builds: the decoders' marks, and the gates that let a
redactor of known secrets alone leave a view out.

Pure: no I/O (the gates' passes are prefilters). Separate from ``redactor.py`` because it
is the one place that knows how the views' marks are spelled (the decoders' in
:mod:`cab_trace.redact.decode`, the screen's in :mod:`cab_trace.redact.screen`) and what an
escape or a ``%HH`` can decode to; the Redactor only asks it whether to look.
"""

from __future__ import annotations

import re

from cab_trace.redact import decode, screen
from cab_trace.redact.prefilter import Prefilter

#: The marks that call for a view, in the order the marks' pass tries them (see Redactor._marks).
VIEW_MARKS = [*(mark for mark, _ in decode.DECODERS.values()), screen.NON_ASCII_SPECIAL]
VIEW_MARK = re.compile(
    "|".join(f"(?P<{name}>{mark})" for name, (mark, _) in decode.DECODERS.items())
    + f"|(?P<special>{screen.NON_ASCII_SPECIAL})"
)

#: The decoders' marks that are ASCII: candidates of the one pass (see Redactor._marks).
ASCII_MARKS = r"%[0-9A-Fa-f]{2}|&#[0-9xX]|&(?:amp|lt|gt|quot|apos);"
_NON_ASCII_MARK = re.compile(
    "|".join(mark for mark, _ in decode.DECODERS.values() if not mark.isascii())
    + "|"
    + screen.NON_ASCII_SPECIAL
)
_ASCII_MARK = re.compile(ASCII_MARKS)
#: The simple JSON escapes and what each decodes to (see decode.ESCAPE_MARK)...
_SIMPLE_ESCAPES = [(c, d) for c, d in zip('"\\/bfnrt', '"\\/\b\f\n\r\t', strict=True)]
#: ...those whose character the screen view acts on (a \r only when it is not part of \r\n)...
_SCREEN_ESCAPES = frozenset("\b\f")
#: What the XML entities decode to (see decode.HTML_MARK).
HTML_NAMED = "&<>\"'"
_LONE_CR = re.compile(r"\\r(?!\\n)")
#: ...and the escapes that decode to any character.
_CODED_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[0-3][0-7]{2})")


def view_gates(chars: frozenset[str], engine: str) -> tuple[frozenset[str], Prefilter, Prefilter] | None:
    """For a redactor of known secrets alone whose anchors are made of ``chars``: the characters,
    one pass for the escapes that could matter (a simple one whose character is in an anchor or
    acts on the screen, a ``\\r`` not followed by ``\\n``, those that decode to any character)
    and one for the ``%HH`` of an anchor's character (of any character that is not ASCII, if an
    anchor has one). None if an anchor holds a line break: then every view is built."""
    if chars & {"\n", "\r"}:
        return None
    telling = "".join(re.escape(c) for c, d in _SIMPLE_ESCAPES if d in chars or d in _SCREEN_ESCAPES)
    escapes = [r"\\r(?:[^\\]|\\[^n]|$)", _CODED_ESCAPE.pattern, *([f"\\\\[{telling}]"] if telling else [])]
    octets = sorted({f"{ord(c):02x}" for c in chars if c.isascii()})
    percents = [f"(?i)%(?:{'|'.join(octets)})" if octets else r"[^\s\S]"]
    if not all(c.isascii() for c in chars):
        percents.append("%[89a-fA-F][0-9a-fA-F]")
    return chars, Prefilter(escapes, engine), Prefilter(percents, engine)


def escapes_tell(text: str, anchor_chars: frozenset[str]) -> bool:
    """Whether an escape in ``text`` decodes to a character of the anchors or to one the screen
    view acts on (see Redactor._view_adds_nothing)."""
    for escape, char in _SIMPLE_ESCAPES:
        if "\\" + escape in text and (char in anchor_chars or char in _SCREEN_ESCAPES):
            return True
    if "\\r" in text and _LONE_CR.search(text):
        return True  # a \r not followed by \n: a carriage return the screen view applies
    for escape in set(_CODED_ESCAPE.findall(text)):
        char = decode.unescape(escape)[0]
        if char in anchor_chars or screen.SPECIAL_CHAR.match(char) or char in "\r\n":
            return True
    return False


def rule_candidates(text: str, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The candidates for the rules: not the decoders' ASCII marks."""
    return [h for h in hits if text[h[0]] not in "%&" or not _ASCII_MARK.fullmatch(text, *h)]


def may_have_marks(found: screen.Unusual) -> bool:
    """Whether a text can hold a decoder's mark that is not ASCII: among the few distinct
    characters that are not ASCII (see screen.unusual)."""
    return any(_NON_ASCII_MARK.match(c) for c in found.others)
