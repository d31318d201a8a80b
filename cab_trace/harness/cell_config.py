"""What one cell run is given (:class:`CellConfig`) and what it gives back (:class:`RunOutcome`).

Separate from the runner so that the command line, the sweep and the console can name these
types without loading the recording machinery (the OpenTelemetry SDK, the runtimes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cab_trace.model import AttrValue

if TYPE_CHECKING:
    from cab_trace.harness.runtime import Runtime
    from cab_trace.otel.setup import OtlpSettings

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
