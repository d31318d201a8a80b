"""The replay app: a trace picker for sweeps, and the trace screen that plays one trace back.

Keys of the trace screen (ids in brackets let users remap them):

| key | action |
|---|---|
| space | play / pause [replay.play] |
| ← / → | previous / next span start or end, selecting that span [replay.step_boundary] |
| , / . | playhead back / forward 100 ms [replay.step_time] |
| ↑ / ↓, k / j | select span [replay.select] |
| enter | playhead to the selected span's start [replay.seek_span] |
| home / end, g / G | playhead to start / end [replay.home, replay.end] |
| + / - | speed ×0.25 … ×16 [replay.speed] |
| e / E | next / previous error [replay.error] |
| m / M | next / previous model call [replay.model_call] |
| i | compress idle time on / off [replay.idle] |
| f | fold / unfold the selected span [waterfall.fold] |
| z | zoom: the agent's terminal fills the window (on / off) [replay.zoom] |
| / | filter spans (escape clears) [replay.filter] |
| ? | help |
| q | quit (escape: back to the trace list) |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from cab_trace.llm.summary import call_rows, is_model_call, tokens_until
from cab_trace.show import format_duration, format_value
from replay.load import LoadedTrace, settled_objects
from replay.probe import LatencyProbe
from replay.terminal import Terminal
from replay.terminal_worker import TerminalWorker
from replay.timeline import Clock, Timeline
from replay.tree import SpanTree
from replay.widgets.detail import SpanDetail
from replay.widgets.terminal_pane import TerminalPane
from replay.widgets.text import data
from replay.widgets.transport import Transport
from replay.widgets.waterfall import Waterfall

TICK_S = 1 / 30
DEFAULT_IDLE_LIMIT_S = 2.0


def identity(trace: LoadedTrace, tokens: str = "") -> Text:
    """The header: the run's identity as the results page shows it (cell, adapter, model,
    image, exit code, status), and ``tokens`` (the model calls' tokens so far)."""
    root = trace.root
    attrs: dict[str, object] = {}
    for s in trace.near_root():  # the run span's attributes win over its children's
        if s is not root:
            attrs.update({k: v for k, v in s.attributes.items() if k not in attrs})
    attrs.update(root.attributes)
    fields = [
        ("cell", attrs.get("cell_id")),
        ("adapter", attrs.get("adapter")),
        ("model", attrs.get("model")),
        ("image", attrs.get("container.image.name") or attrs.get("image")),
        ("exit", attrs.get("exit_code", attrs.get("process.exit.code"))),
    ]
    text = data(root.name, style="bold")
    if tokens:
        text.append("   tokens ", style="dim")
        text.append(tokens)
    text.append("\n")
    for label, value in fields:
        if value is None:
            continue
        text.append(f"{label} ", style="dim")
        text.append_text(data(format_value(value)))  # type: ignore[arg-type]
        text.append("  ")
    status = "ERROR" if trace.is_error else root.status.code
    text.append("status ", style="dim")
    text.append(status, style="bold red" if status == "ERROR" else "bold green")
    return text


def warnings_text(warnings: list[str]) -> Text:
    """What the reader warned about (duplicate ids, cycles, a cut last line), one line each."""
    text = Text()
    for i, message in enumerate(warnings[:3]):
        text.append("\n" if i else "")
        text.append("⚠ ", style="bold #ffd700")
        text.append_text(data(message))
    if len(warnings) > 3:
        text.append(f"\n⚠ … and {len(warnings) - 3} more", style="bold #ffd700")
    return text


def key_table() -> list[tuple[str, str]]:
    """(keys, what they do) from this module's docstring table, the one place keys are listed."""
    rows = []
    for line in (__doc__ or "").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[0] not in ("key", "---"):
            rows.append((cells[0], cells[1].split(" [")[0]))
    return rows


class HelpScreen(ModalScreen[None]):
    """Every key."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(title="cab-trace replay: keys", box=None, padding=(0, 2), title_style="bold")
        table.add_column("key", style="bold #ffd700", no_wrap=True)
        table.add_column("action")
        for key, action in key_table():
            table.add_row(key, action)
        table.caption = "press ? or escape to close"
        yield Static(table, id="help")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss()


class TraceScreen(Screen[None]):
    """One trace: header, waterfall, transport, span detail and the agent's terminal."""

    BINDINGS = [
        Binding("space", "toggle_play", "Play/Pause", id="replay.play"),
        Binding("left", "step_boundary(-1)", "◀ Span", id="replay.step_boundary.prev"),
        Binding("right", "step_boundary(1)", "Span ▶", id="replay.step_boundary.next"),
        Binding("comma", "step_time(-1)", "-100ms", id="replay.step_time.back"),
        Binding("full_stop", "step_time(1)", "+100ms", id="replay.step_time.forward"),
        Binding("up,k", "select(-1)", "Up", show=False, id="replay.select.up"),
        Binding("down,j", "select(1)", "Down", show=False, id="replay.select.down"),
        Binding("enter", "seek_span", "Go to span", show=False, id="replay.seek_span"),
        Binding("home,g", "seek_to(0)", "Start", show=False, id="replay.home"),
        Binding("end,G", "seek_to(1)", "End", show=False, id="replay.end"),
        Binding("plus,equals_sign", "speed(1)", "Faster", show=False, id="replay.speed.up"),
        Binding("minus", "speed(-1)", "Slower", show=False, id="replay.speed.down"),
        Binding("e", "error(1)", "Next error", id="replay.error.next"),
        Binding("E", "error(-1)", "Prev error", show=False, id="replay.error.prev"),
        Binding("m", "model_call(1)", "Next model call", show=False, id="replay.model_call.next"),
        Binding("M", "model_call(-1)", "Prev model call", show=False, id="replay.model_call.prev"),
        Binding("i", "toggle_idle", "Idle", show=False, id="replay.idle"),
        Binding("slash", "filter", "Filter", id="replay.filter"),
        Binding("z", "zoom", "Zoom", id="replay.zoom"),
        Binding("question_mark", "help", "Help", id="replay.help"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, trace: LoadedTrace, clock: Clock, idle_limit_s: float | None) -> None:
        super().__init__()
        self.trace = trace
        cast_times: list[int] = []
        if trace.cast is not None and trace.cast_origin_ns is not None:
            cast_times = [trace.cast_origin_ns + t for t in trace.cast.activity_ns()]
        with settled_objects():
            self.span_tree = trace.tree or SpanTree(index=trace.index, rows=trace.rows)
            self.timeline = Timeline(
                times=(self.span_tree.starts, self.span_tree.ends),
                clock=clock,
                idle_limit_s=idle_limit_s,
                extra_activity_ns=cast_times,
            )
        self.terminal = Terminal(trace.cast) if trace.cast is not None else None
        self._calls = call_rows(self.span_tree.spans)
        self._call_rows = [i for i, s in enumerate(self.span_tree.spans) if is_model_call(s)]
        self._tokens_shown: str | None = None
        self._terminal_worker: TerminalWorker | None = None
        self._idle_limit = idle_limit_s or DEFAULT_IDLE_LIMIT_S
        self._ticker: Timer | None = None
        self._shown: tuple[int, int] | None = None  # (selected, terminal events) last drawn

    def compose(self) -> ComposeResult:
        yield Static(identity(self.trace), id="identity")
        if self.trace.warnings:
            yield Static(warnings_text(self.trace.warnings), id="warnings")
        yield Waterfall(self.span_tree, self.timeline, id="waterfall")
        yield Transport(self.timeline, id="transport")
        yield Input(placeholder="filter spans by name, kind or attribute (escape clears)", id="filter")
        with Horizontal(id="lower"):
            with VerticalScroll(id="detail-scroll"):
                yield SpanDetail(id="detail")
            if self.terminal is not None:
                with ScrollableContainer(id="terminal-box"):
                    yield TerminalPane(id="terminal")
        yield Footer()

    def on_mount(self) -> None:
        self._ticker = self.set_interval(TICK_S, self._tick, pause=True)
        self.query_one("#filter", Input).display = False
        self.query_one(Waterfall).focus()
        if self.terminal is not None:
            cast = self.terminal.cast
            box = self.query_one("#terminal-box")
            box.border_title = f"terminal {cast.width}×{cast.height}"
            box.styles.width = cast.width + 3  # borders and the vertical scrollbar
            pane = self.query_one(TerminalPane)
            # The emulator runs on its own thread; screens come back as messages to the pane.
            self._terminal_worker = TerminalWorker(
                self.terminal, lambda screen: pane.post_message(pane.ScreenReady(screen))
            )
            pane.worker = self._terminal_worker
            self._terminal_worker.start()
        self.redraw()

    def on_unmount(self) -> None:
        if self._terminal_worker is not None:
            self._terminal_worker.stop()

    # -- drawing -----------------------------------------------------------------------------

    def redraw(self) -> None:
        """After any change of the timeline: repaint what depends on it (and nothing else)."""
        waterfall = self.query_one(Waterfall)
        waterfall.refresh()
        self.query_one(Transport).refresh()
        events = 0
        if self.terminal is not None and self.trace.cast_origin_ns is not None:
            t = self.timeline.origin_ns + self.timeline.position_ns - self.trace.cast_origin_ns
            events = self.terminal.cast.events_before(t)
            if self._shown is None or self._shown[1] != events:
                self.query_one(TerminalPane).show_events(events)
        if self._shown is None or self._shown[0] != self.timeline.selected:
            self.query_one(SpanDetail).show_span(
                self.span_tree.spans[self.timeline.selected], self.timeline.origin_ns
            )
            waterfall.keep_selected_in_view()
        self._shown = (self.timeline.selected, events)
        if self._calls:
            self._show_tokens()

    def _show_tokens(self) -> None:
        """The header's tokens so far: the model calls that have ended at the playhead."""
        done, tokens_in, tokens_out = tokens_until(
            self._calls, self.timeline.origin_ns + int(self.timeline.position_ns)
        )
        text = f"{tokens_in:,} in / {tokens_out:,} out · {done}/{len(self._calls)} model calls"
        if text != self._tokens_shown:
            self._tokens_shown = text
            self.query_one("#identity", Static).update(identity(self.trace, text))

    def _tick(self) -> None:
        probe = getattr(self.app, "probe", None)
        if probe is not None:
            probe.tick()
        self.timeline.tick()
        if not self.timeline.playing and self._ticker is not None:
            self._ticker.pause()
        self.redraw()

    # -- actions -----------------------------------------------------------------------------

    def action_toggle_play(self) -> None:
        self.timeline.toggle_play()
        if self._ticker is not None:
            if self.timeline.playing:
                self._ticker.resume()
            else:
                self._ticker.pause()
        self.redraw()

    def action_step_boundary(self, direction: int) -> None:
        # Rows change only when a fold opens: re-laying out the waterfall on every step cost a
        # frame on large traces.
        if self.timeline.step_boundary(direction) and self.span_tree.reveal(self.timeline.selected):
            self.query_one(Waterfall).rows_changed()
        self.redraw()

    def action_step_time(self, steps: int) -> None:
        self.timeline.step_time(steps)
        self.redraw()

    def action_select(self, delta: int) -> None:
        rows = self.query_one(Waterfall).rows
        if not rows:
            return
        try:
            at = rows.index(self.timeline.selected)
        except ValueError:
            at = 0 if delta > 0 else len(rows) - 1
            delta = 0
        self.timeline.selected = rows[max(0, min(len(rows) - 1, at + delta))]
        self.redraw()

    def action_seek_span(self) -> None:
        self.timeline.seek_span(self.timeline.selected)
        self.redraw()

    def action_seek_to(self, fraction: float) -> None:
        self.timeline.seek_fraction(fraction)
        self.redraw()

    def action_speed(self, direction: int) -> None:
        if direction > 0:
            self.timeline.faster()
        else:
            self.timeline.slower()
        self.redraw()

    def action_error(self, direction: int) -> None:
        found = self.span_tree.next_error(self.timeline.selected, direction)
        if found is None:
            self.notify("this trace has no error spans", timeout=2)
            return
        self.span_tree.reveal(found)
        self.query_one(Waterfall).rows_changed()
        self.timeline.seek_span(found)
        self.redraw()

    def action_model_call(self, direction: int) -> None:
        rows = self._call_rows
        if not rows:
            self.notify("this trace has no model calls", timeout=2)
            return
        at = self.timeline.selected
        if direction > 0:
            found = next((i for i in rows if i > at), rows[0])
        else:
            found = next((i for i in reversed(rows) if i < at), rows[-1])
        self.span_tree.reveal(found)
        self.query_one(Waterfall).rows_changed()
        self.timeline.seek_span(found)
        self.timeline.selected = found
        self.redraw()

    def action_toggle_idle(self) -> None:
        self.timeline.set_idle_limit(None if self.timeline.idle_limit_s is not None else self._idle_limit)
        self.redraw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_zoom(self) -> None:
        """The agent's terminal takes the whole window (the transport line stays), or gives it back."""
        if self.terminal is None:
            self.notify("this trace has no terminal recording", timeout=2)
            return
        self.toggle_class("zoomed")
        if self.has_class("zoomed"):
            self.set_focus(None)
        else:
            self.query_one(Waterfall).focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one(Waterfall).focus()
            return
        if len(self.app.screen_stack) > 2:  # opened from the picker
            self.timeline.pause()
            self.app.pop_screen()

    # -- messages ----------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.span_tree.set_filter(event.value)
        self.query_one(Waterfall).rows_changed()
        self.redraw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(Waterfall).focus()

    @on(Waterfall.SpanClicked)
    def _clicked(self, event: Waterfall.SpanClicked) -> None:
        self.timeline.selected = event.index
        self.redraw()

    @on(Transport.SeekRequested)
    def _seek(self, event: Transport.SeekRequested) -> None:
        self.timeline.seek_fraction(event.fraction)
        self.redraw()


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
