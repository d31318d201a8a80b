"""Ids an agent chooses, checked against the known secrets.

An instrumented agent sends its own spans and picks their trace, span, parent and link ids:
hex strings, as many API keys are. Ids are not text, so redaction does not look at them; a
span whose id is a known secret (or a 16-character piece of one, as the leak check counts it,
in either case) would carry it to the trace file and the collector. :class:`IdScrubber`, run by
the redacting processor on every span, gives such an id a fresh random one, the same
replacement everywhere it appears (so a parent and its children still match), and records
which of the span's ids were replaced in ``cab.ids_replaced``.
"""

from __future__ import annotations

import secrets as random_source
import string
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Link, SpanContext

#: A piece of a known secret this long is as bad as all of it (as the redactor and leak check say).
PIECE = 16
#: Known secrets shorter than this are not looked for (the redactor cannot redact them either).
MIN_SECRET = 4
#: The attribute listing which of a span's ids were replaced.
REPLACED_ATTRIBUTE = "cab.ids_replaced"
#: Attributes that hold an id the agent sent (kept when a span is adopted into the run's trace).
ORIGINAL_ID_PREFIX = "cab.original_"
_HEX = frozenset(string.hexdigits.lower())


class SecretIds:
    """Which hex ids hold a known secret: the whole of a short one, or any 16-character piece."""

    def __init__(self, known: Iterable[str]) -> None:
        self._pieces: set[str] = set()
        self._short: list[str] = []
        for secret in known:
            low = secret.lower()
            if len(low) < MIN_SECRET:
                continue
            if len(low) < PIECE:
                if set(low) <= _HEX:
                    self._short.append(low)
                continue
            for i in range(len(low) - PIECE + 1):
                piece = low[i : i + PIECE]
                if set(piece) <= _HEX:
                    self._pieces.add(piece)

    def __bool__(self) -> bool:
        return bool(self._pieces or self._short)

    def holds_secret(self, hex_id: str) -> bool:
        low = hex_id.lower()
        pieces = self._pieces
        if pieces and any(low[i : i + PIECE] in pieces for i in range(len(low) - PIECE + 1)):
            return True
        return any(short in low for short in self._short)


class IdScrubber:
    """Replaces ids that hold a known secret, consistently for the life of a run."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._ids = SecretIds(known)
        self._fresh: dict[tuple[int, int], int] = {}  # (width in bits, old id) -> new id
        self._clean_trace: int | None = None  # the last trace id found clean (most spans share one)

    def set_secrets(self, known: Iterable[str]) -> None:
        self._ids = SecretIds(known)
        self._clean_trace = None

    def scrub(self, span: ReadableSpan) -> ReadableSpan:
        """``span``, or a copy with fresh ids where it had secret ones (and ``cab.ids_replaced``)."""
        if not self._ids:
            return span
        replaced: list[str] = []
        context = self._context(span.context, "", replaced)
        parent = self._context(span.parent, "parent_", replaced, trace=False)
        links = []
        for i, link in enumerate(span.links):
            links.append(Link(self._context(link.context, f"links[{i}].", replaced), link.attributes))  # type: ignore[arg-type]
        attributes = dict(span.attributes or {})
        for key, value in list(attributes.items()):
            if not key.startswith(ORIGINAL_ID_PREFIX) or not isinstance(value, str):
                continue
            if self._ids.holds_secret(value):
                attributes[key] = "[REDACTED]"
                replaced.append(key)
        if not replaced:
            return span
        attributes[REPLACED_ATTRIBUTE] = tuple(replaced)
        return ReadableSpan(
            name=span.name,
            context=context,
            parent=parent,
            resource=span.resource,
            attributes=attributes,
            events=span.events,
            links=links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _context(
        self, context: SpanContext | None, prefix: str, replaced: list[str], trace: bool = True
    ) -> SpanContext | None:
        """``context`` with fresh ids where its ids hold a secret; what was replaced is noted in
        ``replaced`` under ``prefix`` (a parent's trace id is the span's own: not noted again)."""
        if context is None:
            return None
        trace_id, span_id = context.trace_id, context.span_id
        if trace_id != self._clean_trace:
            if self._ids.holds_secret(f"{trace_id:032x}"):
                trace_id = self._replacement(128, trace_id)
                if trace:
                    replaced.append(f"{prefix}trace_id")
            else:
                self._clean_trace = trace_id
        if self._ids.holds_secret(f"{span_id:016x}"):
            span_id = self._replacement(64, span_id)
            replaced.append(f"{prefix}span_id")
        if (trace_id, span_id) == (context.trace_id, context.span_id):
            return context
        return SpanContext(trace_id, span_id, context.is_remote, context.trace_flags, context.trace_state)

    def _replacement(self, bits: int, old: int) -> int:
        key = (bits, old)
        fresh = self._fresh.get(key)
        if fresh is None:
            width = bits // 4
            while True:
                fresh = random_source.randbits(bits)
                if fresh and not self._ids.holds_secret(f"{fresh:0{width}x}"):
                    break
            self._fresh[key] = fresh
        return fresh


def replaced_fields(attributes: Mapping[str, Any]) -> list[str]:
    """What :class:`IdScrubber` recorded on a span (for tests and reports)."""
    value = attributes.get(REPLACED_ATTRIBUTE) or ()
    return [str(v) for v in value]
