"""`cab-trace replay`: play a trace back in the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cab_trace.cli.common import PROG, stderr, warn
from cab_trace.errors import TraceFileError, UsageError


def register(sub: Any) -> None:
    replay: argparse.ArgumentParser = sub.add_parser(
        "replay",
        help="play a trace back in the terminal: span waterfall, playhead, the agent's screen",
        description="Open a trace in the replay UI: the spans as a waterfall on the run's time axis with "
        "a playhead that plays back on the trace's own clock, the selected span (a model call read as "
        "its turn: what it added, then the answer), the whole conversation on one page, and the agent's "
        "terminal (terminal.cast) as it was at that moment. A file with several traces opens a list "
        "first; a directory of runs (a sweep) opens a table of its cells (sort, filter, group by adapter "
        "x model; enter opens a cell, escape comes back). Two runs open side by side on one clock. Press "
        "? in the UI for every key and what the mouse does.",
        epilog="examples:\n"
        "  cab-trace replay runs/<run-id>        # one run\n"
        "  cab-trace replay runs/                # a table of every run below runs/ (or a sweep directory)\n"
        "  cab-trace replay runs/a runs/b        # two runs on one clock\n"
        "  cab-trace replay runs/ 3 7            # cells 3 and 7 of the table, on one clock\n"
        "  cab-trace replay runs/ 3              # cell 3 of the table alone\n"
        "keys: space play/pause · ←/→ previous/next span start or end · m/M model calls · "
        "t transcript · tab next pane · z maximize · ]/[ zoom · }/{ pan · e/E errors · / filter · "
        "? help · q quit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a trace file (ours, OTLP/JSON, Jaeger JSON; an Inspect AI log, an ATIF trajectory, an "
        "asciicast recording), a run directory, a Harbor trial directory, or a directory of runs",
    )
    replay.add_argument(
        "more",
        nargs="*",
        metavar="RUN",
        help="a second run (PATH B: both on one clock), or with a directory of runs two of its cells "
        "(DIR A B, as its table numbers them)",
    )
    replay.add_argument(
        "--idle-limit",
        type=float,
        metavar="SECONDS",
        help="on playback, shorten every wait longer than SECONDS with nothing happening to SECONDS "
        "(as asciinema's --idle-time-limit); the transport line shows it; i toggles it",
    )
    replay.add_argument(
        "--no-index", action="store_true", help="with a directory: read every trace, write no index"
    )
    replay.set_defaults(handler=cmd_replay)


def _size(path: Path) -> int:
    """Bytes of a trace file, or of the trace file in a run directory (0 if there is none)."""
    from cab_trace.model.formats import resolve_source

    try:
        return resolve_source(path).stat().st_size
    except (TraceFileError, OSError):
        return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from replay.load import load

    if args.idle_limit is not None and not args.idle_limit > 0:
        raise UsageError(f"--idle-limit must be a positive number of seconds, not {args.idle_limit}")
    if args.more:
        return _replay_pair(args)
    from cab_trace.cli.runs import is_runs_dir

    if is_runs_dir(args.path):
        return _replay_runs(args)
    if sys.stderr.isatty() and _size(args.path) > 5_000_000:
        stderr(f"{PROG}: reading {args.path} ({_size(args.path) / 1e6:.0f} MB) ...")
    traces = load(args.path, warn=warn)  # before the UI: a bad file is an error on stderr, exit 2
    if trace := getattr(args, "trace", None):  # one run of a file holding several (a cell of DIR)
        traces = [t for t in traces if t.trace_id.startswith(trace)]
    if not traces:
        raise TraceFileError(args.path, "holds no spans: nothing to replay")
    if not sys.stdout.isatty():
        raise UsageError("replay needs a terminal", hint="use `cab-trace show` to print a trace")
    from replay.app import ReplayApp

    app = ReplayApp(traces, source=args.path, idle_limit_s=args.idle_limit)
    app.run()
    if app.probe is not None:
        app.probe.save()
    return 0


def _need_terminal() -> None:
    if not sys.stdout.isatty():
        raise UsageError(
            "replay needs a terminal", hint="use `cab-trace show` or `cab-trace compare` to print"
        )


def _run_app(app: Any) -> int:
    app.run()
    if app.probe is not None:
        app.probe.save()
    return 0


def _replay_runs(args: argparse.Namespace) -> int:
    """A directory of runs: the table of its cells."""
    from cab_trace.cli.runs import listing

    found = listing(args.path, no_index=args.no_index)  # before the UI: its warnings on stderr
    _need_terminal()
    from replay.app import ReplayApp
    from replay.screens.runs import RunsScreen

    idle = args.idle_limit
    return _run_app(
        ReplayApp(
            [],
            source=args.path,
            idle_limit_s=idle,
            first_screen=lambda app: RunsScreen(found, app.clock, idle),
        )
    )


def _replay_pair(args: argparse.Namespace) -> int:
    """Two runs (A B, or DIR A B) on one clock; or DIR A: that one cell of the directory."""
    from cab_trace.cli.runs import is_runs_dir, one_cell, targets

    if len(args.more) == 1 and is_runs_dir(args.path):
        cell = one_cell(args.path, args.more[0], no_index=args.no_index)
        args.path, args.more, args.trace = cell.path, [], cell.trace
        return cmd_replay(args)

    a, b = targets([str(args.path), *args.more], "replay", no_index=args.no_index)
    from replay.compare_pair import open_pair
    from replay.screens.compare import CompareScreen

    pair = open_pair((str(a.path), a.trace, a.title), (str(b.path), b.trace, b.title), warn)
    _need_terminal()
    from replay.app import ReplayApp

    idle = args.idle_limit
    return _run_app(
        ReplayApp(
            [],
            source=args.path,
            idle_limit_s=idle,
            first_screen=lambda app: CompareScreen(pair, app.clock, idle),
        )
    )
