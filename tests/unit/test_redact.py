"""Known-secret redaction (the layer the foundation relies on): literal, everywhere, across chunks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.redact import REDACTED, Redactor, is_secret_name, secrets_from_env

KEY = "sk-ijYE3q9wLmZp0aRt7uVx"


def test_text_argv_env_and_values() -> None:
    r = Redactor([KEY])
    assert r.text(f"using key {KEY}.") == f"using key {REDACTED}."
    argv = ["--print", "--api-key", KEY, "--model", "m", f"--header=Bearer {KEY}"]
    assert r.argv(argv) == ["--print", "--api-key", REDACTED, "--model", "m", f"--header=Bearer {REDACTED}"]
    assert r.env({"OPENAI_API_KEY": "anything-at-all", "MODEL": "m", "X": KEY}) == {
        "OPENAI_API_KEY": REDACTED,
        "MODEL": "m",
        "X": REDACTED,
    }
    assert r.value([KEY, "ok"]) == [REDACTED, "ok"]
    assert r.value(("ok", KEY)) == ("ok", REDACTED)
    assert r.value(42) == 42
    assert r.value(True) is True


def test_longer_secret_containing_a_shorter_one_is_replaced_whole() -> None:
    r = Redactor(["abcd", "abcdefgh"])
    assert r.text("xabcdefghx abcd") == f"x{REDACTED}x {REDACTED}"


def test_too_short_secrets_are_reported_not_used() -> None:
    r = Redactor(["ab", KEY])
    assert r.too_short == ["ab"]
    assert r.text("ab") == "ab"


def test_secret_names() -> None:
    for name in [
        "OPENAI_API_KEY",
        "CAB_KEY",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "apiKey",
        "HF_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "ANTHROPIC_APIKEY",
    ]:
        assert is_secret_name(name), name
    for name in ["MAX_TOKENS", "TOKENIZERS_PARALLELISM", "PATH", "HOME", "KEYBOARD_LAYOUT", "PWD", "MODEL"]:
        assert not is_secret_name(name), name


def test_secrets_from_env_skips_flags() -> None:
    env = {"OPENAI_API_KEY": KEY, "USE_TOKEN": "1", "HOME": "/root"}
    assert secrets_from_env(env) == [KEY]


@given(
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    cuts=st.lists(st.integers(0, 500), max_size=6),
)
@settings(max_examples=300)
def test_a_known_secret_never_survives_any_chunking(before: str, after: str, cuts: list[int]) -> None:
    r = Redactor([KEY])
    data = (before + KEY + after).encode()
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    stream = r.stream()
    out = "".join(stream.feed(c) for c in chunks) + stream.finish()
    assert KEY not in out
    assert not any(KEY[i : i + 16] in out for i in range(len(KEY) - 15))
    if "\r" not in before + after:
        # Parts of a line released at a \r keep the released start as context, and may redact
        # a little more than the whole text would; otherwise the stream is the text.
        assert out == r.text(data.decode("utf-8", errors="replace"))


def test_stream_releases_whole_lines_and_holds_the_unfinished_one() -> None:
    stream = Redactor([KEY]).stream()
    assert stream.feed(b"hello world\n") == "hello world\n"  # nothing to wait for
    assert stream.feed(b"progress 10%\rprogress 20%\r") == "progress 10%\rprogress 20%\r"
    assert stream.feed(b"key: sk-ijY") == ""  # the line is not finished: it could hold a secret
    assert stream.feed(b"E3q9wLmZp0aRt7uVx!\nnext") == f"key: {REDACTED}!\n"
    assert stream.feed("é".encode()[:1]) == ""  # half a UTF-8 character
    assert stream.feed("é\n".encode()[1:]) == "nexté\n"
    assert stream.finish() == ""


def test_stream_catches_a_shaped_token_split_across_chunks() -> None:
    token = "ghp_" + "a1B2c3D4e5" * 4
    stream = Redactor().stream()
    out = stream.feed(f"cloning with {token[:10]}".encode()) + stream.feed(f"{token[10:]} done\n".encode())
    assert out == f"cloning with {REDACTED} done\n"


def test_stream_holds_an_unterminated_private_key_across_lines() -> None:
    stream = Redactor().stream()
    out = stream.feed(b"key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n")
    out += stream.feed(b"IBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nafter\n")
    assert out == f"key:\n{REDACTED}\nafter\n"


def test_stream_bounds_what_it_holds() -> None:
    stream = Redactor().stream()
    out = stream.feed(b"x" * 100_000)  # one enormous line with no break
    assert len(out) >= 100_000 - 4096


def test_stream_does_not_release_a_key_block_whose_end_line_is_half_arrived() -> None:
    """Found by hypothesis: a chunk ending inside the END line made the block look closed."""
    block = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----"
    data = f"key file:\n{block}\ndone\n".encode()
    cut = data.index(b"KEY-----\ndone") + 5  # inside "-----END OPENSSH PRIVATE KEY-----"
    stream = Redactor().stream()
    out = stream.feed(data[:cut]) + stream.feed(data[cut:]) + stream.finish()
    assert out == f"key file:\n{REDACTED}\ndone\n"


def test_a_path_valued_credential_variable_is_not_a_known_secret() -> None:
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": "/secrets/sa.json",
        "SSH_KEY": "~/.ssh/id_ed25519",
        "KUBECONFIG_TOKEN": "./kube/token",
        "PI_KEY_ENV": "PI_API_KEY",
        "OPENAI_API_KEY": KEY,
        "DB_PASSWORD": "$ecretPa55",
    }
    assert sorted(secrets_from_env(env)) == sorted([KEY, "$ecretPa55"])


SPLIT_ITEMS = [
    ("--api-key qwertyuiop12345", "qwertyuiop12345"),
    ("OPENAI_API_KEY=abcdef123456xyz", "abcdef123456xyz"),
    ('"password": "pa55w0rd-long"', "pa55w0rd-long"),
    ("ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2, "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2),
    (f"key {KEY} here", KEY),
    ("curl -u bob:hunter22pw https://x", "hunter22pw"),
]


@given(
    item=st.sampled_from(SPLIT_ITEMS),
    at=st.integers(16 * 1024 - 64, 16 * 1024 + 64) | st.integers(0, 40_000),
    chunk=st.sampled_from([1000, 4096, 16 * 1024, 65536]),
    words=st.sampled_from(["word ", "x", "ab-cd ", "aaaa"]),
)
@settings(max_examples=150, deadline=None)
def test_no_token_or_name_value_is_split_by_the_release_of_a_long_line(item, at, chunk, words) -> None:
    """A line longer than the hold limit is released in parts; none of them ends inside a secret."""
    text, secret = item
    filler = words * (50_000 // len(words))
    line = filler[:at] + " " + text + " " + filler[at : at + 20_000] + "\n"
    data = line.encode()
    stream = Redactor([KEY]).stream()
    out = "".join(stream.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)) + stream.finish()
    assert secret not in out
    assert REDACTED in out


def test_known_secrets_with_regex_characters_and_non_ascii() -> None:
    r = Redactor(["p@ss.w*rd+123(x)", "ünïcödé-sécret-1"])
    assert r.text("use p@ss.w*rd+123(x) now; ünïcödé-sécret-1!") == f"use {REDACTED} now; {REDACTED}!"
    assert r.text("p@ss.wXrd+123(x)") == "p@ss.wXrd+123(x)"


def test_a_named_value_right_after_a_known_secret_is_found() -> None:
    """The prefilter's matches do not overlap: a known secret with a secret-sounding word in it
    ("-Secret-...") once hid the `password: x` that followed (found by the idempotence property)."""
    r = Redactor(["opaque-Secret-without-any-shape"])
    text = "opaque-Secret-without-any-shapeopaque-Secret-without-any-shape password: hunter22"
    assert r.text(text) == "[REDACTED] password: [REDACTED]"
    assert r.text(r.text(text)) == r.text(text)
