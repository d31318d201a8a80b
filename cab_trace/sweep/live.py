"""The sweep's live view on stderr: cells done / running / failed, elapsed, an ETA, and the last
few finished cells with pass or fail.

On a terminal it is a block of lines redrawn in place (at most a few times a second), with
lasting messages (a cause of failure, said once) printed above it; elsewhere (a log, CI) it is
plain lines: one per finished cell and a progress line now and then. Every string that came
from a task, an adapter or a trace is escaped before it is written, and lines are cut to the
terminal's width so that a redraw never scrolls.

Pure but for the stream it writes to; the clock is injected so that tests can fake it.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from cab_trace.show import safe_text

_REDRAW_S = 0.25
_PLAIN_PROGRESS_S = 30.0
_RECENT = 5


def clock_text(seconds: float | None) -> str:
    """``1:02:03``, ``2:03``, or an en dash when unknown."""
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return "\u2013"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def verdict(state: str, passed: bool | None) -> str:
    if state == "done":
        return {True: "pass", False: "FAIL"}.get(passed, "done")  # type: ignore[arg-type]
    return {"failed": "ERROR", "interrupted": "stopped"}.get(state, state)


class LiveView:
    """Progress of one sweep. Call :meth:`started` / :meth:`finished` as cells go, :meth:`tick`
    often (it redraws only when due), :meth:`note` for a message that must stay, and
    :meth:`close` at the end."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool,
        title: str,
        to_run: int,
        already: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] | None = None,
        enabled: bool = True,
    ) -> None:
        self.stream = stream
        self.tty = tty
        self.title = safe_text(title, one_line=True)
        self.to_run = to_run
        self.already = already or {}
        self.clock = clock
        self.width = width or (lambda: shutil.get_terminal_size((100, 24)).columns)
        self.enabled = enabled
        self.started_at = clock()
        self.running = 0
        self.finished_count = 0
        self.by_state: dict[str, int] = {"done": 0, "failed": 0, "interrupted": 0}
        self.passed = 0
        self.recent: deque[str] = deque(maxlen=_RECENT)
        self._drawn = 0  # lines of the block now on the screen
        self._last_draw = float("-inf")
        self._last_plain = clock()
        self._dirty = True

    # -- events ------------------------------------------------------------------------------

    def started(self, label: str) -> None:
        self.running += 1
        self._dirty = True

    def finished(
        self, label: str, state: str, passed: bool | None, wall_s: float | None, why: str = ""
    ) -> None:
        self.running = max(0, self.running - 1)
        self.finished_count += 1
        self.by_state[state] = self.by_state.get(state, 0) + 1
        self.passed += passed is True and state == "done"
        took = f"  {wall_s:.1f} s" if wall_s is not None else ""
        why_text = f"  {safe_text(why, one_line=True)}" if why else ""
        line = f"{verdict(state, passed):<7} {safe_text(label, one_line=True)}{took}{why_text}"
        self.recent.append(line)
        self._dirty = True
        if self.enabled and not self.tty:
            self._write(f"cab-trace: sweep: [{self.finished_count}/{self.to_run}] {line}")

    def note(self, message: str) -> None:
        """A message that stays (above the live block on a terminal). ``message`` is escaped."""
        if not self.enabled:
            return
        text = "cab-trace: sweep: " + safe_text(message, one_line=True)
        if self.tty:
            self._clear()
            self._write(text)
            self._dirty = True
            self.tick(force=True)
        else:
            self._write(text)

    # -- drawing -----------------------------------------------------------------------------

    def eta_s(self) -> float | None:
        remaining = self.to_run - self.finished_count
        if remaining <= 0:
            return 0.0
        if not self.finished_count:
            return None
        elapsed = self.clock() - self.started_at
        return elapsed / self.finished_count * remaining

    def status_line(self) -> str:
        done = self.by_state.get("done", 0) + self.already.get("done", 0)
        failed = self.by_state.get("failed", 0) + self.already.get("failed", 0)
        parts = [
            f"{self.finished_count}/{self.to_run} finished",
            f"{self.running} running",
            f"{done} done ({self.passed} passed)",
            f"{failed} failed",
        ]
        if self.by_state.get("interrupted"):
            parts.append(f"{self.by_state['interrupted']} stopped")
        parts += [f"{clock_text(self.clock() - self.started_at)} elapsed", f"ETA {clock_text(self.eta_s())}"]
        return f"sweep {self.title}: " + " \u00b7 ".join(parts)

    def lines(self) -> list[str]:
        return [self.status_line(), *(f"  {r}" for r in self.recent)]

    def tick(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not self.tty:
            if force or now - self._last_plain >= _PLAIN_PROGRESS_S:
                self._last_plain = now
                self._write("cab-trace: " + self.status_line())
            return
        if not force and (not self._dirty and now - self._last_draw < 1.0):
            return
        if not force and now - self._last_draw < _REDRAW_S:
            return
        width = max(20, self.width() - 1)
        block = [line[:width] for line in self.lines()]
        self._clear()
        self._write("\n".join(block))
        self._drawn = len(block)
        self._last_draw = now
        self._dirty = False

    def _clear(self) -> None:
        if self.tty and self._drawn:
            # The cursor is on the line below the block: up to its first line, erase to the end.
            self._raw(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def close(self) -> None:
        """Leave the last state on the screen (a terminal) or say it once more (plain)."""
        if not self.enabled:
            return
        if self.tty:
            self.tick(force=True)
            self._drawn = 0  # it stays
        else:
            self._write("cab-trace: " + self.status_line())

    def _write(self, text: str) -> None:
        self._raw(text + "\n")

    def _raw(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a terminal that went away is no error
            self.stream.write(text)
            self.stream.flush()
