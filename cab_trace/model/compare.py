"""Two runs side by side: the pure diff of two timelines behind ``cab-trace compare`` and the
replay's compare screen.

Pure (stdlib and the model): two lists of span records in, a :class:`Comparison` out. Phases
are matched by kind (ours: ``task_setup``, ``adapter_run`` … ``cleanup``; another tool's trace:
the root's children by name), model calls and tool steps in the order they started. The wall
time of each run is split into shares (each phase outside the agent, and inside it: model calls,
tool steps and the agent's own time), and :attr:`Comparison.headline` says in one line which
share most of the difference went to.

Unknown is not zero: a number that was not observed (no proxy, no usage, no check) is ``None``,
shown as a dash, and never enters a difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from cab_trace.model.axes import CellNumbers, cell_numbers, is_model_call
from cab_trace.model.record import SpanRecord

#: The phases of our runs, in the order they happen, with their depth in the table.
_OUR_PHASES = (
    ("task_setup", "task_setup", 1),
    ("adapter_run", "adapter_run", 1),
    ("tool_call", "plugins (tool_call)", 2),
    ("container", "container (the agent)", 2),
    ("blast_radius", "blast_radius", 1),
    ("verify", "verify", 1),
    ("cleanup", "cleanup", 1),
)
_OUR_KINDS = frozenset(k for k, _, _ in _OUR_PHASES)
MODEL_CALLS = "model calls"
TOOL_STEPS = "tool steps"
AGENT_OTHER = "the agent's own time"
_PARTS_OF_AGENT = (MODEL_CALLS, TOOL_STEPS, AGENT_OTHER)


def _is_tool_step(span: SpanRecord) -> bool:
    return span.kind == "tool_step" or span.attributes.get("gen_ai.operation.name") == "execute_tool"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Phase:
    """One row of the phase table: a phase (or a share of the agent's time) in both runs."""

    key: str
    label: str
    depth: int
    a_ms: float | None = None
    b_ms: float | None = None
    a_count: int | None = None
    b_count: int | None = None

    @property
    def diff_ms(self) -> float | None:
        """B - A; None when either was not observed."""
        return None if self.a_ms is None or self.b_ms is None else self.b_ms - self.a_ms

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "diff_ms": self.diff_ms}


@dataclass
class Call:
    """One model call of one run."""

    index: int
    name: str
    start_ms: float
    """From the run's start."""
    latency_ms: float
    ttfc_ms: float | None
    """Time to the first chunk of a streamed answer."""
    input_tokens: int | None
    output_tokens: int | None
    finish: str | None
    tools_asked: list[str]
    """The tools the answer asked to call, by name, in order."""
    error: str | None


@dataclass
class Step:
    """One tool step (a tool call the agent ran between two model calls)."""

    index: int
    name: str
    start_ms: float
    duration_ms: float
    asked_by: int | None
    """The model call that asked for it (its number)."""
    error: str | None


@dataclass
class Side:
    """What one run is, and what it did."""

    label: str
    title: str
    numbers: CellNumbers
    calls: list[Call] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    check_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "title": self.title,
            "numbers": self.numbers.to_dict(),
            "check_message": self.check_message,
        }


@dataclass
class Comparison:
    """Run A against run B."""

    a: Side
    b: Side
    phases: list[Phase]
    calls: list[tuple[Call | None, Call | None]]
    steps: list[tuple[Step | None, Step | None]]
    headline: str

    @property
    def wall(self) -> Phase:
        return self.phases[0]

    def to_dict(self) -> dict[str, Any]:
        def pair(items: Sequence[tuple[Any, Any]]) -> list[dict[str, Any]]:
            return [
                {"a": None if x is None else asdict(x), "b": None if y is None else asdict(y)}
                for x, y in items
            ]

        return {
            "headline": self.headline,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "phases": [p.to_dict() for p in self.phases],
            "model_calls": pair(self.calls),
            "tool_steps": pair(self.steps),
            "changes": {"a": _changes(self.a.numbers), "b": _changes(self.b.numbers)},
        }

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode()


