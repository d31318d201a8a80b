"""Reading any trace format, and other harnesses' records, told apart by their structure. Pure:
stdlib and orjson.

- **cab-trace JSONL**: one span record per line (:mod:`cab_trace.model.jsonl`).
- **OTLP/JSON** (:mod:`cab_trace.model.otlp_json`): ``TracesData`` objects, one per line as the
  Collector's file exporter writes them (whose files may mix in logs and metrics lines: those
  are skipped and counted), or one pretty-printed document (opentelemetry-proto's examples).
- **Jaeger JSON** (:mod:`cab_trace.model.jaeger_json`): ``{"data": [...]}`` or one bare trace.
- Imported (:mod:`cab_trace.model.foreign`): an **Inspect AI** log (``.eval``, a zip archive,
  or ``.json``), a **Harbor** trial (its ``result.json``, or the trial directory) or an
  **ATIF** trajectory, an **asciicast** recording on its own.

A file that is not text (a zip archive that is not an Inspect log, gzip, anything with NUL
bytes) is refused at once, saying what it is, not line by line.

The format is decided by parsing, not by guessing from bytes: the first line, when it is a
JSON object, says which (a span record, an OTLP data object, a Jaeger document); when it is
not a whole JSON value, the file is a pretty-printed document and is parsed whole. A record
whose name is ``data`` or ``resourceSpans`` is still a record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model import foreign
from cab_trace.model.asciicast import header_version
from cab_trace.model.harbor import is_atif, is_trial_result
from cab_trace.model.inspect_archive import archive_names, is_inspect_archive
from cab_trace.model.inspect_log import is_inspect_log
from cab_trace.model.jaeger_json import is_jaeger, jaeger_document, records_from_jaeger, write_jaeger
from cab_trace.model.jsonl import open_error, read_records, resolve_trace_path
from cab_trace.model.lines import bounded_lines, check_document_size
from cab_trace.model.otlp_json import (
    KIND_ATTRIBUTE,
    otlp_span,
    records_from_traces_data,
    signal_of,
    traces_data,
    write_otlp_lines,
)
from cab_trace.model.record import RecordError, SpanRecord
from cab_trace.model.structure import checked

__all__ = [
    "KIND_ATTRIBUTE",
    "Format",
    "detect_format",
    "jaeger_document",
    "otlp_span",
    "read_trace",
    "records_from_jaeger",
    "records_from_traces_data",
    "resolve_source",
    "traces_data",
    "write_jaeger_json",
    "write_otlp_json",
]

Format = Literal[
    "cab-jsonl",
    "otlp-json",
    "jaeger-json",
    "inspect-eval",
    "inspect-json",
    "harbor-trial",
    "atif",
    "asciicast",
]
WarnFn = Callable[[str], None]


def write_otlp_json(records: Iterable[SpanRecord], path: Path) -> int:
    """OTLP/JSON lines, streamed. Returns the number of spans."""
    with path.open("wb") as out:
        return write_otlp_lines(records, out)[0]


def write_jaeger_json(records: Iterable[SpanRecord], path: Path) -> int:
    """Jaeger JSON, in bounded memory. Returns the number of spans."""
    with path.open("wb") as out:
        return write_jaeger(records, out)[0]


# -- telling the formats apart -------------------------------------------------------------------


class _Sniffed:
    """What the start of a file says: its format, and for a whole document, the parsed value."""

    def __init__(self, fmt: Format, document: Any = None, pretty: bool = False) -> None:
        self.format = fmt
        self.document = document
        self.pretty = pretty


def _first_line(handle: IO[bytes], path: Path) -> bytes:
    for _number, raw in bounded_lines(handle, path):
        if raw.strip():
            return raw
    return b""


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_BINARY = {
    b"\x1f\x8b": "gzip-compressed (decompress it first: gunzip)",
    b"\x28\xb5\x2f\xfd": "Zstandard-compressed (decompress it first: zstd -d)",
    b"BZh": "bzip2-compressed (decompress it first: bunzip2)",
    b"\xfd7zXZ": "xz-compressed (decompress it first: unxz)",
}


def _not_text(path: Path, head: bytes) -> _Sniffed | None:
    """A file that is not text: an Inspect ``.eval`` archive, or an error saying what it is."""
    if head.startswith(_ZIP_MAGIC):
        names = archive_names(path.read_bytes())
        if names is not None and is_inspect_archive(names):
            return _Sniffed("inspect-eval")
        raise TraceFileError(
            path,
            "is a zip archive, not a trace"
            + (" (and not an Inspect AI .eval log: it has no header.json)" if names is not None else ""),
            hint="cab-trace reads its own JSONL, OTLP/JSON, Jaeger JSON, Inspect AI logs, Harbor trials, "
            "ATIF trajectories and asciicast recordings",
        )
    for magic, what in _BINARY.items():
        if head.startswith(magic):
            raise TraceFileError(path, f"is {what}, not a trace")
    # Only the first line decides: a trace whose later lines are damaged (a killed writer can
    # leave NUL bytes) is read up to them, and its reader names the line.
    first = head.split(b"\n", 1)[0]
    if b"\x00" in first:
        raise TraceFileError(path, "is a binary file (it holds NUL bytes), not a trace")
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(first) - 4 or b"\n" in head:  # not a character cut at the sample's end
            raise TraceFileError(
                path, f"is not UTF-8 text (byte {exc.start} is {first[exc.start]:#04x}): not a trace"
            ) from None
    return None


def _by_structure(obj: Any) -> Format | None:
    """The format a parsed first line or document names by its structure, if any."""
    if signal_of(obj) is not None:
        return "otlp-json"
    if is_jaeger(obj):
        return "jaeger-json"
    if header_version(obj) is not None:
        return "asciicast"
    if is_inspect_log(obj):
        return "inspect-json"
    if is_trial_result(obj):
        return "harbor-trial"
    if is_atif(obj):
        return "atif"
    return None


def _sniff(path: Path) -> _Sniffed:
    with path.open("rb") as handle:
        head = handle.read(4096)
        handle.seek(0)
        sniffed = _not_text(path, head)
        if sniffed is not None:
            return sniffed
        first = _first_line(handle, path)
    if not first:
        return _Sniffed("cab-jsonl")
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        return _sniff_document(path, first)
    fmt = _by_structure(obj)
    if fmt is None:
        return _Sniffed("cab-jsonl")  # a record, or something the record reader will explain
    if fmt in ("jaeger-json", "inspect-json", "harbor-trial", "atif"):
        return _Sniffed(fmt, obj)
    return _Sniffed(fmt)


def _sniff_document(path: Path, first: bytes) -> _Sniffed:
    """The first line is not a whole JSON value: a pretty-printed document starts with a line
    that opens an object or array; anything else is a JSONL file with a broken first line."""
    opening = first.strip()
    if not (opening in (b"{", b"[") or opening.endswith((b"{", b"[", b",", b":"))):
        return _Sniffed("cab-jsonl")
    check_document_size(path)  # parsed whole: held to the line limit as a whole
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise TraceFileError(
            path, f"not valid JSON: a multi-line JSON document that does not parse ({exc})", exc.lineno
        ) from None
    fmt = _by_structure(document)
    if fmt is not None and fmt != "asciicast":
        return _Sniffed(fmt, document, pretty=True)
    raise TraceFileError(
        path,
        "a JSON document that is none of OTLP/JSON (no resourceSpans), Jaeger JSON (no data or spans), "
        "an Inspect AI log (no eval), a Harbor trial result (no trial_name) or an ATIF trajectory (no steps)",
        hint="cab-trace reads its own JSONL, OTLP/JSON, Jaeger JSON, Inspect AI logs, Harbor trials, "
        "ATIF trajectories and asciicast recordings",
    )


def resolve_source(path: Path | str) -> Path:
    """The file to read for ``path``: a trace file as itself; a run directory's ``trace.jsonl``;
    a Harbor trial directory's ``result.json``.

    Raises:
        TraceFileError: a directory that is neither.
    """
    p = Path(path)
    if p.is_dir() and not (p / "trace.jsonl").is_file():
        result = foreign.trial_result_in(p)
        if result is not None:
            return result
    return resolve_trace_path(p)


def detect_format(path: Path) -> Format:
    """Which format a file is in, from its structure (see the module's docstring).

    Raises:
        TraceFileError: a multi-line document that is not JSON, or not a trace.
        OSError: the file cannot be read.
    """
    return _sniff(path).format


def read_trace(path: Path | str, warn: WarnFn | None = None, structure: bool = True) -> Iterator[SpanRecord]:
    """Records from a cab-trace JSONL file or run directory, OTLP/JSON, or Jaeger JSON.

    Args:
        warn: gets what loses nothing but should be said (a truncated last line, skipped
            non-trace lines, duplicate span ids, parent cycles, missing parents).
        structure: check the trace's shape (duplicates, cycles, dangling parents) and warn.

    Raises:
        TraceFileError: the file cannot be read, or a line (or a span) is malformed.
    """
    file_path = resolve_source(path)
    try:
        sniffed = _sniff(file_path)
    except OSError as exc:
        raise open_error(file_path, exc) from None
    records = _records(file_path, sniffed, warn)
    if structure:
        records = checked(records, warn, str(file_path))
    yield from records


def _records(path: Path, sniffed: _Sniffed, warn: WarnFn | None) -> Iterator[SpanRecord]:
    if sniffed.format in foreign.IMPORTED:
        return foreign.read_imported(path, sniffed.format, sniffed.document, warn)
    if sniffed.format == "cab-jsonl":
        return read_records(path, warn)
    if sniffed.format == "otlp-json":
        if sniffed.pretty:
            return _document(path, sniffed.document, records_from_traces_data, "OTLP/JSON")
        return _read_otlp_lines(path, warn)
    if sniffed.document is None:  # pragma: no cover - a Jaeger file is always parsed to sniff it
        check_document_size(path)
        sniffed.document = orjson.loads(path.read_bytes())
    return _document(path, sniffed.document, lambda doc: records_from_jaeger(doc, warn), "Jaeger JSON")


def _document(
    path: Path, document: Any, reader: Callable[[Any], Iterator[SpanRecord]], what: str
) -> Iterator[SpanRecord]:
    try:
        yield from reader(document)
    except RecordError as exc:
        raise TraceFileError(path, f"not valid {what}: {exc}") from None


def _read_otlp_lines(path: Path, warn: WarnFn | None) -> Iterator[SpanRecord]:
    skipped: Counter[str] = Counter()
    with path.open("rb") as handle:
        pending: tuple[int, bytes] | None = None
        for number, raw in bounded_lines(handle, path):
            if pending is not None:
                yield from _otlp_line(path, pending, skipped, warn, last=False)
            pending = (number, raw)
        if pending is not None:
            yield from _otlp_line(path, pending, skipped, warn, last=True)
    if skipped and warn is not None:
        what = ", ".join(f"{n} {signal}" for signal, n in sorted(skipped.items()))
        warn(f"{path}: skipped {sum(skipped.values())} line(s) that hold no traces ({what})")


def _otlp_line(
    path: Path, line: tuple[int, bytes], skipped: Counter[str], warn: WarnFn | None, last: bool
) -> Iterator[SpanRecord]:
    number, raw = line
    if not raw.strip():
        return
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if last and not raw.endswith(b"\n") and raw.lstrip().startswith(b'{"resource'):
            if warn is not None:
                warn(f"{path}:{number}: last line is incomplete ({exc}); read the lines before it")
            return
        raise TraceFileError(path, f"not valid JSON ({exc})", number) from None
    signal = signal_of(obj)
    if signal is None:
        raise TraceFileError(
            path,
            "not an OTLP/JSON line (no resourceSpans, resourceLogs, resourceMetrics or resourceProfiles)",
            number,
        )
    if signal != "traces":
        skipped[signal] += 1
        return
    try:
        yield from list(records_from_traces_data(obj))
    except RecordError as exc:
        raise TraceFileError(path, f"not valid OTLP/JSON: {exc}", number) from None
