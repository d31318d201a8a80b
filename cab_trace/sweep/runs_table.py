"""The runs table: its columns (what ``show DIR`` prints and the replay's table shows, the same
text and the same sort order in both), and ``show DIR``'s renderings: table, JSON, CSV, Markdown.

Pure: rows in, text out. Text from the runs (adapter and model names, task ids, error messages)
is escaped for the terminal here (table, CSV, Markdown); JSON escapes it by itself.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cab_trace.show import safe_text
from cab_trace.sweep import state, summary
from cab_trace.sweep.runs import RunRow, RunsListing

NONE = "\u2013"  # an en dash: not observed
FORMATS = ("table", "json", "csv", "markdown")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def wall_text(ms: float | None) -> str:
    if ms is None:
        return NONE
    if ms < 999.5:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s" if ms < 9995 else f"{ms / 1000:.1f} s"


def count_text(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"


def compact_count(value: int | None) -> str:
    """``812``, ``12.3k``, ``4.1M``: what fits a narrow column."""
    if value is None:
        return NONE
    if value < 10_000:
        return str(value)
    if value < 1_000_000:
        return f"{value / 1000:.1f}k" if value < 100_000 else f"{value // 1000}k"
    return f"{value / 1e6:.1f}M"


def safe(text: str) -> str:
    """``text`` escaped for the terminal; most text needs nothing (the check is one C call)."""
    return text if text.isprintable() else safe_text(text, one_line=True)


def _text(row: RunRow, key: str) -> str:
    value = row.get(key)
    return safe(str(value)) if value not in (None, "") else NONE


@dataclass(frozen=True)
class Column:
    """One column of the runs table."""

    key: str
    title: str
    numeric: bool
    text: Callable[[RunRow], str]
    """The cell as text, escaped (the table and the replay show this)."""
    value: Callable[[RunRow], Any]
    """What the column sorts by (None sorts last)."""
    compact: Callable[[RunRow], str] | None = None
    """A shorter text for a narrow screen."""


def _identity(key: str, title: str) -> Column:
    return Column(key, title, False, lambda r: _text(r, key), lambda r: r.get(key))


def _count(key: str, title: str) -> Column:
    return Column(
        key,
        title,
        True,
        lambda r: count_text(_int(r.get(key))),
        lambda r: _int(r.get(key)),
        lambda r: compact_count(_int(r.get(key))),
    )


_SHORT_OUTCOME = {"unreadable": "broken", "incomplete": "partial", "interrupted": "stopped"}
_OUTCOME_ORDER = {"FAIL": 0, "error": 1, "unreadable": 2, "incomplete": 3, NONE: 4, "pass": 5}

COLUMNS: tuple[Column, ...] = (
    Column("number", "#", True, lambda r: str(r.number), lambda r: r.number),
    _identity("adapter", "adapter"),
    _identity("model", "model"),
    _identity("task_id", "task"),
    Column(
        "repeat",
        "rep",
        True,
        lambda r: count_text(_int(r.get("repeat"))),
        lambda r: _int(r.get("repeat")),
    ),
    Column(
        "outcome",
        "result",
        False,
        lambda r: r.outcome,
        lambda r: _OUTCOME_ORDER.get(r.outcome, 6),
        lambda r: _SHORT_OUTCOME.get(r.outcome, r.outcome),
    ),
    Column(
        "exit_code",
        "exit",
        True,
        lambda r: count_text(_int(r.get("exit_code"))),
        lambda r: _int(r.get("exit_code")),
    ),
    Column(
        "wall_ms",
        "wall",
        True,
        lambda r: wall_text(_num(r.get("wall_ms"))),
        lambda r: _num(r.get("wall_ms")),
    ),
    _count("model_calls", "calls"),
    _count("input_tokens", "tokens in"),
    _count("output_tokens", "tokens out"),
    _count("model_calls_failed", "failed calls"),
    _count("error_spans", "errors"),
    Column("ref", "cell", False, lambda r: safe(r.ref), lambda r: r.ref),
    Column("why", "why", False, lambda r: safe(r.why), lambda r: r.why or None),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


def row_texts(row: RunRow) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A row's cells as :data:`COLUMNS` write them, full and compact, in one call: what the
    table of 10,000 runs computes before its first frame (150,000 small calls cost more than
    the rest of the screen). Kept equal to the columns' own functions by a test."""
    f = row.fields
    get = f.get
    counts = [_int(get(k)) for k in ("model_calls", "input_tokens", "output_tokens", "model_calls_failed")]
    errors = _int(get("error_spans"))
    outcome = row.outcome
    head = (
        str(row.number),
        _text(row, "adapter"),
        _text(row, "model"),
        _text(row, "task_id"),
        count_text(_int(get("repeat"))),
    )
    exit_wall = (count_text(_int(get("exit_code"))), wall_text(_num(get("wall_ms"))))
    tail = (safe(row.ref), safe(row.why))
    full = (*head, outcome, *exit_wall, *map(count_text, counts), count_text(errors), *tail)
    compact = (
        *head,
        _SHORT_OUTCOME.get(outcome, outcome),
        *exit_wall,
        *map(compact_count, counts),
        compact_count(errors),
        *tail,
    )
    return full, compact


def sort_key(column: Column, reverse: bool = False) -> Callable[[RunRow], tuple[int, Any, int]]:
    """Sort by ``column``, unknowns last whichever the direction, ties in listing order."""

    def key(row: RunRow) -> tuple[int, Any, int]:
        value = column.value(row)
        if value is None:
            return (0 if reverse else 1, 0, row.number)
        if isinstance(value, str):
            value = value.casefold()
        return (1 if reverse else 0, value, -row.number if reverse else row.number)

    return key