def _changes(n: CellNumbers) -> dict[str, Any]:
    return {
        "files_added": n.files_added,
        "files_removed": n.files_removed,
        "files_modified": n.files_modified,
        "lines_added": n.lines_added,
        "lines_removed": n.lines_removed,
    }


# -- reading one run ---------------------------------------------------------------------------


def _union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    """How much time the intervals cover together (overlaps counted once)."""
    total, reach = 0, None
    start_of_run = 0
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            if reach is not None:
                total += reach - start_of_run
            start_of_run, reach = start, end
        else:
            reach = max(reach, end)
    if reach is not None:
        total += reach - start_of_run
    return total


def _calls(records: Sequence[SpanRecord], origin: int) -> list[Call]:
    spans = sorted((s for s in records if is_model_call(s)), key=lambda s: s.start_time_unix_nano)
    asked: dict[int, list[str]] = {}
    for step in sorted((s for s in records if _is_tool_step(s)), key=lambda s: s.start_time_unix_nano):
        by = _int(step.attributes.get("cab.llm.asked_by_call"))
        if by is not None:
            asked.setdefault(by, []).append(str(step.attributes.get("gen_ai.tool.name", step.name)))
    out = []
    for i, s in enumerate(spans, 1):
        a = s.attributes
        number = _int(a.get("cab.llm.call_index")) or i
        reasons = a.get("gen_ai.response.finish_reasons")
        ttfc = a.get("gen_ai.response.time_to_first_chunk")
        out.append(
            Call(
                index=i,
                name=s.name,
                start_ms=(s.start_time_unix_nano - origin) / 1e6,
                latency_ms=s.duration_ns / 1e6,
                ttfc_ms=ttfc * 1000 if isinstance(ttfc, int | float) and not isinstance(ttfc, bool) else None,
                input_tokens=_int(a.get("gen_ai.usage.input_tokens")),
                output_tokens=_int(a.get("gen_ai.usage.output_tokens")),
                finish=",".join(str(r) for r in reasons) if isinstance(reasons, list) and reasons else None,
                tools_asked=asked.get(number) or _tools_in_output(a.get("gen_ai.output.messages")),
                error=(s.status.message or str(a.get("error.type", "error"))) if s.is_error else None,
            )
        )
    return out


def _tools_in_output(messages: object) -> list[str]:
    """Tool calls named in a recorded answer (a trace without tool-step spans)."""
    if not isinstance(messages, str):
        return []
    try:
        parsed = orjson.loads(messages)
    except orjson.JSONDecodeError:
        return []
    names = []
    for message in parsed if isinstance(parsed, list) else []:
        for part in message.get("parts", []) if isinstance(message, dict) else []:
            if (
                isinstance(part, dict)
                and part.get("type") == "tool_call"
                and isinstance(part.get("name"), str)
            ):
                names.append(part["name"])
    return names


def _steps(records: Sequence[SpanRecord], origin: int) -> list[Step]:
    spans = sorted((s for s in records if _is_tool_step(s)), key=lambda s: s.start_time_unix_nano)
    return [
        Step(
            index=i,
            name=str(s.attributes.get("gen_ai.tool.name", s.name)),
            start_ms=(s.start_time_unix_nano - origin) / 1e6,
            duration_ms=s.duration_ns / 1e6,
            asked_by=_int(s.attributes.get("cab.llm.asked_by_call")),
            error=(s.status.message or "error") if s.is_error else None,
        )
        for i, s in enumerate(spans, 1)
    ]


@dataclass
class _Run:
    """One run's phase times, keyed as the phase table matches them."""

    records: list[SpanRecord]
    origin: int
    wall_ns: int
    phases: dict[str, tuple[str, int, int, int]]
    """key -> (label, depth, total ns, spans)."""
    ours: bool


