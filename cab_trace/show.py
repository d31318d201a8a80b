"""``cab-trace show``: a trace's spans as a table, like a benchmark results page's span table.

Pure: works on span records only. Text from the trace is data: control characters and
escape sequences are shown escaped, so a span cannot change the user's terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import orjson

from cab_trace.model import SpanRecord
from cab_trace.model.record import AnyAttrValue, attr_to_json, attrs_to_json
from cab_trace.model.tree import group_traces, tree_order

#: Attributes too long or too repetitive for the one-line summary (``--full`` shows them).
_SUMMARY_SKIP = re.compile(r"^(stdout_tail|stderr_tail|process\.|cab\.)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_text(text: str, one_line: bool = False) -> str:
    """Escape control characters (ESC, BEL, ...) so that printing the text is harmless;
    with ``one_line``, newlines and tabs too."""
    pattern = _CONTROL_ONE_LINE if one_line else _CONTROL
    return pattern.sub(lambda m: _ESCAPES.get(m.group(0), f"\\x{ord(m.group(0)):02x}"), text)


_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


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
    for trace_id, spans in group_traces(records).items():
        start = min(s.start_time_unix_nano for s in spans)
        end = max(s.end_time_unix_nano for s in spans)
        errors = sum(1 for s in spans if s.is_error)
        roots = [s for s in spans if s.parent_span_id is None]
        title = safe_text(roots[0].name) if roots else "(no root span)"
        yield cut(
            f"trace {trace_id}  {title}  {format_duration(end - start)}  {len(spans)} spans"
            + (f"  {errors} error(s)" if errors else ""),
            width,
        )
        rows = [("span", "parent", "kind", "name", "duration", "attributes")]
        ordered = tree_order(spans)
        for depth, s in ordered:
            rows.append(
                (
                    s.span_id,
                    s.parent_span_id[:8] + "…" if s.parent_span_id else "–",
                    safe_text(s.kind, one_line=True),
                    "  " * depth + safe_text(s.name, one_line=True),
                    format_duration(s.duration_ns),
                    _summary(s),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        fixed = sum(widths) + 2 * 5
        for i, row in enumerate(rows):
            line = "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row[:5]))
            attrs = row[5]
            room = max(width - fixed, 20)
            if len(attrs) > room:
                attrs = attrs[: room - 1] + "…"
            yield cut(f"{line}  {attrs}".rstrip(), width)
            if full and i > 0:
                yield from (cut(d, width) for d in _details(ordered[i - 1][1]))
        yield ""


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
