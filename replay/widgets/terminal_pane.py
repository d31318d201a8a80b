"""The agent's terminal as it was at the playhead, from the emulator's screen cells.

The pane is as large as the recorded screen and sits in a scrolling box: a screen larger than
the box can be scrolled (the box follows the cursor as the output moves), and the replay's
zoom key gives the box the whole window. Screens arrive from the emulator's thread as
:class:`TerminalPane.ScreenReady` messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.color import ColorParseError
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from replay.emulator import Cell, Screen
from replay.terminal_worker import TerminalWorker

# pyte names colours by name or by 6-digit hex without '#'.
_NAMED = {"brown": "yellow", "default": "default"}
_STYLES: dict[tuple[str, str, bool, bool, bool, bool], Style] = {}


def _colour(name: str) -> str | None:
    if name == "default":
        return None
    if len(name) == 6 and all(c in "0123456789abcdefABCDEF" for c in name):
        return f"#{name}"
    return _NAMED.get(name, name.replace("bright", "bright_"))


def _style(cell: Cell) -> Style:
    key = (cell.fg, cell.bg, cell.bold, cell.italics, cell.underscore, cell.reverse)
    style = _STYLES.get(key)
    if style is None:
        try:
            style = Style(
                color=_colour(cell.fg),
                bgcolor=_colour(cell.bg),
                bold=cell.bold or None,
                italic=cell.italics or None,
                underline=cell.underscore or None,
                reverse=cell.reverse or None,
            )
        except ColorParseError:  # a colour name Rich does not know: draw the cell plain
            style = Style()
        if len(_STYLES) < 4096:
            _STYLES[key] = style
    return style


def screen_text(screen: Screen) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    for y, line in enumerate(screen.lines):
        if y:
            text.append("\n")
        # Trailing blanks are not drawn (the pane has the recorded width anyway).
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


def used_width(screen: Screen) -> int:
    """Columns up to the rightmost cell drawn (a character, or a background colour); 0 if blank."""
    used = 0
    for line in screen.lines:
        for x in range(len(line) - 1, used - 1, -1):
            cell = line[x]
            if cell.char != " " or cell.bg != "default":
                used = x + 1
                break
    return used


def screen_notes(screen: Screen, emulated_fraction: float | None = None) -> str:
    """What the box's subtitle says about this screen: approximate, or an emulator error."""
    notes = []
    if not screen.exact:
        done = f", {emulated_fraction:.0%} so far" if emulated_fraction is not None else ""
        notes.append(f"≈ approximate: from recent output, until emulated{done}")
    if screen.error:
        notes.append(f"⚠ emulator error (skipped): {screen.error}")
    return " · ".join(notes)


class TerminalPane(Static):
    """The emulated screen, at the recorded size."""

    @dataclass
    class ScreenReady(Message):
        """The emulator's thread has a screen for the pane."""

        screen: Screen

    @dataclass
    class ContentWidthChanged(Message):
        """The columns the shown screen uses changed (0: it is blank): the screen sizes the pane."""

        width: int

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.screen_shown: Screen | None = None
        self.emulated_fraction: float | None = None
        self.worker: TerminalWorker | None = None
        """The emulator's thread (the screen starts it): asked for screens, answers by message."""
        self.wanted: int | None = None
        self.content_width: int | None = None
        """Columns up to the last one drawn on the shown screen (0: a blank screen)."""

    def show_events(self, events: int) -> None:
        """Ask for the screen after ``events`` screen events of the recording."""
        self.wanted = events
        if self.worker is not None:
            terminal = self.worker.terminal
            self.emulated_fraction = terminal.emulated / len(terminal.cast) if len(terminal.cast) else 1.0
            self.worker.request(events)

    @property
    def settled(self) -> bool:
        """The exact screen of the moment last asked for is shown (tests wait for this)."""
        shown = self.screen_shown
        return shown is not None and shown.events == self.wanted and shown.exact

    def show_screen(self, screen: Screen) -> None:
        before = self.screen_shown
        moved = before is None or before.events != screen.events
        self.screen_shown = screen
        if before is None or (before.width, before.height) != (screen.width, screen.height):
            self.styles.width = screen.width  # a new layout only when the size changes
            self.styles.height = screen.height
        self.update(screen_text(screen))
        used = used_width(screen)
        if used != self.content_width:
            self.content_width = used
            self.post_message(self.ContentWidthChanged(used))
        box = self.parent
        if isinstance(box, Widget):
            box.border_title = f"terminal {screen.width}×{screen.height}"
            notes = screen_notes(screen, self.emulated_fraction)
            box.border_subtitle = notes if used else " · ".join(filter(None, ["nothing drawn yet", notes]))
            if moved:  # follow the cursor's row, where the agent is writing
                # After the refresh: the pane's new size must be laid out before scrolling to it.
                self.call_after_refresh(self.follow_cursor)

    def follow_cursor(self) -> None:
        """Scroll the box to the cursor's row (after a new screen, or the box changed size)."""
        box, screen = self.parent, self.screen_shown
        if isinstance(box, Widget) and screen is not None:
            x, y = screen.cursor
            box.scroll_to_region(Region(x, y, 1, 1), animate=False, x_axis=False)

    def on_terminal_pane_screen_ready(self, message: ScreenReady) -> None:
        self.show_screen(message.screen)
