"""The thread that owns the replay's terminal emulator, so that the UI never waits for it.

The UI asks for a moment (:meth:`TerminalWorker.request`, latest request wins) and gets a
:class:`~replay.emulator.Screen` back through ``deliver`` (which must be safe to call from
another thread: Textual's ``post_message`` is). Between requests the thread runs the
background pass that lays down keyframes, and when a screen it delivered was approximate it
delivers the exact one as soon as the pass gets there. No Textual here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from replay.emulator import Screen, error_screen, throughput
from replay.terminal import FEED_SLICE, MIN_BUDGET, Terminal

SEEK_SECONDS = 0.06
"""Work allowed to answer one request (the goal is a screen within 200 ms of a key)."""


class TerminalWorker:
    def __init__(
        self, terminal: Terminal, deliver: Callable[[Screen], object], calibrate: bool = True
    ) -> None:
        self.terminal = terminal
        self._deliver = deliver
        self._calibrate = calibrate
        self._cond = threading.Condition()
        self._wanted: int | None = None
        self._stopped = False
        self._shown: Screen | None = None
        self._background_failed = False
        # A daemon thread: quitting the replay never waits for the emulator.
        self._thread = threading.Thread(target=self.run, name="terminal-emulator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self, events: int) -> None:
        """Show the screen after ``events`` screen events (any thread)."""
        with self._cond:
            self._wanted = events
            self._cond.notify()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to end; by default without waiting (quitting must not wait for it)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if timeout is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _interrupted(self) -> bool:
        return self._stopped or self._wanted is not None

    def _idle(self) -> bool:
        shown = self._shown
        refine = shown is not None and not shown.exact and self.terminal.emulated >= shown.events
        return (self.terminal.done or self._background_failed) and not refine

    def run(self) -> None:
        """The thread's body: answer requests; between them, the background pass."""
        if self._calibrate:
            self.terminal.budget_bytes = max(MIN_BUDGET, int(throughput() * SEEK_SECONDS))
            self.terminal.seek_seconds = SEEK_SECONDS
        while True:
            with self._cond:
                while not self._stopped and self._wanted is None and self._idle():
                    self._cond.wait()
                if self._stopped:
                    return
                wanted, self._wanted = self._wanted, None
            try:
                self._step(wanted)
            except Exception as exc:  # noqa: BLE001 (never a traceback in the UI: the pane says what failed)
                cast = self.terminal.cast
                self._send(error_screen(cast.width, cast.height, f"{type(exc).__name__}: {exc}", wanted or 0))
                if wanted is None:
                    self._background_failed = True  # no more keyframes; requests are still answered

    def _step(self, wanted: int | None) -> None:
        terminal = self.terminal
        if wanted is not None:
            screen = terminal.screen_at(wanted, self._interrupted)
            if screen is not None:
                self._send(screen)
            return
        shown = self._shown
        if shown is not None and not shown.exact and terminal.emulated >= shown.events:
            exact = terminal.exact_screen_at(shown.events, self._interrupted)
            if exact is not None:
                self._send(exact)
            return
        if not self._background_failed:
            terminal.advance(FEED_SLICE, self._interrupted)

    def _send(self, screen: Screen) -> None:
        self._shown = screen
        self._deliver(screen)
