"""The rules table, entry by entry: every rule finds its examples and none of its look-alikes,
its prefilter trigger fires on every match, and the fast engine (RE2) agrees with ``re``."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.redact import REDACTED, Redactor
from cab_trace.redact.prefilter import Prefilter
from cab_trace.redact.rules import RULES
from cab_trace.redact.table import ALL

BY_ID = {rule.name: rule for rule in RULES}
EXAMPLES = [(spec.id, text) for spec in ALL for text in spec.examples]
COUNTERS = [(spec.id, text) for spec in ALL for text in spec.counter]


def test_every_rule_has_an_example_and_a_unique_id() -> None:
    assert len({spec.id for spec in ALL}) == len(ALL)
    assert [spec.id for spec in ALL if not spec.examples] == []
    assert len(ALL) >= 80  # breadth: gitleaks-level coverage of what coding agents meet


@pytest.mark.parametrize(("rule_id", "text"), EXAMPLES, ids=[f"{i}:{t[:30]!r}" for i, t in EXAMPLES])
def test_rule_finds_its_example(rule_id: str, text: str) -> None:
    rule = BY_ID[rule_id]
    assert rule.applies(text, text.lower()), "the keyword prefilter would skip this example"
    spans = list(rule.find(text, text.lower()))
    assert spans, f"{rule_id} does not match its own example"
    # The trigger (what the one-pass prefilter looks for) fires on the line of every match (the
    # rules run over the lines around each candidate).
    trigger = Prefilter([rule.trigger], engine="re")
    for start, end, _ in spans:
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end == -1 else line_end
        if rule.requires is not None:  # a document's rule (kind: Secret): the window is the document
            line_start, line_end = 0, len(text)
        assert any(s < line_end and e > line_start for s, e in trigger.spans(text)), (
            "trigger misses the match"
        )
    # And the whole redactor takes the secret out.
    out = Redactor().text(text)
    for start, end, _ in spans:
        assert text[start:end] not in out or len(text[start:end]) < 4


@pytest.mark.parametrize(("rule_id", "text"), COUNTERS, ids=[f"{i}:{t[:30]!r}" for i, t in COUNTERS])
def test_rule_leaves_its_look_alikes_alone(rule_id: str, text: str) -> None:
    assert list(BY_ID[rule_id].find(text, text.lower())) == []
    assert Redactor().findings(text) == []


def test_prefilter_triggers_compile_on_both_engines() -> None:
    r2 = Redactor(["opaque-secret-value-123"], engine="auto")
    assert r2.engine == "re2"  # google-re2 is a dependency: the fast path is what runs
    assert Redactor(engine="re").engine == "re"
    for rule in RULES:
        re.compile(Prefilter([rule.trigger], engine="re").pattern)


_ALPHABET = st.sampled_from(
    [*"abcXYZ019 _-=:\"'/.\n\t", "\x1b[31m", "\x1b[0m", "\u200b", "\r", "\\u0073", "key", "token", "sk-",
     "ghp_", "password", "--api-key ", "Bearer ", "https://u:p@h/", "AKIA", "eyJ", REDACTED]
)  # fmt: skip
TEXTS = st.lists(_ALPHABET | st.sampled_from([t for _, t in EXAMPLES]), max_size=25).map("".join)


@given(TEXTS)
@settings(max_examples=300, deadline=None)
def test_re2_and_re_prefilters_find_the_same(text: str) -> None:
    fast = Redactor(["opaque-secret-value-123"], engine="auto")
    slow = Redactor(["opaque-secret-value-123"], engine="re")
    assert fast.findings(text) == slow.findings(text)


@given(TEXTS)
@settings(max_examples=300, deadline=None)
def test_the_prefilter_loses_nothing(text: str) -> None:
    """Redacting with the prefilter equals running every rule over the whole text (no prefilter)."""
    r = Redactor(["opaque-secret-value-123"])
    everything = sorted(r._scan(text))  # every rule, the whole text, no prefilter
    found = r.findings(text)
    for start, end, _ in everything:
        assert any(f.start <= start and end <= f.end for f in found), (text[start:end], found)


def test_the_prefilter_says_nothing_on_stderr(capfd) -> None:
    """RE2 logs a pattern it cannot parse to stderr; a run's stderr is the user's terminal."""
    Redactor([], rules=(), named_values=False).findings("abc")  # no pattern at all
    assert Prefilter(["(?<=a)b"]).engine == "re"  # a look-behind RE2 cannot take: falls back
    out, err = capfd.readouterr()
    assert out == "" and err == ""
