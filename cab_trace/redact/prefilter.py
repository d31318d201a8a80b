"""The prefilter: one pass over a text that finds every place any rule could match.

Python's ``re`` has no multi-pattern engine: an alternation of a hundred literals is tried at
nearly every position (about 100 MB/s, and each further scan costs as much again). RE2 (the
``google-re2`` package) compiles the alternation of every rule's trigger, every known
secret's anchors and every invisible or control character into one DFA and scans once, at
hundreds of MB/s, whatever the number of rules. Text with no candidate (the common case)
costs that one scan; each candidate costs the rules run over its line.

Without RE2, ``re`` looks for the rules' keywords instead (lowercase literals, one pass over
the lowercased text): more candidates, as every ``token`` in prose is one, but the same results
(a test holds the two to that), as every rule's match holds one of its keywords.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

try:
    _re2: Any = importlib.import_module("re2")
except ImportError:  # pragma: no cover - google-re2 is a dependency; this is the fallback
    _re2 = None


_GLOBAL_FLAGS = re.compile(r"^\(\?([ims]+)\)")


def scoped(pattern: str) -> str:
    """``(?i)x`` as ``(?i:x)`` (and ``(?im)x`` as ``(?im:x)``), so that patterns can be joined into
    one alternation."""
    m = _GLOBAL_FLAGS.match(pattern)
    if m is not None:
        return f"(?{m.group(1)}:{pattern[m.end() :]})"
    return f"(?:{pattern})"


class Prefilter:
    """Finds the candidate spans of any of ``patterns`` (RE2 syntax: no look-arounds, no
    back-references), with RE2 when it is installed and ``re`` otherwise."""

    def __init__(self, patterns: Sequence[str], engine: str = "auto", literals: Sequence[str] = ()) -> None:
        self.pattern = "|".join(scoped(p) for p in patterns) if patterns else r"[^\s\S]"  # matches nothing
        self.engine = "re"
        self._compiled: Any = None
        self._lowered = False
        if engine in ("auto", "re2") and _re2 is not None:
            options = _re2.Options()
            options.max_mem = 64 << 20  # room for the DFA of ~150 rules without falling back to the NFA
            options.log_errors = False  # a pattern RE2 cannot take falls back to re, without a word on stderr
            try:
                self._compiled = _re2.compile(self.pattern, options)
                self.engine = "re2"
            except Exception:  # noqa: BLE001 - an RE2 syntax gap falls back to re, results unchanged
                self._compiled = None
        elif engine == "re2":
            raise ValueError("google-re2 is not installed")
        if self._compiled is None:
            if literals:
                # Python's re tries a case-insensitive alternation at every position (a few MB/s);
                # a case-sensitive one of literals over lowercased text is ~100 MB/s.
                words = sorted({w.lower() for w in literals}, key=len, reverse=True)
                self._compiled = re.compile("|".join(map(re.escape, words)))
                self._lowered = True
            else:
                self._compiled = re.compile(self.pattern)

    def spans(self, text: str, data: bytes | None = None) -> list[tuple[int, int]]:
        """The candidate spans in ``text`` (character offsets), in order; ``data`` is ``text`` in
        UTF-8 if the caller has it."""
        if self.engine == "re2":
            # RE2 on bytes: the wrapper's str path costs more than the scan itself (GB/s on bytes).
            if data is None:
                data = text.encode("utf-8", "surrogatepass")
            found = [m.span() for m in self._compiled.finditer(data)]
            if not found or len(data) == len(text):
                return found  # ASCII: byte offsets are character offsets
            return _char_spans(data, found)
        if self._lowered:
            lowered = text.lower()
            if len(lowered) == len(text):
                return [m.span() for m in self._compiled.finditer(lowered)]
            # A character whose lowercase is longer ("İ") shifts positions: all of it is a candidate.
            return [(0, len(text))] if self._compiled.search(lowered) else []
        return [m.span() for m in self._compiled.finditer(text)]


def _char_spans(data: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Byte offsets into UTF-8 ``data`` as character offsets (decoding only between the offsets)."""
    out: list[tuple[int, int]] = []
    byte_at = char_at = 0

    def char(offset: int) -> int:
        nonlocal byte_at, char_at
        if offset < byte_at:  # an end before the next start's position: count back from the start
            byte_at = char_at = 0
        char_at += len(data[byte_at:offset].decode("utf-8", "surrogatepass"))
        byte_at = offset
        return char_at

    for start, end in spans:
        out.append((char(start), char(end)))
    return out
