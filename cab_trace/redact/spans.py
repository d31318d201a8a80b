"""Findings and how they are applied: one place for what every layer of redaction returns.

Pure: stdlib only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

REDACTED = "[REDACTED]"


class Finding(NamedTuple):
    """A suspected secret: ``text[start:end]``, found by rule ``rule``."""

    start: int
    end: int
    rule: str


def apply(text: str, found: Sequence[Finding], start: int = 0, end: int | None = None) -> str:
    """``text[start:end]`` with each finding replaced by the marker (a known secret broken
    over lines loses each line's part, and keeps the line breaks)."""
    end = len(text) if end is None else end
    parts: list[str] = []
    position = start
    for f in found:
        s, e = max(f.start, start), min(f.end, end)
        if e <= s or s < position:
            continue
        parts.append(text[position:s])
        secret = text[s:e]
        if "\n" in secret and f.rule == "known-secret":
            parts.append("\n".join(REDACTED if line.strip() else line for line in secret.split("\n")))
        else:
            parts.append(REDACTED)
        position = e
    parts.append(text[position:end])
    return "".join(parts)


def merge_findings(found: list[Finding]) -> list[Finding]:
    # ``found`` is in priority order; sorting is stable, so among findings that start at the
    # same place the most specific comes first and names the merged stretch.
    merged: list[Finding] = []
    for f in sorted(found, key=lambda f: f.start):
        if merged and f.start <= merged[-1].end:  # adjacent secrets become one marker
            last = merged[-1]
            merged[-1] = Finding(last.start, max(last.end, f.end), last.rule)
        else:
            merged.append(f)
    return merged