def sorted_rows(rows: Sequence[RunRow], column: Column, reverse: bool = False) -> list[RunRow]:
    return sorted(rows, key=sort_key(column, reverse), reverse=reverse)


def headline(found: RunsListing, rows: Sequence[RunRow] | None = None) -> str:
    """``40 cells: 31 pass, 6 FAIL, 2 error, 1 unreadable``."""
    rows = found.rows if rows is None else rows
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    order = ["pass", "FAIL", "error", NONE, "unreadable", "incomplete", "pending", "running", "interrupted"]
    parts = [f"{counts[k]} {'no check' if k == NONE else k}" for k in order if counts.get(k)]
    parts += [f"{v} {k}" for k, v in counts.items() if k not in order]
    noun = "cell" if len(rows) == 1 else "cells"
    return f"{len(rows)} {noun}: " + ", ".join(parts)


def groups(found: RunsListing, by: Sequence[str] = summary.DEFAULT_GROUP) -> list[summary.GroupSummary]:
    """The rows added up by ``by`` (adapter x model by default), as ``cab-trace sweep`` does."""
    return summary.summarize([r.summary_fields() for r in found.rows], by)


def sweep_headlines(found: RunsListing) -> list[str]:
    """``sweep exp-1: 8 cells (6 done, 2 failed)``: one line per sweep in the listing, its cells
    by the state its ``cells.jsonl`` records (the states the groups' done and failed columns count)."""
    lines = []
    for sweep in found.sweeps:
        cells = [r.fields for r in found.rows if r.sweep == sweep]
        ids = sorted({c["sweep_id"] for c in cells if isinstance(c.get("sweep_id"), str) and c["sweep_id"]})
        title = f"sweep {', '.join(ids)}" if ids else f"sweep in {sweep}"
        said = ", ".join(f"{n} {name}" for name, n in state.counts(cells).items() if n)
        noun = "cell" if len(cells) == 1 else "cells"
        text = f"{title}: {len(cells)} {noun}" + (f" ({said})" if said else "")
        lines.append(safe_text(text, one_line=True))
    return lines


# -- show DIR ----------------------------------------------------------------------------------


def _table(rows: list[list[str]], numeric: Sequence[bool]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()
        for r in rows
    ]


def cell_dict(row: RunRow) -> dict[str, Any]:
    """One row for scripts: its fields, and what the table derives from them."""
    return {
        "number": row.number,
        "ref": row.ref,
        "state": row.state,
        "outcome": row.outcome,
        "problem": row.problem,
        **row.fields,
    }


_CSV_FIELDS = (
    "number", "ref", "adapter", "model", "task_id", "repeat", "outcome", "state", "exit_code", "wall_ms",
    "model_calls", "input_tokens", "output_tokens", "model_calls_failed", "error_spans", "why", "run_dir",
)  # fmt: skip


def render(
    found: RunsListing, fmt: str = "table", only: str | None = None, by: Sequence[str] = summary.DEFAULT_GROUP
) -> str:
    """The cells, then the groups (``only``: one of them), as ``table``, ``json``, ``csv`` or
    ``markdown``. CSV holds one table: both are two CSV blocks with a blank line between.

    The groups are headed by a line per sweep in the listing (:func:`sweep_headlines`), in the
    table and Markdown; JSON has them as ``sweeps``. ``cab-trace sweep`` prints the groups of
    its sweep with this function too, so its table and ``show SWEEPDIR --only groups`` agree.
    """
    grouped = groups(found, by) if only != "cells" else []
    if fmt == "json":
        doc: dict[str, Any] = {"root": str(found.root)}
        if only != "groups":
            doc["cells"] = [cell_dict(r) for r in found.rows]
        if only != "cells":
            doc["sweeps"] = [_sweep_dict(found, sweep) for sweep in found.sweeps]
            doc["groups"] = [g.to_dict() for g in grouped]
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    parts = []
    if only != "groups":
        parts.append(_cells(found, fmt))
    if only != "cells":
        text = summary.render(grouped, fmt)
        text = "\n".join(safe_text(line) for line in text.split("\n"))
        heads = sweep_headlines(found)
        if fmt == "table":
            text = "\n".join([*heads, "by " + " \u00d7 ".join(by), text])
        elif fmt == "markdown":
            text = "\n\n".join([*heads, "By " + " \u00d7 ".join(by), text])
        parts.append(text)
    return "\n\n".join(parts)


def _sweep_dict(found: RunsListing, sweep: Path) -> dict[str, Any]:
    cells = [r.fields for r in found.rows if r.sweep == sweep]
    ids = sorted({c["sweep_id"] for c in cells if isinstance(c.get("sweep_id"), str) and c["sweep_id"]})
    return {
        "dir": str(sweep),
        "sweep_id": ", ".join(ids) or None,
        "cells": len(cells),
        "states": state.counts(cells),
    }


def _cells(found: RunsListing, fmt: str) -> str:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_CSV_FIELDS)
        for row in found.rows:
            d = cell_dict(row) | {"why": row.why}
            writer.writerow(
                ["" if d.get(k) is None else safe_text(str(d[k]), one_line=True) for k in _CSV_FIELDS]
            )
        return out.getvalue().rstrip("\n")
    rows = [[c.title for c in COLUMNS]] + [list(row_texts(r)[0]) for r in found.rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join("---:" if c.numeric else "---" for c in COLUMNS) + "|")
        return "\n".join(lines)
    return headline(found) + "\n" + "\n".join(_table(rows, [c.numeric for c in COLUMNS]))
