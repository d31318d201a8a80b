"""What one cell page shows, gathered from a run directory: identity and per-axis numbers, the
spans in the replay's order, the model calls, their conversations, the terminal's frames, the
diff and the check's output. Reads the run's recorded (already redacted) files; writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cab_trace.export.html.content import CONTENT_ATTRIBUTES, Conversations, conversations, is_content
from cab_trace.export.html.frames import DEFAULT_LIMIT, Frames, render_frames
from cab_trace.llm.summary import call_rows
from cab_trace.llm.turns import RESPONSE_STATUS
from cab_trace.model import SpanRecord
from cab_trace.model.attr_values import AnyAttrValue, attr_to_json
from cab_trace.model.axes import CellNumbers, cell_numbers, is_model_call
from cab_trace.show import format_value
from replay.load import LoadedTrace
from replay.tree import SpanTree

DIFF_FILE = "changes.diff"
#: Beyond this many spans the page keeps the first ones in tree order (and says so).
MAX_SPANS = 50_000
#: An attribute value longer than this is cut in the span table (and says how much is left out).
MAX_VALUE = 4096
#: The diff is shown up to this size (and says how much is left out).
MAX_DIFF = 4 * 1024 * 1024

Say = Callable[[str], None]


@dataclass
class PageOptions:
    """How a page is made."""

    content: bool = True
    """Show the conversations (False: ``--no-content``)."""
    terminal_limit: int | None = DEFAULT_LIMIT
    """Recording bytes (and frame bytes) the page's terminal holds (None: all)."""
    max_spans: int = MAX_SPANS
    progress: Say | None = None
    """Told what is being done, for long work."""


@dataclass
class CellPage:
    """Everything one page shows, JSON-ready (the HTML is made from it by ``render``)."""

    title: str
    numbers: CellNumbers
    identity: list[tuple[str, str]]
    head: dict[str, Any]
    """The player's small data: spans, calls, times (parsed before the page is first drawn)."""
    details: list[Any]
    """Each span's attributes and events (opened after the first paint)."""
    conversations: Conversations | None
    frames: Frames | None
    diff: str | None
    check: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    source: str = ""


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters in the trace]"


def _value(value: AnyAttrValue) -> str:
    return _cut(format_value(value), MAX_VALUE)


