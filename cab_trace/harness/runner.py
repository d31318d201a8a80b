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
import hashlib
import os
import re
import secrets
import shutil
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Span, Status, StatusCode, use_span

from cab_trace.clock import RunClock
from cab_trace.errors import AgentNotInstalled, CabTraceError, UsageError
from cab_trace.harness import hardening, lifecycle, safetree
from cab_trace.harness.adapters import (
    Adapter,
    build_argv,
    build_env,
    build_files,
    choose_plugins,
    load_adapter,
)
from cab_trace.harness.changes import DIFF_FILE_NAME, record_changes
from cab_trace.harness.crossing import check_launch, check_option_injection, check_text
from cab_trace.harness.output import (
    CAST_FILE_NAME,
    CastWriter,
    EchoFn,
    OutputCapture,
)
from cab_trace.harness.ownership import Owner, Scratch, collect_scratch
from cab_trace.harness.runtime import CAST_TERM, LaunchResult, LaunchSpec, Runtime
from cab_trace.harness.status import LiveStatus
from cab_trace.harness.task import TASK_FILE, Task
from cab_trace.model import TRACE_FILE_NAME, AttrValue
from cab_trace.otel.agent_receiver import AgentSpanReceiver, agent_otlp_env
from cab_trace.otel.convert import KIND_ATTRIBUTE
from cab_trace.otel.setup import OtlpSettings, Pipeline, build_pipeline
from cab_trace.redact import Redactor, secrets_from_env
from cab_trace.redact.scan import leak_check

if TYPE_CHECKING:
    from cab_trace.harness.model_proxy import ModelProxy
    from cab_trace.llm.call import CallRecord
    from cab_trace.otel.model_calls import ModelCallSpans

ProgressFn = Callable[[str], None]
DEFAULT_TIMEOUT_S = 600.0
#: After an interrupt, how long a collector may take to accept the spans still queued for it.
INTERRUPTED_OTLP_WAIT_S = 1.0


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
    model_proxy: bool = True
    """Put the recording proxy between the agent and ``endpoint`` (model-call spans)."""
    record_content: bool = True
    """Record model calls' messages, tool definitions, arguments and results (redacted)."""
    variables: Mapping[str, str] = field(default_factory=dict)
    keep_workdir: bool = False
    tty: bool = False
    """Give the agent a pseudo-terminal (full-screen agents need one)."""
    user_home: bool = False
    """Let a local agent use the user's own home and config directories (default: the run's own)."""
    otlp: OtlpSettings | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cast_limit: int | None = None
    """Stop recording terminal.cast at about this many bytes (a marker says where); None: no bound."""
    run_attributes: Mapping[str, AttrValue] = field(default_factory=dict)
    """More attributes of the run span, e.g. a sweep's ``repeat`` and the ``node`` that ran the cell;
    they never replace one the harness sets."""
    check_command: bool = True
    """Refuse a local agent whose command is not on its PATH (:class:`AgentNotInstalled`). Off
    only where a cell is checked on one machine and runs on another (a Ray sweep's driver): the
    PATH that counts is the node's, and the node's `run` checks it."""


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
    #: The task's check: None when the task has none (or it did not run), else whether it passed.
    check_passed: bool | None = None
    check_message: str = ""  # why it failed ("exit code 1", "timed out after 600 s")
    hint: str | None = None


