"""A sweep's matrix as cells: adapter x model x task x variant (plugin set, var set) x repeat.

Pure (stdlib only). A cell's id is the one benchmark results pages use,
``<sweep_id>/<adapter>/<model>/<task_id>`` (what ``cab-trace run`` records as ``cell_id``), and
its repeat; its path in the sweep directory follows the id, one directory per ``/``:
``<adapter>/<model>/<task_id>/r<repeat>`` (``pi/stepfun-ai/step-3.5-flash/polyglot/rust/r1``).

Every part of a path is checked: a model or task id is data from elsewhere, so an empty part,
``.`` or ``..`` is refused, and characters outside a plain set (and a leading dot) are written
``%XX``, so no id can reach outside the sweep directory, hide a directory, or land on the
sweep's own files. Two cells that would share a directory, or nest one in the other, are an
error before anything runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cab_trace.errors import UsageError

#: The sweep directory's own files and directories: no cell may land on one.
CELLS_FILE = "cells.jsonl"
SUMMARY_FILE = "summary.json"
SPEC_FILE = "sweep.json"
LOCK_FILE = ".lock"
LOGS_DIR = ".logs"
ATTEMPTS_DIR = ".attempts"
INCOMING_DIR = ".incoming"
RESERVED = frozenset({CELLS_FILE, SUMMARY_FILE, SPEC_FILE, LOCK_FILE, LOGS_DIR, ATTEMPTS_DIR, INCOMING_DIR})

_PLAIN = re.compile(r"[A-Za-z0-9._+=@,:~-]")
#: The most cells one sweep plans (each is a line of cells.jsonl and a directory).
MAX_CELLS = 1_000_000
_MAX_SEGMENT = 120  # bytes; a longer part is cut and given a hash, well under NAME_MAX (255)


@dataclass(frozen=True)
class TaskRef:
    """A task as the plan knows it: its id (from task.toml) and where its directory is."""

    id: str
    path: str


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix. ``adapter_ref`` is how the adapter was given (a name or a file)."""

    sweep_id: str
    adapter: str
    adapter_ref: str
    model: str | None
    task: TaskRef
    repeat: int
    plugins: tuple[str, ...] = ()
    vars: tuple[tuple[str, str], ...] = ()
    variant: str = ""  # what tells this cell's plugin set and var set apart, "" when only one
    #: ``vars`` as the sweep's files and the cell's directory name show them: a secret's value
    #: (``api_key=…``) is ``[REDACTED]`` there, and only ``vars`` reaches the cell's run.
    shown_vars: tuple[tuple[str, str], ...] | None = None

    @property
    def recorded_vars(self) -> dict[str, str]:
        return dict(self.vars if self.shown_vars is None else self.shown_vars)

    @property
    def cell_id(self) -> str:
        """The results pages' cell id (``cab-trace run`` records the same on its run span)."""
        return f"{self.sweep_id}/{self.adapter}/{self.model or '-'}/{self.task.id}"

    @property
    def key(self) -> tuple[Any, ...]:
        """What makes the cell itself: the same key in an earlier run of the sweep is the same cell."""
        return identity_key(
            {
                "adapter": self.adapter,
                "model": self.model,
                "task_id": self.task.id,
                "repeat": self.repeat,
                "plugins": list(self.plugins),
                "vars": self.recorded_vars,
            }
        )

    @property
    def label(self) -> str:
        """Short, for people: ``pi/model/task r2`` (plus the variant when there is one)."""
        variant = f" [{self.variant}]" if self.variant else ""
        return f"{self.adapter}/{self.model or '-'}/{self.task.id} r{self.repeat}{variant}"

    @property
    def path(self) -> str:
        """The cell's run directory, relative to the sweep directory."""
        first = self.adapter + (f"+{self.variant}" if self.variant else "")
        parts = [segment(first, "adapter")]
        parts += [segment(p, "model") for p in (self.model or "-").split("/")]
        parts += [segment(p, "task id") for p in self.task.id.split("/")]
        parts.append(f"r{self.repeat}")
        return "/".join(parts)

    def identity(self) -> dict[str, Any]:
        """The identity fields of the cell's ``cells.jsonl`` line."""
        return {
            "cell_id": self.cell_id,
            "sweep_id": self.sweep_id,
            "adapter": self.adapter,
            "model": self.model,
            "task_id": self.task.id,
            "repeat": self.repeat,
            "plugins": list(self.plugins),
            "vars": self.recorded_vars,
        }


def identity_key(line: Mapping[str, Any]) -> tuple[Any, ...]:
    """The identity of a ``cells.jsonl`` line (or of a cell), comparable across runs of a sweep."""
    plugins = line.get("plugins") or []
    variables = line.get("vars") or {}
    return (
        line.get("adapter"),
        line.get("model"),
        line.get("task_id"),
        line.get("repeat"),
        tuple(str(p) for p in plugins) if isinstance(plugins, list) else (),
        tuple(sorted((str(k), str(v)) for k, v in variables.items())) if isinstance(variables, dict) else (),
    )


