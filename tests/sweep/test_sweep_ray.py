"""`cab-trace sweep --executor ray` on a real Ray cluster: a head and more nodes, each a
`ray start --block` process on 127.0.0.1 (in a loopback-only network namespace, see
ray_cluster.py), started here and stopped by process id, never `ray stop`.

Small on purpose (one CPU per node, 100 MB object stores, one module, one cluster for the
module): Ray is heavy on a 2-core machine shared with others.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cab_trace.model import read_records
from cab_trace.sweep.state import read_cells
from tests.agents.conftest import AGENTS_BIN, agent_bin
from tests.sweep.helpers import (
    KEY,
    REAL_AGENTS,
    ROOT,
    agent_env,
    assert_no_key_in,
    assert_printed_table_is_the_traces,
    assert_summary_matches_traces,
    make_task,
    processes_mentioning,
    real_agent_args,
    real_agent_tasks,
    states,
    sweep_cmd,
    wait_for,
)
from tests.sweep.ray_cluster import LoopbackCluster, Node, available

pytestmark = pytest.mark.slow

#: Ray notices a dead node in about 3 s instead of its default 15 or more.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    if why := available():
        if os.environ.get("CI"):
            pytest.fail(f"the Ray tests need {why}; .ci/run installs it (make test installs cab-trace[ray])")
        pytest.skip(why)
    home = tmp_path_factory.mktemp("ray-home")
    # The nodes' own environment: the key is here, where `ray start` runs, and nowhere else.
    env = {**agent_env(home, AGENTS_BIN), **FAST_HEALTH_CHECKS}
    cluster = LoopbackCluster(env=env)
    try:
        with cluster:
            cluster.start_node("head", cpus=1)
            cluster.start_node("w1", cpus=1, resources='{"docker": 1}')
            yield cluster
    finally:
        cluster.cleanup()
    wait_for(lambda: not [p for n in cluster.nodes for p in n.pids()], 30, "every Ray process to end")


def driver_env() -> dict[str, str]:
    # The driver has the key too (as a user's shell might): it still must not reach Ray. It has
    # no agent CLI on its PATH: the nodes' PATH is the one that counts.
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != AGENTS_BIN)
    return {**os.environ, "CAB_KEY": KEY, "PYTHONPATH": str(ROOT), "PATH": path}


def run_sweep(cluster: LoopbackCluster, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    cut = args.index("--") if "--" in args else len(args)  # the agent's command stays last
    ray_args = ["--executor", "ray", "--ray-address", cluster.address]
    argv = cluster.command(sweep_cmd(*args[:cut], *ray_args, *args[cut:]))
    return subprocess.run(
        argv, capture_output=True, text=True, env=driver_env(), cwd=cluster.root, timeout=timeout, check=False
    )


def assert_only_loopback(cluster: LoopbackCluster) -> None:
    listening = cluster.listening()
    assert listening, "Ray listens somewhere"
    hosts = {addr.rsplit(":", 1)[0] for addr in listening}
    assert hosts <= {"127.0.0.1", "[::ffff:127.0.0.1]"}, listening


def node_id(node: Node) -> str:
    """The Ray node id of a node, from its raylet's log."""
    for log in node.temp_dir.glob("session_*/logs/raylet.out"):
        if found := re.search(r"node_id=([0-9a-f]{56})", log.read_text(errors="replace")):
            return found[1]
    raise AssertionError(f"no node id in {node.temp_dir}")


