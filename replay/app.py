"""The replay app: a trace picker for sweeps, and the trace screen that plays one trace back
(:mod:`replay.screens.trace`, where its keys are listed; ``?`` shows them all).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from cab_trace.show import format_duration
from replay.load import LoadedTrace
from replay.probe import LatencyProbe
from replay.screens.help import HelpScreen
from replay.screens.trace import TraceScreen, key_table
from replay.timeline import Clock
from replay.widgets.text import data, warnings_text

__all__ = ["HelpScreen", "PickerScreen", "ReplayApp", "TraceScreen", "key_table", "warnings_text"]


class PickerScreen(Screen[None]):
    """The traces of a sweep: sortable (click a column or press s), filterable (/); enter opens."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="picker.filter"),
        Binding("s", "sort", "Sort", id="picker.sort"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    COLUMNS = ("root", "start", "duration", "spans", "status")

    def __init__(self, traces: list[LoadedTrace]) -> None:
        super().__init__()
        self.traces = traces
        self._sort_column = 1
        self._reverse = False

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{len(self.traces)} traces · enter opens one", style="bold"), id="identity")
        yield Input(placeholder="filter traces (escape clears)", id="picker-filter")
        yield DataTable(id="traces", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#picker-filter", Input).display = False
        table = self.query_one(DataTable)
        for name in self.COLUMNS:
            table.add_column(name, key=name)
        self._fill()
        table.focus()

    def _sort_key(self, trace: LoadedTrace) -> object:
        return (
            trace.root.name,
            trace.start_ns,
            trace.duration_ns,
            len(trace.spans),
            trace.is_error,
        )[self._sort_column]

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        needle = self.query_one("#picker-filter", Input).value.strip().casefold()
        shown = [t for t in self.traces if needle in t.root.name.casefold() or needle in t.trace_id]
        for trace in sorted(shown, key=self._sort_key, reverse=self._reverse):  # type: ignore[arg-type]
            start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(trace.start_ns / 1e9))
            status = Text("ERROR", style="bold red") if trace.is_error else Text(trace.root.status.code)
            table.add_row(
                data(trace.root.name),
                start,
                format_duration(trace.duration_ns),
                str(len(trace.spans)),
                status,
                key=trace.trace_id,
            )

    def action_sort(self, column: int | None = None) -> None:
        column = (self._sort_column + 1) % len(self.COLUMNS) if column is None else column
        self._reverse = not self._reverse if column == self._sort_column else False
        self._sort_column = column
        self._fill()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.action_sort(event.column_index)

    def action_filter(self) -> None:
        box = self.query_one("#picker-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#picker-filter", Input)
        box.value = ""
        box.display = False
        self.query_one(DataTable).focus()

    @on(Input.Changed, "#picker-filter")
    def _filter_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#picker-filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        trace = next(t for t in self.traces if t.trace_id == event.row_key.value)
        app = self.app
        assert isinstance(app, ReplayApp)
        app.push_screen(TraceScreen(trace, app.clock, app.idle_limit_s))


class ReplayApp(App[None]):
    """Plays traces back. One trace opens directly; several (a sweep) open the picker."""

    CSS_PATH = "app.tcss"
    TITLE = "cab-trace replay"
    BINDINGS = [Binding("q", "quit", "Quit", id="replay.quit")]

    def __init__(
        self,
        traces: list[LoadedTrace],
        source: Path | None = None,
        clock: Clock = time.monotonic,
        idle_limit_s: float | None = None,
        first_screen: Callable[[ReplayApp], Screen[None]] | None = None,
    ) -> None:
        super().__init__()
        if not traces and first_screen is None:
            raise ValueError("nothing to replay")
        self.first_screen = first_screen
        """Opens a screen of replay/screens/ instead (a directory of runs, two runs on one clock)."""
        self.traces = traces
        self.source = source
        self.clock = clock
        self.idle_limit_s = idle_limit_s
        if source is not None:
            self.sub_title = str(source)
        self.probe = LatencyProbe.from_env()
        self._probed: events.Key | None = None
        """Keypress-to-screen latency, when CAB_TRACE_LATENCY_LOG asks for it (see replay.probe)."""

    async def on_event(self, event: events.Event) -> None:
        # A key the screen did not handle bubbles back here: count each event once.
        if self.probe is not None and isinstance(event, events.Key) and event is not self._probed:
            self._probed = event
            self.probe.key(event.key, event.time)
        await super().on_event(event)

    def post_display_hook(self) -> None:
        # Called by Textual after each frame is written and flushed to the terminal driver.
        if self.probe is not None:
            self.probe.frame()

    def on_mount(self) -> None:
        if self.first_screen is not None:
            self.push_screen(self.first_screen(self))
        elif len(self.traces) == 1:
            self.push_screen(TraceScreen(self.traces[0], self.clock, self.idle_limit_s))
        else:
            self.push_screen(PickerScreen(self.traces))
