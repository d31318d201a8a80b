"""`cab-trace compare` on two real runs of the same agent CLI (pi) against two scripted "models":
one fixes the task in the usual calls, the other reads the file twice more first and answers
slower. The comparison must count each run's calls as the model server answered them, match the
tool steps, and say the difference went to model calls. Only the model is a stand-in."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.agents.conftest import ROOT, agent_bin
from tests.agents.test_real_agents import KEY
from tests.conftest import run_cli
from tests.model_server import Reply, ScriptedModelServer, _find, _Tool, _workdir_in

DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"
CHAT = "/v1/chat/completions"


class HesitantModel(ScriptedModelServer):
    """Reads the file ``extra_reads`` more times before the usual script, ``delay_s`` per answer."""

    def __init__(self, extra_reads: int, delay_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extra_reads = extra_reads
        self.delay_s = delay_s

    def _decide(self, tools: list[_Tool], system: str, tool_results: list[str]) -> Reply:
        time.sleep(self.delay_s)
        read = _find(tools, ("read", "read_file", "view"))
        if read is not None and len(tool_results) < self.extra_reads:
            workdir = _workdir_in(system)
            path = f"{workdir.rstrip('/')}/{self.fix.path}" if workdir else self.fix.path
            return Reply(tool_call=read.call({read.path_arg(): path}, "Read it once more"))
        return super()._decide(tools, system, tool_results[self.extra_reads :])


def _run(tmp_path: Path, name: str, server: ScriptedModelServer, model: str) -> Path:
    bin_dir = agent_bin("pi")
    home = tmp_path / f"home-{name}"
    home.mkdir()
    env = {"HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CAB_KEY": KEY}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "OPENAI_API_KEY"):
        env[var] = ""
    out = tmp_path / "runs" / name
    result = run_cli(
        "run", "--adapter", "pi", "--model", model, "--endpoint", server.url,
        "--task", str(DEMO_TASK), "--out", str(out), "--timeout", "120",
        env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def _names(steps: Sequence[dict[str, Any]], side: str) -> list[str]:
    return [s[side]["name"] for s in steps if s[side] is not None]


@pytest.mark.slow
def test_compare_two_real_runs_of_one_agent_with_two_models(tmp_path: Path) -> None:
    with ScriptedModelServer(expect_key=KEY) as plain:
        a = _run(tmp_path, "a", plain, "scripted-model")
    with HesitantModel(extra_reads=2, delay_s=0.4, expect_key=KEY) as hesitant:
        b = _run(tmp_path, "b", hesitant, "scripted-hesitant")
    answered_a, answered_b = len(plain.requests_to(CHAT)), len(hesitant.requests_to(CHAT))
    assert answered_b == answered_a + 2

    result = run_cli("compare", str(a), str(b), "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    na, nb = doc["a"]["numbers"], doc["b"]["numbers"]
    assert (na["model_calls"], nb["model_calls"]) == (answered_a, answered_b)
    assert len(doc["model_calls"]) == answered_b
    assert all(pair["a"] is None for pair in doc["model_calls"][answered_a:])
    assert (na["model"], nb["model"]) == ("scripted-model", "scripted-hesitant")
    # B's answers each waited 0.4 s more, and there were two more of them.
    calls = next(p for p in doc["phases"] if p["key"] == "model calls")
    assert (calls["a_count"], calls["b_count"]) == (answered_a, answered_b)
    # Each of B's answers waits 0.4 s before it starts: B's call time holds at least that, and
    # more than A's (whose own latency, on a busy machine, can exceed B's remainder: no tighter).
    assert calls["b_ms"] >= 0.4 * 1000 * answered_b
    assert calls["diff_ms"] > 0
    assert doc["headline"].startswith("B was ") and " slower than A " in doc["headline"]
    assert doc["headline"].endswith(f"more in model calls, {answered_b} calls against {answered_a}.")
    # Tool steps matched in order: B read the file twice more before the same read and edit.
    steps_a, steps_b = _names(doc["tool_steps"], "a"), _names(doc["tool_steps"], "b")
    assert steps_b == ["read", "read", *steps_a]
    # Tokens add up to what each call reported; both fixed the same file and passed.
    assert na["input_tokens"] == sum(p["a"]["input_tokens"] for p in doc["model_calls"] if p["a"])
    assert doc["changes"]["a"]["files_modified"] == doc["changes"]["b"]["files_modified"] == ["greet.py"]
    assert na["passed"] is True and nb["passed"] is True

    # The table says the same, and names the runs as given.
    table = run_cli("compare", str(a), str(b))
    assert table.returncode == 0
    assert doc["headline"] in table.stdout and str(a) in table.stdout
    # And as two cells of the directory holding both runs.
    cells = run_cli("compare", str(tmp_path / "runs"), "a", "b", "--format", "json")
    assert json.loads(cells.stdout)["phases"] == doc["phases"]
