"""The index of a directory of runs: each trace file's numbers, kept so that the second look
at a directory reads nothing that did not change.

The index is ``.cab-trace-index.jsonl`` in the directory (or, when the directory cannot be
written, in the user's cache directory): one line per trace file, keyed by its path (relative
to the directory), size and modification time. A trace that changed (a run still going) is read
again, the others are not. A file holding several runs (an Inspect AI log: one run per sample)
keeps one set of numbers per run.

Stdlib, orjson and the model; no textual, no harness. Split from :mod:`cab_trace.sweep.runs`,
which finds the runs and makes the rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model import HARNESS_KINDS, TRACE_FILE_NAME
from cab_trace.model.axes import CellNumbers, cell_numbers
from cab_trace.model.formats import read_trace
from cab_trace.model.record import SpanRecord

INDEX_FILE_NAME = ".cab-trace-index.jsonl"
#: Bump when what is stored per trace changes meaning; new CellNumbers fields bump it by themselves.
#: 2: a file may hold several runs ("r").
INDEX_VERSION = 2
#: Below this many traces to read, one process reads them (starting others costs more).
PARALLEL_FROM = 400

ProgressFn = Callable[[int, int], None]
#: What says a trace file changed: its size and modification time (in ns), or for a source made
#: of several files (a Harbor trial), their sizes added up and the latest time.
Stamp = tuple[int, int]


def _index_signature() -> str:
    names = ",".join(sorted(f.name for f in fields(CellNumbers)))
    return f"{INDEX_VERSION}:{hashlib.sha256(names.encode()).hexdigest()[:16]}"


@dataclass
class Entry:
    """What the index keeps of one trace file."""

    size: int
    mtime_ns: int
    numbers: dict[str, Any] | None
    """The run's numbers (the first run's, when the file holds several)."""
    problem: str | None
    incomplete: bool = False
    runs: list[dict[str, Any]] | None = None
    """One set of numbers per run, when the file holds more traces than one run's (an Inspect
    log: its samples, beside the log's own trace); None otherwise."""

    def line(self, path: str) -> bytes:
        return orjson.dumps(
            {
                "p": path,
                "s": self.size,
                "m": self.mtime_ns,
                "n": self.numbers,
                "x": self.problem,
                "i": self.incomplete,
                "r": self.runs,
            }
        )


