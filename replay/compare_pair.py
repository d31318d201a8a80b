"""Two runs to compare, loaded: which trace of each file, their titles and their comparison
(:class:`ComparePair`). No Textual here: the CLI and the runs table open a pair (and report a
file that cannot be read) before the comparison screen is built.

Separate from :mod:`replay.screens.compare`, the screen that plays the pair back, because
loading and comparing two runs is one job and drawing them is another.
"""

from __future__ import annotations

from dataclasses import dataclass

from cab_trace.errors import TraceFileError
from cab_trace.model.compare import Comparison, compare
from replay.load import LoadedTrace, load


@dataclass
class ComparePair:
    """Two loaded runs, what to call them, and their comparison."""

    a: LoadedTrace
    b: LoadedTrace
    title_a: str
    title_b: str
    comparison: Comparison

    @classmethod
    def of(cls, a: LoadedTrace, b: LoadedTrace, title_a: str = "A", title_b: str = "B") -> ComparePair:
        return cls(a, b, title_a, title_b, compare(list(a.spans), list(b.spans), title_a, title_b))


def pick_trace(traces: list[LoadedTrace], where: str, trace_id: str | None) -> LoadedTrace:
    """The one trace of a file (or the one whose id starts with ``trace_id``).

    Raises:
        TraceFileError: none, or several, and no id says which.
    """
    if trace_id is not None:
        traces = [t for t in traces if t.trace_id.startswith(trace_id)]
        if len(traces) != 1:
            raise TraceFileError(
                where, f"{'no' if not traces else len(traces)} trace(s) with an id starting {trace_id}"
            )
    if len(traces) != 1:
        listed = ", ".join(t.trace_id[:12] for t in traces[:5])
        raise TraceFileError(
            where,
            f"holds {len(traces)} traces ({listed}); name one",
            hint=f"{where}#{traces[0].trace_id[:12]}",
        )
    return traces[0]


def open_pair(
    a: tuple[str, str | None, str], b: tuple[str, str | None, str], warn: object = None
) -> ComparePair:
    """Load two runs given as (path, trace id prefix or None, title) and compare them."""
    from pathlib import Path

    loaded = []
    for path, trace_id, _title in (a, b):
        loaded.append(pick_trace(load(Path(path), warn=warn if callable(warn) else None), path, trace_id))
    return ComparePair.of(loaded[0], loaded[1], a[2], b[2])
