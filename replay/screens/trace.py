"""The trace screen: one run played back. Header (identity, outcome), the time axis and the span
waterfall, the transport line, then the selected span (or the transcript) beside the agent's
terminal, and the keys people need first.

The lower half's containers are :mod:`replay.widgets.panes`, the reader's warnings line is
:func:`replay.widgets.text.warnings_text`, and the arithmetic of the layout and of moving the
selection is :mod:`replay.screen_math` (pure). They are re-exported here.

Keys (ids in brackets let users remap them):

| key | action |
|---|---|
| space | play / pause [replay.play] |
| ← / → | previous / next span start or end, selecting that span [replay.step_boundary] |
| , / . | playhead back / forward 100 ms [replay.step_time] |
| ↑ / ↓, k / j | select span [replay.select] |
| enter | playhead to the selected span's start [replay.seek_span] |
| home / end, g / G | playhead to start / end [replay.home, replay.end] |
| + / - | speed ×0.25 … ×16 [replay.speed] |
| m / M | next / previous model call [replay.model_call] |
| e / E | next / previous error [replay.error] |
| t | transcript: every turn on one page (t again: the selected span) [replay.transcript] |
| tab / shift+tab | next / previous pane or ▸ line (waterfall, detail, terminal) |
| z | maximize the focused pane; z or escape restores it [replay.maximize] |
| ] / [ | zoom the timeline in / out at the playhead [replay.zoom] |
| } / { | pan the timeline later / earlier [replay.pan] |
| 0 | the whole run on the timeline [replay.zoom_reset] |
| i | compress idle time on / off [replay.idle] |
| f | fold / unfold the selected span [waterfall.fold] |
| / | filter spans (escape clears) [replay.filter] |
| ? | help [replay.help] |
| q | quit (escape: back to the trace list) [replay.quit] |
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static

from cab_trace.llm.call import MODEL_CALL_KIND
from cab_trace.llm.summary import call_rows, is_model_call
from cab_trace.llm.turns import Turn, transcript, turns
from cab_trace.outcome import NUMBER_KINDS, identity_facts, outcome_facts, so_far
from replay.load import LoadedTrace, settled_objects
from replay.moments import moments
from replay.outcome import run_numbers
from replay.screen_math import (
    EMPTY_TERMINAL_WIDTH,
    next_row,
    step_selection,
    terminal_box_width,
    waterfall_max_height,
)
from replay.screens.help import HelpScreen, table_rows
from replay.terminal import Terminal
from replay.terminal_worker import TerminalWorker
from replay.timeline import Clock, Timeline
from replay.tree import SpanTree
from replay.view import ZOOM_STEP
from replay.widgets.axis import TimeAxis
from replay.widgets.detail import SpanDetail
from replay.widgets.header import RunHeader
from replay.widgets.keybar import Key, KeyBar
from replay.widgets.panes import Pane, TerminalBox
from replay.widgets.terminal_pane import TerminalPane
from replay.widgets.text import warnings_text
from replay.widgets.transcript import Block, Transcript, blocks
from replay.widgets.transport import Transport
from replay.widgets.waterfall import Waterfall

# The panes, the warnings line and the layout's numbers live elsewhere; imported from here too.
__all__ = ["EMPTY_TERMINAL_WIDTH", "Pane", "TerminalBox", "TraceScreen", "key_table", "warnings_text"]

TICK_S = 1 / 30
DEFAULT_IDLE_LIMIT_S = 2.0
#: The panes z maximizes: the one holding the focus.
PANES = ("waterfall", "detail-scroll", "transcript", "terminal-box")

#: The footer, most needed first; help and quit always stay at its right edge.
FOOTER = (
    Key("space", "Play", "toggle_play"),
    Key("←→", "Step", "step_boundary(1)"),
    Key("m", "Model call", "model_call(1)"),
    Key("t", "Transcript", "transcript"),
    Key("tab", "Pane", "focus_next_pane"),
    Key("z", "Maximize", "maximize"),
    Key("e", "Error", "error(1)"),
    Key("][", "Zoom", "zoom(1)"),
    Key("/", "Filter", "filter"),
)
FOOTER_ALWAYS = (Key("?", "Help", "help"), Key("q", "Quit", "app.quit"))


def key_table() -> list[tuple[str, str]]:
    """(keys, what they do) from this module's docstring table, the one place keys are listed."""
    return table_rows(__doc__ or "")


