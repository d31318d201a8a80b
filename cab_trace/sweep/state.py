"""A sweep directory's record of its cells: ``cells.jsonl``, ``summary.json`` and what runs next.

Pure (stdlib and orjson). ``cells.jsonl`` holds one JSON object per cell, in plan order
(``docs/sweeps.md`` and the contract in the notes list the fields); it is rewritten whole,
atomically (a temporary file, fsynced, renamed over it), so a reader never sees half a file and
a sweep killed at any moment leaves the last complete state.

States: ``pending`` (not run yet), ``running``, ``done`` (the run finished and its trace was
read; says nothing of pass or fail), ``failed`` (the run could not complete, or the cell could
not start) and ``interrupted``. A ``running`` cell found when a sweep starts belongs to a sweep
that died: it is run again, never counted as done.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from cab_trace.errors import UsageError
from cab_trace.model.jsonl import special_file
from cab_trace.sweep import summary
from cab_trace.sweep.plan import Cell, identity_key

PENDING, RUNNING, DONE, FAILED, INTERRUPTED = "pending", "running", "done", "failed", "interrupted"
#: What ``--rerun`` may ask for besides the cells that are missing.
RERUN_CHOICES = ("failed", "all")

#: Fields of a line that belong to one run of the cell and go when it runs again.
_RUN_FIELDS = ("run_dir", "node", "error")


def read_cells(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``cells.jsonl`` (none if there is no file).

    Raises:
        UsageError: a line that is not a JSON object (naming the file and the line).
    """
    try:
        if kind := special_file(path):  # a named pipe is refused, not waited on for ever
            raise OSError(f"{kind}, not a file")
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    cells: list[dict[str, Any]] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise UsageError(f"{path}:{number}: not a JSON object")
        cells.append(value)
    return cells


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # as the run directories' files: readable by whoever reads the sweep
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def encode_cells(cells: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(dict(c)) + b"\n" for c in cells)


def merge_plan(
    plan: Sequence[Cell], previous: Sequence[Mapping[str, Any]], rerun: str | None = None
) -> tuple[list[dict[str, Any]], list[int]]:
    """This run's lines (the plan's cells, in plan order, with what an earlier run recorded of
    them), then the earlier lines no longer in the plan (kept: their runs are in the directory);
    and the indices of the lines to run now.

    A cell runs when it is not done and not failed (pending, interrupted, or running in a sweep
    that died); ``rerun="failed"`` adds the failed ones, ``rerun="all"`` every one.
    """
    by_key = {identity_key(line): line for line in previous}
    lines: list[dict[str, Any]] = []
    to_run: list[int] = []
    for index, cell in enumerate(plan):
        old = by_key.pop(cell.key, None)
        line = {**(dict(old) if old else {}), **cell.identity()}
        line.setdefault("state", PENDING)
        if line["state"] == RUNNING:
            line["state"] = INTERRUPTED  # its sweep died while it ran
        lines.append(line)
        state = line["state"]
        if state not in (DONE, FAILED) or rerun == "all" or (rerun == "failed" and state == FAILED):
            to_run.append(index)
    for old in by_key.values():
        kept = dict(old)
        if kept.get("state") == RUNNING:
            kept["state"] = INTERRUPTED
        lines.append(kept)
    return lines, to_run


def start_line(line: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """The line of a cell that starts now: its earlier run's numbers and state are gone."""
    identity = {k: line[k] for k in ("cell_id", "sweep_id", "adapter", "model", "task_id", "repeat")}
    return {
        **identity,
        "plugins": line.get("plugins", []),
        "vars": line.get("vars", {}),
        "state": RUNNING,
        "run_dir": run_dir,
        "attempts": int(line.get("attempts") or 0) + 1,
    }


_START_FAILURE = re.compile(r"^(command not found|permission denied|cannot start \(|docker: )")


def start_failure(numbers: Mapping[str, Any], container_error: str | None) -> str | None:
    """Why the agent could not be started at all, from a finished run's numbers (else None).

    ``container_error`` is the status message of the run's container span, which says why a
    launch failed ("command not found: pi", "docker: ..."); an agent that ran and exited 127
    itself is an agent that ran.
    """
    if container_error and _START_FAILURE.match(container_error):
        return container_error
    return None


def finished_line(
    line: Mapping[str, Any],
    exit_code: int | None,
    numbers: Mapping[str, Any] | None,
    *,
    interrupted: bool = False,
    error: str | None = None,
    container_error: str | None = None,
    node: str | None = None,
) -> dict[str, Any]:
    """A cell's line once its run has ended.

    ``done`` needs a run that ended by itself (exit code 0, or 1: the agent or its check failed,
    which is an outcome, not a broken cell) and a trace with its run span. Anything else is
    ``failed`` with the reason in ``error``, or ``interrupted`` when the sweep stopped it.
    """
    out = {k: v for k, v in line.items() if k not in ("state", *_RUN_FIELDS)}
    if "run_dir" in line:
        out["run_dir"] = line["run_dir"]
    if node:
        out["node"] = node
    identity = {k: out[k] for k in ("cell_id", "sweep_id", "adapter", "model", "task_id", "repeat")}
    if numbers:
        # The trace's numbers, with the plan's identity over them (the same values, unless a
        # foreign adapter file renamed itself).
        out = {**numbers, **out, **identity}
        if node is None and numbers.get("node"):
            out["node"] = numbers["node"]
    if interrupted:
        out["state"] = INTERRUPTED
        return out
    cause = error
    if cause is None and numbers is not None:
        cause = start_failure(numbers, container_error)
    if cause is None and exit_code not in (0, 1):
        cause = f"cab-trace run exited with code {exit_code}"
    if cause is None and (not numbers or not numbers.get("started_at")):
        cause = "the run left no readable trace"
    if cause is not None:
        out["state"] = FAILED
        out["error"] = cause
    else:
        out["state"] = DONE
    return out


def counts(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many lines are in each state (unknown states count as pending)."""
    out = {PENDING: 0, RUNNING: 0, DONE: 0, FAILED: 0, INTERRUPTED: 0}
    for line in lines:
        state = line.get("state")
        out[state if state in out else PENDING] += 1
    return out


def summary_document(
    sweep_id: str, lines: Sequence[Mapping[str, Any]], by: Sequence[str] = summary.DEFAULT_GROUP
) -> dict[str, Any]:
    """``summary.json``: the sweep's states, its groups by ``by`` and the whole sweep as one group."""
    return {
        "sweep_id": sweep_id,
        "cells": len(lines),
        "states": counts(lines),
        "by": list(by),
        "groups": [g.to_dict() for g in summary.summarize(lines, by)],
        "total": summary.summarize_all(lines).to_dict(),
    }
