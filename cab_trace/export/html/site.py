"""Writing cell pages: one page to a file, or a sweep (or any directory of run directories) as a
directory with a page per cell and a sortable index of them.

A sweep directory says its cells in ``cells.jsonl`` (one JSON object per cell, in plan order;
see docs/sweeps.md): their identity, state and run directory. The index lists each cell's
repeats together (:func:`index_order`), and says each cell's place in the plan. A directory
without one is searched for runs as ``export`` finds them (any directory holding a ``trace.jsonl``,
a Harbor trial, an Inspect AI log; outside hidden directories such as a sweep's ``.attempts``)
at any depth, listed by path with numbers in order (``r2`` before ``r10``).

Every page is leak-checked before it is written (:func:`check_document`), and written whole or
not at all (a temporary file, then a rename). A cell whose page cannot be made is a row of the
index that says why, and the export ends with a non-zero exit: nothing lost goes unsaid.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cab_trace.errors import CabTraceError, UsageError
from cab_trace.export.html import check_document
from cab_trace.export.html.data import PageOptions, build_page
from cab_trace.export.html.frames import DEFAULT_LIMIT
from cab_trace.export.html.render import Document, render_page
from cab_trace.export.html.site_index import render_index
from cab_trace.export.output import refuse_overwriting, replacing
from cab_trace.export.sources import traces_below
from cab_trace.model import TRACE_FILE_NAME, harbor
from cab_trace.model.axes import CellNumbers
from cab_trace.model.foreign import terminal_of, trial_result_in
from cab_trace.model.formats import resolve_source
from cab_trace.model.jsonl import missing_problem
from cab_trace.redact import secrets_from_env
from cab_trace.redact.known import named_secrets
from cab_trace.show import safe_text
from cab_trace.sweep.plan import identity_key
from replay.load import LoadedTrace, load

CELLS_FILE = "cells.jsonl"
INDEX_FILE = "index.html"
CELLS_DIR = "cells"

Say = Callable[[str], None]


class LeakError(CabTraceError):
    """The leak check found a known secret in a page: it was not written."""

    exit_code = 1


@dataclass
class Row:
    """One cell of the index."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    """Its line of ``cells.jsonl`` (identity, state), if the sweep has one."""
    plan: int | None = None
    """Its place in the sweep's plan (its line of ``cells.jsonl``, from 1), if the sweep has one."""
    numbers: CellNumbers | None = None
    href: str | None = None
    problem: str | None = None


def write_atomic(path: Path, text: str) -> None:
    """``text`` to ``path`` whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as out:
        out.write(text.encode("utf-8"))


def checked_write(document: Document, path: Path, known_secrets: Sequence[str]) -> None:
    """Leak-check ``document`` and write it to ``path``.

    Raises:
        LeakError: a known secret is in it (nothing is written).
    """
    leaks = check_document(document, path.name, known_secrets)
    if leaks:
        shown = "; ".join(str(leak) for leak in leaks[:5]) + (
            f"; … {len(leaks) - 5} more" if len(leaks) > 5 else ""
        )
        raise LeakError(
            f"{path}: not written: the leak check found a known secret in the page ({shown})",
            hint="the run directory holds it too: check it with cab-trace scan --secret-env NAME",
        )
    write_atomic(path, document.text)


def _one_trace(path: Path, say: Say) -> tuple[LoadedTrace, Path]:
    trace_path = resolve_source(path)  # a Harbor trial directory's is its result.json
    traces = load(path, warn=lambda m: say(f"cab-trace: warning: {m}"))
    if not traces:
        raise UsageError(f"{trace_path}: holds no spans: no page to make")
    if len(traces) > 1:
        raise UsageError(
            f"{trace_path}: holds {len(traces)} traces; a cell page shows one",
            hint="give -o a directory (e.g. -o site/) for a page per trace and an index",
        )
    return traces[0], trace_path.parent


def export_page(
    path: Path, output: Path, options: PageOptions, known_secrets: Sequence[str], say: Say
) -> int:
    """One run's page to ``output``."""
    source = resolve_source(path)
    # The page is made from the trace, the run's terminal recording and its diff.
    cast = terminal_of(source)
    refuse_overwriting(output, [source, source.parent / "changes.diff", *([cast] if cast else [])])
    trace, run_dir = _one_trace(path, say)
    document = render_page(build_page(trace, run_dir, options))
    if options.progress is not None:
        options.progress("")
    checked_write(document, output, known_secrets)
    size = len(document.text.encode())
    say(f"cab-trace: wrote {output} ({_size(size)}); open it in a browser (no network needed)")
    return 0


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace(os.sep, "--")).strip("._-")
    return slug[:150] or "run"


