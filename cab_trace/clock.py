"""One clock for everything a run records.

A run reads the wall clock once, when it starts, and places every time it records after that
(span starts and ends, terminal-recording events, model-call timings, where the agent's own
spans go) on the monotonic clock counted from that moment. A step of the wall clock during a
run (NTP, a suspended VM) then moves nothing relative to anything else: durations, the order of
events and the terminal's sync with the spans stay what they were.

The agent's own spans come with its wall-clock times; :meth:`RunClock.wall_shift_ns` says how
far the wall clock has moved from the run's clock since the run began, and the receiver takes
that off their times so they land where they happened.

Pure (stdlib only).
"""

from __future__ import annotations

import os
import time


class RunClock:
    """Unix-epoch nanoseconds on a monotonic clock, anchored to the wall clock once."""

    __slots__ = ("anchor_mono_ns", "anchor_wall_ns")

    def __init__(self) -> None:
        self.anchor_mono_ns = time.monotonic_ns()
        self.anchor_wall_ns = time.time_ns()

    def now_ns(self) -> int:
        """Now, as Unix-epoch nanoseconds on the run's clock."""
        return self.anchor_wall_ns + time.monotonic_ns() - self.anchor_mono_ns

    def at_ns(self, monotonic_ns: int) -> int:
        """A ``time.monotonic_ns()`` reading on the run's clock."""
        return self.anchor_wall_ns + monotonic_ns - self.anchor_mono_ns

    def at_s(self, monotonic_s: float) -> int:
        """A ``time.monotonic()`` reading on the run's clock."""
        return self.at_ns(round(monotonic_s * 1e9))

    def wall_shift_ns(self) -> int:
        """How far the wall clock is now from the run's clock (positive: it stepped forward)."""
        return time.time_ns() - self.now_ns()


#: ``CAB_TRACE_TEST_WALL_STEP_FILE``: a file holding a number of seconds by which this
#: process's wall clock (``time.time``/``time.time_ns``) is off from the system's while the
#: file exists. For the suite only: it steps the wall clock mid-run, as NTP or a resumed VM
#: does, so a test can check that nothing recorded moves.
STEP_FILE_ENV = "CAB_TRACE_TEST_WALL_STEP_FILE"


def install_test_wall_step(environ: dict[str, str] | None = None) -> bool:
    """Make ``time.time``/``time.time_ns`` follow the step file, when the variable names one.
    Call before anything binds ``time.time_ns`` (``from time import time_ns``). True if installed."""
    path = (os.environ if environ is None else environ).get(STEP_FILE_ENV)
    if not path:
        return False
    real_ns = time.time_ns

    def offset_ns() -> int:
        try:
            with open(path, encoding="ascii") as handle:
                return round(float(handle.read().strip() or 0) * 1e9)
        except (OSError, ValueError):
            return 0

    def stepped_ns() -> int:
        return real_ns() + offset_ns()

    def stepped() -> float:
        return stepped_ns() / 1e9

    time.time_ns = stepped_ns
    time.time = stepped
    return True
