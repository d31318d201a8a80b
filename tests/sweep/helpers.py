"""What the sweep tests share: tasks, a scripted agent, and the sweep's table recomputed from traces."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cab_trace.model import read_records
from cab_trace.sweep import summary as sweep_summary
from cab_trace.sweep.state import read_cells

ROOT = Path(__file__).resolve().parents[2]
DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"

#: An agent that does what its environment says: sleeps CAB_TEST_SLEEP_<task> seconds (if a
#: marker file exists), exits with CAB_TEST_EXIT, and writes a file.
AGENT = """
import os, pathlib, sys, time
task = os.environ.get("CAB_TASK_ID", "").replace("/", "_")
marker = os.environ.get("CAB_TEST_SLOW_IF")
if not marker or os.path.exists(marker):
    time.sleep(float(os.environ.get("CAB_TEST_SLEEP_" + task, "0")))
pathlib.Path("answer.txt").write_text("42\\n")
sys.exit(int(os.environ.get("CAB_TEST_EXIT_" + task, "0")))
"""


def make_task(root: Path, task_id: str, check: str | None = "test -f answer.txt") -> Path:
    path = root / task_id.replace("/", "_")
    path.mkdir(parents=True)
    body = f'id = "{task_id}"\nprompt = "write the answer"\n'
    if check:
        body += f'check = "{check}"\n'
    (path / "task.toml").write_text(body)
    (path / "README").write_text("the answer is 42\n")
    return path


def write_agent(root: Path) -> Path:
    path = root / "agent.py"
    path.write_text(AGENT)
    return path


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cab_trace", "sweep", *args]


def start_sweep(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        sweep_cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def states(sweep_dir: Path) -> list[str]:
    try:
        return [line.get("state", "") for line in read_cells(sweep_dir / "cells.jsonl")]
    except Exception:  # read while being replaced: the next poll sees it
        return []


def processes_mentioning(marker: str) -> list[int]:
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                out.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [p for p in out if p != os.getpid()]


def interrupt(proc: subprocess.Popen[str], times: int = 1, gap: float = 0.3) -> None:
    for i in range(times):
        if i:
            time.sleep(gap)
        proc.send_signal(signal.SIGINT)


# -- the sweep's numbers, recomputed from its cells' traces -----------------------------------


def recompute_groups(
    sweep_dir: Path, by: Sequence[str] = ("adapter", "model")
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Per group, from the spans of each done cell's trace and nothing else: cells, done, passed of
    checked, the median wall, total tokens (None when a call had no usage), model calls, failed
    calls and timeouts. Deliberately not cab_trace.model.axes: an independent reading."""
    lines = read_cells(sweep_dir / "cells.jsonl")
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for line in lines:
        key = tuple("" if line.get(a) is None else str(line.get(a)) for a in by)
        g = groups.setdefault(
            key,
            {
                "cells": 0,
                "done": 0,
                "checked": 0,
                "passed": 0,
                "walls": [],
                "tokens": 0,
                "calls": 0,
                "failed_calls": 0,
                "timeouts": 0,
                "unknown_tokens": 0,
            },
        )
        g["cells"] += 1
        if line.get("state") != "done":
            continue
        g["done"] += 1
        records = list(read_records(sweep_dir / line["run_dir"]))
        run = next(r for r in records if r.kind == "run")
        if isinstance(run.attributes.get("check_passed"), bool):
            g["checked"] += 1
            g["passed"] += run.attributes["check_passed"] is True
        g["walls"].append((run.end_time_unix_nano - run.start_time_unix_nano) / 1e6)
        calls = [r for r in records if r.kind == "model_call"]
        g["calls"] += len(calls)
        g["failed_calls"] += sum(1 for r in calls if r.status.code == "ERROR")
        usage = [
            (r.attributes.get("gen_ai.usage.input_tokens"), r.attributes.get("gen_ai.usage.output_tokens"))
            for r in calls
            if r.status.code != "ERROR"
        ]
        observed = bool(calls) or isinstance(run.attributes.get("model_calls"), int)
        if not observed or any(i is None and o is None for i, o in usage):
            g["unknown_tokens"] += 1
        else:
            g["tokens"] += sum((i or 0) + (o or 0) for i, o in usage)
        containers = [r for r in records if r.kind == "container"]
        g["timeouts"] += any(r.attributes.get("timed_out") is True for r in containers)
    for g in groups.values():
        g["wall_median_ms"] = statistics.median(g["walls"]) if g["walls"] else None
        g["total_tokens"] = None if g["unknown_tokens"] or not g["done"] else g["tokens"]
    return groups