def display_path(path: Path | str) -> str:
    """A path as recorded in a trace: the user's home directory shown as ``~``, never by name."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


#: A slug names directories beside a timestamp and a random suffix: well under a file name's 255 bytes.
MAX_SLUG = 64


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"
    if len(slug) > MAX_SLUG:
        # Cut, with a digest of the whole so that two long ids that share a start stay apart.
        slug = f"{slug[: MAX_SLUG - 9]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return slug


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
            [*self._explicit_secrets, *secrets_from_env(agent_env), *header_secrets(config.environ)]
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

    def _agent_config_dir(self, config_dir: Path) -> str:
        """The config directory as the agent sees it (mounted at a fixed path in a container)."""
        return CONTAINER_CONFIG_DIR if self.config.runtime.name == "docker" else str(config_dir)

    def _launch(
        self,
        pipeline: Pipeline,
        argv: list[str],
        env: dict[str, str],
        workdir: Path,
        *,
        config_dir: Path | None = None,
        home: Path | None = None,
    ) -> LaunchResult:
        cfg = self.config
        redacted_argv = self.redactor.argv(argv)
        mounts = ((config_dir, CONTAINER_CONFIG_DIR),) if config_dir is not None else ()
        if cfg.tty:
            env = {**env, "TERM": CAST_TERM}  # the TERM the recording's header names, whatever ours is
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
                "tty": cfg.tty,
                "home": "container" if cfg.runtime.name == "docker" else "user" if cfg.user_home else "run",
                "config_files": sorted(self.adapter.files),
            },
        ) as span:
            # The agent's own OpenTelemetry spans become children of this span, in this trace.
            context = span.get_span_context()
            env = {**env, "TRACEPARENT": f"00-{context.trace_id:032x}-{context.span_id:016x}-01"}
            if self._model_calls is not None:
                self._model_calls.parent = span  # model calls and tool steps are children of this span
            host = cfg.runtime.agent_host()
            parent = (context.trace_id, context.span_id)
            receiver = (
                AgentSpanReceiver(pipeline.redaction, host, parent=parent, clock=self.clock) if host else None
            )
            if receiver is not None:
                env.update(agent_otlp_env(receiver.start()))
            # The recording's time 0 is the container span's start: replay lines them up by it.
            cast = self._open_cast(getattr(span, "start_time", None))
            capture = OutputCapture(self.redactor, self._echo, cast=cast, on_error=self._abort.set)
            spec = LaunchSpec(
                argv,
                env,
                workdir,
                cfg.timeout_s,
                self.run_id,
                tty=cfg.tty,
                home=home,
                mounts=mounts,
                abort=self._abort,
                owner=self._owner(),
            )
            try:
                result = cfg.runtime.launch(spec, capture)
                capture.finish()
            except KeyboardInterrupt as exc:
                # The runtime stopped the agent: its exit code and output still belong on the span.
                capture.finish()
                if isinstance(stopped := lifecycle.attached_result(exc), LaunchResult):
                    self._set_launch_attributes(span, stopped, capture)
                raise
            finally:
                cast.close()
                if receiver is not None:
                    receiver.stop()
                    span.set_attributes(receiver.counts())
                if self._model_calls is not None:
                    self._stop_model_proxy()
                    span.set_attribute("model_calls", self._model_calls.calls)
            self._set_launch_attributes(span, result, capture)
            self._check_recording(span, cast, capture)
            if failure := _failure_message(result, cfg.timeout_s):
                span.set_status(Status(StatusCode.ERROR, failure))
        return result

    def _start_model_proxy(self, pipeline: Pipeline) -> None:
        """When the agent gets an endpoint, start the recording proxy and give it the proxy's
        URL instead (see :mod:`cab_trace.harness.model_proxy`)."""
        endpoint = self.values.get("endpoint")
        host = self.config.runtime.agent_host()
        if not self.config.model_proxy or not endpoint or host is None:
            return
        # Loaded only for a run that has an endpoint.
        from cab_trace.harness.model_proxy import ModelProxy
        from cab_trace.otel.model_calls import ModelCallSpans

        spans = ModelCallSpans(
            pipeline.tracer,
            content=self.config.record_content,
            # Late-bound: the run learns secrets as it goes, and its redactor is replaced then.
            redact=lambda text: pipeline.redaction.redactor.text(text),  # noqa: PLW0108
        )
        status = self.status

        def on_call(call: CallRecord) -> None:
            spans(call)
            status.on_call(call)

        try:
            proxy = ModelProxy(endpoint, on_call, host, clock=self.clock)
        except ValueError:
            self.warnings.append(f"endpoint {endpoint!r} is not an http(s) URL; model calls are not recorded")
            return
        self._proxy, self._model_calls = proxy, spans
        self.values["endpoint"] = proxy.start()

    def _model_call_totals(self, run_span: Span, passed: bool | None) -> None:
        if self._model_calls is not None:
            run_span.set_attributes(self._model_calls.totals(passed))

    def _stop_model_proxy(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
            if self._model_calls is not None:
                self._model_calls.finish(self.clock.now_ns())

    def _open_cast(self, origin_ns: int | None) -> CastWriter:
        path = self.run_dir / CAST_FILE_NAME
        try:
            return CastWriter(
                path,
                raw=self.config.tty,
                limit_bytes=self.config.cast_limit,
                clock=self.clock,
                origin_ns=origin_ns,
            )
        except OSError as exc:
            raise lifecycle.write_error(path, exc) from None

    def _check_recording(self, span: Span, cast: CastWriter, capture: OutputCapture) -> None:
        """Raise if the agent was stopped because what it did could not be written; note a cast
        that stopped at ``--cast-limit``."""
        if cast.stopped_at is not None:
            span.set_attribute("terminal_cast_stopped_at_s", cast.stopped_at)
            self.warnings.append(
                f"terminal.cast stops {cast.stopped_at:g} s in "
                f"(--cast-limit {self.config.cast_limit} bytes); "
                "the rest of the agent's output is only in the container span's tails"
            )
        if capture.error is not None:
            raise capture.error  # the agent was stopped: its output could not be recorded
        if self._abort.is_set():
            raise lifecycle.RunWriteError(
                f"could not write spans to {self.run_dir / TRACE_FILE_NAME}; the agent was stopped",
                hint=lifecycle.WRITE_HINT,
            )

    def _set_launch_attributes(self, span: Span, result: LaunchResult, capture: OutputCapture) -> None:
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

    def _trace_lost(self, pipeline: Pipeline, trace_path: Path) -> str | None:
        """What the trace file is missing, if a write to it failed (one line), else None."""
        jsonl = pipeline.jsonl_exporter
        if jsonl is None or not jsonl.failed:
            return None
        return f"could not write {jsonl.failed} span(s) to {trace_path}: {jsonl.first_error}"

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

    def _owner(self) -> Owner | None:
        """What binds a container to this run's proof of life (see ownership.py)."""
        return self._scratch.owner() if self._scratch is not None else None

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

    @contextlib.contextmanager
    def _span(self, tracer: Tracer, name: str, attributes: Mapping[str, AttrValue]) -> Iterator[Span]:
        """A phase span: ERROR with the exception's message if the phase raises (or is interrupted).
        Its start and end come from the run's clock, not the SDK's wall-clock default."""
        started = time.monotonic()
        kind = str(attributes.get(KIND_ATTRIBUTE, ""))
        if kind not in ("run", "tool_call"):
            self.status.enter(kind)
        span = tracer.start_span(name, attributes=dict(attributes), start_time=self.clock.now_ns())
        try:
            with use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
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
        finally:
            span.end(end_time=self.clock.now_ns())
        if kind != "run":
            failed = ""
            if isinstance(span, SdkSpan) and span.status.status_code is StatusCode.ERROR:
                failed = f"  FAILED: {span.status.description or 'error'}"
            self._progress(
                self.redactor.text(f"{kind:<12} {name}  {_ms(time.monotonic() - started)}{failed}")
            )


