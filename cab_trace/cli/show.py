"""`cab-trace show`: a trace's spans as a table."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from cab_trace.cli.common import warn
from cab_trace.errors import UsageError


def register(sub: Any) -> None:
    show: argparse.ArgumentParser = sub.add_parser(
        "show",
        help="print a trace's spans as a table",
        description="Print each trace in a file as a table of its spans (tree order).",
    )
    show.add_argument(
        "path", type=Path, metavar="PATH", help="a trace file, a run directory or a sweep directory"
    )
    show.add_argument("--full", action="store_true", help="also print every attribute, event and status")
    show.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="cut lines to this width (default: the terminal's; no cut when piped)",
    )
    sweep = show.add_argument_group("a sweep directory (cab-trace sweep --out)")
    sweep.add_argument(
        "--format",
        choices=["table", "json", "csv", "markdown"],
        help="the sweep's numbers as a table (default), JSON, CSV or Markdown",
    )
    sweep.add_argument(
        "--by",
        metavar="AXES",
        help="group the sweep's cells by these axes (default: adapter,model; e.g. task)",
    )
    show.set_defaults(handler=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from cab_trace.sweep.report import is_sweep_dir, render_sweep_summary

    if is_sweep_dir(args.path):  # the sweep's table; issue 19's per-cell view joins it at merge
        print(render_sweep_summary(args.path, args.by, args.format or "table"))
        return 0
    if args.format or args.by:
        raise UsageError("--format and --by are for a sweep directory (one holding cells.jsonl)")
    from cab_trace.model.index import open_index
    from cab_trace.show import render_index

    width = args.width or (shutil.get_terminal_size().columns if sys.stdout.isatty() else 10**6)
    index = open_index(args.path, warn=warn)  # columns, not records: a million spans fit
    if not len(index):
        warn(f"{args.path}: holds no spans")
        return 0
    for line in render_index(index, width=width, full=args.full, warn=warn):
        print(line)
    return 0
