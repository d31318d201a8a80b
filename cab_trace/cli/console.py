"""What `cab-trace run` and `demo` say on stderr while a run goes and when it ends.

On a terminal, one status line stays at the bottom and is redrawn a few times a second:
elapsed time, the phase, model calls and tokens so far, the last tool the model asked for,
failed calls and why. Lines the run prints (each phase as it ends, the agent's output with
``--echo``) go above it. Not on a terminal (a log file, CI), the same facts come as plain
lines: each phase as it ends, and a status line every :data:`PLAIN_EVERY_S` seconds while a
phase runs long. At the end, a summary: the verdict, the check, the exit code, calls,
tokens and the wall time, and when most model calls failed, why.

Every string that comes from the task, the agent or the model is escaped before it is
printed (:func:`cab_trace.show.safe_text`, the escaping `show` uses), so none can move the
cursor or retitle the terminal.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from cab_trace.textsafe import safe_text

if TYPE_CHECKING:
    from cab_trace.harness.cell_config import RunOutcome
    from cab_trace.harness.status import LiveStatus, Snapshot

#: How often the status line is redrawn on a terminal.
REDRAW_S = 0.25
#: Not on a terminal: a status line this often while a phase runs (the phase lines come anyway).
PLAIN_EVERY_S = 30.0
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
PHASES = {
    "starting": "starting",
    "task_setup": "setting up the task",
    "adapter_run": "starting the agent",
    "container": "agent running",
    "blast_radius": "recording what changed",
    "verify": "running the task's check",
    "cleanup": "cleaning up",
}


def clock(seconds: float) -> str:
    """``0:42``, ``12:03``, ``1:02:03``."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def wall(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else clock(seconds)


def tokens_text(snapshot: Snapshot) -> str:
    if snapshot.input_tokens is None or snapshot.output_tokens is None:
        return f"tokens unknown ({snapshot.without_usage} call(s) reported none)"
    return f"tokens {snapshot.input_tokens:,} in / {snapshot.output_tokens:,} out"


def calls_text(snapshot: Snapshot) -> str:
    text = f"{snapshot.calls} model call{'s' if snapshot.calls != 1 else ''}"
    if snapshot.failed:
        why = f": {snapshot.reasons[0][0]}" if snapshot.reasons else ""
        text += f" ({snapshot.failed} failed{why})"
    return text


def status_text(snapshot: Snapshot, proxy: bool, spin: int = 0) -> str:
    """The live status line (without colour; cut by the caller)."""
    parts = [
        f"{SPINNER[spin % len(SPINNER)]} {clock(snapshot.elapsed_s)}",
        PHASES.get(snapshot.phase, snapshot.phase),
    ]
    if proxy:
        parts.append(calls_text(snapshot))
        if snapshot.calls > snapshot.failed:  # tokens come from calls that went through
            parts.append(tokens_text(snapshot))
        if snapshot.last_tool:
            parts.append(f"last tool: {snapshot.last_tool}")
    return safe_text(" · ".join(parts), one_line=True)


def failed_calls_line(snapshot: Snapshot) -> str | None:
    """``12 of 12 model calls failed: connection refused to 127.0.0.1:8999`` when most did."""
    if not snapshot.most_failed:
        return None
    why = snapshot.reasons[0][0] if snapshot.reasons else "see `cab-trace show`"
    others = sum(n for _, n in snapshot.reasons[1:])
    more = f" ({others} for other reasons)" if others else ""
    return safe_text(f"{snapshot.failed} of {snapshot.calls} model calls failed: {why}{more}", one_line=True)


#: What to do about the commonest reasons calls fail (matched in the reason's words).
CALL_HINTS = (
    (("connection refused", "host not found", "timed out", "could not connect"),
     "is the model server up at that address? it is --endpoint (or $CAB_ENDPOINT)"),
    (("HTTP 401", "HTTP 403"), "the endpoint refused the key: check the variable --key-env names (CAB_KEY)"),
    (("HTTP 404",), "check the endpoint's path (often .../v1) and the model id (--model)"),
    (("HTTP 429",), "the endpoint is rate limiting: fewer runs at once, or a higher limit"),
)  # fmt: skip


def failed_calls_hint(snapshot: Snapshot) -> str | None:
    if not snapshot.most_failed or not snapshot.reasons:
        return None
    why = snapshot.reasons[0][0]
    return next((hint for words, hint in CALL_HINTS if any(w in why for w in words)), None)


def self_command() -> str:
    """How to run this cab-trace again from a shell: ``cab-trace`` when that is the one on PATH,
    else the path of the one running (``.venv/bin/cab-trace``), else ``python -m cab_trace``."""
    argv0 = sys.argv[0] if sys.argv else ""
    running = os.path.realpath(argv0) if argv0 and os.path.basename(argv0) == "cab-trace" else None
    on_path = shutil.which("cab-trace")
    if running and on_path and os.path.realpath(on_path) == running:
        return "cab-trace"
    if running:
        shown = os.path.relpath(argv0) if not os.path.relpath(argv0).startswith("../..") else argv0
        return shlex.quote(shown if os.sep in shown else f".{os.sep}{shown}")
    return f"{shlex.quote(sys.executable)} -m cab_trace"


