"""The leak check, run on every span before the first byte of it goes to a collector.

The run's end-of-run leak check (``redact/scan.py``) reads the files the run wrote; a collector
is not a file that can be checked afterwards, nor scrubbed. So :class:`LeakGuard`, in front of
the OTLP exporter, looks at each span as it will be written (its JSON record, as the leak
check reads the trace file: every known secret and every 16-character piece of one, as the
text shows, JSON escapes decoded, ids included) and sends only the spans that hold none. A
span that holds one is withheld, and said (never the secret: a masked preview); the run then
fails, as it does for a leak in its files. Redaction has already run, so this is the last line
of defence, not the first: a withheld span means the redactor missed something.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from cab_trace.model import encode_record
from cab_trace.otel.convert import span_to_record
from cab_trace.otel.ids import SecretIds
from cab_trace.redact import Redactor
from cab_trace.redact.scan import mask

#: Withheld spans are described up to this many times (all are counted).
MAX_DESCRIBED = 20


class LeakGuard(SpanExporter):
    """Sends to ``inner`` only the spans that hold none of ``known()``'s secrets.

    Args:
        inner: the exporter that talks to the collector.
        known: the run's known secrets now (the run learns more as it goes).
    """

    def __init__(self, inner: SpanExporter, known: Callable[[], Sequence[str]] = tuple) -> None:
        self.inner = inner
        self.known = known
        self.withheld = 0
        self.descriptions: list[str] = []
        self._lock = threading.Lock()
        self._checker: tuple[tuple[str, ...], Redactor, SecretIds] | None = None

    def _check(self) -> tuple[Redactor, SecretIds] | None:
        known = tuple(self.known())
        if not known:
            return None
        if self._checker is None or self._checker[0] != known:
            # As the end-of-run leak check looks: known secrets only, no shape rules.
            self._checker = (known, Redactor(known, rules=(), named_values=False), SecretIds(known))
        return self._checker[1], self._checker[2]

    def leak_in(self, span: ReadableSpan) -> str | None:
        """What known secret ``span`` holds (rule and masked preview), or None."""
        check = self._check()
        if check is None:
            return None
        redactor, ids = check
        try:
            text = encode_record(span_to_record(span)).decode("utf-8", "replace")
        except (ValueError, TypeError):
            return "a span that cannot be encoded"
        context = span.context
        if context is not None and (
            ids.holds_secret(f"{context.trace_id:032x}") or ids.holds_secret(f"{context.span_id:016x}")
        ):
            return "known-secret: one of its ids"
        found = redactor.findings(text)
        if found:
            first = found[0]
            return f"{first.rule}: {mask(text[first.start : first.end], first.rule)}"
        return None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        clean = []
        for span in spans:
            try:
                leak = self.leak_in(span)
            except Exception as exc:  # noqa: BLE001 - the SDK contract: export never raises
                leak = f"could not be checked ({type(exc).__name__})"
            if leak is None:
                clean.append(span)
                continue
            with self._lock:
                self.withheld += 1
                if len(self.descriptions) < MAX_DESCRIBED:
                    # Nothing of the span itself (its name, its kind): that may be where the secret is.
                    self.descriptions.append(
                        f"a span held a known secret ({leak}); it was not sent to the collector"
                    )
        if not clean:
            return SpanExportResult.SUCCESS
        return self.inner.export(clean)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
