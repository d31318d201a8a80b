"""Which trace files an export reads: files, run directories, or a directory of run directories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cab_trace.errors import UsageError
from cab_trace.model import TRACE_FILE_NAME
from cab_trace.model.foreign import trial_result_in


def traces_below(path: Path) -> list[Path]:
    """Every run's trace below a directory: ``trace.jsonl`` files, Harbor trials' ``result.json``
    and Inspect AI ``.eval`` logs (imported logs read as runs too)."""
    found = set(path.rglob(TRACE_FILE_NAME)) | set(path.rglob("*.eval"))
    found |= {r for d in path.rglob("result.json") if (r := trial_result_in(d.parent)) is not None}
    return sorted(found)


def trace_files(paths: Sequence[Path]) -> list[Path]:
    """Expand each path: a file as itself, a run (or Harbor trial) directory as its trace, any
    other directory as every trace below it (a sweep: see :func:`traces_below`), sorted.

    Raises:
        UsageError: a path does not exist, or a directory holds no trace.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif (path / TRACE_FILE_NAME).is_file():
            files.append(path / TRACE_FILE_NAME)
        elif path.is_dir() and (trial := trial_result_in(path)) is not None:
            files.append(trial)
        elif path.is_dir():
            found = traces_below(path)
            if not found:
                raise UsageError(
                    f"{path}: no {TRACE_FILE_NAME} in it or below it",
                    hint="pass trace files, run directories, or a directory of run directories",
                )
            files.extend(found)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return files
