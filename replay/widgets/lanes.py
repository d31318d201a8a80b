"""Lanes of intervals on one time axis, one line each: the model calls (and tool steps) of two
runs under one playhead, so that who waited on the model when is seen at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from cab_trace.show import safe_text

PLAYHEAD = "#ffd700"


@dataclass
class Lane:
    """One line: a label, intervals (start, end in ns on the shared axis, error?) and a colour."""

    label: str
    intervals: Sequence[tuple[int, int, bool]]
    colour: str
    note: str = ""
    """Said after the label (``7 calls``)."""
    marks: list[int] = field(default_factory=list)


class Lanes(Widget):
    """Each lane as a bar line: ``█`` where an interval is, lit up to the playhead, dim after."""

    DEFAULT_CSS = """
    Lanes { height: auto; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lanes: list[Lane] = []
        self.duration_ns = 1
        self.position_ns = 0.0
        self.label_width = 16

    def set_lanes(self, lanes: list[Lane], duration_ns: int) -> None:
        self.lanes = lanes
        self.duration_ns = max(duration_ns, 1)
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(len(self.lanes), 1)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self.lanes):
            return Strip.blank(width)
        lane = self.lanes[y]
        wanted = max([self.label_width, *(len(x.label) + len(x.note) + 2 for x in self.lanes)])
        label_w = min(wanted, max(width // 3, 8))
        label = safe_text(f"{lane.label} {lane.note}".strip(), one_line=True)
        label = (label[: label_w - 2] + " ").ljust(label_w)
        bar_w = max(width - label_w, 1)
        head = min(int(self.position_ns / self.duration_ns * bar_w), bar_w - 1)
        cells = [" "] * bar_w
        kinds = [0] * bar_w  # 0 nothing, 1 interval, 2 error
        for start, end, error in lane.intervals:
            c0 = min(int(start / self.duration_ns * bar_w), bar_w - 1)
            c1 = max(c0 + 1, min(round(end / self.duration_ns * bar_w), bar_w))
            for c in range(c0, c1):
                cells[c] = "█"
                kinds[c] = max(kinds[c], 2 if error else 1)
        segments = [Segment(label, Style(bold=True))]
        lit, dim = Style(color=lane.colour), Style(color=lane.colour, dim=True)
        err = Style(color="#ff5f5f")
        rail = Style(color="#3a3a3a")
        run: list[str] = []
        run_style: Style | None = None
        for c in range(bar_w):
            if c == head:
                char, style = ("│" if kinds[c] == 0 else "█"), Style(color=PLAYHEAD, bold=True)
            elif kinds[c] == 0:
                char, style = "·" if c % 4 == 0 else " ", rail
            else:
                char = "█" if c < head else "▒"
                style = err if kinds[c] == 2 else (lit if c < head else dim)
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(char)
        if run:
            segments.append(Segment("".join(run), run_style))
        return Strip(segments, width)