class Console:
    """The run's output on ``stream`` (stderr). ``live``: a redrawn status line (a terminal)."""

    def __init__(
        self,
        stream: TextIO,
        live: bool,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
        plain_every_s: float = PLAIN_EVERY_S,
    ) -> None:
        self.stream = stream
        self.live = live and not quiet
        self.quiet = quiet
        self._clock = clock
        self._plain_every_s = plain_every_s
        self._lock = threading.Lock()
        self._shown = False  # a status line is on screen
        self._mid_line = False  # echoed output ended without a newline: no status line under it
        self._status: LiveStatus | None = None
        self._proxy = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._spin = 0
        self._last_plain = 0.0
        self._last_phase = ""

    # -- output --------------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a terminal that has gone: the run dir has it all
            self.stream.write(text)
            self.stream.flush()

    def _clear(self) -> None:
        if self._shown:
            self._write("\r\x1b[K")
            self._shown = False

    def _draw(self) -> None:
        if not self.live or self._status is None or self._mid_line:
            return
        width = shutil.get_terminal_size((80, 24)).columns
        # The phase, the last tool step and errors come from the run: escaped, never obeyed.
        line = safe_text(status_text(self._status.snapshot(), self._proxy, self._spin), one_line=True)
        if len(line) >= width:
            line = line[: max(width - 2, 0)] + "…"
        self._write("\r\x1b[K\x1b[2m" + line + "\x1b[0m")
        self._shown = True

    def line(self, message: str) -> None:
        """A line of cab-trace's own (escaped by the caller where it holds run data)."""
        if self.quiet:
            return
        with self._lock:
            self._clear()
            # Escaped here as well as by callers (escaping is idempotent): no line of ours can
            # carry a task's, an adapter's or the agent's control sequences to the terminal.
            self._write(safe_text(message) + "\n")
            self._draw()

    def echo(self, text: str) -> None:
        """The agent's (redacted) output, as it comes (``--echo``)."""
        with self._lock:
            self._clear()
            self._write(text)
            self._mid_line = not text.endswith("\n")
            self._draw()

    # -- the status line -----------------------------------------------------------------------

    def start(self, status: LiveStatus, proxy: bool) -> None:
        """Show ``status`` until :meth:`stop`: redrawn (live), or a plain line now and then."""
        self._status, self._proxy = status, proxy
        if self.quiet:
            return
        self._last_plain = self._clock()
        self._thread = threading.Thread(target=self._run, name="cab-trace-console", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = REDRAW_S if self.live else 1.0
        while not self._stop.wait(interval):
            with self._lock:
                if self.live:
                    self._spin += 1
                    self._draw()
                else:
                    self._plain_tick()

    def _plain_tick(self) -> None:
        assert self._status is not None
        snapshot = self._status.snapshot()
        if snapshot.phase != self._last_phase:
            self._last_phase, self._last_plain = snapshot.phase, self._clock()
            return
        if self._clock() - self._last_plain >= self._plain_every_s:
            self._last_plain = self._clock()
            text = status_text(snapshot, self._proxy).split(" ", 1)[1]  # no spinner in a log
            self._write(f"  … {safe_text(text, one_line=True)}\n")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            self._clear()

    # -- the end -------------------------------------------------------------------------------

    def summary(self, outcome: RunOutcome, snapshot: Snapshot | None, proxy: bool) -> list[str]:
        """The last lines: verdict and facts, why the calls failed, the trace, how to look at it."""
        return summary_lines(outcome, snapshot, proxy)


def summary_lines(outcome: RunOutcome, snapshot: Snapshot | None, proxy: bool) -> list[str]:
    """What a run came to, for stderr. Trace text (messages, reasons) is escaped."""
    verdict = "run ok" if outcome.exit_code == 0 else f"run FAILED: {outcome.message}"
    facts = []
    if outcome.check_passed is False:
        check = f"task check FAILED: {outcome.check_message or 'it did not pass'}"
        verdict = f"run finished, {check}" if outcome.exit_code == 0 else f"{verdict}; {check}"
    elif outcome.check_passed is True:
        facts.append("✓ check passed")
    else:
        facts.append("no check")
    if outcome.agent_exit_code is not None:
        facts.append(f"exit {outcome.agent_exit_code}")
    if snapshot is not None and proxy:
        facts.append(
            calls_text(snapshot).split(" (")[0] + (f" ({snapshot.failed} failed)" if snapshot.failed else "")
        )
        if snapshot.calls > snapshot.failed:
            facts.append(tokens_text(snapshot))
    if snapshot is not None:
        facts.append(f"wall {wall(snapshot.elapsed_s)}")
    lines = [safe_text(f"cab-trace: {verdict} · " + " · ".join(facts), one_line=True)]
    if snapshot is not None and (failed := failed_calls_line(snapshot)):
        lines.append(f"  {failed}")
        if hint := failed_calls_hint(snapshot):
            lines.append(f"  hint: {hint}")
    return lines


def run_hints(outcome: RunOutcome) -> list[str]:
    """Where the trace is, and commands that work when pasted."""
    me = self_command()
    where = shlex.quote(str(outcome.run_dir))
    lines = [f"  trace {outcome.trace_id} in {safe_text(str(outcome.trace_path), one_line=True)}"]
    if outcome.hint:
        lines.append(f"  hint: {safe_text(outcome.hint, one_line=True)}")
    lines.append(f"  look at it: {me} replay {where}")
    lines.append(f"          or: {me} show {where}")
    return lines
