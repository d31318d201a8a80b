"""Model calls read back from a trace: the rows of ``cab-trace show``'s Model calls table, the
totals in its header, and tokens so far for the replay. Pure: works on span records."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from cab_trace.llm.call import MODEL_CALL_KIND
from cab_trace.model import SpanRecord

NONE = "\u2013"  # an en dash: nothing to show


@dataclass(frozen=True)
class CallRow:
    index: int
    span: SpanRecord
    start_ns: int
    request_hash: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ns: int
    finish: str


def is_model_call(span: SpanRecord) -> bool:
    return span.kind == MODEL_CALL_KIND or (
        span.attributes.get("gen_ai.operation.name") in ("chat", "text_completion", "generate_content")
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def call_rows(spans: Iterable[SpanRecord]) -> list[CallRow]:
    """One row per model-call span, in the order the calls started."""
    calls = sorted((s for s in spans if is_model_call(s)), key=lambda s: s.start_time_unix_nano)
    rows = []
    for i, span in enumerate(calls, 1):
        a = span.attributes
        reasons = a.get("gen_ai.response.finish_reasons")
        finish = ",".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
        if not finish and isinstance(status := a.get("cab.llm.response.status"), str):
            finish = f"{NONE} status {status}"  # the Responses API gives a status, no finish reason
        if span.is_error:
            finish = f"error {a.get('error.type', '')!s}".strip()
        rows.append(
            CallRow(
                index=i,
                span=span,
                start_ns=span.start_time_unix_nano,
                request_hash=str(a.get("cab.llm.request_sha256", "")),
                input_tokens=_int(a.get("gen_ai.usage.input_tokens")),
                output_tokens=_int(a.get("gen_ai.usage.output_tokens")),
                latency_ns=span.duration_ns,
                finish=finish or NONE,
            )
        )
    return rows


def tokens_until(rows: Sequence[CallRow], t_ns: int) -> tuple[int, int, int]:
    """(calls ended, input tokens, output tokens) of the calls that ended by ``t_ns``."""
    ended = [r for r in rows if r.span.end_time_unix_nano <= t_ns]
    return len(ended), sum(r.input_tokens or 0 for r in ended), sum(r.output_tokens or 0 for r in ended)


def totals_text(rows: Sequence[CallRow]) -> str:
    """The header's totals: ``3 model call(s) · tokens 1,234 in / 56 out``. Unknown is not zero:
    a call that failed (a 429, a 500) is counted as failed, and when a call that succeeded
    reported no usage the tokens are unknown, and say so, rather than a smaller sum."""
    if not rows:
        return ""
    _, tokens_in, tokens_out = tokens_until(rows, 2**63)
    failed = sum(1 for r in rows if r.span.is_error)
    text = f"{len(rows)} model call(s)" + (f" ({failed} failed)" if failed else "")
    missing = sum(
        1 for r in rows if r.input_tokens is None and r.output_tokens is None and not r.span.is_error
    )
    if not missing:
        return f"{text} · tokens {tokens_in:,} in / {tokens_out:,} out"
    reported = sum(1 for r in rows if r.input_tokens is not None or r.output_tokens is not None)
    counted = f"; {tokens_in:,} in / {tokens_out:,} out from the {reported} that did" if reported else ""
    return f"{text} · tokens unknown: {missing} call(s) that succeeded reported no usage{counted}"


def _ms(ns: int) -> str:
    ms = ns / 1e6
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def render_table(rows: Sequence[CallRow]) -> Iterator[str]:
    """``Model calls (N)`` and the table a benchmark results page shows."""
    if not rows:
        return
    yield f"Model calls ({len(rows)})"
    table = [("#", "time", "request hash", "prompt", "completion", "latency", "finish")]
    for r in rows:
        clock = (
            time.strftime("%H:%M:%S", time.gmtime(r.start_ns / 1e9))
            + f".{r.start_ns // 1_000_000 % 1000:03d}"
        )
        table.append(
            (
                str(r.index),
                clock,
                r.request_hash[:12] or NONE,
                NONE if r.input_tokens is None else str(r.input_tokens),
                NONE if r.output_tokens is None else str(r.output_tokens),
                _ms(r.latency_ns),
                r.finish,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    right = {0, 3, 4, 5}
    for row in table:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        yield "  ".join(cells).rstrip()
