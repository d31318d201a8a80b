"""`cab-trace sweep` on this machine, end to end: real `cab-trace run` processes of a scripted agent
(the command adapter), workers, the record, resuming, Ctrl-C, causes said once, `show`."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from cab_trace.model import read_records
from cab_trace.sweep.state import read_cells
from tests.conftest import run_cli
from tests.sweep.helpers import (
    assert_printed_table_is_the_traces,
    assert_summary_matches_traces,
    interrupt,
    make_task,
    processes_mentioning,
    start_sweep,
    states,
    wait_for,
    write_agent,
)


@pytest.fixture
def setup(tmp_path: Path) -> dict:
    tasks = tmp_path / "tasks"
    return {
        "root": tmp_path,
        "a": make_task(tasks, "demo/a"),
        "b": make_task(tasks, "demo/b", check="grep -q 43 answer.txt"),  # never passes
        "agent": write_agent(tmp_path),
        "out": tmp_path / "sweep",
    }


def _agent(setup: dict) -> list[str]:
    return ["--", sys.executable, str(setup["agent"])]


def test_a_sweep_runs_every_cell_with_workers_and_says_what_its_traces_say(setup: dict) -> None:
    out = setup["out"]
    result = run_cli(
        "sweep", "--adapter", "command", "--model", "vendor/model-1", "--model", "m2",
        "--task", str(setup["a"]), "--task", str(setup["b"]), "--repeats", "2", "--workers", "3",
        "--sweep-id", "exp-1", "--out", str(out), "--timeout", "60", *_agent(setup),
        env={"CAB_TEST_EXIT_demo_b": "3"}, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = read_cells(out / "cells.jsonl")
    assert len(lines) == 8 and all(line["state"] == "done" for line in lines)
    # Every cell in its own directory, named by its id; the run span says the same.
    for line in lines:
        run_dir = out / line["run_dir"]
        assert line["run_dir"] == f"command/{line['model']}/{line['task_id']}/r{line['repeat']}"
        run = next(r for r in read_records(run_dir) if r.kind == "run")
        assert (
            run.attributes["cell_id"] == line["cell_id"] == f"exp-1/command/{line['model']}/{line['task_id']}"
        )
        assert run.attributes["repeat"] == line["repeat"] and run.attributes["sweep_id"] == "exp-1"
        assert line["attempts"] == 1 and "node" not in line
        # A failing agent is an outcome of a done cell, not a failed cell.
        assert line["exit_code"] == (3 if line["task_id"] == "demo/b" else 0)
        assert line["passed"] is (line["task_id"] == "demo/a")
    # Unknown is not zero: no model proxy, so tokens and calls are unknown, never 0.
    assert all("total_tokens" not in line and "model_calls" not in line for line in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["states"]["done"] == 8
    assert_summary_matches_traces(out, summary)
    g = summary["groups"][0]
    assert g["passed"] == 2 and g["checked"] == 4 and g["total_tokens"] is None and g["tokens_unknown"] == 4
    # The table printed at the end is `show SWEEPDIR --only groups`, and what the traces say.
    assert_printed_table_is_the_traces(out, result.stdout, "sweep exp-1: 8 cells (8 done)")
    # Any grouping, any format: the sweep prints what `show` prints.
    for fmt in ("json", "csv", "markdown"):
        again = run_cli("sweep", "--out", str(out), "-q", "--format", fmt, "--by", "task", *_agent(setup))
        shown = run_cli("show", str(out), "--only", "groups", "--format", fmt, "--group-by", "task")
        assert again.returncode == shown.returncode == 0, again.stderr + shown.stderr
        assert again.stdout.strip() == shown.stdout.strip()
    by_task = json.loads(
        run_cli("show", str(out), "--only", "groups", "--format", "json", "--by", "task").stdout
    )
    assert [(g["key"], g["cells"], g["passed"]) for g in by_task["groups"]] == [
        ({"task_id": "demo/a"}, 4, 4),
        ({"task_id": "demo/b"}, 4, 0),
    ]
    # Running it again runs nothing; --rerun all runs everything, keeping the earlier runs.
    again = run_cli("sweep", "--out", str(out), "-q", *_agent(setup))
    assert again.returncode == 0 and "ran 0 cell(s)" in again.stderr
    assert read_cells(out / "cells.jsonl") == lines


def test_resume_runs_only_what_is_missing_and_keeps_earlier_attempts(setup: dict) -> None:
    out = setup["out"]
    args = ["--adapter", "command", "--task", str(setup["a"]), "--repeats", "3", "--out", str(out), "-q"]
    assert run_cli("sweep", *args, *_agent(setup), timeout=120).returncode == 0
    lines = read_cells(out / "cells.jsonl")
    # As a sweep killed mid-way leaves it: one cell running, one interrupted.
    lines[1]["state"], lines[2]["state"] = "running", "interrupted"
    (out / "cells.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    done_before = (out / lines[0]["run_dir"] / "trace.jsonl").read_bytes()
    old_trace = (out / lines[1]["run_dir"] / "trace.jsonl").read_bytes()
    result = run_cli("sweep", *args, "--repeats", "4", *_agent(setup), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ran 3 cell(s)" in result.stderr  # the two not done, and the new repeat
    after = read_cells(out / "cells.jsonl")
    assert [line["state"] for line in after] == ["done"] * 4
    assert [line["attempts"] for line in after] == [1, 2, 2, 1]
    assert (out / lines[0]["run_dir"] / "trace.jsonl").read_bytes() == done_before
    kept = out / ".attempts" / lines[1]["run_dir"] / "1" / "trace.jsonl"
    assert kept.read_bytes() == old_trace  # the earlier attempt was moved aside, not deleted
    # A cell that failed runs again only when asked.
    after[0]["state"] = "failed"
    (out / "cells.jsonl").write_text("".join(json.dumps(line) + "\n" for line in after))
    assert "ran 0 cell(s)" in run_cli("sweep", "--out", str(out), *_agent(setup)).stderr
    assert "ran 1 cell(s)" in run_cli("sweep", "--out", str(out), "--rerun", "failed", *_agent(setup)).stderr


def test_ctrl_c_stops_every_cell_keeps_the_finished_ones_and_the_sweep_resumes(setup: dict) -> None:
    out, marker = setup["out"], setup["root"] / "slow"
    marker.write_text("")
    env = {"CAB_TEST_SLEEP_demo_b": "60", "CAB_TEST_SLOW_IF": str(marker)}
    args = ["--adapter", "command", "--task", str(setup["a"]), "--task", str(setup["b"]), "--repeats", "3",
            "--workers", "2", "--out", str(out), "--timeout", "120"]  # fmt: skip
    proc = start_sweep(*args, *_agent(setup), env=env)
    try:
        # b's cells hold both workers once a's have run through.
        wait_for(
            lambda: states(out).count("done") >= 2 and states(out).count("running") == 2, 90, "2 slow cells"
        )
        interrupt(proc)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: stopping 2 running cell(s)" in err
    after = read_cells(out / "cells.jsonl")
    by_state = [line["state"] for line in after]
    assert by_state.count("interrupted") == 2 and "running" not in by_state
    interrupted = [line for line in after if line["state"] == "interrupted"]
    assert all(line["task_id"] == "demo/b" for line in interrupted)
    assert all("passed" not in line for line in interrupted)  # never counted as done
    summary = json.loads((out / "summary.json").read_text())
    assert summary["groups"][0]["done"] == by_state.count("done")
    # Nothing left running: no cab-trace run, no agent.
    wait_for(lambda: not processes_mentioning(str(setup["agent"])), 10, "the agents to be gone")
    # The interrupted runs recorded their stop; the finished runs are untouched by the resume.
    for line in interrupted:
        run = next(r for r in read_records(out / line["run_dir"]) if r.kind == "run")
        assert run.status.code == "ERROR" and "interrupted" in run.status.message
    marker.unlink()
    result = run_cli("sweep", "--out", str(out), "-q", *_agent(setup), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(line["state"] == "done" for line in read_cells(out / "cells.jsonl"))
    assert f"ran {6 - by_state.count('done')} cell(s)" in result.stderr


def test_a_second_ctrl_c_kills_the_agents_at_once(setup: dict) -> None:
    out = setup["out"]
    stubborn = setup["root"] / "stubborn.sh"
    stubborn.write_text("trap '' INT TERM\nsleep 60 &\nwait $!\nwait $!\n")
    proc = start_sweep(
        "--adapter", "command", "--task", str(setup["a"]), "--repeats", "2", "--workers", "2",
        "--out", str(out), "--", "sh", str(stubborn),
    )  # fmt: skip
    try:
        wait_for(lambda: states(out).count("running") == 2, 60, "2 running cells")
        wait_for(lambda: len(processes_mentioning(str(stubborn))) >= 2, 30, "the agents")
        interrupt(proc, times=2)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "again: killing the running cells' agents at once" in err
    logs = [p.read_text() for p in (out / ".logs").rglob("*.log")]
    assert len(logs) == 2 and all("killed at once (second signal)" in log for log in logs), logs
    assert states(out) == ["interrupted", "interrupted"]
    wait_for(lambda: not processes_mentioning(str(stubborn)), 10, "the agents to be gone")


def test_a_cell_that_cannot_start_is_reported_once_per_cause(setup: dict) -> None:
    out, root = setup["out"], setup["root"]
    # Two agents: one whose CLI is not installed, one that works. `run` would refuse the first
    # (exit 2, with an install hint); in a sweep its cells could not start, the others run.
    (root / "missing.toml").write_text('name = "missing"\ncommand = ["no-such-agent-cab-trace-test"]\n')
    (root / "works.toml").write_text('name = "works"\ncommand = ["sh", "-c", "echo 42 > answer.txt"]\n')
    result = run_cli(
        "sweep", "--adapter", str(root / "missing.toml"), "--adapter", str(root / "works.toml"),
        "--model", "a", "--model", "b", "--task", str(setup["a"]), "--repeats", "3", "--out", str(out),
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # the sweep ran; some of its cells failed
    assert "Traceback" not in result.stderr
    cause = (
        "no-such-agent-cab-trace-test: command not found "
        "(the agent adapter missing runs; looked for on the PATH the agent gets)"
    )
    assert result.stderr.count(cause) == 2  # said once as it happens, once in the closing lines
    assert "6 cell(s) cannot start" in result.stderr and "6 cell(s) failed" in result.stderr
    assert result.stderr.count("hint: install no-such-agent-cab-trace-test") == 1
    lines = read_cells(out / "cells.jsonl")
    missing = [line for line in lines if line["adapter"] == "missing"]
    works = [line for line in lines if line["adapter"] == "works"]
    assert len(missing) == len(works) == 6
    assert all(line["state"] == "failed" and line["error"] == cause for line in missing)
    assert all(line["state"] == "done" and line["passed"] is True for line in works)
    assert "--rerun failed" in result.stderr
    assert not any((out / "missing").glob("**/trace.jsonl"))  # none of them was run
    # The table counts them as failed, not as done, and their pass rate is unknown, not 0.
    groups = json.loads(run_cli("show", str(out), "--only", "groups", "--format", "json").stdout)["groups"]
    by_adapter = {g["key"]["adapter"]: g for g in groups if g["key"]["model"] == "a"}
    assert (by_adapter["missing"]["failed"], by_adapter["missing"]["done"]) == (3, 0)
    assert by_adapter["missing"]["pass_rate"] is None and by_adapter["works"]["pass_rate"] == 1.0


def test_one_failing_cell_never_stops_the_sweep(setup: dict) -> None:
    out = setup["out"]
    # b's agent kills its own `cab-trace run` (the supervisor's parent): that cell cannot complete.
    killer = setup["root"] / "killer.sh"
    killer.write_text('case "$CAB_TASK_ID" in demo/b) kill -9 $(ps -o ppid= -p $PPID) ;; esac\necho ok\n')
    result = run_cli(
        "sweep", "--adapter", "command", "--task", str(setup["a"]), "--task", str(setup["b"]),
        "--repeats", "2", "--workers", "2", "--out", str(out), "--", "sh", str(killer), timeout=120,
    )  # fmt: skip
    lines = read_cells(out / "cells.jsonl")
    by_task = {(line["task_id"], line["repeat"]): line for line in lines}
    assert by_task[("demo/a", 1)]["state"] == by_task[("demo/a", 2)]["state"] == "done"
    failed = [by_task[("demo/b", 1)], by_task[("demo/b", 2)]]
    assert all(line["state"] == "failed" for line in failed), failed
    assert all("137" in line["error"] for line in failed)
    assert result.returncode == 1
    assert result.stderr.count("cab-trace run exited with code 137") == 2  # once live, once at the end


def test_a_sweep_file_with_flags_over_it(setup: dict, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "exp.toml").write_text(
        f'adapter = "command"\ntask = ["{setup["a"].parent}/*"]\nrepeats = 3\nworkers = 2\n'
        f'command = ["{sys.executable}", "{setup["agent"]}"]\nout = "../from-file"\n'
    )
    result = run_cli("sweep", "--sweep-file", str(conf / "exp.toml"), "--repeats", "1", "-q", timeout=120)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "from-file"
    lines = read_cells(out / "cells.jsonl")
    assert len(lines) == 2 and {line["sweep_id"] for line in lines} == {"exp"}  # the file's name
    recorded = json.loads((out / "sweep.json").read_text())
    assert (
        recorded["sweep_id"] == "exp" and recorded["spec"]["repeats"] == 1 and "out" not in recorded["spec"]
    )
    dry = run_cli("sweep", "--out", str(out), "--repeats", "2", "--dry-run")
    assert (
        dry.returncode == 0 and len(dry.stdout.splitlines()) == 4 and "exp/command/-/demo/a r2" in dry.stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--adapter", "command", "--", "true"], "a sweep needs --task"),
        (["--adapter", "pi", "--task", "{a}", "--model", "m", "--var", "nope=1"], "has no such variable"),
        (["--adapter", "pi", "--task", "{a}", "--model", "m", "--", "x"], "only for the command adapter"),
        (["--adapter", "nope", "--task", "{a}"], "unknown adapter 'nope'"),
        (
            ["--adapter", "command", "--task", "{a}", "--model", "a/../b", "--", "true"],
            "cannot be a directory",
        ),
        (["--adapter", "command", "--task", "{a}", "--ray-address", "x", "--", "t"], "needs --executor ray"),
        (["--adapter", "command", "--task", "{a}", "--by", "colour", "--", "true"], "not an axis"),
        (["--adapter", "command", "--task", "{a}"], "needs the agent's command after --"),
    ],
)
def test_bad_input_is_one_clear_error_before_anything_runs(
    setup: dict, args: list[str], message: str
) -> None:
    args = [a.replace("{a}", str(setup["a"])) for a in args]
    result = run_cli("sweep", *args, "--out", str(setup["out"]), env={"CAB_KEY": "sk-x" * 10})
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (setup["out"] / "command").exists()


def test_one_sweep_at_a_time_in_a_directory(setup: dict) -> None:
    out = setup["out"]
    proc = start_sweep(
        "--adapter", "command", "--task", str(setup["a"]), "--out", str(out), "--", "sleep", "30"
    )
    try:
        wait_for(lambda: states(out) == ["running"], 60, "the first sweep")
        second = run_cli("sweep", "--out", str(out), "--", "sleep", "30")
        assert second.returncode == 2 and "another cab-trace sweep is running" in second.stderr
        assert f"pid {proc.pid}" in second.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def test_a_sweep_killed_outright_leaves_no_cell_running_and_resumes(setup: dict) -> None:
    out, agent = setup["out"], str(setup["agent"])
    marker = setup["root"] / "slow"
    marker.write_text("")
    env = {"CAB_TEST_SLEEP_demo_a": "60", "CAB_TEST_SLOW_IF": str(marker)}
    proc = start_sweep(
        "--adapter", "command", "--task", str(setup["a"]), "--repeats", "2", "--workers", "2",
        "--out", str(out), *_agent(setup), env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: states(out) == ["running", "running"], 60, "two running cells")
        wait_for(lambda: len(processes_mentioning(agent)) >= 2, 30, "the agents")
        proc.kill()  # SIGKILL: no chance to stop anything
        proc.communicate(timeout=30)
        # Each cell was told its sweep died (PR_SET_PDEATHSIG) and stopped its agent.
        wait_for(lambda: not processes_mentioning(agent), 30, "the agents to be stopped")
    finally:
        proc.kill()
    assert states(out) == ["running", "running"]  # as the dead sweep left it
    marker.unlink()
    result = run_cli("sweep", "--out", str(out), "-q", *_agent(setup), env=env)
    assert result.returncode == 0, result.stderr
    assert states(out) == ["done", "done"]
    assert len(list((out / ".attempts").rglob("trace.jsonl"))) == 2


def test_the_exec_spawn_runs_python_m_cab_trace(setup: dict) -> None:
    out = setup["out"]
    result = run_cli(
        "sweep", "--adapter", "command", "--task", str(setup["a"]), "--repeats", "2", "--workers", "2",
        "--spawn", "exec", "--out", str(out), "-q", *_agent(setup), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert states(out) == ["done", "done"]


def test_show_refuses_flags_for_the_other_kind_of_path(setup: dict) -> None:
    out = setup["out"]
    made = run_cli("sweep", "--adapter", "command", "--task", str(setup["a"]), "--out", str(out), "-q",
                   *_agent(setup), timeout=120)  # fmt: skip
    assert made.returncode == 0, made.stderr
    run_dir = out / read_cells(out / "cells.jsonl")[0]["run_dir"]
    for flag in (["--format", "json"], ["--only", "groups"], ["--by", "task"], ["--no-index"]):
        bad = run_cli("show", str(run_dir), *flag)
        said = flag[0].replace("--by", "--group-by")
        assert bad.returncode == 2 and f"{said} is for a directory of runs" in bad.stderr
        assert "Traceback" not in bad.stderr
    bad = run_cli("show", str(out), "--full")
    assert bad.returncode == 2 and "--full is for one run" in bad.stderr
    assert run_cli("show", str(run_dir)).returncode == 0


def test_every_cell_streams_its_spans_to_one_collector(setup: dict) -> None:
    from tests.otlp_receiver import OtlpReceiver

    out = setup["out"]
    with OtlpReceiver("http") as receiver:
        result = run_cli(
            "sweep", "--adapter", "command", "--task", str(setup["a"]), "--task", str(setup["b"]),
            "--repeats", "2", "--workers", "2", "--otlp-endpoint", receiver.endpoint, "--out", str(out), "-q",
            *_agent(setup), timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        received = {span.trace_id.hex() for _resource, span in receiver.received.spans()}
    lines = read_cells(out / "cells.jsonl")
    assert received == {line["trace_id"] for line in lines} and len(received) == 4


def test_a_sweep_directory_that_cannot_be_written_is_one_line(setup: dict) -> None:
    blocker = setup["root"] / "a-file"
    blocker.write_text("")
    out = str(blocker / "sweep")
    result = run_cli("sweep", "--adapter", "command", "--task", str(setup["a"]), "--out", out, "--", "true")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("cab-trace: error: could not write") and str(blocker) in result.stderr


# Writes a digest of its argv: what reached the cell's run, shown without the secrets in it.
DIGEST_AGENT = """
import hashlib, pathlib, sys
pathlib.Path("answer.txt").write_text(hashlib.sha256(" ".join(sys.argv[1:]).encode()).hexdigest() + "\\n")
"""


def test_no_file_of_the_sweep_keeps_a_secret_and_a_resume_asks_for_it_again(setup: dict) -> None:
    """A key in the agent's argv (known: $CAB_KEY, and one only its option names), a secret-named
    variable (an axis too) and the endpoint's password reach each cell's run, and none of them
    sweep.json, cells.jsonl, summary.json, a directory's name or the console; a resume that was
    not given them again says so instead of running cells with ``[REDACTED]`` for a key."""
    import hashlib

    key, other, var, password = (
        "opaque-Key-With-No-Shape-0451-zzQ8wq",
        "unknownTok-4471-Qz8wPl",
        "varSecret-3Kd8-Wq1z-7Rtb",
        "urlPass-5Nf2-Ht8c-1Yqe",
    )
    agent = setup["root"] / "digest.py"
    agent.write_text(DIGEST_AGENT)
    adapter = setup["root"] / "careless.toml"
    adapter.write_text(
        'name = "careless"\ndescription = "takes its keys on the command line"\n'
        f'command = [{sys.executable!r}, {str(agent)!r}, "{{api_key}}", "{{endpoint}}"]\n'
        '[vars]\napi_key = ""\nslot = ""\n'
    )
    endpoint = f"http://bob:{password}@127.0.0.1:9/v1"
    out = setup["out"]
    command = ["--", sys.executable, str(agent), "--api-key", key, "--token", other]
    common = ["--task", str(setup["a"]), "--timeout", "60", "--repeats", "2"]
    # The command adapter, the key in the agent's argv; an adapter that takes a variable and an endpoint.
    argv_sweep = ["sweep", "--adapter", "command", "--out", str(out / "argv"), *common, *command]
    var_sweep = [
        "sweep", "--adapter", str(adapter), "--out", str(out / "vars"), *common,
        "--no-model-proxy", "--endpoint", endpoint,
        "--var-set", f"api_key={var},slot=1", "--var-set", f"api_key={var},slot=2",
    ]  # fmt: skip
    expected = {
        "command": hashlib.sha256(" ".join(command[3:]).encode()).hexdigest(),
        "careless": hashlib.sha256(f"{var} {endpoint}".encode()).hexdigest(),
    }

    def assert_cells_ran_with_the_real_values(sweep_dir: Path, attempts: int) -> None:
        cells = read_cells(sweep_dir / "cells.jsonl")
        assert {(c["state"], c["attempts"]) for c in cells} == {("done", attempts)}
        for cell in cells:
            assert expected[cell["adapter"]] in (sweep_dir / cell["run_dir"] / "changes.diff").read_text()

    console = ""
    for sweep in (argv_sweep, var_sweep):
        result = run_cli(*sweep, env={"CAB_KEY": key}, timeout=240)
        assert result.returncode == 0, result.stderr
        console += result.stdout + result.stderr
    assert_cells_ran_with_the_real_values(out / "argv", 1)
    assert_cells_ran_with_the_real_values(out / "vars", 1)
    places = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    places["console"] = console.encode()
    found = {
        (place, secret)
        for place, data in [*places.items(), *((name, name.encode()) for name in places)]
        for secret in (key, other, var, password)
        if secret.encode() in data
    }
    assert found == set()
    assert read_cells(out / "vars" / "cells.jsonl")[1]["vars"] == {"api_key": "[REDACTED]", "slot": "2"}
    for sweep_dir in (out / "argv", out / "vars"):
        again = run_cli("sweep", "--out", str(sweep_dir), "--rerun", "all", env={"CAB_KEY": key}, timeout=240)
        assert again.returncode == 2, again.stderr
        assert "sweep.json" in again.stderr and "again" in again.stderr and "Traceback" not in again.stderr
        assert_cells_ran_with_the_real_values(sweep_dir, 1)  # nothing ran
    resumed = run_cli(*var_sweep, "--rerun", "all", env={"CAB_KEY": key}, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert_cells_ran_with_the_real_values(out / "vars", 2)