def _scratch_dirs(scratch: Path, own_home: bool) -> tuple[Path, Path, Path | None]:
    """The workdir, and beside it (so nothing there counts as the agent's change) the run's
    config directory and, for a hermetic run, the agent's home."""
    workdir = scratch / "workdir"
    workdir.mkdir()
    config_dir = scratch / "config"
    config_dir.mkdir(mode=0o700)
    home = scratch / "home" if own_home else None
    if home is not None:
        home.mkdir(mode=0o700)
    return workdir, config_dir, home


#: Where a container sees the run's config directory (the adapter's [files]).
CONTAINER_CONFIG_DIR = "/cab-agent-config"


def write_adapter_files(config_dir: Path, files: Mapping[str, str]) -> None:
    """Write the adapter's filled-in files into the run's config directory, readable by the user
    only, never through a link (safetree.write_files)."""
    safetree.write_files(config_dir, files)


def _value_source(name: str) -> str:
    """Where a placeholder's value came from, for an error about it."""
    if name in ("model", "endpoint"):
        return f"--{name}"
    if name == "key":
        return "the API key"
    return f"--var {name} (or the adapter's [vars])"


def header_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of every OTLP header variable (``OTEL_EXPORTER_OTLP_HEADERS`` and the per-signal
    ones): ``key=value`` lists whose values are usually collectors' tokens."""
    found: list[str] = []
    for name, text in environ.items():
        if name.startswith("OTEL_EXPORTER_") and name.endswith("HEADERS"):
            for item in text.split(","):
                _, sep, value = item.partition("=")
                value = urllib.parse.unquote(value.strip())
                if sep and len(value) >= 8:
                    found.append(value)
    return found


def _os_failure(exc: OSError) -> tuple[str, str | None]:
    """The run's failure message for an OSError, and what to do about it if there is something."""
    if exc.errno in lifecycle.DISK_FULL and exc.filename:
        return lifecycle.write_error(exc.filename, exc).message, lifecycle.WRITE_HINT
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), None


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
