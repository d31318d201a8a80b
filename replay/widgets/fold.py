"""A fold: one line that says what is inside (``▸ system prompt · 3,412 chars``), expanded by a
click or by enter when focused. Textual's Collapsible takes three lines when collapsed; a
conversation folds several things and each should cost one line."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget


class Fold(Widget, can_focus=True):
    """``title`` when folded; ``title`` and ``body`` when open."""

    DEFAULT_CSS = """
    Fold { height: auto; }
    Fold:focus { background: $boost; }
    Fold:hover { background: $boost; }
    """
    BINDINGS = [Binding("enter", "toggle_fold", "Open/close", show=False)]

    expanded: reactive[bool] = reactive(False, layout=True)
    """Open: the body is shown under the title."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = Text()
        self.body: list[Text] = []

    def set_content(self, title: Text, body: Sequence[Text], expanded: bool = False) -> None:
        self.title, self.body = title, list(body)
        self.expanded = expanded
        self.refresh(layout=True)

    def render(self) -> RenderableType:
        mark = Text("▾ " if self.expanded else "▸ ", style="bold #ffd700")
        head = mark + self.title
        if not self.expanded:
            head.no_wrap, head.overflow = True, "ellipsis"
            return head
        return Group(head, *self.body)

    def action_toggle_fold(self) -> None:
        self.expanded = not self.expanded

    def on_click(self, event: events.Click) -> None:
        # Only the title line toggles: a click in the open body is for selecting text.
        if event.y == 0:
            event.stop()
            self.action_toggle_fold()
