"""``cab-trace validate``: check every line of a trace file against the published JSON Schema.

Streamed, in compact memory: each line is parsed and checked by the record model's bulk fast
path (the same rules as the schema; ``tests/unit/test_validate.py`` keeps them in step on
generated lines); only a line the model refuses goes through the JSON Schema validator, so that
its problem is worded as the schema words it. Another tool's format (OTLP/JSON, Jaeger JSON) is
valid when every span in it converts into a record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import orjson

import cab_trace
from cab_trace.errors import TraceFileError
from cab_trace.model import RecordError, SpanRecord
from cab_trace.model.formats import detect_format, read_trace, resolve_source
from cab_trace.model.jsonl import looks_truncated
from cab_trace.model.lines import bounded_lines
from cab_trace.model.record_fast import fast_check
from cab_trace.model.structure import StructureCheck

SCHEMA_NAME = "span-record.v1.schema.json"
MAX_PROBLEMS = 20
_FLUSH_MASK = 8191  # ids are added to the shape check every 8,192 valid lines


def load_schema() -> dict[str, Any]:
    """The span-record schema: from the installed package, or from the source tree's schemas/."""
    packaged = resources.files("cab_trace").joinpath("_schemas", SCHEMA_NAME)
    if packaged.is_file():
        text = packaged.read_text("utf-8")
    else:
        text = (Path(cab_trace.__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass
class ValidationReport:
    path: Path
    lines: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False  # more problems than MAX_PROBLEMS
    format: str = "cab-jsonl"
    spans: int = 0
    traces: int = 0  # another tool's format: how many traces it made
    cut_line: int | None = None  # our JSONL: the last line, cut off by a writer killed mid-line

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.truncated = True


def _open_error(file_path: Path, exc: OSError) -> TraceFileError:
    return TraceFileError(
        file_path,
        "no such file" if isinstance(exc, FileNotFoundError) else f"cannot be opened: {exc.strerror or exc}",
    )


def validate_file(path: Path | str, progress: Callable[[int], None] | None = None) -> ValidationReport:
    """Validate each line against the schema and the record model; collect (up to 20) problems,
    and warn about the trace's shape (duplicate ids, parent cycles, missing parents).

    Raises:
        TraceFileError: the file cannot be opened at all, or (another tool's format) does not
            convert; its message names the span and the problem in that format's terms.
    """
    file_path = resolve_source(path)
    report = ValidationReport(file_path)
    try:
        fmt = detect_format(file_path)
    except OSError as exc:
        raise _open_error(file_path, exc) from None
    if fmt != "cab-jsonl":
        report.format = fmt
        traces: set[str] = set()
        for number, record in enumerate(read_trace(file_path, warn=report.warnings.append), start=1):
            report.lines = report.spans = number
            traces.add(record.trace_id)
        report.traces = len(traces)
        return report
    try:
        handle = file_path.open("rb")
    except OSError as exc:
        raise _open_error(file_path, exc) from None
    with handle:
        _check_lines(report, handle, progress)
    return report


def _check_lines(report: ValidationReport, handle: BinaryIO, progress: Callable[[int], None] | None) -> None:
    """Every line of our own JSONL: the problems, the counts and the shape's warnings."""
    structure = StructureCheck()
    checker = _LineChecker()
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    # The ids of valid lines, added to the shape check a chunk at a time (column-wise).
    tids: list[str] = []
    sids: list[str] = []
    pids: list[str | None] = []
    add_tid, add_sid, add_pid = tids.append, sids.append, pids.append

    def flush() -> None:
        structure.add_columns(tids, sids, pids)
        tids.clear()
        sids.clear()
        pids.clear()

    lines = spans = 0
    # The hot loop, inlined: a valid line costs one parse, one bulk check and three appends.
    # Lines come in bounded memory: one longer than the limit is an error (model/lines.py).
    for number, raw in bounded_lines(handle, report.path):
        try:
            obj = loads(raw)
        except decode_error:
            if not raw.strip():
                continue  # blank lines carry nothing
            obj = None
        lines = number
        if obj is not None and fast_check(obj):
            spans += 1
            add_tid(obj["trace_id"])
            add_sid(obj["span_id"])
            add_pid(obj["parent_span_id"])
            if not spans & _FLUSH_MASK:
                flush()
        else:
            flush()  # the rows stay in file order
            _slow_line(report, structure, checker, number, raw)
        if progress is not None and number % 100_000 == 0:
            progress(number)
    flush()
    report.lines = lines
    report.spans += spans
    report.warnings.extend(f"{report.path}: {w}" for w in structure.warnings())


def _slow_line(
    report: ValidationReport, structure: StructureCheck, checker: _LineChecker, number: int, raw: bytes
) -> None:
    """A line the fast path did not take: valid after all (an optional field, a foreign value),
    a problem, or (only a last line lacks a newline) what a killed writer left."""
    record, problem = checker.check(raw)
    if record is not None:
        report.spans += 1
        structure.add(record["trace_id"], record["span_id"], record["parent_span_id"])
        return
    assert problem is not None
    if not raw.endswith(b"\n") and problem.startswith("not valid JSON") and looks_truncated(raw):
        report.warnings.append(
            f"{report.path}:{number}: last line is incomplete ({problem}); "
            "the writer was probably killed mid-line"
        )
        report.cut_line = number
        return
    report.problem(f"{report.path}:{number}: {problem}")


class _LineChecker:
    """The model's fast path first; the JSON Schema validator (built on first need) words what
    the model refuses."""

    def __init__(self) -> None:
        self._validator: Any = None

    def check(self, raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
        """The line's object when it is a valid record, else the problem."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return None, f"not valid JSON ({exc})"
        if fast_check(obj):
            return obj, None
        try:
            SpanRecord.from_json_obj(obj)
            return obj, None
        except RecordError as exc:
            model_problem = f"not a span record: {exc}"
        return None, _schema_problem(obj, self.validator) or model_problem

    @property
    def validator(self) -> Any:
        if self._validator is None:
            from jsonschema import Draft202012Validator  # only a bad line pays for importing it

            self._validator = Draft202012Validator(load_schema())
        return self._validator


def _schema_problem(obj: Any, validator: Any) -> str | None:
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    err = errors[0]
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
    return f"schema: {where or 'the line'}: {err.message}"
