"""Which trace files an export reads: files, run directories, or a directory of run directories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cab_trace.errors import UsageError
from cab_trace.model import TRACE_FILE_NAME


def trace_files(paths: Sequence[Path]) -> list[Path]:
    """Expand each path: a file as itself, a run directory as its trace, any other directory as
    every ``trace.jsonl`` below it (a sweep), sorted.

    Raises:
        UsageError: a path does not exist, or a directory holds no trace.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif (path / TRACE_FILE_NAME).is_file():
            files.append(path / TRACE_FILE_NAME)
        elif path.is_dir():
            found = sorted(path.rglob(TRACE_FILE_NAME))
            if not found:
                raise UsageError(
                    f"{path}: no {TRACE_FILE_NAME} in it or below it",
                    hint="pass trace files, run directories, or a directory of run directories",
                )
            files.extend(found)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return files
