"""Before a sweep runs anything: every kind of cell is checked as ``cab-trace run`` checks it.

* A command line ``run`` would refuse (an unknown adapter variable, a missing key, an endpoint the
  adapter has no use for) stops the sweep before any cell runs, with ``run``'s own error.
* A cell that cannot start on this machine (its agent CLI is not on the PATH the agent gets,
  its image is not here, the Docker engine is not reachable) is a *cause*: every cell it stops
  is marked failed without being run, and the cause is said once, not once per cell; the
  other cells run.

On Ray, only the first kind is checked here (with a stand-in key: the key is on the nodes, and
so are the agent CLIs and images that count); each node's ``run`` checks its own when it runs a
cell, and the sweep names the node when it refuses one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cab_trace.errors import AgentNotInstalled, CabTraceError
from cab_trace.sweep.job import Cause, CellJob

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
) -> dict[int, Cause]:
    """Check one cell of each kind; returns the causes of cells that cannot start, by cell index.

    Raises:
        CabTraceError: a cell whose command line ``run`` would refuse (the message names the cell).
    """
    env = dict(os.environ if environ is None else environ)
    causes: dict[int, Cause] = {}
    checked: dict[tuple[object, ...], Cause | None] = {}
    for job in jobs:
        key = _group_key(job)
        if key not in checked:
            checked[key] = _check_one(job, scratch, local, env)
        if (cause := checked[key]) is not None:
            causes[job.index] = cause
    return causes


def _check_one(job: CellJob, scratch: Path, local: bool, env: dict[str, str]) -> Cause | None:
    from cab_trace.cli import build_parser
    from cab_trace.cli.run import config_from_args
    from cab_trace.harness.docker_engine import DockerError
    from cab_trace.harness.runner import CellRunner

    argv = job.run_argv(str(scratch / "preflight-run"))
    args = build_parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.agent_command = list(job.command)
    if not local:
        env.setdefault(job.key_env, _STAND_IN_KEY)
    try:
        # Locally, a Docker cell's engine and image are checked as `run` checks them, and a local
        # agent's command on the PATH it gets; on Ray the nodes' engines and PATHs are the ones
        # that count, and their `run` checks them.
        runtime = _unprepared_docker(args) if job.docker and not local else None
        config = config_from_args(args, runtime=runtime)
        CellRunner(dataclasses.replace(config, environ=env, check_command=local))
    except (AgentNotInstalled, DockerError) as exc:
        return Cause(exc.message, exc.hint)
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