def _clock(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns // 1_000_000 % 1000:03d}Z"


def _identity(numbers: CellNumbers) -> list[tuple[str, str]]:
    rows: list[tuple[str, Any]] = [
        ("cell_id", numbers.cell_id),
        ("sweep_id", numbers.sweep_id),
        ("run_id", numbers.run_id),
        ("adapter", numbers.adapter),
        ("model", numbers.model),
        ("task_id", numbers.task_id),
        ("runtime", numbers.runtime),
        ("container_image", numbers.image),
        ("image_digest", numbers.image_digest),
        ("node", numbers.node),
        ("repeat", numbers.repeat),
        ("trace_id", numbers.trace_id),
        ("started_at", numbers.started_at),
        ("ended_at", numbers.ended_at),
    ]
    return [(k, format_value(v) if not isinstance(v, str) else v) for k, v in rows if v not in (None, "")]


def _check(spans: list[SpanRecord]) -> dict[str, Any] | None:
    verify = next((s for s in spans if s.kind == "verify"), None)
    if verify is None:
        return None
    a = verify.attributes
    out: dict[str, Any] = {"status": verify.status.code, "message": verify.status.message}
    for key in ("command", "passed", "exit_code", "timed_out", "duration_s", "stdout_tail", "stderr_tail"):
        if key in a:
            out[key] = attr_to_json(a[key])
    return out


def _diff(run_dir: Path, spans: list[SpanRecord], notes: list[str]) -> str | None:
    changes = next((s for s in spans if s.kind == "blast_radius"), None)
    name = changes.attributes.get("diff_file") if changes is not None else None
    path = run_dir / (name if isinstance(name, str) and "/" not in name and name else DIFF_FILE)
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        data = handle.read(MAX_DIFF + 1)
    text = data[:MAX_DIFF].decode("utf-8", errors="replace")
    if len(data) > MAX_DIFF:
        size = path.stat().st_size
        text += f"\n… [the page shows the first {MAX_DIFF:,} of {size:,} bytes of {path.name}]\n"
        notes.append(f"{path.name} is cut at {MAX_DIFF:,} bytes on this page")
    return text


def _span_row(span: SpanRecord, position: int, tree: SpanTree, origin: int) -> list[Any]:
    """What the waterfall needs of a span (drawn before the page's compressed blocks are open)."""
    return [
        span.name,
        span.kind,
        tree.depth[position],
        tree.parent[position],
        span.start_time_unix_nano - origin,
        span.end_time_unix_nano - origin,
        1 if span.is_error else 0,
        span.status.message if span.is_error else span.status.code,
        span.span_id,
    ]


def _span_details(span: SpanRecord, origin: int, content: bool) -> list[Any]:
    """A span's attributes and events, for its detail and the span table (a compressed block)."""
    # Conversations are shown with their model call; without content, nothing like them is shown.
    attrs = {
        k: _value(v)
        for k, v in span.attributes.items()
        if k not in CONTENT_ATTRIBUTES and (content or not is_content(k))
    }
    events = [
        [
            e.time_unix_nano - origin,
            e.name,
            {k: _value(v) for k, v in e.attributes.items() if content or not is_content(k)},
        ]
        for e in span.events
    ]
    return [attrs, events]


def build_page(trace: LoadedTrace, run_dir: Path, options: PageOptions) -> CellPage:
    """The page of one trace; ``run_dir`` holds its diff (the recording is on ``trace``)."""
    tree = trace.tree or SpanTree(index=trace.index, rows=trace.rows)
    notes: list[str] = []
    total = len(tree)
    kept = min(total, options.max_spans)
    if kept < total:
        notes.append(
            f"this trace has {total:,} spans; the page holds the first {kept:,} in tree order "
            "(cab-trace replay shows them all)"
        )
    spans = [tree.spans[i] for i in range(kept)]
    origin = min(tree.starts[i] for i in range(kept))
    duration = max(tree.ends[i] for i in range(kept)) - origin
    numbers = cell_numbers(spans)
    rows = [_span_row(s, i, tree, origin) for i, s in enumerate(spans)]
    details = [_span_details(s, origin, options.content) for s in spans]
    position = {id(s): i for i, s in enumerate(spans)}
    calls = call_rows(spans)
    by_call = sorted((s for s in spans if is_model_call(s)), key=lambda s: s.start_time_unix_nano)
    step_spans = sorted(
        (
            s
            for s in spans
            if s.kind == "tool_step" or s.attributes.get("gen_ai.operation.name") == "execute_tool"
        ),
        key=lambda s: s.start_time_unix_nano,
    )
    head_calls = []
    for row in calls:
        a = row.span.attributes
        head_calls.append(
            {
                "n": row.index,
                "index": attr_to_json(a.get("cab.llm.call_index", row.index)),
                "span": position[id(row.span)],
                "start": row.start_ns - origin,
                "end": row.span.end_time_unix_nano - origin,
                "clock": _clock(row.start_ns),
                "hash": row.request_hash,
                "in": row.input_tokens,
                "out": row.output_tokens,
                "latency": row.latency_ns,
                "finish": row.finish,
                # The Responses API's status: shown where that API gives no finish reason.
                "status": str(a.get(RESPONSE_STATUS, "")),
                "error": row.span.is_error,
                "message": row.span.status.message if row.span.is_error else "",
                "outcome": str(a.get("cab.llm.outcome", "")),
                "retry_of": attr_to_json(a["cab.llm.repeat_of"]) if "cab.llm.repeat_of" in a else None,
                "model": str(a.get("gen_ai.response.model") or a.get("gen_ai.request.model") or ""),
                "ttfc": attr_to_json(a.get("gen_ai.response.time_to_first_chunk")),
                "http": attr_to_json(a.get("http.response.status_code")),
                "usage": attr_to_json(a.get("cab.llm.usage_reported")),
                "stream": attr_to_json(a.get("gen_ai.request.stream")),
            }
        )
    head_steps = [
        {
            "span": position[id(s)],
            "start": s.start_time_unix_nano - origin,
            "end": s.end_time_unix_nano - origin,
        }
        for s in step_spans
    ]
    frames = None
    cast = trace.cast
    if cast is not None and trace.cast_origin_ns is not None:
        say = options.progress

        def progress(done: int, events: int) -> None:
            if say is not None:
                say(f"terminal: {done:,} of {events:,} events")

        frames = render_frames(cast, trace.cast_origin_ns - origin, options.terminal_limit, progress)
        if frames.stopped_at_ns is not None:
            notes.append(
                f"the terminal on this page stops at {frames.stopped_at_ns / 1e9:.3f} s "
                f"(--terminal-limit {options.terminal_limit:,} bytes)"
            )
        if cast.cut_off:
            notes.append("terminal.cast ends in a cut-off line (the recording was interrupted)")
    root = tree.spans[0] if total else None
    title = numbers.cell_id or (root.name if root is not None else trace.trace_id)
    if numbers.cell_id and numbers.repeat is not None:
        title += f" r{numbers.repeat}"  # a cell's repeats share its id
    head = {
        "title": title,
        "duration": duration,
        "origin_clock": _clock(origin),
        "spans": rows,
        "calls": head_calls,
        "steps": head_steps,
        "content": options.content,
        "errors": [e for e in tree.errors if e < kept],
        "warnings": list(trace.warnings),
    }
    return CellPage(
        title=title,
        numbers=numbers,
        identity=_identity(numbers),
        head=head,
        details=details,
        conversations=conversations(by_call, step_spans, options.content),
        frames=frames,
        diff=_diff(run_dir, spans, notes),
        check=_check(spans),
        notes=notes,
        source=run_dir.name,  # not the whole path: it would tell whose machine made the page
    )