def default_cache_dir() -> Path:
    """Where an index goes when the runs' directory cannot be written: ``$XDG_CACHE_HOME``
    (default ``~/.cache``) ``/cab-trace/runs-index``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cab-trace" / "runs-index"


def cache_index_path(root: Path, cache_dir: Path) -> Path:
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return cache_dir / f"{key}.jsonl"


def load_index(path: Path, into: dict[str, list[Entry]]) -> bool:
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


def _entry(obj: object) -> Entry | None:
    """An index line, checked: the index sits in a directory that may come from anywhere."""
    if not isinstance(obj, dict) or not isinstance(obj.get("p"), str):
        return None
    size, mtime, numbers, problem, runs = obj.get("s"), obj.get("m"), obj.get("n"), obj.get("x"), obj.get("r")
    if not (isinstance(size, int) and isinstance(mtime, int)):
        return None
    if numbers is not None and not isinstance(numbers, dict):
        return None
    if problem is not None and not isinstance(problem, str):
        return None
    if runs is not None and not (isinstance(runs, list) and runs and all(isinstance(r, dict) for r in runs)):
        return None
    return Entry(size, mtime, numbers, problem, obj.get("i") is True, runs)


def write_index(path: Path, entries: Mapping[str, Entry]) -> None:
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


# -- reading one trace file --------------------------------------------------------------------


def read_entry(trace: Path, size: int, mtime_ns: int) -> tuple[Entry, bool]:
    """The numbers of one trace file, and whether to keep them in the index (an error the
    system gave, like a permission refused, is not: it may be gone next time).

    A run is a trace with a run span (ours, or an importer's: an Inspect sample, a Harbor
    trial). A file with several traces keeps the numbers of each run in it, and none of its
    other traces (an Inspect log's own trace is no run); a file with no run span at all (another
    tool's trace) is read as one run, its first trace.
    """
    try:
        records = list(read_trace(trace, structure=False))
    except TraceFileError as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        return Entry(size, mtime_ns, None, where + exc.problem), True
    except OSError as exc:
        return Entry(size, mtime_ns, None, f"cannot be read: {exc.strerror or exc}"), False
    if not records:
        return Entry(size, mtime_ns, None, "the trace holds no spans"), True
    by_trace: dict[str, list[SpanRecord]] = {}
    for record in records:
        by_trace.setdefault(record.trace_id, []).append(record)
    runs = [spans for spans in by_trace.values() if any(r.kind == "run" for r in spans)]
    if runs and len(by_trace) > 1:
        each = [cell_numbers(spans).to_dict() for spans in runs]
        if trace.name == TRACE_FILE_NAME and len(by_trace) > len(runs):  # ours: say what is left out
            left = len(by_trace) - len(runs)
            each[0].setdefault("warnings", []).append(f"the file holds {left} more trace(s) that are no run")
        return Entry(size, mtime_ns, each[0], None, runs=each), True
    run = next((r for r in records if r.kind == "run"), None)
    ours = run is not None or any(r.kind in HARNESS_KINDS for r in records)
    trace_id = run.trace_id if run is not None else records[0].trace_id
    numbers = cell_numbers(by_trace[trace_id]).to_dict()
    extra = len(by_trace) - 1
    if extra:
        numbers.setdefault("warnings", []).append(f"the file holds {extra} more trace(s); the first is shown")
    return Entry(size, mtime_ns, numbers, None, incomplete=ours and run is None), True


def relative(path: str | Path, root: Path) -> str:
    """``path`` relative to ``root`` (as it is, when it is not below it)."""
    # String work, not Path.relative_to: this runs for every run of a 10,000-run directory.
    text, base = os.fspath(path), os.fspath(root).rstrip("/") + "/"
    return text[len(base) :] if text.startswith(base) else text


def _read_job(job: tuple[str, int, int]) -> tuple[Entry, bool]:
    return read_entry(Path(job[0]), job[1], job[2])


class Reader:
    """Looks each trace file up in the index, reads the ones not in it, remembers what to write."""

    def __init__(self, root: Path, known: dict[str, list[Entry]], progress: ProgressFn | None) -> None:
        self.root = root
        self.known = known
        self.fresh: dict[str, Entry] = {}
        self.changed = False
        self.read = 0
        self.progress = progress
        self.todo = 0
        self._ready: dict[str, tuple[Entry, bool]] = {}
        self.workers = 1

    def _known(self, key: str, stamp: Stamp) -> Entry | None:
        for candidate in self.known.get(key, ()):
            if candidate.size == stamp[0] and candidate.mtime_ns == stamp[1]:
                return candidate
        return None

    def prefetch(self, files: list[tuple[str, Stamp]]) -> None:
        """Read the trace files the index does not have, several at a time when there are many:
        a first look at 10,000 runs is bound by parsing, which one process does on one core."""
        jobs = []
        for path, stamp in files:
            key = relative(path, self.root)
            if self._known(key, stamp) is None:
                jobs.append((key, (path, stamp[0], stamp[1])))
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

    def entry(self, path: str, stamp: Stamp) -> Entry:
        """The numbers of the trace file ``path`` (from the index when it has not changed)."""
        key = relative(path, self.root)
        known = self._known(key, stamp)
        if known is not None:
            self.fresh[key] = known
            return known
        ready = self._ready.pop(key, None)
        if ready is None:
            ready = read_entry(Path(path), stamp[0], stamp[1])
            self._count()
        entry, keep = ready
        if keep:
            self.fresh[key] = entry
            self.changed = True
        return entry
