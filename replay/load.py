"""What the replay opens: the traces in a file or run directory, and the run's terminal recording.

Runs before the UI starts, so that a file that cannot be read gives the reader's error (file,
line, problem) on stderr and exit 2 instead of a broken screen.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cab_trace.model import SpanRecord
from cab_trace.model.formats import read_trace
from cab_trace.model.jsonl import resolve_trace_path
from cab_trace.model.tree import group_traces
from replay.terminal import Cast, read_cast

CAST_FILE_NAME = "terminal.cast"


@dataclass
class LoadedTrace:
    """One trace to replay. Its summaries (root, start, duration, error) are computed once: the
    picker sorts and filters by them on every keystroke."""

    trace_id: str
    spans: list[SpanRecord]
    cast: Cast | None = None
    cast_origin_ns: int | None = None
    """Absolute time of the recording's first moment, to line it up with the spans."""

    @cached_property
    def root(self) -> SpanRecord:
        ids = {s.span_id for s in self.spans}
        roots = [s for s in self.spans if s.parent_span_id not in ids]
        return min(roots or self.spans, key=lambda s: s.start_time_unix_nano)

    @cached_property
    def start_ns(self) -> int:
        return min(s.start_time_unix_nano for s in self.spans)

    @cached_property
    def duration_ns(self) -> int:
        return max(s.end_time_unix_nano for s in self.spans) - self.start_ns

    @cached_property
    def is_error(self) -> bool:
        return any(s.is_error for s in self.spans)


@contextlib.contextmanager
def settled_objects() -> Iterator[None]:
    """Build a large, long-lived structure without the cyclic garbage collector.

    Loading 100,000 spans makes about a million objects, none of them garbage; the collector
    would scan them again and again while they are made (40% of the load time), and then
    again during the replay, as UI pauses. So it is off while they are made, and afterwards
    they are moved out of its sight (``gc.freeze``) for the life of the process.
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
    """Every trace in ``path`` (a trace file in any format `read_trace` knows, or a run
    directory), with the run directory's ``terminal.cast`` attached when there is one trace.

    Raises:
        TraceFileError: the trace or the recording cannot be read.
    """
    trace_path = resolve_trace_path(path)
    traces = [
        LoadedTrace(tid, spans) for tid, spans in group_traces(read_trace(trace_path, warn=warn)).items()
    ]
    cast_path = trace_path.parent / CAST_FILE_NAME
    if len(traces) == 1 and cast_path.is_file():
        trace = traces[0]
        trace.cast = read_cast(cast_path)
        trace.cast_origin_ns = cast_origin(trace.spans, trace.cast)
    return traces


def cast_origin(spans: list[SpanRecord], cast: Cast) -> int:
    """When the recording started: the agent's launch (the ``container`` span, whose output it
    is), else the recording's own header timestamp, else the trace's start."""
    launches = [s for s in spans if s.kind == "container"]
    if launches:
        return min(s.start_time_unix_nano for s in launches)
    if cast.timestamp is not None:
        return int(cast.timestamp * 1e9)
    return min(s.start_time_unix_nano for s in spans)
