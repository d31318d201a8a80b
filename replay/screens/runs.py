"""The cells of a directory of runs (a sweep, or any directory of run directories) as a table:
sort, filter, group by adapter x model, open a cell's replay, mark two and compare them.

Keys (ids in brackets let users remap them):

| key | action |
|---|---|
| ↑ / ↓, k / j, page up / down, home / end | move the cursor |
| enter | open the cell's replay (escape comes back here) [table.choose] |
| s / S | sort by the next column / reverse the order (or click a column's title) [runs.sort] |
| < / > | sort by the previous / next column [runs.sort_column] |
| / | filter: rows holding the text in any column (escape clears) [runs.filter] |
| f | only the cells that did not pass (FAIL, error, unreadable) [runs.failed] |
| g | group by adapter × model with pass rates; enter on a group shows its cells [runs.group] |
| space, x | mark the cell as A, then B [runs.mark] |
| c | compare the two marked cells on one clock (or the marked one and the cursor's) [runs.compare] |
| ? | help |
| escape | clear the filter, leave the groups |
| q | quit |
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from cab_trace.errors import CabTraceError, TraceFileError
from cab_trace.show import safe_text
from cab_trace.sweep import summary
from cab_trace.sweep.runs import RunRow, RunsListing
from cab_trace.sweep.runs_table import COLUMNS, NONE, headline, row_texts, sorted_rows
from replay.load import LoadedTrace, settled_objects
from replay.screens.keys import KeysScreen, key_table
from replay.timeline import Clock
from replay.widgets.rows import RowTable, TableColumn

_SHORT = {
    "input_tokens": "in",
    "output_tokens": "out",
    "model_calls_failed": "fail",
    "error_spans": "err",
    "repeat": "rep",
    "number": "#",
}
_GROUP_SHORT = {
    "pass rate [95% CI]": "pass [95% CI]",
    "tokens/correct": "tok/pass",
    "model calls": "calls",
    "failed calls": "failed",
    "timeouts": "t/o",
}
_MIN = {"adapter": 5, "model": 6, "task_id": 6, "outcome": 7, "why": 12, "ref": 8}
_DROP = ("ref", "why", "error_spans", "repeat")
_OUTCOME_STYLES = {
    "pass": Style(color="#5faf5f"),
    "FAIL": Style(color="#ff5f5f", bold=True),
    "error": Style(color="#ff5f5f"),
    "unreadable": Style(color="#ffd700"),
    "incomplete": Style(color="#ffd700", dim=True),
    "pending": Style(dim=True),
    "running": Style(color="#5f87ff"),
    "interrupted": Style(color="#ffd700", dim=True),
}
_WHY_STYLE = Style(color="#d78787")
_NOT_PASSED = frozenset({"FAIL", "error", "unreadable", "incomplete", "interrupted"})
SORT_DEFAULT = "number"


class RunsScreen(Screen[None]):
    """A directory of runs as a table of cells (or of groups)."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("s", "sort(1)", "Sort", id="runs.sort"),
        Binding("S", "reverse", "Reverse", show=False, id="runs.reverse"),
        Binding("greater_than_sign", "sort(1)", "Next column", show=False, id="runs.sort_column.next"),
        Binding("less_than_sign", "sort(-1)", "Previous column", show=False, id="runs.sort_column.prev"),
        Binding("slash", "filter", "Filter", id="runs.filter"),
        Binding("f", "failed", "Not passed", id="runs.failed"),
        Binding("g", "group", "Group", id="runs.group"),
        Binding("space,x", "mark", "Mark", id="runs.mark"),
        Binding("c", "compare", "Compare", id="runs.compare"),
        Binding("question_mark", "help", "Help", id="runs.help"),
        Binding("escape", "back", "Back", show=False, id="runs.back"),
    ]

    def __init__(self, found: RunsListing, clock: Clock, idle_limit_s: float | None = None) -> None:
        super().__init__()
        self.found = found
        self.rows = found.rows
        self.clock = clock
        self.idle_limit_s = idle_limit_s
        self.view = "cells"
        self.sort_column = COLUMNS.index(next(c for c in COLUMNS if c.key == SORT_DEFAULT))
        self.reverse = False
        self.filter_text = ""
        self.failed_only = False
        self.group_key: dict[str, str] | None = None
        self.marks: list[int] = []
        self._groups: list[summary.GroupSummary] = []
        self._haystack: dict[int, str] = {}
        with settled_objects():  # made once, kept for the screen's life: out of the collector's way
            texts = list(map(row_texts, self.rows))
        self._cells = [full for full, _ in texts]
        self._compact = [compact for _, compact in texts]
        outcome = [c.key for c in COLUMNS].index("outcome")
        why = [c.key for c in COLUMNS].index("why")
        # One style dict per outcome, shared by its rows (10,000 Style objects cost a frame).
        shared = {k: {outcome: v, why: _WHY_STYLE} for k, v in _OUTCOME_STYLES.items()}
        plain = {outcome: Style(), why: _WHY_STYLE}
        self._styles = [shared.get(r.outcome, plain) for r in self.rows]
        self._cell_columns = [
            TableColumn(
                c.title,
                c.numeric,
                _SHORT.get(c.key),
                _MIN.get(c.key, 3),
                flex=c.key == "why",
            )
            for c in COLUMNS
        ]
        self._drop = [[c.key for c in COLUMNS].index(k) for k in _DROP]

    def compose(self) -> ComposeResult:
        yield Static(id="runs-head")
        yield Input(placeholder="filter cells: any text in a row (escape clears)", id="runs-filter")
        yield RowTable(id="runs-table")
        yield Static(id="runs-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-filter", Input).display = False
        table = self.query_one(RowTable)
        table.notes = {i: "⚠" for i, r in enumerate(self.rows) if r.problem}
        self._show_cells()
        table.focus()

    # -- what the table shows ----------------------------------------------------------------

    def _show_cells(self, keep: int | None = None) -> None:
        table = self.query_one(RowTable)
        self.view = "cells"
        table.set_data(self._cell_columns, self._cells, self._compact, self._styles, self._drop)
        table.marks = self.marks
        self._refill(keep)

    def _visible(self) -> list[int]:
        needle = self.filter_text.casefold()
        shown = []
        for i, row in enumerate(self.rows):
            if self.failed_only and row.outcome not in _NOT_PASSED:
                continue
            if self.group_key is not None and any(
                _axis(row, axis) != value for axis, value in self.group_key.items()
            ):
                continue
            if needle and needle not in self._hay(i):
                continue
            shown.append(i)
        return shown

    def _hay(self, i: int) -> str:
        text = self._haystack.get(i)
        if text is None:
            text = self._haystack[i] = " ".join(self._cells[i]).casefold()
        return text

    def _refill(self, keep: int | None = None) -> None:
        table = self.query_one(RowTable)
        if self.view == "cells":
            shown = set(self._visible())
            column = COLUMNS[self.sort_column]
            order = [r.number - 1 for r in sorted_rows([self.rows[i] for i in shown], column, self.reverse)]
            table.sort = (self.sort_column, self.reverse)
            table.set_order(order, keep)
        self._show_head()

    def _show_head(self) -> None:
        table = self.query_one(RowTable)
        shown = [self.rows[i] for i in table.order] if self.view == "cells" else self.rows
        text = Text()
        text.append(headline(self.found, shown), style="bold")
        if len(shown) != len(self.rows):
            text.append(f" (of {len(self.rows)})", style="dim")
        text.append(f"  {safe_text(str(self.found.root), one_line=True)}", style="dim")
        notes = []
        if self.view == "groups":
            notes.append("by adapter × model · enter: the group's cells · g: back to the cells")
        else:
            column = COLUMNS[self.sort_column]
            notes.append(f"sort {column.title} {'▼' if self.reverse else '▲'}")
            if self.filter_text:
                notes.append(f"filter {safe_text(self.filter_text, one_line=True)!r}")
            if self.failed_only:
                notes.append("not passed only")
            if self.group_key:
                notes.append(" × ".join(safe_text(v or NONE, one_line=True) for v in self.group_key.values()))
        if self.marks:
            marked = ", ".join(f"{'AB'[k]} #{self.rows[i].number}" for k, i in enumerate(self.marks))
            notes.append(f"marked {marked}" + (" · c compares" if len(self.marks) == 2 else ""))
        text.append("\n")
        text.append(" · ".join(notes), style="dim")
        self.query_one("#runs-head", Static).update(text)

    def _show_groups(self) -> None:
        self.view = "groups"
        self._groups = summary.summarize([r.summary_fields() for r in self.rows])
        rows = summary.table_rows(self._groups)
        header, body = rows[0], [[safe_text(c, one_line=True) for c in r] for r in rows[1:]]
        axes = len(summary.DEFAULT_GROUP)
        natural = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(header)]
        columns = [
            TableColumn(h, i >= axes, _GROUP_SHORT.get(h), min_width=min(natural[i], 14))
            for i, h in enumerate(header)
        ]
        table = self.query_one(RowTable)
        rate = header.index("pass rate [95% CI]")
        styles = [
            {rate: Style(color="#5faf5f" if (g.pass_rate or 0) >= 0.5 else "#ff5f5f")}
            if g.pass_rate is not None
            else {}
            for g in self._groups
        ]
        # What goes first on a narrow screen: timeouts, failed calls, p90, calls, tokens, p50.
        names = ["timeouts", "failed calls", "wall p90", "model calls", "tokens/correct", "wall p50"]
        drop = [header.index(n) for n in names if n in header]
        table.set_data(columns, body, styles=styles, drop=drop)
        table.marks = []
        table.sort = None
        self._show_head()

    # -- the row under the cursor -------------------------------------------------------------

    @on(RowTable.CursorMoved)
    def _cursor(self, event: RowTable.CursorMoved) -> None:
        detail = self.query_one("#runs-detail", Static)
        if event.row is None:
            detail.update(
                Text("no cells to show" + (" (escape clears the filter)" if self.filter_text else ""))
            )
            return
        if self.view == "groups":
            g = self._groups[event.row]
            detail.update(
                Text(
                    f"{g.cells} cells · {g.done} done · {g.failed} failed · {g.pending} not run"
                    " · enter shows them",
                    style="dim",
                )
            )
            return
        row = self.rows[event.row]
        text = Text()
        text.append(f"#{row.number} ", style="bold")
        text.append(safe_text(row.ref, one_line=True))
        run_dir = row.get("run_dir")
        if isinstance(run_dir, str) and run_dir and run_dir != row.ref:
            text.append(f"  {safe_text(run_dir, one_line=True)}", style="dim")
        if row.why:
            text.append("\n")
            text.append(safe_text(row.why, one_line=True), style="#ff8787")
        detail.update(text)

    # -- actions -------------------------------------------------------------------------------

    def action_sort(self, step: int) -> None:
        if self.view != "cells":
            return
        self.sort_column = (self.sort_column + step) % len(COLUMNS)
        self.reverse = COLUMNS[self.sort_column].numeric and COLUMNS[self.sort_column].key != "number"
        self._refill()

    def action_reverse(self) -> None:
        if self.view == "cells":
            self.reverse = not self.reverse
            self._refill()

    @on(RowTable.HeaderClicked)
    def _header(self, event: RowTable.HeaderClicked) -> None:
        if self.view != "cells":
            return
        if event.column == self.sort_column:
            self.reverse = not self.reverse
        else:
            self.sort_column, self.reverse = event.column, False
        self._refill()

    def action_filter(self) -> None:
        if self.view != "cells":
            self._show_cells()
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._refill()

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self) -> None:
        if not self.filter_text:
            self.query_one("#runs-filter", Input).display = False
        self.query_one(RowTable).focus()

    def action_failed(self) -> None:
        self.failed_only = not self.failed_only
        if self.view != "cells":
            self._show_cells()
        else:
            self._refill()

    def action_group(self) -> None:
        if self.view == "groups":
            self._show_cells()
        else:
            self._show_groups()

    def action_back(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.display or self.filter_text:
            box.value = ""
            box.display = False
            self.filter_text = ""
            self.query_one(RowTable).focus()
            self._refill()
        elif self.view == "groups":
            self._show_cells()
        elif self.group_key is not None or self.failed_only:
            self.group_key, self.failed_only = None, False
            self._refill()

    def action_mark(self) -> None:
        table = self.query_one(RowTable)
        if self.view != "cells" or table.current is None:
            return
        table.marks = self.marks
        table.toggle_mark(table.current)
        self.marks = table.marks
        self._show_head()
        table.action_move(1)

    def action_help(self) -> None:
        self.app.push_screen(KeysScreen("cab-trace replay: a directory of runs", key_table(__doc__)))

    @on(RowTable.RowChosen)
    def _chosen(self, event: RowTable.RowChosen) -> None:
        if self.view == "groups":
            g = self._groups[event.row]
            self.group_key = dict(g.key)
            self._show_cells()
            return
        row = self.rows[event.row]
        if self._openable(row):
            self.notify(f"opening #{row.number} …", timeout=1)
            self._open([row])

    def _openable(self, row: RunRow) -> bool:
        if row.run_dir is None or row.state == "unreadable":
            why = row.problem or f"the cell is {row.state}: it has no run directory yet"
            self.notify(f"#{row.number} cannot be opened: {safe_text(why, one_line=True)}", severity="error")
            return False
        return True

    def action_compare(self) -> None:
        table = self.query_one(RowTable)
        picked = list(self.marks)
        if len(picked) == 1 and table.current is not None and table.current not in picked:
            picked.append(table.current)
        if len(picked) != 2:
            self.notify("mark two cells first (space or x on each), then c", timeout=3)
            return
        rows = [self.rows[i] for i in picked]
        if all(self._openable(r) for r in rows):
            self.notify(f"comparing #{rows[0].number} and #{rows[1].number} …", timeout=1)
            self._open(rows)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _open(self, rows: list[RunRow]) -> None:
        """Read the cell(s) off the UI thread, then push the replay (or the comparison)."""
        from replay.compare_pair import ComparePair
        from replay.load import load
        from replay.screens.compare import CompareScreen

        try:
            traces = [_trace_of(load(r.run_dir), r) for r in rows if r.run_dir is not None]
            pair = (
                ComparePair.of(traces[0], traces[1], *(f"#{r.number} {r.ref}" for r in rows))
                if len(rows) == 2
                else None
            )
        except CabTraceError as exc:
            message = safe_text(exc.message, one_line=True)
            self.app.call_from_thread(self.notify, message, severity="error")
            return
        if pair is not None:
            screen: Screen[Any] = CompareScreen(pair, self.clock, self.idle_limit_s)
        else:
            from replay.app import TraceScreen

            screen = TraceScreen(traces[0], self.clock, self.idle_limit_s)
        if not get_current_worker().is_cancelled:  # enter again meanwhile: the later one opens
            self.app.call_from_thread(self.app.push_screen, screen)


def _trace_of(traces: list[LoadedTrace], row: RunRow) -> LoadedTrace:
    """The row's trace: its file's only (or first) one, or the one it names (a log holding
    several runs, such as an Inspect log's samples)."""
    if row.trace is not None:
        for trace in traces:
            if trace.trace_id == row.trace:
                return trace
        raise TraceFileError(row.run_dir or "?", f"no trace {row.trace} in it any more")
    if not traces:
        raise TraceFileError(row.run_dir or "?", "holds no spans")
    return traces[0]


def _axis(row: RunRow, axis: str) -> str:
    value = row.get(axis)
    return "" if value is None else str(value)
