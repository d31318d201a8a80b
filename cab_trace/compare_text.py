"""``cab-trace compare`` as text: the one line, the phase table, the model calls and tool steps
matched in order, what each run changed and the check. Pure: a :class:`Comparison` in, lines out.

Every string from a trace (names, files, messages) is escaped here, so a span cannot change the
user's terminal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cab_trace.model.axes import CellNumbers
from cab_trace.model.compare import Call, Comparison, Side, Step, seconds, signed
from cab_trace.show import cut, safe_text

NONE = "\u2013"  # an en dash: not observed


def _s(text: object) -> str:
    return safe_text(str(text), one_line=True)


def _ms(value: float | None) -> str:
    return NONE if value is None else seconds(value)


def _n(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"


def _table(rows: Sequence[Sequence[str]], right: set[int], indent: str = "") -> Iterator[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        yield (indent + "  ".join(cells)).rstrip()


def outcome(n: CellNumbers) -> str:
    """``pass``, ``FAIL``, ``error`` or a dash, and the exit code."""
    verdict = (
        "pass"
        if n.passed is True
        else "FAIL"
        if n.passed is False
        else "error"
        if n.run_failed
        else "no check"
    )
    return verdict + ("" if n.exit_code is None else f" (exit {n.exit_code})")


def identity(side: Side) -> str:
    """``A  runs/x  pi · m1 · demo/fix-greeting  pass (exit 0)  26.4 s``."""
    n = side.numbers
    parts = [p for p in (n.adapter, n.model, n.task_id) if p]
    what = " \u00b7 ".join(_s(p) for p in parts)
    rep = f" #{n.repeat}" if n.repeat is not None else ""
    return f"{side.label}  {_s(side.title)}  {what}{rep}  {outcome(n)}  {_ms(n.wall_ms)}".replace(
        "    ", "  "
    )


def brief(side: Side) -> str:
    """``8.12 s  pass (exit 0)  pi · model-a · demo/add-test #1  #3 s/pi/…``: one run on one
    line, the numbers first (what a narrow screen keeps)."""
    n = side.numbers
    what = " \u00b7 ".join(_s(p) for p in (n.adapter, n.model, n.task_id) if p)
    rep = f" #{n.repeat}" if n.repeat is not None else ""
    return f"{_ms(n.wall_ms)}  {outcome(n)}  {what}{rep}  {_s(side.title)}"


def render(c: Comparison, width: int = 10**6) -> Iterator[str]:
    """The whole comparison, lines cut to ``width``."""
    for line in _render(c):
        yield cut(line, width)


def _render(c: Comparison) -> Iterator[str]:
    yield identity(c.a)
    yield identity(c.b)
    yield c.headline and _s(c.headline)
    yield ""
    yield from phase_lines(c)
    yield ""
    yield from call_lines(c)
    if c.steps:
        yield ""
        yield from step_lines(c)
    yield ""
    yield from change_lines(c)


def phase_lines(c: Comparison) -> Iterator[str]:
    rows = [["phase", "A", "B", "B \u2212 A", ""]]
    for p in c.phases:
        counts = ""
        if p.a_count is not None and p.b_count is not None and (p.a_count, p.b_count) != (1, 1):
            counts = f"{p.a_count} / {p.b_count}"
        diff = NONE if p.diff_ms is None else signed(p.diff_ms)
        rows.append(["  " * p.depth + _s(p.label), _ms(p.a_ms), _ms(p.b_ms), diff, counts])
    yield from _table(rows, {1, 2, 3})


def _tokens(n: CellNumbers, calls: Sequence[Call]) -> str:
    if n.model_calls is None:
        return "not recorded"
    ins = [x.input_tokens for x in calls]
    outs = [x.output_tokens for x in calls]
    if not calls:
        return "0 calls"
    tok = "tokens unknown"
    if all(v is not None for v in ins + outs):
        tok = f"{sum(v or 0 for v in ins):,} in / {sum(v or 0 for v in outs):,} out"
    return f"{len(calls)} call{'s' if len(calls) != 1 else ''}, {tok}"


def call_lines(c: Comparison) -> Iterator[str]:
    if c.a.numbers.model_calls is None and c.b.numbers.model_calls is None:
        yield "model calls   not recorded in either run (no recording proxy)"
        return
    a_calls = [x for x, _ in c.calls if x is not None]
    b_calls = [y for _, y in c.calls if y is not None]
    yield f"model calls   A: {_tokens(c.a.numbers, a_calls)}   B: {_tokens(c.b.numbers, b_calls)}"
    if not c.calls:
        return
    rows = [["#", "run", "at", "latency", "1st chunk", "in", "out", "finish", "tools asked for"]]
    for i, (x, y) in enumerate(c.calls, 1):
        for label, call in (("A", x), ("B", y)):
            number = str(i) if label == "A" else ""
            if call is None:
                rows.append([number, label, NONE, NONE, "", "", "", "(no such call)", ""])
                continue
            finish = _s(f"error: {call.error}" if call.error else (call.finish or NONE))
            rows.append(
                [
                    number,
                    label,
                    seconds(call.start_ms),
                    seconds(call.latency_ms),
                    _ms(call.ttfc_ms),
                    _n(call.input_tokens),
                    _n(call.output_tokens),
                    finish,
                    _s(", ".join(call.tools_asked)) or NONE,
                ]
            )
    yield from _table(rows, {0, 2, 3, 4, 5, 6}, "  ")


def step_lines(c: Comparison) -> Iterator[str]:
    a_steps = sum(1 for x, _ in c.steps if x is not None)
    b_steps = sum(1 for _, y in c.steps if y is not None)
    yield f"tool steps    A: {a_steps}   B: {b_steps}"
    rows = [["#", "run", "at", "tool", "duration", "asked by call", ""]]
    for i, (x, y) in enumerate(c.steps, 1):
        for label, step in (("A", x), ("B", y)):
            rows.append(_step_row(str(i) if label == "A" else "", label, step))
    yield from _table(rows, {0, 2, 4, 5}, "  ")


def _step_row(number: str, label: str, step: Step | None) -> list[str]:
    if step is None:
        return [number, label, NONE, "(no such step)", "", "", ""]
    return [
        number,
        label,
        seconds(step.start_ms),
        _s(step.name),
        seconds(step.duration_ms),
        NONE if step.asked_by is None else str(step.asked_by),
        _s(f"error: {step.error}") if step.error else "",
    ]


def _files(files: list[str] | None) -> str:
    if files is None:
        return NONE
    if not files:
        return "none"
    shown = ", ".join(_s(f) for f in files[:6])
    return shown + (f" \u2026 +{len(files) - 6} more" if len(files) > 6 else "")


def _lines(n: CellNumbers) -> str:
    if n.lines_added is None and n.lines_removed is None:
        return NONE
    return f"+{_n(n.lines_added)} -{_n(n.lines_removed)}"


def change_lines(c: Comparison) -> Iterator[str]:
    a, b = c.a.numbers, c.b.numbers
    rows = [
        ["changes", "A", "B"],
        ["  added", _files(a.files_added), _files(b.files_added)],
        ["  modified", _files(a.files_modified), _files(b.files_modified)],
        ["  removed", _files(a.files_removed), _files(b.files_removed)],
        ["  lines", _lines(a), _lines(b)],
        ["check", outcome(a), outcome(b)],
    ]
    if c.a.check_message or c.b.check_message:
        rows.append(["  why", _s(c.a.check_message or ""), _s(c.b.check_message or "")])
    yield from _table(rows, set())
    only_a = _changed(a) - _changed(b)
    only_b = _changed(b) - _changed(a)
    if only_a or only_b:
        yield f"  changed only by A: {_files(sorted(only_a)) if only_a else 'none'}"
        yield f"  changed only by B: {_files(sorted(only_b)) if only_b else 'none'}"


def _changed(n: CellNumbers) -> set[str]:
    return set(n.files_added or []) | set(n.files_modified or []) | set(n.files_removed or [])
