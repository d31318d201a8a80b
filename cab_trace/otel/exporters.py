"""Span exporters: the embedded JSONL file, and a guard that makes any exporter's
failures countable instead of noisy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from cab_trace.model import JsonlWriter
from cab_trace.otel.convert import span_to_record

logger = logging.getLogger(__name__)


class JsonlSpanExporter(SpanExporter):
    """Writes each exported span as one JSON line and flushes it at once; fsyncs on shutdown.

    Follows the SDK's exporter contract: ``export`` never raises (it logs and returns
    FAILURE), ``shutdown`` is idempotent.
    """

    def __init__(self, target: Path | str | IO[bytes]) -> None:
        self._writer = JsonlWriter(target)
        self.path = self._writer.path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self._writer.write([span_to_record(s) for s in spans])
        except (OSError, ValueError) as exc:
            logger.error("could not write %d span(s) to %s: %s", len(spans), self.path or "stream", exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        try:
            self._writer.close()
        except OSError as exc:
            logger.error("could not close %s: %s", self.path or "stream", exc)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is already flushed


class CountingExporter(SpanExporter):
    """Wraps an exporter and counts what it failed to send, so the run can say so once.

    The OTLP exporters log every failed attempt; the CLI silences those logs and reports
    :attr:`failed` (and the first error seen) in a single warning at the end instead.
    """

    def __init__(self, inner: SpanExporter, description: str) -> None:
        self.inner = inner
        self.description = description
        self.sent = 0
        self.failed = 0
        self.first_error: str | None = None
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001 - the SDK contract: export never raises
            result = SpanExportResult.FAILURE
            with self._lock:
                self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.sent += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
