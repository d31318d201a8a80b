"""A table of many rows (a sweep's cells), drawn line by line: a header that stays, then only the
rows on screen, so 10,000 rows sort, filter and scroll as 10 do.

Columns are fitted to the width: at full width every column as it is; when that does not fit,
short titles and compact numbers (``12.3k``), then the columns that can go (``drop`` order),
then the text columns cut with an ellipsis. The data (texts, sort order, filter) belongs to the
screen; the table keeps the cursor and the two marks (shown ``A`` and ``B`` in the gutter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

GUTTER = 2
CURSOR_BG = "#303a50"
HEADER_STYLE = Style(bold=True, color="#d0d0d0", bgcolor="#262626")
MARK_STYLE = Style(bold=True, color="#000000", bgcolor="#ffd700")


@dataclass(frozen=True)
class TableColumn:
    """How one column is shown."""

    title: str
    numeric: bool = False
    short: str | None = None
    """The title on a narrow screen."""
    min_width: int = 3
    flex: bool = False
    """Takes the width left over (the last text column, e.g. what failed)."""


class RowTable(ScrollView, can_focus=True, inherit_bindings=False):
    """Rows of text cells with a cursor, two marks, and a sort arrow in the header."""

    DEFAULT_CSS = """
    RowTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    """
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home", "edge(0)", "First", show=False, id="table.first"),
        Binding("end", "edge(1)", "Last", show=False, id="table.last"),
        Binding("enter", "choose", "Open", id="table.choose"),
    ]

    class CursorMoved(Message):
        """The cursor is on another row (``row``: an index into the data, or None: no rows)."""

        def __init__(self, row: int | None) -> None:
            super().__init__()
            self.row = row

    class RowChosen(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    class HeaderClicked(Message):
        def __init__(self, column: int) -> None:
            super().__init__()
            self.column = column

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.columns: list[TableColumn] = []
        self.cells: Sequence[Sequence[str]] = []
        self.compact: Sequence[Sequence[str]] | None = None
        self.styles_of: Sequence[dict[int, Style]] = []
        """Per row: column -> style (e.g. the result column in red)."""
        self.drop: Sequence[int] = ()
        """Columns that may go on a narrow screen, first to go first."""
        self.order: list[int] = []
        self.cursor = 0
        self.marks: list[int] = []
        self.sort: tuple[int, bool] | None = None
        self.notes: dict[int, str] = {}
        """Per row: a gutter sign when it is not marked (``⚠`` for a row that cannot be read)."""
        self._layout: tuple[tuple[int, object], list[int], list[int], bool] | None = None
        self._naturals: dict[bool, list[int]] = {}
        self._last_click: tuple[int, float] | None = None

    # -- data --------------------------------------------------------------------------------

    def set_data(
        self,
        columns: list[TableColumn],
        cells: Sequence[Sequence[str]],
        compact: Sequence[Sequence[str]] | None = None,
        styles: Sequence[dict[int, Style]] | None = None,
        drop: Sequence[int] = (),
    ) -> None:
        """New columns and rows (a different view); the order is every row until told."""
        self.columns, self.cells, self.compact = columns, cells, compact
        self.styles_of = styles or [{} for _ in cells]
        self.drop = drop
        self._layout = None
        self._naturals = {}
        self.set_order(list(range(len(cells))))

    def set_order(self, order: list[int], keep: int | None = None) -> None:
        """The rows shown, in order; the cursor stays on ``keep`` (a row) when it is shown."""
        current = self.current if keep is None else keep
        self.order = order
        self.cursor = order.index(current) if current is not None and current in order else 0
        self.virtual_size = Size(0, len(order) + 1)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self.current))

    @property
    def current(self) -> int | None:
        """The row under the cursor."""
        return self.order[self.cursor] if 0 <= self.cursor < len(self.order) else None

    def toggle_mark(self, row: int) -> None:
        """Mark a row (A, then B); a third mark takes the place of the oldest."""
        if row in self.marks:
            self.marks.remove(row)
        else:
            self.marks = [*self.marks[-1:], row] if len(self.marks) >= 2 else [*self.marks, row]
        self.refresh()

    # -- layout ------------------------------------------------------------------------------

    def _natural(self, compact: bool) -> list[int]:
        """Each column's width for its longest cell or title (and the sort arrow, when sorted)."""
        cached = self._naturals.get(compact)
        if cached is None:
            cells = self.compact if compact and self.compact is not None else self.cells
            cached = []
            for i, col in enumerate(self.columns):
                title = (col.short or col.title) if compact else col.title
                cached.append(max([len(title), *(len(row[i]) for row in cells)]))
            self._naturals[compact] = cached
        widths = list(cached)
        if self.sort is not None and self.sort[0] < len(widths):
            col = self.columns[self.sort[0]]
            title = (col.short or col.title) if compact else col.title
            widths[self.sort[0]] = max(widths[self.sort[0]], len(title) + 1)
        return widths

    def fit(self, width: int) -> tuple[list[int], list[int], bool]:
        """(columns shown, their widths, compact?) for ``width`` cells.

        Every column at its natural width when that fits. Otherwise short titles and compact
        numbers; the columns that may go (:attr:`drop`) stay, most wanted first, as long as the
        others still fit with their text cut to its minimum; then the widest text is cut.
        """
        key = (width, self.sort)
        if self._layout is not None and self._layout[0] == key:
            return self._layout[1], self._layout[2], self._layout[3]
        room = max(width - GUTTER, 10)
        every = list(range(len(self.columns)))
        widths = self._natural(False)
        compact = self._need(every, widths) > room
        # A column is not cut below its title: a header that reads "adap…" helps no one.
        floor = [
            min(max(col.min_width, len(col.short or col.title) if compact else 0), 24) for col in self.columns
        ]
        if compact:
            widths = self._natural(True)
            optional = [c for c in self.drop if c in every]
            shown = [c for c in every if c not in optional]
            for col in reversed(optional):
                trial = sorted([*shown, col])
                least = [
                    widths[c] if col.numeric else min(widths[c], floor[c])
                    for c, col in enumerate(self.columns)
                ]
                if self._need(trial, least) <= room:
                    shown = trial
        else:
            shown = every
        over = self._need(shown, widths) - room
        # Cut the text columns that may go first, then the others: the widest, a cell at a time.
        for texts in (
            [c for c in shown if not self.columns[c].numeric and c in self.drop],
            [c for c in shown if not self.columns[c].numeric],
        ):
            while over > 0 and texts:
                widest = max(texts, key=lambda c: widths[c] - floor[c])
                if widths[widest] <= floor[widest]:
                    break
                widths[widest] -= 1
                over -= 1
        flex = [c for c in shown if self.columns[c].flex]
        if over < 0 and flex:
            widths[flex[-1]] -= over
        fitted = [widths[c] for c in shown]
        self._layout = (key, shown, fitted, compact)
        return shown, fitted, compact

    @staticmethod
    def _need(cols: list[int], widths: list[int]) -> int:
        return sum(widths[c] for c in cols) + len(cols) - 1

    # -- drawing -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        shown, widths, compact = self.fit(width)
        if y == 0:
            return Strip(self._header(shown, widths, compact, width), width)
        at = int(self.scroll_offset.y) + y - 1
        if at >= len(self.order):
            return Strip.blank(width)
        return Strip(self._row(self.order[at], at == self.cursor, shown, widths, compact, width), width)

    def _header(self, shown: list[int], widths: list[int], compact: bool, width: int) -> list[Segment]:
        parts = []
        for c, w in zip(shown, widths, strict=True):
            col = self.columns[c]
            title = (col.short or col.title) if compact else col.title
            if self.sort is not None and self.sort[0] == c:
                title = title + ("▼" if self.sort[1] else "▲")
            parts.append(_fit(title, w, col.numeric))
        text = " " * GUTTER + " ".join(parts)
        return [Segment(text[:width].ljust(width), HEADER_STYLE)]

    def _row(  # noqa: PLR0917
        self, row: int, cursor: bool, shown: list[int], widths: list[int], compact: bool, width: int
    ) -> list[Segment]:
        base = Style(bgcolor=CURSOR_BG, bold=True) if cursor and self.has_focus else Style()
        if cursor and not self.has_focus:
            base = Style(bgcolor="#262b36")
        cells = self.compact if compact and self.compact is not None else self.cells
        if row in self.marks:
            gutter = [Segment("AB"[self.marks.index(row)], MARK_STYLE), Segment(" ", base)]
        else:
            gutter = [Segment((self.notes.get(row, "") + "  ")[:GUTTER], base + Style(color="#ffd700"))]
        segments = gutter
        used = GUTTER
        styles = self.styles_of[row] if row < len(self.styles_of) else {}
        for k, (c, w) in enumerate(zip(shown, widths, strict=True)):
            text = _fit(cells[row][c], w, self.columns[c].numeric)
            if k:
                segments.append(Segment(" ", base))
                used += 1
            style = styles.get(c)
            segments.append(Segment(text, base + style if style is not None else base))
            used += len(text)
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return segments

    # -- moving ------------------------------------------------------------------------------

    def _scroll_to_cursor(self) -> None:
        rows = max(self.size.height - 1, 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            top = self.cursor
        elif self.cursor >= top + rows:
            top = self.cursor - rows + 1
        self.scroll_to(y=top, animate=False, immediate=True)

    def move_to(self, position: int) -> None:
        if not self.order:
            return
        self.cursor = max(0, min(len(self.order) - 1, position))
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self.current))

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(self.size.height - 2, 1))

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.order) - 1 if end else 0)

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(self.RowChosen(self.current))

    def on_resize(self) -> None:
        self._layout = None
        self.virtual_size = Size(0, len(self.order) + 1)
        self._scroll_to_cursor()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.post_message(self.HeaderClicked(column))
            return
        at = int(self.scroll_offset.y) + event.y - 1
        if 0 <= at < len(self.order):
            self.move_to(at)
            if event.chain >= 2:
                self.action_choose()

    def _column_at(self, x: int) -> int | None:
        shown, widths, _ = self.fit(self.size.width)
        left = GUTTER
        for c, w in zip(shown, widths, strict=True):
            if left <= x < left + w + 1:
                return c
            left += w + 1
        return None


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        text = text[: max(width - 1, 0)] + "…" if width > 0 else ""
    return text.rjust(width) if right else text.ljust(width)
