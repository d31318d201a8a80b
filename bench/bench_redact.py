"""Redaction throughput on realistic generated agent output (``bench/agent_output.py``: code in
five languages, build and test logs, diffs, lockfiles, minified JS, JSON tool traffic; not one
transcript repeated) with no secrets and with one every 100 KB, and recording 100 MB of it end
to end through ``cab-trace run``; the old 15-line transcript rows stay for comparison; and a
full-screen agent's output (a colour or cursor code every few characters).

Baseline: replacing the known secrets alone with one compiled pattern, the least any
redactor must do. The ratio says what the context and shape rules, the screen view and the
prefilter cost on top. Targets (issue 22): >= 200 MB/s on the generated output with no
secrets; recording a 100 MB agent output at >= 100 MB/s end to end.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.agent_output import corpus, digest, with_secrets
from bench.common import Figure, median_seconds
from cab_trace.redact import REDACTED, Redactor

KEY = "sk-proj-Zq81xWlPA0cR5nTu2Ye7bench0451"

_LINES = [
    "Running tests: python -m pytest -q tests/test_parser.py",
    "tests/test_parser.py::test_parses_empty_input PASSED                         [ 12%]",
    "diff --git a/src/parser.py b/src/parser.py",
    "@@ -12,7 +12,9 @@ def parse(tokens: list[Token]) -> Node:",
    "-    value = int(token.text)",
    "+    try:\n+        value = int(token.text)\n+    except ValueError as exc:\n"
    "+        raise ParseError(token) from exc",
    '{"tool": "edit_file", "path": "src/lib.rs", "old": "unwrap()", "new": "?"}',
    "Thinking: the function uses unwrap on user input; propagate the Result instead.",
    "model=stepfun-ai/step-3.5-flash tokens_in=1234 tokens_out=567 max_tokens=4096 latency_ms=812",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "image sha256:272792a5fb41b2290cf7f75c094471fc9bc9933cefdb77c68c5122bbfa2044e6",
    "    Compiling serde v1.0.203",
    "error[E0308]: mismatched types --> src/lib.rs:42:17 expected `Result<u32, Error>`, found `u32`",
    "GET https://api.example.com/v1/models 200 OK (trace 4bf92f3577b34da6a3ce929d0e0e4736)",
    "warning: unused variable: `x` = note: `#[warn(unused_variables)]` on by default",
]
_SECRETS = [
    f"auth: using key {KEY}",
    "export OPENAI_API_KEY=abc123def456ghi789",
    "curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345' https://api",
    "clone https://bob:hunter2@git.example.com/r.git",
    '{"api_key": "plainvalue99"}',
]


def transcript(size: int, secret_every: int | None, seed: int = 7) -> str:
    """~``size`` characters of agent output; a secret-bearing line every ``secret_every`` chars."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = since_secret = 0
    while total < size:
        line = rng.choice(_LINES)
        if secret_every is not None and since_secret >= secret_every:
            line, since_secret = rng.choice(_SECRETS), 0
        parts.append(line)
        total += len(line) + 1
        since_secret += len(line) + 1
    return "\n".join(parts) + "\n"


