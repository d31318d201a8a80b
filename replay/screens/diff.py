"""The comparison of two runs as text, on a screen of its own (``d`` on the comparison screen):
what ``cab-trace compare`` prints.

Separate from :mod:`replay.screens.compare`, which plays the two runs back: this screen only
shows the text of a :class:`~cab_trace.model.compare.Comparison`.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Footer, Static

from cab_trace.compare_text import render
from cab_trace.model.compare import Comparison


class DiffScreen(Screen[None]):
    """The comparison as text: what ``cab-trace compare`` prints. Escape comes back."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("escape,d", "back", "Back", id="diff.back"),
        Binding("question_mark", "help", "Help", show=False, id="diff.help"),
    ]

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        lines = list(render(self.comparison))
        # The runs and the one line wrap; the tables scroll sideways on a narrow screen.
        yield Static(Text("\n".join(lines[:3])), id="diff-head")
        with ScrollableContainer(id="diff-scroll"):
            yield Static(Text("\n".join(lines[4:]), no_wrap=True), id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#diff-scroll").focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_help(self) -> None:
        self.notify("↑ ↓ page up / down scroll · escape: back to the two runs", timeout=3)
