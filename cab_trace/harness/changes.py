"""What the agent changed: the workdir compared with the task's starting files.

Files are compared by content (size, then SHA-256). The unified diff goes to a file in the run
directory, redacted, written file by file so a large change is never held whole in memory.

Each file's content is redacted whole *before* it is diffed, as the redactor reads output (the
screen view, JSON escapes, a known secret broken over lines), so that a secret the agent wrote
in pieces, escaped or with invisible characters between its halves, does not reach the diff
one line at a time; the diff (paths included) is then redacted again as text.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cab_trace.harness import safetree
from cab_trace.model import AttrValue
from cab_trace.redact import Redactor

DIFF_FILE_NAME = "changes.diff"
#: Noise that tools make and nobody means as a change: version-control internals, bytecode caches.
IGNORED_PARTS = (".git", "__pycache__")
#: Lists on the span keep this many paths; the counts are always complete.
MAX_LISTED = 200
#: Files larger than this are compared but not diffed line by line.
MAX_DIFF_BYTES = 1_000_000


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    lines_added: int = 0
    lines_removed: int = 0

    def attributes(self) -> dict[str, AttrValue]:
        return {
            "files_added": self.added[:MAX_LISTED],
            "files_removed": self.removed[:MAX_LISTED],
            "files_modified": self.modified[:MAX_LISTED],
            "files_added_count": len(self.added),
            "files_removed_count": len(self.removed),
            "files_modified_count": len(self.modified),
            "lines_added": self.lines_added,
            "lines_removed": self.lines_removed,
            "ignored": list(IGNORED_PARTS),
        }


# Both trees are read without following a link (safetree.py): the task's is downloaded data, and
# the workdir is the agent's, which in a container may hold links to anywhere on this machine.
Side = tuple[Path, str]
"""A file as (the root of its tree, its path relative to it)."""


def _ignored(rel: str, _is_dir: bool = False) -> bool:
    return any(part in IGNORED_PARTS for part in rel.split("/"))


def _files(root: Path) -> dict[str, Side]:
    """The regular files below ``root`` (links and special files are not the agent's content)."""
    return {e.rel: (root, e.rel) for e in safetree.walk(root, _ignored) if e.kind == "file"}


def _read(side: Side, limit: int | None = None) -> bytes | None:
    """The file's bytes (None if larger than ``limit``)."""
    with safetree.open_beneath(*side) as fd:
        if limit is not None and os.fstat(fd).st_size > limit:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)


def _size(side: Side) -> int:
    with safetree.open_beneath(*side) as fd:
        return os.fstat(fd).st_size


def _same(a: Side, b: Side) -> bool:
    if _size(a) != _size(b):
        return False
    return _digest(a) == _digest(b)


def _digest(side: Side) -> bytes:
    h = hashlib.sha256()
    with safetree.open_beneath(*side) as fd:
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    return h.digest()


def _lines(side: Side | None, redactor: Redactor) -> list[str] | None:
    """The file's lines, redacted, or None for a binary or very large file."""
    if side is None:
        return []
    data = _read(side, MAX_DIFF_BYTES)
    if data is None or b"\0" in data:
        return None
    try:
        return redactor.text(data.decode("utf-8")).splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _file_diff(rel: str, before: Side | None, after: Side | None, redactor: Redactor) -> tuple[str, int, int]:
    old, new = _lines(before, redactor), _lines(after, redactor)
    if old is None or new is None:
        return f"Binary files a/{rel} and b/{rel} differ\n", 0, 0
    text = []
    added = removed = 0
    for line in difflib.unified_diff(
        old,
        new,
        fromfile=f"a/{rel}" if before else "/dev/null",
        tofile=f"b/{rel}" if after else "/dev/null",
    ):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
        text.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(text), added, removed


def compare(
    start: Path, workdir: Path, starting: list[Path]
) -> Iterator[tuple[str, Side | None, Side | None]]:
    """(path, before, after) for every file that differs; None where the file does not exist."""
    before = {p.as_posix(): (start, p.as_posix()) for p in starting if not _ignored(p.as_posix())}
    after = _files(workdir)
    for rel in sorted(before.keys() | after.keys()):
        b, a = before.get(rel), after.get(rel)
        if b is not None and a is not None and _same(b, a):
            continue
        yield rel, b, a


def record_changes(
    start: Path, starting: list[Path], workdir: Path, diff_path: Path, redactor: Redactor
) -> Changes:
    """Compare, write the redacted unified diff to ``diff_path``, and return what changed."""
    changes = Changes()
    with diff_path.open("w", encoding="utf-8") as out:
        for rel, before, after in compare(start, workdir, starting):
            if before is None:
                changes.added.append(rel)
            elif after is None:
                changes.removed.append(rel)
            else:
                changes.modified.append(rel)
            text, added, removed = _file_diff(rel, before, after, redactor)
            changes.lines_added += added
            changes.lines_removed += removed
            out.write(redactor.text(text))
    return changes
