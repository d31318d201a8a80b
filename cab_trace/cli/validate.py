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
        description="Check every line of a trace file against schemas/span-record.v1.schema.json. "
        "Another tool's file (OTLP/JSON, Jaeger JSON, an Inspect AI log, a Harbor trial, an ATIF "
        "trajectory, an asciicast recording) is valid when every span it makes is; it says what the file is. "
        "Exit status: 0 valid; 1 valid but for a last line cut off (a writer killed mid-line: what that "
        "line held is lost, and show and replay read the rest); 2 not valid.",
    )
    validate.add_argument(
        "path", type=Path, metavar="PATH", help="a trace file, a run directory or a Harbor trial directory"
    )
    validate.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from cab_trace.validate import validate_file

    report = validate_file(args.path)
    verdict = 0 if report.ok else 2
    try:
        for warning in report.warnings:
            warn(warning)
        if report.ok:
            from cab_trace.model.foreign import IMPORTED, LABELS

            if report.cut_line is not None:
                stdout(
                    f"{report.path}: incomplete: line {report.cut_line} of {report.lines} is cut off"
                    " (the writer was killed mid-line); what it held is lost, the rest is valid"
                )
                return 1
            if report.format == "cab-jsonl":
                what = f"{report.lines} line(s)"
            elif report.format in IMPORTED:
                what = (
                    f"{LABELS[report.format]}: {report.spans} span(s) in {report.traces} trace(s) on import"
                )
            else:
                what = f"{report.format}, {report.lines} span(s)"
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
