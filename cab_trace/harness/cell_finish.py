"""The phases after the agent: the task's check (``verify``) and ``cleanup`` (the agent's
containers, the run's config directory and home, and the workdir unless it is kept).

Separate from :mod:`cab_trace.harness.runner` because both run after the agent has gone and read
only the run's state; ``cleanup`` runs however the run ended. A mixin of
:class:`cab_trace.harness.runner.CellRunner`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Status, StatusCode

from cab_trace.harness import lifecycle
from cab_trace.harness.cell_base import PhaseBase
from cab_trace.harness.cell_helpers import display_path
from cab_trace.harness.output import OutputCapture
from cab_trace.harness.ownership import Scratch
from cab_trace.harness.runtime import LaunchSpec
from cab_trace.otel.convert import KIND_ATTRIBUTE


class FinishPhases(PhaseBase):
    """Checks the agent's work and cleans up after the run."""

    def _verify(self, tracer: Tracer, check: str, workdir: Path, home: Path | None = None) -> bool:
        """Run the task's check command in the runtime, as a ``verify`` span; True if it passed."""
        cfg = self.config
        with self._span(
            tracer,
            f"verify:{self.task.id}",
            {KIND_ATTRIBUTE: "verify", "command": self.redactor.text(check), "timeout_s": cfg.timeout_s or 0},
        ) as span:
            capture = OutputCapture(self.redactor)
            result = cfg.runtime.launch(
                LaunchSpec(
                    ["sh", "-c", check],
                    {},
                    workdir,
                    cfg.timeout_s,
                    self.run_id,
                    home=home,
                    owner=self._owner(),
                ),
                capture,
            )
            capture.finish()
            passed = result.exit_code == 0 and not result.timed_out
            span.set_attributes(
                {
                    "passed": passed,
                    "exit_code": result.exit_code,
                    "timed_out": result.timed_out,
                    "duration_s": round(result.duration_s, 3),
                    "stdout_tail": capture.tail("stdout"),
                    "stderr_tail": capture.tail("stderr"),
                }
            )
            if not passed:
                why = (
                    result.error
                    or (f"timed out after {cfg.timeout_s:g} s" if result.timed_out else None)
                    or f"exit code {result.exit_code}"
                )
                self._check_failure = why
                span.set_status(Status(StatusCode.ERROR, f"check failed: {why}"))
        return passed

    def _cleanup(self, tracer: Tracer, scratch_dir: Scratch | None) -> None:
        removed: list[str] = []
        kept: list[str] = []
        self._stop_model_proxy()  # stopped after the agent already, unless the launch never happened
        # A Ctrl-C now waits for the cleanup to finish (then ends the run as interrupted).
        with (
            lifecycle.shielded(),
            self._span(tracer, f"cleanup:{self.adapter.name}", {KIND_ATTRIBUTE: "cleanup"}) as span,
        ):
            removed.extend(self.config.runtime.cleanup())
            # Containers the engine could not be asked to remove (it went away) may still run
            # in the workdir: it stays, for `cab-trace gc` to remove with them.
            left = list(getattr(self.config.runtime, "left_behind", []))
            if left:
                span.set_attribute("left_for_gc", left)
                self.warnings.append(
                    f"container(s) {', '.join(left)} could not be removed (the Docker engine went away); "
                    "`cab-trace gc` removes them, and the run's workdir, once the engine is back"
                )
            if scratch_dir is not None:
                scratch = scratch_dir.path
                # The run's config directory and home go even when the workdir stays: they may hold
                # what the agent keeps of its credentials, and they are not the agent's work.
                for own in (scratch / "config", scratch / "home"):
                    if own.exists():
                        shutil.rmtree(own, ignore_errors=True)
                        removed.append(display_path(own))
                if left:
                    kept.append(display_path(scratch / "workdir"))  # for gc, with the containers
                elif self.config.keep_workdir:
                    scratch_dir.keep()  # the user's now, not a leftover for gc
                    kept.append(display_path(scratch / "workdir"))
                else:
                    scratch_dir.remove()  # the lock is let go only once the directory is gone
                    removed.append(display_path(scratch / "workdir"))
            span.set_attributes({"removed": removed, "kept": kept})