def assert_summary_matches_traces(
    sweep_dir: Path, summary: Mapping[str, Any], by: Sequence[str] = ("adapter", "model")
) -> None:
    """summary.json's groups say what the traces say."""
    expected = recompute_groups(sweep_dir, by)
    got = {tuple(g["key"][a] for a in by): g for g in summary["groups"]}
    assert set(got) == set(expected)
    for key, want in expected.items():
        g = got[key]
        assert g["cells"] == want["cells"] and g["done"] == want["done"], key
        assert (g["checked"], g["passed"]) == (want["checked"], want["passed"]), key
        assert g["timeouts"] == want["timeouts"], key
        if want["wall_median_ms"] is None:
            assert g["wall_median_ms"] is None
        else:
            assert abs(g["wall_median_ms"] - want["wall_median_ms"]) < 0.01, key
        assert g["total_tokens"] == want["total_tokens"], key
        if want["calls"]:
            assert (g["model_calls"], g["model_calls_failed"]) == (want["calls"], want["failed_calls"]), key
        if want["total_tokens"] and want["passed"]:
            assert abs(g["tokens_per_correct_task"] - want["total_tokens"] / want["passed"]) < 1e-6


def assert_printed_table_is_the_traces(
    sweep_dir: Path, printed: str, headline: str, by: Sequence[str] = ("adapter", "model")
) -> None:
    """What `cab-trace sweep` printed at its end is `show SWEEPDIR --only groups`: the sweep's
    headline, then the groups, whose numbers are what the cells' traces say (recomputed here)."""
    from tests.conftest import run_cli

    axes = ",".join(by)
    shown = run_cli("show", str(sweep_dir), "--only", "groups", "--group-by", axes)
    assert shown.returncode == 0, shown.stderr
    assert printed.strip() == shown.stdout.strip()
    as_json = run_cli("show", str(sweep_dir), "--only", "groups", "--format", "json", "--group-by", axes)
    doc = json.loads(as_json.stdout)
    assert_summary_matches_traces(sweep_dir, doc, by)
    groups = [sweep_summary.GroupSummary(**g) for g in doc["groups"]]
    assert printed.strip().split("\n") == [
        headline,
        "by " + " \u00d7 ".join(by),
        *sweep_summary.render(groups, "table").split("\n"),
    ]
    # `show SWEEPDIR` prints the cells first, then the very same groups.
    full = run_cli("show", str(sweep_dir), "--group-by", axes).stdout
    assert full.rstrip().endswith("\n\n" + printed.strip())
    assert len(doc["sweeps"]) == 1 and doc["sweeps"][0]["cells"] == len(read_cells(sweep_dir / "cells.jsonl"))


# -- real agents against the scripted model server ---------------------------------------------

#: The three fastest of the CLIs CI installs (tests/agents/), one per wire format: Chat
#: Completions (pi), Responses (codex), Anthropic Messages (claude, whose endpoint has no /v1).
REAL_AGENTS = {"pi": "/v1", "codex": "/v1", "claude": ""}
MODELS = ("scripted-model", "vendor/scripted-model-2")  # a model id with a '/', as on the results pages
KEY = "sk-cabtrace-sweeptest-Hq3vW8xR5tY7uI9oP2dF"


def real_agent_tasks(root: Path) -> list[Path]:
    """The demo task, and a copy whose check the scripted fix does not pass (so not every cell passes)."""
    import shutil

    a = root / "demo-a"
    shutil.copytree(DEMO_TASK, a)
    b = root / "demo-b"
    shutil.copytree(DEMO_TASK, b)
    (b / "task.toml").write_text(
        'id = "demo/fix-greeting-loudly"\ncategory = "demo"\n'
        'prompt = "greet() forgets the exclamation mark; fix it so that the tests pass"\n'
        "check = \"grep -q 'Hello, {name}!!' greet.py\"\n"
    )
    return [a, b]


def real_agent_args(base_url: str, tasks: Sequence[Path], out: Path, agents: Sequence[str]) -> list[str]:
    args: list[str] = []
    for agent in agents:
        args += ["--adapter", agent, "--endpoint", f"{agent}={base_url}{REAL_AGENTS[agent]}"]
    for model in MODELS:
        args += ["--model", model]
    for task in tasks:
        args += ["--task", str(task)]
    return [*args, "--repeats", "2", "--timeout", "120", "--out", str(out)]


def agent_env(home: Path, bin_dir: Path) -> dict[str, str]:
    """The environment of the agents: a home of their own, the pinned CLIs first on PATH, the key."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CAB_KEY": KEY}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "OPENAI_API_KEY",
                 "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):  # fmt: skip
        env[name] = ""
    return env


def assert_no_key_in(root: Path, key: str = KEY) -> None:
    hits = [p for p in root.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert not hits, hits
