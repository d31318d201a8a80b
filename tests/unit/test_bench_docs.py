"""`make bench-docs`: the performance page's table written from bench/results.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import docs

RESULTS = {
    "machine": {
        "python": "3.11.7",
        "platform": "Linux-6.18-x86_64",
        "cpus": 2,
        "date": "2026-12-06",
        "load": [0.5, 1.25, 2.0],
    },
    "figures": [
        {
            "name": "replay: open a trace",
            "unit": "s",
            "ours": 0.52,
            "baseline": 0.25,
            "baseline_name": "orjson | parse",
            "target": "≤ 2×",
            "note": "idle machine",
            "ratio": 2.08,
        },
        {
            "name": "redact text",
            "unit": "MB/s",
            "ours": 341.25,
            "baseline": 2159.8,
            "baseline_name": "replace only",
            "target": "",
            "note": "",
            "ratio": 0.158,
        },
        {
            "name": "seek",
            "unit": "ms",
            "ours": 82.3,
            "baseline": 643609.0,
            "baseline_name": "pyte",
            "target": "",
            "note": "idle machine",
            "ratio": 0.0,
        },
    ],
}


def test_the_table_says_where_when_and_under_what_load() -> None:
    lines = docs.render(RESULTS).splitlines()
    assert lines[0] == (
        "Measured on 2 CPUs, Linux-6.18-x86_64, Python 3.11.7, 2026-12-06, "
        "load average 0.50 / 1.25 / 2.00 (1, 5, 15 min):"
    )
    assert lines[4] == "| replay: open a trace¹ | s | 0.5 | 0.2 | 2.08 | ≤ 2× | orjson \\| parse |"
    assert lines[5] == "| redact text | MB/s | 341.2 | 2,159.8 | 0.16 | - | replace only |"
    assert lines[6].startswith("| seek¹ | ms | 82.3 | 643,609 |")
    assert lines[-1] == "¹ idle machine"  # one note, once


def test_only_the_section_between_the_markers_is_rewritten(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text(
        f"# Performance\n\nwhy it is so\n\n{docs.START}\nold table\n{docs.END}\n\nwhere the time goes\n"
    )
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    assert docs.main([str(results), str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Performance\n\nwhy it is so\n\n") and text.endswith("\n\nwhere the time goes\n")
    assert "old table" not in text and "| redact text |" in text
    assert docs.main([str(tmp_path / "none.json"), str(page)]) == 2
    with pytest.raises(ValueError, match="markers"):
        docs.write("no markers", "x")


def test_the_performance_page_has_the_markers() -> None:
    text = docs.PAGE.read_text()
    assert text.count(docs.START) == 1 and text.count(docs.END) == 1
    assert text.index(docs.START) < text.index(docs.END)
