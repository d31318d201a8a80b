"""Span exporters: the embedded JSONL file, and a guard that makes any exporter's
failures countable instead of noisy."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from cab_trace.model import JsonlWriter, encode_record
from cab_trace.otel.convert import span_to_record


class JsonlSpanExporter(SpanExporter):
    """Writes each exported span as one JSON line, at once; fsyncs on shutdown.

    Given a path, a line the disk refuses (full, over a size limit) is undone whole, so every
    line in the file is a complete span; what could not be written is counted in
    :attr:`failed` with :attr:`first_error`, for the run to report once (and fail). Follows
    the SDK's exporter contract: ``export`` never raises and returns FAILURE, ``shutdown`` is
    idempotent.
    """

    def __init__(self, target: Path | str | IO[bytes], on_failure: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._writer: JsonlWriter | None = None
        if isinstance(target, str | Path):
            self.path: Path | None = Path(target)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        else:
            self._writer = JsonlWriter(target)
            self.path = None
        self.on_failure = on_failure
        self.written = 0
        self.failed = 0
        self.first_error: str | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            records = [span_to_record(s) for s in spans]
            if self._writer is not None:
                self._writer.write(records)
            else:
                self._append(b"".join(encode_record(r) for r in records))
        except (OSError, ValueError) as exc:
            with self._lock:
                self.failed += len(spans)
                first = self.first_error is None
                if first:
                    self.first_error = str(exc) if isinstance(exc, ValueError) else exc.strerror or str(exc)
            if first and self.on_failure is not None:
                self.on_failure()
            return SpanExportResult.FAILURE
        with self._lock:
            self.written += len(spans)
        return SpanExportResult.SUCCESS

    def _append(self, data: bytes) -> None:
        with self._lock:
            if self._fd is None:
                raise ValueError("the trace file is closed")
            good = os.lseek(self._fd, 0, os.SEEK_END)
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, good)
                raise

    def shutdown(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
                return
            with self._lock:
                fd, self._fd = self._fd, None
            if fd is not None:
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            with self._lock:
                self.first_error = self.first_error or f"could not close: {exc.strerror or exc}"
                self.failed = self.failed or 1

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is already written


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
