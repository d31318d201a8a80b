"""One trace's spans as a tree: the order the waterfall lists them in, folding, filtering and
errors. Pure (stdlib only)."""

from __future__ import annotations

from collections.abc import Sequence

from cab_trace.model import SpanRecord
from cab_trace.model.tree import tree_order


class SpanTree:
    """Spans in tree order (pre-order: parent, then its children by start time).

    A span whose parent is not in the trace is a root, so foreign and partial traces still show.
    """

    def __init__(self, spans: Sequence[SpanRecord]) -> None:
        ordered = tree_order(list(spans))
        self.spans: list[SpanRecord] = [s for _, s in ordered]
        self.depth: list[int] = [d for d, _ in ordered]
        position = {s.span_id: i for i, s in enumerate(self.spans)}
        self.parent: list[int | None] = [
            position.get(s.parent_span_id) if d > 0 and s.parent_span_id else None for d, s in ordered
        ]
        self.children: list[list[int]] = [[] for _ in ordered]
        for i, parent in enumerate(self.parent):
            if parent is not None:
                self.children[parent].append(i)
        self.errors: list[int] = [i for i, s in enumerate(self.spans) if s.is_error]
        self.folded: set[int] = set()
        self.filter_text = ""
        self._visible: list[int] | None = None

    def __len__(self) -> int:
        return len(self.spans)

    def visible(self) -> list[int]:
        """Row indices shown: not inside a folded span and, with a filter, matching it or an
        ancestor of a match (so a match is seen in its place in the tree)."""
        if self._visible is None:
            keep: set[int] | None = None
            if self.filter_text:
                keep = set()
                for i in range(len(self.spans)):
                    if self.matches(i):
                        j: int | None = i
                        while j is not None and j not in keep:
                            keep.add(j)
                            j = self.parent[j]
            rows = []
            hidden_below: int | None = None  # depth under which rows are folded away
            for i in range(len(self.spans)):
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
        if not self.children[i]:
            return
        self.folded ^= {i}
        self._visible = None

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self._visible = None

    def reveal(self, i: int) -> None:
        """Unfold every ancestor of ``i`` so that it is visible (filter permitting)."""
        j = self.parent[i]
        while j is not None:
            if j in self.folded:
                self.folded.discard(j)
                self._visible = None
            j = self.parent[j]

    def next_error(self, after: int, direction: int) -> int | None:
        """The next (direction 1) or previous (-1) error span in tree order, wrapping around."""
        if not self.errors:
            return None
        if direction > 0:
            return next((e for e in self.errors if e > after), self.errors[0])
        return next((e for e in reversed(self.errors) if e < after), self.errors[-1])
