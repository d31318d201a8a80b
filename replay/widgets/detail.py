"""Span detail: the selected span's status, what it holds and every attribute, event and link.

A model call reads as a turn of its conversation (:mod:`cab_trace.llm.turns`): what is new in
that turn first (the messages added since the call it continues, then the answer and its tool
calls), with the system prompt and the earlier messages folded to one line each that opens
on a click or enter. A tool step shows its arguments and result; the changes span shows the
run's diff, coloured. The attributes shown that way are folded under one line too; every other
span lists its attributes as recorded. The pane scrolls; ``z`` gives it the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from cab_trace.llm.summary import is_model_call
from cab_trace.llm.turns import ToolStepEntry as _Step
from cab_trace.llm.turns import Turn, is_tool_step, transcript, turns
from cab_trace.model import Attributes, SpanRecord
from cab_trace.show import format_duration, format_value
from replay.widgets.conversation import (
    call_summary,
    diff_lines,
    earlier_title,
    messages_lines,
    span_status,
    system_title,
    tool_step_lines,
    tools_offered,
    turn_body,
)
from replay.widgets.fold import Fold
from replay.widgets.text import data

#: Attributes the conversation view shows in its own way.
CONTENT_ATTRIBUTES = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
)
#: Of those, the ones recorded as JSON text.
JSON_CONTENT = CONTENT_ATTRIBUTES[:4]

Section = tuple[Text, list[Text]]


@dataclass
class DetailParts:
    """What the detail pane shows of one span; folded sections are (one-line title, body)."""

    head: list[Text]
    body: list[Text]
    system: Section | None = None
    earlier: Section | None = None
    more: Section | None = None
    """The attributes (events, links, resource) shown folded, when the body shows the span's
    content in its own way."""


def _json(value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _attribute_lines(attributes: Attributes, indent: str = "") -> list[Text]:
    """``key = value``, one per attribute; values wrap and keep their newlines."""
    lines = []
    for key, value in attributes.items():
        line = data(indent + key, style="#87afd7")
        line.append(" = ")
        line.append_text(data(format_value(value), one_line=False))
        lines.append(line)
    return lines


def _rest(span: SpanRecord, origin_ns: int) -> list[Text]:
    """Events, links and the resource."""
    parts: list[Text] = []
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
    return parts


def _head(span: SpanRecord, origin_ns: int) -> list[Text]:
    """The name and kind; then the status, when it started and how long it took."""
    title = data(span.name, style="bold")
    title.append(f"   {span.kind or 'span'} · {span.span_kind}", style="dim")
    title.no_wrap, title.overflow = True, "ellipsis"
    start = (span.start_time_unix_nano - origin_ns) / 1e9
    duration = format_duration(span.end_time_unix_nano - span.start_time_unix_nano)
    line = span_status(span)
    line.append(f" · start +{start:.3f} s · {duration}", style="dim")
    return [title, line]


def _ids(span: SpanRecord) -> Text:
    return Text(f"span {span.span_id} · parent {span.parent_span_id or '–'}", style="dim")


def _folded_attributes(span: SpanRecord, attributes: Attributes, rest: list[Text]) -> Section:
    lines = [_ids(span), *_attribute_lines(attributes)]
    n = len(attributes)
    title = Text(f"{n} attribute{'s' if n != 1 else ''}", style="bold")
    if rest:
        title.append(" · events, resource", style="dim")
    return title, [*lines, *rest]


def detail_parts(
    span: SpanRecord,
    origin_ns: int,
    turn: Turn | None = None,
    diff: str | None = None,
    diff_cut: int = 0,
) -> DetailParts:
    """The parts of one span's detail. ``turn`` is the span's turn when it is a model call (read
    alone when not given: then everything it sent is new); ``diff`` the run's changes.diff."""
    head = _head(span, origin_ns)
    attributes = span.attributes
    rest = _rest(span, origin_ns)
    if is_model_call(span):
        if turn is None:
            turn = turns([span])[0]
        body = turn_body(turn)
        if (summary := call_summary(attributes)).plain:
            body.append(summary)
        if (offered := tools_offered(attributes)) is not None:
            body.append(offered)
        shown = {k for k in JSON_CONTENT if _json(attributes.get(k)) is not None}
        left = {k: v for k, v in attributes.items() if k not in shown}
        return DetailParts(
            head=head,
            body=body,
            system=(system_title(turn), messages_lines(turn.system)) if turn.system else None,
            earlier=(earlier_title(turn), messages_lines(turn.earlier)) if turn.earlier else None,
            more=_folded_attributes(span, left, rest),
        )
    if is_tool_step(span):
        step = next(e for e in transcript([span]) if isinstance(e, _Step))
        left = {k: v for k, v in attributes.items() if k not in CONTENT_ATTRIBUTES}
        return DetailParts(head=head, body=tool_step_lines(step), more=_folded_attributes(span, left, rest))
    if span.kind == "blast_radius" and diff is not None:
        title = Text("changes.diff", style="bold underline")
        if not diff.strip():
            return DetailParts(head=head, body=[title, Text("(empty: nothing changed)", style="dim")],
                               more=_folded_attributes(span, attributes, rest))  # fmt: skip
        return DetailParts(
            head=head,
            body=[title, *diff_lines(diff, diff_cut)],
            more=_folded_attributes(span, attributes, rest),
        )
    body = [_ids(span)]
    if attributes:
        body.append(Text("attributes", style="bold underline"))
        body.extend(_attribute_lines(attributes))
    return DetailParts(head=head, body=[*body, *rest])


