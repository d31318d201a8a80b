"""``cab-trace show``: a trace's spans as a table, like a benchmark results page's span table.

Pure: works on span records only. Text from the trace is data: control characters, escape
sequences and bidirectional overrides are shown escaped (:func:`cab_trace.textsafe.safe_text`),
so a span cannot change the user's terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence

import orjson

from cab_trace.llm.summary import call_rows, is_model_call, render_table, totals_text
from cab_trace.model import SpanRecord
from cab_trace.model.index import SpanIndex
from cab_trace.model.record import AnyAttrValue, attr_to_json, attrs_to_json
from cab_trace.model.tree import shape_warnings, tree_order, tree_rows
from cab_trace.textsafe import safe_text

__all__ = ["cut", "format_duration", "format_value", "render", "render_index", "safe_text", "tree_order"]

#: Attributes too long or too repetitive for the one-line summary (``--full`` shows them).
_SUMMARY_SKIP = re.compile(r"^(stdout_tail|stderr_tail|process\.|cab\.)")


def format_value(value: AnyAttrValue) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(attr_to_json(value)).decode()


def format_duration(ns: int) -> str:
    ms = ns / 1e6
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def render(records: Iterable[SpanRecord], width: int = 120, full: bool = False) -> Iterator[str]:
    """Lines of the table, one block per trace."""
    yield from render_index(SpanIndex.from_records(records), width, full)


def render_index(
    index: SpanIndex, width: int = 120, full: bool = False, warn: Callable[[str], None] | None = None
) -> Iterator[str]:
    """:func:`render` over an index: the table is built from columns and each span's record is
    read when its row is printed, so a million spans print in bounded memory (two passes over
    the records: one for the column widths, one to print)."""
    groups = {0: range(len(index))} if len(index.trace_ids) == 1 else index.rows_of()
    for number, trace_rows in groups.items():
        yield from _render_trace(index, number, trace_rows, width, full, warn)


_HEADER = ("span", "parent", "kind", "name", "duration")


def _render_trace(  # noqa: PLR0917
    ix: SpanIndex,
    number: int,
    trace_rows: Sequence[int],
    width: int,
    full: bool,
    warn: Callable[[str], None] | None,
) -> Iterator[str]:
    pid = [ix.pid[r] for r in trace_rows]
    starts = [ix.start[r] for r in trace_rows]
    ends = [ix.end[r] for r in trace_rows]
    errors = sum(ix.error[r] for r in trace_rows)
    roots = [r for r, p in zip(trace_rows, pid, strict=True) if not p]
    title = safe_text(ix.record(roots[0]).name) if roots else "(no root span)"
    header = (
        f"trace {ix.trace_ids[number]}  {title}  {format_duration(max(ends) - min(starts))}  "
        f"{len(trace_rows)} spans" + (f"  {errors} error(s)" if errors else "")
    )
    sids = [ix.sid[r] for r in trace_rows]
    shape = tree_rows(sids, pid, starts, ends)
    if warn is not None:
        where = f"{ix.path}" + (f" (trace {ix.trace_ids[number]})" if len(ix.trace_ids) > 1 else "")
        for message in shape_warnings(shape, sids, "{:016x}".format):
            warn(f"{where}: {message}")
    del pid, starts, ends
    order = [(shape.depth[k], trace_rows[k]) for k in shape.order]
    widths = [len(h) for h in _HEADER]
    model_calls: list[SpanRecord] = []  # few; kept whole for the Model calls table
    for depth, row in order:
        span = ix.record(row)
        for j, cell in enumerate(_cells(span, depth)):
            widths[j] = max(widths[j], len(cell))
        if is_model_call(span):
            model_calls.append(span)
    calls = call_rows(model_calls)
    yield cut(header + (f"  {totals_text(calls)}" if calls else ""), width)
    room = max(width - sum(widths) - 2 * 5, 20)
    yield _line(_HEADER, "attributes", widths, room, width)
    for depth, row in order:
        span = ix.record(row)
        yield _line(_cells(span, depth), _summary(span), widths, room, width)
        if full:
            yield from (cut(d, width) for d in _details(span))
    if calls:
        yield ""
        yield from (cut(safe_text(line, one_line=True), width) for line in render_table(calls))
    yield ""


def _cells(s: SpanRecord, depth: int) -> tuple[str, str, str, str, str]:
    return (
        s.span_id,
        s.parent_span_id[:8] + "…" if s.parent_span_id else "–",
        safe_text(s.kind, one_line=True),
        "  " * depth + safe_text(s.name, one_line=True),
        format_duration(s.duration_ns),
    )


def _line(cells: tuple[str, ...], attrs: str, widths: list[int], room: int, width: int) -> str:
    text = "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(cells))
    if len(attrs) > room:
        attrs = attrs[: room - 1] + "…"
    return cut(f"{text}  {attrs}".rstrip(), width)


def cut(line: str, width: int) -> str:
    """Each line of ``line`` cut to ``width`` characters, the last an ellipsis where one was cut."""
    if len(line) <= width:
        return line
    parts = line.split("\n")
    return "\n".join(p if len(p) <= width else p[: max(width - 1, 0)] + "…" for p in parts)


def _summary(span: SpanRecord) -> str:
    parts = []
    if span.is_error:
        parts.append(f"ERROR: {span.status.message or '(no message)'}")
    parts.extend(f"{k}={format_value(v)}" for k, v in span.attributes.items() if not _SUMMARY_SKIP.match(k))
    return safe_text(", ".join(parts), one_line=True)


def _details(span: SpanRecord) -> Iterator[str]:
    pad = " " * 6
    yield f"{pad}status: {span.status.code}" + (
        f" {safe_text(span.status.message)}" if span.status.message else ""
    )
    for key, value in span.attributes.items():
        text = safe_text(format_value(value)).replace("\n", "\n" + pad + "  ")
        yield f"{pad}{safe_text(key)} = {text}"
    for event in span.events:
        yield f"{pad}event {safe_text(event.name)} at {event.time_unix_nano}: " + safe_text(
            orjson.dumps(attrs_to_json(event.attributes)).decode()
        )
