"""Record one cell with progress on stderr and the run directory on stdout (`run` and `demo`)."""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, TextIO

from cab_trace.cli.common import PROG, stderr, warn
from cab_trace.cli.console import Console, run_hints, summary_lines
from cab_trace.textsafe import safe_text

if TYPE_CHECKING:
    from cab_trace.harness.cell_config import CellConfig, RunOutcome
    from cab_trace.harness.status import Snapshot


def record(config: CellConfig, echo: bool, quiet: bool) -> int:
    """Run the cell under signal handling; report how it goes and how it ended; return the exit code."""
    from cab_trace.harness import lifecycle
    from cab_trace.harness.runner import CellRunner

    # A live status line needs a terminal, and an agent drawing a full screen there (--tty with
    # --echo) must not have a line of ours drawn into it.
    live = _is_terminal(sys.stderr) and not (echo and config.tty)
    console = Console(sys.stderr, live=live, quiet=quiet)
    progress = None if quiet else (lambda msg: console.line(f"  {safe_text(msg, one_line=True)}"))
    runner = CellRunner(
        config,
        echo=(lambda _stream, text: console.echo(safe_text(text))) if echo else None,
        progress=progress,
    )
    task = safe_text(runner.redactor.text(runner.task.id), one_line=True)
    where = f"({config.runtime.name} runtime) into {runner.run_dir}/"
    console.line(f"{PROG}: recording {runner.adapter.name} on {task} {where}")
    proxy = config.model_proxy and bool(runner.values.get("endpoint"))
    if not (echo and config.tty):
        console.start(runner.status, proxy)
    # Ctrl-C or SIGTERM: stop the agent gracefully; a second one: kill it at once, and say so.
    with lifecycle.handle_signals(notify=lambda msg: console.line(f"{PROG}: {msg}")):
        try:
            outcome = runner.run()
        except KeyboardInterrupt as exc:
            console.stop()
            for warning in vars(exc).get("warnings", []):
                warn(warning)
            signum = getattr(exc, "signum", signal.SIGINT)
            said = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}.get(signum, "interrupted")
            how = "killed at once (second signal)" if lifecycle.hurried() else "stopped"
            trace = runner.run_dir / "trace.jsonl"
            if vars(exc).get("while_exporting"):
                stderr(f"{PROG}: {said} while sending spans; the run had ended and {trace} is complete")
            else:
                stderr(f"{PROG}: {said}; the agent was {how} and the trace so far is in {trace}")
            return 128 + int(signum)
        finally:
            console.stop()
    for warning in outcome.warnings:
        warn(warning)
    for leak in outcome.leaks:
        stderr(f"{PROG}: error: leak check: {leak}")  # the hint (where it came from) follows the verdict
    report(outcome, quiet, runner.status.snapshot(), proxy)
    return outcome.exit_code


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (OSError, ValueError):
        return False


def report(outcome: RunOutcome, quiet: bool, snapshot: Snapshot | None = None, proxy: bool = False) -> None:
    """The last lines of a run on stderr, and its run directory on stdout."""
    if not quiet:
        for line in summary_lines(outcome, snapshot, proxy):
            stderr(line)
        for line in run_hints(outcome):
            stderr(line)
    print(outcome.run_dir, flush=True)
