"""The time axis above the waterfall: ticks lined up with the bars, and the zoom when zoomed.

The mouse wheel over the axis zooms the waterfall at the pointer (shift + wheel, or a
horizontal wheel, pans), since a plain wheel over the rows scrolls them.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget

from replay.view import ZOOM_STEP, ticks
from replay.widgets.waterfall import Waterfall


class TimeAxis(Widget):
    """One line: ``zoom ×4  2.0s–3.2s`` under the names, ``╷0  ╷1s  ╷2s`` over the bars."""

    DEFAULT_CSS = """
    TimeAxis { height: 1; }
    """

    def __init__(self, waterfall: Waterfall, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.waterfall = waterfall

    def render(self) -> Text:
        name_w, bar_w = self.waterfall.bar_geometry()
        window = self.waterfall.window
        zoomed = window.zoom > 1.001
        label = f" zoom ×{window.zoom:.3g}  [ ] {{ }} 0" if zoomed else " time  ] zooms in"
        text = Text(label[: name_w - 1].ljust(name_w), style="dim", no_wrap=True, overflow="crop")
        line = [" "] * bar_w
        free = 0  # the first column no label covers yet
        for column, tick in ticks(window, bar_w):
            if column < free or column + len(tick) + 1 > bar_w:
                continue
            line[column : column + len(tick) + 1] = ["╷", *tick]
            free = column + len(tick) + 2
        text.append("".join(line), style="#8a8a8a")
        return text

    def _wheel(self, event: events.MouseEvent, direction: int) -> None:
        event.stop()
        event.prevent_default()
        if event.shift:
            self.waterfall.pan(direction * 0.1)
        else:
            self.waterfall.zoom_at(ZOOM_STEP ** (-direction / 2), event.x)
        self.refresh()

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, 1)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, -1)

    def _on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.waterfall.pan(0.1)
        self.refresh()

    def _on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.waterfall.pan(-0.1)
        self.refresh()
