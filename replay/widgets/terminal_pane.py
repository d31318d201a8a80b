"""The agent's terminal as it was at the playhead, from the emulator's screen cells."""

from __future__ import annotations

from rich.color import ColorParseError
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from replay.terminal import Cell, Screen

# pyte names colours by name or by 6-digit hex without '#'.
_NAMED = {"brown": "yellow", "default": "default"}


def _colour(name: str) -> str | None:
    if name == "default":
        return None
    if len(name) == 6 and all(c in "0123456789abcdefABCDEF" for c in name):
        return f"#{name}"
    return _NAMED.get(name, name.replace("bright", "bright_"))


def _style(cell: Cell) -> Style:
    try:
        return Style(
            color=_colour(cell.fg),
            bgcolor=_colour(cell.bg),
            bold=cell.bold or None,
            italic=cell.italics or None,
            underline=cell.underscore or None,
            reverse=cell.reverse or None,
        )
    except ColorParseError:  # a colour name Rich does not know: draw the cell plain
        return Style()


def screen_text(screen: Screen) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    for y, line in enumerate(screen.lines):
        if y:
            text.append("\n")
        # Trailing blanks are dropped so a narrow pane shows what matters.
        last = max((x for x, c in enumerate(line) if c.char != " " or c.bg != "default"), default=-1)
        run, style = "", Style()
        for cell in line[: last + 1]:
            cell_style = _style(cell)
            if cell_style != style:
                text.append(run, style)
                run, style = "", cell_style
            # The emulator only puts printable characters in cells; guard anyway.
            run += cell.char if cell.char.isprintable() else "?"
        text.append(run, style)
    return text


class TerminalPane(Static):
    """The emulated screen; updated by the screen when the playhead moves."""

    def show_screen(self, screen: Screen) -> None:
        self.update(screen_text(screen))
