"""What a run came to, as separate facts: who ran (identity) and how it ended (outcome): the
task's check, the exit code, whether the run failed, model calls and tokens, spans with errors.
The replay's header and `cab-trace show` say the same thing in the same words; a line of facts
fits any width by dropping the least important first.

Pure (stdlib): the numbers come from :func:`cab_trace.model.axes.cell_numbers`, so a run reads
as the sweep table and the cell page read it, and "unknown is not zero": tokens no call
reported are "unknown", never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cab_trace.llm.summary import CallRow
from cab_trace.model.axes import CellNumbers

Tone = Literal["good", "bad", "warn", "plain", "dim"]

#: The span kinds a run's numbers are read from (a run of ours): a reader of a large trace reads
#: only these records (and the error spans) for them.
NUMBER_KINDS = frozenset({"run", "container", "verify", "blast_radius", "model_call", "tool_step"})


def _one_line(text: str) -> str:
    """Trace text for one line of a header: control characters shown escaped (as ``show`` does)."""
    from cab_trace.show import safe_text

    return safe_text(text, one_line=True)


@dataclass(frozen=True)
class Fact:
    label: str
    """Dim text before the value ("" for none)."""
    value: str
    tone: Tone = "plain"
    keep: int = 0
    """Which to drop first when the line is too narrow: the lowest ``keep``."""

    @property
    def width(self) -> int:
        return len(self.label) + (1 if self.label else 0) + len(self.value)


def identity_facts(numbers: CellNumbers, root_name: str) -> list[Fact]:
    """Which run this is: task, adapter, model, image (or the root span's name for a foreign trace)."""
    facts = []
    for label, value, keep in (
        ("task", numbers.task_id, 3),
        ("adapter", numbers.adapter, 2),
        ("model", numbers.model, 2),
        ("image", numbers.image, 0),
    ):
        if value:
            facts.append(Fact(label, _one_line(value), keep=keep))
    if not facts:
        facts.append(Fact("", _one_line(root_name), keep=3))
    return facts


@dataclass(frozen=True)
class SoFar:
    """The model calls that had ended at the playhead."""

    done: int
    total: int
    failed: int
    input_tokens: int | None
    output_tokens: int | None
    without_usage: int


def so_far(rows: Sequence[CallRow], t_ns: int) -> SoFar:
    """Calls ended by ``t_ns`` and their tokens; tokens are None (unknown) once a call that
    succeeded did not report its usage, as :mod:`cab_trace.model.axes` counts them."""
    ended = [r for r in rows if r.span.end_time_unix_nano <= t_ns]
    failed = sum(1 for r in ended if r.span.is_error)
    without = sum(
        1 for r in ended if not r.span.is_error and r.input_tokens is None and r.output_tokens is None
    )
    tokens_in = sum(r.input_tokens or 0 for r in ended)
    tokens_out = sum(r.output_tokens or 0 for r in ended)
    known = without == 0
    return SoFar(
        len(ended),
        len(rows),
        failed,
        tokens_in if known else None,
        tokens_out if known else None,
        without,
    )


def outcome_facts(numbers: CellNumbers, calls: SoFar | None, ours: bool = True) -> list[Fact]:
    """How the run ended, one fact each: the task's check, the exit code, whether the run
    failed, the model calls and tokens (so far, at the playhead), and the spans with errors.
    ``ours``: the trace has a run span of cab-trace's (a foreign trace has no check to speak of)."""
    facts: list[Fact] = []
    if numbers.passed is True:
        facts.append(Fact("", "✓ check passed", "good", keep=9))
    elif numbers.passed is False:
        facts.append(Fact("", "✗ check failed", "bad", keep=9))
    elif ours:
        facts.append(Fact("", "no check", "dim", keep=3))
    if numbers.exit_code is not None:
        facts.append(
            Fact("exit", str(numbers.exit_code), "good" if numbers.exit_code == 0 else "bad", keep=8)
        )
    if numbers.run_failed:
        why = _one_line(numbers.status_message)
        facts.append(Fact("", f"run failed: {why}" if why else "run failed", "bad", keep=7))
    elif ours:
        facts.append(Fact("", "run ok", "good", keep=4))
    if calls is not None and calls.total:
        text = f"{calls.done}/{calls.total}" if calls.done < calls.total else f"{calls.total}"
        failed = f" ({calls.failed} failed)" if calls.failed else ""
        facts.append(Fact("model calls", text + failed, "bad" if calls.failed else "plain", keep=6))
        if calls.input_tokens is None or calls.output_tokens is None:
            facts.append(
                Fact("tokens", f"unknown ({calls.without_usage} call(s) reported none)", "warn", keep=5)
            )
        else:
            facts.append(Fact("tokens", f"{calls.input_tokens:,} in / {calls.output_tokens:,} out", keep=5))
    elif numbers.model_calls == 0:
        facts.append(Fact("", "no model calls", "dim", keep=2))
    if numbers.error_spans:
        plural = "span" if numbers.error_spans == 1 else "spans"
        facts.append(Fact("", f"{numbers.error_spans} {plural} with errors", "warn", keep=6))
    return facts


def fit(facts: Sequence[Fact], width: int, gap: int = 2) -> list[Fact]:
    """The facts that fit on one line of ``width`` cells, in their order, dropping the least
    important first; the last one left is cut rather than dropped."""
    shown = list(facts)

    def used(items: list[Fact]) -> int:
        return sum(f.width for f in items) + gap * max(len(items) - 1, 0)

    while len(shown) > 1 and used(shown) > width:
        shown.remove(min(reversed(shown), key=lambda f: f.keep))  # of equals, the later goes
    return shown
