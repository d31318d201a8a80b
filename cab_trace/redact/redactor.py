"""The Redactor: known secrets, context rules and credential shapes, over a text and the
views of it a person would see, with the findings put back on the text as given.

Pure: no I/O; stdlib, and google-re2 for the prefilter when installed. The one class that runs
the one pass, picks the rules and views for each window and merges what they find; where the
rules look is in ``windows.py``, which views a text calls for in ``gates.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from cab_trace.redact import decode, screen
from cab_trace.redact.gates import (
    ASCII_MARKS,
    HTML_NAMED,
    VIEW_MARK,
    VIEW_MARKS,
    escapes_tell,
    may_have_marks,
    rule_candidates,
    view_gates,
)
from cab_trace.redact.known import (
    ANCHOR,
    FRAGMENT,
    MIN_SECRET_LENGTH,
    anchors,
    encoded_forms,
    encoded_run,
    extend,
    fragments,
    occurrences,
)
from cab_trace.redact.prefilter import Prefilter, Selector
from cab_trace.redact.rules import (
    NAME_ENDINGS,
    NAMED_REGION_TRIGGERS,
    NAMED_TRIGGERS,
    RULES,
    Rule,
    find_named_values,
    is_placeholder,
    is_secret_name,
    is_weak_name,
    secret_value,
)
from cab_trace.redact.spans import REDACTED, Finding, apply, merge_findings
from cab_trace.redact.stream import StreamRedactor
from cab_trace.redact.windows import windows

_MARKER = re.compile(re.escape(REDACTED))
_OPTION = re.compile(r"(--?)([A-Za-z][A-Za-z0-9_-]*)(?:=(.*))?", re.DOTALL)
#: Rules that argv already applies element by element (an option's value is judged on its own there).
_PER_ELEMENT_RULES = frozenset({"secret-option", "secret-assignment", "secret-field"})

T = TypeVar("T")

_CACHED = 256
"""Strings up to this long have their redaction remembered ..."""
_CACHE_ENTRIES = 8192
"""... up to this many of them (then the memory starts over)."""


class Redactor:
    """Replaces secrets in text, argv, environments and attribute values with ``[REDACTED]``.

    Three layers, applied together: *known secrets* (values the harness handed out, and every
    piece of them of 16 or more characters, matched wherever they appear, whatever their
    shape, across line breaks); *context* (values of secret-named options, ``NAME=value``
    assignments, JSON fields, auth and cookie headers, URL passwords, private keys, command
    lines and configuration files); and *credential shapes* (provider tokens by their
    prefixes). See ``table.py`` and ``rules.py``. Every layer looks at what a person would
    see (:mod:`cab_trace.redact.screen`) and replaces the original characters behind it.

    Args:
        known_secrets: values to replace literally. Values shorter than
            :data:`MIN_SECRET_LENGTH` are left out (see :attr:`too_short`).
        rules: the pattern rules; the default is all of ``rules.RULES``.
        named_values: also find values given under secret names.
        engine: the prefilter's engine, ``auto`` (RE2 when installed), ``re2`` or ``re``.
    """

    def __init__(  # noqa: PLR0912 - one constructor builds the prefilter, its selector and the views' passes
        self,
        known_secrets: Iterable[str] = (),
        rules: Sequence[Rule] = RULES,
        named_values: bool = True,
        engine: str = "auto",
    ) -> None:
        secrets = {s for s in known_secrets if s}
        self.too_short: list[str] = sorted(s for s in secrets if len(s) < MIN_SECRET_LENGTH)
        self._secrets = sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
        self._rules = tuple(rules)
        self._named_values = named_values
        self._engine = engine
        self._anchor_map: dict[str, list[tuple[str, int]]] = {}
        # What a known secret looks like after the encodings tools apply on the way to a person
        # (reversed behind a right-to-left override, base64 in a clipboard sequence, HTTP Basic
        # credentials or a Kubernetes Secret, hex): found like the secret itself.
        self._encoded: dict[str, str] = {}
        for secret in self._secrets:
            for form, kind in encoded_forms(secret):
                self._encoded.setdefault(form, kind)
        for secret in [*self._secrets, *self._encoded]:
            for anchor, offset in anchors(secret):
                self._anchor_map.setdefault(anchor, []).append((secret, offset))
        # Four-character pieces, to find a known secret folded into short lines (fold -w5) or cut
        # into pieces under 16 characters behind a per-line prefix (cat -n, "> ", diff "+", a hex
        # dump's text column, YAML block lines).
        self._fragments = fragments(self._secrets)
        self._by_keyword: dict[str, list[Rule]] = {}
        self._order = {rule: i for i, rule in enumerate(self._rules)}
        for rule in self._rules:
            for keyword in rule.keywords:
                self._by_keyword.setdefault(keyword, []).append(rule)
        self._by_gram: dict[str, list[tuple[str, list[Rule]]]] = {}
        self._short_keywords = [(k, rules) for k, rules in self._by_keyword.items() if len(k) < 2]
        for keyword, keyword_rules in self._by_keyword.items():
            if len(keyword) >= 2:
                self._by_gram.setdefault(keyword[:2], []).append((keyword, keyword_rules))
        self._gram_keys = frozenset(self._by_gram)
        patterns = [rule.trigger for rule in self._rules]
        if named_values:
            patterns.extend(NAMED_TRIGGERS)
        patterns.extend(re.escape(anchor) for anchor in self._anchor_map)
        # The pieces of known secrets are candidates of the one pass too (a window of their own:
        # a piece found first hides a trigger that starts inside it, and the window's rules still run).
        patterns.extend(re.escape(fragment) for fragment in sorted(self._fragments))
        # Views are for finding secrets: a redactor with nothing to find (no rules, no known
        # secret) needs none. The decoders' marks are found by a small pass of their own, over
        # text that can hold one: a long trigger's match would hide one inside it.
        self._views_on = bool(patterns)
        self._marker = Prefilter(VIEW_MARKS if self._views_on else [], engine)
        if self._views_on:
            patterns.append(ASCII_MARKS)
        # Without RE2, the keywords alone (lowercase literals, one `re` pass over lowercased text).
        literals = [*self._by_keyword, *self._anchor_map]
        if named_values:
            literals.extend(NAME_ENDINGS)
        self._prefilter = Prefilter(patterns, engine, literals)
        # Per window, which rules' triggers match there (one RE2 set pass), and where the named
        # triggers do: only those run. Without RE2, the rules whose keywords the window holds.
        self._selector: Selector | None = None
        self._named_finder: Prefilter | None = None
        if self._prefilter.engine == "re2":
            triggers = [rule.trigger for rule in self._rules]
            # Two more entries: the named triggers (index len(rules)), the known secrets' anchors (+1).
            triggers.append("|".join(f"(?:{t})" for t in NAMED_TRIGGERS) if named_values else "[^\\s\\S]")
            if named_values:
                self._named_finder = Prefilter(NAMED_REGION_TRIGGERS)
            if self._anchor_map:
                triggers.append("|".join(re.escape(a) for a in self._anchor_map))
            selector = Selector(triggers, split=len(self._rules))
            self._selector = selector if selector.ready else None
        # Spans repeat their short values (names, argv elements, flags) run after run; a
        # redactor never changes what it knows (with_secrets makes a new one), so its answers keep.
        self._cache: dict[str, str] = {}
        # A redactor of known secrets alone (the leak check's) finds nothing in a view that holds
        # none of their anchors: the characters its anchors are made of tell when the escape
        # and decoder views can be left out (see _view_adds_nothing).
        self._gates = (
            view_gates(frozenset("".join(self._anchor_map)), engine)
            if not self._rules and not named_values and self._anchor_map
            else None
        )

    @property
    def known_secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    @property
    def longest_secret(self) -> int:
        """The longest known secret's length, or of any form of one (hex doubles it)."""
        return max((len(s) for s in self._anchor_owners()), default=0)

    def _anchor_owners(self) -> list[str]:
        return [*self._secrets[:1], *self._encoded]

    @property
    def engine(self) -> str:
        return self._prefilter.engine

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        """A redactor that also knows ``more``."""
        return Redactor(
            [*self._secrets, *self.too_short, *more], self._rules, self._named_values, self._engine
        )

    def findings(self, text: str) -> list[Finding]:
        """Every suspected secret in ``text``, in order, one per stretch of text: where rules
        overlap (``Authorization: Bearer X`` is an auth header *and* a bearer token), the stretch
        is reported once, under the most specific rule (known secret, then token shapes, then
        context rules, then secret names). Positions are in ``text`` as given; a secret seen
        through control sequences or an encoding covers them."""
        if not text:
            return []
        data = text.encode("utf-8", "surrogatepass")
        hits = self._prefilter.spans(text, data)
        rule_hits = rule_candidates(text, hits)
        unusual = screen.unusual(data) if self._views_on else screen.Unusual(False, frozenset())
        marks = self._marks(text, data, hits, unusual)
        # The text as it is (a key inside an unterminated OSC is invisible, yet in the file),
        # then as it is shown or decoded, where that differs: each view is built once.
        found = [Finding(*span) for span in self._at(text, rule_hits)]
        if "fragment" in marks:
            found.extend(self._folded(text, marks["fragment"]))
        for view in self._views(text, data, marks, hits, unusual):
            for a, b, rule in self._find_in(view.text):
                s, e = view.origin(a, b)
                found.append(Finding(s, e, rule))
        return merge_findings(found)

    def _marks(
        self, text: str, data: bytes, hits: list[tuple[int, int]], unusual: screen.Unusual
    ) -> dict[str, list[int]]:
        """Where each decoder's marks are (a second, small pass, only over text that can hold one:
        not ASCII, or with ``%`` or ``&``), and pieces of known secrets (``fragment``) among the
        rules' candidates."""
        if not self._views_on:
            return {}
        marks: dict[str, list[int]] = {}
        if self._marker.engine == "re2":
            # ASCII marks (%41, &#115;) came with the rules' candidates; the others from a pass of
            # their own, over text that holds a character of theirs.
            starts = [s for s, _ in hits if text[s] in "%&"]
            if may_have_marks(unusual):
                starts += [s for s, _ in self._marker.spans(text, data)]
            for start in starts:
                mark = VIEW_MARK.match(text, start)
                if mark is not None and mark.lastgroup is not None:
                    marks.setdefault(mark.lastgroup, []).append(start)
            for positions in marks.values():
                positions.sort()
            if self._anchor_map:
                marks["fragment"] = [
                    s for s, e in hits if (e - s == FRAGMENT and text[s:e] in self._fragments)
                ]
        else:
            # The fallback's keyword scan does not know the marks: a scan of their own.
            for m in VIEW_MARK.finditer(text):
                if m.lastgroup is not None:
                    marks.setdefault(m.lastgroup, []).append(m.start())
            marks["fragment"] = [i for f in self._fragments for i in occurrences(text, f)]
        # Where the rules' pass met an anchor of a known secret, its lines are read without prefixes too.
        marks.setdefault("fragment", []).extend(
            s for s, e in hits if e - s <= ANCHOR and text[s:e] in self._anchor_map
        )
        if marks["fragment"]:
            marks["fragment"].sort()
        else:
            del marks["fragment"]
        return marks

    def _views(
        self,
        text: str,
        data: bytes,
        marks: dict[str, list[int]],
        hits: list[tuple[int, int]],
        unusual: screen.Unusual,
    ) -> list[screen.Mapped]:
        """What a person would see of ``text`` where that differs from it: the screen (control
        sequences, invisible characters, cursor moves), and the lines that hold an encoding
        decoded (JSON and C escapes, percent-encoding, HTML references, compatibility
        characters, right-to-left overrides)."""
        if not self._views_on:
            return []
        out: list[screen.Mapped] = []
        if unusual.controls or "special" in marks or "bidi" in marks:
            out.extend(screen.display_views(text))
        if "\\" in text and not self._view_adds_nothing("escape", text, data, hits, unusual):
            ranges = decode.lines_with(text, "\\")
            escaped = decode.Lines(text, ranges, decode.unescape, decode.unescape_fast)
            if escaped.changed:
                out.append(escaped)
                if screen.has_special(escaped.text):
                    out.extend(screen.Composed(v, escaped) for v in screen.display_views(escaped.text))
        for name, (_, decoder) in decode.DECODERS.items():
            if name in marks and not self._view_adds_nothing(name, text, data, hits, unusual):
                ranges = decode.line_ranges(text, marks[name])
                out.append(decode.Lines(text, ranges, decoder, decode.FAST.get(name)))
        return out

    def _view_adds_nothing(
        self, kind: str, text: str, data: bytes, hits: list[tuple[int, int]], unusual: screen.Unusual
    ) -> bool:
        """For a redactor of known secrets alone (the leak check's): whether the ``kind`` view of
        ``text`` (``escape`` or a decoder's) would find nothing, told without building it (in a
        cast, every line is escaped).

        A finding there needs one of the secrets' anchors in the decoded lines (nothing else is
        looked for). Decoding puts one or more characters in place of each encoded run and copies
        the rest, so an anchor made only of copied characters stands in ``text`` too, and the one
        pass met it (a candidate starts at it or runs over its start); an anchor holds no line
        break here, so the lines a view joins cannot make one. What is left is an anchor holding
        a decoded character, and a screen view of the decoded lines (a control could move
        characters next to each other; the unicode view drops invisible ones): neither can be
        when ``text`` holds no control or invisible character and nothing in it decodes to a
        character of the anchors or to one the screen view acts on. Every escape's decoded
        character is counted (the ``u0041`` after a ``\\`` pair too: more than the decoder
        takes, never less). ``tests/unit/test_redact_fast_paths.py`` holds this to the views
        built."""
        if self._gates is None or kind == "bidi":
            return False
        anchor_chars, escapes, percents = self._gates
        for start, end in hits:
            for anchor in self._anchor_map:
                if text.find(anchor, start, end + len(anchor) - 1) != -1:
                    return False
        if kind == "percent":
            return not percents.found_in(data)
        if kind == "html":
            return "&#" not in text and not anchor_chars & set(HTML_NAMED)
        if screen.special_in(unusual):
            return False  # a control, or an invisible character the views take out
        if kind == "unicode":
            return not any(
                decode.COMPAT.match(c) and anchor_chars & set(unicodedata.normalize("NFKC", c))
                for c in unusual.others
            )
        return not escapes.found_in(data) or not escapes_tell(text, anchor_chars)

    def _find_in(self, text: str) -> list[tuple[int, int, str]]:
        """The secrets in ``text`` as it is (a view's text): the prefilter's candidates, the rules
        over the lines around them."""
        return self._at(text, rule_candidates(text, self._prefilter.spans(text)))

    def _at(self, text: str, hits: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        if hits:
            for start, end in windows(text, hits, self.longest_secret):
                spans = self._scan(text[start:end], select=True)
                if end < len(text) and text[end] != "\n" and any(b == end - start for _, b, _ in spans):
                    # A finding runs to where a long line was cut (a long cookie header): the whole line.
                    line_end = text.find("\n", end)
                    end = len(text) if line_end == -1 else line_end  # noqa: PLW2901
                    spans = self._scan(text[start:end], select=True)
                found.extend((start + a, start + b, rule) for a, b, rule in spans)
        return found

    def _scan(self, text: str, select: bool = False) -> list[tuple[int, int, str]]:
        """The secrets in one window (or one view of it): with ``select``, the rules whose triggers
        match in it; else every rule whose keywords it holds (the reference the tests hold the
        fast path to)."""
        lowered = text.lower()
        spans: list[tuple[int, int, str]] = []
        named = self._named_values
        known = bool(self._anchor_map)
        regions: list[tuple[int, int]] | None = None
        if select and self._selector is not None:
            ids = self._selector(text.encode("utf-8", "surrogatepass"))
            count = len(self._rules)
            known = known and count + 1 in ids
            # In table order: the most specific rule first.
            ran = [self._rules[i] for i in sorted(i for i in ids if i < count)]
            named = named and count in ids
            if named and self._named_finder is not None:
                regions = self._named_finder.spans(text)
        else:
            # The rules whose keywords the window holds (a plain loop of `in`: cheaper on a line
            # than any regex over all keywords).
            ran = sorted(self._rules_for(lowered), key=self._order.__getitem__)
        if known:
            spans.extend(self._known(text))
        for rule in ran:
            spans.extend(rule.find(text, lowered))
        if named:
            spans.extend(find_named_values(text, lowered, regions))
        if REDACTED in text:
            # What is already redacted is not found again (redaction is idempotent), even by a rule
            # whose value pattern stops short of the marker's closing bracket.
            markers = [(m.start(), m.end()) for m in _MARKER.finditer(text)]
            spans = [s for s in spans if not any(a <= s[0] and s[1] <= b for a, b in markers)]
        return spans

    def _rules_for(self, lowered: str) -> set[Rule]:
        """The rules whose keywords ``lowered`` holds. A line is short: the set of its two-letter
        pieces, intersected (in C) with the keywords' first two letters, leaves a few keywords
        to look for, rather than every keyword of every rule."""
        if len(lowered) > 4096:
            items = self._by_keyword.items()
            return {rule for keyword, rules in items if keyword in lowered for rule in rules}
        grams = {lowered[i : i + 2] for i in range(len(lowered) - 1)}
        ran = {rule for keyword, rules in self._short_keywords if keyword in lowered for rule in rules}
        for gram in grams & self._gram_keys:
            for keyword, rules in self._by_gram[gram]:
                if keyword in lowered:
                    ran.update(rules)
        return ran

    def _known(self, text: str) -> list[tuple[int, int, str]]:
        """Known secrets and their pieces of :data:`PIECE`+ characters, line breaks inside allowed;
        an encoded form with the whole run of its alphabet around it."""
        out: list[tuple[int, int, str]] = []
        for anchor, owners in self._anchor_map.items():
            i = text.find(anchor)
            while i != -1:
                for secret, offset in owners:
                    span = extend(text, i, secret, offset, len(anchor))
                    if span is not None:
                        kind = self._encoded.get(secret)
                        out.append((*(encoded_run(text, *span, kind) if kind else span), "known-secret"))
                i = text.find(anchor, i + 1)
        return out

    def _folded(self, text: str, positions: list[int]) -> list[Finding]:
        """A known secret spread over the lines around ``positions``, each line's prefix (line
        number, quote, diff marker, hex dump columns, indentation) left out: one finding per
        line's part, so the prefixes stay."""
        longest = len(self._secrets[0]) if self._secrets else 0
        pad = max(longest // 2 + 2, 4)  # lines: a fold is 4 characters a line at the least
        reach = 16 * longest + 1024  # characters: the pieces and their prefixes, not a long line's rest
        found: list[Finding] = []
        done = -1
        for position in positions:
            if position < done:
                continue
            start, end = decode.lines_around(text, position, pad)
            start, end = max(start, position - reach), min(end, position + reach)
            for markers in (True, False):
                joined = decode.Bodies(text, start, end, markers)
                for a, b, _ in self._known(joined.text):
                    found.extend(Finding(s, e, "known-secret") for s, e in joined.pieces(a, b))
            done = end
        return found

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
        return apply(text, self.findings(text))

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
        return self._argv_as_command_line(out)

    def _argv_as_command_line(self, argv: list[str]) -> list[str]:
        # Contexts that span elements (curl -u bob:pw, sshpass -p pw, mysql -pPW) are read on
        # the command line the argv spells; a finding takes out its part of each element.
        if len(argv) < 2 or not all(" " not in a and "\n" not in a for a in argv):
            return argv
        line = " ".join(argv)
        found = [f for f in self.findings(line) if f.rule not in _PER_ELEMENT_RULES]
        if not found:
            return argv
        out: list[str] = []
        position = 0
        for arg in argv:
            end = position + len(arg)
            mine = [f for f in found if f.start < end and f.end > position]
            out.append(apply(line, mine, position, end) if mine else arg)
            position = end + 1
        return out

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """An environment: values of secret-named variables replaced whole, the others as text."""
        return {
            name: REDACTED if is_secret_name(name) and not is_placeholder(value) else self.text(value)
            for name, value in env.items()
        }

    def value(self, value: T) -> T:
        """Any attribute value: a string as text, a list of strings as an argv, and the values
        OTLP allows besides (key-value lists, mixed or nested lists, bytes) element by element;
        numbers and booleans as they are."""
        if isinstance(value, str):
            return self.text(value)  # type: ignore[return-value]
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            return type(value)(self.argv(value))
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}  # type: ignore[return-value]
        if isinstance(value, bytes):
            return self._bytes(value)  # type: ignore[return-value]
        return value

    def _bytes(self, value: bytes) -> bytes:
        # A secret is text: read the bytes as UTF-8 where they are, else byte for byte (Latin-1),
        # and write back only what changed.
        encoding = "utf-8"
        try:
            text = value.decode(encoding)
        except UnicodeDecodeError:
            encoding = "latin-1"
            text = value.decode(encoding)
        redacted = self.text(text)
        return value if redacted == text else redacted.encode(encoding, "replace")

    def trace_state(self, trace_state: str) -> str:
        """A W3C ``tracestate`` with every entry the redactor would change dropped (a marker is
        not a valid trace-state value)."""
        if not trace_state:
            return trace_state
        entries = [e for e in trace_state.split(",") if e.strip()]
        kept = [e for e in entries if self.text(e) == e]
        return trace_state if len(kept) == len(entries) else ",".join(kept)

    def stream(self) -> StreamRedactor:
        """A redactor for text that arrives in chunks."""
        return StreamRedactor(self)


def _option_value_is_secret(name: str, value: str) -> bool:
    # An explicitly secret option (--api-key) hides any real value; a weak one (--key) only
    # a credential-looking one, so that --key sort keeps its value.
    if is_placeholder(value):
        return False
    return secret_value(name, value, option=True) if is_weak_name(name, option=True) else True
