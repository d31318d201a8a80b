"""Sending recorded span records to an OTLP receiver, ids and all, through the SDK's exporters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from cab_trace.model import Event as RecordEvent
from cab_trace.model import SpanRecord
from cab_trace.otel.convert import SpanBuilder

__all__ = ["BATCH_SIZE", "MAX_CONSECUTIVE_FAILURES", "PushResult", "SpanBuilder", "push", "rebase_to_now"]

BATCH_SIZE = 512
#: Give up after this many batches in a row fail: a receiver that is down should cost seconds, not hours.
MAX_CONSECUTIVE_FAILURES = 3


def rebase_to_now(records: Sequence[SpanRecord], now_ns: int | None = None) -> tuple[list[SpanRecord], int]:
    """Shift every timestamp so that the last span ends now; returns the records and the shift (ns)."""
    if not records:
        return [], 0
    shift = (now_ns if now_ns is not None else time.time_ns()) - max(r.end_time_unix_nano for r in records)
    return [
        replace(
            r,
            start_time_unix_nano=r.start_time_unix_nano + shift,
            end_time_unix_nano=r.end_time_unix_nano + shift,
            events=[RecordEvent(e.name, e.time_unix_nano + shift, e.attributes) for e in r.events],
        )
        for r in records
    ], shift


@dataclass
class PushResult:
    sent: int = 0
    refused: int = 0
    gave_up: bool = False


def push(
    records: Sequence[SpanRecord],
    exporter: SpanExporter,
    progress: Callable[[int, int], None] | None = None,
    *,
    pace: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Send ``records`` in batches; count what the receiver accepted and refused.

    With ``pace`` (a speed factor), spans are sent as they ended in the recording, ``pace``
    times faster: a live replay into a collector. A receiver that fails
    :data:`MAX_CONSECUTIVE_FAILURES` batches in a row is given up on; what was not sent
    counts as refused.
    """
    build = SpanBuilder()
    result = PushResult()
    total = len(records)
    failures = 0
    for batch in _batches(records, pace, clock, sleep):
        if exporter.export([build(r) for r in batch]) is SpanExportResult.SUCCESS:
            result.sent += len(batch)
            failures = 0
        else:
            result.refused += len(batch)
            failures += 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                result.gave_up = True
                result.refused = total - result.sent
                break
        if progress is not None:
            progress(result.sent + result.refused, total)
    return result


def _batches(
    records: Sequence[SpanRecord],
    pace: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Iterator[list[SpanRecord]]:
    if pace is None:
        for i in range(0, len(records), BATCH_SIZE):
            yield list(records[i : i + BATCH_SIZE])
        return
    # Paced: each span is due when it ended in the recording, measured from the first start.
    ordered = sorted(records, key=lambda r: r.end_time_unix_nano)
    t0 = min((r.start_time_unix_nano for r in ordered), default=0)
    started = clock()
    i = 0
    while i < len(ordered):
        wait = (ordered[i].end_time_unix_nano - t0) / 1e9 / pace - (clock() - started)
        if wait > 0:
            sleep(wait)
        now_ns = t0 + (clock() - started) * pace * 1e9
        batch = [ordered[i]]
        i += 1
        while i < len(ordered) and len(batch) < BATCH_SIZE and ordered[i].end_time_unix_nano <= now_ns:
            batch.append(ordered[i])
            i += 1
        yield batch
