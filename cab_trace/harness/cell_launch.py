"""The agent's launch: the ``container`` span, the recording model proxy the agent talks to,
the agent-span receiver, and the terminal recording (terminal.cast) with the output's tails.

Separate from :mod:`cab_trace.harness.runner` because it is the one phase with servers and a
recording of its own to start and stop around the agent; the runner only calls ``_launch``
(and starts the proxy just before it). A mixin of :class:`cab_trace.harness.runner.CellRunner`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.trace import Span, Status, StatusCode

from cab_trace.harness import lifecycle
from cab_trace.harness.cell_base import PhaseBase
from cab_trace.harness.cell_helpers import CONTAINER_CONFIG_DIR, _failure_message, display_path
from cab_trace.harness.output import CAST_FILE_NAME, CastWriter, OutputCapture
from cab_trace.harness.runtime import CAST_TERM, LaunchResult, LaunchSpec
from cab_trace.model import TRACE_FILE_NAME
from cab_trace.otel.agent_receiver import AgentSpanReceiver, agent_otlp_env
from cab_trace.otel.convert import KIND_ATTRIBUTE
from cab_trace.otel.setup import Pipeline

if TYPE_CHECKING:
    from cab_trace.llm.call import CallRecord


class LaunchPhase(PhaseBase):
    """Launches the agent and records it: the container span, model calls, agent spans, terminal.cast."""

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
