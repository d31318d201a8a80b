"""One cell as a job for an executor: the ``cab-trace run`` command line that runs it, and what
becomes of it. Pure: no processes here; the executors start them.

Every cell is a complete ``cab-trace run`` (its own proxy, receiver, redaction, leak check and
cleanup), in a process of its own, so a cell that crashes or hangs takes no other with it and
each one handles its signals as ``run`` does. The key is never on the command line: the run
reads it from the variable ``--key-env`` names, in its own environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cab_trace.sweep.plan import Cell
from cab_trace.sweep.spec import SweepSpec

#: Flags of ``run`` copied from the spec when set: (spec key, how the value is written).
_VALUED = ("memory", "cpus", "pids-limit", "network", "otlp-endpoint", "otlp-protocol")
_SWITCHES = ("pull", "no-content", "no-model-proxy", "user-home", "tty", "keep-workdir")


@dataclass
class CellJob:
    """What an executor needs to run one cell."""

    index: int  # the cell's line in cells.jsonl
    label: str  # for people (escaped before it is printed)
    rel_path: str  # the run directory, relative to the sweep directory
    adapter_ref: str  # the adapter as given (a name, or a file)
    task_dir: str
    args: list[str]  # run's flags but --adapter, --task, --out and --node
    command: list[str] = field(default_factory=list)  # the agent's argv for --adapter command
    docker: bool = False  # a Docker cell (on Ray it asks for the `docker` resource)
    key_env: str = "CAB_KEY"

    def run_argv(
        self, out: str, node: str | None = None, task_dir: str | None = None, adapter: str | None = None
    ) -> list[str]:
        """``run ...`` for this cell (after ``cab-trace``), writing its run directory to ``out``."""
        argv = ["run", "--adapter", adapter or self.adapter_ref, "--task", task_dir or self.task_dir]
        argv += [*self.args, "--out", out]
        if node:
            argv += ["--node", node]
        if self.command:
            argv += ["--", *self.command]
        return argv


def _number(value: float) -> str:
    return format(value, "g")


def cell_job(spec: SweepSpec, cell: Cell, index: int) -> CellJob:
    """The job that runs ``cell`` as the spec says."""
    args = ["-q", "--sweep-id", cell.sweep_id, "--repeat", str(cell.repeat)]
    if cell.model:
        args += ["--model", cell.model]
    args += ["--runtime", spec["runtime"]]
    image = spec.for_adapter("image", cell.adapter) or spec.for_adapter("image", cell.adapter_ref)
    if image and spec["runtime"] == "docker":
        args += ["--image", image]
    for key in _VALUED:
        value = spec[key]
        if value is not None and (spec["runtime"] == "docker" or key.startswith("otlp")):
            args += [f"--{key}", _number(value) if isinstance(value, float) else str(value)]
    for key in _SWITCHES:
        if spec[key] and (key != "pull" or spec["runtime"] == "docker"):
            args.append(f"--{key}")
    args += ["--timeout", _number(spec["timeout"])]
    for plugin in cell.plugins:
        args += ["--plugin", plugin]
    for name, value in cell.vars:
        args += ["--var", f"{name}={value}"]
    endpoint = spec.for_adapter("endpoint", cell.adapter) or spec.for_adapter("endpoint", cell.adapter_ref)
    if endpoint:
        args += ["--endpoint", endpoint]
    args += ["--key-env", spec["key-env"], "--behavior-mode", spec["behavior-mode"]]
    for name in spec["secret-env"]:
        args += ["--secret-env", name]
    if spec["cast-limit"]:
        args += ["--cast-limit", str(spec["cast-limit"])]
    for header in spec["otlp-header"]:
        args += ["--otlp-header", header]
    return CellJob(
        index=index,
        label=cell.label,
        rel_path=cell.path,
        adapter_ref=cell.adapter_ref,
        task_dir=cell.task.path,
        args=args,
        command=list(spec["command"]),
        docker=spec["runtime"] == "docker",
        key_env=spec["key-env"],
    )


@dataclass(frozen=True)
class Cause:
    """Why cells cannot start (an agent CLI that is not installed, an image that is not there),
    and what to do about it: said once for all the cells it stops."""

    text: str
    hint: str | None = None


@dataclass
class Finished:
    """How a cell's process ended, as an executor saw it.

    ``exit_code`` is ``cab-trace run``'s (128+N for a signal), None when no process ran; the run
    directory is in place under the sweep directory when this is reported.
    """

    index: int
    exit_code: int | None
    interrupted: bool = False
    error: str | None = None  # why the cell could not run (it never started, its node was lost)
    hint: str | None = None  # what to do about ``error``
    node: str | None = None
    wall_s: float = 0.0


def error_from_log(text: str) -> str | None:
    """The error ``cab-trace run`` gave, from its stderr: the last ``cab-trace: error:`` line."""
    found = None
    for line in text.splitlines():
        if line.startswith("cab-trace: error: "):
            found = line.removeprefix("cab-trace: error: ").strip()
    return found
