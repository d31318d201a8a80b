"""Two runs on one clock: both waterfalls lined up, one playhead, both terminals side by side,
the model calls of both as lanes, and in one line where the difference in wall time went.

Loading and comparing the two runs is :mod:`replay.compare_pair`'s; the comparison as text is
:class:`~replay.screens.diff.DiffScreen`. Both are re-exported here.

Keys (the one-run replay's, for both runs at once; ids in brackets let users remap them):

| key | action |
|---|---|
| space | play / pause both [compare.play] |
| ← / → | previous / next span start or end in either run, selecting that span [compare.step_boundary] |
| , / . | playhead back / forward 100 ms [compare.step_time] |
| ↑ / ↓, k / j | select a span of the run in focus [compare.select] |
| tab | focus the other run's waterfall |
| enter | playhead to the selected span's start [compare.seek_span] |
| home / end, g / G | playhead to start / end [compare.home, compare.end] |
| + / - | speed ×0.25 … ×16 [compare.speed] |
| e / E | next / previous error of the run in focus [compare.error] |
| m / M | next / previous model call of the run in focus [compare.model_call] |
| a | line the runs up at their start, their adapter_run or their first model call [compare.align] |
| i | compress idle time on / off [compare.idle] |
| f | fold / unfold the selected span [waterfall.fold] |
| z | zoom: both terminals fill the window (on / off) [compare.zoom] |
| d | the comparison: phases, model calls, tool steps, changes, the check [compare.diff] |
| / | filter the spans of both runs (escape clears) [compare.filter] |
| ? | help |
| escape | back (to the table of runs) |
| q | quit |
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from cab_trace.compare_text import brief
from cab_trace.llm.summary import CallRow, call_rows, is_model_call, tokens_until
from cab_trace.show import format_duration, safe_text
from replay.compare_pair import ComparePair, open_pair, pick_trace
from replay.emulator import Screen as TerminalScreen
from replay.load import LoadedTrace, settled_objects
from replay.pair import ANCHORS, PairClock, RunTimes
from replay.screen_math import next_row, step_selection
from replay.screens.diff import DiffScreen
from replay.screens.keys import KeysScreen, key_table
from replay.terminal import Terminal
from replay.terminal_worker import TerminalWorker
from replay.timeline import Clock
from replay.tree import SpanTree
from replay.widgets.lanes import Lane, Lanes
from replay.widgets.terminal_pane import TerminalPane
from replay.widgets.transport import Transport
from replay.widgets.waterfall import Waterfall

# The pair and the diff screen live in their own modules; imported from here too.
__all__ = ["ComparePair", "CompareScreen", "DiffScreen", "LabelledTerminalPane", "open_pair", "pick_trace"]

TICK_S = 1 / 30
DEFAULT_IDLE_LIMIT_S = 2.0
SIDES = ("a", "b")
LANE_COLOURS = ("#af87ff", "#5fafd7")


class _Run:
    """One side of the screen: the run's tree, terminal and model calls."""

    def __init__(self, trace: LoadedTrace) -> None:
        self.trace = trace
        with settled_objects():
            self.tree = trace.tree or SpanTree(index=trace.index, rows=trace.rows)
        self.terminal = Terminal(trace.cast) if trace.cast is not None else None
        self.call_positions = [i for i, s in enumerate(self.tree.spans) if is_model_call(s)]
        self.calls: list[CallRow] = call_rows(self.tree.spans[i] for i in self.call_positions)
        cast_times: list[int] = []
        if trace.cast is not None and trace.cast_origin_ns is not None:
            cast_times = [trace.cast_origin_ns + t for t in trace.cast.activity_ns()]
        self.times = RunTimes(
            self.tree.starts,
            self.tree.ends,
            [self.tree.kind(i) for i in range(len(self.tree))],
            [self.tree.starts[i] for i in self.call_positions],
            cast_times,
        )
        self.worker: TerminalWorker | None = None
        self.shown: tuple[int, int] | None = None  # (selected, terminal events) last drawn


class LabelledTerminalPane(TerminalPane):
    """The terminal pane, its box titled with the run it belongs to."""

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label

    def show_screen(self, screen: TerminalScreen) -> None:
        super().show_screen(screen)
        box = self.parent
        if isinstance(box, ScrollableContainer):
            box.border_title = f"{self.label} · {box.border_title}"


def _poster(pane: TerminalPane) -> Callable[[TerminalScreen], None]:
    """What the emulator's thread calls with a screen: a message to ``pane``."""

    def post(screen: TerminalScreen) -> None:
        pane.post_message(pane.ScreenReady(screen))

    return post


