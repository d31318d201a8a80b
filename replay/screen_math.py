"""What the replay's screens compute without Textual: which row a key moves the selection to,
and how the trace screen shares its window between the waterfall, the span detail and the
agent's terminal.

Separate from the screens (:mod:`replay.screens.trace`, :mod:`replay.screens.compare`), which
hold widgets, bindings and the drawing: these are plain functions of numbers and row lists,
shared by both screens and testable without an app. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Sequence

#: An empty terminal pane keeps only this much width (its title), giving the rest to the detail.
EMPTY_TERMINAL_WIDTH = 22


def step_selection(rows: Sequence[int], selected: int, delta: int) -> int:
    """The row ``delta`` places from ``selected`` among the shown ``rows`` (not empty), kept
    within them; when ``selected`` is not shown, the first row going down, the last going up."""
    try:
        at = rows.index(selected)
    except ValueError:
        at = 0 if delta > 0 else len(rows) - 1
        delta = 0
    return rows[max(0, min(len(rows) - 1, at + delta))]


def next_row(rows: Sequence[int], at: int, direction: int) -> int:
    """The first of ``rows`` (sorted, not empty) after ``at`` going forward (``direction`` > 0),
    or the last before it going back, wrapping around at either end."""
    if direction > 0:
        return next((i for i in rows if i > at), rows[0])
    return next((i for i in reversed(rows) if i < at), rows[-1])


def waterfall_max_height(room: int) -> int:
    """The waterfall's greatest height in ``room`` lines: the panes below keep 45% of them (and at
    least 10 lines), as on a small window they are what is read; the waterfall scrolls."""
    lower = max(10, round(room * 0.45))
    return max(3, room - lower)


def terminal_box_width(window: int, used: int, cast_width: int) -> tuple[int, bool]:
    """The terminal box's width in a ``window`` columns wide, for an agent that has drawn ``used``
    columns of a ``cast_width`` terminal, and whether what is drawn fits in it (no sideways
    scrollbar needed). As wide as what is drawn, the title's width when nothing is; the detail
    keeps 60% of a narrow window, and up to 90 columns of a wide one."""
    limit = window * 2 // 5 if window < 100 else max(window // 2, window - 90)
    cols = min(used, cast_width)
    width = EMPTY_TERMINAL_WIDTH if used == 0 else min(limit, max(EMPTY_TERMINAL_WIDTH, cols + 3))
    return width, cols + 3 <= width
