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

import functools
import importlib
import itertools
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
            self._compiled = _compile_re2(self.pattern)
            if self._compiled is not None:
                self.engine = "re2"
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

    def found_in(self, data: bytes) -> bool:
        """Whether any pattern matches in UTF-8 ``data`` (RE2 stops at the first match)."""
        if self.engine == "re2":
            return self._compiled.search(data) is not None
        return bool(self.spans(data.decode("utf-8", "surrogatepass")))

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


@functools.lru_cache(maxsize=16)
def _compile_re2(pattern: str) -> Any:
    """One compiled RE2 per pattern, shared: every redactor of a run (and every ``with_secrets``)
    has the same rules, and RE2 builds its DFA's states as it meets text, so a shared one is a
    warm one. RE2 objects are safe to use from several threads."""
    options = _re2.Options()
    options.max_mem = 64 << 20  # room for the DFA of ~150 rules without falling back to the NFA
    options.log_errors = False  # a pattern RE2 cannot take falls back to re, without a word on stderr
    try:
        return _re2.compile(pattern.encode(), options)
    except Exception:  # noqa: BLE001 - an RE2 syntax gap falls back to re, results unchanged
        return None


@functools.lru_cache(maxsize=16)
def _compile_set(patterns: tuple[str, ...]) -> Any:
    options = _re2.Options()
    options.max_mem = 64 << 20
    options.log_errors = False
    try:
        compiled = _re2.Set.SearchSet(options)
        for pattern in patterns:
            compiled.Add(scoped(pattern).encode())
        compiled.Compile()
    except Exception:  # noqa: BLE001 - a pattern RE2 cannot take: no selector, results unchanged
        return None
    return compiled


class Selector:
    """Which of ``patterns`` match somewhere in a (short) text: RE2's set matcher, one DFA pass
    for all of them, or one for the first ``split`` and one for the rest. Not ready when RE2 is
    missing or cannot take a pattern (callers then fall back).

    RE2 builds a DFA's states as it meets text, and a set's state holds every pattern's progress:
    two families that seldom match together (the rules' triggers, the secret names) make the
    product of their states in one set and the sum in two. Each window a set reads is text it has
    not met; on such text two sets cost 40 % less (a window of text met before costs 2 us more)."""

    def __init__(self, patterns: Sequence[str], split: int | None = None) -> None:
        self._sets: list[tuple[int, Any]] = []
        if _re2 is not None and patterns:
            cuts = [0, split, len(patterns)] if split and 0 < split < len(patterns) else [0, len(patterns)]
            self._sets = [(a, _compile_set(tuple(patterns[a:b]))) for a, b in itertools.pairwise(cuts)]
            if any(compiled is None for _, compiled in self._sets):
                self._sets = []

    @property
    def ready(self) -> bool:
        return bool(self._sets)

    def __call__(self, data: bytes) -> list[int]:
        """The indexes of the patterns that match in ``data`` (UTF-8)."""
        return [offset + i for offset, compiled in self._sets for i in compiled.Match(data) or ()]
