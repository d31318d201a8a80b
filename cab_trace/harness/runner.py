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
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Span, Status, StatusCode

from cab_trace.errors import CabTraceError, UsageError
from cab_trace.harness import hardening
from cab_trace.harness.adapters import (
    Adapter,
    build_argv,
    build_env,
    choose_plugins,
    load_adapter,
)
from cab_trace.harness.changes import DIFF_FILE_NAME, record_changes
from cab_trace.harness.output import (
    CAST_FILE_NAME,
    CastWriter,
    EchoFn,
    OutputCapture,
)
from cab_trace.harness.runtime import LaunchResult, LaunchSpec, Runtime
from cab_trace.harness.task import Task
from cab_trace.model import TRACE_FILE_NAME, AttrValue
from cab_trace.otel.agent_receiver import AgentSpanReceiver, agent_otlp_env
from cab_trace.otel.convert import KIND_ATTRIBUTE
from cab_trace.otel.setup import OtlpSettings, Pipeline, build_pipeline
from cab_trace.redact import Redactor, secrets_from_env
from cab_trace.redact.scan import leak_check

ProgressFn = Callable[[str], None]
DEFAULT_TIMEOUT_S = 600.0


@dataclass
class CellConfig:
    """Everything one run needs. Paths are taken as given (relative to the current directory)."""

    task_dir: Path
    adapter: str
    runtime: Runtime
    model: str | None = None
    plugins: Sequence[str] = ()
    command: Sequence[str] = ()
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    out: Path | None = None
    runs_root: Path = Path("runs")
    sweep_id: str = "local"
    behavior_mode: str = "factory"
    key_env: str = "CAB_KEY"
    secret_envs: Sequence[str] = ()
    endpoint: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    keep_workdir: bool = False
    tty: bool = False
    """Give the agent a pseudo-terminal (full-screen agents need one)."""
    otlp: OtlpSettings | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class RunOutcome:
    run_dir: Path
    trace_path: Path
    trace_id: str
    exit_code: int  # what `cab-trace run` exits with: 0 success, 1 the agent or a phase failed
    message: str
    agent_exit_code: int | None = None
    timed_out: bool = False
    warnings: list[str] = field(default_factory=list)
    #: Where the end-of-run leak check found a known secret (file:line: rule: masked preview).
    leaks: list[str] = field(default_factory=list)


