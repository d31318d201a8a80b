"""Write the figures of `bench/results.json` into docs/performance.md (`make bench-docs`).

`make bench` measures and writes `bench/results.json`; this renders it as the page's table
(with the machine, the date and its load, and each figure's note as a footnote) between
the page's markers, and leaves the hand-written explanation around them as it is. A
results file without some suite (a row a bench could not run) is rendered without it.

python -m bench.docs [RESULTS] [PAGE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
PAGE = HERE.parent / "docs" / "performance.md"
START = "<!-- bench-results:start (written by `make bench-docs` from bench/results.json) -->"
END = "<!-- bench-results:end -->"
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _number(value: float) -> str:
    return f"{value:,.1f}" if abs(value) < 10_000 else f"{value:,.0f}"


def render(results: dict[str, Any]) -> str:
    """The section between the markers: where and when it was measured, the table, the notes."""
    machine = results.get("machine", {})
    where = ", ".join(
        str(part)
        for part in (
            f"{machine['cpus']} CPUs" if machine.get("cpus") else None,
            machine.get("platform"),
            f"Python {machine['python']}" if machine.get("python") else None,
        )
        if part
    )
    when = machine.get("date")
    load = machine.get("load")
    said = f"Measured on {where or 'an unnamed machine'}" + (f", {when}" if when else "")
    if isinstance(load, list) and load:
        said += f", load average {' / '.join(f'{x:.2f}' for x in load)} (1, 5, 15 min)"
    lines = [
        said + ":",
        "",
        "| figure | unit | ours | baseline | ratio | target | baseline is |",
        "|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for figure in results.get("figures", []):
        name = str(figure["name"])
        note = str(figure.get("note") or "").strip()
        if note:
            if note not in notes:
                notes.append(note)
            name += str(notes.index(note) + 1).translate(SUPERSCRIPTS)
        ratio = figure.get("ratio")
        lines.append(
            "| "
            + " | ".join(
                [
                    name.replace("|", "\\|"),
                    str(figure["unit"]),
                    _number(float(figure["ours"])),
                    _number(float(figure["baseline"])),
                    f"{float(ratio):.2f}" if isinstance(ratio, int | float) else "-",
                    str(figure.get("target") or "-"),
                    str(figure["baseline_name"]).replace("|", "\\|"),
                ]
            )
            + " |"
        )
    if notes:
        lines.append("")
        lines.extend(f"{str(i).translate(SUPERSCRIPTS)} {note}" for i, note in enumerate(notes, 1))
    return "\n".join(lines)


def write(page_text: str, section: str) -> str:
    """``page_text`` with the text between the markers replaced by ``section``."""
    if START not in page_text or END not in page_text:
        raise ValueError(f"the page has no {START!r} … {END!r} markers")
    head, rest = page_text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}\n{END}{tail}"


def main(argv: list[str]) -> int:
    results_path = Path(argv[0]) if argv else RESULTS
    page_path = Path(argv[1]) if len(argv) > 1 else PAGE
    try:
        results = json.loads(results_path.read_text())
    except OSError as exc:
        print(f"bench.docs: {results_path}: {exc.strerror or exc}; run `make bench` first", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"bench.docs: {results_path}:{exc.lineno}: not JSON ({exc.msg})", file=sys.stderr)
        return 2
    try:
        page_path.write_text(write(page_path.read_text(), render(results)))
    except (OSError, ValueError) as exc:
        print(f"bench.docs: {page_path}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(results.get('figures', []))} figure(s) into {page_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
