"""The help of a screen: its keys, from the table in its module's docstring (one place for them)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static


def key_table(doc: str | None) -> list[tuple[str, str]]:
    """(keys, what they do) from a docstring's ``| key | action |`` table."""
    rows = []
    for line in (doc or "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.strip().startswith("|") and len(cells) == 2 and cells[0] not in ("key", "---"):
            rows.append((cells[0], cells[1].split(" [")[0]))
    return rows


class KeysScreen(ModalScreen[None]):
    """Every key of a screen, over it; ? or escape closes."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(title=self.title_text, box=None, padding=(0, 2), title_style="bold")
        table.add_column("key", style="bold #ffd700", no_wrap=True)
        table.add_column("action")
        for key, action in self.keys:
            table.add_row(key, action)
        table.caption = "press ? or escape to close"
        yield Static(table, id="keys")

    def action_close(self) -> None:
        self.dismiss()