def _read(records: Sequence[SpanRecord]) -> _Run:
    spans = list(records)
    if not spans:
        return _Run([], 0, 0, {}, ours=False)
    run = next((s for s in spans if s.kind == "run"), None)
    if run is not None:
        origin, wall = run.start_time_unix_nano, run.duration_ns
    else:
        origin = min(s.start_time_unix_nano for s in spans)
        wall = max(s.end_time_unix_nano for s in spans) - origin
    phases: dict[str, tuple[str, int, int, int]] = {}
    ours = run is not None or any(s.kind in _OUR_KINDS for s in spans)
    if ours:
        for kind, label, depth in _OUR_PHASES:
            of_kind = [s for s in spans if s.kind == kind]
            if of_kind:
                phases[kind] = (label, depth, sum(s.duration_ns for s in of_kind), len(of_kind))
    else:  # another tool's trace: the root's children, by name
        ids = {s.span_id for s in spans}
        roots = {s.span_id for s in spans if s.parent_span_id is None or s.parent_span_id not in ids}
        for s in sorted(spans, key=lambda s: s.start_time_unix_nano):
            if s.parent_span_id in roots and not is_model_call(s) and not _is_tool_step(s):
                label, depth, total, count = phases.get(f"name:{s.name}", (s.name, 1, 0, 0))
                phases[f"name:{s.name}"] = (label, depth, total + s.duration_ns, count + 1)
    return _Run(spans, origin, wall, phases, ours)


def _agent_shares(run: _Run, observed_calls: bool) -> dict[str, tuple[int | None, int]]:
    """Model calls, tool steps and the rest of the agent's time: ns (None: not observed), count."""
    calls = [(s.start_time_unix_nano, s.end_time_unix_nano) for s in run.records if is_model_call(s)]
    steps = [(s.start_time_unix_nano, s.end_time_unix_nano) for s in run.records if _is_tool_step(s)]
    if not observed_calls:
        return {MODEL_CALLS: (None, 0), TOOL_STEPS: (None, 0), AGENT_OTHER: (None, 0)}
    in_calls = _union_ns(calls)
    in_steps = _union_ns(calls + steps) - in_calls  # a step's time while a call ran is the call's
    agent = run.phases.get("container") or run.phases.get("adapter_run")
    other = None if agent is None else max(agent[2] - in_calls - in_steps, 0)
    return {MODEL_CALLS: (in_calls, len(calls)), TOOL_STEPS: (in_steps, len(steps)), AGENT_OTHER: (other, 1)}


# -- comparing ---------------------------------------------------------------------------------


def compare(
    a: Sequence[SpanRecord],
    b: Sequence[SpanRecord],
    title_a: str = "A",
    title_b: str = "B",
) -> Comparison:
    """Run ``a`` against run ``b`` (each the spans of one trace)."""
    ra, rb = _read(a), _read(b)
    na, nb = cell_numbers(ra.records), cell_numbers(rb.records)
    side_a = Side("A", title_a, na, _calls(ra.records, ra.origin), _steps(ra.records, ra.origin), _check(ra))
    side_b = Side("B", title_b, nb, _calls(rb.records, rb.origin), _steps(rb.records, rb.origin), _check(rb))
    phases = [
        Phase(
            "run",
            "run (wall)",
            0,
            na.wall_ms if ra.records else None,
            nb.wall_ms if rb.records else None,
            1,
            1,
        )
    ]
    keys = list(ra.phases) + [k for k in rb.phases if k not in ra.phases]
    if ra.ours or rb.ours:  # our phase order, whichever run has which
        order = [k for k, _, _ in _OUR_PHASES]
        keys.sort(key=lambda k: order.index(k) if k in order else len(order))
    shares_a = _agent_shares(ra, na.model_calls is not None)
    shares_b = _agent_shares(rb, nb.model_calls is not None)
    agent_key = "container" if "container" in keys else "adapter_run"
    for key in keys:
        pa, pb = ra.phases.get(key), rb.phases.get(key)
        label, depth = (pa or pb)[:2]  # type: ignore[index]
        phases.append(
            Phase(
                key,
                label,
                depth,
                pa[2] / 1e6 if pa else None,
                pb[2] / 1e6 if pb else None,
                pa[3] if pa else None,
                pb[3] if pb else None,
            )
        )
        if key == agent_key:
            phases.extend(_share_rows(shares_a, shares_b, depth + 1))
    if agent_key not in keys:  # another tool's trace: its calls and steps, beside its phases
        phases.extend(_share_rows(shares_a, shares_b, 1))
    comparison = Comparison(
        side_a,
        side_b,
        phases,
        _pairs(side_a.calls, side_b.calls),
        _pairs(side_a.steps, side_b.steps),
        "",
    )
    comparison.headline = headline(comparison)
    return comparison


