"""`cab-trace validate`: check a trace file against the span-record schema."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cab_trace.cli.common import PROG, silence_broken_pipe, stderr, stdout, warn


def register(sub: Any) -> None:
    validate: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="check a trace file against the span-record schema",
        description="Check every line of a trace file against schemas/span-record.v1.schema.json.",
    )
    validate.add_argument("path", type=Path, metavar="PATH", help="a trace file or a run directory")
    validate.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from cab_trace.validate import validate_file

    report = validate_file(args.path)
    verdict = 0 if report.ok else 2
    try:
        for warning in report.warnings:
            warn(warning)
        if report.ok:
            what = (
                f"{report.lines} line(s)"
                if report.format == "cab-jsonl"
                else f"{report.format}, {report.lines} span(s)"
            )
            stdout(f"{report.path}: valid ({what})")
            return 0
        for problem in report.problems:
            stderr(problem)
        if report.truncated:
            stderr("(more problems not shown)")
        stderr(f"{PROG}: error: {report.path} does not match the span-record schema")
    except BrokenPipeError:
        # `validate bad 2>&1 | head -1`: the reader left early; the verdict still stands.
        silence_broken_pipe()
    return verdict
