"""Runs one benchmark cell and records it as one trace::

    run (kind=run)            cell identity
    ├─ task_setup             prepare:<task>
    ├─ adapter_run            <adapter>:<task>
    │  ├─ tool_call           applied_plugins
    │  └─ container           <adapter>:launch
    └─ cleanup                cleanup:<adapter>

Every secret the harness knows of (the key, secret-named variables of the agent's
environment, ``--secret-env`` values, OTLP header values) is given to the redactor before
the first span ends, so no span, tail or file carries one.

The runner is split by job: :mod:`~cab_trace.harness.cell_config` (what a run is given and gives
back), :mod:`~cab_trace.harness.cell_helpers` (standalone helpers),
:mod:`~cab_trace.harness.cell_base` (the run's state and the phase span),
:mod:`~cab_trace.harness.cell_launch` (the agent's launch and its recording) and
:mod:`~cab_trace.harness.cell_finish` (verify and cleanup). This module keeps the run itself
(checks up front, the run span, the phases in order, the end-of-run leak check) and re-exports
the public names of the others, so their old import paths still work.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Span, Status, StatusCode

from cab_trace.clock import RunClock
from cab_trace.errors import AgentNotInstalled, CabTraceError, UsageError
from cab_trace.harness import hardening, lifecycle
from cab_trace.harness.adapters import (
    Adapter,
    build_argv,
    build_env,
    build_files,
    choose_plugins,
    load_adapter,
)
from cab_trace.harness.cell_base import ProgressFn
from cab_trace.harness.cell_config import DEFAULT_TIMEOUT_S, CellConfig, RunOutcome
from cab_trace.harness.cell_finish import FinishPhases
from cab_trace.harness.cell_helpers import (
    CONTAINER_CONFIG_DIR,
    MAX_SLUG,
    _failure_message,
    _os_failure,
    _scratch_dirs,
    _slug,
    _value_source,
    display_path,
    handed_secrets,
    header_secrets,
    write_adapter_files,
)
from cab_trace.harness.cell_launch import LaunchPhase
from cab_trace.harness.changes import DIFF_FILE_NAME, record_changes
from cab_trace.harness.crossing import check_launch, check_option_injection, check_text
from cab_trace.harness.output import EchoFn
from cab_trace.harness.ownership import Scratch, collect_scratch
from cab_trace.harness.runtime import LaunchResult
from cab_trace.harness.status import LiveStatus
from cab_trace.harness.task import TASK_FILE, Task
from cab_trace.model import TRACE_FILE_NAME, AttrValue
from cab_trace.otel.convert import KIND_ATTRIBUTE
from cab_trace.otel.setup import Pipeline, build_pipeline
from cab_trace.redact import Redactor, secrets_from_env
from cab_trace.redact.scan import leak_check

if TYPE_CHECKING:
    from cab_trace.harness.model_proxy import ModelProxy
    from cab_trace.otel.model_calls import ModelCallSpans

# What other code imports from here (the names that moved keep their old import path).
__all__ = [
    "CONTAINER_CONFIG_DIR",
    "DEFAULT_TIMEOUT_S",
    "INTERRUPTED_OTLP_WAIT_S",
    "MAX_SLUG",
    "CellConfig",
    "CellRunner",
    "ProgressFn",
    "RunOutcome",
    "display_path",
    "header_secrets",
    "write_adapter_files",
]

#: After an interrupt, how long a collector may take to accept the spans still queued for it.
INTERRUPTED_OTLP_WAIT_S = 1.0


class CellRunner(LaunchPhase, FinishPhases):
    """Prepares, runs and records one cell. Construct, then call :meth:`run` once."""

    def __init__(self, config: CellConfig, echo: EchoFn | None = None, progress: ProgressFn | None = None):
        self.config = config
        self._echo = echo
        self._progress = progress or (lambda _msg: None)
        # Everything that can be wrong with the command line is found here, before anything is written.
        self.task = Task.load(config.task_dir)
        self.adapter: Adapter = load_adapter(config.adapter)
        if self.adapter.takes_command and not config.command:
            raise UsageError(
                f"adapter {self.adapter.name} needs the agent's command after --",
                hint="e.g. cab-trace run --adapter command --task DIR -- python agent.py",
            )
        if config.command and not self.adapter.takes_command:
            raise UsageError(
                f"adapter {self.adapter.name} builds its own command; "
                f"drop the arguments after -- or use --adapter command"
            )
        self.key = config.environ.get(config.key_env) or None
        self._explicit_secrets = [v for v in [self.key] if v]
        for name in config.secret_envs:
            value = config.environ.get(name)
            if not value:
                raise UsageError(f"--secret-env {name}: ${name} is not set")
            self._explicit_secrets.append(value)
        self.values: dict[str, str | None] = {
            **self.adapter.vars,
            **config.variables,
            "model": config.model,
            "prompt": self.task.prompt,
            "key": self.key,
            "endpoint": config.endpoint or config.environ.get("CAB_ENDPOINT") or None,
            "task_id": self.task.id,
            "workdir": None,
            "config_dir": None,
        }
        for name, value in self.values.items():
            if value is not None and name not in ("prompt", "task_id"):  # task.toml's are checked
                check_text(value, _value_source(name))
        if config.endpoint and not self.adapter.uses("endpoint"):
            raise UsageError(
                f"--endpoint: adapter {self.adapter.name} has no use for an endpoint ({{endpoint}} appears "
                "nowhere in it), so the agent would not use it",
                hint="leave --endpoint off, or use an adapter that takes one",
            )
        unknown_vars = sorted(set(config.variables) - set(self.adapter.vars))
        if unknown_vars:
            raise UsageError(
                f"--var {unknown_vars[0]}: adapter {self.adapter.name} has no such variable",
                hint=f"its variables: {', '.join(sorted(self.adapter.vars)) or 'none'}",
            )
        self.plugins = choose_plugins(self.adapter, config.plugins, config.environ)
        # Fill everything in once now, so a missing key or endpoint is a usage error, not a failed run,
        # and so the agent's whole environment is known (for its secrets) before the first span ends.
        preview = {**self.values, "workdir": "/workdir", "config_dir": "/config"}
        preview_argv = build_argv(self.adapter, preview, self.plugins.extra_args, config.command)
        build_files(self.adapter, preview)
        adapter_env = build_env(self.adapter, preview, self.plugins.env)
        check_launch(preview_argv, adapter_env)  # whatever the values came from (crossing.py)
        template = list(config.command) if self.adapter.takes_command else list(self.adapter.command)
        check_option_injection(template, self.values, str(self.task.directory / TASK_FILE))
        agent_env = config.runtime.agent_environment(adapter_env)
        # Header variables (OTEL_EXPORTER_OTLP_*HEADERS) hold collector tokens: known secrets,
        # though the agent never gets them (runtime.py leaves every OTEL_* of ours out).
        self.redactor = Redactor(
            [
                *self._explicit_secrets,
                *handed_secrets(self.values, config.otlp.headers if config.otlp else {}),
                *secrets_from_env(agent_env),
                *header_secrets(config.environ),
            ]
        )
        self._check_command(preview_argv[0] if preview_argv else "", agent_env)
        self.warnings: list[str] = []
        self._check_failure = ""
        if self.redactor.too_short:
            self.warnings.append(
                f"a secret value of {min(map(len, self.redactor.too_short))} character(s) is too short "
                f"to redact without mangling ordinary text; it is not redacted"
            )
        self._task_slug = _slug(self.redactor.text(self.task.id))  # a task id is no place for a key either
        self.run_id = (
            f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{_slug(self.adapter.name)}-"
            f"{self._task_slug}-{secrets.token_hex(3)}"
        )
        self.run_dir = config.out or (config.runs_root / self.run_id)
        self._scratch: Scratch | None = None
        self._starting_files: list[Path] = []
        self._proxy: ModelProxy | None = None
        self._model_calls: ModelCallSpans | None = None
        self._abort = threading.Event()
        self._failure_hint: str | None = None
        self.status = LiveStatus()
        """How the run is going (the phase, the model calls so far), for the console."""
        #: Every time the run records is on this clock (anchored anew when the run starts).
        self.clock = RunClock()

    def _check_command(self, executable: str, env: Mapping[str, str]) -> None:
        """A local agent whose command is not installed is a usage error now, with how to get
        it, rather than a whole recorded run that fails with "command not found"."""
        if not self.config.check_command or self.config.runtime.name != "local" or not executable:
            return
        if os.sep in executable:  # a path: relative ones are the workdir's, not there yet
            missing = os.path.isabs(executable) and not os.access(executable, os.X_OK)
        else:
            missing = shutil.which(executable, path=env.get("PATH")) is None
        if missing:
            from cab_trace.harness.install import install_hint

            raise AgentNotInstalled(
                self.redactor.text(executable), self.adapter.name, hint=install_hint(executable)
            )

    def run(self) -> RunOutcome:
        """Run the cell. The trace file is complete (and fsynced) when this returns or raises.

        An interrupt (KeyboardInterrupt, :class:`lifecycle.Interrupted`) is re-raised once every
        span has ended, carrying in ``warnings`` what was lost (spans the collector never got).
        """
        run_dir = self.run_dir
        self.clock = RunClock()  # the one reading of the wall clock this run makes
        trace_path = lifecycle.claim_run_dir(run_dir, TRACE_FILE_NAME)  # atomic: one run per directory
        # Only what is proven dead (ownership.py); a Docker runtime can tell whether containers went.
        removed = collect_scratch(container_gone=getattr(self.config.runtime, "container_gone", None)).removed
        if removed:
            self.warnings.append(
                f"removed {len(removed)} scratch director{'y' if len(removed) == 1 else 'ies'} "
                f"left by dead runs: {', '.join(display_path(p) for p in removed)}"
            )
        self._abort = threading.Event()
        hardening.harden()  # see hardening.py: /proc/<this>/fd closed to the agent, orphans adopted
        children_before = set(hardening.children())
        pipeline = build_pipeline(trace_path, self.redactor, self.config.otlp)
        if pipeline.jsonl_exporter is not None:
            pipeline.jsonl_exporter.on_failure = self._abort.set  # stop the agent: spans are being lost
        try:
            outcome = self._record(pipeline, run_dir, trace_path)
        except KeyboardInterrupt as exc:
            # The user asked to stop: a hung collector gets a second, not its whole timeout.
            lost = pipeline.shutdown(timeout_s=INTERRUPTED_OTLP_WAIT_S)
            if trace_lost := self._trace_lost(pipeline, trace_path):
                lost.append(trace_lost)
            vars(exc).setdefault("warnings", []).extend(lost)
            raise
        finally:
            stop_waiting = threading.Event()
            try:
                # A Ctrl-C while a hung collector holds the run up stops the wait, and says so.
                with lifecycle.shielded(stop_waiting):
                    shutdown_warnings = pipeline.shutdown(abandon=stop_waiting)
            except KeyboardInterrupt as exc:
                vars(exc).setdefault("warnings", []).extend(shutdown_warnings)
                vars(exc)["while_exporting"] = True  # the run itself had finished
                raise
        outcome.warnings = [*self.warnings, *shutdown_warnings]
        if trace_lost := self._trace_lost(pipeline, trace_path):
            # Never "ok" when spans were lost.
            outcome.message = f"{outcome.message}; {trace_lost}" if outcome.exit_code else trace_lost
            outcome.exit_code, outcome.hint = 1, lifecycle.WRITE_HINT
        elif outcome.exit_code:
            outcome.hint = self._failure_hint
        # The last line of defence: no file the run wrote may hold a secret the harness knew of,
        # checked once nothing the agent started is left to write one.
        hardening.reap_descendants(children_before)
        outcome.leaks = [str(hit) for hit in leak_check(run_dir, list(self.redactor.known_secrets))]
        guard = pipeline.leak_guard
        withheld = guard.withheld if guard is not None else 0
        if outcome.leaks or withheld:
            outcome.exit_code = 1
            places = [f"{len(outcome.leaks)} place(s) in {run_dir}"] if outcome.leaks else []
            if withheld:
                places.append(f"{withheld} span(s), which were not sent to the collector")
            outcome.message = f"leak check: a known secret is in {' and '.join(places)}"
            outcome.leaks.extend(guard.descriptions if guard is not None else [])
            in_trace = withheld or any(hit.startswith(f"{trace_path}:") for hit in outcome.leaks)
            outcome.hint = (
                "the redactor missed a known secret in a span (a bug: please report how it got there); "
                "scrub the run directory with `cab-trace redact` before sharing it"
                if in_trace
                else "something the agent ran wrote a known secret into the run directory, not through "
                "cab-trace's recording; scrub it with `cab-trace redact` before sharing it"
            )
        return outcome

    # -- phases ------------------------------------------------------------------------------

    def _record(self, pipeline: Pipeline, run_dir: Path, trace_path: Path) -> RunOutcome:
        cfg, task, adapter = self.config, self.task, self.adapter
        tracer = pipeline.tracer
        plugin_stack = list(cfg.plugins)
        cell_id = f"{cfg.sweep_id}/{adapter.name}/{cfg.model or '-'}/{task.id}"
        workdir: Path | None = None
        passed: bool | None = None
        config_dir: Path | None = None
        home: Path | None = None
        result: LaunchResult | None = None
        failure: str | None = None
        run_attrs: dict[str, AttrValue] = {
            KIND_ATTRIBUTE: "run",
            "cell_id": cell_id,
            "sweep_id": cfg.sweep_id,
            "run_id": self.run_id,
            "task_id": task.id,
            "adapter": adapter.name,
            "behavior_mode": cfg.behavior_mode,
            "runtime": cfg.runtime.name,
            "run_dir": display_path(run_dir.resolve()),
        }
        if cfg.model:
            run_attrs["model"] = cfg.model
        run_attrs = {**cfg.run_attributes, **run_attrs, **cfg.runtime.identity()}  # ours win
        with self._span(tracer, f"run:{cell_id}", run_attrs) as run_span:
            trace_id = format(run_span.get_span_context().trace_id, "032x")
            try:
                with self._span(
                    tracer,
                    f"prepare:{task.id}",
                    {
                        KIND_ATTRIBUTE: "task_setup",
                        "task_category": task.category,
                        "plugin_stack": plugin_stack,
                        "behavior_mode": cfg.behavior_mode,
                    },
                ) as setup_span:
                    workdir, config_dir, home = self._prepare(setup_span)

                with self._span(
                    tracer,
                    f"{adapter.name}:{task.id}",
                    {
                        KIND_ATTRIBUTE: "adapter_run",
                        "timeout_s": cfg.timeout_s or 0,
                        "plugin_stack": plugin_stack,
                    },
                ) as adapter_span:
                    self._start_model_proxy(pipeline)
                    argv, env = self._apply_plugins(tracer, pipeline, workdir, config_dir)
                    result = self._launch(pipeline, argv, env, workdir, config_dir=config_dir, home=home)
                    adapter_span.set_attribute("exit_code", result.exit_code)
                    if failure := _failure_message(result, cfg.timeout_s):
                        adapter_span.set_status(Status(StatusCode.ERROR, failure))

                with self._span(
                    tracer,
                    f"changes:{task.id}",
                    {KIND_ATTRIBUTE: "blast_radius", "diff_file": DIFF_FILE_NAME},
                ) as changes_span:
                    changes = record_changes(
                        task.directory,
                        self._starting_files,
                        workdir,
                        run_dir / DIFF_FILE_NAME,
                        self.redactor,
                    )
                    changes_span.set_attributes(changes.attributes())
                if task.check:
                    passed = self._verify(tracer, task.check, workdir, home)
                    run_span.set_attribute("check_passed", passed)
                self._model_call_totals(run_span, passed)
            except CabTraceError as exc:
                failure, self._failure_hint = exc.message, exc.hint
            except OSError as exc:
                failure, self._failure_hint = _os_failure(exc)
            finally:
                self._cleanup(tracer, self._scratch)
                if result is not None:
                    run_span.set_attribute("exit_code", result.exit_code)
                if failure:
                    run_span.set_status(Status(StatusCode.ERROR, failure))
        return RunOutcome(
            run_dir=run_dir,
            trace_path=trace_path,
            trace_id=trace_id,
            exit_code=1 if failure else 0,
            message=failure or "ok",
            agent_exit_code=result.exit_code if result else None,
            timed_out=result.timed_out if result else False,
            check_passed=passed,
            check_message=self._check_failure,
        )

    def _prepare(self, setup_span: Span) -> tuple[Path, Path, Path | None]:
        """The scratch directory (locked while this run lives), the task copied into its workdir."""
        cfg, task = self.config, self.task
        self._scratch = scratch = Scratch.create(self._task_slug)
        # A container is hermetic already (HOME is its own /tmp): no run home for it.
        own_home = not cfg.user_home and cfg.runtime.name != "docker"
        workdir, config_dir, home = _scratch_dirs(scratch.path, own_home)
        copy = task.copy_into(workdir)
        self._starting_files = [Path(rel) for rel in copy.files]
        setup_span.set_attributes(
            {
                "workdir": display_path(workdir),
                "files_copied": len(copy.files),
                "links_copied": len(copy.links),
                "files_skipped": copy.skipped_text(),
            }
        )
        if copy.skipped:
            self.warnings.append(
                f"task {task.id}: skipped {len(copy.skipped)} file(s) that are not regular files: "
                f"{', '.join(copy.skipped_text()[:10])}"
            )
        return workdir, config_dir, home

    def _apply_plugins(
        self, tracer: Tracer, pipeline: Pipeline, workdir: Path, config_dir: Path
    ) -> tuple[list[str], dict[str, str]]:
        plugins = self.plugins
        values = {**self.values, "workdir": str(workdir), "config_dir": self._agent_config_dir(config_dir)}
        with self._span(
            tracer,
            "applied_plugins",
            {
                KIND_ATTRIBUTE: "tool_call",
                "tui": self.adapter.name,
                "count": len(plugins.applied) + len(plugins.skipped),
                "applied": [p.name for p in plugins.applied],
                "skipped": [name for name, _ in plugins.skipped],
                "skipped_reasons": [f"{name}: {why}" for name, why in plugins.skipped],
                "env_keys": sorted(plugins.env),
                "extra_args": plugins.extra_args,
                "applied_count": len(plugins.applied),
                "skipped_count": len(plugins.skipped),
            },
        ):
            argv = build_argv(self.adapter, values, plugins.extra_args, self.config.command)
            env = build_env(self.adapter, values, plugins.env)
            check_launch(argv, env)
            write_adapter_files(config_dir, build_files(self.adapter, values))
            # The real workdir may reach the environment; learn any secret that brings before spans end.
            late = secrets_from_env(self.config.runtime.agent_environment(env))
            if missing := [s for s in late if s not in self.redactor.known_secrets]:
                self.redactor = self.redactor.with_secrets(missing)
                pipeline.add_secrets(missing)
        return argv, env

    def _trace_lost(self, pipeline: Pipeline, trace_path: Path) -> str | None:
        """What the trace file is missing, if a write to it failed (one line), else None."""
        jsonl = pipeline.jsonl_exporter
        if jsonl is None or not jsonl.failed:
            return None
        return f"could not write {jsonl.failed} span(s) to {trace_path}: {jsonl.first_error}"
