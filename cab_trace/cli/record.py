"""Record one cell with progress on stderr and the run directory on stdout (`run` and `demo`)."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

from cab_trace.cli.common import PROG, stderr, warn
from cab_trace.textsafe import safe_text

if TYPE_CHECKING:
    from cab_trace.harness.runner import CellConfig, RunOutcome


def record(config: CellConfig, echo: bool, quiet: bool) -> int:
    """Run the cell under signal handling; report how it ended; return the exit code."""
    from cab_trace.harness import lifecycle
    from cab_trace.harness.runner import CellRunner

    def show_output(stream: str, text: str) -> None:
        sys.stderr.write(safe_text(text))  # the agent's escapes shown as text, never obeyed
        sys.stderr.flush()

    progress = None if quiet else (lambda msg: stderr(f"  {msg}"))
    runner = CellRunner(config, echo=show_output if echo else None, progress=progress)
    if not quiet:
        stderr(
            f"{PROG}: recording {runner.adapter.name} on {runner.redactor.text(runner.task.id)} "
            f"({config.runtime.name} runtime) into {runner.run_dir}/"
        )
    # Ctrl-C or SIGTERM: stop the agent gracefully; a second one: kill it at once, and say so.
    with lifecycle.handle_signals(notify=lambda msg: stderr(f"{PROG}: {msg}")):
        try:
            outcome = runner.run()
        except KeyboardInterrupt as exc:
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
    for warning in outcome.warnings:
        warn(warning)
    for leak in outcome.leaks:
        stderr(f"{PROG}: error: leak check: {leak}")  # the hint (where it came from) follows the verdict
    report(outcome, quiet)
    return outcome.exit_code


def report(outcome: RunOutcome, quiet: bool) -> None:
    """The last lines of a run on stderr, and its run directory on stdout."""
    if not quiet:
        verdict = "ok" if outcome.exit_code == 0 else f"FAILED: {outcome.message}"
        if outcome.check_passed is False:  # the task was not done: never "run ok"
            check = f"task check FAILED: {outcome.check_message or 'it did not pass'}"
            verdict = f"finished, {check}" if outcome.exit_code == 0 else f"{verdict}; {check}"
        stderr(f"{PROG}: run {verdict}; trace {outcome.trace_id} in {outcome.trace_path}")
        if outcome.hint:
            stderr(f"  hint: {outcome.hint}")
        stderr(f"  look at it: cab-trace replay {outcome.run_dir}  (or: cab-trace show {outcome.run_dir})")
    print(outcome.run_dir, flush=True)
