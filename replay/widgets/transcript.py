"""The transcript: the whole run on one scrollable page, in time order. Each turn shows what it
added and its answer; the tool steps, the agent's terminal output and the run's moments (start,
exit, what changed, the check) sit between the turns. A click on an entry selects its span;
the entry of the selected span is marked and scrolled into view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from cab_trace.llm.turns import Entry, PhaseEntry, ToolStepEntry, Turn
from replay.moments import Moment
from replay.widgets.conversation import (
    phase_lines,
    terminal_lines,
    tool_heading,
    tool_result_lines,
    turn_body,
    turn_heading,
)


@dataclass(frozen=True)
class Block:
    """One entry of the page: the span it belongs to (a row of the waterfall), when, what it says."""

    row: int | None
    at_ns: int
    lines: tuple[Text, ...]


def blocks(
    entries: Sequence[Entry], rows: dict[str, int], origin_ns: int, terminal: Sequence[Moment] = ()
) -> list[Block]:
    """The page's blocks in time order; ``rows`` maps span ids to waterfall rows."""
    out: list[Block] = []
    for entry in entries:
        row = rows.get(entry.span.span_id)
        if isinstance(entry, Turn):
            lines = [turn_heading(entry, origin_ns), *turn_body(entry)]
        elif isinstance(entry, ToolStepEntry):
            lines = [tool_heading(entry, origin_ns), *tool_result_lines(entry)]
        elif isinstance(entry, PhaseEntry):
            lines = phase_lines(entry, origin_ns)
        out.append(Block(row, entry.start_ns, tuple(lines)))
    for moment in terminal:
        out.append(Block(None, moment.at_ns, tuple(terminal_lines(moment.lines, origin_ns, moment.at_ns))))
    out.sort(key=lambda b: b.at_ns)  # stable: entries at one instant keep their order
    return out


class TranscriptEntry(Static):
    DEFAULT_CSS = """
    TranscriptEntry { height: auto; padding: 0 0 1 0; }
    TranscriptEntry.-current { background: $boost; }
    """

    def __init__(self, block: Block) -> None:
        super().__init__(Group(*block.lines))
        self.block = block


class Transcript(VerticalScroll):
    """The run's blocks as one page (built when first shown)."""

    ALLOW_MAXIMIZE = True

    @dataclass
    class EntryClicked(Message):
        row: int

    def __init__(self, page: Sequence[Block], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.page = list(page)
        self._current: TranscriptEntry | None = None

    def compose(self) -> ComposeResult:
        if not self.page:
            yield Static(
                Text("nothing to show: this run has no model calls, tool steps or moments", style="dim")
            )
        for block in self.page:
            yield TranscriptEntry(block)

    def show_row(self, row: int, at_ns: int) -> None:
        """Mark the entry of span ``row`` (else the last entry before ``at_ns``) and scroll to it."""
        entries = list(self.query(TranscriptEntry))
        found = next((e for e in entries if e.block.row == row), None)
        if found is None:
            before = [e for e in entries if e.block.at_ns <= at_ns]
            found = before[-1] if before else (entries[0] if entries else None)
        if found is self._current:
            return
        if self._current is not None:
            self._current.remove_class("-current")
        self._current = found
        if found is not None:
            found.add_class("-current")
            # After the refresh: a page just mounted (or just maximized) is laid out by then.
            self.call_after_refresh(self.scroll_to_widget, found, animate=False, top=True)

    def on_click(self, event: events.Click) -> None:
        widget = event.widget
        while widget is not None and not isinstance(widget, TranscriptEntry):
            widget = widget.parent  # type: ignore[assignment]
        if isinstance(widget, TranscriptEntry) and widget.block.row is not None:
            self.post_message(self.EntryClicked(widget.block.row))
