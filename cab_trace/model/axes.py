"""A cell's per-axis numbers, read from its trace: what a benchmark results page shows of one run.

Pure (stdlib only): spans in, :class:`CellNumbers` out. The sweep's ``cells.jsonl``, the sweep
table, ``compare`` and the HTML cell page all take their numbers from here, so one cell reads
the same everywhere.

Unknown is not zero: a number that was not observed is ``None`` and is left out of
:meth:`CellNumbers.to_dict`, never written as 0. Tokens are known only when every model call
that succeeded reported its usage; the calls that did not are counted in ``calls_without_usage``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from cab_trace.model.record import SpanRecord

_GEN_AI_OPERATIONS = ("chat", "text_completion", "generate_content")


@dataclass
class CellNumbers:
    """One cell: identity, outcome and the numbers a sweep adds up. ``None`` is "not observed"."""

    # identity (from the run span)
    trace_id: str = ""
    cell_id: str | None = None
    sweep_id: str | None = None
    run_id: str | None = None
    adapter: str | None = None
    model: str | None = None
    task_id: str | None = None
    repeat: int | None = None
    runtime: str | None = None
    image: str | None = None
    image_digest: str | None = None
    node: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    # outcome
    passed: bool | None = None
    exit_code: int | None = None
    run_failed: bool = False
    status_message: str = ""
    timed_out: bool | None = None
    error_spans: int = 0
    first_error: str | None = None  # the failure that came first: "span name: status message"
    # time
    wall_ms: float | None = None
    container_ms: float | None = None
    model_call_ms: float | None = None
    # model calls and tokens
    model_calls: int | None = None
    model_calls_failed: int | None = None
    calls_without_usage: int | None = None
    tool_steps: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    tokens_per_correct_task: int | None = None
    # blast radius
    files_added: list[str] | None = None
    files_removed: list[str] | None = None
    files_modified: list[str] | None = None
    files_unexpected: list[str] | None = None
    lines_added: int | None = None
    lines_removed: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-ready fields; what was not observed is left out, never 0."""
        # Field by field rather than dataclasses.asdict, whose deep copy was most of the cost of
        # indexing a directory of runs; the lists are copied here.
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is None or (name == "warnings" and not value):
                continue
            out[name] = list(value) if isinstance(value, list) else value
        return out


