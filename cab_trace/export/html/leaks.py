"""The leak check on a page before it is written: the run's own check (known secrets, and
every piece of one 16 characters or longer, as the text is shown, JSON-unescaped, across line
ends), run on the page's text and on the compressed blocks it carries, decompressed.

The page is made from the recorded files, which were redacted as they were written; this is
the second look, at the very bytes that would be published.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from cab_trace.redact import Redactor
from cab_trace.redact.scan import mask

#: The page is read in blocks of about this many characters (whole lines), each overlapping
#: the last line of the one before, as ``cab-trace scan`` reads files.
BLOCK = 1 << 20


@dataclass(frozen=True)
class PageLeak:
    """A known secret in a page: where (the page, or one of its blocks), which line, a preview."""

    where: str
    line: int
    rule: str
    preview: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.rule}: {self.preview}"


def _blocks(text: str) -> Iterator[tuple[int, str]]:
    start, line = 0, 1
    while start < len(text):
        end = text.find("\n", start + BLOCK)
        end = len(text) if end < 0 else end + 1
        block = text[start:end]
        yield line, block
        if end >= len(text):
            return
        last = block.rfind("\n", 0, len(block) - 1) + 1  # the block's last line starts the next one
        line += block.count("\n", 0, last)
        start += last


def find_leaks(parts: Iterable[tuple[str, str]], known_secrets: Sequence[str]) -> list[PageLeak]:
    """Every place a known secret shows in ``parts`` ((name, text) pairs)."""
    only_known = Redactor(known_secrets, rules=(), named_values=False)
    if not only_known.known_secrets:
        return []
    out: list[PageLeak] = []
    for where, text in parts:
        seen: set[tuple[int, int]] = set()
        for first_line, block in _blocks(text):
            for finding in only_known.findings(block):
                line = first_line + block.count("\n", 0, finding.start)
                column = finding.start - (block.rfind("\n", 0, finding.start) + 1)
                if (line, column) in seen:
                    continue
                seen.add((line, column))
                out.append(
                    PageLeak(
                        where, line, finding.rule, mask(block[finding.start : finding.end], finding.rule)
                    )
                )
    return out
