"""What the replay's header says of a run: who ran (identity) and how it ended (outcome), as
separate facts that fit any width by dropping the least important first.

Pure (no Textual, no Rich): the numbers come from :func:`cab_trace.model.axes.cell_numbers`,
so the header reads as the sweep table and the cell page read, and "unknown is not zero":
tokens no call reported are "unknown", never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cab_trace.llm.summary import CallRow
from cab_trace.model.axes import CellNumbers, cell_numbers
from cab_trace.show import safe_text
from replay.tree import SpanTree

Tone = Literal["good", "bad", "warn", "plain", "dim"]

#: The span kinds the run's numbers are read from (a run of ours); other spans count only
#: through the index's error column, so a 1,000,000-span trace is not parsed for its header.
NUMBER_KINDS = frozenset({"run", "container", "verify", "blast_radius", "model_call", "tool_step"})
#: A foreign trace (no run span of ours) this small is read whole for its numbers.
READ_WHOLE = 100_000


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


def run_numbers(tree: SpanTree) -> CellNumbers:
    """The run's numbers, reading only the spans they come from (and every error span)."""
    ours = "run" in tree.index.kind
    if ours or len(tree) <= READ_WHOLE:
        rows = (
            [i for i in range(len(tree)) if tree.kind(i) in NUMBER_KINDS or tree.is_error(i)]
            if ours
            else range(len(tree))
        )
    else:
        rows = [i for i in range(len(tree)) if tree.depth[i] == 0 or tree.is_error(i)]
    numbers = cell_numbers(tree.spans[i] for i in rows)
    numbers.error_spans = len(tree.errors)
    return numbers


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
            facts.append(Fact(label, safe_text(value, one_line=True), keep=keep))
    if not facts:
        facts.append(Fact("", safe_text(root_name, one_line=True), keep=3))
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
        why = safe_text(numbers.status_message, one_line=True)
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
