"""``cab-trace validate``: check every line of a trace file against the published JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

import cab_trace
from cab_trace.errors import TraceFileError
from cab_trace.model import RecordError, SpanRecord, resolve_trace_path
from cab_trace.model.formats import detect_format, read_trace

SCHEMA_NAME = "span-record.v1.schema.json"
MAX_PROBLEMS = 20


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

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_file(path: Path | str, progress: Callable[[int], None] | None = None) -> ValidationReport:
    """Validate each line against the schema and the record model; collect (up to 20) problems.

    Raises:
        TraceFileError: the file cannot be opened at all.
    """
    from jsonschema import Draft202012Validator  # only this command pays for importing it

    validator = Draft202012Validator(load_schema())
    file_path = resolve_trace_path(path)
    report = ValidationReport(file_path)
    try:
        fmt = detect_format(file_path)
    except OSError as exc:
        raise TraceFileError(
            file_path,
            "no such file"
            if isinstance(exc, FileNotFoundError)
            else f"cannot be opened: {exc.strerror or exc}",
        ) from None
    if fmt != "cab-jsonl":
        # Another tool's format: valid when every span converts into a record that our schema accepts.
        report.format = fmt
        for number, record in enumerate(read_trace(file_path, warn=report.warnings.append), start=1):
            report.lines = number
            problem = _check_obj(record.to_json_obj(), validator)
            if problem is not None and len(report.problems) < MAX_PROBLEMS:
                report.problems.append(f"{file_path}: span {number}: {problem}")
        return report
    try:
        handle = file_path.open("rb")
    except OSError as exc:
        raise TraceFileError(
            file_path,
            "no such file"
            if isinstance(exc, FileNotFoundError)
            else f"cannot be opened: {exc.strerror or exc}",
        ) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            report.lines = number
            if progress is not None and number % 10_000 == 0:
                progress(number)
            problem = _check_line(raw, validator)
            if problem is None:
                continue
            if not raw.endswith(b"\n") and problem.startswith("not valid JSON"):
                report.warnings.append(
                    f"{file_path}:{number}: last line is incomplete ({problem}); "
                    "the writer was probably killed mid-line"
                )
                continue
            if len(report.problems) < MAX_PROBLEMS:
                report.problems.append(f"{file_path}:{number}: {problem}")
            else:
                report.truncated = True
    return report


def _check_line(raw: bytes, validator: Any) -> str | None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON ({exc})"
    return _check_obj(obj, validator)


def _check_obj(obj: Any, validator: Any) -> str | None:
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
        return f"schema: {where or 'the line'}: {err.message}"
    try:
        SpanRecord.from_json_obj(obj)
    except RecordError as exc:  # rules JSON Schema cannot state (end before start, 64-bit integers)
        return f"not a span record: {exc}"
    return None
