"""`cab-trace gc`: remove what dead runs left behind."""

from __future__ import annotations

import argparse
from typing import Any

from cab_trace.cli.common import PROG, stderr


def register(sub: Any) -> None:
    gc: argparse.ArgumentParser = sub.add_parser(
        "gc",
        help="remove scratch directories and containers left behind by dead `cab-trace run`s",
        description="Find the scratch directories (in the temp directory) and containers that "
        "`cab-trace run` marked as its own on this host, whose run is no longer alive (killed with -9, "
        "a crash), and remove them. What belongs to runs still going, to other hosts sharing the "
        "engine, or was kept with --keep-workdir is left alone. `cab-trace run` does this too.",
    )
    gc.set_defaults(handler=cmd_gc)


def cmd_gc(args: argparse.Namespace) -> int:
    from cab_trace.harness.docker_runtime import DockerError, collect_garbage
    from cab_trace.harness.lifecycle import collect_scratch

    scratch = collect_scratch()
    stderr(f"{PROG}: removed {len(scratch)} scratch director(ies) left by dead runs")
    for path in scratch:
        print(path)
    try:
        removed = collect_garbage()
    except DockerError as exc:
        stderr(f"{PROG}: containers not checked: {exc.message}")
        return 0
    stderr(f"{PROG}: removed {len(removed)} container(s) left by dead runs" + (": " if removed else ""))
    for name in removed:
        print(name)
    return 0
