"""Secret redaction. Pure: stdlib only.

Every span, every line of output and every file the harness writes passes through a
:class:`Redactor` before anything leaves the process. The reliable layer is *known*
secrets: values the harness itself hands to the agent (the adapter's key, the values of
secret-named environment variables, values named with ``--secret-env``), replaced
literally wherever they appear, whatever their shape.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, TypeVar

from cab_trace.redact.rules import (
    RULES,
    SHORT_TEXT,
    Rule,
    find_named_values,
    is_placeholder,
    is_secret_name,
    is_weak_name,
    secret_value,
)

__all__ = ["REDACTED", "Finding", "Redactor", "StreamRedactor", "is_secret_name", "secrets_from_env"]

REDACTED = "[REDACTED]"

#: A known secret shorter than this cannot be replaced without destroying ordinary text
#: (a key "ab" would blank every "ab"); the harness warns about such values instead.
MIN_SECRET_LENGTH = 4
#: Values of secret-*named* environment variables shorter than this are flags and switches
#: ("1", "true", "none"), not credentials.
MIN_ENV_SECRET_LENGTH = 8

_MARKER = re.compile(re.escape(REDACTED))
_KEY_BLOCK_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_OPTION = re.compile(r"(--?)([A-Za-z][A-Za-z0-9_-]*)(?:=(.*))?", re.DOTALL)

T = TypeVar("T")


class Finding(NamedTuple):
    """A suspected secret: ``text[start:end]``, found by rule ``rule``."""

    start: int
    end: int
    rule: str


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """The values of secret-named variables in ``env`` that are long enough to be credentials."""
    return [
        value
        for name, value in env.items()
        if is_secret_name(name) and len(value) >= MIN_ENV_SECRET_LENGTH and not is_placeholder(value)
    ]


_CACHED = 256
"""Strings up to this long have their redaction remembered ..."""
_CACHE_ENTRIES = 8192
"""... up to this many of them (then the memory starts over)."""


def _anchor_pattern(literal_groups: Iterable[tuple[str, ...]]) -> re.Pattern[str] | None:
    literals = sorted({lit for group in literal_groups for lit in group}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, literals))) if literals else None


class Redactor:
    """Replaces secrets in text, argv, environments and attribute values with ``[REDACTED]``.

    Three layers, applied together: *known secrets* (values the harness handed out, matched
    literally wherever they appear, whatever their shape); *context* (values of secret-named
    options, ``NAME=value`` assignments, JSON fields, auth headers, URL passwords, private
    keys); and *credential shapes* (provider tokens by their prefixes). See ``rules.py``.

    Args:
        known_secrets: values to replace literally. Values shorter than
            :data:`MIN_SECRET_LENGTH` are left out (see :attr:`too_short`).
        rules: the pattern rules; the default is all of ``rules.RULES``.
    """

    def __init__(
        self, known_secrets: Iterable[str] = (), rules: Sequence[Rule] = RULES, named_values: bool = True
    ) -> None:
        secrets = {s for s in known_secrets if s}
        self.too_short: list[str] = sorted(s for s in secrets if len(s) < MIN_SECRET_LENGTH)
        self._secrets = sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
        # Longest first, so that a secret containing another is replaced whole.
        self._known = re.compile("|".join(map(re.escape, self._secrets))) if self._secrets else None
        self._rules = tuple(rules)
        self._named_values = named_values
        # For short strings (attribute values, argv elements) one pass of a regex over every
        # rule's anchor literal settles most of them: no anchor, no rule can match. Long text
        # skips this, since nearly every long text holds some anchor and the rules scan anyway.
        self._anchors = _anchor_pattern(r.literals for r in self._rules if not r.ignore_case)
        self._anchors_lower = _anchor_pattern(r.literals for r in self._rules if r.ignore_case)
        # Spans repeat their short values (names, argv elements, flags) run after run; a
        # redactor never changes what it knows (with_secrets makes a new one), so its answers keep.
        self._cache: dict[str, str] = {}

    @property
    def known_secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    @property
    def longest_secret(self) -> int:
        return len(self._secrets[0]) if self._secrets else 0

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        """A redactor that also knows ``more``."""
        return Redactor([*self._secrets, *self.too_short, *more], self._rules, self._named_values)

    def findings(self, text: str) -> list[Finding]:
        """Every suspected secret in ``text``, in order, one per stretch of text: where rules
        overlap (``Authorization: Bearer X`` is an auth header *and* a bearer token), the stretch
        is reported once, under the most specific rule (known secret, then token shapes, then
        context rules, then secret names)."""
        found: list[Finding] = []
        if not text:
            return found
        if self._known is not None:
            found.extend(Finding(m.start(), m.end(), "known-secret") for m in self._known.finditer(text))
        lowered = text.lower()
        # What is already redacted is not found again (redaction is idempotent), even by a rule
        # whose value pattern stops short of the marker's closing bracket.
        markers = [(m.start(), m.end()) for m in _MARKER.finditer(text)] if REDACTED in text else []
        if len(text) > SHORT_TEXT or self._may_match(text, lowered):
            spans = [span for rule in self._rules for span in rule.find(text, lowered)]
        else:
            spans = []
        if self._named_values:
            spans.extend(find_named_values(text, lowered))
        for start, end, rule_name in spans:
            if end > start and not any(a <= start and end <= b for a, b in markers):
                found.append(Finding(start, end, rule_name))
        return _merge_findings(found)

    def _may_match(self, text: str, lowered: str) -> bool:
        return bool(
            (self._anchors is not None and self._anchors.search(text))
            or (self._anchors_lower is not None and self._anchors_lower.search(lowered))
        )

    def text(self, text: str) -> str:
        """Free text: output, prompts, status messages, shell strings."""
        if len(text) <= _CACHED:
            cached = self._cache.get(text)
            if cached is None:
                if len(self._cache) >= _CACHE_ENTRIES:
                    self._cache.clear()
                cached = self._cache[text] = self._redact(text)
            return cached
        return self._redact(text)

    def _redact(self, text: str) -> str:
        found = self.findings(text)
        if not found:
            return text
        parts: list[str] = []
        position = 0
        for start, end, _ in found:
            parts.append(text[position:start])
            parts.append(REDACTED)
            position = end
        parts.append(text[position:])
        return "".join(parts)

    def argv(self, argv: Iterable[str]) -> list[str]:
        """An argument vector: same length, every flag kept, secret values replaced.

        ``--api-key X`` and ``--api-key=X`` lose X; ``--max-tokens 4096`` keeps 4096; every
        element is also redacted as text (``-e OPENAI_API_KEY=...``, ``bash -c '...'``).
        """
        out: list[str] = []
        value_of: str | None = None  # the secret-named option whose value comes next
        for arg in argv:
            if value_of is not None:
                name, value_of = value_of, None
                if not arg.startswith("-") and _option_value_is_secret(name, arg):
                    out.append(REDACTED)
                    continue
            m = _OPTION.fullmatch(arg)
            if m is not None and is_secret_name(m.group(2)) and not m.group(2).lower().startswith("no-"):
                if m.group(3) is None:
                    value_of = m.group(2)
                elif _option_value_is_secret(m.group(2), m.group(3)):
                    out.append(f"{m.group(1)}{m.group(2)}={REDACTED}")
                    continue
            out.append(self.text(arg))
        return out

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """An environment: values of secret-named variables replaced whole, the others as text."""
        return {
            name: REDACTED if is_secret_name(name) and not is_placeholder(value) else self.text(value)
            for name, value in env.items()
        }

    def value(self, value: T) -> T:
        """Any attribute value: a string as text, a list of strings as an argv; others as they are."""
        if isinstance(value, str):
            return self.text(value)  # type: ignore[return-value]
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return type(value)(self.argv(value))
        return value

    def stream(self) -> StreamRedactor:
        """A redactor for text that arrives in chunks."""
        return StreamRedactor(self)


def _option_value_is_secret(name: str, value: str) -> bool:
    # An explicitly secret option (--api-key) hides any real value; a weak one (--key) only
    # a credential-looking one, so that --key sort keeps its value.
    if is_placeholder(value):
        return False
    return secret_value(name, value) if is_weak_name(name) else True


def _merge_findings(found: list[Finding]) -> list[Finding]:
    # ``found`` is in priority order; sorting is stable, so among findings that start at the
    # same place the most specific comes first and names the merged stretch.
    merged: list[Finding] = []
    for f in sorted(found, key=lambda f: f.start):
        if merged and f.start <= merged[-1].end:  # adjacent secrets become one marker
            last = merged[-1]
            merged[-1] = Finding(last.start, max(last.end, f.end), last.rule)
        else:
            merged.append(f)
    return merged


#: A stream line longer than this is released up to its last whitespace...
MAX_LINE_HOLD = 16 * 1024
#: ...keeping at most this much of an unbroken run (a token longer than that is not one).
MAX_TOKEN_HOLD = 4 * 1024
#: An unterminated private-key block is held back up to this size.
MAX_BLOCK_HOLD = 64 * 1024


class StreamRedactor:
    """Redacts a stream of byte chunks, catching a secret cut in two by a chunk boundary.

    Secrets do not span lines (but for private-key blocks), so it releases whole lines and
    holds back the unfinished last one (up to a bound), an unterminated ``BEGIN ... PRIVATE
    KEY`` block, and any end that could be the start of a known secret. What it releases is
    redacted as a whole, exactly as :meth:`Redactor.text` would redact it. ``\r`` counts as
    a line end, so progress lines that redraw in place flow through. Bytes are decoded as
    UTF-8 (invalid bytes become U+FFFD); a character split across chunks is not broken.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> str:
        """Redacted text that is safe to emit now (possibly empty)."""
        raw = self._pending + self._decoder.decode(chunk)
        cut = self._safe_cut(raw)
        self._pending = raw[cut:]
        return self._redactor.text(raw[:cut])

    def finish(self) -> str:
        """The rest, once the stream has ended."""
        raw = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return self._redactor.text(raw)

    def _safe_cut(self, raw: str) -> int:
        cut = max(raw.rfind("\n"), raw.rfind("\r")) + 1
        if len(raw) - cut > MAX_LINE_HOLD:
            space = max(raw.rfind(" ", cut), raw.rfind("\t", cut))
            cut = max(space + 1, len(raw) - MAX_TOKEN_HOLD)
        block = raw.rfind("-----BEGIN ")
        if (
            0 <= block < cut
            and "PRIVATE KEY" in raw[block : block + 64]
            and not _KEY_BLOCK_END.search(raw, block)  # a half-arrived END line does not close it
            and len(raw) - block <= MAX_BLOCK_HOLD
        ):
            cut = block
        secrets = self._redactor.known_secrets
        cut = min(cut, len(raw) - _secret_prefix_at_end(raw, secrets))
        # A known secret that straddles the cut (one holding a line break) is held whole.
        for secret in secrets:
            start = raw.find(secret, max(cut - len(secret) + 1, 0), cut + len(secret) - 1)
            if 0 <= start < cut < start + len(secret):
                cut = start
        return cut


def _secret_prefix_at_end(text: str, secrets: Iterable[str]) -> int:
    """Length of the longest end of ``text`` that is a proper prefix of one of ``secrets``."""
    best = 0
    for secret in secrets:
        for length in range(min(len(secret) - 1, len(text)), best, -1):
            if text.endswith(secret[:length]):
                best = length
                break
    return best
