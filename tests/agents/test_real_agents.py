"""Each proven agent CLI, run exactly as a benchmark runs it, end to end on the demo task.

`cab-trace run --adapter X --model M --endpoint URL --task cab_trace/examples/demo-task`, from an
unrelated directory, with a HOME of its own that must stay empty. The model behind URL is the
suite's scripted OpenAI-compatible server (a stand-in for a paid model API); the agent, the
harness and everything they touch are real.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cab_trace.model import read_records
from tests.agents.conftest import ROOT, agent_bin, pinned
from tests.conftest import run_cli
from tests.model_server import DEMO_FIX, ScriptedModelServer

DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"
#: Distinctive, and shaped like a real key, so that redaction and the leak check know it.
KEY = "sk-cabtrace-agenttest-Zq8vW3xR5tY7uI9oP1aS"

#: adapter: the wire format it speaks (where the scripted model must have seen it), whether it
#: fixes the task through tool calls, and whether its endpoint is given without /v1.
PROVEN = {
    "pi": {"path": "/v1/chat/completions", "tool": True, "bare": False},
    "opencode": {"path": "/v1/chat/completions", "tool": True, "bare": False},
    "aider": {"path": "/v1/chat/completions", "tool": False, "bare": False},
    "codex": {"path": "/v1/responses", "tool": True, "bare": False},
    "claude": {"path": "/v1/messages", "tool": True, "bare": True},
    "gemini": {"path": "/v1beta/models/scripted-model:streamGenerateContent", "tool": True, "bare": True},
}


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (relative path) with its SHA-256, and every directory."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


@pytest.mark.slow
@pytest.mark.parametrize("adapter", list(PROVEN))
def test_real_agent_fixes_the_demo_task(tmp_path: Path, adapter: str) -> None:
    bin_dir = agent_bin(adapter)
    home = tmp_path / "home"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere"  # where the user happens to be: nothing here may change
    elsewhere.mkdir()
    (elsewhere / "greet.py").write_text('def greet(name):\n    return f"Hello, {name}"\n')
    before_elsewhere, before_task = snapshot(elsewhere), snapshot(DEMO_TASK)
    runs = tmp_path / "runs"
    env = {
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CAB_KEY": KEY,
        "PWD": str(elsewhere),
        "OLDPWD": str(ROOT),
    }
    for name in (
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
    ):
        env[name] = ""
    with ScriptedModelServer(expect_key=KEY) as server:
        result = run_cli(
            "run",
            "--adapter",
            adapter,
            "--model",
            "scripted-model",
            "--endpoint",
            server.base_url if PROVEN[adapter]["bare"] else server.url,
            "--task",
            str(DEMO_TASK),
            "--runs-dir",
            str(runs),
            "--timeout",
            "120",
            env=env,
            cwd=elsewhere,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    run_dir = Path(result.stdout.strip())
    assert run_dir.is_dir() and run_dir.parent == runs
    assert "run ok · ✓ check passed" in result.stderr and "FAILED" not in result.stderr, result.stderr

    # The agent talked to the model, with the key, the way it should.
    calls = server.requests_to(PROVEN[adapter]["path"])
    assert calls, [r.path for r in server.requests]
    assert all(r.had_credential and r.credential_ok for r in server.requests)
    if PROVEN[adapter]["tool"]:
        assert any(r.reply.startswith("tool:") for r in calls)

    # One trace, one root, the check passed because the agent fixed the file.
    records = list(read_records(run_dir))
    assert len({r.trace_id for r in records}) == 1
    roots = [r for r in records if r.parent_span_id is None]
    assert [r.kind for r in roots] == ["run"]
    ids = {r.span_id for r in records}
    assert all(r.parent_span_id in ids for r in records if r.parent_span_id)
    by_kind = {r.kind: r for r in records if r.kind in ("run", "verify", "blast_radius", "container")}
    assert by_kind["run"].attributes["check_passed"] is True
    assert by_kind["verify"].status.code == "OK"
    changes = by_kind["blast_radius"].attributes
    assert changes["files_modified"] == [DEMO_FIX.path], changes
    assert changes["files_added"] == [] and changes["files_removed"] == []
    container = by_kind["container"].attributes
    assert KEY not in " ".join(map(str, container["argv"]))  # not even redacted: never in argv
    assert container["home"] == "run"
    if adapter == "opencode":  # it ignores TRACEPARENT: its traces were adopted into the run's
        assert isinstance(container["agent_spans"], int) and container["agent_spans"] > 0
        assert container["agent_spans_adopted"] == container["agent_spans"]
        assert container["agent_exports_refused"] == 0
        shown = run_cli("show", str(run_dir))
        assert (
            shown.returncode == 0 and shown.stdout.count("\ntrace ") + shown.stdout.startswith("trace ") == 1
        )

    # Nothing outside the workdir was touched: not where we were, not HOME, not the task.
    assert snapshot(elsewhere) == before_elsewhere
    assert snapshot(DEMO_TASK) == before_task
    assert list(home.iterdir()) == []
    removed = by_kind.get("cleanup")
    cleanup = next(r for r in records if r.kind == "cleanup")
    assert removed is None and any(p.endswith("/workdir") for p in cleanup.attributes["removed"])

    # The key is in no byte of the run directory.
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_pinned_versions_are_the_ones_installed(tmp_path: Path) -> None:
    """README says which versions are proven; these are the ones the tests ran."""
    for command, (package, version) in pinned().items():
        bin_dir = agent_bin(command)
        home = tmp_path / command  # what an agent writes at start goes here, not into a real home
        home.mkdir()
        shown = subprocess.run(
            [bin_dir / command, "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": "", "XDG_DATA_HOME": ""},
        )
        assert version in shown.stdout + shown.stderr, (package, version, shown.stdout, shown.stderr)


#: A task prompt written as a Markdown list: it starts with '-'.
LIST_PROMPT = "- greet() forgets the exclamation mark\n- fix it so that the tests pass"


@pytest.mark.slow
@pytest.mark.parametrize("adapter", list(PROVEN))
def test_a_prompt_that_starts_with_a_dash_reaches_the_agent_as_its_prompt(
    tmp_path: Path, adapter: str
) -> None:
    """The built-in adapters end the agent's options before the prompt (``--``) or give it as an
    option's value (``--message=…``), so the agent reads a Markdown list as its prompt, word for
    word. pi reads every argument that starts with '-' as an option, "--" or not: for pi such a
    task is refused before anything runs, naming task.toml."""
    task = tmp_path / "task"
    shutil.copytree(DEMO_TASK, task)
    text = (task / "task.toml").read_text()
    (task / "task.toml").write_text(
        "\n".join(
            f"prompt = {json.dumps(LIST_PROMPT)}" if line.startswith("prompt") else line
            for line in text.splitlines()
        )
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": f"{agent_bin(adapter)}{os.pathsep}{os.environ['PATH']}", "CAB_KEY": KEY}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "OPENAI_API_KEY"):
        env[name] = ""
    env.update(ANTHROPIC_API_KEY="", GEMINI_API_KEY="")
    with ScriptedModelServer(expect_key=KEY) as server:
        result = run_cli(
            "run", "--adapter", adapter, "--model", "scripted-model",
            "--endpoint", server.base_url if PROVEN[adapter]["bare"] else server.url,
            "--task", str(task), "--out", str(tmp_path / "run"), "--timeout", "120",
            env=env, cwd=tmp_path, timeout=300,
        )  # fmt: skip
    if adapter == "pi":
        assert result.returncode == 2 and "task.toml" in result.stderr, result.stderr
        assert "prompt starts with '-'" in result.stderr and not server.requests
        return
    assert result.returncode == 0, result.stderr
    assert "run ok · ✓ check passed" in result.stderr, result.stderr
    first = json.dumps(server.requests_to(PROVEN[adapter]["path"])[0].body)
    assert json.dumps(LIST_PROMPT)[1:-1] in first  # the prompt, as the task wrote it
