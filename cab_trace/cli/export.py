"""`cab-trace export`: send traces over OTLP or write them as Jaeger JSON, OTLP/JSON or asciicast."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cab_trace.cli.common import stderr


def register(sub: Any) -> None:
    export: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="send traces to an OTLP receiver (Jaeger, a Collector) or write Jaeger/OTLP/asciicast files",
        description="Send recorded spans to an OTLP receiver with their original ids, times and attributes, "
        "or write them as a file that Jaeger UI, the OpenTelemetry Collector or asciinema opens. PATH is a "
        "trace file (ours, OTLP/JSON lines or Jaeger JSON), a run directory, or a directory of run "
        "directories (a sweep).",
        epilog="examples:\n"
        "  cab-trace export runs/ --otlp-endpoint http://127.0.0.1:4317 --otlp-protocol grpc "
        "--rebase-time now\n"
        "  cab-trace export runs/<run-id> --format jaeger-json -o trace.json   # Jaeger UI: Upload JSON\n"
        "  cab-trace export runs/<run-id> --format otlp-json -o traces.jsonl   # Collector otlpjsonfile",
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
        choices=["jaeger-json", "otlp-json", "asciicast"],
        help="write a file instead of sending over OTLP",
    )
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="the file --format writes")
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
