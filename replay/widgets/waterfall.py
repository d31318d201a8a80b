"""The span waterfall: one row per visible span, a name column and a bar on the trace's time
axis, with the playhead as a vertical line. The bars span a time window (:mod:`replay.view`):
the whole run, or a part of it zoomed in with ``]`` / ``[`` or ctrl + the mouse wheel and
panned with ``{`` / ``}``, shift + the wheel or a horizontal wheel.

Drawn line by line (Textual's line API): only the rows on screen are rendered, so a 100,000-span
trace costs what its visible rows cost on every tick.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual import events
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
from replay.view import ZOOM_STEP, TimeWindow

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
    Waterfall { height: auto; scrollbar-size-vertical: 1; overflow-x: hidden; }
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

    class WindowChanged(Message):
        """The time window was zoomed or panned (by the mouse): the axis redraws."""

    def __init__(
        self, tree: SpanTree, timeline: Timeline, window: TimeWindow | None = None, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.span_tree = tree
        self.timeline = timeline
        self.window = window or TimeWindow(timeline.duration_ns)
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

    def bar_geometry(self) -> tuple[int, int]:
        """(first column, width) of the bars, for the time axis to line its ticks up with."""
        name_w = self._name_width()
        return name_w, max(1, self.size.width - name_w)

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
        window = self.window
        start = window.column(tl.start_ns(i), bar_w)
        end = window.column(tl.end_ns(i), bar_w)
        if end < 0 or start >= bar_w:  # outside the window: an empty row (a mark at the edge)
            edge = "‹" if end < 0 else "›"
            blank = self._bar_styles(colour, selected)[2]
            bar = [" "] * bar_w
            bar[0 if end < 0 else bar_w - 1] = edge
            head = int(window.column(tl.position_ns, bar_w))
            segments.append(Segment("".join(bar), blank + Style(color=colour, dim=True)))
            return self._with_head(segments, name_w, head, bar_w, selected)
        c0 = max(0, min(int(start), bar_w - 1))
        c1 = max(c0 + 1, min(round(end), bar_w))
        head_at = window.column(tl.position_ns, bar_w)
        head = min(int(head_at), bar_w - 1) if 0 <= head_at <= bar_w else -1
        if state == "done":
            done_cols = c1
        elif state == "pending":
            done_cols = c0
        else:
            done_cols = max(c0, min(c1, round(head_at)))

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

    def _with_head(
        self, segments: list[Segment], name_w: int, head: int, bar_w: int, selected: bool
    ) -> list[Segment]:
        """An off-window row: the playhead's line drawn over its blank bar."""
        if not 0 <= head < bar_w:
            return segments
        bar = segments.pop()
        text, style = bar.text, bar.style or Style()
        on_blank = self._bar_styles("#000000", selected)[3]
        return [
            *segments,
            Segment(text[:head], style),
            Segment("│", on_blank),
            Segment(text[head + 1 :], style),
        ]

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

    def zoom_at(self, factor: float, x: int | None = None) -> None:
        """Zoom the window by ``factor`` around the time under column ``x`` (default: the playhead)."""
        name_w, bar_w = self.bar_geometry()
        anchor = (
            self.timeline.position_ns if x is None or x < name_w else self.window.time_at(x - name_w, bar_w)
        )
        if self.window.zoom_by(factor, anchor):
            self.refresh()
            self.post_message(self.WindowChanged())

    def pan(self, windows: float) -> None:
        if self.window.pan(windows):
            self.refresh()
            self.post_message(self.WindowChanged())

    def _wheel(self, event: events.MouseEvent, direction: int) -> bool:
        """ctrl + wheel zooms at the mouse, shift + wheel pans; a plain wheel scrolls the rows."""
        if event.ctrl:
            self.zoom_at(ZOOM_STEP ** (-direction / 2), event.x)
        elif event.shift:
            self.pan(direction * 0.1)
        else:
            return False
        event.stop()
        event.prevent_default()
        return True

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if not self._wheel(event, 1):
            super()._on_mouse_scroll_down(event)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if not self._wheel(event, -1):
            super()._on_mouse_scroll_up(event)

    def _on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        event.prevent_default()
        self.pan(0.1)

    def _on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        event.prevent_default()
        self.pan(-0.1)

    def action_fold(self) -> None:
        self.span_tree.toggle_fold(self.timeline.selected)
        self.rows_changed()
