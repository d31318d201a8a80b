"""A sweep's numbers, aggregated by adapter x model (or any other axes). Pure: stdlib only.

Input is the sweep's cells as ``cells.jsonl`` lines (mappings holding a cell's identity, its
``state`` and the fields of :meth:`cab_trace.model.axes.CellNumbers.to_dict`). Output is one
:class:`GroupSummary` per group, and renderings of them as a text table, JSON, CSV or Markdown.

Unknown is not zero: a cell whose tokens were not reported makes its group's token figures
unknown (``None``) and is counted in ``tokens_unknown``; it never adds 0.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from cab_trace.errors import UsageError

#: The axes a summary groups by unless told otherwise.
DEFAULT_GROUP = ("adapter", "model")
#: The axes cells can be grouped by (a cell's fields); ``task`` is short for ``task_id``.
AXES = ("adapter", "model", "task_id", "repeat", "plugins", "vars", "node", "runtime", "sweep_id")
AXIS_ALIASES = {"task": "task_id"}
#: Formats :func:`render` knows.
FORMATS = ("table", "json", "csv", "markdown")
_Z95 = 1.959963984540054  # the standard normal quantile for a two-sided 95% interval


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion (95% by default); ``None`` for no trials.

    Wilson's interval stays inside [0, 1] and behaves at 0/n and n/n, where the normal
    approximation collapses to a point: what small benchmark samples need.
    """
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0/n and n/n the bound is exactly 0 or 1; say so rather than trust the rounding.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between ranks; ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class GroupSummary:
    """One group of cells (e.g. one adapter x model). ``None`` means "not observed"."""

    key: dict[str, str]
    cells: int = 0  # cells planned in the group
    done: int = 0  # cells whose run finished and whose trace was read
    failed: int = 0  # cells that could not complete (the run failed or never started)
    pending: int = 0  # cells not run yet, running, or interrupted
    checked: int = 0  # done cells whose check gave a verdict
    passed: int = 0
    pass_rate: float | None = None
    pass_ci_low: float | None = None
    pass_ci_high: float | None = None
    wall_median_ms: float | None = None
    wall_p90_ms: float | None = None
    total_tokens: int | None = None
    tokens_unknown: int = 0  # done cells whose provider reported no usage
    tokens_per_correct_task: float | None = None
    model_calls: int | None = None
    model_calls_unknown: int = 0  # done cells whose model calls were not observed (no proxy)
    model_calls_failed: int | None = None
    timeouts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_axes(text: str | None, flag: str = "--group-by") -> list[str]:
    """``adapter,model,task`` as axes (``None`` or only commas: :data:`DEFAULT_GROUP`).

    Raises:
        UsageError: an axis cells do not have (with the one it is closest to).
    """
    import difflib

    axes: list[str] = []
    for part in (text or "").split(","):
        word = part.strip()
        name = AXIS_ALIASES.get(word, word)
        if not name:
            continue
        if name not in AXES:
            names = ["task", *AXES]
            close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
            suggestion = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"{flag} {word!r}: not an axis of a cell{suggestion}",
                hint=f"one or more of {', '.join(names)}, comma-separated",
            )
        if name not in axes:
            axes.append(name)
    return axes or list(DEFAULT_GROUP)


def _group_key(cell: Mapping[str, Any], by: Sequence[str]) -> tuple[str, ...]:
    return tuple(axis_text(cell.get(axis)) for axis in by)


def axis_text(value: object) -> str:
    """A cell's value on an axis as a group's key: a plugin list as ``a+b``, vars as ``k=v,k=v``."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "+".join(map(str, value))
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def summarize(cells: Iterable[Mapping[str, Any]], by: Sequence[str] = DEFAULT_GROUP) -> list[GroupSummary]:
    """One summary per group of ``by`` axes, in the order groups first appear."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for cell in cells:
        groups.setdefault(_group_key(cell, by), []).append(cell)
    return [_summarize_group(dict(zip(by, key, strict=True)), members) for key, members in groups.items()]


def summarize_all(cells: Iterable[Mapping[str, Any]]) -> GroupSummary:
    """The whole sweep as one group."""
    return _summarize_group({}, list(cells))