def display_path(path: Path | str) -> str:
    """A path as recorded in a trace: the user's home directory shown as ``~``, never by name."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"


class CellRunner:
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
        }
        unknown_vars = sorted(set(config.variables) - set(self.adapter.vars))
        if unknown_vars:
            raise UsageError(
                f"--var {unknown_vars[0]}: adapter {self.adapter.name} has no such variable",
                hint=f"its variables: {', '.join(sorted(self.adapter.vars)) or 'none'}",
            )
        self.plugins = choose_plugins(self.adapter, config.plugins, config.environ)
        # Fill everything in once now, so a missing key or endpoint is a usage error, not a failed run,
        # and so the agent's whole environment is known (for its secrets) before the first span ends.
        preview = {**self.values, "workdir": "/workdir"}
        build_argv(self.adapter, preview, self.plugins.extra_args, config.command)
        adapter_env = build_env(self.adapter, preview, self.plugins.env)
        agent_env = config.runtime.agent_environment(adapter_env)
        self.redactor = Redactor([*self._explicit_secrets, *secrets_from_env(agent_env)])
        self.warnings: list[str] = []
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

    def run(self) -> RunOutcome:
        """Run the cell. The trace file is complete (and fsynced) when this returns or raises."""
        run_dir = self.run_dir
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UsageError(
                f"run directory {run_dir} already exists and is not empty",
                hint="choose another --out, or leave --out off to get a fresh runs/<run-id>/",
            )
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create run directory {run_dir}: {exc.strerror or exc}") from None
        trace_path = run_dir / TRACE_FILE_NAME
        hardening.harden()  # see hardening.py: /proc/<this>/fd closed to the agent, orphans adopted
        children_before = set(hardening.children())
        pipeline = build_pipeline(trace_path, self.redactor, self.config.otlp)
        try:
            outcome = self._record(pipeline, run_dir, trace_path)
        finally:
            shutdown_warnings = pipeline.shutdown()
        outcome.warnings = [*self.warnings, *shutdown_warnings]
        # The last line of defence: no file the run wrote may hold a secret the harness knew of,
        # checked once nothing the agent started is left to write one.
        hardening.reap_descendants(children_before)
        outcome.leaks = [str(hit) for hit in leak_check(run_dir, list(self.redactor.known_secrets))]
        if outcome.leaks:
            outcome.exit_code = 1
            outcome.message = f"leak check: a known secret is in {len(outcome.leaks)} place(s) in {run_dir}"
        return outcome

    # -- phases ------------------------------------------------------------------------------

    def _record(self, pipeline: Pipeline, run_dir: Path, trace_path: Path) -> RunOutcome:
        cfg, task, adapter = self.config, self.task, self.adapter
        tracer = pipeline.tracer
        plugin_stack = list(cfg.plugins)
        cell_id = f"{cfg.sweep_id}/{adapter.name}/{cfg.model or '-'}/{task.id}"
        workdir: Path | None = None
        scratch: Path | None = None
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
        run_attrs.update(cfg.runtime.identity())
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
                    scratch = Path(tempfile.mkdtemp(prefix=f"cab-trace-{self._task_slug}-"))
                    workdir = scratch / "workdir"
                    workdir.mkdir()
                    copied = task.copy_to(workdir)
                    setup_span.set_attributes({"workdir": display_path(workdir), "files_copied": copied})

                with self._span(
                    tracer,
                    f"{adapter.name}:{task.id}",
                    {
                        KIND_ATTRIBUTE: "adapter_run",
                        "timeout_s": cfg.timeout_s or 0,
                        "plugin_stack": plugin_stack,
                    },
                ) as adapter_span:
                    argv, env = self._apply_plugins(tracer, pipeline, workdir)
                    result = self._launch(pipeline, argv, env, workdir)
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
                        task.starting_files(),
                        workdir,
                        run_dir / DIFF_FILE_NAME,
                        self.redactor,
                    )
                    changes_span.set_attributes(changes.attributes())
                if task.check:
                    passed = self._verify(tracer, task.check, workdir)
                    run_span.set_attribute("check_passed", passed)
            except CabTraceError as exc:
                failure = exc.message
            except OSError as exc:
                failure = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
            finally:
                self._cleanup(tracer, scratch)
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
        )

    def _apply_plugins(
        self, tracer: Tracer, pipeline: Pipeline, workdir: Path
    ) -> tuple[list[str], dict[str, str]]:
        plugins = self.plugins
        values = {**self.values, "workdir": str(workdir)}
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
            # The real workdir may reach the environment; learn any secret that brings before spans end.
            late = secrets_from_env(self.config.runtime.agent_environment(env))
            if missing := [s for s in late if s not in self.redactor.known_secrets]:
                self.redactor = self.redactor.with_secrets(missing)
                pipeline.add_secrets(missing)
        return argv, env

    def _launch(
        self, pipeline: Pipeline, argv: list[str], env: dict[str, str], workdir: Path
    ) -> LaunchResult:
        cfg = self.config
        redacted_argv = self.redactor.argv(argv)
        with self._span(
            pipeline.tracer,
            f"{self.adapter.name}:launch",
            {
                KIND_ATTRIBUTE: "container",
                "runtime": cfg.runtime.name,
                "argv": redacted_argv,
                "timeout_s": cfg.timeout_s or 0,
                "process.command_args": redacted_argv,
                "process.executable.name": os.path.basename(argv[0]),
                "process.working_directory": display_path(workdir),
            },
        ) as span:
            # The agent's own OpenTelemetry spans become children of this span, in this trace.
            context = span.get_span_context()
            env = {**env, "TRACEPARENT": f"00-{context.trace_id:032x}-{context.span_id:016x}-01"}
            host = cfg.runtime.agent_host()
            receiver = AgentSpanReceiver(pipeline.redaction, host) if host else None
            if receiver is not None:
                env.update(agent_otlp_env(receiver.start()))
            cast = CastWriter(self.run_dir / CAST_FILE_NAME, raw=cfg.tty)
            try:
                capture = OutputCapture(self.redactor, self._echo, cast=cast)
                result = cfg.runtime.launch(
                    LaunchSpec(argv, env, workdir, cfg.timeout_s, self.run_id, tty=cfg.tty), capture
                )
                capture.finish()
            finally:
                cast.close()
                if receiver is not None:
                    receiver.stop()
                    span.set_attribute("agent_spans", receiver.received)
            span.set_attributes(
                {
                    **result.attributes,
                    "exit_code": result.exit_code,
                    "process.exit.code": result.exit_code,
                    "duration_s": round(result.duration_s, 3),
                    "timed_out": result.timed_out,
                    "stdout_tail": capture.tail("stdout"),
                    "stderr_tail": capture.tail("stderr"),
                    "terminal_cast": CAST_FILE_NAME,
                }
            )
            if "process.executable.path" in result.attributes:
                span.set_attribute(
                    "process.executable.path", display_path(str(result.attributes["process.executable.path"]))
                )
            if failure := _failure_message(result, cfg.timeout_s):
                span.set_status(Status(StatusCode.ERROR, failure))
        return result

    def _verify(self, tracer: Tracer, check: str, workdir: Path) -> bool:
        """Run the task's check command in the runtime, as a ``verify`` span; True if it passed."""
        cfg = self.config
        with self._span(
            tracer,
            f"verify:{self.task.id}",
            {KIND_ATTRIBUTE: "verify", "command": self.redactor.text(check), "timeout_s": cfg.timeout_s or 0},
        ) as span:
            capture = OutputCapture(self.redactor)
            result = cfg.runtime.launch(
                LaunchSpec(["sh", "-c", check], {}, workdir, cfg.timeout_s, self.run_id), capture
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
                span.set_status(Status(StatusCode.ERROR, f"check failed: {why}"))
        return passed

    def _cleanup(self, tracer: Tracer, scratch: Path | None) -> None:
        removed: list[str] = []
        kept: list[str] = []
        with self._span(tracer, f"cleanup:{self.adapter.name}", {KIND_ATTRIBUTE: "cleanup"}) as span:
            removed.extend(self.config.runtime.cleanup())
            if scratch is not None:
                if self.config.keep_workdir:
                    kept.append(display_path(scratch / "workdir"))
                else:
                    shutil.rmtree(scratch, ignore_errors=True)
                    removed.append(display_path(scratch / "workdir"))
            span.set_attributes({"removed": removed, "kept": kept})

    @contextlib.contextmanager
    def _span(self, tracer: Tracer, name: str, attributes: Mapping[str, AttrValue]) -> Iterator[Span]:
        """A phase span: ERROR with the exception's message if the phase raises (or is interrupted)."""
        started = time.monotonic()
        kind = str(attributes.get(KIND_ATTRIBUTE, ""))
        with tracer.start_as_current_span(
            name, attributes=dict(attributes), record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except KeyboardInterrupt:
                span.set_status(Status(StatusCode.ERROR, "interrupted"))
                raise
            except CabTraceError as exc:
                span.set_status(Status(StatusCode.ERROR, exc.message))
                raise
            except OSError as exc:
                span.set_status(Status(StatusCode.ERROR, f"{exc.strerror or exc}"))
                raise
            if isinstance(span, SdkSpan) and span.status.status_code is StatusCode.UNSET:
                span.set_status(Status(StatusCode.OK))
        if kind != "run":
            self._progress(self.redactor.text(f"{kind:<12} {name}  {_ms(time.monotonic() - started)}"))


def _failure_message(result: LaunchResult, timeout_s: float | None) -> str | None:
    if result.error:
        return result.error
    if result.timed_out:
        return f"timed out after {timeout_s:g} s; the agent was killed"
    if result.exit_code != 0:
        return f"agent exited with code {result.exit_code}"
    return None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
