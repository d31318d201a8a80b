"""``cab-trace export``: what the command does, between argument parsing and the formats."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from cab_trace.errors import CabTraceError, TraceFileError, UsageError
from cab_trace.export.sources import trace_files
from cab_trace.model import SpanRecord
from cab_trace.model.formats import read_trace
from cab_trace.model.jaeger_json import write_jaeger
from cab_trace.model.otlp_json import write_otlp_lines

CAST_FILE = "terminal.cast"
Say = Callable[[str], None]


class ExportError(CabTraceError):
    """The receiver did not take every span."""

    exit_code = 1


def run_export(args: argparse.Namespace, say: Say) -> int:
    """Run ``cab-trace export``; returns the exit code (raises CabTraceError for usage problems)."""
    from cab_trace.otel.setup import OtlpSettings

    if args.format and not args.output:
        raise UsageError(f"--format {args.format} needs -o FILE")
    if args.output and not args.format:
        raise UsageError("-o needs --format jaeger-json, otlp-json or asciicast")
    if args.format and (args.otlp_endpoint or args.pace or args.rebase_time):
        raise UsageError("--format writes a file; --otlp-endpoint, --pace and --rebase-time are for sending")
    if args.pace is not None and args.pace <= 0:
        raise UsageError("--pace must be a positive speed factor, e.g. 1 or 10")
    files = trace_files(args.paths)
    if args.format == "asciicast":
        return _export_cast(files, args.output, say)
    if args.format:
        # Streamed: records go from the readers to the writer one at a time (bounded memory).
        write = write_jaeger if args.format == "jaeger-json" else write_otlp_lines
        with args.output.open("wb") as out:
            count, traces = write(_stream(files, say), out)
        say(f"cab-trace: wrote {count} span(s) of {traces} trace(s) to {args.output} ({args.format})")
        return 0
    records = _load(files, say)
    settings = OtlpSettings.resolve(args.otlp_endpoint, args.protocol, args.header)
    if settings is None:
        raise UsageError(
            "nowhere to export to",
            hint="give --otlp-endpoint URL (or set OTEL_EXPORTER_OTLP_ENDPOINT), or --format and -o",
        )
    return _push(records, settings, args, say)


def _stream(files: list[Path], say: Say) -> Iterator[SpanRecord]:
    for file in files:
        yield from read_trace(file, warn=lambda m: say(f"cab-trace: warning: {m}"))


def _load(files: list[Path], say: Say) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    for file in files:
        records.extend(read_trace(file, warn=lambda m: say(f"cab-trace: warning: {m}")))
    return records


def _traces(records: list[SpanRecord]) -> int:
    return len({r.trace_id for r in records})


def _push(records: list[SpanRecord], settings: object, args: argparse.Namespace, say: Say) -> int:
    from cab_trace.export.otlp_push import push, rebase_to_now
    from cab_trace.otel.setup import OtlpSettings, captured_otel_logs, export_failure_reason, otlp_exporter

    assert isinstance(settings, OtlpSettings)
    notes: list[str] = []
    if args.rebase_time == "now":
        records, shift = rebase_to_now(records)
        notes.append(f"timestamps shifted by {shift / 1e9:+.3f} s so the trace ends now (--rebase-time now)")
    if args.pace:
        notes.append(f"paced at {args.pace:g}x the recorded speed")
    show_progress = sys.stderr.isatty() and len(records) >= 1000

    def progress(done: int, total: int) -> None:
        if show_progress:
            sys.stderr.write(f"\r  sending spans: {done:,} / {total:,}")
            sys.stderr.flush()

    with captured_otel_logs() as logs:
        exporter = otlp_exporter(settings)
        try:
            result = push(records, exporter, progress, pace=args.pace)
        finally:
            exporter.shutdown()
    if show_progress:
        sys.stderr.write("\n")
    where = f"{settings.traces_url} ({settings.protocol})"
    say(
        f"cab-trace: sent {result.sent} of {len(records)} span(s) in {_traces(records)} trace(s) to {where}"
        + "".join(f"; {n}" for n in notes)
    )
    if result.refused:
        reason = export_failure_reason(logs.messages)
        raise ExportError(
            f"the receiver did not take {result.refused} span(s)"
            + (" (gave up after repeated failures)" if result.gave_up else "")
            + (f": {reason}" if reason else ""),
            hint="check the endpoint and protocol (gRPC is usually :4317, HTTP :4318)",
        )
    return 0


def _export_cast(files: list[Path], output: Path, say: Say) -> int:
    casts = [f.parent / CAST_FILE for f in files if (f.parent / CAST_FILE).is_file()]
    if len(casts) != 1:
        raise UsageError(
            f"--format asciicast needs exactly one run with a {CAST_FILE}; found {len(casts)}",
            hint="runs record their terminal when the agent's output is captured to a cast file",
        )
    cast = casts[0]
    with cast.open("rb") as handle:
        header = handle.readline(1 << 20)  # a header is a few hundred bytes: never read a gigabyte
    version = _cast_version(header)
    if version is None:
        raise TraceFileError(
            cast, "not an asciicast v2 or v3 file (its first line is not a v2 or v3 header)", 1
        )
    shutil.copyfile(cast, output)
    say(f"cab-trace: wrote {output} (asciicast v{version}); play it with: asciinema play {output}")
    return 0


def _cast_version(header: bytes) -> int | None:
    """2 or 3 for a header with a positive size (v2: width/height, v3: term.cols/rows)."""
    try:
        doc = orjson.loads(header)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    size = doc if doc.get("version") == 2 else doc.get("term") if doc.get("version") == 3 else None
    keys = ("width", "height") if doc.get("version") == 2 else ("cols", "rows")
    if not isinstance(size, dict):
        return None
    ok = all(isinstance(size.get(k), int) and not isinstance(size.get(k), bool) and size[k] > 0 for k in keys)
    return int(doc["version"]) if ok else None
