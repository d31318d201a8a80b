"""What every phase of a run reads (:class:`PhaseBase`): the run's state, declared for the type
checker, and the phase span that each phase is recorded in.

Separate so that the phase groups (:mod:`cab_trace.harness.cell_launch`,
:mod:`cab_trace.harness.cell_finish`) and :class:`cab_trace.harness.runner.CellRunner`, which
combines them, share one definition of the state and of ``_span``. The state itself is set up by
``CellRunner.__init__`` and ``CellRunner.run``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Span, Status, StatusCode, use_span

from cab_trace.clock import RunClock
from cab_trace.errors import CabTraceError
from cab_trace.harness.cell_helpers import _ms
from cab_trace.model import AttrValue
from cab_trace.otel.convert import KIND_ATTRIBUTE

if TYPE_CHECKING:
    from cab_trace.harness.adapters import Adapter
    from cab_trace.harness.cell_config import CellConfig
    from cab_trace.harness.model_proxy import ModelProxy
    from cab_trace.harness.output import EchoFn
    from cab_trace.harness.ownership import Owner, Scratch
    from cab_trace.harness.status import LiveStatus
    from cab_trace.harness.task import Task
    from cab_trace.otel.model_calls import ModelCallSpans
    from cab_trace.redact import Redactor

ProgressFn = Callable[[str], None]


class PhaseBase:
    """The state of one run that its phases share, and the span each phase is recorded in."""

    config: CellConfig
    task: Task
    adapter: Adapter
    redactor: Redactor
    values: dict[str, str | None]
    warnings: list[str]
    run_id: str
    run_dir: Path
    status: LiveStatus
    clock: RunClock
    _echo: EchoFn | None
    _progress: ProgressFn
    _scratch: Scratch | None
    _proxy: ModelProxy | None
    _model_calls: ModelCallSpans | None
    _abort: threading.Event
    _check_failure: str

    if TYPE_CHECKING:
        # Defined by the launch phase (cell_launch.LaunchPhase); cleanup stops the proxy too.
        def _stop_model_proxy(self) -> None: ...

    def _owner(self) -> Owner | None:
        """What binds a container to this run's proof of life (see ownership.py)."""
        return self._scratch.owner() if self._scratch is not None else None

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
