"""The redaction corpus: every secret gone, every benign look-alike unchanged byte for byte.

The tokens here are made up; they have the shapes of real ones (prefixes, lengths,
alphabets) so the rules are tested on what they will meet.
"""

from __future__ import annotations

import pytest

from cab_trace.redact import REDACTED, Redactor

R = REDACTED
OPENAI = "sk-ijYE3q9wLmZp0aRt7uVxT3BlbkFJa8Kd2Lq"
OPENAI_PROJ = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Q-7"
ANTHROPIC = "sk-ant-api03-R2D2C3P0beepBOOPbuzzWHIRR_click-SPIN1234567890abcdefAA"
OPENROUTER = "sk-or-v1-" + "0123456789abcdef" * 4
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
GITHUB_PAT = "github_pat_11ABCDEFG0" + "x" * 40 + "_Y2z"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GOOGLE = "AIzaSyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6"
HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
NVIDIA = "nvapi-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zQ-7_x"
STRIPE = "sk_live_51HaBcDeFgHiJkLmNoPqRsTuV"
GROQ = "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"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\nAAAAEbm9uZQ==\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
KNOWN = "opaque-Secret-without-any-shape"

# (input, expected) for Redactor.text
SECRET_TEXT = [
    (f"using key {OPENAI}", f"using key {R}"),
    (f"key={OPENAI_PROJ}.", f"key={R}."),
    (f"ANTHROPIC: {ANTHROPIC}", f"ANTHROPIC: {R}"),
    (f"router {OPENROUTER}", f"router {R}"),
    (f"git clone https://{GITHUB}@github.com/o/r", f"git clone https://{R}@github.com/o/r"),
    (f"GH={GITHUB_PAT}", f"GH={R}"),
    (f"aws id {AWS_ID} in use", f"aws id {R} in use"),
    (f"aws_secret_access_key = {AWS_SECRET}", f"aws_secret_access_key = {R}"),
    (f'"SecretAccessKey": "{AWS_SECRET}"', f'"SecretAccessKey": "{R}"'),
    (f"slack {SLACK}", f"slack {R}"),
    (f"?key={GOOGLE}&q=1", f"?key={R}&q=1"),
    (f"maps {GOOGLE}", f"maps {R}"),
    (f"HF_TOKEN={HF}", f"HF_TOKEN={R}"),
    (f"login {HF}", f"login {R}"),
    (f"nim key {NVIDIA}", f"nim key {R}"),
    (f"stripe {STRIPE}", f"stripe {R}"),
    (f"groq={GROQ}", f"groq={R}"),
    (f"token {JWT} expires", f"token {R} expires"),
    (f"Authorization: Bearer {OPENAI}", f"Authorization: Bearer {R}"),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", f"authorization: Basic {R}"),
    ("curl -H 'Authorization: token abc123def456' x", f"curl -H 'Authorization: token {R}' x"),
    ("x-api-key: k-live-19fa0c7e", f"x-api-key: {R}"),
    ("X-Auth-Token: 7f3a9c2e1b", f"X-Auth-Token: {R}"),
    ("Bearer abcdefghijklmnopqrstuvwxyz012345", f"Bearer {R}"),
    ("https://bob:hunter2@git.example.com/r.git", f"https://bob:{R}@git.example.com/r.git"),
    ("postgres://app:s3cr3t!pw@db:5432/x", f"postgres://app:{R}@db:5432/x"),
    (f"key file:\n{PEM}\ndone", f"key file:\n{R}\ndone"),
    ("export OPENAI_API_KEY=abc123def456ghi && aider", f"export OPENAI_API_KEY={R} && aider"),
    ("bash -c 'OPENAI_API_KEY=zz9yy8xx7ww6 aider --yes'", f"bash -c 'OPENAI_API_KEY={R} aider --yes'"),
    ('docker run -e ANTHROPIC_API_KEY="q1w2e3r4t5y6" img', f'docker run -e ANTHROPIC_API_KEY="{R}" img'),
    ("DB_PASSWORD='correct horse battery'", f"DB_PASSWORD='{R}'"),
    ('{"api_key": "plainvalue99", "model": "m"}', f'{{"api_key": "{R}", "model": "m"}}'),
    ('{"password":"pa55w0rd"}', f'{{"password":"{R}"}}'),
    ("client_secret: abcdEFGH1234", f"client_secret: {R}"),
    ("password: hunter22", f"password: {R}"),
    ("aider --openai-api-key zzTop1234 --yes", f"aider --openai-api-key {R} --yes"),
    ("pi --api-key=abcd1234efgh --print", f"pi --api-key={R} --print"),
    ("myapp --client-secret 'two words'", f"myapp --client-secret '{R}'"),
    (f"the key is {KNOWN}!", f"the key is {R}!"),
    (f"{KNOWN}{KNOWN}", f"{R}"),
]

