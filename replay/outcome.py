"""The replay header's numbers of one trace, read from as few of its spans as they need
(:mod:`cab_trace.outcome` turns them into the header's facts)."""

from __future__ import annotations

from cab_trace.model.axes import CellNumbers, cell_numbers
from cab_trace.outcome import NUMBER_KINDS
from replay.tree import SpanTree

#: A foreign trace (no run span of ours) this small is read whole for its numbers.
READ_WHOLE = 100_000


def run_numbers(tree: SpanTree) -> CellNumbers:
    """The run's numbers, reading only the spans they come from (and every error span)."""
    ours = "run" in tree.index.kind
    if ours or len(tree) <= READ_WHOLE:
        rows = (
            [i for i in range(len(tree)) if tree.kind(i) in NUMBER_KINDS or tree.is_error(i)]
            if ours
            else range(len(tree))
        )
    else:
        rows = [i for i in range(len(tree)) if tree.depth[i] == 0 or tree.is_error(i)]
    numbers = cell_numbers(tree.spans[i] for i in rows)
    numbers.error_spans = len(tree.errors)
    return numbers
