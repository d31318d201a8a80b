"""Text from outside (a task, an adapter, the agent, a trace file) made harmless to print.

Pure: stdlib only. Every string cab-trace writes to a terminal that did not come from
cab-trace itself goes through :func:`safe_text`; `cab-trace show` draws its table with it, and
the CLI's :func:`~cab_trace.cli.common.stderr` (errors, warnings, hints, progress lines) applies
it to every line, so no command can forget to.

What is escaped, as a visible ``\\xNN`` / ``\\uNNNN``:

- C0 controls (ESC, BEL, BS, CR, ...) and DEL: the start of every escape sequence, the title
  change, a carriage return that overwrites what was printed; newline and tab are kept unless
  ``one_line``;
- C1 controls (U+0080-U+009F): the 8-bit CSI and OSC that some terminals still obey;
- bidirectional formatting (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069): a
  right-to-left override makes ``gnp.exe`` read as ``exe.png``;
- line and paragraph separators (U+2028, U+2029), which some terminals break lines at;
- lone surrogates (what ``surrogateescape`` makes of undecodable bytes in a file name): they
  cannot be encoded, so printing them would raise.
"""

from __future__ import annotations

import re

__all__ = ["safe_text"]

_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_PATTERN = re.compile(f"[{_UNSAFE}]")
_PATTERN_ONE_LINE = re.compile(f"[\t\n{_UNSAFE}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str, one_line: bool = False) -> str:
    """``text`` with every character that could change the terminal shown escaped; with
    ``one_line``, newlines and tabs too (a table cell, a name)."""
    return (_PATTERN_ONE_LINE if one_line else _PATTERN).sub(_escape, text)
