"""A sweep of real agent CLIs (the pinned ones CI installs) x 2 models of the scripted model
server x 2 tasks x 2 repeats, with workers, on this machine: stopped with Ctrl-C half way,
resumed, and its table equal to what its cells' traces say. (The same on Ray: test_sweep_ray.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cab_trace.sweep.state import read_cells
from tests.agents.conftest import agent_bin
from tests.conftest import run_cli
from tests.model_server import ScriptedModelServer
from tests.sweep.helpers import (
    KEY,
    REAL_AGENTS,
    agent_env,
    assert_no_key_in,
    assert_printed_table_is_the_traces,
    assert_summary_matches_traces,
    interrupt,
    real_agent_args,
    real_agent_tasks,
    start_sweep,
    states,
    wait_for,
)


@pytest.mark.slow
def test_a_sweep_of_real_agents_resumes_after_ctrl_c_and_adds_up(tmp_path: Path) -> None:
    bin_dir = next(agent_bin(a) for a in REAL_AGENTS)
    for agent in REAL_AGENTS:
        agent_bin(agent)
    out = tmp_path / "sweep"
    env = agent_env(tmp_path / "home", bin_dir)
    tasks = real_agent_tasks(tmp_path / "tasks")
    with ScriptedModelServer(expect_key=KEY) as server:
        args = [*real_agent_args(server.base_url, tasks, out, list(REAL_AGENTS)), "--workers", "2"]
        proc = start_sweep(*args, env=env, cwd=tmp_path)
        try:
            wait_for(lambda: states(out).count("done") >= 4, 240, "4 finished cells")
            interrupt(proc)
            _, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        stopped = read_cells(out / "cells.jsonl")
        assert len(stopped) == 24 and "running" not in {c["state"] for c in stopped}
        done_first = {c["run_dir"] for c in stopped if c["state"] == "done"}
        assert 4 <= len(done_first) < 24

        resumed = run_cli("sweep", "--out", str(out), "--workers", "2", env=env, cwd=tmp_path, timeout=900)
        assert resumed.returncode == 0, resumed.stderr
        assert f"ran {24 - len(done_first)} cell(s)" in resumed.stderr
        assert all(r.had_credential and r.credential_ok for r in server.requests)

    lines = read_cells(out / "cells.jsonl")
    assert [c["state"] for c in lines] == ["done"] * 24, [c.get("error") for c in lines]
    assert {c["run_dir"] for c in lines if c["attempts"] == 1} >= done_first  # finished cells kept
    # Every agent fixed the demo task; none can pass the loud one.
    for c in lines:
        assert c["passed"] is (c["task_id"] == "demo/fix-greeting"), c
        assert c["model_calls"] >= 1 and c["total_tokens"] > 0 and c["files_modified"] == ["greet.py"]
    assert {c["run_dir"].split("/")[1:3][0] for c in lines} == {"scripted-model", "vendor"}
    summary = json.loads((out / "summary.json").read_text())
    assert_summary_matches_traces(out, summary)
    # `show DIR --format json` holds the cells and the groups (and the sweep): the same numbers.
    by_task = run_cli("show", str(out), "--format", "json", "--group-by", "adapter,model,task")
    shown = json.loads(by_task.stdout)
    assert_summary_matches_traces(out, shown, by=("adapter", "model", "task_id"))
    assert [c["cell_id"] for c in shown["cells"]] == [c["cell_id"] for c in lines]
    assert_printed_table_is_the_traces(out, resumed.stdout, f"sweep {out.name}: 24 cells (24 done)")
    for group in summary["groups"]:
        assert group["cells"] == 4 and group["passed"] == 2 and group["pass_rate"] == 0.5
        assert group["tokens_per_correct_task"] == group["total_tokens"] / 2
    assert_no_key_in(out)
