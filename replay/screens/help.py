"""The help: every key of the trace screen, the panes and tab, and what the mouse does.

The keys come from the trace screen's docstring table (:func:`key_table`), the one place they
are listed, so the help cannot fall behind the bindings.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

MOUSE = (
    ("click a span", "select it"),
    ("click the transport bar", "move the playhead there"),
    ("wheel over the time axis", "zoom the timeline in / out at the pointer (shift: pan)"),
    ("ctrl+wheel over the bars", "zoom at the pointer; shift+wheel or a sideways wheel pans"),
    ("wheel over a pane", "scroll it"),
    ("click a ▸ line", "open / close it (a system prompt, earlier messages, attributes)"),
    ("click a transcript entry", "select its span"),
    ("click a key in the footer", "do what it says"),
)
PANES = (
    ("waterfall", "the spans on the run's time axis; the playhead is the yellow line"),
    ("detail", "the selected span: a model call as its turn (new messages, then the answer)"),
    ("transcript", "t: every turn of the run on one page, tool steps and terminal output between"),
    ("terminal", "the agent's screen at the playhead (narrow while it is empty)"),
)


def table_rows(doc: str) -> list[tuple[str, str]]:
    """(keys, what they do) from a Markdown table in a docstring (the ``[id]`` left out)."""
    rows = []
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.strip().startswith("|") and len(cells) == 2 and cells[0] not in ("key", "---"):
            rows.append((cells[0], cells[1].split(" [")[0]))
    return rows


def _table(title: str, rows: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> Table:
    table = Table(title=title, box=None, padding=(0, 2), title_style="bold", title_justify="left")
    table.add_column("", style="bold #ffd700", no_wrap=True)
    table.add_column("")
    for key, action in rows:
        table.add_row(key, action)
    return table


class HelpScreen(ModalScreen[None]):
    """Every key, the panes and the mouse; scrolls when the window is small."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help-box {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    #help { height: auto; }
    """

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        box = VerticalScroll(id="help-box")
        box.border_title = "cab-trace replay: keys"
        box.border_subtitle = "↑↓ scroll · ? or escape closes"
        with box:
            yield Static(
                Group(
                    _table("keys", self.keys),
                    Text(""),
                    _table("panes (tab moves between them; z maximizes the focused one)", PANES),
                    Text(""),
                    _table("mouse", MOUSE),
                ),
                id="help",
            )

    def on_mount(self) -> None:
        self.query_one("#help-box").focus()

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss()
