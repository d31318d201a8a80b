"""The runs in a directory, one row per cell, with an index so that the second look is fast.

A directory of runs is a sweep directory (``cells.jsonl``, one line per cell, written by
``cab-trace sweep``) or any directory holding runs, found recursively: run directories (a
directory with a ``trace.jsonl``), and other harnesses' records that the importers read (a
Harbor trial directory; an Inspect AI log, ``.eval`` or ``.json``, one row per sample). A sweep
directory found below is read as a sweep. Each row holds the cell's fields (``cells.jsonl``'s,
when there is one) and its per-axis numbers, read from its trace by
:func:`cab_trace.model.axes.cell_numbers`, so a cell reads the same here as in ``cells.jsonl``,
``compare`` and the cell page.

Reading 10,000 traces takes a while; reading them again is not needed: see
:mod:`cab_trace.sweep.runs_index`.

No textual, no harness: stdlib, orjson and the model. A run that cannot be read is a row with
the reason (:attr:`RunRow.problem`), never an exception.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from cab_trace.model import TRACE_FILE_NAME
from cab_trace.model.foreign import looks_like_inspect_log, trial_result_in
from cab_trace.model.harbor import RESULT_FILE, TRAJECTORY_FILE
from cab_trace.model.jsonl import special_file
from cab_trace.show import safe_text
from cab_trace.sweep.runs_index import (
    INDEX_FILE_NAME,
    Entry,
    ProgressFn,
    Reader,
    Stamp,
    cache_index_path,
    default_cache_dir,
    load_index,
    relative,
    write_index,
)

__all__ = ["CELLS_FILE_NAME", "INDEX_FILE_NAME", "RunRow", "RunsListing", "default_cache_dir", "scan_runs"]

CELLS_FILE_NAME = "cells.jsonl"
_IDENTITY = ("cell_id", "sweep_id", "adapter", "model", "task_id", "repeat")

WarnFn = Callable[[str], None]


@dataclass
class RunRow:
    """One cell of the listing.

    ``fields`` holds what a ``cells.jsonl`` line holds (identity, ``state``, ``run_dir``, the
    numbers of :meth:`CellNumbers.to_dict`); what was not observed is absent, never 0.
    """

    number: int
    """1-based place in the listing: plan order in a sweep, path order otherwise."""
    ref: str
    """What ``compare DIR REF REF`` takes for this row: the cell id, else the run directory
    (``FILE#TRACE`` for one of several runs in a file)."""
    run_dir: Path | None
    """Where the run is: its run directory (or Harbor trial directory), or the log file that
    holds it (an Inspect log)."""
    fields: dict[str, Any]
    state: str
    """``done``, ``failed``, ``pending``, ``running``, ``interrupted`` (a sweep's states),
    ``incomplete`` (a trace with no run span: still going, or killed) or ``unreadable``."""
    problem: str | None = None
    """Why the row's trace could not be read (the row is then marked, not dropped)."""
    sweep: Path | None = None
    """The sweep directory whose ``cells.jsonl`` holds this cell (None: a run directory)."""
    trace: str | None = None
    """The run's trace id, when its file holds other traces too (an Inspect log's samples):
    ``run_dir`` is then that file, and this says which of its traces is the row's."""

    def get(self, name: str) -> Any:
        return self.fields.get(name)

    @cached_property
    def outcome(self) -> str:
        """``pass``, ``FAIL``, ``error`` (the run failed before a verdict), a dash (no check), or
        the state for a cell with no result (``pending``, ``unreadable`` …)."""
        if self.state == "unreadable" or (self.problem and "wall_ms" not in self.fields):
            return "unreadable"
        if self.state in ("pending", "running", "interrupted", "incomplete"):
            return self.state
        passed = self.fields.get("passed")
        if passed is False:
            return "FAIL"
        if self.state == "failed":
            return "error"  # the run could not complete, whatever its trace got to say
        if passed is True:
            return "pass"
        if self.fields.get("run_failed") or self.fields.get("error_spans"):
            return "error"  # no verdict, and something failed (the agent, a phase)
        return "\u2013"

    @cached_property
    def why(self) -> str:
        """One line on what went wrong, if anything did."""
        for text in (self.problem, self.fields.get("error"), self.fields.get("first_error")):
            if isinstance(text, str) and text:
                return text
        message = self.fields.get("status_message")
        return message if isinstance(message, str) else ""

    def summary_fields(self) -> dict[str, Any]:
        """The row as :func:`cab_trace.sweep.summary.summarize` reads a cell: a trace that
        cannot be read counts as a cell that could not complete."""
        state = {"unreadable": "failed", "incomplete": "running"}.get(self.state, self.state)
        return {**self.fields, "state": state}


@dataclass
class RunsListing:
    """Every row found under :attr:`root`, and what the scan noticed."""

    root: Path
    rows: list[RunRow]
    sweeps: list[Path] = field(default_factory=list)
    """Sweep directories (``cells.jsonl``) found, the root included."""
    index_path: Path | None = None
    """Where the index was written or found up to date (None: it could not be written)."""
    traces_read: int = 0
    """Traces read this time: not in the index, or changed since."""
    workers: int = 1
    """Processes that read them."""
    warnings: list[str] = field(default_factory=list)

    def find(self, ref: str) -> RunRow:
        """The row ``ref`` names: its number (``7`` or ``#7``), its ref, cell id, run id or run
        directory (relative to the root, or as a path), else the one row whose ref holds it.

        Raises:
            LookupError: no row, or several, fit; the message says which.
        """
        text = ref.strip()
        if text.lstrip("#").isdigit():
            n = int(text.lstrip("#"))
            if 1 <= n <= len(self.rows) and not any(r.ref == text for r in self.rows):
                return self.rows[n - 1]
        exact = [r for r in self.rows if text in _names(r, self.root)]
        if len(exact) == 1:
            return exact[0]
        partial = exact or [r for r in self.rows if any(text in name for name in _names(r, self.root))]
        if len(partial) == 1:
            return partial[0]
        if not partial:
            raise LookupError(safe_text(f"no cell in {self.root} is {ref!r}", one_line=True))
        shown = ", ".join(f"#{r.number} {safe_text(r.ref, one_line=True)}" for r in partial[:5])
        more = f" and {len(partial) - 5} more" if len(partial) > 5 else ""
        where = safe_text(f"{ref!r} fits {len(partial)} cells in {self.root}", one_line=True)
        raise LookupError(f"{where}: {shown}{more}")


def _names(row: RunRow, root: Path) -> set[str]:
    names = {row.ref}
    for key in ("cell_id", "run_id", "run_dir"):
        value = row.fields.get(key)
        if isinstance(value, str) and value:
            names.add(value)
    if row.run_dir is not None:
        names.add(str(row.run_dir))
        with contextlib.suppress(ValueError):
            names.add(row.run_dir.relative_to(root).as_posix())
    return names


# -- finding the runs --------------------------------------------------------------------------

#: One run's source: where it is (a run or trial directory, or a log file), the file whose
#: numbers the index keeps, and what says it changed.
_Source = tuple[str, str, Stamp]


@dataclass
class _Found:
    sources: list[_Source] = field(default_factory=list)
    """Runs as strings (a Path each costs more than the rest of a look at 10,000)."""
    sweeps: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _walk(root: Path) -> _Found:
    """The runs (with what says they changed) and sweep directories under ``root``.

    A run directory or Harbor trial is not searched further (a kept workdir is not a run, nor
    is a trial's agent directory); symbolic links are not followed (no loops, nothing outside
    the tree); hidden directories and files are skipped. An Inspect log is a file in any other
    directory: ``*.eval`` (a zip archive) or ``*.json`` that starts as Inspect's logs do.
    """
    found = _Found()
    pending = [os.fspath(root)]
    while pending:
        here = pending.pop()
        trace = f"{here}/{TRACE_FILE_NAME}"
        stamp = _stamp(trace)
        if stamp is not None:
            found.sources.append((here, trace, stamp))
            continue
        trial = _trial(here)
        if trial is not None:
            found.sources.append(trial)
            continue
        try:
            with os.scandir(here) as listing:
                entries = list(listing)
        except OSError as exc:
            found.warnings.append(f"{here}: cannot be listed ({exc.strerror or exc}); skipped")
            continue
        if any(e.name == CELLS_FILE_NAME for e in entries):
            found.sweeps.append(Path(here))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif (
                    _is_log_name(entry.name)
                    and entry.is_file(follow_symlinks=False)
                    and looks_like_inspect_log(entry.path)
                ):
                    st = entry.stat(follow_symlinks=False)
                    found.sources.append((entry.path, entry.path, (st.st_size, st.st_mtime_ns)))
    found.sources.sort()
    found.sweeps.sort()
    return found


def _stamp(path: str) -> Stamp | None:
    """A regular file's size and modification time (None: no such file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


#: The files of a Harbor trial whose numbers its row shows: a change to any is a change to it.
_TRIAL_FILES = (RESULT_FILE, TRAJECTORY_FILE, "verifier/reward.txt")


def _trial(directory: str) -> _Source | None:
    """A Harbor trial directory as a source (None: it is not one)."""
    if _stamp(f"{directory}/{RESULT_FILE}") is None or trial_result_in(Path(directory)) is None:
        return None  # most directories have no result.json: one stat, no Path
    stamps = [s for name in _TRIAL_FILES if (s := _stamp(f"{directory}/{name}")) is not None]
    return directory, f"{directory}/{RESULT_FILE}", (sum(s[0] for s in stamps), max(s[1] for s in stamps))


def _is_log_name(name: str) -> bool:
    return name.endswith((".eval", ".json"))


def read_cells(path: Path, warn: WarnFn | None = None) -> list[dict[str, Any]]:
    """The lines of a ``cells.jsonl``; a line that is not a JSON object is skipped with a
    warning naming the file and the line (the sweep may be rewriting it)."""
    cells = []
    try:
        if kind := special_file(path):  # a named pipe is refused, not waited on for ever
            raise OSError(f"{kind}, not a file")
        data = path.read_bytes()
    except OSError as exc:
        if warn is not None:
            warn(f"{path}: cannot be read ({exc.strerror or exc})")
        return []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if warn is not None:
                warn(f"{path}:{number}: not valid JSON ({exc}); that cell is left out")
            continue
        if not isinstance(obj, dict):
            if warn is not None:
                warn(f"{path}:{number}: not a JSON object; that cell is left out")
            continue
        cells.append(obj)
    return cells


def scan_runs(
    root: Path,
    *,
    cache_dir: Path | None = None,
    progress: ProgressFn | None = None,
    write_index: bool = True,
) -> RunsListing:
    """Every cell under ``root``: the cells of each sweep (in plan order), then the run
    directories outside any sweep (in path order).

    Args:
        cache_dir: where the index goes when ``root`` cannot be written (default:
            :func:`default_cache_dir`).
        progress: called as ``(traces read, traces not in the index)`` while reading.
        write_index: keep the index (off for a look that must not write anything).
    """
    # The cyclic collector would scan the rows again and again while they are made (none of
    # them is garbage): a third of a look at 10,000 runs. Off for the look.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _scan(Path(root), cache_dir or default_cache_dir(), progress, write_index)
    finally:
        if was_enabled:
            gc.enable()


def _scan(root: Path, cache_dir: Path, progress: ProgressFn | None, write_index: bool) -> RunsListing:
    in_root, in_cache = root / INDEX_FILE_NAME, cache_index_path(root, cache_dir)
    known: dict[str, list[Entry]] = {}
    had_root = load_index(in_root, known)
    load_index(in_cache, known)
    found = _walk(root)
    listing = RunsListing(root=root, rows=[], sweeps=found.sweeps, warnings=list(found.warnings))
    reader = Reader(root, known, progress)
    cells = [(sweep, _plan(sweep, listing.warnings)) for sweep in found.sweeps]
    in_sweeps = [
        (f"{d}/{TRACE_FILE_NAME}", st) for _, plan in cells for _, d, _, st in plan if d is not None and st
    ]
    reader.prefetch(in_sweeps + [(file, stamp) for _, file, stamp in found.sources])
    for sweep, plan in cells:
        listing.rows.extend(_sweep_rows(sweep, plan, root, reader))
    for where, file, stamp in found.sources:
        listing.rows.extend(_run_rows(where, root, reader.entry(file, stamp)))
    _number(listing.rows, root)
    listing.traces_read, listing.workers = reader.read, reader.workers
    if set(reader.fresh) != set(known):
        reader.changed = True  # runs removed since, or kept in the other place: write it anew
    if write_index:
        listing.index_path = _keep_index(reader, in_root, in_cache, had_root)
    return listing


def _keep_index(reader: Reader, in_root: Path, in_cache: Path, had_root: bool) -> Path | None:
    if not reader.changed:
        return in_root if had_root else in_cache
    for path in (in_root, in_cache):
        try:
            write_index(path, reader.fresh)
        except OSError:
            continue  # a read-only runs directory: the user's cache then
        return path
    return None


def _run_rows(where: str, root: Path, entry: Entry) -> list[RunRow]:
    """The row of a run directory or trial, or the rows of a log holding several runs."""
    rel = relative(where, root)
    path = Path(where)
    if entry.runs is not None:  # one row per run in the file, each naming its trace
        return [
            RunRow(0, rel, path, {"run_dir": rel, **numbers}, "done", trace=str(numbers.get("trace_id")))
            for numbers in entry.runs
        ]
    fields: dict[str, Any] = {"run_dir": rel}
    if entry.numbers is not None:
        fields.update(entry.numbers)
    if entry.problem is not None:
        return [RunRow(0, rel, path, fields, "unreadable", entry.problem)]
    state = "incomplete" if entry.incomplete else "done"
    problem = "no run span: the run is still going, or was killed" if entry.incomplete else None
    return [RunRow(0, rel, path, fields, state, problem)]


_Planned = tuple[dict[str, Any], Path | None, str | None, Stamp | None]


def _plan(sweep: Path, warnings: list[str]) -> list[_Planned]:
    """Each cell of a sweep with its run directory (None: not started, or not to be read), why
    not, and what says its trace changed."""
    return _plan_of(sweep, read_cells(sweep / CELLS_FILE_NAME, warnings.append))


def _plan_of(sweep: Path, cells: list[dict[str, Any]]) -> list[_Planned]:
    out: list[_Planned] = []
    for cell in cells:
        rel = cell.get("run_dir")
        if not (isinstance(rel, str) and rel):
            out.append((cell, None, None, None))
        elif not _inside(sweep, rel):
            out.append((cell, None, f"run_dir {rel!r} is outside the sweep directory: not read", None))
        else:
            run_dir = sweep / rel
            out.append((cell, run_dir, None, _stamp(f"{run_dir}/{TRACE_FILE_NAME}")))
    return out


def _inside(sweep: Path, rel: str) -> bool:
    """Whether ``rel`` names a place inside ``sweep`` without leaving it: no absolute path, no
    ``..``, no symbolic link on the way (a sweep directory may come from anywhere)."""
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        return False
    here = sweep
    for part in parts:
        here = here / part
        if here.is_symlink():
            return False
    return True


def sweep_listing(sweep: Path, cells: Sequence[Mapping[str, Any]]) -> RunsListing:
    """A sweep's rows from its ``cells.jsonl`` lines as they stand, with the numbers they hold
    (read from each cell's trace when it finished): what ``cab-trace sweep`` prints at its end,
    without reading every trace again. ``scan_runs`` of the directory gives the same rows."""
    plan = _plan_of(sweep, [dict(c) for c in cells])
    listing = RunsListing(root=sweep, rows=_sweep_rows(sweep, plan, sweep, None), sweeps=[sweep])
    _number(listing.rows, sweep)
    return listing


def _sweep_rows(sweep: Path, plan: list[_Planned], root: Path, reader: Reader | None) -> list[RunRow]:
    """A row per cell; ``reader`` None: the numbers the cells' lines hold (no trace is read)."""
    rows = []
    for cell, run_dir, refused, st in plan:
        problem = refused
        state = cell.get("state")
        state = state if isinstance(state, str) and state else "pending"
        fields = dict(cell)
        if run_dir is not None:
            fields["run_dir"] = relative(run_dir, root)
        if run_dir is not None and reader is not None:
            entry = reader.entry(f"{run_dir}/{TRACE_FILE_NAME}", st) if st is not None else None
            if entry is None:
                if state == "done":
                    problem = f"no {TRACE_FILE_NAME} in {fields['run_dir']}"
            elif entry.problem is not None:
                problem = entry.problem
            elif entry.numbers is not None:
                # The trace's numbers are the newest; the plan's identity (cell id, repeat) wins.
                fields.update({k: v for k, v in entry.numbers.items() if k not in _IDENTITY or k not in cell})
        if problem is not None and "wall_ms" not in fields and state not in ("pending", "running"):
            state = "unreadable"  # the plan's state stays in fields["state"]
        rows.append(RunRow(0, "", run_dir, fields, state, problem, sweep=sweep))
    return rows


def _number(rows: list[RunRow], root: Path) -> None:
    """Number the rows and give each the shortest ref that names it alone."""
    ids: dict[str, int] = {}
    for row in rows:
        cell_id = row.fields.get("cell_id")
        if isinstance(cell_id, str) and cell_id:
            ids[cell_id] = ids.get(cell_id, 0) + 1
    in_one_file: dict[Path, int] = {}
    for row in rows:
        if row.trace is not None and row.run_dir is not None:
            in_one_file[row.run_dir] = in_one_file.get(row.run_dir, 0) + 1
    for n, row in enumerate(rows, 1):
        row.number = n
        cell_id = row.fields.get("cell_id")
        if row.sweep is not None and isinstance(cell_id, str) and ids.get(cell_id) == 1:
            row.ref = cell_id
        elif isinstance(row.fields.get("run_dir"), str):
            row.ref = row.fields["run_dir"]
        elif row.run_dir is not None:
            row.ref = relative(row.run_dir, root)
        else:
            row.ref = f"#{n}"
        if row.trace is not None and row.run_dir is not None and in_one_file[row.run_dir] > 1:
            row.ref += f"#{row.trace[:12]}"  # as `compare FILE#TRACE` names one run of a file