def test_real_agents_on_two_nodes_add_up_and_the_key_never_reaches_ray(cluster: LoopbackCluster) -> None:
    for agent in REAL_AGENTS:
        agent_bin(agent)
    assert_only_loopback(cluster)
    root = cluster.root / "real"
    tasks = real_agent_tasks(root / "tasks")
    out = root / "sweep"
    server = subprocess.Popen(
        cluster.command([sys.executable, "-m", "tests.sweep.serve_model", KEY]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        base_url = server.stdout.readline().strip()  # type: ignore[union-attr]
        assert base_url.startswith("http://127.0.0.1:")
        result = run_sweep(cluster, *real_agent_args(base_url, tasks, out, list(REAL_AGENTS)))
        assert_only_loopback(cluster)  # the workers' own ports too
    finally:
        said, _ = server.communicate("", timeout=30)
    assert result.returncode == 0, result.stderr
    counts = json.loads(said.splitlines()[-1])
    assert counts["requests"] > 0 and counts["with_key"] == counts["requests"]  # the nodes had the key

    lines = read_cells(out / "cells.jsonl")
    assert [c["state"] for c in lines] == ["done"] * 24, [c.get("error") for c in lines]
    nodes = {c["node"] for c in lines}
    assert len(nodes) == 2, nodes  # cells landed on both nodes
    for c in lines:
        run = next(r for r in read_records(out / c["run_dir"]) if r.kind == "run")
        assert run.attributes["node"] == c["node"]  # the run span says which node ran it
        assert c["passed"] is (c["task_id"] == "demo/fix-greeting") and c["total_tokens"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert_summary_matches_traces(out, summary)
    assert_printed_table_is_the_traces(out, result.stdout, "sweep sweep: 24 cells (24 done)")
    # The key is in no file of Ray's: logs, GCS state, spilled objects, sockets' neighbours.
    assert cluster.session_files()
    assert_no_key_in(cluster.root / "head")
    assert_no_key_in(cluster.root / "w1")
    assert_no_key_in(out)


def slow_agent(root: Path, seconds: int, marker: Path | None = None) -> tuple[list[str], str]:
    """An agent that sleeps (while ``marker`` exists), as a command line, and the name it runs under.

    Its behaviour is in its command line: a cell on Ray gets its node's environment, not the
    sweep's."""
    name = f"cab-agent-{root.name}-{os.getpid()}"
    wait = f"[ -e {marker} ] && " if marker else ""
    return ["sh", "-c", f"{wait}sleep {seconds}; echo 42 > answer.txt", name], name


def test_a_node_that_dies_mid_sweep_has_its_cells_run_elsewhere_once(cluster: LoopbackCluster) -> None:
    w2 = cluster.start_node("w2", cpus=1)
    doomed = node_id(w2)
    root = cluster.root / "kill"
    task = make_task(root / "tasks", "demo/slow")
    agent, name = slow_agent(root, 3)
    out = root / "sweep"
    argv = cluster.command(
        sweep_cmd("--adapter", "command", "--task", str(task), "--repeats", "6", "--out", str(out),
                  "--executor", "ray", "--ray-address", cluster.address, "--", *agent)
    )  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=driver_env(), cwd=root
    )
    try:
        # A cell is running on w2 once one of its workers runs our task.
        def busy() -> bool:
            for pid in w2.pids():
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::run_cell"):
                        return True
                except OSError:
                    continue
            return False

        wait_for(busy, 120, "a cell on w2")
        time.sleep(0.5)
        cluster.kill_node(w2)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = read_cells(out / "cells.jsonl")
    assert len(lines) == 6 and [c["state"] for c in lines] == ["done"] * 6, err
    assert all(c["attempts"] == 1 for c in lines)  # counted once, whatever Ray retried
    assert not any(doomed[:12] in c["node"] for c in lines), [c["node"] for c in lines]
    assert len({c["run_dir"] for c in lines}) == 6 and len({c["trace_id"] for c in lines}) == 6
    # The cell that was running on w2 stopped with it (its worker's death told it to).
    wait_for(lambda: not processes_mentioning(name), 30, "the dead node's cell to stop")


def test_ctrl_c_stops_the_cells_on_the_nodes_and_the_sweep_resumes(cluster: LoopbackCluster) -> None:
    root = cluster.root / "stop"
    task = make_task(root / "tasks", "demo/stop")
    marker = root / "slow"
    marker.write_text("")
    agent, name = slow_agent(root, 120, marker)
    out = root / "sweep"
    args = [
        "--adapter", "command", "--task", str(task), "--repeats", "3", "--workers", "2", "--out", str(out),
        "--executor", "ray", "--ray-address", cluster.address, "--", *agent,
    ]  # fmt: skip
    env = driver_env()
    proc = subprocess.Popen(
        cluster.command(sweep_cmd(*args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, cwd=root,
    )  # fmt: skip
    try:
        wait_for(lambda: states(out).count("running") == 2, 120, "two running cells")
        wait_for(lambda: len(processes_mentioning(name)) >= 2, 120, "the agents")
        proc.send_signal(2)
        _, err = proc.communicate(timeout=60)  # the agents sleep 120 s: they were stopped
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert sorted(states(out)) == ["interrupted", "interrupted", "pending"]
    for line in read_cells(out / "cells.jsonl"):
        if line["state"] == "interrupted":  # the run itself recorded that it was stopped
            run = next(r for r in read_records(out / line["run_dir"]) if r.kind == "run")
            assert run.status.code == "ERROR" and "interrupted" in run.status.message
    wait_for(lambda: not processes_mentioning(name), 60, "every cell and agent to stop")
    marker.unlink()
    resumed = subprocess.run(
        cluster.command(sweep_cmd("--out", str(out), "--executor", "ray", "--ray-address", cluster.address)),
        capture_output=True, text=True, env=env, cwd=root, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert states(out) == ["done"] * 3


def test_docker_cells_go_only_to_nodes_with_the_docker_resource(cluster: LoopbackCluster, image: str) -> None:
    root = cluster.root / "docker"
    task = make_task(root / "tasks", "demo/box", check="test -f answer.txt")
    out = root / "sweep"
    result = run_sweep(
        cluster, "--adapter", "command", "--task", str(task), "--repeats", "3", "--runtime", "docker",
        "--image", image, "--network", "none", "--out", str(out), "--", "sh", "-c", "echo 42 > answer.txt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = read_cells(out / "cells.jsonl")
    assert [c["state"] for c in lines] == ["done"] * 3 and all(c["passed"] for c in lines)
    w1 = next(n for n in cluster.nodes if n.name == "w1")
    assert {c["node"].split("/")[-1] for c in lines} == {node_id(w1)[:12]}


def test_every_cell_streams_to_one_collector_from_every_node(cluster: LoopbackCluster) -> None:
    root = cluster.root / "otlp"
    task = make_task(root / "tasks", "demo/otlp")
    out = root / "sweep"
    collector = subprocess.Popen(
        cluster.command([sys.executable, "-m", "tests.sweep.serve_otlp"]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        endpoint = collector.stdout.readline().strip()  # type: ignore[union-attr]
        result = run_sweep(
            cluster, "--adapter", "command", "--task", str(task), "--repeats", "4",
            "--otlp-endpoint", endpoint, "--out", str(out), "--", "sh", "-c", "sleep 1; echo 42 > answer.txt",
        )  # fmt: skip
    finally:
        said, _ = collector.communicate("", timeout=30)
    assert result.returncode == 0, result.stderr
    got = json.loads(said.splitlines()[-1])
    lines = read_cells(out / "cells.jsonl")
    assert sorted(r["trace_id"] for r in got["runs"]) == sorted(c["trace_id"] for c in lines)
    assert {r["node"] for r in got["runs"]} == {c["node"] for c in lines}
    assert len({c["node"] for c in lines}) == 2  # one collector, both nodes


def test_run_directories_through_a_shared_directory(cluster: LoopbackCluster) -> None:
    root = cluster.root / "shared"
    task = make_task(root / "tasks", "demo/shared")
    shared = root / "nfs"
    shared.mkdir(parents=True)
    out = root / "sweep"
    result = run_sweep(
        cluster, "--adapter", "command", "--task", str(task), "--repeats", "3",
        "--ray-shared-dir", str(shared), "--out", str(out), "--", "sh", "-c", "echo 42 > answer.txt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = read_cells(out / "cells.jsonl")
    assert [c["state"] for c in lines] == ["done"] * 3 and all(c["passed"] for c in lines)
    assert all((out / c["run_dir"] / "trace.jsonl").is_file() for c in lines)
    assert not [p for p in shared.rglob("*") if p.is_file()]  # moved into the sweep, nothing left behind


def test_a_node_without_the_key_is_named(cluster: LoopbackCluster) -> None:
    root = cluster.root / "nokey"
    task = make_task(root / "tasks", "demo/nokey")
    out = root / "sweep"
    result = run_sweep(
        cluster, "--adapter", "pi", "--model", "m", "--endpoint", "http://127.0.0.1:9/v1",
        "--task", str(task), "--repeats", "2", "--key-env", "CAB_TEST_KEY_NOWHERE", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = read_cells(out / "cells.jsonl")
    assert [c["state"] for c in lines] == ["failed"] * 2
    assert all("has no $CAB_TEST_KEY_NOWHERE: set it where `ray start` runs" in c["error"] for c in lines)
    assert result.stderr.count("set it where `ray start` runs") == 2  # once as it happened, once at the end


def test_a_node_without_the_agent_cli_is_named_once(cluster: LoopbackCluster) -> None:
    root = cluster.root / "nocli"
    task = make_task(root / "tasks", "demo/nocli")
    out = root / "sweep"
    missing = "no-such-agent-cab-trace-ray"
    result = run_sweep(
        cluster, "--adapter", "command", "--task", str(task), "--repeats", "4", "--out", str(out),
        "--", missing,
    )  # fmt: skip
    # Not refused here (this machine's PATH says nothing of the nodes'); each cell's node refused it.
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = read_cells(out / "cells.jsonl")
    assert [c["state"] for c in lines] == ["failed"] * 4
    said = (
        f"{missing}: command not found "
        "(the agent adapter command runs; looked for on the PATH the agent gets)"
    )
    causes = {c["error"] for c in lines}
    nodes = {c["node"] for c in lines}
    assert causes == {f"on node {node}: {said}" for node in nodes}  # one cause per node, naming it
    for cause in causes:
        assert result.stderr.count(cause) == 2  # once as it happened, once in the closing lines
    assert result.stderr.count("start the node (`ray start`) with a PATH that holds it") == len(causes)
    assert not any(c.get("passed") is not None for c in lines)  # never counted as a done run
