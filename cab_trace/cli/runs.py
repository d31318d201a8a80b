"""What `compare`, `show` and `replay` share about naming runs: a directory of runs (a sweep, or
any directory holding run directories), and two runs given as paths or as cells of a directory.

Two runs are named either as two paths (run directories or trace files; a file holding several
traces takes ``FILE#TRACE_ID``, a prefix of the id is enough), or as a directory and two cells
in it, as its table shows them: the row number (``3`` or ``#3``), the cell id, the run id or the
run directory (``cab-trace compare runs/ 3 7``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cab_trace.cli.common import PROG, stderr
from cab_trace.errors import TraceFileError, UsageError
from cab_trace.model import TRACE_FILE_NAME, SpanRecord
from cab_trace.model.formats import read_trace
from cab_trace.model.jsonl import missing_problem
from cab_trace.show import safe_text
from cab_trace.sweep.runs import CELLS_FILE_NAME, RunsListing, scan_runs


@dataclass
class Target:
    """One run to open: a run directory or a trace file, which trace in it, what to call it."""

    path: Path
    trace: str | None
    """A prefix of the trace id, for a file holding several traces."""
    title: str


def is_runs_dir(path: Path) -> bool:
    """A directory that is not itself a run (ours, or a Harbor trial): a sweep, or a directory of runs."""
    from cab_trace.model.foreign import trial_result_in

    return path.is_dir() and not (path / TRACE_FILE_NAME).is_file() and trial_result_in(path) is None


def listing(path: Path, no_index: bool = False) -> RunsListing:
    """The rows of a directory of runs, saying on stderr what takes time (the first look reads
    every trace; later looks read only what changed).

    Raises:
        UsageError: nothing under ``path`` is a run or a sweep.
    """
    shown = [0.0]
    tty = sys.stderr.isatty()

    def progress(done: int, todo: int) -> None:
        import time

        now = time.monotonic()
        if tty and todo > 50 and (now - shown[0] > 0.25 or done == todo):
            shown[0] = now
            end = "\n" if done == todo else "\r"
            sys.stderr.write(f"{PROG}: indexing {path}: read {done:,} of {todo:,} new traces{end}")
            sys.stderr.flush()

    found = scan_runs(path, progress=progress, write_index=not no_index)
    for message in found.warnings:
        stderr(f"{PROG}: warning: {safe_text(message, one_line=True)}")
    if not found.rows:
        raise UsageError(
            f"{path}: no runs in it or below it (no {TRACE_FILE_NAME}, no {CELLS_FILE_NAME})",
            hint="pass a run directory, a sweep directory or a directory holding run directories",
        )
    return found


def _cell(runs: RunsListing, where: str, ref: str) -> Target:
    try:
        row = runs.find(ref)
    except LookupError as exc:
        raise UsageError(str(exc), hint=f"`cab-trace show {where}` lists the cells") from None
    if row.run_dir is None or row.state == "unreadable":
        why = row.problem or f"the cell is {row.state}: it has no run directory yet"
        raise UsageError(safe_text(f"cell #{row.number} ({row.ref}) cannot be opened: {why}", one_line=True))
    return Target(row.run_dir, row.trace, f"#{row.number} {row.ref}")


def one_cell(directory: Path, ref: str, no_index: bool = False) -> Target:
    """One cell of a directory of runs (``replay DIR 3``): its run directory, or the log
    holding it and which of its traces."""
    return _cell(listing(directory, no_index), str(directory), ref)


def _split_trace(text: str) -> tuple[Path, str | None]:
    path = Path(text)
    if path.exists() or "#" not in text:
        return path, None
    head, _, tail = text.rpartition("#")
    if re.fullmatch(r"[0-9a-fA-F]{1,32}", tail) and Path(head).exists():
        return Path(head), tail.lower()
    return path, None


def targets(names: Sequence[str], command: str, no_index: bool = False) -> list[Target]:
    """Two runs from the command line: ``A B`` (paths) or ``DIR A B`` (cells of a directory).

    Raises:
        UsageError: a name fits no run, or several.
    """
    if len(names) == 3:
        runs = listing(Path(names[0]), no_index)
        return [_cell(runs, names[0], ref) for ref in names[1:]]
    if len(names) != 2:
        raise UsageError(f"{command} takes two runs: A B (paths), or DIR A B (cells of a directory)")
    out = []
    for name in names:
        path, trace = _split_trace(name)
        if not path.is_file() and not path.is_dir():
            raise UsageError(f"{name}: {missing_problem(path)}")
        if is_runs_dir(path):
            raise UsageError(
                f"{name} is a directory of runs, not one run",
                hint=f"name two of its cells: `cab-trace {command} {name} 1 2` (numbers as "
                f"`cab-trace show {name}` lists them), or pass two run directories",
            )
        out.append(Target(path, trace, name))
    return out


def one_trace(
    records: list[SpanRecord], target: Target, say: Callable[[str], None] | None = None
) -> list[SpanRecord]:
    """The spans of the one trace ``target`` names in its file.

    Raises:
        TraceFileError: the file holds no spans, several traces and no id was given, or none
            with that id.
    """
    ids = list(dict.fromkeys(r.trace_id for r in records))
    if target.trace is not None:
        ids = [t for t in ids if t.startswith(target.trace)]
        if len(ids) != 1:
            found = "no trace" if not ids else f"{len(ids)} traces"
            raise TraceFileError(target.path, f"{found} with an id starting {target.trace}")
    if not ids:
        raise TraceFileError(target.path, "holds no spans")
    if len(ids) > 1:
        listed = ", ".join(t[:12] for t in ids[:5]) + (" …" if len(ids) > 5 else "")
        raise TraceFileError(
            target.path,
            f"holds {len(ids)} traces ({listed}); name one",
            hint=f"{target.path}#{ids[0][:12]} names the first",
        )
    return [r for r in records if r.trace_id == ids[0]]


def read_target(target: Target, warn: Callable[[str], None]) -> list[SpanRecord]:
    """The records of the run ``target`` names (any format the readers know)."""
    return one_trace(list(read_trace(target.path, warn=warn)), target)
