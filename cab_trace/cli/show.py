"""`cab-trace show`: a trace's spans as a table, or a directory of runs as a table of its cells."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from cab_trace.cli.common import add_colour_flag, add_table_flags, use_colour, warn
from cab_trace.errors import UsageError


def register(sub: Any) -> None:
    show: argparse.ArgumentParser = sub.add_parser(
        "show",
        help="print a trace's spans as a table, or a sweep's cells",
        description="Print each trace in a file as what it came to (the task's check, exit code, "
        "model calls, tokens, spans with errors) and a table of its spans in tree order: status, "
        "start, duration, kind, name and their attributes; then its model calls. Given a directory "
        "of runs (a sweep directory with cells.jsonl, or any directory holding run directories, found "
        "recursively), print one row per cell (adapter, model, task, repeat, result, exit code, wall "
        "time, model calls, tokens in/out, failed calls, error spans, what failed first), then the "
        "cells added up by adapter x model with pass rates. An index (.cab-trace-index.jsonl in the "
        "directory, or in ~/.cache/cab-trace when it cannot be written) makes the next look fast.",
        epilog="examples:\n"
        "  cab-trace show runs/<run-id>                 # one run: its spans\n"
        "  cab-trace show runs/                         # every run below runs/, then by adapter x model\n"
        "  cab-trace show sweep/ --format csv --only cells > cells.csv\n"
        "  cab-trace compare runs/ 3 7                  # two rows of the table, side by side",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a trace file (ours, OTLP/JSON, Jaeger JSON; an Inspect AI log, an ATIF trajectory, an "
        "asciicast recording), a run directory, a Harbor trial directory, or a directory of runs",
    )
    show.add_argument(
        "--full",
        action="store_true",
        help="also print every attribute, event and status, JSON values indented (cut only with --width)",
    )
    show.add_argument(
        "--ids", action="store_true", help="also print span and parent ids, and the whole trace id"
    )
    show.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="cut lines to this width (default: the terminal's; no cut when piped)",
    )
    runs = show.add_argument_group("a directory of runs")
    add_table_flags(runs)
    runs.add_argument(
        "--only",
        choices=["cells", "groups"],
        help="print only the per-cell table, or only the groups (what `cab-trace sweep` prints at its end)",
    )
    runs.add_argument("--no-index", action="store_true", help="read every trace; write no index")
    add_colour_flag(show)
    show.set_defaults(handler=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from cab_trace.cli.runs import is_runs_dir

    runs_dir = is_runs_dir(args.path)
    _refuse_other_flags(args, runs_dir)
    if runs_dir:
        return show_runs(args)
    from cab_trace.model.index import open_index
    from cab_trace.show import render_index

    width = args.width or (shutil.get_terminal_size().columns if sys.stdout.isatty() else 10**6)
    index = open_index(args.path, warn=warn)  # columns, not records: a million spans fit
    if not len(index):
        warn(f"{args.path}: holds no spans")
        return 0
    lines = render_index(
        index,
        width=width,
        full=args.full,
        warn=warn,
        ids=args.ids,
        colour=use_colour(args.color, sys.stdout),
        detail_width=args.width,
    )
    for line in lines:
        print(line)
    return 0


def show_runs(args: argparse.Namespace) -> int:
    """``show DIR``: the cells of a directory of runs, then the groups."""
    from cab_trace.cli.runs import listing
    from cab_trace.show import cut
    from cab_trace.sweep.runs_table import render
    from cab_trace.sweep.summary import parse_axes

    by = parse_axes(args.group_by)
    fmt = args.format or "table"
    found = listing(args.path, no_index=args.no_index)
    text = render(found, fmt, only=args.only, by=by)
    tty = sys.stdout.isatty()
    width = args.width or (shutil.get_terminal_size().columns if tty and fmt == "table" else 10**6)
    for line in text.split("\n"):
        print(cut(line, width))
    return 0


#: Flags that mean something for one kind of PATH only: (dest, flag, for a directory of runs).
_ONLY_FOR = (
    ("format", "--format", True),
    ("only", "--only", True),
    ("group_by", "--group-by", True),
    ("no_index", "--no-index", True),
    ("full", "--full", False),
    ("ids", "--ids", False),
)


def _refuse_other_flags(args: argparse.Namespace, runs_dir: bool) -> None:
    """A flag for the other kind of PATH is an error, not silently ignored."""
    for dest, flag, for_dir in _ONLY_FOR:
        if getattr(args, dest) and for_dir != runs_dir:
            if for_dir:
                raise UsageError(
                    f"{flag} is for a directory of runs (a sweep directory, or one holding run "
                    f"directories); {args.path} is one run",
                    hint=f"`cab-trace show {args.path}` prints its spans; `cab-trace export` writes it "
                    "in other formats",
                )
            raise UsageError(
                f"{flag} is for one run (a trace file or a run directory); {args.path} is a directory "
                "of runs",
                hint=f"`cab-trace show {args.path}` lists its cells; show one of them: "
                f"`cab-trace show {args.path}/<cell>`",
            )
