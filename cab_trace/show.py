"""``cab-trace show``: a trace's spans as a table, like a benchmark results page's span table.

Each trace opens with what it came to (the task's check, the exit code, whether the run
failed, model calls and tokens, spans with errors), then one row per span in tree order: its
status first, so an error is seen at any width, then when it started, how long it took, its
kind, its name and a summary of its attributes. Ids are left out unless asked for (``ids``):
they are for machines, and took a quarter of the line. With ``colour``, statuses, kinds and
the outcome are coloured (a terminal; never when piped, never with NO_COLOR).

Pure: works on span records only. Text from the trace is data: control characters, escape
sequences and bidirectional overrides are shown escaped (:func:`cab_trace.textsafe.safe_text`),
so a span cannot change the user's terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import orjson

from cab_trace.llm.summary import call_rows, is_model_call, render_table
from cab_trace.model import SpanRecord
from cab_trace.model.attr_values import AnyAttrValue, attr_to_json, attrs_to_json
from cab_trace.model.axes import cell_numbers
from cab_trace.model.index import SpanIndex
from cab_trace.model.tree import shape_warnings, tree_order, tree_rows
from cab_trace.textsafe import safe_text

__all__ = ["cut", "format_duration", "format_value", "render", "render_index", "safe_text", "tree_order"]

#: Attributes too long or too repetitive for the one-line summary (``--full`` shows them).
_SUMMARY_SKIP = re.compile(r"^(stdout_tail|stderr_tail|process\.|cab\.|gen_ai\.(input|output)\.messages$|"
                           r"gen_ai\.(system_instructions|tool\.definitions)$)")  # fmt: skip
#: Below this width a row leaves out its start time and kind (the name says most of the kind).
NARROW = 110

# SGR codes for colour on a terminal.
_STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "1;31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
    "blue": "34",
    "magenta": "35",
}
KIND_STYLE = {
    "run": "blue",
    "task_setup": "cyan",
    "adapter_run": "magenta",
    "container": "green",
    "verify": "cyan",
    "model_call": "blue",
    "tool_step": "yellow",
}
_TONE_STYLE = {"good": "green", "bad": "red", "warn": "yellow", "plain": "", "dim": "dim"}


def paint(text: str, style: str, colour: bool) -> str:
    """``text`` in ``style`` (a name of :data:`_STYLES`) when ``colour``; as it is otherwise."""
    code = _STYLES.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code and text else text


def format_value(value: AnyAttrValue) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(attr_to_json(value)).decode()


def format_duration(ns: int) -> str:
    ms = ns / 1e6
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def render(
    records: Iterable[SpanRecord],
    width: int = 120,
    full: bool = False,
    ids: bool = False,
    colour: bool = False,
) -> Iterator[str]:
    """Lines of the table, one block per trace (``--full``'s lines cut to ``width`` too)."""
    index = SpanIndex.from_records(records)
    yield from render_index(index, width, full, ids=ids, colour=colour, detail_width=width)


def render_index(
    index: SpanIndex,
    width: int = 120,
    full: bool = False,
    warn: Callable[[str], None] | None = None,
    *,
    ids: bool = False,
    colour: bool = False,
    detail_width: int | None = None,
) -> Iterator[str]:
    """:func:`render` over an index: the table is built from columns and each span's record is
    read when its row is printed, so a million spans print in bounded memory (two passes over
    the records: one for the column widths, one to print)."""
    groups = {0: range(len(index))} if len(index.trace_ids) == 1 else index.rows_of()
    options = _Options(width, full, ids, colour, detail_width)
    for number, trace_rows in groups.items():
        yield from _render_trace(index, number, trace_rows, options, warn)


@dataclass(frozen=True)
class _Options:
    width: int
    full: bool
    ids: bool
    colour: bool
    detail_width: int | None = None
    """``--full``'s lines are cut to this (None: whole, for the terminal to wrap)."""

    @property
    def narrow(self) -> bool:
        return self.width < NARROW


def status_word(span: SpanRecord) -> str:
    """``ERROR``, ``ok``, or ``unset``: a span recorded without a status. A model call or tool
    step that went well is left UNSET by the GenAI conventions; it reads ``ok``."""
    if span.is_error:
        return "ERROR"
    if span.status.code == "OK":
        return "ok"
    if span.kind in ("model_call", "tool_step") and span.attributes.get("cab.llm.outcome", "ok") == "ok":
        return "ok"
    return "unset"


def _cells(s: SpanRecord, depth: int, origin_ns: int, o: _Options) -> list[str]:
    cells = []
    if o.ids:
        cells += [s.span_id[:8], s.parent_span_id[:8] if s.parent_span_id else "–"]
    cells.append(status_word(s))
    if not o.narrow:
        cells.append(f"+{(s.start_time_unix_nano - origin_ns) / 1e9:.3f}")
    cells.append(format_duration(s.duration_ns))
    if not o.narrow:
        cells.append(safe_text(s.kind, one_line=True))
    cells.append("  " * min(depth, 12) + safe_text(s.name, one_line=True))
    return cells


def _header(o: _Options) -> list[str]:
    head = ["span", "parent"] if o.ids else []
    head.append("status")
    if not o.narrow:
        head.append("start")
    head.append("duration")
    if not o.narrow:
        head.append("kind")
    head.append("name")
    return head


def _render_trace(
    ix: SpanIndex,
    number: int,
    trace_rows: Sequence[int],
    o: _Options,
    warn: Callable[[str], None] | None,
) -> Iterator[str]:
    from cab_trace.outcome import fit, outcome_facts, so_far

    pid = [ix.pid[r] for r in trace_rows]
    starts = [ix.start[r] for r in trace_rows]
    ends = [ix.end[r] for r in trace_rows]
    origin = min(starts)
    errors = sum(ix.error[r] for r in trace_rows)
    roots = [r for r, p in zip(trace_rows, pid, strict=True) if not p]
    title = safe_text(ix.record(roots[0]).name, one_line=True) if roots else "(no root span)"
    trace_id = ix.trace_ids[number]
    sids = [ix.sid[r] for r in trace_rows]
    shape = tree_rows(sids, pid, starts, ends)
    if warn is not None:
        where = f"{ix.path}" + (f" (trace {trace_id})" if len(ix.trace_ids) > 1 else "")
        for message in shape_warnings(shape, sids, "{:016x}".format):
            warn(f"{where}: {message}")
    duration = format_duration(max(ends) - origin)
    del pid, starts, ends
    order = [(shape.depth[k], trace_rows[k]) for k in shape.order]
    header = _header(o)
    ours = "run" in ix.kind
    widths, model_calls, counted = _first_pass(
        ix, order, origin, o, widths=[len(h) for h in header], ours=ours
    )
    numbers = cell_numbers(counted)
    numbers.error_spans = errors
    calls = call_rows(model_calls)
    shown_id = trace_id if o.ids else trace_id[:8]
    yield cut(
        f"{paint('trace', 'bold', o.colour)} {shown_id}  {paint(title, 'bold', o.colour)}  {duration}  "
        f"{len(trace_rows)} spans",
        o.width,
        painted=o.colour,
    )
    facts = outcome_facts(numbers, so_far(calls, 2**63) if calls else None, ours)
    if facts:
        parts = [
            (f"{f.label} " if f.label else "") + paint(f.value, _TONE_STYLE[f.tone], o.colour)
            for f in fit(facts, o.width, gap=3)
        ]
        yield cut("  ".join(parts), o.width, painted=o.colour)
    yield ""
    # The name column gets at most 35% of the line, so the attributes (an error's message
    # first) keep room; a longer name is cut with an ellipsis.
    name_at = len(widths) - 1
    fixed = sum(widths[:name_at]) + 2 * len(widths)
    widths[name_at] = max(12, min(widths[name_at], max(20, (o.width * 7) // 20), o.width - fixed - 10))
    yield _row(header, "attributes", widths, o, style_of=lambda _j, _c: "bold")
    for depth, row in order:
        span = ix.record(row)
        cells = _cells(span, depth, origin, o)
        yield _row(cells, _summary(span), widths, o, style_of=_cell_style(cells, o, span))
        if o.full:
            for line in _details(span, o.colour):
                yield line if o.detail_width is None else cut(line, o.detail_width, painted=o.colour)
    if calls:
        yield ""
        yield from (cut(safe_text(line, one_line=True), o.width) for line in render_table(calls))
    yield ""


def _first_pass(
    ix: SpanIndex, order: list[tuple[int, int]], origin: int, o: _Options, *, widths: list[int], ours: bool
) -> tuple[list[int], list[SpanRecord], list[SpanRecord]]:
    """One read of every record: the columns' widths, the model calls (few; kept whole for
    their table) and the spans the run's numbers come from."""
    from cab_trace.outcome import NUMBER_KINDS

    model_calls: list[SpanRecord] = []
    counted: list[SpanRecord] = []
    for depth, row in order:
        span = ix.record(row)
        for j, cell in enumerate(_cells(span, depth, origin, o)):
            widths[j] = max(widths[j], len(cell))
        call = is_model_call(span)
        if call:
            model_calls.append(span)
        if call or span.kind in NUMBER_KINDS or span.is_error or (not ours and depth == 0):
            counted.append(span)
    return widths, model_calls, counted


def _cell_style(cells: list[str], o: _Options, span: SpanRecord) -> Callable[[int, str], str]:
    status_at = 2 if o.ids else 0
    kind_at = status_at + 3 if not o.narrow else -1

    def style(j: int, cell: str) -> str:
        if j == status_at:
            return {"ERROR": "red", "ok": "green"}.get(cell.strip(), "dim")
        if j == kind_at:
            return KIND_STYLE.get(span.kind, "")
        if j < status_at:
            return "dim"
        return ""

    return style


def _row(
    cells: Sequence[str],
    attrs: str,
    widths: list[int],
    o: _Options,
    style_of: Callable[[int, str], str],
) -> str:
    """One row: cells padded to their widths (the name cut to its column), the attributes in the
    room left, the whole cut to the width; coloured after the cutting, so colour codes never
    count as width."""
    plain: list[str] = []
    for j, cell in enumerate(cells):
        w = widths[j]
        text = cell if len(cell) <= w else cell[: max(w - 1, 0)] + "…"
        plain.append(text.rjust(w) if cell.endswith((" ms", " s")) and j < len(cells) - 1 else text.ljust(w))
    room = o.width - sum(len(p) + 2 for p in plain)
    if attrs and room >= 4:
        plain.append(attrs if len(attrs) <= room else attrs[: room - 1] + "…")
    line = "  ".join(plain).rstrip()
    if len(line) > o.width:
        line = line[: max(o.width - 1, 0)] + "…"
    if not o.colour:
        return line
    out, at = [], 0
    for j, text in enumerate(plain):
        piece = line[at : at + len(text)]
        at += len(text) + 2
        if not piece:
            break
        out.append(paint(piece, style_of(j, cells[j]) if j < len(cells) else "", True))
        if j == len(cells) and attrs.startswith("ERROR"):
            out[-1] = paint(piece, "red", True)
    return "  ".join(out).rstrip()


def cut(line: str, width: int, painted: bool = False) -> str:
    """Each line of ``line`` cut to ``width`` characters, the last an ellipsis where one was cut.
    ``painted``: the line holds colour codes; they are not counted (and a cut line loses them)."""
    visible = re.sub(r"\x1b\[[0-9;]*m", "", line) if painted else line
    if len(visible) <= width:
        return line
    parts = visible.split("\n")
    return "\n".join(p if len(p) <= width else p[: max(width - 1, 0)] + "…" for p in parts)


def _call_summary(a: dict[str, AnyAttrValue]) -> list[str]:
    """A model call in a few words: tokens, why it stopped, the HTTP status."""
    tokens_in, tokens_out = a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens")
    parts = []
    if tokens_in is not None or tokens_out is not None:
        shown_in = "?" if tokens_in is None else format_value(tokens_in)
        shown_out = "?" if tokens_out is None else format_value(tokens_out)
        parts.append(f"tokens {shown_in} in / {shown_out} out")
    elif a.get("cab.llm.usage_reported") is False:
        parts.append("tokens unknown")
    if isinstance(reasons := a.get("gen_ai.response.finish_reasons"), list) and reasons:
        parts.append("finish " + ",".join(map(str, reasons)))
    if (status := a.get("http.response.status_code")) is not None:
        parts.append(f"HTTP {format_value(status)}")
    return parts


def _step_summary(a: dict[str, AnyAttrValue]) -> list[str]:
    """A tool step in a few words: ``name(arguments) → the first line of its result``."""
    name, arguments = a.get("gen_ai.tool.name", "?"), a.get("gen_ai.tool.call.arguments", "")
    call = f"{format_value(name)}({format_value(arguments)})"
    result = a.get("gen_ai.tool.call.result")
    if isinstance(result, str):
        first = next((line.strip() for line in result.splitlines() if line.strip()), "")
        call += f" → {first}"
    return [call]


def _summary(span: SpanRecord) -> str:
    parts = []
    if span.is_error:
        parts.append(f"ERROR: {span.status.message or '(no message)'}")
    if span.kind == "model_call":
        parts.extend(_call_summary(span.attributes))
    elif span.kind == "tool_step":
        parts.extend(_step_summary(span.attributes))
    else:
        parts.extend(
            f"{k}={format_value(v)}" for k, v in span.attributes.items() if not _SUMMARY_SKIP.match(k)
        )
    return safe_text(", ".join(parts), one_line=True)


def _pretty(value: AnyAttrValue) -> str:
    """A value for ``--full``: JSON (a conversation, a list) indented, one item a line."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("[", "{"):
            try:
                return orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2).decode()
            except orjson.JSONDecodeError:
                return value
        return value
    if isinstance(value, list) and len(orjson.dumps(attr_to_json(value))) > 60:
        return orjson.dumps(attr_to_json(value), option=orjson.OPT_INDENT_2).decode()
    return format_value(value)


def _details(span: SpanRecord, colour: bool) -> Iterator[str]:
    """Every attribute, event and the status, values whole (``--full`` does not cut them)."""
    pad = " " * 6
    yield f"{pad}span {span.span_id}  parent {span.parent_span_id or '–'}"
    yield f"{pad}status: {status_word(span)} ({span.status.code})" + (
        f" {safe_text(span.status.message)}" if span.status.message else ""
    )
    for key, value in span.attributes.items():
        text = safe_text(_pretty(value)).replace("\n", "\n" + pad + "    ")
        yield f"{pad}{paint(safe_text(key), 'cyan', colour)} = {text}"
    for event in span.events:
        yield f"{pad}event {safe_text(event.name)} at {event.time_unix_nano}: " + safe_text(
            orjson.dumps(attrs_to_json(event.attributes)).decode()
        )
