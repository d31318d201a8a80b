"""Finding secrets in files that already exist: ``cab-trace scan`` and the end-of-run leak check.

Pure: stdlib only. Reports say where and what kind, never the secret: a preview shows at
most a token's public prefix (``sk-p…``) and its length.

Files are read in blocks of whole lines, each block overlapping the last line of the one
before, so a secret broken over a line end is seen whole. Every block is looked at as the
redactor looks at output (the screen view, JSON escapes decoded). A terminal recording
(``*.cast``) is also read as what it shows: its output events joined in order, so a key
drawn in several events is found too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from cab_trace.redact import Redactor
from cab_trace.redact.rules import TOKEN_RULES

_PUBLIC_PREFIX_RULES = frozenset(rule.name for rule in TOKEN_RULES)
#: Files are scanned in blocks of about this many bytes (whole lines).
BLOCK = 1 << 20
#: Of a file this large or larger, a cast is not also rebuilt as one screen (the line scan still runs).
MAX_CAST_JOIN = 64 << 20


@dataclass(frozen=True)
class Hit:
    """A suspected secret at ``path:line``."""

    path: Path
    line: int
    rule: str
    preview: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.preview}"


def mask(secret: str, rule: str) -> str:
    """A preview that identifies a finding without revealing it."""
    shown = secret[:4] if rule in _PUBLIC_PREFIX_RULES and len(secret) >= 16 else ""
    return f"{shown}…({len(secret)} chars)"


def files_under(path: Path) -> list[Path]:
    """``path`` itself, or every regular file below it (sorted), skipping symlinks."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return [path]


def _blocks(path: Path) -> Iterator[tuple[int, str]]:
    """(number of the block's first line, text) for blocks of whole lines; each block starts
    with the last line of the one before."""
    with path.open("rb") as handle:
        carry = b""
        first_line = 1
        while True:
            data = handle.read(BLOCK)
            if not data:
                if carry:
                    yield first_line, carry.decode("utf-8", errors="replace")
                return
            data = carry + data
            cut = data.rfind(b"\n", 0, len(data) - 1) + 1
            if cut == 0:
                carry = data
                continue
            block = data[:cut]
            yield first_line, block.decode("utf-8", errors="replace")
            # Keep the block's last line in front of the next one, so a break there is no hiding place.
            last = block.rfind(b"\n", 0, len(block) - 1) + 1
            first_line += block.count(b"\n", 0, last)
            carry = block[last:] + data[cut:]


def scan_file(path: Path, redactor: Redactor) -> Iterator[Hit]:
    """Every finding in a file, block by block (the file is streamed, not loaded whole).

    Raises:
        OSError: the file cannot be read.
    """
    seen: set[tuple[int, int]] = set()  # (absolute line, column) already reported by an overlap
    for first_line, text in _blocks(path):
        for finding in redactor.findings(text):
            line = first_line + text.count("\n", 0, finding.start)
            column = finding.start - (text.rfind("\n", 0, finding.start) + 1)
            if (line, column) in seen:
                continue
            seen.add((line, column))
            yield Hit(path, line, finding.rule, mask(text[finding.start : finding.end], finding.rule))
    if path.suffix == ".cast" and path.stat().st_size <= MAX_CAST_JOIN and not seen:
        yield from _scan_cast(path, redactor)


def _scan_cast(path: Path, redactor: Redactor) -> Iterator[Hit]:
    """A terminal recording as what it showed: the output of all its events, joined."""
    parts: list[str] = []
    lines: list[int] = []  # the file line each part came from
    starts: list[int] = []
    length = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, list) and len(event) >= 3 and event[1] == "o" and isinstance(event[2], str):
                parts.append(event[2])
                lines.append(number)
                starts.append(length)
                length += len(event[2])
    text = "".join(parts)
    for finding in redactor.findings(text):
        index = max(i for i, s in enumerate(starts) if s <= finding.start) if starts else 0
        yield Hit(
            path,
            lines[index] if lines else 1,
            finding.rule,
            mask(text[finding.start : finding.end], finding.rule),
        )


def scan_path(path: Path, redactor: Redactor) -> Iterator[Hit]:
    for file in files_under(path):
        yield from scan_file(file, redactor)


def leak_check(directory: Path, known_secrets: list[str]) -> list[Hit]:
    """Where any of ``known_secrets`` (or a piece of one of 16 or more characters) appears in
    any file below ``directory``: as the text is shown (control sequences and invisible
    characters taken out), JSON-unescaped, across line ends, and across a cast's events."""
    only_known = Redactor(known_secrets, rules=(), named_values=False)
    if not only_known.known_secrets:
        return []
    return list(scan_path(directory, only_known))