class CompareScreen(Screen[None]):
    """Runs A and B on one clock."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("space", "toggle_play", "Play/Pause", id="compare.play"),
        Binding("left", "step_boundary(-1)", "◀ Span", id="compare.step_boundary.prev"),
        Binding("right", "step_boundary(1)", "Span ▶", id="compare.step_boundary.next"),
        Binding("comma", "step_time(-1)", "-100ms", show=False, id="compare.step_time.back"),
        Binding("full_stop", "step_time(1)", "+100ms", show=False, id="compare.step_time.forward"),
        Binding("up,k", "select(-1)", "Up", show=False, id="compare.select.up"),
        Binding("down,j", "select(1)", "Down", show=False, id="compare.select.down"),
        Binding("enter", "seek_span", "Go to span", show=False, id="compare.seek_span"),
        Binding("home,g", "seek_to(0)", "Start", show=False, id="compare.home"),
        Binding("end,G", "seek_to(1)", "End", show=False, id="compare.end"),
        Binding("plus,equals_sign", "speed(1)", "Faster", show=False, id="compare.speed.up"),
        Binding("minus", "speed(-1)", "Slower", show=False, id="compare.speed.down"),
        Binding("e", "error(1)", "Next error", show=False, id="compare.error.next"),
        Binding("E", "error(-1)", "Prev error", show=False, id="compare.error.prev"),
        Binding("m", "model_call(1)", "Next call", show=False, id="compare.model_call.next"),
        Binding("M", "model_call(-1)", "Prev call", show=False, id="compare.model_call.prev"),
        Binding("a", "align", "Align", id="compare.align"),
        Binding("i", "toggle_idle", "Idle", show=False, id="compare.idle"),
        Binding("d", "diff", "Diff", id="compare.diff"),
        Binding("slash", "filter", "Filter", show=False, id="compare.filter"),
        Binding("z", "zoom", "Zoom", id="compare.zoom"),
        Binding("question_mark", "help", "Help", id="compare.help"),
        Binding("escape", "back", "Back", show=False, id="compare.back"),
    ]

    def __init__(self, pair: ComparePair, clock: Clock, idle_limit_s: float | None = None) -> None:
        super().__init__()
        self.pair = pair
        self.runs = (_Run(pair.a), _Run(pair.b))
        self._clock_fn = clock
        self._idle_limit = idle_limit_s or DEFAULT_IDLE_LIMIT_S
        self.clock = PairClock(self.runs[0].times, self.runs[1].times, "start", clock, idle_limit_s)
        self._ticker: Timer | None = None

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._head(), id="cmp-head")
        # The one line is the answer: it wraps rather than lose its end on a narrow screen.
        yield Static(
            Text(safe_text(self.pair.comparison.headline, one_line=True), style="bold"), id="cmp-headline"
        )
        yield Lanes(id="cmp-lanes")
        for side, run in zip(SIDES, self.runs, strict=True):
            yield Static(id=f"cmp-cap-{side}", classes="cmp-cap")
            yield Waterfall(run.tree, self.clock.timelines[SIDES.index(side)], id=f"cmp-waterfall-{side}")
        yield Transport(self.clock.master, id="cmp-transport")
        yield Input(placeholder="filter the spans of both runs (escape clears)", id="cmp-filter")
        with Horizontal(id="cmp-terminals"):
            for side, run in zip(SIDES, self.runs, strict=True):
                with ScrollableContainer(id=f"cmp-term-box-{side}", classes="cmp-term-box"):
                    if run.terminal is not None:
                        yield LabelledTerminalPane(side.upper(), id=f"cmp-term-{side}")
                    else:
                        yield Static(f"{side.upper()}: no terminal recording", classes="cmp-no-term")
        yield Footer()

    def _head(self) -> Text:
        c = self.pair.comparison
        text = Text()
        for k, (side, colour) in enumerate(zip((c.a, c.b), LANE_COLOURS, strict=True)):
            text.append(f"{side.label} ", style=f"bold {colour}")
            text.append(brief(side) + ("\n" if k == 0 else ""))
        return text

    def on_mount(self) -> None:
        self._ticker = self.set_interval(TICK_S, self._tick, pause=True)
        self.query_one("#cmp-filter", Input).display = False
        self._set_lanes()
        for side, run in zip(SIDES, self.runs, strict=True):
            if run.terminal is None:
                continue
            pane = self.query_one(f"#cmp-term-{side}", LabelledTerminalPane)
            box = self.query_one(f"#cmp-term-box-{side}")
            box.border_title = (
                f"{side.upper()} · terminal {run.terminal.cast.width}×{run.terminal.cast.height}"
            )
            run.worker = TerminalWorker(run.terminal, _poster(pane))
            pane.worker = run.worker
            run.worker.start()
        self.query_one("#cmp-waterfall-a", Waterfall).focus()
        self.redraw()

    def on_unmount(self) -> None:
        for run in self.runs:
            if run.worker is not None:
                run.worker.stop()

    def _set_lanes(self) -> None:
        lanes = []
        for k, run in enumerate(self.runs):
            offset = self.clock.offsets[k]
            intervals = [
                (r.start_ns - offset, r.span.end_time_unix_nano - offset, r.span.is_error) for r in run.calls
            ]
            lanes.append(Lane("AB"[k], intervals, LANE_COLOURS[k]))
        self.query_one(Lanes).set_lanes(lanes, self.clock.duration_ns)

    # -- drawing -------------------------------------------------------------------------------

    def _side(self) -> int:
        """The run in focus (its waterfall, or its terminal)."""
        focused = self.focused
        return 1 if focused is not None and focused.id in ("cmp-waterfall-b", "cmp-term-box-b") else 0

    def redraw(self) -> None:
        lanes = self.query_one(Lanes)
        lanes.position_ns = self.clock.position_ns
        for k, run in enumerate(self.runs):
            at = self.clock.at(k)
            if k < len(lanes.lanes) and run.calls:
                done, tokens_in, tokens_out = tokens_until(run.calls, at)
                lanes.lanes[k].note = f"{done}/{len(run.calls)} calls"
                del tokens_in, tokens_out
            elif k < len(lanes.lanes):
                lanes.lanes[k].note = "no calls"
        lanes.refresh()
        self.query_one(Transport).refresh()
        for k, (side, run) in enumerate(zip(SIDES, self.runs, strict=True)):
            waterfall = self.query_one(f"#cmp-waterfall-{side}", Waterfall)
            waterfall.refresh()
            timeline = self.clock.timelines[k]
            events = 0
            if run.terminal is not None and run.trace.cast_origin_ns is not None:
                events = run.terminal.cast.events_before(self.clock.at(k) - run.trace.cast_origin_ns)
                if run.shown is None or run.shown[1] != events:
                    self.query_one(f"#cmp-term-{side}", LabelledTerminalPane).show_events(events)
            if run.shown is None or run.shown[0] != timeline.selected:
                self._caption(k)
                waterfall.keep_selected_in_view()
            run.shown = (timeline.selected, events)

    def _caption(self, k: int) -> None:
        """The run's line above its waterfall: the selected span, when it started, how long."""
        run, timeline = self.runs[k], self.clock.timelines[k]
        span = run.tree.spans[timeline.selected]
        start = timeline.start_ns(timeline.selected) - self.clock.starts_at[k]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{'AB'[k]} ", style=f"bold {LANE_COLOURS[k]}")
        text.append(f"▸ +{start / 1e9:.3f} s · {format_duration(span.duration_ns)}  ")
        text.append(safe_text(span.name, one_line=True), style="bold")
        text.append(f"  {safe_text(span.kind, one_line=True)}", style="dim")
        if span.is_error:
            text.append(f"  ✗ {safe_text(span.status.message, one_line=True)}", style="#ff5f5f")
        title = self.pair.title_a if k == 0 else self.pair.title_b
        text.append(f"   {safe_text(title, one_line=True)}", style="dim")
        self.query_one(f"#cmp-cap-{SIDES[k]}", Static).update(text)

    def _tick(self) -> None:
        self.clock.tick()
        if not self.clock.master.playing and self._ticker is not None:
            self._ticker.pause()
        self.redraw()

    # -- actions -------------------------------------------------------------------------------

    def action_toggle_play(self) -> None:
        self.clock.toggle_play()
        if self._ticker is not None:
            if self.clock.master.playing:
                self._ticker.resume()
            else:
                self._ticker.pause()
        self.redraw()

    def action_step_boundary(self, direction: int) -> None:
        side = self.clock.step_boundary(direction)
        if side is not None:
            run = self.runs[side]
            if run.tree.reveal(self.clock.timelines[side].selected):
                self.query_one(f"#cmp-waterfall-{SIDES[side]}", Waterfall).rows_changed()
        self.redraw()

    def action_step_time(self, steps: int) -> None:
        self.clock.step_time(steps)
        self.redraw()

    def action_select(self, delta: int) -> None:
        k = self._side()
        waterfall = self.query_one(f"#cmp-waterfall-{SIDES[k]}", Waterfall)
        rows, timeline = waterfall.rows, self.clock.timelines[k]
        if not rows:
            return
        timeline.selected = step_selection(rows, timeline.selected, delta)
        self.redraw()

    def action_seek_span(self) -> None:
        k = self._side()
        self.clock.seek_span(k, self.clock.timelines[k].selected)
        self.redraw()

    def action_seek_to(self, fraction: float) -> None:
        self.clock.seek_fraction(fraction)
        self.redraw()

    def action_speed(self, direction: int) -> None:
        self.clock.change(lambda tl: tl.faster() if direction > 0 else tl.slower())
        self.redraw()

    def _go_to(self, k: int, row: int) -> None:
        run = self.runs[k]
        run.tree.reveal(row)
        self.query_one(f"#cmp-waterfall-{SIDES[k]}", Waterfall).rows_changed()
        self.clock.seek_span(k, row)
        self.redraw()

    def action_error(self, direction: int) -> None:
        k = self._side()
        found = self.runs[k].tree.next_error(self.clock.timelines[k].selected, direction)
        if found is None:
            self.notify(f"run {'AB'[k]} has no error spans (tab: the other run)", timeout=2)
            return
        self._go_to(k, found)

    def action_model_call(self, direction: int) -> None:
        k = self._side()
        rows, at = self.runs[k].call_positions, self.clock.timelines[k].selected
        if not rows:
            self.notify(f"run {'AB'[k]} has no model calls (tab: the other run)", timeout=2)
            return
        self._go_to(k, next_row(rows, at, direction))

    def action_align(self) -> None:
        anchor = ANCHORS[(ANCHORS.index(self.clock.anchor) + 1) % len(ANCHORS)]
        selected = [tl.selected for tl in self.clock.timelines]
        old = self.clock.master
        self.clock = PairClock(
            self.runs[0].times, self.runs[1].times, anchor, self._clock_fn, old.idle_limit_s
        )
        self.clock.master.speed_index = old.speed_index
        for tl, sel in zip(self.clock.timelines, selected, strict=True):
            tl.selected = sel
        for k, side in enumerate(SIDES):
            self.query_one(f"#cmp-waterfall-{side}", Waterfall).timeline = self.clock.timelines[k]
            self.runs[k].shown = None
        self.query_one(Transport).timeline = self.clock.master
        if self._ticker is not None:
            self._ticker.pause()
        self._set_lanes()
        self.clock.seek(self.clock.anchor_position())
        missing = [
            f"{'AB'[k]} has none: its start"
            for k, r in enumerate(self.runs)
            if r.times.anchors[anchor] is None
        ]
        self.notify(f"lined up at {anchor}" + (f" ({'; '.join(missing)})" if missing else ""), timeout=3)
        self.redraw()

    def action_toggle_idle(self) -> None:
        limit = None if self.clock.master.idle_limit_s is not None else self._idle_limit
        self.clock.change(lambda tl: tl.set_idle_limit(limit))
        self.redraw()

    def action_filter(self) -> None:
        box = self.query_one("#cmp-filter", Input)
        box.display = True
        box.focus()

    def action_zoom(self) -> None:
        if all(run.terminal is None for run in self.runs):
            self.notify("neither run has a terminal recording", timeout=2)
            return
        self.toggle_class("zoomed")
        if not self.has_class("zoomed"):
            self.query_one("#cmp-waterfall-a", Waterfall).focus()

    def action_diff(self) -> None:
        self.app.push_screen(DiffScreen(self.pair.comparison))

    def action_help(self) -> None:
        self.app.push_screen(KeysScreen("cab-trace replay: two runs on one clock", key_table(__doc__)))

    def action_back(self) -> None:
        box = self.query_one("#cmp-filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one("#cmp-waterfall-a", Waterfall).focus()
            return
        if len(self.app.screen_stack) > 2:
            self.clock.pause()
            self.app.pop_screen()

    # -- messages ------------------------------------------------------------------------------

    @on(Input.Changed, "#cmp-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        for side, run in zip(SIDES, self.runs, strict=True):
            run.tree.set_filter(event.value)
            self.query_one(f"#cmp-waterfall-{side}", Waterfall).rows_changed()
        self.redraw()

    @on(Input.Submitted, "#cmp-filter")
    def _filter_done(self) -> None:
        self.query_one("#cmp-waterfall-a", Waterfall).focus()

    @on(Waterfall.SpanClicked)
    def _clicked(self, event: Waterfall.SpanClicked) -> None:
        # A click focuses the waterfall it lands on before the message arrives.
        self.clock.timelines[self._side()].selected = event.index
        self.redraw()

    @on(Transport.SeekRequested)
    def _seek(self, event: Transport.SeekRequested) -> None:
        self.clock.seek_fraction(event.fraction)
        self.redraw()