# Benign look-alikes: unchanged byte for byte.
BENIGN_TEXT = [
    "image sha256:272792a5fb41b2290cf7f75c094471fc9bc9933cefdb77c68c5122bbfa2044e6",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 (HEAD -> main)",
    "run id 123e4567-e89b-12d3-a456-426614174000",
    "model stepfun-ai/step-3.5-flash and openai/gpt-4o-mini-2024-07-18",
    "/home/runner/.cache/pip/wheels/ab/cd/0123456789abcdef0123456789abcdef",
    '"integrity": "sha512-9DU7dhSQ+RXvwEn6wHx2k3nYiPwFymLHnlIsyeYKeVQkNzQ+1pB4nw0JsC3HXQ=="',
    "test_api_key_is_required PASSED [ 42%]",
    "5 passed, 1 skipped in 0.12s",
    "--max-tokens 4096 --tokenizer cl100k --token-limit 8000",
    "token usage: 1234 prompt tokens, 567 completion tokens",
    "sort_key=name primary_key=id cache_key=v2",
    "Key: the function returns early on error",
    "The password must be at least 12 characters.",
    "if token == expected: return",
    "api_key=$OPENAI_API_KEY aider --api-key ${CAB_KEY}",
    'api_key = os.environ["OPENAI_API_KEY"]',
    "OPENAI_API_KEY=<your key here>",
    "password: ********",
    "auth: none",
    "ssh git@github.com:org/repo.git",
    "https://user@example.com/path",
    "sk-learn is not a package name; use scikit-learn",
    "risk-assessment-framework-for-agents",
    "the AKIA prefix marks AWS access key ids",
    "Authorization header missing",
    "TOKENIZERS_PARALLELISM=false MAX_TOKENS=4096 API_KEY_FILE=/run/secrets/key",
    "[REDACTED] stays [REDACTED]",
    "eyJhbGciOiJIUzI1NiJ9 alone is only a header",
    "Bearer of bad news",
    "fn main() { let key = map.get(&k); }",
]

SECRET_ARGV = [
    (["--print", "--api-key", OPENAI, "prompt"], ["--print", "--api-key", R, "prompt"]),
    (["--api-key=" + OPENAI], ["--api-key=" + R]),
    (["--token", "abcdef123"], ["--token", R]),
    (["--password", "pw12"], ["--password", R]),
    (["--auth-token", "t0k3n-value"], ["--auth-token", R]),
    (["--access-token", "at-123456"], ["--access-token", R]),
    (["--client-secret", "cs-abcdef"], ["--client-secret", R]),
    (["--openai-api-key", "zz99yy88"], ["--openai-api-key", R]),
    (["--anthropic-api-key", "a1b2c3d4"], ["--anthropic-api-key", R]),
    (["--apiKey", "camel123"], ["--apiKey", R]),
    (["--api_key", "snake123"], ["--api_key", R]),
    (["-e", "OPENAI_API_KEY=envvalue1"], ["-e", f"OPENAI_API_KEY={R}"]),
    (["bash", "-c", "OPENAI_API_KEY=zz9yy8xx7 aider"], ["bash", "-c", f"OPENAI_API_KEY={R} aider"]),
    (["--header", f"Authorization: Bearer {OPENAI}"], ["--header", f"Authorization: Bearer {R}"]),
    (["--model", "m", KNOWN], ["--model", "m", R]),
]

