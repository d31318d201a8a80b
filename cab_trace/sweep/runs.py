"""The runs in a directory, one row per cell, with an index so that the second look is fast.

A directory of runs is a sweep directory (``cells.jsonl``, one line per cell, written by
``cab-trace sweep``) or any directory holding run directories (a directory with a
``trace.jsonl``), found recursively; a sweep directory found below is read as a sweep. Each row
holds the cell's fields (``cells.jsonl``'s, when there is one) and its per-axis numbers, read
from its trace by :func:`cab_trace.model.axes.cell_numbers`, so a cell reads the same here as in
``cells.jsonl``, ``compare`` and the cell page.

Reading 10,000 traces takes a while; reading them again is not needed. The numbers of each
trace are kept in an index, ``.cab-trace-index.jsonl`` in the directory (or, when the directory
cannot be written, in the user's cache directory), keyed by the trace file's path, size and
modification time: a trace that changed (a run still going) is read again, the others are not.

No textual, no harness: stdlib, orjson and the model. A run directory that cannot be read is a
row with the reason (:attr:`RunRow.problem`), never an exception.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import os
import stat
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model import HARNESS_KINDS, TRACE_FILE_NAME
from cab_trace.model.axes import CellNumbers, cell_numbers
from cab_trace.model.formats import read_trace
from cab_trace.show import safe_text

CELLS_FILE_NAME = "cells.jsonl"
INDEX_FILE_NAME = ".cab-trace-index.jsonl"
#: Bump when what is stored per trace changes meaning; new CellNumbers fields bump it by themselves.
INDEX_VERSION = 1
_IDENTITY = ("cell_id", "sweep_id", "adapter", "model", "task_id", "repeat")

ProgressFn = Callable[[int, int], None]
WarnFn = Callable[[str], None]


def _index_signature() -> str:
    names = ",".join(sorted(f.name for f in fields(CellNumbers)))
    return f"{INDEX_VERSION}:{hashlib.sha256(names.encode()).hexdigest()[:16]}"


@dataclass
class RunRow:
    """One cell of the listing.

    ``fields`` holds what a ``cells.jsonl`` line holds (identity, ``state``, ``run_dir``, the
    numbers of :meth:`CellNumbers.to_dict`); what was not observed is absent, never 0.
    """

    number: int
    """1-based place in the listing: plan order in a sweep, path order otherwise."""
    ref: str
    """What ``compare DIR REF REF`` takes for this row: the cell id, else the run directory."""
    run_dir: Path | None
    fields: dict[str, Any]
    state: str
    """``done``, ``failed``, ``pending``, ``running``, ``interrupted`` (a sweep's states),
    ``incomplete`` (a trace with no run span: still going, or killed) or ``unreadable``."""
    problem: str | None = None
    """Why the row's trace could not be read (the row is then marked, not dropped)."""
    sweep: Path | None = None
    """The sweep directory whose ``cells.jsonl`` holds this cell (None: a run directory)."""

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


# -- the index ---------------------------------------------------------------------------------


@dataclass
class _Entry:
    size: int
    mtime_ns: int
    numbers: dict[str, Any] | None
    problem: str | None
    incomplete: bool = False

    def line(self, path: str) -> bytes:
        return orjson.dumps(
            {
                "p": path,
                "s": self.size,
                "m": self.mtime_ns,
                "n": self.numbers,
                "x": self.problem,
                "i": self.incomplete,
            }
        )


def default_cache_dir() -> Path:
    """Where an index goes when the runs' directory cannot be written: ``$XDG_CACHE_HOME``
    (default ``~/.cache``) ``/cab-trace/runs-index``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cab-trace" / "runs-index"


def _cache_index_path(root: Path, cache_dir: Path) -> Path:
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return cache_dir / f"{key}.jsonl"


def _load_index(path: Path, into: dict[str, list[_Entry]]) -> bool:
    """Add the entries of one index file; False when there is none or it is not ours."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    lines = data.split(b"\n")
    try:
        head = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        return False
    if not isinstance(head, dict) or head.get("cab_trace_runs_index") != _index_signature():
        return False  # another version's numbers: read the traces again
    for raw in lines[1:]:
        if not raw:
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a line cut by a crash: that trace is read again
        entry = _entry(obj)
        if entry is not None:
            into.setdefault(obj["p"], []).append(entry)
    return True


def _entry(obj: object) -> _Entry | None:
    """An index line, checked: the index sits in a directory that may come from anywhere."""
    if not isinstance(obj, dict) or not isinstance(obj.get("p"), str):
        return None
    size, mtime, numbers, problem = obj.get("s"), obj.get("m"), obj.get("n"), obj.get("x")
    if not (isinstance(size, int) and isinstance(mtime, int)):
        return None
    if numbers is not None and not isinstance(numbers, dict):
        return None
    if problem is not None and not isinstance(problem, str):
        return None
    return _Entry(size, mtime, numbers, problem, obj.get("i") is True)


def _write_index(path: Path, entries: Mapping[str, _Entry]) -> None:
    """Write the whole index beside its final place, then rename: a reader never sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    head = orjson.dumps({"cab_trace_runs_index": _index_signature()})
    body = b"\n".join([head, *(e.line(p) for p, e in sorted(entries.items()))]) + b"\n"
    try:
        with tmp.open("wb") as out:
            out.write(body)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# -- finding the runs --------------------------------------------------------------------------


@dataclass
class _Found:
    run_dirs: list[tuple[str, os.stat_result]] = field(default_factory=list)
    """Run directories as strings (a Path each costs more than the rest of a look at 10,000)."""
    sweeps: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _walk(root: Path) -> _Found:
    """Run directories (with their trace's stat) and sweep directories under ``root``.

    A run directory is not searched further (its kept workdir is not a run); symbolic links to
    directories are not followed (no loops, nothing outside the tree); hidden directories are
    skipped.
    """
    found = _Found()
    pending = [os.fspath(root)]
    while pending:
        here = pending.pop()
        trace_stat = _trace_stat(here)
        if trace_stat is not None:
            found.run_dirs.append((here, trace_stat))
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
    found.run_dirs.sort()
    found.sweeps.sort()
    return found


def _trace_stat(directory: str | Path) -> os.stat_result | None:
    try:
        st = os.stat(f"{directory}/{TRACE_FILE_NAME}")
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def read_cells(path: Path, warn: WarnFn | None = None) -> list[dict[str, Any]]:
    """The lines of a ``cells.jsonl``; a line that is not a JSON object is skipped with a
    warning naming the file and the line (the sweep may be rewriting it)."""
    cells = []
    try:
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


# -- reading one trace -------------------------------------------------------------------------


def _read_entry(trace: Path, size: int, mtime_ns: int) -> tuple[_Entry, bool]:
    """The numbers of one trace file, and whether to keep them in the index (an error the
    system gave, like a permission refused, is not: it may be gone next time)."""
    try:
        records = list(read_trace(trace, structure=False))
    except TraceFileError as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        return _Entry(size, mtime_ns, None, where + exc.problem), True
    except OSError as exc:
        return _Entry(size, mtime_ns, None, f"cannot be read: {exc.strerror or exc}"), False
    if not records:
        return _Entry(size, mtime_ns, None, "the trace holds no spans"), True
    run = next((r for r in records if r.kind == "run"), None)
    ours = run is not None or any(r.kind in HARNESS_KINDS for r in records)
    trace_id = run.trace_id if run is not None else records[0].trace_id
    one = [r for r in records if r.trace_id == trace_id]
    numbers = cell_numbers(one).to_dict()
    extra = len({r.trace_id for r in records}) - 1
    if extra:
        numbers.setdefault("warnings", []).append(f"the file holds {extra} more trace(s); the first is shown")
    return _Entry(size, mtime_ns, numbers, None, incomplete=ours and run is None), True


def _relative(path: str | Path, root: Path) -> str:
    # String work, not Path.relative_to: this runs for every run of a 10,000-run directory.
    text, base = os.fspath(path), os.fspath(root).rstrip("/") + "/"
    return text[len(base) :] if text.startswith(base) else text


def _read_job(job: tuple[str, int, int]) -> tuple[_Entry, bool]:
    return _read_entry(Path(job[0]), job[1], job[2])


#: Below this many traces to read, one process reads them (starting others costs more).
PARALLEL_FROM = 400


class _Reader:
    """Looks each trace up in the index, reads the ones not in it, remembers what to write."""

    def __init__(self, root: Path, known: dict[str, list[_Entry]], progress: ProgressFn | None) -> None:
        self.root = root
        self.known = known
        self.fresh: dict[str, _Entry] = {}
        self.changed = False
        self.read = 0
        self.progress = progress
        self.todo = 0
        self._ready: dict[str, tuple[_Entry, bool]] = {}
        self.workers = 1

    def _known(self, key: str, st: os.stat_result) -> _Entry | None:
        for candidate in self.known.get(key, ()):
            if candidate.size == st.st_size and candidate.mtime_ns == st.st_mtime_ns:
                return candidate
        return None

    def prefetch(self, run_dirs: list[tuple[str, os.stat_result]]) -> None:
        """Read the traces the index does not have, several at a time when there are many: a
        first look at 10,000 runs is bound by parsing, which one process does on one core."""
        jobs = []
        for run_dir, st in run_dirs:
            key = _relative(run_dir, self.root) + "/" + TRACE_FILE_NAME
            if self._known(key, st) is None:
                jobs.append((key, (os.path.join(run_dir, TRACE_FILE_NAME), st.st_size, st.st_mtime_ns)))
        self.todo = len(jobs)
        workers = min(os.cpu_count() or 1, 8)
        # Forked workers start at once with everything imported; a process with other threads
        # is not forked (a lock held at the fork would stay held), and "spawn" would import
        # the program's main module again in each worker, which not every program can take.
        if (
            len(jobs) < PARALLEL_FROM
            or workers < 2
            or sys.platform != "linux"
            or threading.active_count() > 1
        ):
            return  # read one by one as the rows are made
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                results = pool.map(_read_job, [job for _, job in jobs], chunksize=32)
                for (key, _), result in zip(jobs, results, strict=True):
                    self._ready[key] = result
                    self._count()
            self.workers = workers
        except (OSError, BrokenProcessPool):
            return  # no processes to be had: the rest is read here, one by one

    def _count(self) -> None:
        self.read += 1
        if self.progress is not None:
            self.progress(self.read, self.todo)

    def entry(self, run_dir: str, st: os.stat_result | None) -> _Entry | None:
        if st is None:
            st = _trace_stat(run_dir)
            if st is None:
                return None
        key = _relative(run_dir, self.root) + "/" + TRACE_FILE_NAME
        known = self._known(key, st)
        if known is not None:
            self.fresh[key] = known
            return known
        ready = self._ready.pop(key, None)
        if ready is None:
            ready = _read_entry(Path(run_dir, TRACE_FILE_NAME), st.st_size, st.st_mtime_ns)
            self._count()
        entry, keep = ready
        if keep:
            self.fresh[key] = entry
            self.changed = True
        return entry


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
    in_root, in_cache = root / INDEX_FILE_NAME, _cache_index_path(root, cache_dir)
    known: dict[str, list[_Entry]] = {}
    had_root = _load_index(in_root, known)
    _load_index(in_cache, known)
    found = _walk(root)
    listing = RunsListing(root=root, rows=[], sweeps=found.sweeps, warnings=list(found.warnings))
    reader = _Reader(root, known, progress)
    cells = [(sweep, _plan(sweep, listing.warnings)) for sweep in found.sweeps]
    in_sweeps = [
        (str(d), st) for _, plan in cells for _, d, _, st in plan if d is not None and st is not None
    ]
    reader.prefetch(in_sweeps + found.run_dirs)
    for sweep, plan in cells:
        listing.rows.extend(_sweep_rows(sweep, plan, root, reader))
    for run_dir, st in found.run_dirs:
        listing.rows.append(_run_row(run_dir, root, reader.entry(run_dir, st)))
    _number(listing.rows, root)
    listing.traces_read, listing.workers = reader.read, reader.workers
    if set(reader.fresh) != set(known):
        reader.changed = True  # runs removed since, or kept in the other place: write it anew
    if write_index:
        listing.index_path = _keep_index(reader, in_root, in_cache, had_root)
    return listing


def _keep_index(reader: _Reader, in_root: Path, in_cache: Path, had_root: bool) -> Path | None:
    if not reader.changed:
        return in_root if had_root else in_cache
    for path in (in_root, in_cache):
        try:
            _write_index(path, reader.fresh)
        except OSError:
            continue  # a read-only runs directory: the user's cache then
        return path
    return None


def _run_row(run_dir: str, root: Path, entry: _Entry | None) -> RunRow:
    rel = _relative(run_dir, root)
    fields: dict[str, Any] = {"run_dir": rel}
    path = Path(run_dir)
    if entry is None:
        return RunRow(0, rel, path, fields, "unreadable", f"no {TRACE_FILE_NAME}")
    if entry.numbers is not None:
        fields.update(entry.numbers)
    if entry.problem is not None:
        return RunRow(0, rel, path, fields, "unreadable", entry.problem)
    state = "incomplete" if entry.incomplete else "done"
    problem = "no run span: the run is still going, or was killed" if entry.incomplete else None
    return RunRow(0, rel, path, fields, state, problem)


_Planned = tuple[dict[str, Any], Path | None, str | None, os.stat_result | None]


def _plan(sweep: Path, warnings: list[str]) -> list[_Planned]:
    """Each cell of a sweep with its run directory (None: not started, or not to be read), why
    not, and its trace's stat."""
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
            out.append((cell, run_dir, None, _trace_stat(run_dir)))
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


def _sweep_rows(sweep: Path, plan: list[_Planned], root: Path, reader: _Reader | None) -> list[RunRow]:
    """A row per cell; ``reader`` None: the numbers the cells' lines hold (no trace is read)."""
    rows = []
    for cell, run_dir, refused, st in plan:
        problem = refused
        state = cell.get("state")
        state = state if isinstance(state, str) and state else "pending"
        fields = dict(cell)
        if run_dir is not None:
            fields["run_dir"] = _relative(run_dir, root)
        if run_dir is not None and reader is not None:
            entry = reader.entry(str(run_dir), st) if st is not None else None
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
    for n, row in enumerate(rows, 1):
        row.number = n
        cell_id = row.fields.get("cell_id")
        if row.sweep is not None and isinstance(cell_id, str) and ids.get(cell_id) == 1:
            row.ref = cell_id
        elif isinstance(row.fields.get("run_dir"), str):
            row.ref = row.fields["run_dir"]
        elif row.run_dir is not None:
            row.ref = _relative(row.run_dir, root)
        else:
            row.ref = f"#{n}"
