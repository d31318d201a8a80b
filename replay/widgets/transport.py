"""The transport line: time, play state and speed, and a progress bar that seeks when clicked."""

from __future__ import annotations

from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

from replay.timeline import Timeline

LABEL_WIDTH = 44


def seconds(ns: float) -> str:
    return f"{ns / 1e9:.3f} s"


class Transport(Widget):
    """``▶ ×1  t = 12.300 s / 26.420 s  [bar]``; a click on the bar seeks there."""

    DEFAULT_CSS = """
    Transport { height: 1; }
    """

    class SeekRequested(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

    def __init__(self, timeline: Timeline, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.timeline = timeline

    def label(self) -> str:
        tl = self.timeline
        state = "▶ playing" if tl.playing else "⏸ paused "
        idle = f"  idle ≤ {tl.idle_limit_s:g} s" if tl.idle_limit_s is not None else ""
        return f"{state} ×{tl.speed:g}  t = {seconds(tl.position_ns)} / {seconds(tl.duration_ns)}{idle}"

    def render(self) -> Text:
        tl = self.timeline
        label = self.label()
        width = self.size.width
        label_w = max(len(label) + 2, LABEL_WIDTH)
        bar_w = max(0, width - label_w)
        filled = round(bar_w * tl.position_ns / max(tl.duration_ns, 1))
        text = Text(label.ljust(label_w), style="bold")
        if tl.idle_limit_s is not None:
            text.stylize("reverse", label.index("idle"), len(label))
        text.append("━" * filled, style="#ffd700")
        text.append("─" * (bar_w - filled), style="#5f5f5f")
        return text

    def on_click(self, event: Click) -> None:
        label_w = max(len(self.label()) + 2, LABEL_WIDTH)
        bar_w = self.size.width - label_w
        if bar_w > 0 and event.x >= label_w:
            self.post_message(self.SeekRequested(min(1.0, (event.x - label_w) / bar_w)))