BENIGN_ARGV = [
    ["--max-tokens", "4096", "--tokenizer", "cl100k", "--token-limit", "8000"],
    ["--no-session", "--offline", "--provider", "nim"],
    ["--api-key", "$OPENAI_API_KEY"],
    ["--key", "sort", "--secret-env", "MY_SECRET", "--key-env", "CAB_KEY"],
    ["--api-key", "--model", "m"],
    ["git", "checkout", "9fceb02d0ae598e95dc970b74767f19372d61af8"],
]

SECRET_ENV = [
    ({"OPENAI_API_KEY": "anything", "MODEL": "m"}, {"OPENAI_API_KEY": R, "MODEL": "m"}),
    ({"GITHUB_TOKEN": "x"}, {"GITHUB_TOKEN": R}),
    ({"DB_PASSWORD": "pw", "PGHOST": "db"}, {"DB_PASSWORD": R, "PGHOST": "db"}),
    ({"EXTRA": f"key {OPENAI}"}, {"EXTRA": f"key {R}"}),
]

BENIGN_ENV = [
    {"MAX_TOKENS": "4096", "TOKENIZERS_PARALLELISM": "false", "PATH": "/usr/bin", "PWD": "/work/dir"},
    # A path to a credentials file says where a secret is; it is not one.
    {"GOOGLE_APPLICATION_CREDENTIALS": "/secrets/sa.json", "SSH_KEY": "~/.ssh/id_ed25519"},
    {"API_KEY_FILE": "/run/secrets/key", "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.1", "OPENAI_API_KEY": "${KEY}"},
]


def _id(value: object) -> str:
    return repr(value)[:60]


@pytest.fixture(scope="module")
def r() -> Redactor:
    return Redactor([KNOWN])


@pytest.mark.parametrize(("text", "expected"), SECRET_TEXT, ids=[_id(t) for t, _ in SECRET_TEXT])
def test_secret_text(r: Redactor, text: str, expected: str) -> None:
    assert r.text(text) == expected


@pytest.mark.parametrize("text", BENIGN_TEXT, ids=[_id(t) for t in BENIGN_TEXT])
def test_benign_text_is_untouched(r: Redactor, text: str) -> None:
    assert r.text(text) == text
    assert r.findings(text) == []


@pytest.mark.parametrize(("argv", "expected"), SECRET_ARGV, ids=[_id(a) for a, _ in SECRET_ARGV])
def test_secret_argv(r: Redactor, argv: list[str], expected: list[str]) -> None:
    assert r.argv(argv) == expected
    assert r.value(argv) == expected  # list attributes get argv treatment in spans too


@pytest.mark.parametrize("argv", BENIGN_ARGV, ids=[_id(a) for a in BENIGN_ARGV])
def test_benign_argv_is_untouched(r: Redactor, argv: list[str]) -> None:
    assert r.argv(argv) == argv


@pytest.mark.parametrize(("env", "expected"), SECRET_ENV, ids=[_id(e) for e, _ in SECRET_ENV])
def test_secret_env(r: Redactor, env: dict[str, str], expected: dict[str, str]) -> None:
    assert r.env(env) == expected


@pytest.mark.parametrize("env", BENIGN_ENV, ids=[_id(e) for e in BENIGN_ENV])
def test_benign_env_is_untouched(r: Redactor, env: dict[str, str]) -> None:
    assert r.env(env) == env


def test_the_corpus_is_big_enough() -> None:
    total = (
        len(SECRET_TEXT)
        + len(BENIGN_TEXT)
        + len(SECRET_ARGV)
        + len(BENIGN_ARGV)
        + len(SECRET_ENV)
        + len(BENIGN_ENV)
    )
    assert total >= 60


def test_findings_name_the_most_specific_rule_once_per_secret(r: Redactor) -> None:
    text = f"{OPENAI} {GITHUB} {KNOWN} Authorization: Bearer {HF} Authorization: Basic dXNlcjpwYXNz"
    assert [f.rule for f in r.findings(text)] == [
        "openai-api-key",
        "github-token",
        "known-secret",
        "huggingface-token",
        "authorization-header",
    ]
