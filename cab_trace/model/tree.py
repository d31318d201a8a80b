"""Spans grouped into traces and put in tree order: shared by `show` and the replay. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cab_trace.model.record import SpanRecord


def group_traces(records: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    """Records by trace id, in order of first appearance."""
    traces: dict[str, list[SpanRecord]] = {}
    for r in records:
        traces.setdefault(r.trace_id, []).append(r)
    return traces


def tree_order(spans: list[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """Depth-first order (children by start time), with each span's depth. A span whose parent
    is not in the list is shown as a root."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for s in spans:
        parent = s.parent_span_id if s.parent_span_id in ids else None
        children[parent].append(s)
    for group in children.values():
        group.sort(key=lambda s: (s.start_time_unix_nano, s.end_time_unix_nano))
    ordered: list[tuple[int, SpanRecord]] = []
    seen: set[str] = set()

    def walk(roots: list[SpanRecord]) -> None:
        stack: list[tuple[int, SpanRecord]] = [(0, s) for s in reversed(roots)]
        while stack:
            depth, span = stack.pop()
            if span.span_id in seen:
                continue  # a file with duplicated span ids still lists each id once
            seen.add(span.span_id)
            ordered.append((depth, span))
            stack.extend((depth + 1, c) for c in reversed(children[span.span_id]))

    walk(children[None])
    # Spans whose parents form a cycle are reachable from no root: list them as roots.
    walk([s for s in spans if s.span_id not in seen])
    return ordered
