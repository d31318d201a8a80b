"""Redacting a stream of byte chunks: whole lines released, nothing split.

Pure: stdlib only.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cab_trace.redact.known import MIN_SECRET_LENGTH
from cab_trace.redact.spans import Finding, apply

if TYPE_CHECKING:
    from cab_trace.redact.redactor import Redactor

_KEY_BLOCK_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")


#: A stream line longer than this is released up to its last whitespace...
MAX_LINE_HOLD = 16 * 1024
#: ...keeping at most this much of an unbroken run (a token longer than that is not one).
MAX_TOKEN_HOLD = 4 * 1024
#: An unterminated private-key block is held back up to this size.
MAX_BLOCK_HOLD = 64 * 1024


#: Of a line released in parts, this much of what was released is kept as context, so that a
#: ``--api-key`` released before the cut still names the value after it.
CONTEXT_HOLD = 4 * 1024


class StreamRedactor:
    """Redacts a stream of byte chunks, catching a secret cut in two by a chunk boundary.

    It releases whole lines and holds back the unfinished last one (up to a bound), an
    unterminated ``BEGIN ... PRIVATE KEY`` block, and any end that could be the start of a
    known secret. A line longer than :data:`MAX_LINE_HOLD` (or one ended by ``\r``, so that
    progress lines that redraw in place flow through) is released in parts; a part never ends
    inside anything the redactor finds (a token, a ``name=value``, a known secret), and the
    released start of the line stays in view as context, so ``--api-key`` in one part still
    names the value in the next. Bytes are decoded as UTF-8 (invalid bytes become U+FFFD); a
    character split across chunks is not broken.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._context = ""  # the released part of the current line (raw), for the next part's view

    def feed(self, chunk: bytes) -> str:
        """Redacted text that is safe to emit now (possibly empty)."""
        return self._release(self._pending + self._decoder.decode(chunk), final=False)

    def finish(self) -> str:
        """The rest, once the stream has ended."""
        return self._release(self._pending + self._decoder.decode(b"", final=True), final=True)

    def _release(self, raw: str, final: bool) -> str:
        cut = len(raw) if final else self._safe_cut(raw)
        if cut == 0:
            self._pending = raw
            return ""
        context = self._context
        found = self._redactor.findings(context + raw) if raw else []
        shift = len(context)
        found = [Finding(f.start - shift, f.end - shift, f.rule) for f in found if f.end > shift]
        if not final:
            # No splits: a finding that runs over the cut is held back whole.
            for f in found:
                if f.start < cut < f.end and f.start > 0:
                    cut = f.start
        out = apply(raw, found, 0, cut)
        released = raw[:cut]
        self._pending = raw[cut:]
        line_start = max(released.rfind("\n"), -1) + 1
        self._context = ("" if line_start else context) + released[line_start:]
        if len(self._context) > CONTEXT_HOLD:
            self._context = self._context[-CONTEXT_HOLD:]
        return out

    def _safe_cut(self, raw: str) -> int:
        newline = raw.rfind("\n") + 1
        cut = max(newline, raw.rfind("\r") + 1)
        if cut > newline and self._redactor.known_secrets:
            # A \r cut: if what the line shows so far ends like the start of a known secret, the
            # rest could be drawn after it: hold the line.
            line = raw[newline:cut]
            if _secret_prefix_at_end(line.rstrip("\r"), self._redactor.known_secrets) >= MIN_SECRET_LENGTH:
                cut = newline
        if len(raw) - cut > MAX_LINE_HOLD:
            space = max(raw.rfind(" ", cut), raw.rfind("\t", cut))
            cut = max(space + 1, len(raw) - MAX_TOKEN_HOLD)
        block = raw.rfind("-----BEGIN ")
        if (
            0 <= block < cut
            and "PRIVATE KEY" in raw[block : block + 64]
            and not _KEY_BLOCK_END.search(raw, block)  # a half-arrived END line does not close it
            and len(raw) - block <= MAX_BLOCK_HOLD
        ):
            cut = block
        secrets = self._redactor.known_secrets
        if secrets and cut < len(raw):
            cut = min(cut, len(raw) - _secret_prefix_at_end(raw, secrets))
        return cut


def _secret_prefix_at_end(text: str, secrets: Iterable[str]) -> int:
    """Length of the longest end of ``text`` that is a proper prefix of one of ``secrets``."""
    best = 0
    for secret in secrets:
        for length in range(min(len(secret) - 1, len(text)), best, -1):
            if text.endswith(secret[:length]):
                best = length
                break
    return best
