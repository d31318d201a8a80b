"""The span waterfall: one row per visible span, a name column and a bar on the trace's time
axis, with the playhead as a vertical line.

Drawn line by line (Textual's line API): only the rows on screen are rendered, so a 100,000-span
trace costs what its visible rows cost on every tick.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from cab_trace.errors import CabTraceError
from cab_trace.show import safe_text
from replay.timeline import Timeline
from replay.tree import SpanTree

KIND_COLOURS = {
    "run": "#5f87ff",
    "task_setup": "#00afaf",
    "adapter_run": "#af87ff",
    "tool_call": "#d7af00",
    "container": "#5faf5f",
    "cleanup": "#8a8a8a",
    "verify": "#00d7d7",
    "blast_radius": "#d787af",
}
OTHER_COLOUR = "#d0d0d0"
ERROR_COLOUR = "#ff5f5f"
PLAYHEAD_COLOUR = "#ffd700"


class Waterfall(ScrollView, can_focus=True, inherit_bindings=False):
    """Spans as a foldable tree with bars; the selected row is highlighted and kept in view."""

    DEFAULT_CSS = """
    Waterfall { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    """
    # Not the scroll bindings a ScrollView inherits: ↑ ↓ ← → home end belong to the replay (they
    # select and step); inherited, they scrolled a large trace instead (a small one has nothing
    # to scroll, so the keys fell through, which hid it).
    BINDINGS = [
        Binding("f", "fold", "Fold", id="waterfall.fold"),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    class SpanClicked(Message):
        """The user clicked a row."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, tree: SpanTree, timeline: Timeline, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.span_tree = tree
        self.timeline = timeline
        self._rows: Sequence[int] = tree.visible()
        self._bar_cache: dict[tuple[str, bool], tuple[Style, ...]] = {}
        self._name_cache: dict[tuple[bool, bool, bool], Style] = {}

    # -- layout ------------------------------------------------------------------------------

    def rows_changed(self) -> None:
        """Call after folding or filtering."""
        self._rows = self.span_tree.visible()
        self.virtual_size = Size(0, len(self._rows))
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(0, len(self._rows))

    def on_mount(self) -> None:
        self.virtual_size = Size(0, len(self._rows))

    @property
    def rows(self) -> Sequence[int]:
        return self._rows

    def _name_width(self) -> int:
        return max(16, min(48, self.size.width * 2 // 5))

    def keep_selected_in_view(self) -> None:
        try:
            y = self._rows.index(self.timeline.selected)
        except ValueError:
            return
        self.scroll_to_region(Region(0, y, 1, 1), animate=False, immediate=True)

    # -- drawing -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        row = int(self.scroll_offset.y) + y
        width = self.size.width
        if row >= len(self._rows):
            return Strip.blank(width)
        i = self._rows[row]
        return Strip(self._row_segments(i, width), width)

    def _row_segments(self, i: int, width: int) -> list[Segment]:
        tl, tree = self.timeline, self.span_tree
        is_error = tree.is_error(i)
        selected = i == tl.selected
        state = tl.state(i)
        colour = ERROR_COLOUR if is_error else KIND_COLOURS.get(tree.kind(i), OTHER_COLOUR)
        try:
            name = tree.spans[i].name  # the one field not in the columns: read from its line
        except CabTraceError as exc:
            name, is_error = f"(unreadable: {exc.message})", True

        name_w = self._name_width()
        fold = "▸ " if i in tree.folded else ("▾ " if tree.has_children(i) else "  ")
        mark = "✗ " if is_error else ""
        label = "  " * min(tree.depth[i], 12) + fold + mark + safe_text(name, one_line=True)
        label = label[: name_w - 1].ljust(name_w)
        segments = [Segment(label, self._name_style(selected, is_error, state == "pending"))]

        bar_w = max(1, width - name_w)
        total = max(tl.duration_ns, 1)
        start = tl.start_ns(i) / total * bar_w
        end = tl.end_ns(i) / total * bar_w
        c0 = min(int(start), bar_w - 1)
        c1 = max(c0 + 1, min(round(end), bar_w))
        head = min(int(tl.position_ns / total * bar_w), bar_w - 1)
        done_cols = c1 if state == "done" else (c0 + round((c1 - c0) * tl.elapsed_fraction(i)))

        lit, unlit, blank, on_blank, on_lit, on_unlit = self._bar_styles(colour, selected)
        # The bar as at most four runs (blank, lit, unlit, blank), the playhead cutting one.
        runs = (
            (0, c0, " ", blank),
            (c0, done_cols, "█", lit),
            (done_cols, c1, "░", unlit),
            (c1, bar_w, " ", blank),
        )
        heads = {" ": ("│", on_blank), "█": ("█", on_lit), "░": ("░", on_unlit)}
        for a, b, char, style in runs:
            if a >= b:
                continue
            if a <= head < b:
                if head > a:
                    segments.append(Segment(char * (head - a), style))
                head_char, head_style = heads[char]
                segments.append(Segment(head_char, head_style))
                if b > head + 1:
                    segments.append(Segment(char * (b - head - 1), style))
            else:
                segments.append(Segment(char * (b - a), style))
        return segments

    def _bar_styles(self, colour: str, selected: bool) -> tuple[Style, ...]:
        """The styles of a row's bar, made once per colour and selection: combining Rich styles
        per cell was most of a frame's cost on a large trace."""
        key = (colour, selected)
        styles = self._bar_cache.get(key)
        if styles is None:
            base = Style(bgcolor="#303a50") if selected else Style()
            lit = base + Style(color=colour)
            unlit = base + Style(color=colour, dim=True)
            playhead = Style(color=PLAYHEAD_COLOUR)
            styles = self._bar_cache[key] = (
                lit,
                unlit,
                base,
                base + Style(color=PLAYHEAD_COLOUR, bold=True),
                lit + playhead,
                unlit + playhead,
            )
        return styles

    def _name_style(self, selected: bool, is_error: bool, pending: bool) -> Style:
        key = (selected, is_error, pending)
        style = self._name_cache.get(key)
        if style is None:
            base = Style(bgcolor="#303a50") if selected else Style()
            style = self._name_cache[key] = base + Style(
                color=ERROR_COLOUR if is_error else None, dim=pending, bold=selected
            )
        return style

    # -- input -------------------------------------------------------------------------------

    def on_click(self, event: Click) -> None:
        row = int(self.scroll_offset.y) + event.y
        if 0 <= row < len(self._rows):
            self.post_message(self.SpanClicked(self._rows[row]))

    def action_fold(self) -> None:
        self.span_tree.toggle_fold(self.timeline.selected)
        self.rows_changed()