def _summarize_group(key: dict[str, str], cells: list[Mapping[str, Any]]) -> GroupSummary:  # noqa: PLR0912
    g = GroupSummary(key=key, cells=len(cells))
    walls: list[float] = []
    tokens: list[int] = []
    calls: list[int] = []
    failed_calls: list[int] = []
    for cell in cells:
        state = cell.get("state")
        if state == "failed":
            g.failed += 1
        if state != "done":
            g.pending += state != "failed"
            continue
        g.done += 1
        passed = cell.get("passed")
        if isinstance(passed, bool):
            g.checked += 1
            g.passed += passed
        if (wall := _num(cell.get("wall_ms"))) is not None:
            walls.append(wall)
        if (t := _int(cell.get("total_tokens"))) is not None:
            tokens.append(t)
        else:
            g.tokens_unknown += 1
        if (c := _int(cell.get("model_calls"))) is not None:
            calls.append(c)
            failed_calls.append(_int(cell.get("model_calls_failed")) or 0)
        else:
            g.model_calls_unknown += 1
        g.timeouts += cell.get("timed_out") is True
    if g.checked:
        g.pass_rate = g.passed / g.checked
        g.pass_ci_low, g.pass_ci_high = wilson_interval(g.passed, g.checked) or (None, None)
    g.wall_median_ms, g.wall_p90_ms = percentile(walls, 50), percentile(walls, 90)
    if g.done and not g.tokens_unknown:
        g.total_tokens = sum(tokens)
        if g.passed:
            g.tokens_per_correct_task = g.total_tokens / g.passed
    if calls:
        g.model_calls, g.model_calls_failed = sum(calls), sum(failed_calls)
    return g


# ---- rendering ------------------------------------------------------------------------------

_NONE = "\u2013"  # an en dash: not observed


def _ms(value: float | None) -> str:
    if value is None:
        return _NONE
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def _count(value: int | None, unknown: int = 0) -> str:
    if value is None:
        return "unknown" if unknown else _NONE
    return f"{value:,}" + (f" (+{unknown} unknown)" if unknown else "")


def _rate(g: GroupSummary) -> str:
    if g.pass_rate is None or g.pass_ci_low is None or g.pass_ci_high is None:
        return _NONE
    return f"{g.pass_rate:.0%} [{g.pass_ci_low:.0%}\u2013{g.pass_ci_high:.0%}]"


def _tpc(g: GroupSummary) -> str:
    if g.tokens_per_correct_task is not None:
        return f"{g.tokens_per_correct_task:,.0f}"
    if g.tokens_unknown:
        return f"unknown ({g.tokens_unknown} cell(s) without token counts)"
    return _NONE


def table_rows(groups: Sequence[GroupSummary]) -> list[list[str]]:
    """The header and one row per group, as text cells (what ``table`` and ``markdown`` show)."""
    axes = list(groups[0].key) if groups else []
    header = [
        *axes,
        "cells",
        "done",
        "failed",
        "passed",
        "pass rate [95% CI]",
        "wall p50",
        "wall p90",
        "tokens/correct",
        "model calls",
        "failed calls",
        "timeouts",
    ]
    rows = [header]
    for g in groups:
        rows.append(
            [
                *(g.key[a] or _NONE for a in axes),
                str(g.cells),
                str(g.done),
                str(g.failed),
                f"{g.passed}/{g.checked}" if g.checked else _NONE,
                _rate(g),
                _ms(g.wall_median_ms),
                _ms(g.wall_p90_ms),
                _tpc(g),
                _count(g.model_calls, g.model_calls_unknown),
                _count(g.model_calls_failed),
                str(g.timeouts),
            ]
        )
    return rows


def render(groups: Sequence[GroupSummary], fmt: str = "table") -> str:
    """``groups`` as text: ``table`` (aligned columns), ``json``, ``csv`` or ``markdown``.

    Text cells are not escaped here: a caller that prints to a terminal escapes what came from
    trace files (adapter and model names) as it prints.
    """
    if fmt == "json":
        return orjson.dumps([g.to_dict() for g in groups], option=orjson.OPT_INDENT_2).decode()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        fields = [f for f in GroupSummary.__dataclass_fields__ if f != "key"]
        axes = list(groups[0].key) if groups else []
        writer.writerow([*axes, *fields])
        for g in groups:
            d = g.to_dict()
            writer.writerow([*(g.key[a] for a in axes), *("" if d[f] is None else d[f] for f in fields)])
        return out.getvalue().rstrip("\n")
    rows = table_rows(groups)
    if fmt == "markdown":
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines.insert(1, "|" + "|".join("---" for _ in rows[0]) + "|")
        return "\n".join(lines)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    n_axes = len(groups[0].key) if groups else 0
    lines = []
    for row in rows:
        cells = [c.ljust(widths[i]) if i < n_axes else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
