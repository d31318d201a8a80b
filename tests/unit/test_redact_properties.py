"""Invariants of redaction, property-tested."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.redact import REDACTED, Redactor
from cab_trace.redact.rules import is_placeholder
from tests.unit.test_redact_corpus import BENIGN_TEXT, KNOWN, SECRET_ARGV, SECRET_TEXT

SECRETS_IN_TEXT = [t for t, _ in SECRET_TEXT]
fragments = st.sampled_from(SECRETS_IN_TEXT + BENIGN_TEXT) | st.text(max_size=30)
texts = st.lists(fragments, max_size=6).map(" ".join) | st.lists(fragments, max_size=6).map("\n".join)

SAFE_ARGS = [
    "--model",
    "m",
    "--max-tokens",
    "4096",
    "--yes",
    "-v",
    "src/lib.rs",
    "prompt text",
    "--no-session",
]
SECRET_OPTIONS = ["--api-key", "--token", "--password", "--client-secret", "--openai-api-key", "--authToken"]


@given(texts)
@settings(max_examples=300)
def test_redaction_is_idempotent(text: str) -> None:
    r = Redactor([KNOWN])
    once = r.text(text)
    assert r.text(once) == once


@given(st.lists(st.sampled_from(SAFE_ARGS) | st.text(max_size=12), max_size=10))
@settings(max_examples=200)
def test_argv_idempotent(argv: list[str]) -> None:
    r = Redactor([KNOWN])
    once = r.argv(argv)
    assert r.argv(once) == once


@st.composite
def argvs_with_secrets(draw: st.DrawFn) -> tuple[list[str], set[int]]:
    """An argv of safe arguments with secret options (and their values) inserted; the indices of
    the values."""
    argv: list[str] = []
    secret_at: set[int] = set()
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            argv.append(draw(st.sampled_from(SAFE_ARGS)))
        else:
            option = draw(st.sampled_from(SECRET_OPTIONS))
            # Placeholders ("undefined", "xxxx") are kept on purpose; the corpus tests those.
            value = draw(
                st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=6, max_size=40).filter(
                    lambda v: not is_placeholder(v)
                )
            )
            if draw(st.booleans()):
                argv.append(f"{option}={value}")
                secret_at.add(len(argv) - 1)
            else:
                argv.extend([option, value])
                secret_at.add(len(argv) - 1)
    return argv, secret_at


@given(argvs_with_secrets())
@settings(max_examples=300)
def test_argv_keeps_length_and_every_non_secret_element(case: tuple[list[str], set[int]]) -> None:
    argv, secret_at = case
    out = Redactor().argv(argv)
    assert len(out) == len(argv)
    for i, (before, after) in enumerate(zip(argv, out, strict=True)):
        if i in secret_at:
            assert after in (REDACTED, f"{before.split('=', 1)[0]}={REDACTED}")
        else:
            assert after == before


@given(
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    cuts=st.lists(st.integers(0, 600), max_size=8),
    secret=st.sampled_from([KNOWN, "sk-ijYE3q9wLmZp0aRt7uVxT3BlbkFJ", "multi\nline secret value"]),
)
@settings(max_examples=400)
def test_a_known_secret_never_survives_any_position_or_chunking(before, after, cuts, secret) -> None:
    r = Redactor([secret])
    data = (before + secret + after).encode()
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    stream = r.stream()
    out = "".join(stream.feed(c) for c in chunks) + stream.finish()
    assert secret not in out
    assert secret not in r.text(before + secret + after)


@given(case=st.sampled_from(SECRET_TEXT), cut_at=st.integers(0, 200), prefix=st.text(max_size=50))
@settings(max_examples=300)
def test_shaped_secrets_split_anywhere_in_a_stream_are_caught(case, cut_at, prefix) -> None:
    text, expected = case
    r = Redactor([KNOWN])
    data = (prefix + "\n" + text + "\n").encode()
    cut = min(cut_at, len(data))
    stream = r.stream()
    out = stream.feed(data[:cut]) + stream.feed(data[cut:]) + stream.finish()
    assert out == r.text(prefix) + "\n" + expected + "\n"


def test_argv_corpus_is_covered_by_value() -> None:
    r = Redactor([KNOWN])
    for argv, expected in SECRET_ARGV:
        assert r.value(tuple(argv)) == tuple(expected)
