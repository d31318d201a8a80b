"""The real agent CLIs through the run's recording proxy: every request the model server answered
is one model-call span, the tokens on the spans add up to what the server reported (streams
included, where the agent did not ask for usage), tool steps match the scripted tool calls, and
the key is nowhere. The model is the scripted server (a stand-in for a paid model API)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import tests.model_server as model_server
from cab_trace.model import read_records
from tests.agents.conftest import ROOT, agent_bin
from tests.agents.test_real_agents import KEY, PROVEN
from tests.conftest import run_cli
from tests.model_server import ScriptedModelServer

DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every (prompt, completion) token count the scripted server puts in an answer. Through
    the proxy every answer carries usage (the proxy asks for it), so one per answered request."""
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()
    real = model_server._usage

    def recording(body_size: int, completion: str) -> tuple[int, int]:
        counts = real(body_size, completion)
        with lock:
            seen.append(counts)
        return counts

    monkeypatch.setattr(model_server, "_usage", recording)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("adapter", list(PROVEN))
def test_real_agent_model_calls_are_recorded(
    tmp_path: Path, adapter: str, reported: list[tuple[int, int]]
) -> None:
    bin_dir = agent_bin(adapter)
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CAB_KEY": KEY}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "OPENAI_API_KEY"):
        env[name] = ""
    out = tmp_path / "run"
    with ScriptedModelServer(expect_key=KEY) as server:
        result = run_cli(
            "run", "--adapter", adapter, "--model", "scripted-model",
            "--endpoint", server.base_url if PROVEN[adapter]["bare"] else server.url,
            "--task", str(DEMO_TASK), "--out", str(out), "--timeout", "120",
            env=env, cwd=tmp_path, timeout=300,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answered = server.requests_to(PROVEN[adapter]["path"])
    records = list(read_records(out))
    container = next(r for r in records if r.kind == "container")
    run = next(r for r in records if r.kind == "run")
    calls = sorted((r for r in records if r.kind == "model_call"), key=lambda r: r.start_time_unix_nano)
    assert len(calls) == len(answered) == len(reported) > 0
    assert container.attributes["model_calls"] == len(calls)
    for span in calls:
        assert span.parent_span_id == container.span_id and span.span_kind == "CLIENT"
        operation = "generate_content" if adapter == "gemini" else "chat"
        assert span.name == f"{operation} scripted-model" and span.status.code != "ERROR"
        assert span.attributes["cab.llm.usage_reported"] is True
    inputs = sum(int(c.attributes["gen_ai.usage.input_tokens"]) for c in calls)
    outputs = sum(int(c.attributes["gen_ai.usage.output_tokens"]) for c in calls)
    assert (inputs, outputs) == (sum(p for p, _ in reported), sum(c for _, c in reported))
    assert (run.attributes["input_tokens"], run.attributes["output_tokens"]) == (inputs, outputs)
    # Tool steps: one per tool call the script made, by name, in order, each answered.
    scripted = [r.reply.removeprefix("tool:") for r in answered if r.reply.startswith("tool:")]
    steps = sorted((r for r in records if r.kind == "tool_step"), key=lambda r: r.start_time_unix_nano)
    assert [s.attributes["gen_ai.tool.name"] for s in steps] == scripted
    assert all(s.attributes["cab.llm.result_returned"] is True for s in steps)
    assert bool(steps) == PROVEN[adapter]["tool"]
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
