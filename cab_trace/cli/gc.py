"""`cab-trace gc`: remove what dead runs left behind, and only that."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from cab_trace.cli.common import PROG, stderr, stdout


def register(sub: Any) -> None:
    gc: argparse.ArgumentParser = sub.add_parser(
        "gc",
        help="remove scratch directories and containers left behind by dead `cab-trace run`s",
        description="Find the scratch directories (in the temp directory) and containers that "
        "`cab-trace run` left, and remove those whose run is proven dead: the lock a live run holds on "
        "its scratch directory's lock file is free (killed with -9, a crash). Works across PID "
        "namespaces and hosts sharing the directory. What belongs to runs still going, or cannot be "
        "proven dead (kept with --keep-workdir, an older version's, another host's, a container "
        "cab-trace did not make), is left alone, and said. `cab-trace run` does this too.",
    )
    gc.set_defaults(handler=cmd_gc)


def cmd_gc(args: argparse.Namespace) -> int:
    from cab_trace.harness.docker_engine import DockerError, connect, container_missing
    from cab_trace.harness.docker_gc import collect_garbage
    from cab_trace.harness.ownership import Collected, collect_scratch

    # Containers first: their proof is in their run's scratch directory, which goes after them.
    containers = Collected()
    container_gone: Callable[[str], bool] | None = None
    try:
        client = connect()
    except DockerError as exc:
        stderr(f"{PROG}: containers not checked: {exc.message}")
        client = None
    if client is not None:
        removed = collect_garbage(client, containers)
        stderr(f"{PROG}: removed {len(removed)} container(s) left by dead runs" + (": " if removed else ""))
        for name in removed:
            stdout(name)
        container_gone = functools.partial(container_missing, client)
    scratch = collect_scratch(container_gone=container_gone)
    stderr(f"{PROG}: removed {len(scratch.removed)} scratch director(ies) left by dead runs")
    for path in scratch.removed:
        stdout(str(path))
    left = [*containers.left, *scratch.left]
    if left:
        stderr(
            f"{PROG}: left {len(scratch.left)} scratch director(ies) and {len(containers.left)} "
            "container(s) that cannot be proven dead (remove them yourself if you know they are):"
        )
        for what, why in left:
            stderr(f"  {what}: {why}")
    if in_use := containers.in_use + scratch.in_use:
        stderr(f"{PROG}: {in_use} in use by live runs")
    return 0
