"""What is wrong with a trace's shape, though every span in it is valid: duplicate span ids, a
span that is its own parent, parents that form a cycle, parents that are not in the file.
Pure (stdlib only).

Checked in a stream, in compact memory (a few dozen bytes per span, not the span), so that
`show`, `validate`, `export` and `replay` report the same things on a million spans.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat

from cab_trace.model.record import SpanRecord

#: How many examples of each problem a warning names.
EXAMPLES = 3


class StructureCheck:
    """Feed it every span (:meth:`add`), then ask for :meth:`warnings`."""

    def __init__(self) -> None:
        self._traces: dict[str, int] = {}
        self._index: dict[int, int] = {}  # (trace number << 64 | span id) -> first row
        # Per row (span, in file order): its trace's number, its id and its parent's id (0: none).
        self._trace = array("L")
        self._sid = array("Q")
        self._pid = array("Q")
        self._duplicates: list[str] = []
        self._duplicate_count = 0
        self._self_parents: list[str] = []
        self._self_count = 0

    def add(self, trace_id: str, span_id: str, parent_span_id: str | None) -> None:
        number = self._traces.setdefault(trace_id, len(self._traces))
        self.add_ints(number, int(span_id, 16), int(parent_span_id, 16) if parent_span_id else 0)

    def add_ints(self, trace: int, sid: int, pid: int) -> None:
        """:meth:`add` for a span given as numbers: its trace's number, its id, its parent's (0: none)."""
        key = trace << 64 | sid
        if key in self._index:
            self._duplicate_count += 1
            if len(self._duplicates) < EXAMPLES:
                self._duplicates.append(f"{sid:016x}")
        else:
            self._index[key] = len(self._sid)
        if pid == sid:
            self._self_count += 1
            if len(self._self_parents) < EXAMPLES:
                self._self_parents.append(f"{sid:016x}")
            pid = 0
        self._trace.append(trace)
        self._sid.append(sid)
        self._pid.append(pid)

    def add_columns(
        self, trace_ids: Sequence[str], span_ids: Sequence[str], parent_ids: Sequence[str | None]
    ) -> None:
        """:meth:`add` for many spans, given as columns: C-level passes over them, not a Python
        call per span (`validate` feeds it a chunk of lines at a time)."""
        traces = self._traces
        for t in dict.fromkeys(trace_ids):
            traces.setdefault(t, len(traces))
        numbers = list(map(traces.__getitem__, trace_ids))
        sids = list(map(int, span_ids, repeat(16)))
        pids = list(map(int, map(_NO_PARENT.get, parent_ids, parent_ids), repeat(16)))  # type: ignore[arg-type]
        if any(map(operator.eq, sids, pids)):  # a self-parent: said span by span
            for number, sid, pid in zip(numbers, sids, pids, strict=True):
                self.add_ints(number, sid, pid)
            return
        rows = range(len(self._sid), len(self._sid) + len(sids))
        keys = list(map(operator.or_, map(operator.lshift, numbers, repeat(64)), sids))
        first = list(map(self._index.setdefault, keys, rows))  # an earlier row's, for a repeated id
        if first != list(rows):
            for sid, row, got in zip(sids, rows, first, strict=True):
                if got != row:
                    self._duplicate_count += 1
                    if len(self._duplicates) < EXAMPLES:
                        self._duplicates.append(f"{sid:016x}")
        self._trace.extend(numbers)
        self._sid.extend(sids)
        self._pid.extend(pids)

    def _id(self, row: int) -> str:
        return f"{self._sid[row]:016x}"

    def warnings(self) -> list[str]:
        """One line per kind of problem, with a count and up to three span ids."""
        out = []
        if self._duplicate_count:
            out.append(
                f"{self._duplicate_count} span(s) repeat a span id already in the trace "
                f"({_examples(self._duplicates)}); each is shown, children go under the first"
            )
        if self._self_count:
            out.append(
                f"{self._self_count} span(s) name themselves as parent ({_examples(self._self_parents)}); "
                "shown as roots"
            )
        index = self._index
        # Each row's parent row (-2: not in the file, -1: none), column-wise.
        parents = array(
            "q",
            map(
                index.get,
                map(operator.or_, map(operator.lshift, self._trace, repeat(64)), self._pid),
                repeat(-2),
            ),
        )
        for row in compress(range(len(parents)), map(operator.not_, self._pid)):
            parents[row] = -1
        dangling = list(compress(range(len(parents)), map(operator.eq, parents, repeat(-2))))
        if dangling:
            out.append(
                f"{len(dangling)} span(s) have a parent that is not in the file "
                f"({_examples([self._id(i) for i in dangling[:EXAMPLES]])}); shown as roots"
            )
        cycles = _cycle_members(parents)
        if cycles:
            out.append(
                f"{len(cycles)} span(s) have parents that form a cycle "
                f"({_examples([self._id(i) for i in cycles[:EXAMPLES]])}); "
                "the cycle is cut and shown as roots"
            )
        return out


_NO_PARENT = {None: "0", "": "0"}  # .get(p, p): "0" for no parent, else p itself


def _examples(ids: list[str]) -> str:
    return "e.g. " + ", ".join(ids)


def _cycle_members(parents: array[int]) -> list[int]:
    """Rows on a parent cycle: walk each chain once, colouring rows as visited (1: on the
    current walk, 2: finished)."""
    # A cycle needs a parent at or after its child in file order (not every step of a loop can
    # go back): without one, there is none to look for.
    if not any(map(operator.ge, parents, range(len(parents)))):
        return []
    state = bytearray(len(parents))
    members: list[int] = []
    for start in range(len(parents)):
        if state[start]:
            continue
        path = []
        row = start
        while row >= 0 and not state[row]:
            state[row] = 1
            path.append(row)
            row = parents[row]
        if row >= 0 and state[row] == 1:  # came back onto this walk: a cycle from row on
            members.extend(path[path.index(row) :])
        for r in path:
            state[r] = 2
    return sorted(members)


def checked(
    records: Iterable[SpanRecord], warn: Callable[[str], None] | None, where: str
) -> Iterator[SpanRecord]:
    """Pass ``records`` through; at the end, warn (prefixed by ``where``) about their shape."""
    check = StructureCheck()
    for r in records:
        check.add(r.trace_id, r.span_id, r.parent_span_id)
        yield r
    if warn is not None:
        for message in check.warnings():
            warn(f"{where}: {message}")