def segment(text: str, what: str) -> str:
    """One directory name from one part of an id: plain characters kept, the rest ``%XX``.

    Raises:
        UsageError: an empty part, ``.`` or ``..`` (an id such as ``a//b`` or ``../x``).
    """
    if text in ("", ".", ".."):
        raise UsageError(
            f"{what} {text!r} cannot be a directory name",
            hint=f"a {what} is written into the sweep directory one part per '/'; "
            "an empty part, '.' or '..' has no place there",
        )
    out = "".join(c if _PLAIN.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in text)
    if out.startswith("."):
        out = "%2E" + out[1:]  # no hidden directories, no clash with the sweep's own .logs etc.
    if len(out.encode()) > _MAX_SEGMENT:
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        out = out.encode()[: _MAX_SEGMENT - 13].decode(errors="ignore") + "~" + digest
    return out


def variant_label(plugins: Sequence[str], variables: Mapping[str, str]) -> str:
    """How a variant reads in a path and a table: ``thinking-off+provider=nim`` (``none`` if empty)."""
    parts = [*plugins, *(f"{k}={v}" for k, v in variables.items())]
    return "+".join(parts) or "none"


def expand(
    sweep_id: str,
    adapters: Sequence[tuple[str, str]],
    models: Sequence[str | None],
    tasks: Sequence[TaskRef],
    repeats: int,
    *,
    plugins: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    plugin_sets: Sequence[Sequence[str]] = (),
    var_sets: Sequence[Mapping[str, str]] = (),
    hide: Callable[[Mapping[str, str]], Mapping[str, str]] | None = None,
) -> list[Cell]:
    """Every cell of the matrix, in the order they run: repeat by repeat, so that a sweep stopped
    half way has every adapter x model on every task about equally often; within a repeat, task by
    task, and each task's adapters and models side by side (one endpoint is not hit by one adapter
    for a whole run of cells).

    ``adapters`` are (as given, name) pairs. ``plugins`` and ``variables`` apply to every cell;
    ``plugin_sets`` x ``var_sets`` are an axis (a variant) each when given. ``hide`` gives
    variables as the sweep may write them down (secrets' values replaced); it names the cells'
    variants and directories, and their lines in ``cells.jsonl``.

    Raises:
        UsageError: an empty axis, or two cells that would share (or nest) a directory.
    """
    if repeats < 1:
        raise UsageError("--repeats must be 1 or more")
    for name, axis in (("--adapter", adapters), ("--task", tasks)):
        if not axis:
            raise UsageError(f"a sweep needs at least one {name}")
    models = list(models) or [None]
    base_vars = dict(variables or {})
    p_sets = [list(s) for s in plugin_sets] or [[]]
    v_sets = [dict(v) for v in var_sets] or [{}]
    shown = hide or (lambda v: v)
    variants: list[tuple[tuple[str, ...], tuple[tuple[str, str], ...], str, tuple[tuple[str, str], ...]]] = []
    for p_set in p_sets:
        for v_set in v_sets:
            label = variant_label(p_set, shown(v_set)) if len(p_sets) * len(v_sets) > 1 else ""
            var_items = {**base_vars, **v_set}
            variants.append(
                (tuple([*plugins, *p_set]), tuple(var_items.items()), label, tuple(shown(var_items).items()))
            )
    count = repeats * len(tasks) * len(adapters) * len(models) * len(variants)
    if count > MAX_CELLS:
        # A typo (repeats = 100000000) would otherwise plan cells until memory runs out.
        raise UsageError(
            f"the sweep has {count:,} cells ({repeats:,} repeat(s) x {len(tasks)} task(s) x "
            f"{len(adapters)} adapter(s) x {len(models)} model(s) x {len(variants)} variant(s)); "
            f"the most one sweep plans is {MAX_CELLS:,}",
            hint="split it into several sweeps (each its own --out)",
        )
    cells = [
        Cell(sweep_id, name, ref, model, task, repeat, plugin_stack, var_items, label, shown_items)
        for repeat in range(1, repeats + 1)
        for task in tasks
        for ref, name in adapters
        for model in models
        for plugin_stack, var_items, label, shown_items in variants
    ]
    check_paths(cells)
    return cells


def check_paths(cells: Sequence[Cell]) -> None:
    """Refuse a plan whose cells share a directory or nest one in another (or in a reserved name).

    Raises:
        UsageError: naming the two cells.
    """
    owner: dict[str, Cell] = {}
    keys: set[tuple[Any, ...]] = set()
    for cell in cells:
        if cell.key in keys:
            raise UsageError(f"cell {cell.label} is in the sweep twice", hint="list each axis value once")
        keys.add(cell.key)
        path = cell.path
        if path.split("/", 1)[0] in RESERVED:
            raise UsageError(f"adapter {cell.adapter!r} has the name of a file of the sweep directory")
        if path in owner:
            raise UsageError(
                f"cells {owner[path].label} and {cell.label} would share the directory {path}",
                hint="their ids differ only in characters a directory name cannot hold, or in where a "
                "'/' falls; rename one (e.g. with an adapter file of another name)",
            )
        owner[path] = cell
    for path, cell in owner.items():
        parts = path.split("/")
        for cut in range(1, len(parts)):
            inner = owner.get("/".join(parts[:cut]))
            if inner is not None:
                raise UsageError(
                    f"cell {cell.label} would be written inside the directory of cell {inner.label}",
                    hint="a task id that ends in a part such as r1 nests in another's; rename one of them",
                )
