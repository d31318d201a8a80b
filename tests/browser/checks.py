"""What every cell page must do in a real browser, checked against cab-trace replay's own parts:
the playhead moves as replay/timeline.py moves it, the terminal shows at each moment the text
the replay's terminal pane shows (replay.terminal's emulator, replay.widgets' screen_text), the
model calls are listed and open to their conversation, nothing is requested from the network and
nothing is logged as an error."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cab_trace.llm.summary import call_rows
from replay.load import LoadedTrace, load
from replay.terminal import Terminal
from replay.timeline import Timeline
from replay.tree import SpanTree
from replay.widgets.terminal_pane import screen_text
from tests.browser.client import Browser, missing

STATE = """(() => { const c = document.getElementById('clock'); return {
  t: Number(c.dataset.tNs), cursor: c.dataset.cursor, selected: Number(c.dataset.selected),
  speed: Number(c.dataset.speed), playing: c.dataset.playing === '1', text: c.textContent,
  terminal: window.cabPage.terminalText() }; })()"""


def browser_or_skip() -> Browser:
    """A browser, or (without chromium or playwright-core) a skip; in CI a failure."""
    why = missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests need it: {why}; .ci/run installs it")
        pytest.skip(why)
    return Browser()


@dataclass
class Replay:
    """The replay's view of a run: its timeline and, fully emulated, its terminal."""

    trace: LoadedTrace
    tree: SpanTree
    timeline: Timeline
    terminal: Terminal | None

    @classmethod
    def of(cls, run: Path) -> Replay:
        [trace] = load(run)
        tree = trace.tree or SpanTree(index=trace.index, rows=trace.rows)
        timeline = Timeline(times=(tree.starts, tree.ends))
        terminal = Terminal(trace.cast) if trace.cast is not None else None
        while terminal is not None and not terminal.done:
            terminal.advance(1 << 20)
        return cls(trace, tree, timeline, terminal)

    def screen_at(self, position_ns: float) -> list[str]:
        """What the replay's terminal pane shows with the playhead at ``position_ns``."""
        if self.terminal is None or self.trace.cast_origin_ns is None:
            return []
        t = self.timeline.origin_ns + position_ns - self.trace.cast_origin_ns
        screen = self.terminal.exact_screen_at(self.terminal.cast.events_before(t))
        assert screen is not None
        return [line.rstrip() for line in screen_text(screen).plain.split("\n")]


def fmt_time(ns: float) -> str:
    ms = ns / 1e6
    return f"{round(ms)} ms" if abs(ms) < 1000 else f"{ms / 1000:.3f} s"


def shown_screen(state: dict[str, Any]) -> list[str]:
    return [row.rstrip() for row in state["terminal"]]


def open_page(browser: Browser, page: Path) -> dict[str, Any]:
    browser.open(page)
    assert browser.eval("window.cabPage.ready.then(() => document.body.dataset.ready)") == "1"
    state: dict[str, Any] = browser.eval(STATE)
    return state


def check_page(browser: Browser, run: Path, page: Path, steps: int = 40) -> Replay:
    """The checks every page passes; returns the replay's view for more."""
    replay = Replay.of(run)
    timeline = replay.timeline
    state = open_page(browser, page)
    assert state["t"] == 0 and state["selected"] == timeline.selected
    assert shown_screen(state) == replay.screen_at(0)
    # → steps through span starts and ends exactly as the replay's timeline does.
    moved = 0
    for _ in range(min(steps, len(timeline.boundaries))):
        browser.press("ArrowRight")
        if not timeline.step_boundary(1):
            break
        moved += 1
        state = browser.eval(STATE)
        assert state["t"] == round(timeline.position_ns), moved
        assert state["selected"] == timeline.selected and state["cursor"] == str(timeline.cursor)
        assert shown_screen(state) == replay.screen_at(timeline.position_ns), f"after {moved} steps"
    assert moved == min(steps, len(timeline.boundaries) - 1)
    for key, call in (
        ("ArrowLeft", lambda: timeline.step_boundary(-1)),
        (".", lambda: timeline.step_time(1)),
    ):
        for _ in range(3):
            browser.press(key)
            call()
            state = browser.eval(STATE)
            assert state["t"] == round(timeline.position_ns), key
            assert state["text"].startswith(f"t = {fmt_time(timeline.position_ns)} / ")
            assert shown_screen(state) == replay.screen_at(timeline.position_ns), key
    browser.press(",")
    timeline.step_time(-1)
    assert browser.eval(STATE)["t"] == round(timeline.position_ns)
    # The end, and every moment the terminal changed on the way: the replay's screen each time.
    browser.press("End")
    timeline.seek(timeline.duration_ns)
    state = browser.eval(STATE)
    assert state["t"] == timeline.duration_ns
    assert shown_screen(state) == replay.screen_at(timeline.duration_ns)
    if replay.terminal is not None and replay.trace.cast_origin_ns is not None:
        offset = replay.trace.cast_origin_ns - timeline.origin_ns
        moments = sorted({offset + t for t in replay.terminal.cast.times_ns})
        for t in moments[:: max(1, len(moments) // 25)]:
            browser.eval("window.cabPage.seek(arg)", t)
            assert shown_screen(browser.eval(STATE)) == replay.screen_at(t), t
    # Speed, play and pause (at 0.25x, so that even a short trace is still playing when paused).
    browser.press("Home")
    browser.press("+")
    assert browser.eval(STATE)["speed"] == 2
    browser.press("-", times=3)
    assert browser.eval(STATE)["speed"] == 0.25
    browser.press(" ")
    assert browser.eval(STATE)["playing"]
    time.sleep(0.1)
    browser.press(" ")
    state = browser.eval(STATE)
    assert not state["playing"] and state["t"] > 0
    browser.press("+", times=2)
    assert browser.eval(STATE)["speed"] == 1
    # The scrubber seeks.
    browser.eval(
        "(() => { const s = document.getElementById('scrubber'); s.value = '500000';"
        " s.dispatchEvent(new Event('input')); })()"
    )
    assert abs(browser.eval(STATE)["t"] - timeline.duration_ns / 2) <= timeline.duration_ns / 1e6 + 1
    check_calls(browser, replay)
    seen = browser.call("seen")
    assert seen == {"console": [], "pageErrors": [], "blocked": []}, seen
    return replay


def check_calls(browser: Browser, replay: Replay) -> None:
    """The Model calls table lists every call; the last one opens to its conversation."""
    calls = call_rows(list(replay.trace.spans))
    rows = browser.eval(
        "Array.from(document.querySelectorAll('#calls-table tbody tr[data-call]'))"
        ".map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
    )
    assert len(rows) == len(calls)
    for row, call in zip(rows, calls, strict=True):
        assert row[0].endswith(str(call.index))
        assert row[2] == (call.request_hash[:12] or "–")
        assert row[3] == ("–" if call.input_tokens is None else f"{call.input_tokens:,}")
        assert row[4] == ("–" if call.output_tokens is None else f"{call.output_tokens:,}")
    if not calls:
        return
    last = len(calls) - 1
    browser.call("click", selector=f"#calls-table tr[data-call='{last}'] button.expand")
    text = browser.eval("document.querySelector('#calls-table tr.conv-row').textContent")
    assert "new this turn" in text and "answer" in text
    assert calls[-1].request_hash in text
