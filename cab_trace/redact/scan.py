"""Finding secrets in files that already exist: ``cab-trace scan`` and the end-of-run leak check.

Pure: stdlib only. Reports say where and what kind, never the secret: a preview shows at
most a token's public prefix (``sk-p…``) and its length.

Files are read in blocks of whole lines, each block overlapping the last line of the one
before, so a secret broken over a line end is seen whole. A line longer than a block (a
minified bundle, a JSON message of a gigabyte) is read in pieces of a block, each starting
:data:`OVERLAP` before the end of the one before, so memory stays bounded whatever the line's
length and a secret across a piece's end is still seen whole in the next piece. Every block is
looked at as the redactor looks at output (the screen view, JSON escapes decoded). A terminal
recording (``*.cast``) is also read as what it shows: its output events joined in order, in
windows of the same size and overlap, so a key drawn in several events is found too.

Why pieces rather than an error for a long line: this is the tool that says whether a file
holds a secret, and a line it refused to read would be a place to hide one. The readers of
traces refuse such a line (:mod:`cab_trace.model.lines`) because they must hold a whole record;
this one needs only text around each candidate.
"""

from __future__ import annotations

import bisect
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from cab_trace.model.lines import PIECE, max_line_bytes
from cab_trace.redact.redactor import Redactor
from cab_trace.redact.rules import TOKEN_RULES

_PUBLIC_PREFIX_RULES = frozenset(rule.name for rule in TOKEN_RULES)
#: Files are scanned in blocks of about this many bytes (whole lines when lines are shorter).
BLOCK = 1 << 20
#: A piece of a long line starts this many bytes before the end of the piece before it: more
#: than anything the redactor finds in one stretch (a private-key block of up to 64 KiB, the
#: 64 KiB it looks at around a candidate), with room on both sides of a secret at the seam.
OVERLAP = 256 << 10


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


def files_under(path: Path, on_error: Callable[[Path, OSError], None] | None = None) -> Iterator[Path]:
    """``path`` itself, or every regular file below it, in sorted order, skipping symbolic links
    (to files and to directories), fifos and devices. Listed a directory at a time, so a tree of a
    million files costs its largest directory, not the whole list; a directory that cannot be
    listed is passed to ``on_error`` and left out."""
    if not path.is_dir():
        yield path
        return
    # Depth first, each directory's names sorted: the order of sorting the whole list of paths.
    stack: list[tuple[Path, Iterator[str]]] = [(path, iter(_names(path, on_error)))]
    while stack:
        directory, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        child = directory / name
        try:
            mode = os.lstat(child).st_mode
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISDIR(mode):
            stack.append((child, iter(_names(child, on_error))))
        elif stat.S_ISREG(mode):
            yield child


def _names(directory: Path, on_error: Callable[[Path, OSError], None] | None) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entry.name for entry in entries)
    except OSError as exc:
        if on_error is not None:
            on_error(directory, exc)
        return []


def _overlap(redactor: Redactor) -> int:
    # A known secret is also looked for as pieces folded over lines, up to 16 times its length
    # (and 1 KiB) from where a piece was seen: the seam must leave that much on both sides.
    return max(OVERLAP, 2 * (16 * redactor.longest_secret + 1024))


@dataclass(frozen=True)
class _Block:
    line: int
    """The file line the text starts on."""
    column: int
    """Characters of that line before the text (a piece of a long line)."""
    text: str
    report_from: int
    """Findings starting before this index were the last block's to report (it saw them whole;
    this one may see only their end)."""
    report_until: int
    """Findings starting at or after this index are left to the next block, which sees them
    whole and with context on both sides."""

    def where(self, index: int) -> tuple[int, int]:
        """(file line, column) of ``text[index]``."""
        newlines = self.text.count("\n", 0, index)
        if not newlines:
            return self.line, self.column + index
        return self.line + newlines, index - (self.text.rfind("\n", 0, index) + 1)


def _char_start(data: bytes | bytearray, at: int) -> int:
    """``at``, or the nearest position after it where a UTF-8 character starts."""
    end = min(at + 4, len(data))
    while at < end and 0x80 <= data[at] < 0xC0:
        at += 1
    return at


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def _blocks(handle: IO[bytes], overlap: int = OVERLAP, block: int = BLOCK) -> Iterator[_Block]:
    """The file as overlapping blocks: whole lines, each block starting with the last line of the
    one before; a line longer than ``block`` in pieces of about ``block`` bytes, each starting
    ``overlap`` bytes before the end of the one before. Holds at most ``overlap + 2 * block``."""
    buf = bytearray()
    seen = 0  # bytes at the front of buf that the last block already held (the overlap)
    line, column = 1, 0  # where buf starts
    report_from = 0
    while True:
        data = handle.read(block)
        if not data:
            if len(buf) > seen:
                text = _decode(buf)
                yield _Block(line, column, text, report_from, len(text))
            return
        buf += data
        cut = buf.rfind(b"\n", seen) + 1  # after the last newline that is new
        if cut == 0:
            if len(buf) - seen < block:
                continue  # a line still arriving: wait for its end or a block of it
            cut = len(buf)
        # What the next block starts with: the last line of this one (whole, if short enough),
        # or the last `overlap` bytes of a long line.
        last = buf.rfind(b"\n", 0, cut - 1) + 1
        keep = _char_start(buf, max(last, cut - overlap, 0))
        head, tail = _decode(buf[:keep]), _decode(buf[keep:cut])
        text = head + tail
        if buf[cut - 1 : cut] != b"\n":
            # Cut inside a line: what starts in the second half of the overlap is left to the
            # next block, which has the first half before it.
            until = len(head) + len(tail) // 2
            next_from = until - len(head)
        else:
            # Cut at a line end: all is reported here. The next block starts with the last line
            # again and may report in it what it sees with the lines after (the same spot is
            # not reported twice); of a long last line it has only the end, reported here.
            until = len(text)
            next_from = 0 if keep == last else len(tail)
        yield _Block(line, column, text, report_from, until)
        report_from = next_from
        newlines = head.count("\n")
        if newlines:
            line, column = line + newlines, len(head) - (head.rfind("\n") + 1)
        else:
            column += len(head)
        del buf[:keep]
        seen = cut - keep


