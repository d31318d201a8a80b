"""`cab-trace show`'s table: tree order, errors first, and trace text that cannot touch the terminal."""

from __future__ import annotations

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
    assert lines[0].startswith(f"trace {T}  run:x  2.00 s  2 spans  1 error(s)")
    assert lines[1].split()[:6] == ["span", "parent", "kind", "name", "duration", "attributes"]
    assert "ERROR: agent exited with code 3, exit_code=3" in lines[3]
    assert "stdout_tail" not in lines[3]  # summary leaves the tails to --full
    full = "\n".join(render(spans, width=200, full=True))
    assert "stdout_tail = long output" in full


def test_escape_sequences_in_trace_text_are_shown_not_obeyed() -> None:
    evil = "\x1b]0;owned\x07\x1b[2J name"
    spans = [span("1", None, 0, 1, name=evil, attributes={"a": "x\ny"})]
    text = "\n".join(render(spans))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;owned\\x07" in text
    assert safe_text("a\nb", one_line=True) == "a\\nb"
    assert safe_text("a\nb") == "a\nb"