def _share_rows(
    a: dict[str, tuple[int | None, int]], b: dict[str, tuple[int | None, int]], depth: int
) -> list[Phase]:
    rows = []
    for key in _PARTS_OF_AGENT:
        (ta, ca), (tb, cb) = a[key], b[key]
        if ta is None and tb is None:
            continue
        counted = key != AGENT_OTHER
        rows.append(
            Phase(
                key,
                key,
                depth,
                None if ta is None else ta / 1e6,
                None if tb is None else tb / 1e6,
                ca if counted and ta is not None else None,
                cb if counted and tb is not None else None,
            )
        )
    return rows


def _pairs(a: Sequence[Any], b: Sequence[Any]) -> list[tuple[Any, Any]]:
    return [(a[i] if i < len(a) else None, b[i] if i < len(b) else None) for i in range(max(len(a), len(b)))]


def _check(run: _Run) -> str | None:
    verify = next((s for s in run.records if s.kind == "verify"), None)
    if verify is not None and verify.is_error:
        return verify.status.message or "the check failed"
    return None


# -- the one line ------------------------------------------------------------------------------


def seconds(ms: float) -> str:
    """``532 ms``, ``3.95 s`` or ``12.8 s``."""
    if abs(ms) < 999.5:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s" if abs(ms) < 9995 else f"{ms / 1000:.1f} s"


def signed(ms: float) -> str:
    """``+1.2 s``, ``-532 ms``, or ``±0 ms`` for less than half a millisecond."""
    if abs(ms) < 0.5:
        return "\u00b10 ms"
    return ("+" if ms > 0 else "-") + seconds(abs(ms))


def _counted(key: str, a: int | None, b: int | None) -> str:
    if a is None or b is None:
        return ""
    if key == MODEL_CALLS:
        return f", {b} call{'s' if b != 1 else ''} against {a}"
    if key == TOOL_STEPS:
        return f", {b} step{'s' if b != 1 else ''} against {a}"
    return ""


def headline(c: Comparison) -> str:
    """Where most of the difference in wall time went, in one line, e.g. ``B was 13.6 s faster
    than A (12.8 s against 26.4 s): B spent 11.2 s less in model calls, 3 calls against 7.``"""
    wall = c.wall
    if wall.a_ms is None or wall.b_ms is None or wall.diff_ms is None:
        return "The wall time of one run is not known: nothing to compare it with."
    total = wall.diff_ms
    if abs(total) < 0.5:
        return f"A and B took the same time ({seconds(wall.a_ms)})."
    faster = "faster" if total < 0 else "slower"
    line = f"B was {seconds(abs(total))} {faster} than A ({seconds(wall.b_ms)} against {seconds(wall.a_ms)})"
    # The shares that add up to the wall time: the rows none of whose sub-rows is known.
    rows = c.phases[1:]
    leaves = []
    for i, p in enumerate(rows):
        if p.diff_ms is None or abs(p.diff_ms) < 0.5:
            continue
        below = []
        for q in rows[i + 1 :]:
            if q.depth <= p.depth:
                break
            below.append(q)
        if not any(q.diff_ms is not None for q in below):
            leaves.append(p)
    if not leaves:
        return line + "."
    same_way = [p for p in leaves if p.diff_ms is not None and p.diff_ms * total > 0]
    top = max(same_way or leaves, key=lambda p: abs(p.diff_ms or 0.0))
    diff = top.diff_ms or 0.0
    where = (
        "in " + top.label
        if top.key != AGENT_OTHER
        else "in the agent's own time (outside model calls and tool steps)"
    )
    more = "more" if diff > 0 else "less"
    return (
        f"{line}: B spent {seconds(abs(diff))} {more} {where}{_counted(top.key, top.a_count, top.b_count)}."
    )
