"""A sweep directory's numbers as the text ``cab-trace sweep`` prints at its end and
``cab-trace show <sweep dir>`` prints at any time: one table, from ``cells.jsonl``.

Pure (stdlib, orjson). Names that came from adapters, models and tasks are escaped before they
reach a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cab_trace.errors import UsageError
from cab_trace.show import safe_text
from cab_trace.sweep import state, summary
from cab_trace.sweep.plan import CELLS_FILE

#: Axes a table can be grouped by; ``task`` is short for ``task_id``.
AXES = ("adapter", "model", "task_id", "repeat", "plugins", "vars", "node", "runtime", "sweep_id")
_ALIASES = {"task": "task_id"}


def parse_by(text: str | Sequence[str] | None) -> list[str]:
    """``adapter,model,task`` (or a list of such) as axes.

    Raises:
        UsageError: an axis the cells do not have.
    """
    if text is None:
        return list(summary.DEFAULT_GROUP)
    items = [text] if isinstance(text, str) else list(text)
    axes: list[str] = []
    for item in items:
        for part in item.split(","):
            name = _ALIASES.get(part.strip(), part.strip())
            if not name:
                continue
            if name not in AXES:
                raise UsageError(
                    f"--by {part.strip()!r}: not an axis of a sweep",
                    hint=f"one or more of {', '.join(['task', *AXES])}, comma-separated",
                )
            if name not in axes:
                axes.append(name)
    return axes or list(summary.DEFAULT_GROUP)


def is_sweep_dir(path: Path) -> bool:
    return path.is_dir() and (path / CELLS_FILE).is_file()


def render_lines(lines: Sequence[Mapping[str, Any]], by: Sequence[str], fmt: str, title: str = "") -> str:
    """The summary of ``lines`` grouped by ``by``, as ``fmt`` (table, json, csv or markdown)."""
    if fmt not in summary.FORMATS:
        raise UsageError(f"--format {fmt!r}: one of {', '.join(summary.FORMATS)}")
    groups = summary.summarize(lines, by)
    if fmt == "json":
        return summary.render(groups, "json")
    for group in groups:  # names from elsewhere, escaped before a terminal sees them
        group.key = {k: safe_text(v, one_line=True) for k, v in group.key.items()}
    text = summary.render(groups, fmt)
    if fmt == "table" and title:
        counts = state.counts(lines)
        said = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        text = f"{safe_text(title, one_line=True)}: {len(lines)} cells ({said})\n{text}"
    return text


def render_sweep_summary(sweep_dir: Path, by: Sequence[str] | str | None = None, fmt: str = "table") -> str:
    """The table of a sweep directory (what `cab-trace show <sweep dir>` prints).

    Raises:
        UsageError: no cells.jsonl there, or one that cannot be read (naming file and line).
    """
    path = sweep_dir / CELLS_FILE
    if not path.is_file():
        raise UsageError(f"{sweep_dir}: not a sweep directory (no {CELLS_FILE})")
    lines = state.read_cells(path)
    sweep_ids = {str(line.get("sweep_id")) for line in lines if line.get("sweep_id")}
    title = f"sweep {', '.join(sorted(sweep_ids))}" if sweep_ids else f"sweep in {sweep_dir}"
    return render_lines(lines, parse_by(by), fmt, title)
