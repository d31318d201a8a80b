"""A scripted stand-in for a coding agent: no LLM, no network.

It behaves like one from the outside: takes --api-key/--model and a prompt, prints its
progress over a few seconds (including, carelessly, its key, which cab-trace must redact),
edits a file in its working directory and runs the task's tests.

    python scripted_agent.py --api-key KEY --model MODEL [--pace SECONDS] PROMPT
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def step(message: str, pace: float) -> None:
    print(message, flush=True)
    time.sleep(pace)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--pace", type=float, default=0.5)
    parser.add_argument("prompt")
    args = parser.parse_args()

    step(f"scripted-agent 1.0  model={args.model}", args.pace)
    step(f"auth: using key {args.api_key}", args.pace)
    step(f"task: {args.prompt}", args.pace)
    files = sorted(p.name for p in Path.cwd().iterdir() if p.is_file())
    step(f"reading {len(files)} files: {', '.join(files)}", args.pace)
    step("thinking: greet() builds the string without a trailing '!'", args.pace * 2)
    source = Path("greet.py")
    source.write_text(source.read_text().replace('{name}"', '{name}!"'))
    step("edit: greet.py (+1 -1)", args.pace)
    print("running tests: python3 -m unittest -q test_greet", flush=True)
    result = subprocess.run([sys.executable, "-m", "unittest", "-q", "test_greet"], check=False)
    if result.returncode != 0:
        print("tests failed", file=sys.stderr, flush=True)
        return 1
    step("done: 1 file changed, tests pass", args.pace / 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
