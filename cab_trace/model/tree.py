"""Spans grouped into traces and put in tree order: shared by `show` and the replay. Pure.

The tree is computed over columns (ids, parents, starts, ends), so a million spans cost a few
lists of integers, not a million objects. Every span is listed once, whatever the file holds:
a span id used twice lists both spans (children go under the first), a span that is its own
parent or whose parent is missing is a root, and a parent cycle is cut where it is met.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat

from cab_trace.model.record import SpanRecord


def group_traces(records: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    """Records by trace id, in order of first appearance."""
    traces: dict[str, list[SpanRecord]] = {}
    for r in records:
        traces.setdefault(r.trace_id, []).append(r)
    return traces


class TreeRows:
    """Tree order of rows ``0 .. n-1``: :attr:`order` (pre-order, children by start then end
    time), and per row its :attr:`depth` and :attr:`parent` (the row it is shown under, or -1).

    And what is odd about the shape, found on the way: rows that repeat an earlier row's id
    (:attr:`duplicates`), name themselves as parent (:attr:`self_parents`), have a parent that
    is not there (:attr:`dangling`), or are reachable from no root because their parents form
    a cycle (:attr:`cut`: the rows where a cycle was cut; :attr:`unreachable`: how many rows
    hung from them).
    """

    __slots__ = ("cut", "dangling", "depth", "duplicates", "order", "parent", "self_parents", "unreachable")

    def __init__(self, order: list[int], depth: list[int], parent: list[int]) -> None:
        self.order = order
        self.depth = depth
        self.parent = parent
        self.duplicates: list[int] = []
        self.self_parents: list[int] = []
        self.dangling: list[int] = []
        self.cut: list[int] = []
        self.unreachable = 0


def tree_rows(
    ids: Sequence[object], parents: Sequence[object | None], starts: Sequence[int], ends: Sequence[int]
) -> TreeRows:
    """The tree order of spans given as columns (ids and parent ids of any hashable type; a
    falsy parent, None or 0, is no parent)."""
    n = len(ids)
    # The first row of each id: assigning in reverse leaves the first one in place.
    first = dict(zip(reversed(ids), range(n - 1, -1, -1), strict=True))
    up = list(map(first.get, parents, repeat(-1)))  # -1: no parent, or not in the file
    odd_self = any(map(operator.eq, ids, parents))
    if odd_self:
        self_parents = [i for i, (s, p) in enumerate(zip(ids, parents, strict=True)) if s == p]
        for i in self_parents:
            up[i] = -1
    by_time = sorted(range(n), key=ends.__getitem__)
    by_time.sort(key=starts.__getitem__)  # stable: by start, then end, then file order
    roots, children = _children(by_time, up)
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
    rows = TreeRows(order, depth, shown_parent)
    if len(order) < n:
        # Spans whose parents form a cycle are reachable from no root: each cycle is cut where
        # it is first met, in time order.
        rows.unreachable = n - len(order)
        for row in by_time:
            if not seen[row]:
                depth[row] = 0
                shown_parent[row] = -1
                rows.cut.append(row)
                walk([row])
    if len(first) < n:
        rows.duplicates = [i for i, s in enumerate(ids) if first[s] != i]
    if odd_self:
        rows.self_parents = self_parents
    if len(roots) > list(map(bool, parents)).count(False) + len(rows.self_parents):
        rows.dangling = [i for i in roots if parents[i] and parents[i] != ids[i]]
    return rows


def _children(by_time: list[int], up: list[int]) -> tuple[list[int], dict[int, list[int]]]:
    """Roots, and each parent's children, in time order."""
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
    return roots, children


def shape_warnings(rows: TreeRows, ids: Sequence[object], describe: Callable[[object], str]) -> list[str]:
    """One line per kind of oddity, with a count and up to three examples (``describe`` turns
    an id into text)."""

    def examples(found: list[int]) -> str:
        return "e.g. " + ", ".join(describe(ids[i]) for i in found[:3])

    out = []
    if rows.duplicates:
        out.append(
            f"{len(rows.duplicates)} span(s) repeat a span id already in the trace "
            f"({examples(rows.duplicates)}); each is shown, children go under the first"
        )
    if rows.self_parents:
        out.append(
            f"{len(rows.self_parents)} span(s) name themselves as parent "
            f"({examples(rows.self_parents)}); shown as roots"
        )
    if rows.dangling:
        out.append(
            f"{len(rows.dangling)} span(s) have a parent that is not in the file "
            f"({examples(rows.dangling)}); shown as roots"
        )
    if rows.cut:
        out.append(
            f"{rows.unreachable} span(s) hang from parents that form a cycle ({examples(rows.cut)}); "
            "the cycle is cut there and shown as a root"
        )
    return out


def tree_order(spans: list[SpanRecord]) -> list[tuple[int, SpanRecord]]:
    """Depth-first order (children by start time), with each span's depth."""
    rows = tree_rows(
        [s.span_id for s in spans],
        [s.parent_span_id for s in spans],
        [s.start_time_unix_nano for s in spans],
        [s.end_time_unix_nano for s in spans],
    )
    return [(rows.depth[i], spans[i]) for i in rows.order]