def describe(span: SpanRecord, origin_ns: int, turn: Turn | None = None) -> Group:
    """Everything of one span, every fold open (for a test or a one-off rendering)."""
    parts = detail_parts(span, origin_ns, turn)
    lines = [*parts.head, *parts.body]
    for section in (parts.system, parts.earlier, parts.more):
        if section is not None:
            lines.extend([section[0], *section[1]])
    return Group(*lines)


class SpanDetail(Vertical):
    """Shows :func:`detail_parts` of one span: a head, folds, the body. Sits in a scrolling
    container (the pane); each fold opens on a click, or enter when it has the focus."""

    DEFAULT_CSS = """
    SpanDetail { height: auto; }
    SpanDetail > Static { height: auto; }
    """

    def compose(self) -> ComposeResult:
        # What is new comes first: the body (a turn's new messages and answer) right under the
        # head; what came before (the system prompt, earlier messages) folded below it.
        yield Static(id="detail-head")
        yield Static(id="detail-body")
        yield Fold(id="fold-system")
        yield Fold(id="fold-earlier")
        yield Fold(id="fold-more")

    def on_mount(self) -> None:
        for fold in self.query(Fold):
            fold.display = False

    def show_span(
        self,
        span: SpanRecord,
        origin_ns: int,
        turn: Turn | None = None,
        diff: str | None = None,
        diff_cut: int = 0,
    ) -> None:
        """Show a span; its folds start closed."""
        parts = detail_parts(span, origin_ns, turn, diff, diff_cut)
        self.query_one("#detail-head", Static).update(Group(*parts.head))
        self.query_one("#detail-body", Static).update(Group(*parts.body))
        for fold_id, section in (
            ("#fold-system", parts.system),
            ("#fold-earlier", parts.earlier),
            ("#fold-more", parts.more),
        ):
            fold = self.query_one(fold_id, Fold)
            fold.display = section is not None
            if section is not None:
                fold.set_content(*section)
        if self.parent is not None and hasattr(self.parent, "scroll_home"):
            self.parent.scroll_home(animate=False)  # a new span is read from its top

    @property
    def text(self) -> str:
        """What the pane shows, as plain text (open folds with their bodies)."""
        out = []
        for child in self.children:
            if not child.display:
                continue
            if isinstance(child, Fold):
                mark = "▾ " if child.expanded else "▸ "
                out.append(mark + child.title.plain)
                if child.expanded:
                    out.extend(t.plain for t in child.body)
            elif isinstance(child, Static) and isinstance(group := child.content, Group):
                out.extend(t.plain for t in group.renderables if isinstance(t, Text))
        return "\n".join(out)
