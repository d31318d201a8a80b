"""`cab-trace show`: a trace's spans as a table."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from cab_trace.cli.common import add_colour_flag, use_colour, warn


def register(sub: Any) -> None:
    show: argparse.ArgumentParser = sub.add_parser(
        "show",
        help="print a trace's spans as a table",
        description="Print each trace in a file as what it came to (the task's check, exit code, "
        "model calls, tokens, spans with errors) and a table of its spans in tree order: status, "
        "start, duration, kind, name and their attributes; then its model calls.",
    )
    show.add_argument("path", type=Path, metavar="PATH", help="a trace file or a run directory")
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
    add_colour_flag(show)
    show.set_defaults(handler=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
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
