"""Spans grouped into traces and put in tree order: shared by `show` and the replay. Pure.

The tree is computed over columns (ids, parents, starts, ends), so a million spans cost a few
lists of integers, not a million objects. Every span is listed once, whatever the file holds:
a span id used twice lists both spans (children go under the first), a span that is its own
parent or whose parent is missing is a root, and a parent cycle is cut where it is met.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cab_trace.model.record import SpanRecord


def group_traces(records: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    """Records by trace id, in order of first appearance."""
    traces: dict[str, list[SpanRecord]] = {}
    for r in records:
        traces.setdefault(r.trace_id, []).append(r)
    return traces


class TreeRows:
    """Tree order of rows ``0 .. n-1``: :attr:`order` (pre-order, children by start then end
    time), and per row its :attr:`depth` and :attr:`parent` (the row it is shown under, or -1)."""

    __slots__ = ("depth", "order", "parent")

    def __init__(self, order: list[int], depth: list[int], parent: list[int]) -> None:
        self.order = order
        self.depth = depth
        self.parent = parent


def tree_rows(
    ids: Sequence[object], parents: Sequence[object | None], starts: Sequence[int], ends: Sequence[int]
) -> TreeRows:
    """The tree order of spans given as columns (ids and parent ids of any hashable type; a
    falsy parent, None or 0, is no parent)."""
    n = len(ids)
    # The first row of each id: assigning in reverse leaves the first one in place.
    first = dict(zip(reversed(ids), range(n - 1, -1, -1), strict=True))
    get = first.get
    up = [-1 if not p or p == i else get(p, -1) for p, i in zip(parents, ids, strict=True)]
    by_time = sorted(range(n), key=ends.__getitem__)
    by_time.sort(key=starts.__getitem__)  # stable: by start, then end, then file order
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for row in by_time:
        p = up[row]
        if p < 0:
            roots.append(row)
        else:
            kids = children.get(p)
            if kids is None:
                children[p] = [row]
            else:
                kids.append(row)
    order: list[int] = []
    depth = [0] * n
    shown_parent = [-1] * n
    seen = bytearray(n)

    def walk(start: list[int]) -> None:
        stack = start[::-1]
        while stack:
            row = stack.pop()
            if seen[row]:
                continue
            seen[row] = 1
            order.append(row)
            kids = children.get(row)
            if kids:
                d = depth[row] + 1
                for k in kids:
                    if not seen[k]:
                        depth[k] = d
                        shown_parent[k] = row
                stack.extend(reversed(kids))

    walk(roots)
    if len(order) < n:
        # Spans whose parents form a cycle are reachable from no root: each cycle is cut where
        # it is first met, in time order.
        for row in by_time:
            if not seen[row]:
                depth[row] = 0
                shown_parent[row] = -1
                walk([row])
    return TreeRows(order, depth, shown_parent)


def tree_order(spans: list[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """Depth-first order (children by start time), with each span's depth."""
    rows = tree_rows(
        [s.span_id for s in spans],
        [s.parent_span_id for s in spans],
        [s.start_time_unix_nano for s in spans],
        [s.end_time_unix_nano for s in spans],
    )
    return [(rows.depth[i], spans[i]) for i in rows.order]