def tty_transcript(size: int, seed: int = 11) -> str:
    """~``size`` characters as a full-screen agent draws them: colours, cursor moves, redraws."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        line = rng.choice(_LINES)
        row = rng.randint(1, 40)
        words = line.split(" ")
        drawn = "".join(f"\x1b[{rng.choice((0, 1, 32, 33, 36))}m{w} " for w in words)
        chunk = f"\x1b[{row};1H\x1b[2K{drawn}\x1b[0m\r\n"
        parts.append(chunk)
        total += len(chunk)
    return "".join(parts)


def _stream(redactor: Redactor, data: bytes) -> None:
    stream = redactor.stream()
    for i in range(0, len(data), 65536):
        stream.feed(data[i : i + 65536])
    stream.finish()


def generated(quick: bool) -> list[Figure]:
    """The realistic rows: generated agent output, with no secret and with one every 100 KB."""
    size = 4_000_000 if quick else 20_000_000
    repeat = 3 if quick else 5
    redactor = Redactor([KEY])
    known_only = re.compile(re.escape(KEY))
    clean = corpus(size)
    redactor.text(clean[:2_000_000])  # RE2 builds its DFA's states as it meets text: warm it once
    figures = []
    for label, text in (("no secrets", clean), ("a secret every 100 KB", with_secrets(clean, 100_000)[0])):
        data = text.encode()
        mb = len(data) / 1e6
        ours, base = median_seconds(
            lambda d=data: _stream(redactor, d), lambda t=text: known_only.sub(REDACTED, t), repeat
        )
        figures.append(
            Figure(
                f"redact stream, generated agent output, {label} ({mb:.0f} MB, corpus {digest(clean)})",
                "MB/s",
                mb / ours,
                mb / base,
                "known-secret replace only",
                target=">= 200 MB/s" if label == "no secrets" else "",
                note="higher is better; bench/agent_output.py, seed 22",
            )
        )
    figures.append(_fresh(redactor, known_only, size, repeat))
    return figures


def _fresh(redactor: Redactor, known_only: re.Pattern[str], size: int, repeat: int) -> Figure:
    """The rows above run over the same text again and again, so RE2's DFA has met that very text
    (it builds its states as it meets text). A recording never repeats itself: here each run
    redacts text of another seed, which the redactor has not seen."""
    texts = [corpus(size, seed=100 + i).encode() for i in range(repeat)]
    ours: list[float] = []
    base: list[float] = []
    for data in texts:
        for target, into in (
            (lambda d=data: _stream(redactor, d), ours),
            (lambda d=data: known_only.sub(REDACTED, d.decode()), base),
        ):
            start = time.perf_counter()
            target()
            into.append(time.perf_counter() - start)
    mb = sum(len(d) for d in texts) / len(texts) / 1e6
    return Figure(
        f"redact stream, generated agent output, no secrets, text not seen before ({mb:.0f} MB)",
        "MB/s",
        mb / statistics.median(ours),
        mb / statistics.median(base),
        "known-secret replace only",
        note="each run on a corpus of another seed (100, 101, ...)",
    )


def recording(quick: bool) -> list[Figure]:
    """`cab-trace run` of an agent that prints the generated output (100 MB), end to end, against
    the same agent writing to /dev/null."""
    size = 20_000_000 if quick else 100_000_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "out.txt").write_text(corpus(size))
        task = root / "task"
        task.mkdir()
        (task / "task.toml").write_text('id = "bench/print"\nprompt = "print"\n')
        script = f"cat {root / 'out.txt'}"
        counter = iter(range(100))

        def ours(secret: bool = False) -> None:
            cmd = [sys.executable, "-m", "cab_trace", "run", "-q", "--adapter", "command", "--task", str(task),  # noqa: E501
                   "--out", str(root / f"run-{next(counter)}")]  # fmt: skip
            # A real agent run always has a known secret (the model's key): then the run ends with
            # the leak check, which reads every file of the run directory again.
            cmd += ["--secret-env", "CAB_BENCH_KEY"] if secret else []
            env = {**os.environ, "CAB_BENCH_KEY": KEY} if secret else None
            cmd += ["--", "sh", "-c", script]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

        def base() -> None:
            subprocess.run(["sh", "-c", script], check=True, stdout=subprocess.DEVNULL)  # noqa: S607

        took, baseline = median_seconds(ours, base, 1 if quick else 3)
        took_known, baseline_known = median_seconds(lambda: ours(secret=True), base, 1 if quick else 3)
    mb = size / 1e6
    return [
        Figure(
            f"record a {mb:.0f} MB generated agent output (cab-trace run)",
            "MB/s",
            mb / took,
            mb / baseline,
            "same agent, output to /dev/null",
            target=">= 100 MB/s",
            note="end to end: start, redaction, cast, tails (no known secret: no leak check)",
        ),
        Figure(
            f"record a {mb:.0f} MB generated agent output with a known secret (cab-trace run --secret-env)",
            "MB/s",
            mb / took_known,
            mb / baseline_known,
            "same agent, output to /dev/null",
            note="end to end, and the leak check of the run directory",
        ),
    ]


def run(quick: bool = False) -> list[Figure]:
    figures = [*generated(quick), *recording(quick), *transcript_rows(quick)]
    return figures


def transcript_rows(quick: bool = False) -> list[Figure]:
    size = 2_000_000 if quick else 10_000_000
    repeat = 3 if quick else 5
    redactor = Redactor([KEY])
    known_only = re.compile(re.escape(KEY))
    figures = []
    for label, every in (("no secrets", None), ("a secret every 4 KB", 4096)):
        text = transcript(size, every)
        mb = len(text.encode()) / 1e6
        ours, base = median_seconds(
            lambda t=text: redactor.text(t), lambda t=text: known_only.sub(REDACTED, t), repeat
        )
        figures.append(
            Figure(
                f"redact text, 15-line transcript repeated, {label} ({mb:.0f} MB)",
                "MB/s",
                mb / ours,
                mb / base,
                "known-secret replace only",
                target=">= 200 MB/s" if every is None else "",
                note="higher is better",
            )
        )
        data = text.encode()

        def streamed(d: bytes = data) -> None:
            stream = redactor.stream()
            for i in range(0, len(d), 65536):
                stream.feed(d[i : i + 65536])
            stream.finish()

        ours, base = median_seconds(streamed, lambda t=text: known_only.sub(REDACTED, t), repeat)
        figures.append(
            Figure(
                f"redact stream 64 KiB chunks, {label}",
                "MB/s",
                mb / ours,
                mb / base,
                "known-secret replace only",
                target=">= 200 MB/s" if every is None else "",
                note="higher is better",
            )
        )
    # Without RE2 the prefilter's one pattern runs on `re`: what the dependency buys.
    text = transcript(size, None)
    mb = len(text.encode()) / 1e6
    fallback = Redactor([KEY], engine="re")
    ours, base = median_seconds(
        lambda t=text: fallback.text(t), lambda t=text: known_only.sub(REDACTED, t), repeat
    )
    figures.append(
        Figure(
            "redact text, no secrets, prefilter on re (no RE2)",
            "MB/s",
            mb / ours,
            mb / base,
            "known-secret replace only",
            note="the fallback when google-re2 is missing",
        )
    )
    # A full-screen agent: every line has colour and cursor codes, so every line gets the screen view.
    tty = tty_transcript(size // 5)
    data = tty.encode()
    mb = len(data) / 1e6

    def streamed_tty(d: bytes = data) -> None:
        stream = redactor.stream()
        for i in range(0, len(d), 65536):
            stream.feed(d[i : i + 65536])
        stream.finish()

    ours, base = median_seconds(streamed_tty, lambda t=tty: known_only.sub(REDACTED, t), repeat)
    figures.append(
        Figure(
            f"redact stream, full-screen agent output ({mb:.0f} MB)",
            "MB/s",
            mb / ours,
            mb / base,
            "known-secret replace only",
            note="every line through the screen view",
        )
    )
    return figures