def scan_file(path: Path, redactor: Redactor) -> Iterator[Hit]:
    """Every finding in a file, block by block (the file is streamed, not loaded whole: a
    line of any length costs a block and its overlap).

    Raises:
        OSError: the file cannot be read.
    """
    seen: set[tuple[int, int]] = set()  # (line, column) already reported by an overlap
    found = 0
    overlap = _overlap(redactor)
    with path.open("rb") as handle:
        for block in _blocks(handle, overlap, max(BLOCK, 2 * overlap)):
            now: set[tuple[int, int]] = set()
            for finding in redactor.findings(block.text):
                if not block.report_from <= finding.start < block.report_until:
                    continue
                where = block.where(finding.start)
                now.add(where)
                if where in seen:
                    continue
                found += 1
                yield Hit(
                    path, where[0], finding.rule, mask(block.text[finding.start : finding.end], finding.rule)
                )
            # Only the overlap can be seen again: what was reported before it is forgotten.
            seen = now | {w for w in seen if w >= (block.line, block.column)}
    if path.suffix == ".cast" and not found:
        yield from _scan_cast(path, redactor)


def event_lines(handle: IO[bytes], limit: int) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for each line of ``handle`` no longer than ``limit`` bytes; a longer
    line is read past (in pieces, never held) and left out."""
    first = min(limit + 1, PIECE)
    number = 0
    while raw := handle.readline(first):
        number += 1
        if raw[-1:] == b"\n" or len(raw) < first:
            if len(raw.rstrip(b"\r\n")) <= limit:
                yield number, raw
            continue
        size = len(raw)
        pieces = [raw] if size <= limit else []
        while piece := handle.readline(PIECE):
            size += len(piece)
            if size > limit:
                pieces.clear()
            elif pieces:
                pieces.append(piece)
            if piece[-1:] == b"\n":
                break
        if pieces:
            yield number, b"".join(pieces)


def _scan_cast(path: Path, redactor: Redactor) -> Iterator[Hit]:
    """A terminal recording as what it showed: the output of all its events, joined, looked at
    in windows of about :data:`BLOCK` characters, each starting with the last part of the one
    before. An event line longer than the line limit is not parsed (the line scan read it)."""
    overlap = _overlap(redactor)
    parts: list[str] = []
    starts: list[int] = []  # where each part starts in the joined output
    lines: list[int] = []  # the file line each part came from
    base = length = 0  # the joined output's offsets of parts[0] and of the end
    reported = 0  # the joined output up to here was the last window's to report

    def window(final: bool) -> Iterator[Hit]:
        nonlocal parts, starts, lines, base, reported
        text = "".join(parts)
        # As for a long line's pieces: what starts in the second half of the overlap is the next
        # window's, which sees it whole; what starts before `reported` was the last window's.
        until = base + (len(text) if final else len(text) - overlap // 2)
        for finding in redactor.findings(text):
            at = base + finding.start
            if reported <= at < until:
                index = bisect.bisect_right(starts, at) - 1
                yield Hit(
                    path, lines[index], finding.rule, mask(text[finding.start : finding.end], finding.rule)
                )
        reported = until
        # The next window starts with this one's last `overlap` characters.
        keep_from = base + max(len(text) - overlap, 0)
        first = bisect.bisect_right(starts, keep_from) - 1
        cut = keep_from - starts[first]
        parts = [parts[first][cut:], *parts[first + 1 :]]
        starts = [keep_from, *starts[first + 1 :]]
        lines = lines[first:]
        base = keep_from

    with path.open("rb") as handle:
        for number, raw in event_lines(handle, max_line_bytes()):
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, list) and len(event) >= 3 and event[1] == "o" and isinstance(event[2], str):
                output = event[2]
                for at in range(0, len(output), BLOCK):  # one long event: a window at a time
                    parts.append(output[at : at + BLOCK])
                    starts.append(length)
                    lines.append(number)
                    length += len(parts[-1])
                    if length - base >= BLOCK + overlap:
                        yield from window(final=False)
    if parts:
        yield from window(final=True)


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
