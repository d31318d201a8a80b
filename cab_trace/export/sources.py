"""Which trace files an export reads: files, run directories, or a directory of run directories."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cab_trace.errors import UsageError
from cab_trace.model import TRACE_FILE_NAME, harbor
from cab_trace.model.foreign import looks_like_inspect_log, trial_result_in
from cab_trace.model.jsonl import missing_problem


def traces_below(path: Path) -> list[Path]:
    """Every run's trace below a directory: ``trace.jsonl`` files, Harbor trials' ``result.json``
    and Inspect AI logs (``.eval``, and ``.json`` that starts as Inspect's logs do; imported logs
    read as runs too). Hidden directories are not searched: a sweep keeps the attempts a rerun
    superseded in ``.attempts/``, and those are not its cells; nor is a run directory or a
    trial (as ``cab-trace show DIR`` reads them)."""
    found: set[Path] = set()
    for here, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        directory = Path(here)
        if TRACE_FILE_NAME in names:
            found.add(directory / TRACE_FILE_NAME)
            dirs.clear()  # a run's kept workdir is not a run
            continue
        if harbor.RESULT_FILE in names and (trial := trial_result_in(directory)) is not None:
            found.add(trial)
            dirs.clear()  # nor is a trial's agent directory
            continue
        found.update(directory / n for n in names if looks_like_inspect_log(os.path.join(here, n)))
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
            raise UsageError(f"{path}: {missing_problem(path)}")
    return files
