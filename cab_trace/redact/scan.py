"""Finding secrets in files that already exist: ``cab-trace scan`` and the end-of-run leak check.

Pure: stdlib only. Reports say where and what kind, never the secret: a preview shows at
most a token's public prefix (``sk-p…``) and its length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cab_trace.redact import Redactor
from cab_trace.redact.rules import TOKEN_RULES

_PUBLIC_PREFIX_RULES = frozenset(rule.name for rule in TOKEN_RULES)


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


def scan_file(path: Path, redactor: Redactor) -> Iterator[Hit]:
    """Every finding in a file, line by line (the file is streamed, not loaded whole).

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace")
            for finding in redactor.findings(text):
                yield Hit(path, number, finding.rule, mask(text[finding.start : finding.end], finding.rule))


def scan_path(path: Path, redactor: Redactor) -> Iterator[Hit]:
    for file in files_under(path):
        yield from scan_file(file, redactor)


def leak_check(directory: Path, known_secrets: list[str]) -> list[Hit]:
    """Where any of ``known_secrets`` appears, literally, in any file below ``directory``."""
    only_known = Redactor(known_secrets, rules=(), named_values=False)
    if not only_known.known_secrets:
        return []
    return list(scan_path(directory, only_known))
