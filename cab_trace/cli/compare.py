"""`cab-trace compare`: two runs side by side, and where the difference in wall time went."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from cab_trace.cli.common import warn

_EPILOG = """\
A and B are run directories or trace files (ours, OTLP/JSON, Jaeger JSON; a file holding several
traces takes FILE#TRACE_ID), or cells of a directory of runs as its table lists them:

  cab-trace compare runs/20261124T1005-pi-a runs/20261124T1011-pi-b
  cab-trace show runs/                      # the cells, numbered
  cab-trace compare runs/ 3 7               # cells 3 and 7 (or their cell ids, run ids, run dirs)
  cab-trace compare runs/ 3 7 --format json | jq .headline
  cab-trace replay runs/ 3 7                # both on one clock, in the replay
"""


def register(sub: Any) -> None:
    compare: argparse.ArgumentParser = sub.add_parser(
        "compare",
        help="compare two runs: phases, model calls, tool steps, changes, and where the time went",
        description="Put two runs side by side: the phases with their durations and the difference, "
        "the model calls matched in order (tokens, latency, time to first chunk, finish reason, tools "
        "asked for), the tool steps, what each run changed and the check's result, and one line "
        "saying where most of the difference in wall time went.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "runs", nargs="+", metavar="RUN", help="A B (two runs), or DIR A B (two cells of a directory of runs)"
    )
    compare.add_argument(
        "--format", choices=["table", "json"], default="table", help="table (default) or json for scripts"
    )
    compare.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="cut lines to this width (default: the terminal's; no cut when piped)",
    )
    compare.add_argument(
        "--no-index", action="store_true", help="with DIR: read every trace and write no index"
    )
    compare.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from cab_trace.cli.runs import read_target, targets
    from cab_trace.compare_text import render
    from cab_trace.model.compare import compare

    a, b = targets(args.runs, "compare", no_index=args.no_index)
    result = compare(read_target(a, warn), read_target(b, warn), a.title, b.title)
    if args.format == "json":
        print(result.to_json())
        return 0
    width = args.width or (shutil.get_terminal_size().columns if sys.stdout.isatty() else 10**6)
    for line in render(result, width):
        print(line)
    return 0
