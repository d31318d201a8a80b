"""`cab-trace export`: send traces over OTLP or write them as Jaeger JSON, OTLP/JSON or asciicast."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cab_trace.cli.common import add_known_secret_flag, stderr
from cab_trace.cli_types import byte_size


def register(sub: Any) -> None:
    export: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="send traces to an OTLP receiver (Jaeger, a Collector) or write Jaeger/OTLP/asciicast files",
        description="Send recorded spans to an OTLP receiver with their original ids, times and attributes, "
        "or write them as a file that Jaeger UI, the OpenTelemetry Collector or asciinema opens, or as a "
        "self-contained HTML page per run (--format html). PATH is a "
        "trace file (ours, OTLP/JSON lines or Jaeger JSON), another harness's record (an Inspect AI log, a "
        "Harbor trial directory, an ATIF trajectory, an asciicast recording), a run directory, or a "
        "directory of run directories (a sweep).",
        epilog="examples:\n"
        "  cab-trace export runs/ --otlp-endpoint http://127.0.0.1:4317 --otlp-protocol grpc "
        "--rebase-time now\n"
        "  cab-trace export runs/<run-id> --format jaeger-json -o trace.json   # Jaeger UI: Upload JSON\n"
        "  cab-trace export runs/<run-id> --format otlp-json -o traces.jsonl   # Collector otlpjsonfile\n"
        "  cab-trace export runs/<run-id> --format asciicast -o run.cast       # asciinema play run.cast\n"
        "  cab-trace export logs/task.eval --format jaeger-json -o trace.json  # an Inspect AI log\n"
        "  cab-trace export runs/<run-id> --format html -o cell.html           # the cell page\n"
        "  cab-trace export sweeps/<sweep-id> --format html -o site/           # a page per cell + index",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="trace files or run directories")
    export.add_argument(
        "--otlp-endpoint", metavar="URL", help="OTLP receiver (default: $OTEL_EXPORTER_OTLP_ENDPOINT)"
    )
    # The same spelling as `run`'s OTLP flags; --protocol and --header stay as the older names.
    export.add_argument(
        "--otlp-protocol",
        "--protocol",
        dest="protocol",
        choices=["grpc", "http/protobuf"],
        help="OTLP transport (default: http/protobuf)",
    )
    export.add_argument(
        "--otlp-header",
        "--header",
        dest="header",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="OTLP header (repeatable)",
    )
    export.add_argument(
        "--format",
        choices=["jaeger-json", "otlp-json", "asciicast", "html"],
        help="write a file instead of sending over OTLP (html: the cell page, see below)",
    )
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="the file --format writes (html: a directory, e.g. site/, for a sweep or several runs)",
    )
    html = export.add_argument_group(
        "the cell page (--format html)",
        # The parser keeps descriptions as written (RawDescriptionHelpFormatter): wrapped here.
        "One self-contained HTML file per run that opens from disk in any current browser,\n"
        "with no network and no server: identity and per-axis numbers, the trace replay\n"
        "(waterfall, playhead, the keys of cab-trace replay), the agent's terminal in sync,\n"
        "the model calls and their conversations, the spans, the diff and the check's output.\n"
        "A sweep directory gives a directory of pages and a sortable index.html. The leak\n"
        "check reads every page before it is written.",
    )
    html.add_argument(
        "--no-content",
        action="store_true",
        help="leave the conversations out (messages, tool definitions, tool arguments and results)",
    )
    html.add_argument(
        "--terminal-limit",
        type=byte_size,
        metavar="SIZE",
        help="the terminal on a page stops after SIZE of recording (default 64m); the page says where",
    )
    add_known_secret_flag(
        html,
        "the leak check also looks for the value of $NAME (repeatable; the values of secret-named "
        "variables in the environment are always looked for)",
    )
    export.add_argument(
        "--cast-version",
        type=int,
        choices=[2, 3],
        metavar="{2,3}",
        help="with --format asciicast: the asciicast version to write (default: 2, which every asciinema "
        "player reads; 3 needs asciinema 3); converted exactly: resizes, markers, idle-time limit",
    )
    export.add_argument(
        "--rebase-time",
        choices=["now"],
        help="shift all timestamps so the trace ends now (shows up in Jaeger's default search)",
    )
    # --speed as the replay says it (2 is twice as fast); --pace is the older name (demo's --pace
    # is something else: seconds between the agent's steps).
    export.add_argument(
        "--speed",
        "--pace",
        dest="pace",
        type=float,
        metavar="SPEED",
        help="send spans as they ended in the recording, SPEED times faster (a live replay)",
    )
    export.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from cab_trace.export.command import run_export

    return run_export(args, stderr)