_FIELDS = tuple(f.name for f in fields(CellNumbers))


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _strs(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def is_model_call(span: SpanRecord) -> bool:
    """A model-call span: ours (``model_call``) or any span of the GenAI conventions' operations."""
    return span.kind == "model_call" or span.attributes.get("gen_ai.operation.name") in _GEN_AI_OPERATIONS


def cell_numbers(spans: Iterable[SpanRecord]) -> CellNumbers:
    """The per-axis numbers of one trace (one cell). Works on foreign traces as far as they allow."""
    records = list(spans)
    out = CellNumbers()
    if not records:
        return out
    out.trace_id = records[0].trace_id
    run = next((s for s in records if s.kind == "run"), None)
    if run is None:  # a foreign trace: its roots stand in for the run span
        roots = [s for s in records if s.parent_span_id is None] or records
        start = min(s.start_time_unix_nano for s in roots)
        end = max(s.end_time_unix_nano for s in records)
        out.wall_ms = (end - start) / 1e6
        out.started_at, out.ended_at = _iso(start), _iso(end)
        out.run_failed = any(s.is_error for s in roots)
    else:
        a = run.attributes
        out.cell_id, out.sweep_id, out.run_id = (
            _str(a.get("cell_id")),
            _str(a.get("sweep_id")),
            _str(a.get("run_id")),
        )
        out.adapter, out.model, out.task_id = (
            _str(a.get("adapter")),
            _str(a.get("model")),
            _str(a.get("task_id")),
        )
        out.repeat = _int(a.get("repeat"))
        out.runtime, out.image = _str(a.get("runtime")), _str(a.get("image"))
        out.image_digest, out.node = _str(a.get("image_digest")), _str(a.get("host.name") or a.get("node"))
        out.exit_code = _int(a.get("exit_code"))
        checked = a.get("check_passed")
        out.passed = checked if isinstance(checked, bool) else None
        out.wall_ms = run.duration_ns / 1e6
        out.started_at, out.ended_at = _iso(run.start_time_unix_nano), _iso(run.end_time_unix_nano)
        out.run_failed = run.is_error
        out.status_message = run.status.message if run.is_error else ""
    errors = [s for s in records if s.is_error]
    out.error_spans = len(errors)
    out.first_error = first_error(errors)
    _phases(records, out)
    _model_calls(records, run, out)
    return out


def first_error(errors: list[SpanRecord]) -> str | None:
    """What failed first, as ``span name: status message``: the error span that ended first (a
    failing step ends before the phase around it, so this is the cause, not its echo)."""
    if not errors:
        return None
    span = min(errors, key=lambda s: (s.end_time_unix_nano, -s.start_time_unix_nano))
    message = span.status.message.strip()
    return f"{span.name}: {message}" if message else span.name


def _phases(records: list[SpanRecord], out: CellNumbers) -> None:
    containers = [s for s in records if s.kind == "container"]
    if containers:
        out.container_ms = sum(s.duration_ns for s in containers) / 1e6
        timed = [s.attributes.get("timed_out") for s in containers]
        out.timed_out = any(t is True for t in timed) if any(isinstance(t, bool) for t in timed) else None
        if out.exit_code is None:
            out.exit_code = _int(containers[-1].attributes.get("exit_code"))
    verify = next((s for s in records if s.kind == "verify"), None)
    if out.passed is None and verify is not None and isinstance(verify.attributes.get("passed"), bool):
        out.passed = bool(verify.attributes["passed"])
    changes = next((s for s in records if s.kind == "blast_radius"), None)
    if changes is not None:
        c = changes.attributes
        out.files_added, out.files_removed = _strs(c.get("files_added")), _strs(c.get("files_removed"))
        out.files_modified = _strs(c.get("files_modified"))
        out.lines_added, out.lines_removed = _int(c.get("lines_added")), _int(c.get("lines_removed"))
        expected = _strs(c.get("files_expected"))
        if expected is not None:
            changed = (out.files_added or []) + (out.files_removed or []) + (out.files_modified or [])
            out.files_unexpected = sorted(set(changed) - set(expected))


def _model_calls(records: list[SpanRecord], run: SpanRecord | None, out: CellNumbers) -> None:
    calls = [s for s in records if is_model_call(s)]
    recorded = run is not None and _int(run.attributes.get("model_calls")) is not None
    if not calls and not recorded:
        return  # no proxy, no spans: the calls were not observed (unknown, not zero)
    out.model_calls = len(calls)
    out.model_calls_failed = sum(1 for s in calls if s.is_error)
    out.model_call_ms = sum(s.duration_ns for s in calls) / 1e6
    out.tool_steps = sum(
        1
        for s in records
        if s.kind == "tool_step" or s.attributes.get("gen_ai.operation.name") == "execute_tool"
    )
    tokens_in = tokens_out = 0
    without = 0
    for s in calls:
        i, o = (
            _int(s.attributes.get("gen_ai.usage.input_tokens")),
            _int(s.attributes.get("gen_ai.usage.output_tokens")),
        )
        if i is None and o is None:
            without += 0 if s.is_error else 1  # a failed call is a failure, not missing usage
            continue
        tokens_in += i or 0
        tokens_out += o or 0
    out.calls_without_usage = without
    if without == 0:
        out.input_tokens, out.output_tokens = tokens_in, tokens_out
        out.total_tokens = tokens_in + tokens_out
        if out.passed:
            out.tokens_per_correct_task = out.total_tokens
