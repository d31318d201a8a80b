"""`cab-trace redact` and `cab-trace scan`: redaction as a filter, and a search for what it would catch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cab_trace.cli.common import PROG, add_known_secret_flag, known_secrets, stderr, stdout, warn
from cab_trace.errors import UsageError


def register(sub: Any) -> None:
    redact: argparse.ArgumentParser = sub.add_parser(
        "redact",
        help="redact secrets from a file or stdin, to stdout",
        description="Write FILE (or stdin) to stdout with every secret replaced by [REDACTED]: credential "
        "shapes, secret-named options and variables, auth headers, URL passwords, private keys, and the "
        "values of --secret-env variables. A cab-trace trace file is redacted record by record and "
        "stays valid. Lines of any length are read in bounded memory; a trace record longer than "
        "CAB_TRACE_MAX_LINE (64 MiB) is an error (exit 2) after the records before it.",
    )
    redact.add_argument("path", nargs="?", type=Path, metavar="FILE", help="the file (default: stdin)")
    add_known_secret_flag(redact, "also replace the value of $NAME wherever it appears (repeatable)")
    redact.set_defaults(handler=cmd_redact)

    scan: argparse.ArgumentParser = sub.add_parser(
        "scan",
        help="report suspected secrets in a trace file or run directory",
        description="Report every suspected secret in a file, or in every file below a directory, as "
        "FILE:LINE: RULE: PREVIEW. The preview never shows the secret. A line of any length is read in "
        "overlapping pieces, in bounded memory. Exits 1 if anything is found, 2 if nothing was found "
        "but a file or directory could not be read.",
    )
    scan.add_argument("path", type=Path, metavar="PATH", help="a file or a directory (e.g. a run directory)")
    add_known_secret_flag(scan, "also look for the value of $NAME (repeatable)")
    scan.set_defaults(handler=cmd_scan)


def cmd_redact(args: argparse.Namespace) -> int:
    from cab_trace.redact import Redactor
    from cab_trace.redact.records import redact_stream

    redactor = Redactor(known_secrets(args.known_secret_env))
    out: Any = sys.stdout.buffer
    if sys.stdout.isatty():
        # Shown on a terminal, the file's text is escaped as every other command escapes it;
        # into a pipe or a file it goes unchanged (it is the data the user asked for).
        out = _EscapingSink(out)
    if args.path is None:
        redact_stream(sys.stdin.buffer, out, redactor, path="<stdin>")
        return 0
    try:
        handle = args.path.open("rb")
    except OSError as exc:
        raise UsageError(f"{args.path}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        redact_stream(handle, out, redactor, path=args.path)
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from cab_trace.redact import Redactor
    from cab_trace.redact.scan import files_under, scan_file

    if not args.path.exists():
        raise UsageError(f"{args.path}: no such file or directory")
    redactor = Redactor(known_secrets(args.known_secret_env))
    hits = 0
    files_with_hits = 0
    files = 0
    skipped = 0

    def unlisted(directory: Path, exc: OSError) -> None:
        nonlocal skipped
        skipped += 1
        warn(f"{directory}: cannot be listed ({exc.strerror or exc}); skipped")

    for file in files_under(args.path, unlisted):
        files += 1
        found = 0
        try:
            for hit in scan_file(file, redactor):
                stdout(str(hit))
                found += 1
        except OSError as exc:
            skipped += 1
            warn(f"{file}: cannot be read ({exc.strerror or exc}); skipped")
        hits += found
        files_with_hits += bool(found)
    if hits:
        stderr(f"{PROG}: {hits} suspected secret(s) in {files_with_hits} of {files} file(s)")
        return 1
    if skipped:
        # Nothing found is not "no secrets" when something could not be read.
        stderr(f"{PROG}: no suspected secrets in {files} file(s), but {skipped} could not be read")
        return 2
    stderr(f"{PROG}: no suspected secrets in {files} file(s)")
    return 0


class _EscapingSink:
    """A binary sink that writes its input as escaped text (:func:`cab_trace.textsafe.safe_text`)."""

    def __init__(self, sink: Any) -> None:
        import codecs

        self._sink = sink
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: bytes) -> int:
        from cab_trace.textsafe import safe_text

        self._sink.write(safe_text(self._decoder.decode(data)).encode())
        return len(data)

    def flush(self) -> None:
        from cab_trace.textsafe import safe_text

        self._sink.write(safe_text(self._decoder.decode(b"", final=True)).encode())
        self._sink.flush()
