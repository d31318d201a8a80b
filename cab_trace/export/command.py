"""``cab-trace export``: what the command does, between argument parsing and the formats."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import orjson

from cab_trace.errors import CabTraceError, TraceFileError, UsageError
from cab_trace.export.output import refuse_overwriting, replacing
from cab_trace.export.sources import trace_files
from cab_trace.model import SpanRecord
from cab_trace.model.asciicast import convert, header_version
from cab_trace.model.foreign import terminal_of
from cab_trace.model.formats import read_trace, resolve_source
from cab_trace.model.jaeger_json import write_jaeger
from cab_trace.model.otlp_json import write_otlp_lines
from cab_trace.model.record import RecordError

Say = Callable[[str], None]


class ExportError(CabTraceError):
    """The receiver did not take every span."""

    exit_code = 1


def run_export(args: argparse.Namespace, say: Say) -> int:
    """Run ``cab-trace export``; returns the exit code (raises CabTraceError for usage problems)."""
    from cab_trace.otel.setup import OtlpSettings

    if args.format and not args.output:
        raise UsageError(
            f"--format {args.format} needs -o FILE" + (" (or -o DIR/)" if args.format == "html" else "")
        )
    if args.output and not args.format:
        raise UsageError("-o needs --format jaeger-json, otlp-json, asciicast or html")
    html_only = [
        f
        for f, on in (
            ("--no-content", args.no_content),
            ("--terminal-limit", args.terminal_limit),
            ("--secret-env", args.known_secret_env),
        )
        if on
    ]
    if html_only and args.format != "html":
        raise UsageError(f"{', '.join(html_only)}: only for --format html")
    if args.format and (args.otlp_endpoint or args.pace or args.rebase_time):
        raise UsageError("--format writes a file; --otlp-endpoint, --speed and --rebase-time are for sending")
    if args.pace is not None and args.pace <= 0:
        raise UsageError("--speed must be a positive factor, e.g. 1 (real time) or 10")
    if args.cast_version is not None and args.format != "asciicast":
        raise UsageError("--cast-version is for --format asciicast")
    if args.format == "html":
        from cab_trace.export.html.site import run_html_export

        return run_html_export(args, say)
    files = trace_files(args.paths)
    if args.format == "asciicast":
        return _export_cast(files, args.output, say, args.cast_version or 2)
    if args.format:
        refuse_overwriting(args.output, [resolve_source(f) for f in files])
        # Streamed: records go from the readers to the writer one at a time (bounded memory).
        write = write_jaeger if args.format == "jaeger-json" else write_otlp_lines
        with replacing(args.output) as out:
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
    from cab_trace.otel.setup import (
        NO_ANSWER_IN_TIME,
        OtlpSettings,
        captured_otel_logs,
        export_failure_reason,
        otlp_exporter,
    )

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
            hint=(
                f"the timeout is {settings.timeout_s:g} s; a receiver slow to start (a cold MLflow can"
                " take over 10 s for its first request) needs more: OTEL_EXPORTER_OTLP_TIMEOUT=60000"
                " (milliseconds)"
                if reason == NO_ANSWER_IN_TIME
                else "check the endpoint and protocol (gRPC is usually :4317, HTTP :4318)"
            ),
        )
    return 0


def _export_cast(files: list[Path], output: Path, say: Say, version: int = 2) -> int:
    casts = [cast for f in files if (cast := terminal_of(resolve_source(f))) is not None]
    if len(casts) != 1:
        raise UsageError(
            f"--format asciicast needs exactly one run with a terminal recording; found {len(casts)}",
            hint="runs record their terminal when the agent's output is captured to a cast file",
        )
    cast = casts[0]
    refuse_overwriting(output, [cast])
    notes: list[str] = []
    with cast.open("rb") as source:
        source_version = header_version(_header(source))
    if source_version is None:
        raise TraceFileError(
            cast, "not an asciicast v2 or v3 file (its first line is not a v2 or v3 header)", 1
        )
    if source_version == version:
        shutil.copyfile(cast, output)  # already in the version asked for: byte for byte
        say(f"cab-trace: wrote {output} (asciicast v{version}); play it with: asciinema play {output}")
        return 0
    try:
        with cast.open("rb") as source, replacing(output) as out:
            # Streamed line by line: a recording can be larger than memory.
            for line in convert(source, version, notes):
                out.write(line)
    except RecordError as exc:
        raise TraceFileError(cast, f"not an asciicast v2 or v3 recording: {exc}") from None
    for note in dict.fromkeys(notes):
        say(f"cab-trace: note: {note}")
    say(
        f"cab-trace: wrote {output} (asciicast v{version}, converted from v{source_version}); "
        f"play it with: asciinema play {output}"
    )
    return 0


def _header(handle: IO[bytes]) -> object:
    try:
        return orjson.loads(handle.readline(1 << 20))
    except orjson.JSONDecodeError:
        return None