def read_cells(sweep: Path, say: Say) -> list[dict[str, Any]]:
    """The lines of a sweep's ``cells.jsonl`` that are JSON objects (others are warned about)."""
    path = sweep / CELLS_FILE
    cells = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                cell = orjson.loads(line)
            except orjson.JSONDecodeError:
                say(f"cab-trace: warning: {path}:{number}: not JSON; that cell is left out")
                continue
            if not isinstance(cell, dict):
                say(f"cab-trace: warning: {path}:{number}: not a JSON object; that cell is left out")
                continue
            cells.append(cell)
    return cells


def _natural(text: str) -> tuple[Any, ...]:
    """Sorts ``r2`` before ``r10``: numbers in a name compare as numbers."""
    return tuple(int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", text))


def _runs_below(root: Path) -> list[Path]:
    """Every run below ``root`` as the other exports find them (run directories, Harbor trials,
    Inspect AI logs; not in hidden directories): a run or trial as its directory, a log as itself."""
    runs = {p.parent if p.name in (TRACE_FILE_NAME, harbor.RESULT_FILE) else p for p in traces_below(root)}
    return sorted(runs, key=lambda run: [_natural(part) for part in run.relative_to(root).parts])


def index_order(cells: Sequence[dict[str, Any]]) -> list[int]:
    """The positions of a sweep's cells in the order its index lists them: each cell (adapter,
    model, task, plugin set, var set) where the plan first names it, its repeats together by
    number. The plan runs repeat by repeat (so a sweep stopped half way has every cell about
    equally often); a reader compares a cell's repeats, and wants them side by side."""
    first: dict[bytes, int] = {}
    keys = []
    for position, cell in enumerate(cells):
        identity = identity_key(cell)
        # As JSON text: a line of cells.jsonl is data, and its fields may be any JSON.
        without_repeat = orjson.dumps(identity[:3] + identity[4:], default=str)
        group = first.setdefault(without_repeat, position)
        repeat = cell.get("repeat")
        number = repeat if isinstance(repeat, int) and not isinstance(repeat, bool) else None
        keys.append((group, number is None, number or 0, position))
    return [key[-1] for key in sorted(keys)]


def _cell_name(cell: dict[str, Any], position: int) -> str:
    """A cell's name on the index: its id and repeat (``sweep/pi/model/task r2``; the id is the
    same for every repeat of a cell), or its run directory."""
    name = cell.get("cell_id")
    repeat = cell.get("repeat")
    if isinstance(name, str) and name:
        return f"{name} r{repeat}" if isinstance(repeat, int) and not isinstance(repeat, bool) else name
    run_dir = cell.get("run_dir")
    return run_dir if isinstance(run_dir, str) and run_dir else f"cell {position + 1}"


def plan_site(paths: Sequence[Path], say: Say) -> tuple[list[Row], list[Path | None], str]:
    """The index's rows, each row's run directory (None: no run to show), and a title."""
    rows: list[Row] = []
    runs: list[Path | None] = []
    titles = []
    for path in paths:
        if not path.is_file() and not path.is_dir():
            raise UsageError(f"{path}: {missing_problem(path)}")
        if path.is_dir() and (path / CELLS_FILE).is_file():
            cells = read_cells(path, say)
            sweep_ids = {str(c["sweep_id"]) for c in cells if isinstance(c.get("sweep_id"), str)}
            titles.append(f"sweep {', '.join(sorted(sweep_ids))}" if sweep_ids else str(path))
            for position in index_order(cells):
                cell = cells[position]
                row = Row(_cell_name(cell, position), fields=cell, plan=position + 1)
                run_dir = cell.get("run_dir")
                where = path / run_dir if isinstance(run_dir, str) and run_dir else None
                if where is not None and not where.resolve().is_relative_to(path.resolve()):
                    # A sweep's files are data: they do not send the export to read elsewhere.
                    row.problem = f"run_dir {run_dir!r} is not inside the sweep directory; left out"
                    shown = safe_text(row.name, one_line=True)
                    say(f"cab-trace: warning: {path / CELLS_FILE}: {shown}: {row.problem}")
                    where = None
                rows.append(row)
                runs.append(where)
        elif _one_run(path):
            titles.append(str(path))
            rows.append(Row(str(path)))
            runs.append(path)
        else:
            found = _runs_below(path)
            if not found:
                raise UsageError(
                    f"{path}: no {CELLS_FILE} and no {TRACE_FILE_NAME} in it or below it",
                    hint="pass a run directory, a sweep directory, or a directory of run directories",
                )
            titles.append(str(path))
            for run in found:
                rows.append(Row(run.relative_to(path).as_posix() if run != path else run.name))
                runs.append(run)
    return rows, runs, " · ".join(titles)


def export_site(
    paths: Sequence[Path], out_dir: Path, options: PageOptions, known_secrets: Sequence[str], say: Say
) -> int:
    """A page per run and ``index.html`` into ``out_dir``; returns the exit code."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir}: is a file; a sweep's pages go to a directory (e.g. -o site/)")
    rows, runs, title = plan_site(paths, say)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    written = 0
    live = sys.stderr.isatty()
    extra_rows: list[tuple[int, Row]] = []
    for number, (row, run) in enumerate(zip(rows, runs, strict=True), 1):
        if live:
            _live(f"page {number} of {len(rows)}")
            options.progress = lambda text, n=number: _live(f"page {n} of {len(rows)}: {text}")
        if run is None:
            continue
        try:
            traces = load(run, warn=lambda m: say(f"cab-trace: warning: {m}"))
            if not traces:
                raise UsageError(f"{run}: holds no spans")
            for k, trace in enumerate(traces):
                target = (
                    row if k == 0 else Row(f"{row.name} (trace {trace.trace_id})", fields=dict(row.fields))
                )
                if k:
                    extra_rows.append((number, target))
                base = _slug(str(row.fields.get("run_dir") or row.name)) + (
                    f"-{trace.trace_id[:8]}" if k else ""
                )
                name = base
                while name in used:
                    name = f"{base}-{len(used)}"
                used.add(name)
                page = build_page(trace, resolve_source(run).parent, options)
                document = render_page(page, index_href=f"../{INDEX_FILE}")
                checked_write(document, out_dir / CELLS_DIR / f"{name}.html", known_secrets)
                target.numbers = page.numbers
                target.href = f"{CELLS_DIR}/{name}.html"
                written += 1
        except CabTraceError as exc:
            row.problem = exc.message
            if live:
                _live("")
            # Names and errors come from the sweep's files: escaped before they reach a terminal.
            say(f"cab-trace: {safe_text(row.name, one_line=True)}: {safe_text(row.problem, one_line=True)}")
    if live:
        _live("")
    for number, extra in reversed(extra_rows):
        rows.insert(number, extra)
    problems = sum(1 for row in rows if row.problem)
    index = render_index(rows, title)
    checked_write(index, out_dir / INDEX_FILE, known_secrets)
    say(
        f"cab-trace: wrote {written} cell page(s) and {out_dir / INDEX_FILE}"
        + (f"; {problems} cell(s) could not be made (said above, and on the index)" if problems else "")
    )
    return 1 if problems else 0


def _known_secrets(names: Sequence[str]) -> list[str]:
    """The values the leak check looks for: of ``--secret-env`` names, and of every
    secret-named variable in the environment (as a run's redactor takes them)."""
    return named_secrets(names, os.environ) + secrets_from_env(os.environ)


def _one_run(path: Path) -> bool:
    """A path that is one run: a trace file, a run directory or a Harbor trial directory (the
    other commands read all three as one run)."""
    return path.is_file() or (path / TRACE_FILE_NAME).is_file() or trial_result_in(path) is not None


def _is_directory_target(output: Path) -> bool:
    return output.is_dir() or str(output).endswith(("/", os.sep))


def _live(text: str) -> None:
    """Progress on one line of a terminal (long recordings take a while to render)."""
    sys.stderr.write(f"\r\x1b[Kcab-trace: {text}" if text else "\r\x1b[K")
    sys.stderr.flush()


def run_html_export(args: Any, say: Say) -> int:
    """``cab-trace export PATH… --format html -o OUT``: one page to a file, or a site to a directory."""
    options = PageOptions(
        content=not args.no_content,
        terminal_limit=args.terminal_limit or DEFAULT_LIMIT,
        progress=_live if sys.stderr.isatty() else None,
    )
    secrets = _known_secrets(args.known_secret_env)
    paths: list[Path] = list(args.paths)
    output: Path = args.output
    for path in paths:
        if not path.is_file() and not path.is_dir():
            raise UsageError(f"{path}: {missing_problem(path)}")
    one_run = len(paths) == 1 and _one_run(paths[0])
    if one_run and not _is_directory_target(output):
        return export_page(paths[0], output, options, secrets, say)
    if not one_run and output.suffix.lower() in (".html", ".htm") and not output.is_dir():
        raise UsageError(
            f"-o {output}: several runs make a directory of pages (one per cell) and an index",
            hint=f"give a directory, e.g. -o {output.with_suffix('')}/",
        )
    return export_site(paths, output, options, secrets, say)
