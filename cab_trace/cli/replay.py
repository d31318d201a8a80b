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
        "terminal (terminal.cast) as it was at that moment. A file with several traces (a sweep) opens a "
        "list first. Press ? in the UI for every key and what the mouse does.",
        epilog="keys: space play/pause · ←/→ previous/next span start or end · m/M model calls · "
        "t transcript · tab next pane · z maximize · ]/[ zoom · }/{ pan · e/E errors · / filter · "
        "? help · q quit",
    )
    replay.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a trace file (ours, OTLP/JSON or Jaeger JSON) or a run directory",
    )
    replay.add_argument(
        "--idle-limit",
        type=float,
        metavar="SECONDS",
        help="on playback, shorten every wait longer than SECONDS with nothing happening to SECONDS "
        "(as asciinema's --idle-time-limit); the transport line shows it; i toggles it",
    )
    replay.set_defaults(handler=cmd_replay)


def _size(path: Path) -> int:
    """Bytes of a trace file, or of the trace file in a run directory (0 if there is none)."""
    from cab_trace.model.jsonl import resolve_trace_path

    try:
        return resolve_trace_path(path).stat().st_size
    except (TraceFileError, OSError):
        return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from replay.load import load

    if args.idle_limit is not None and not args.idle_limit > 0:
        raise UsageError(f"--idle-limit must be a positive number of seconds, not {args.idle_limit}")
    if sys.stderr.isatty() and _size(args.path) > 5_000_000:
        stderr(f"{PROG}: reading {args.path} ({_size(args.path) / 1e6:.0f} MB) ...")
    traces = load(args.path, warn=warn)  # before the UI: a bad file is an error on stderr, exit 2
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
