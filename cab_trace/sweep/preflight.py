"""Before a sweep runs anything: every kind of cell is checked as ``cab-trace run`` checks it.

* A command line ``run`` would refuse (an unknown adapter variable, a missing key, an endpoint the
  adapter has no use for) stops the sweep before any cell runs, with ``run``'s own error.
* A cell that cannot start on this machine (its agent CLI is not on PATH, its image is not
  here, the Docker engine is not reachable) is a *cause*: every cell it stops is marked failed
  without being run, and the cause is said once, not once per cell.

On Ray, only the first kind is checked here (with a stand-in key: the key is on the nodes,
which check their own CLIs and images when they run a cell).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cab_trace.errors import CabTraceError
from cab_trace.sweep.job import CellJob

if TYPE_CHECKING:
    from cab_trace.harness.runtime import Runtime

#: A stand-in for the key when the key is not on this machine but on the nodes (Ray).
_STAND_IN_KEY = "cab-trace-preflight-stand-in-key-0000000000"


def _group_key(job: CellJob) -> tuple[object, ...]:
    # Cells that differ only in task, model or repeat are alike for these checks.
    skip = {"--model", "--repeat", "--sweep-id"}
    args: list[str] = []
    it = iter(job.args)
    for arg in it:
        if arg in skip:
            next(it, None)
            continue
        args.append(arg)
    return (job.adapter_ref, tuple(args), tuple(job.command))


def check(
    jobs: Sequence[CellJob], scratch: Path, *, local: bool, environ: Mapping[str, str] | None = None
) -> dict[int, str]:
    """Check one cell of each kind; returns the causes of cells that cannot start, by cell index.

    Raises:
        CabTraceError: a cell whose command line ``run`` would refuse (the message names the cell).
    """
    env = dict(os.environ if environ is None else environ)
    causes: dict[int, str] = {}
    checked: dict[tuple[object, ...], str | None] = {}
    for job in jobs:
        key = _group_key(job)
        if key not in checked:
            checked[key] = _check_one(job, scratch, local, env)
        if (cause := checked[key]) is not None:
            causes[job.index] = cause
    return causes


def _check_one(job: CellJob, scratch: Path, local: bool, env: dict[str, str]) -> str | None:
    from cab_trace.cli import build_parser
    from cab_trace.cli.run import config_from_args
    from cab_trace.harness.docker_runtime import DockerError
    from cab_trace.harness.runner import CellRunner

    argv = job.run_argv(str(scratch / "preflight-run"))
    args = build_parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.agent_command = list(job.command)
    if not local:
        env.setdefault(job.key_env, _STAND_IN_KEY)
    try:
        # Locally, a Docker cell's engine and image are checked as `run` checks them; on Ray the
        # nodes' engines are the ones that count.
        runtime = _unprepared_docker(args) if job.docker and not local else None
        config = dataclasses.replace(config_from_args(args, runtime=runtime), environ=env)
        runner = CellRunner(config)
        if local and not job.docker:
            return _missing_command(runner.adapter.command or tuple(job.command), env)
    except DockerError as exc:
        return exc.message
    except CabTraceError as exc:
        exc.message = f"cell {job.label}: {exc.message}"
        raise
    return None


def _unprepared_docker(args: argparse.Namespace) -> Runtime:
    from cab_trace.harness.docker_runtime import DockerOptions, DockerRuntime

    return DockerRuntime(
        DockerOptions(
            getattr(args, "image", None) or "",
            bool(getattr(args, "pull", False)),
            getattr(args, "memory", None),
            getattr(args, "cpus", None),
            getattr(args, "pids_limit", None),
            getattr(args, "network", None),
        )
    )


def _missing_command(command: Sequence[str], env: Mapping[str, str]) -> str | None:
    """``command not found: NAME`` when the agent's executable is not on PATH (else None)."""
    if not command or "{" in command[0]:
        return None
    exe = command[0]
    if os.sep in exe:
        return None if os.access(exe, os.X_OK) else f"command not found: {exe}"
    if shutil.which(exe, path=env.get("PATH", os.defpath)) is None:
        return f"command not found: {exe} (not on PATH)"
    return None
