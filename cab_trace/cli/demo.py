"""`cab-trace demo`: the bundled example run (no Docker, no network, no key)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from cab_trace.cli.common import add_otlp_flags, add_run_output_flags, otlp_settings
from cab_trace.cli.record import record
from cab_trace.cli_types import seconds


def register(sub: Any) -> None:
    demo: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="record the bundled demo run (no Docker, no network, no API key)",
        description="Record the bundled example: a small task and a scripted agent (no LLM) that "
        "prints its progress for a few seconds, leaks a fake key (which is redacted) "
        "and fixes a file.",
    )
    demo.add_argument(
        "--pace",
        type=seconds,
        default=0.5,
        metavar="SECONDS",
        help="seconds between the scripted agent's steps (default: 0.5)",
    )
    add_run_output_flags(demo)
    add_otlp_flags(demo)
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from importlib import resources

    from cab_trace.harness.runner import CellConfig
    from cab_trace.harness.runtime import LocalRuntime

    examples = resources.files("cab_trace.examples")
    agent = Path(str(examples.joinpath("scripted_agent.py")))
    task = Path(str(examples.joinpath("demo-task")))
    # A made-up key that has the shape of a real one: the demo shows it being redacted.
    environ = {**os.environ, "CAB_KEY": "sk-demo-" + secrets.token_hex(16)}
    config = CellConfig(
        task_dir=task,
        adapter="command",
        runtime=LocalRuntime(),
        model="scripted/demo-1",
        command=[
            sys.executable,
            str(agent),
            "--api-key",
            "{key}",
            "--model",
            "{model}",
            "--pace",
            str(args.pace),
            "{prompt}",
        ],
        timeout_s=120,
        out=args.out,
        runs_root=args.runs_dir,
        sweep_id="demo",
        otlp=otlp_settings(args),
        environ=environ,
    )
    return record(config, echo=not args.quiet, quiet=args.quiet)
