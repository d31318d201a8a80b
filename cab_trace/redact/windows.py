"""Where the rules look: the lines around each candidate of the one pass, widened to what a
known secret, a private-key block or a Kubernetes Secret could reach, and merged.

Pure: stdlib only. Separate from ``redactor.py`` because it is arithmetic on positions in a
text (no rule, no view): it can be read, and bounded, on its own.
"""

from __future__ import annotations

import re

#: How far around a candidate the rules look (beyond its line, for very long lines).
WINDOW = 64 * 1024
#: A line longer than this is looked at only around each candidate, :data:`NEAR` characters each side.
LONG_LINE = 4096
NEAR = 256
#: How far a private-key block may run from its BEGIN line to its END line.
MAX_BLOCK = 64 * 1024


def windows(text: str, hits: list[tuple[int, int]], pad: int) -> list[tuple[int, int]]:  # noqa: PLR0912
    """The lines around each candidate (and as much more as a known secret, ``pad`` characters
    at the most, or a key block could reach), merged."""
    merged: list[tuple[int, int]] = []
    for hit_start, hit_end in hits:
        lo = max(hit_start - pad, 0)
        hi = min(hit_end + pad, len(text))
        line_start = text.rfind("\n", 0, lo) + 1
        end = text.find("\n", hi)
        end = len(text) if end == -1 else end
        if end - line_start > LONG_LINE:
            # A long line (minified code, a JSON message): the stretch around the candidate,
            # to whitespace, is context enough; the rules over all of it, per candidate, are not.
            start = _space_before(text, max(lo - NEAR, line_start), line_start)
            end = _space_after(text, min(hi + NEAR, end), end)
        else:
            # From the line before (a .netrc entry or a YAML block names its secret a line later).
            start = max(text.rfind("\n", 0, max(line_start - 1, 0)) + 1, lo - WINDOW, 0)
            end = min(end, hi + WINDOW)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    out: list[tuple[int, int]] = []
    for start, window_end in merged:
        end = window_end
        # A key block (or a PuTTY key) runs to its END line, however many lines away; one
        # cut off before its END, as far as it goes.
        for opening, closing in (("-----BEGIN ", "-----END "), ("PuTTY-User-Key-File-", "Private-MAC:")):
            block = text.find(opening, start, end)
            close = -2  # the next closing line at or after the block (-1: none): searched once per block run
            while block != -1:
                if close != -1 and close < block:
                    close = text.find(closing, block)
                if close != -1 and close - block <= MAX_BLOCK:
                    line_end = text.find("\n", close)
                    end = max(end, len(text) if line_end == -1 else line_end)
                elif opening == "-----BEGIN ":
                    end = max(end, _base64_lines_end(text, block, block + MAX_BLOCK))
                block = text.find(opening, block + 1, end)
        # A Kubernetes Secret's data comes before or after its kind: the whole YAML document.
        for kind in ("kind: Secret", '"kind": "Secret"', '"kind":"Secret"'):
            at = text.find(kind, start, end)
            if at != -1:
                doc_start = text.rfind("\n---", max(at - MAX_BLOCK, 0), at)
                start = min(start, max(at - MAX_BLOCK, 0) if doc_start == -1 else doc_start + 1)  # noqa: PLW2901
                doc_end = text.find("\n---", at, at + MAX_BLOCK)
                end = max(end, min(len(text), at + MAX_BLOCK) if doc_end == -1 else doc_end)
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


_BASE64_LINE = re.compile(r"[ \t]*(?:[A-Za-z0-9+/=]{8,}|[A-Za-z-]+: .*)?\r?$")


def _base64_lines_end(text: str, start: int, limit: int) -> int:
    """Where the lines after ``start`` stop looking like a key block's body (base64 or headers)."""
    end = text.find("\n", start)
    while end != -1 and end < limit:
        nxt = text.find("\n", end + 1)
        line_end = len(text) if nxt == -1 else nxt
        if not _BASE64_LINE.fullmatch(text, end + 1, line_end):
            return end
        end = nxt
    return len(text) if end == -1 else min(end, limit)


def _space_before(text: str, at: int, floor: int) -> int:
    """``at``, moved back to just after whitespace (at most 256 characters), not below ``floor``."""
    for i in range(at, max(at - 256, floor), -1):
        if text[i - 1].isspace():
            return i
    return max(at, floor)


def _space_after(text: str, at: int, ceiling: int) -> int:
    """``at``, moved on to the next whitespace (at most 256 characters), not past ``ceiling``."""
    for i in range(at, min(at + 256, ceiling)):
        if text[i].isspace():
            return i
    return min(at, ceiling)
