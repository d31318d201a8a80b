"""What the replay opens: the traces in a file or run directory, and the run's terminal recording.

Runs before the UI starts, so that a file that cannot be read gives the reader's error (file,
line, problem) on stderr and exit 2 instead of a broken screen.

A trace is opened as columns (:class:`~cab_trace.model.index.SpanIndex`): ids, times, kinds and
errors of every span, a few dozen bytes each; a span's record is read from its line only when
it is drawn. So a 1,000,000-span trace opens in seconds and holds a fraction of its file size.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

from cab_trace.model import SpanRecord
from cab_trace.model.foreign import terminal_of
from cab_trace.model.formats import resolve_source
from cab_trace.model.index import RecordView, SpanIndex, open_index
from cab_trace.model.jsonl import special_file
from replay.terminal import Cast, read_cast
from replay.tree import SpanTree

CAST_FILE_NAME = "terminal.cast"
DIFF_FILE_NAME = "changes.diff"
#: The changes span shows this much of the run's diff; a longer one is cut with a note.
DIFF_SHOWN_BYTES = 2_000_000


class LoadedTrace:
    """One trace to replay: some rows of an index. Its summaries (root, start, duration, error)
    are computed once from the columns: the picker sorts and filters by them on every keystroke.

    ``LoadedTrace(trace_id, spans)`` holds records given directly (tests, small traces).
    """

    def __init__(
        self,
        trace_id: str,
        spans: Sequence[SpanRecord] | None = None,
        *,
        index: SpanIndex | None = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        if index is None:
            index = SpanIndex.from_records(spans or [])
        self.trace_id = trace_id
        self.index = index
        self.rows: Sequence[int] = rows if rows is not None else range(len(index))
        self.cast: Cast | None = None
        self.cast_origin_ns: int | None = None
        """Absolute time of the recording's first moment, to line it up with the spans."""
        self.warnings: list[str] = []
        """What the reader said about the file (shown in the replay's header)."""
        self.tree: SpanTree | None = None
        """Its spans in tree order, when :func:`load` built it."""
        self.diff: str | None = None
        """The run directory's changes.diff (what the agent changed), or its first
        :data:`DIFF_SHOWN_BYTES`; None when there is none."""
        self.diff_cut: int = 0
        """Bytes of the diff not read (0: all of it is in :attr:`diff`)."""

    @property
    def spans(self) -> Sequence[SpanRecord]:
        """The records, in file order, read when indexed."""
        return RecordView(self.index, self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def root_row(self) -> int:
        """The earliest span whose parent is not in the trace."""
        ix = self.index
        ids = {ix.sid[r] for r in self.rows}
        roots = [r for r in self.rows if ix.pid[r] not in ids]
        return min(roots or self.rows, key=ix.start.__getitem__)

    @cached_property
    def root(self) -> SpanRecord:
        return self.index.record(self.root_row)

    @cached_property
    def start_ns(self) -> int:
        return min(self.index.start[r] for r in self.rows)

    @cached_property
    def duration_ns(self) -> int:
        return max(self.index.end[r] for r in self.rows) - self.start_ns

    @cached_property
    def is_error(self) -> bool:
        err = self.index.error
        return any(err[r] for r in self.rows)

    def near_root(self, limit: int = 200) -> list[SpanRecord]:
        """The root and up to ``limit`` of its children, for the header's run identity."""
        ix = self.index
        root_id = ix.sid[self.root_row]
        kids = [r for r in self.rows if ix.pid[r] == root_id][:limit]
        return [self.root, *(ix.record(r) for r in kids)]


@contextlib.contextmanager
def settled_objects() -> Iterator[None]:
    """Build a large, long-lived structure without the cyclic garbage collector.

    Loading a large trace makes many objects, none of them garbage; the collector would scan
    them again and again while they are made, and then again during the replay, as UI pauses.
    So it is off while they are made, and afterwards they are moved out of its sight
    (``gc.freeze``) for the life of the process.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def load(path: Path, warn: Callable[[str], None] | None = None) -> list[LoadedTrace]:
    """Every trace in ``path`` (a trace file in any format `read_trace` knows, a run directory,
    a Harbor trial directory), with its terminal recording attached when there is one trace (a
    run's ``terminal.cast``, a trial's ``agent/recording.cast``, a recording read on its own).
    Warnings (a truncated last line, duplicate ids, parent cycles, ...) go to ``warn`` and are
    kept on each trace for the UI to show.

    Raises:
        TraceFileError: the trace or the recording cannot be read.
    """
    trace_path = resolve_source(path)
    said: list[str] = []

    def note(message: str) -> None:
        said.append(message)
        if warn is not None:
            warn(message)

    with settled_objects():
        index = open_index(trace_path, warn=note)
        trace_ids = index.trace_ids
        if len(index.trace_ids) == 1:
            groups: dict[int, Sequence[int]] = {0: range(len(index))}
        else:
            groups = dict(index.rows_of())
        traces = []
        for number, rows in groups.items():
            if not len(rows):
                continue
            trace = LoadedTrace(trace_ids[number], index=index, rows=rows)
            # The tree is built here, not when the trace is opened: its warnings (duplicate
            # ids, cycles, missing parents) are said before the UI starts.
            trace.tree = SpanTree(index=index, rows=rows)
            where = f"{trace_path}" + (f" (trace {trace.trace_id})" if len(groups) > 1 else "")
            for message in trace.tree.warnings:
                note(f"{where}: {message}")
            traces.append(trace)
    for trace in traces:
        trace.warnings = said
    cast_path = terminal_of(trace_path)
    if len(traces) == 1 and cast_path is not None:
        trace = traces[0]
        trace.cast = read_cast(cast_path)
        trace.cast_origin_ns = cast_origin(trace, trace.cast)
    if len(traces) == 1:
        read_diff(traces[0], trace_path.parent / DIFF_FILE_NAME, note)
    return traces


def read_diff(trace: LoadedTrace, path: Path, note: Callable[[str], None] | None = None) -> None:
    """Attach the run's diff (its head, when it is long); a diff that cannot be read is left
    out: the changes span still says which files changed. One that is a named pipe or a device
    is not opened (a pipe would be waited on for ever), and ``note`` is told."""
    if (kind := special_file(path)) is not None:
        if note is not None:
            note(f"{path}: is {kind}, not a file: the run's diff is left out")
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(DIFF_SHOWN_BYTES)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return
    trace.diff = head.decode("utf-8", errors="replace")
    trace.diff_cut = max(0, size - len(head))


def cast_origin(trace: LoadedTrace, cast: Cast) -> int:
    """When the recording started: the agent's launch (the ``container`` span, whose output it
    is), else the recording's own header timestamp, else the trace's start."""
    ix = trace.index
    launches = [ix.start[r] for r in trace.rows if ix.kind[r] == "container"]
    if launches:
        return min(launches)
    if cast.timestamp is not None:
        return int(cast.timestamp * 1e9)
    return trace.start_ns
