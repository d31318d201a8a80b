"""`cab-trace show`'s table: tree order, errors first, and trace text that cannot touch the terminal."""

from __future__ import annotations

import re

from cab_trace.model import SpanRecord, Status
from cab_trace.show import render, safe_text, tree_order

T = "4bf92f3577b34da6a3ce929d0e0e4736"


def span(sid: str, parent: str | None, start: int, end: int, **kw) -> SpanRecord:
    return SpanRecord(
        T,
        sid * 16,
        parent * 16 if parent else None,
        kw.pop("name", f"s{sid}"),
        kw.pop("kind", "x"),
        start,
        end,
        **kw,
    )


def test_tree_order_by_parent_then_start() -> None:
    spans = [
        span("3", "1", 5, 6),
        span("1", None, 0, 10),
        span("2", "1", 1, 2),
        span("4", "2", 1, 2),
        span("5", "9", 0, 1),
    ]  # 5's parent is not in the file: shown as a root
    assert [(d, s.span_id[0]) for d, s in tree_order(spans)] == [
        (0, "5"),
        (0, "1"),
        (1, "2"),
        (2, "4"),
        (1, "3"),
    ]


def test_render_has_a_header_row_per_span_and_errors() -> None:
    spans = [
        span("1", None, 0, 2_000_000_000, name="run:x", attributes={"cell_id": "c"}),
        span(
            "2",
            "1",
            0,
            5_000_000,
            name="launch",
            status=Status("ERROR", "agent exited with code 3"),
            attributes={"exit_code": 3, "stdout_tail": "long output"},
        ),
    ]
    lines = list(render(spans, width=200))
    assert lines[0] == f"trace {T[:8]}  run:x  2.00 s  2 spans"  # a short id: enough to tell traces apart
    assert lines[1] == "1 span with errors"  # a foreign trace: no check, no exit code to speak of
    assert lines[3].split() == ["status", "start", "duration", "kind", "name", "attributes"]
    assert lines[5].split()[:4] == ["ERROR", "+0.000", "5", "ms"]
    assert "ERROR: agent exited with code 3, exit_code=3" in lines[5]
    assert "stdout_tail" not in lines[5]  # summary leaves the tails to --full
    full = "\n".join(render(spans, width=200, full=True))
    assert "stdout_tail = long output" in full
    with_ids = list(render(spans, width=200, ids=True))
    assert with_ids[0].startswith(f"trace {T}  ") and with_ids[3].split()[:3] == ["span", "parent", "status"]
    assert with_ids[5].split()[:2] == ["2" * 8, "1" * 8]


def test_an_error_is_seen_at_80_columns_and_names_make_room() -> None:
    long_name = "run:" + "sweep/adapter/model/" * 5
    spans = [
        span("1", None, 0, 2_000_000_000, name=long_name, kind="run", attributes={"cell_id": "c" * 200}),
        span(
            "2",
            "1",
            0,
            5,
            name="verify:t",
            kind="verify",
            status=Status("ERROR", "check failed: exit code 1"),
        ),
    ]
    lines = list(render(spans, width=80))
    assert all(len(line) <= 80 for line in lines)
    row = next(line for line in lines if "verify:t" in line)
    assert row.startswith("ERROR") and "ERROR: check failed" in row  # the status, and why
    assert lines[3].split() == ["status", "duration", "name", "attributes"]  # narrow: no start, no kind
    assert "no check" in lines[1] and "run failed" not in lines[1] and "1 span with errors" in lines[1]


def test_colour_only_when_asked_and_never_counted_as_width() -> None:
    spans = [span("1", None, 0, 5, name="s", status=Status("ERROR", "bad"))]
    plain = list(render(spans, width=60))
    assert not any("\x1b" in line for line in plain)
    painted = list(render(spans, width=60, colour=True))
    assert any("\x1b[1;31mERROR" in line for line in painted)
    strip = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in painted]
    assert strip == plain


def test_full_prints_json_values_indented_one_item_a_line() -> None:
    messages = '[{"role": "user", "parts": [{"type": "text", "content": "fix it"}]}]'
    spans = [
        span(
            "1", None, 0, 5, name="chat m", kind="model_call", attributes={"gen_ai.input.messages": messages}
        )
    ]
    full = "\n".join(render(spans, width=10**6, full=True)).splitlines()
    at = next(i for i, line in enumerate(full) if "gen_ai.input.messages = [" in line)
    assert full[at + 1].strip() == "{" and '"role": "user",' in full[at + 2]
    assert "status: ok (UNSET)" in "\n".join(full)  # a model call that went well reads ok


def test_escape_sequences_in_trace_text_are_shown_not_obeyed() -> None:
    evil = "\x1b]0;owned\x07\x1b[2J name"
    spans = [span("1", None, 0, 1, name=evil, attributes={"a": "x\ny"})]
    text = "\n".join(render(spans))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;owned\\x07" in text
    assert safe_text("a\nb", one_line=True) == "a\\nb"
    assert safe_text("a\nb") == "a\nb"
