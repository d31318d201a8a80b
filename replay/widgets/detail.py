"""Span detail: every attribute, event and the status of the selected span, exactly as recorded."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from cab_trace.model import Attributes, SpanRecord
from cab_trace.show import format_duration, format_value
from replay.widgets.text import data


def describe(span: SpanRecord, origin_ns: int) -> Group:
    """Rich renderables for one span; every value from the trace is literal text."""
    parts: list[Text] = []
    title = data(span.name, style="bold")
    title.append(f"   {span.kind} · {span.span_kind}", style="dim")
    parts.append(title)
    start = (span.start_time_unix_nano - origin_ns) / 1e9
    duration = format_duration(span.end_time_unix_nano - span.start_time_unix_nano)
    timing = Text(
        f"start +{start:.3f} s · duration {duration} · span {span.span_id}"
        f" · parent {span.parent_span_id or '–'}",
        style="dim",
    )
    parts.append(timing)
    status = Text("status ")
    status.append(span.status.code, style="bold red" if span.is_error else "bold")
    if span.status.message:
        status.append(": ")
        status.append_text(data(span.status.message, one_line=False))
    parts.append(status)
    if span.attributes:
        parts.append(Text("attributes", style="bold underline"))
        parts.extend(_attribute_lines(span.attributes))
    for event in span.events:
        head = Text(f"event +{(event.time_unix_nano - origin_ns) / 1e9:.3f} s ", style="bold")
        head.append_text(data(event.name))
        parts.append(head)
        parts.extend(_attribute_lines(event.attributes, indent="  "))
    for link in span.links:
        parts.append(Text(f"link → {link.trace_id}/{link.span_id}", style="dim"))
    if span.resource:
        parts.append(Text("resource", style="bold underline"))
        parts.extend(_attribute_lines(span.resource))
    return Group(*parts)


def _attribute_lines(attributes: Attributes, indent: str = "") -> list[Text]:
    """``key = value``, one per attribute; values wrap and keep their newlines."""
    lines = []
    for key, value in attributes.items():
        line = data(indent + key, style="#87afd7")
        line.append(" = ")
        line.append_text(data(format_value(value), one_line=False))
        lines.append(line)
    return lines


class SpanDetail(Static):
    """Shows :func:`describe` of one span; long values wrap."""

    def show_span(self, span: SpanRecord, origin_ns: int) -> None:
        self.update(describe(span, origin_ns))
