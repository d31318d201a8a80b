"""Reading other harnesses' records from disk: what files an import needs, read for the pure
importers (:mod:`~cab_trace.model.inspect_log`, :mod:`~cab_trace.model.harbor`,
:mod:`~cab_trace.model.asciicast`), and where a source's terminal recording is.

Stdlib and orjson only; :mod:`cab_trace.model.formats` tells the formats apart and calls these.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from cab_trace.errors import TraceFileError
from cab_trace.model import asciicast, harbor, inspect_archive, inspect_log
from cab_trace.model.jsonl import missing_problem
from cab_trace.model.record import RecordError, SpanRecord

WarnFn = Callable[[str], None]

#: What each format is, in words (``validate`` says it; errors name it).
LABELS = {
    "cab-jsonl": "cab-trace JSONL",
    "otlp-json": "OTLP/JSON",
    "jaeger-json": "Jaeger JSON",
    "inspect-eval": "an Inspect AI log (.eval: a zip archive of JSON)",
    "inspect-json": "an Inspect AI log (.json)",
    "harbor-trial": "a Harbor trial (result.json and the trial directory around it)",
    "atif": "an ATIF trajectory (Harbor's agent trajectory format)",
    "asciicast": "an asciicast terminal recording",
}
#: Formats read by an importer (not spans of their own): their ids and times are derived.
IMPORTED = ("inspect-eval", "inspect-json", "harbor-trial", "atif", "asciicast")
CAST_FILE_NAME = "terminal.cast"


def trial_result_in(directory: Path) -> Path | None:
    """A Harbor trial directory's ``result.json`` (beside ``agent/`` or ``verifier/``: a job's
    directory has a ``result.json`` and ``config.json`` too, but its trials are below it), or None."""
    result = directory / harbor.RESULT_FILE
    if result.is_file() and any((directory / n).is_dir() for n in ("agent", "verifier")):
        return result
    return None


_ZIP_MAGIC = b"PK\x03\x04"
#: How Inspect AI starts a ``.json`` log (``EvalLog``'s fields in order: version, status, eval).
_INSPECT_JSON = re.compile(rb'\A\s*\{\s*"version"\s*:\s*\d+\s*,[^{]*"eval"\s*:\s*\{')


def looks_like_inspect_log(path: str) -> bool:
    """Whether a file is, by its name and first bytes, an Inspect AI log (``.eval``: a zip
    archive; ``.json``: starting as Inspect writes its logs): what a directory walk takes for
    a run without reading it whole (reading it says the rest)."""
    if not path.endswith((".eval", ".json")):
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    if path.endswith(".eval"):
        return head.startswith(_ZIP_MAGIC)
    return _INSPECT_JSON.match(head) is not None


def _warn_read(path: Path, warn: WarnFn | None, what: str, exc: Exception) -> None:
    if warn is not None:
        warn(f"{path}: could not read {what} ({exc}); the trial is read without it")


def _optional_json(path: Path, warn: WarnFn | None, what: str) -> Any:
    """A trial's optional JSON file, parsed; None when there is none, or (said) when what is
    there cannot be read: the trial is still read, without it."""
    if not path.is_file():
        if os.path.lexists(path):  # there, but a directory, a named pipe or a broken link
            _warn_read(path, warn, what, OSError(missing_problem(path)))
        return None
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        _warn_read(path, warn, what, exc)
        return None


def _trajectory(path: Path, warn: WarnFn | None, what: str) -> Any:
    """A trial's ATIF trajectory, or None; one that is there but is not ATIF is said, not
    dropped in silence."""
    found = _optional_json(path, warn, what)
    if found is not None and not harbor.is_atif(found):
        _warn_read(path, warn, what, ValueError("not an ATIF trajectory: no agent object and steps list"))
        return None
    return found


def _checked(path: Path, fmt: str, records: Iterator[SpanRecord]) -> Iterator[SpanRecord]:
    try:
        yield from records
    except RecordError as exc:
        raise TraceFileError(path, f"not valid as {LABELS[fmt]}: {exc}") from None


def read_imported(path: Path, fmt: str, document: Any, warn: WarnFn | None) -> Iterator[SpanRecord]:
    """The records of a file in one of :data:`IMPORTED` (``document``: the parsed JSON, when
    telling the format apart parsed it already)."""
    if fmt == "inspect-eval":
        return _checked(path, fmt, inspect_archive.records_from_eval_archive(path.read_bytes(), warn))
    if fmt == "asciicast":
        return _cast(path, warn)
    if document is None:
        try:
            document = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise TraceFileError(path, f"not valid JSON ({exc})") from None
    if fmt == "inspect-json":
        return _checked(path, fmt, inspect_log.records_from_inspect_json(document))
    if fmt == "atif":
        return _checked(path, fmt, harbor.records_from_atif(document))
    return _checked(path, fmt, _trial(path, document, warn))


def _cast(path: Path, warn: WarnFn | None) -> Iterator[SpanRecord]:
    def said(note: str) -> None:
        if warn is not None:
            warn(f"{path}: {note}")

    with path.open("rb") as handle:
        try:
            yield from asciicast.records_from_cast(handle, path.name, said)
        except RecordError as exc:
            raise TraceFileError(path, f"not a valid asciicast recording: {exc}") from None


def _trial(result_path: Path, result: Any, warn: WarnFn | None) -> Iterator[SpanRecord]:
    directory = result_path.parent
    trajectory = _trajectory(directory / harbor.TRAJECTORY_FILE, warn, "the agent's trajectory")
    reward_text = None
    reward = directory / "verifier" / "reward.txt"
    if not reward.is_file() and os.path.lexists(reward):  # the verdict: never dropped unsaid
        _warn_read(reward, warn, "the reward", OSError(missing_problem(reward)))
    elif reward.is_file():
        try:
            reward_text = reward.read_text("utf-8", errors="replace")
        except OSError as exc:
            _warn_read(reward, warn, "the reward", exc)
    steps: dict[str, Any] = {}
    step_results = result.get("step_results") if isinstance(result, dict) else None
    for step in step_results if isinstance(step_results, list) else []:
        name = step.get("step_name") if isinstance(step, dict) else None
        if isinstance(name, str) and "/" not in name and name not in (".", ".."):
            step_file = directory / "steps" / name / harbor.TRAJECTORY_FILE
            found = _trajectory(step_file, warn, "a step's trajectory")
            if found is not None:
                steps[name] = found
    yield from harbor.records_from_trial(result, trajectory, reward_text, steps)


def terminal_of(trace_path: Path) -> Path | None:
    """The terminal recording that goes with a trace file: a recording read on its own is its
    own; a run directory's ``terminal.cast``; a Harbor trial's ``agent/recording.cast``; the
    ``recording.cast`` beside an ATIF ``trajectory.json``."""
    if _is_cast(trace_path):
        return trace_path
    directory = trace_path.parent
    candidates = [directory / CAST_FILE_NAME]
    if trace_path.name == harbor.RESULT_FILE:
        candidates.append(directory / harbor.CAST_FILE)
    if trace_path.name == "trajectory.json":
        candidates.append(directory / "recording.cast")
    return next((c for c in candidates if c.is_file()), None)


def _is_cast(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(1 << 16)
        return asciicast.header_version(orjson.loads(first)) is not None
    except (OSError, orjson.JSONDecodeError):
        return False