class TraceScreen(Screen[None]):
    """One trace: header, axis, waterfall, transport, span detail or transcript, terminal, keys."""

    BINDINGS = [
        Binding("space", "toggle_play", "Play/Pause", id="replay.play"),
        Binding("left", "step_boundary(-1)", "◀ Span", id="replay.step_boundary.prev"),
        Binding("right", "step_boundary(1)", "Span ▶", id="replay.step_boundary.next"),
        Binding("comma", "step_time(-1)", "-100ms", id="replay.step_time.back"),
        Binding("full_stop", "step_time(1)", "+100ms", id="replay.step_time.forward"),
        Binding("up,k", "select(-1)", "Up", id="replay.select.up"),
        Binding("down,j", "select(1)", "Down", id="replay.select.down"),
        Binding("enter", "seek_span", "Go to span", id="replay.seek_span"),
        Binding("home,g", "seek_to(0)", "Start", id="replay.home"),
        Binding("end,G", "seek_to(1)", "End", id="replay.end"),
        Binding("plus,equals_sign", "speed(1)", "Faster", id="replay.speed.up"),
        Binding("minus", "speed(-1)", "Slower", id="replay.speed.down"),
        Binding("e", "error(1)", "Next error", id="replay.error.next"),
        Binding("E", "error(-1)", "Prev error", id="replay.error.prev"),
        Binding("m", "model_call(1)", "Next model call", id="replay.model_call.next"),
        Binding("M", "model_call(-1)", "Prev model call", id="replay.model_call.prev"),
        Binding("t", "transcript", "Transcript", id="replay.transcript"),
        Binding("z", "maximize", "Maximize", id="replay.maximize"),
        Binding("right_square_bracket", "zoom(1)", "Zoom in", id="replay.zoom.in"),
        Binding("left_square_bracket", "zoom(-1)", "Zoom out", id="replay.zoom.out"),
        Binding("right_curly_bracket", "pan(1)", "Pan later", id="replay.pan.later"),
        Binding("left_curly_bracket", "pan(-1)", "Pan earlier", id="replay.pan.earlier"),
        Binding("0", "zoom_reset", "Whole run", id="replay.zoom_reset"),
        Binding("i", "toggle_idle", "Idle", id="replay.idle"),
        Binding("slash", "filter", "Filter", id="replay.filter"),
        Binding("question_mark", "help", "Help", id="replay.help"),
        Binding("escape", "back", "Back"),
    ]
    #: What stays on screen beside a maximized pane: the playhead's line and the keys.
    ALLOW_IN_MAXIMIZED_VIEW = "#transport, KeyBar"

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
        tree = self.span_tree
        self._ours = "run" in tree.index.kind
        # A run of ours names its model calls by kind: only their lines are read, not a million.
        if self._ours:
            self._call_rows = [i for i in range(len(tree)) if tree.kind(i) == MODEL_CALL_KIND]
        else:
            self._call_rows = [i for i in range(len(tree)) if is_model_call(tree.spans[i])]
        self._calls = call_rows(tree.spans[i] for i in self._call_rows)
        self._numbers = run_numbers(tree)
        self._turns: dict[str, Turn] | None = None
        self._terminal_worker: TerminalWorker | None = None
        self._idle_limit = idle_limit_s or DEFAULT_IDLE_LIMIT_S
        self._ticker: Timer | None = None
        self._shown: tuple[int, int] | None = None  # (selected, terminal events) last drawn
        self._transcript: Transcript | None = None

    # -- building -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RunHeader(identity_facts(self._numbers, self.trace.root.name), [], id="identity")
        if self.trace.warnings:
            yield Static(warnings_text(self.trace.warnings), id="warnings")
        waterfall = Waterfall(self.span_tree, self.timeline, id="waterfall")
        yield TimeAxis(waterfall, id="axis")
        yield waterfall
        yield Transport(self.timeline, id="transport")
        yield Input(placeholder="filter spans by name, kind or attribute (escape clears)", id="filter")
        with Horizontal(id="lower"):
            with Pane(id="detail-scroll"):
                yield SpanDetail(id="detail")
            if self.terminal is not None:
                with TerminalBox(id="terminal-box"):
                    yield TerminalPane(id="terminal")
        yield KeyBar(FOOTER, FOOTER_ALWAYS, id="keys")

    def on_mount(self) -> None:
        self._ticker = self.set_interval(TICK_S, self._tick, pause=True)
        self.query_one("#filter", Input).display = False
        self.query_one(Waterfall).focus()
        self.query_one("#detail-scroll").border_title = "span"
        if self.terminal is not None:
            cast = self.terminal.cast
            box = self.query_one("#terminal-box")
            box.border_title = f"terminal {cast.width}×{cast.height}"
            self._terminal_width(0)
            pane = self.query_one(TerminalPane)
            # The emulator runs on its own thread; screens come back as messages to the pane.
            self._terminal_worker = TerminalWorker(
                self.terminal, lambda screen: pane.post_message(pane.ScreenReady(screen))
            )
            pane.worker = self._terminal_worker
            self._terminal_worker.start()
        self.redraw()

    def on_resize(self) -> None:
        self._fit_layout()

    def _fit_layout(self) -> None:
        """The waterfall as tall as its rows, but never so tall that the panes below get less
        than 45% of the room (and at least 10 lines): on a small window the panes are what is
        read, and the waterfall scrolls."""
        fixed = sum(
            w.outer_size.height
            for w in self.query("#identity, #warnings, #axis, #transport, #filter, KeyBar")
            if w.display
        )
        room = self.size.height - fixed
        waterfall = self.query_one(Waterfall)
        waterfall.styles.max_height = None if self.maximized is waterfall else waterfall_max_height(room)
        if self.terminal is not None:
            self._terminal_width(self.query_one(TerminalPane).content_width or 0)

    def on_unmount(self) -> None:
        if self._terminal_worker is not None:
            self._terminal_worker.stop()

    def turn_of(self, span_id: str) -> Turn | None:
        """The turn of a model call, the run's calls read turn by turn once, when first needed."""
        if self._turns is None:
            self._turns = {t.span.span_id: t for t in turns(r.span for r in self._calls)}
        return self._turns.get(span_id)

    # -- drawing -----------------------------------------------------------------------------

    def redraw(self) -> None:
        """After any change of the timeline: repaint what depends on it (and nothing else)."""
        waterfall = self.query_one(Waterfall)
        if waterfall.window.follow(self.timeline.position_ns):
            self.query_one(TimeAxis).refresh()
        waterfall.refresh()
        self.query_one(Transport).refresh()
        events = 0
        if self.terminal is not None and self.trace.cast_origin_ns is not None:
            t = self.timeline.origin_ns + self.timeline.position_ns - self.trace.cast_origin_ns
            events = self.terminal.cast.events_before(t)
            if self._shown is None or self._shown[1] != events:
                self.query_one(TerminalPane).show_events(events)
        selected = self.timeline.selected
        if self._shown is None or self._shown[0] != selected:
            span = self.span_tree.spans[selected]
            self.query_one(SpanDetail).show_span(
                span,
                self.timeline.origin_ns,
                turn=self.turn_of(span.span_id) if selected in self._call_rows else None,
                diff=self.trace.diff,
                diff_cut=self.trace.diff_cut,
            )
            self.query_one("#detail-scroll").border_title = f"span · {span.kind or 'span'}"
            waterfall.keep_selected_in_view()
            if self._transcript is not None and self._transcript.display:
                self._transcript.show_row(selected, self.span_tree.starts[selected])
        self._shown = (selected, events)
        self._show_outcome()

    def _show_outcome(self) -> None:
        """The header's outcome, with the model calls and tokens so far at the playhead."""
        now = self.timeline.origin_ns + int(self.timeline.position_ns)
        calls = so_far(self._calls, now) if self._calls else None
        self.query_one(RunHeader).show(outcome_facts(self._numbers, calls, self._ours))

    def _tick(self) -> None:
        probe = getattr(self.app, "probe", None)
        if probe is not None:
            probe.tick()
        self.timeline.tick()
        if not self.timeline.playing and self._ticker is not None:
            self._ticker.pause()
        self.redraw()

    def watch_maximized(self) -> None:
        self._fit_layout()
        if self.terminal is not None:
            self._terminal_width(self.query_one(TerminalPane).content_width or 0)

    def _terminal_width(self, used: int) -> None:
        """The terminal pane as wide as what the agent has drawn; its title's width when empty
        (all of the window when it is maximized)."""
        if self.terminal is None:
            return
        box = self.query_one("#terminal-box")
        if box.has_class("-maximized"):
            box.styles.width = "1fr"
            box.styles.overflow_x = "auto"
            self.call_after_refresh(self.query_one(TerminalPane).follow_cursor)
            return
        width, fits = terminal_box_width(self.size.width, used, self.terminal.cast.width)
        box.set_class(used == 0, "-empty")
        # What is drawn fits: no sideways scrollbar for the blank columns to its right.
        box.styles.overflow_x = "hidden" if fits else "auto"
        if box.styles.width is None or box.styles.width.value != width:
            box.styles.width = width  # borders and the vertical scrollbar
            self.call_after_refresh(self.query_one(TerminalPane).follow_cursor)

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
        self.timeline.selected = step_selection(rows, self.timeline.selected, delta)
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
        found = next_row(rows, self.timeline.selected, direction)
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
        self.call_after_refresh(self._fit_layout)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(key_table()))

    def action_transcript(self) -> None:
        """Show every turn of the run on one page in place of the span detail, or the span again."""
        detail = self.query_one("#detail-scroll")
        if self._transcript is None:
            self._transcript = Transcript(self._page(), id="transcript")
            self._transcript.border_title = "transcript · every turn, in time order"
            self.query_one("#lower").mount(self._transcript, before=detail)
            self._transcript.display = False
        showing = not self._transcript.display
        was_maximized = self.maximized in (detail, self._transcript)
        self._transcript.display = showing
        detail.display = not showing
        shown: Widget = self._transcript if showing else detail
        if was_maximized:
            self.maximize(shown, container=False)
        if self.focused is None or self.focused in (detail, self._transcript) or not self.focused.display:
            shown.focus()
        if showing:
            selected = self.timeline.selected
            self.call_after_refresh(self._transcript.show_row, selected, self.span_tree.starts[selected])

    def _page(self) -> list[Block]:
        """The transcript's blocks: turns, tool steps, the run's moments and terminal output."""
        tree = self.span_tree
        ours = "run" in tree.index.kind
        rows = [i for i in range(len(tree)) if not ours or tree.kind(i) in NUMBER_KINDS or tree.is_error(i)]
        by_id = {tree.spans[i].span_id: i for i in rows}
        entries = transcript(tree.spans[i] for i in rows)
        if self._turns is not None:  # the turns already read: the same objects
            entries = [self._turns.get(e.span.span_id, e) if isinstance(e, Turn) else e for e in entries]
        terminal = []
        cast, origin = self.trace.cast, self.trace.cast_origin_ns
        if cast is not None and origin is not None:
            terminal = moments(cast, origin, sorted({e.start_ns for e in entries}))
        return blocks(entries, by_id, self.timeline.origin_ns, terminal)

    def _pane_of(self, widget: Widget | None) -> Widget | None:
        while widget is not None:
            if widget.id in PANES:
                return widget
            parent = widget.parent
            widget = parent if isinstance(parent, Widget) else None
        return None

    def action_maximize(self) -> None:
        """The focused pane takes the window (the transport line and keys stay), or gives it back."""
        if self.maximized is not None:
            self.minimize()
            return
        pane = self._pane_of(self.focused) or self.query_one(Waterfall)
        self.maximize(pane, container=False)

    def action_focus_next_pane(self) -> None:
        self.focus_next()

    def action_zoom(self, direction: int) -> None:
        self.query_one(Waterfall).zoom_at(ZOOM_STEP if direction > 0 else 1 / ZOOM_STEP)

    def action_pan(self, direction: int) -> None:
        self.query_one(Waterfall).pan(0.25 * direction)

    def action_zoom_reset(self) -> None:
        waterfall = self.query_one(Waterfall)
        if waterfall.window.reset():
            waterfall.refresh()
            self.query_one(TimeAxis).refresh()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one(Waterfall).focus()
            self.call_after_refresh(self._fit_layout)
            return
        if self.maximized is not None:
            self.minimize()
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

    @on(Transcript.EntryClicked)
    def _entry_clicked(self, event: Transcript.EntryClicked) -> None:
        self.span_tree.reveal(event.row)
        self.query_one(Waterfall).rows_changed()
        self.timeline.selected = event.row
        self.redraw()

    @on(Waterfall.WindowChanged)
    def _window_changed(self) -> None:
        self.query_one(TimeAxis).refresh()

    @on(Transport.SeekRequested)
    def _seek(self, event: Transport.SeekRequested) -> None:
        self.timeline.seek_fraction(event.fraction)
        self.redraw()

    @on(TerminalPane.ContentWidthChanged)
    def _terminal_content(self, event: TerminalPane.ContentWidthChanged) -> None:
        self._terminal_width(event.width)
