"""One trace's spans as a tree: the order the waterfall lists them in, folding, filtering and
errors. Pure (stdlib only).

Built from the columns of a :class:`~cab_trace.model.index.SpanIndex` (ids, parents, times,
kinds, errors); a span's full record (its name, its attributes) is read only for the rows that
are drawn or searched.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from cab_trace.model import SpanRecord
from cab_trace.model.index import RecordView, SpanIndex
from cab_trace.model.tree import shape_warnings, tree_rows


class SpanTree:
    """Spans in tree order (pre-order: parent, then its children by start time). Every span is
    listed once: a span whose parent is not in the trace is a root, a duplicated span id lists
    both spans, a parent cycle is cut.

    Args:
        spans: records (tests, small traces); or None with ``index`` and ``rows``.
        index: the columns of a trace file.
        rows: the index rows of this trace (default: all of them).
    """

    def __init__(
        self,
        spans: Sequence[SpanRecord] | None = None,
        *,
        index: SpanIndex | None = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        if index is None:
            index = SpanIndex.from_records(spans or [])
        self.index = index
        if rows is None or len(rows) == len(index):
            sid, pid, start, end = index.sid, index.pid, index.start, index.end
            source: Sequence[int] = range(len(index))
        else:
            source = rows
            sid = array("Q", [index.sid[r] for r in rows])
            pid = array("Q", [index.pid[r] for r in rows])
            start = array("Q", [index.start[r] for r in rows])
            end = array("Q", [index.end[r] for r in rows])
        shape = tree_rows(sid, pid, start, end)
        self.warnings = shape_warnings(shape, sid, "{:016x}".format)
        """What is odd about the trace's shape (duplicate ids, cycles, missing parents)."""
        order = shape.order
        self.rows = array("L", order if isinstance(source, range) else map(source.__getitem__, order))
        """Index row of each position, in tree order."""
        self.spans: Sequence[SpanRecord] = RecordView(index, self.rows)
        position = [0] * len(order)
        for i, k in enumerate(order):
            position[k] = i
        self.depth: list[int] = list(map(shape.depth.__getitem__, order))
        self.parent: list[int | None] = [
            None if p < 0 else position[p] for p in map(shape.parent.__getitem__, order)
        ]
        self.starts = array("Q", map(start.__getitem__, order))
        self.ends = array("Q", map(end.__getitem__, order))
        flags = bytes(map(index.error.__getitem__, self.rows))
        self.errors: list[int] = []
        at = flags.find(1)
        while at >= 0:
            self.errors.append(at)
            at = flags.find(1, at + 1)
        self.folded: set[int] = set()
        self.filter_text = ""
        self._visible: Sequence[int] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def kind(self, i: int) -> str:
        return self.index.kind[self.rows[i]]

    def is_error(self, i: int) -> bool:
        return bool(self.index.error[self.rows[i]])

    def has_children(self, i: int) -> bool:
        # Pre-order: a span's children, if any, come right after it, one level deeper.
        return i + 1 < len(self.depth) and self.depth[i + 1] > self.depth[i]

    @property
    def children(self) -> dict[int, list[int]]:
        """Positions of each span's children (built when asked: the tree itself needs none)."""
        out: dict[int, list[int]] = {}
        for i, p in enumerate(self.parent):
            if p is not None:
                out.setdefault(p, []).append(i)
        return out

    def visible(self) -> Sequence[int]:
        """Row indices shown: not inside a folded span and, with a filter, matching it or an
        ancestor of a match (so a match is seen in its place in the tree)."""
        if self._visible is None:
            if not self.folded and not self.filter_text:
                self._visible = range(len(self.rows))  # every row: no list of a million ints
                return self._visible
            keep: set[int] | None = None
            if self.filter_text:
                keep = set()
                for i in range(len(self.rows)):
                    if self.matches(i):
                        j: int | None = i
                        while j is not None and j not in keep:
                            keep.add(j)
                            j = self.parent[j]
            rows = []
            hidden_below: int | None = None  # depth under which rows are folded away
            for i in range(len(self.rows)):
                if hidden_below is not None:
                    if self.depth[i] > hidden_below:
                        continue
                    hidden_below = None
                if keep is not None and i not in keep:
                    continue
                rows.append(i)
                if i in self.folded:
                    hidden_below = self.depth[i]
            self._visible = rows
        return self._visible

    def matches(self, i: int) -> bool:
        """Case-insensitive: the filter text in the span's name, kind, span id or any attribute."""
        needle = self.filter_text.casefold()
        s = self.spans[i]
        if needle in s.name.casefold() or needle in s.kind.casefold() or needle in s.span_id:
            return True
        return any(needle in k.casefold() or needle in str(v).casefold() for k, v in s.attributes.items())

    def toggle_fold(self, i: int) -> None:
        if not self.has_children(i):
            return
        self.folded ^= {i}
        self._visible = None

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._visible = None

    def reveal(self, i: int) -> bool:
        """Unfold every ancestor of ``i`` so that it is visible (filter permitting); returns
        whether anything was unfolded (the visible rows changed)."""
        changed = False
        if not self.folded:
            return changed  # nothing is folded: nothing to walk up for
        j = self.parent[i]
        while j is not None:
            if j in self.folded:
                self.folded.discard(j)
                self._visible = None
                changed = True
            j = self.parent[j]
        return changed

    def next_error(self, after: int, direction: int) -> int | None:
        """The next (direction 1) or previous (-1) error span in tree order, wrapping around."""
        if not self.errors:
            return None
        if direction > 0:
            return next((e for e in self.errors if e > after), self.errors[0])
        return next((e for e in reversed(self.errors) if e < after), self.errors[-1])
