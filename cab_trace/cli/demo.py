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
        description="Record the bundled example in a few seconds: a small agent fixes a file of a "
        "small task, talking to a scripted model (a tiny OpenAI-compatible server on 127.0.0.1 inside "
        "cab-trace) through the recording proxy. The run has model calls, tool steps, tokens, the "
        "agent's terminal (where it prints a made-up API key, which is redacted), the change it made "
        "and the task's check.",
    )
    demo.add_argument(
        "--pace",
        type=seconds,
        default=0.3,
        metavar="SECONDS",
        help="seconds the agent pauses between steps and the model thinks per call (default: 0.3)",
    )
    add_run_output_flags(demo)
    add_otlp_flags(demo)
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from importlib import resources

    from cab_trace.examples.scripted_model import MODEL, ScriptedModel
    from cab_trace.harness.cell_config import CellConfig
    from cab_trace.harness.runtime import LocalRuntime

    examples = resources.files("cab_trace.examples")
    agent = Path(str(examples.joinpath("scripted_agent.py")))
    task = Path(str(examples.joinpath("demo-task")))
    # A made-up key that has the shape of a real one: the demo shows it being redacted.
    environ = {**os.environ, "CAB_KEY": "sk-demo-" + secrets.token_hex(16)}
    model = ScriptedModel(latency=args.pace).start()
    config = CellConfig(
        task_dir=task,
        adapter="command",
        runtime=LocalRuntime(),
        model=MODEL,
        endpoint=model.url,
        command=[
            sys.executable,
            str(agent),
            "--endpoint",
            "{endpoint}",
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
    try:
        return record(config, echo=not args.quiet, quiet=args.quiet)
    finally:
        model.stop()
