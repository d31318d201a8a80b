"""`cab-trace run` with an agent that talks to a model endpoint: every call it makes goes through
the run's recording proxy and becomes a span under the container span, with tokens, tool steps
from the conversation, and run totals; `show` prints the Model calls table. The endpoint is the
scripted model server (the stand-in for a paid model API); the agent is a small real tool loop."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson

from cab_trace.model import read_records
from tests.conftest import ROOT, run_cli
from tests.model_server import ScriptedModelServer

KEY = "sk-run-proxy-KEY-4f9a8b7c6d5e4f3a2b1c"
AGENT = Path(__file__).with_name("mini_agent.py")
DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"


def run_agent(tmp_path: Path, server: ScriptedModelServer, *extra: str) -> tuple[Path, list]:
    usage_log = tmp_path / "usage.json"
    out = tmp_path / "run"
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--model", "scripted-model",
        "--endpoint", server.url, "--out", str(out), "-q", *extra, "--",
        sys.executable, str(AGENT), "{endpoint}", "{key}", "{model}", "{prompt}", str(usage_log),
        env={"CAB_KEY": KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, json.loads(usage_log.read_text())


def test_every_model_call_and_tool_step_is_a_span_with_the_tokens_the_server_reported(tmp_path: Path) -> None:
    with ScriptedModelServer(expect_key=KEY) as server:
        out, agent_saw = run_agent(tmp_path, server)
    records = list(read_records(out))
    run = next(r for r in records if r.kind == "run")
    container = next(r for r in records if r.kind == "container")
    calls = sorted((r for r in records if r.kind == "model_call"), key=lambda r: r.start_time_unix_nano)
    answered = server.requests_to("/v1/chat/completions")
    assert len(calls) == len(answered) == 3  # read, edit, final answer
    assert run.attributes["check_passed"] is True  # the agent really fixed the file
    for span, request, usage in zip(calls, answered, agent_saw, strict=True):
        assert span.parent_span_id == container.span_id and span.span_kind == "CLIENT"
        assert span.name == "chat scripted-model" and span.status.code == "UNSET"
        assert container.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano
        assert span.end_time_unix_nano <= container.end_time_unix_nano
        assert span.attributes["gen_ai.usage.input_tokens"] == max(1, request.raw_size // 4)
        if usage is not None:  # the non-streamed calls: what the agent itself was told
            assert span.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
            assert span.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
        else:  # streamed without asking for usage: the proxy asked, the agent never saw it
            assert span.attributes["cab.llm.usage_requested_by_proxy"] is True
            assert span.attributes["gen_ai.usage.output_tokens"] > 0
    steps = [r for r in records if r.kind == "tool_step"]
    scripted = [r.reply.removeprefix("tool:") for r in answered if r.reply.startswith("tool:")]
    assert [
        s.attributes["gen_ai.tool.name"] for s in sorted(steps, key=lambda s: s.start_time_unix_nano)
    ] == scripted
    for step in steps:
        assert step.name == f"execute_tool {step.attributes['gen_ai.tool.name']}"
        assert step.parent_span_id == container.span_id
        assert step.attributes["cab.llm.result_returned"] is True
    assert run.attributes["model_calls"] == 3
    assert run.attributes["input_tokens"] == sum(c.attributes["gen_ai.usage.input_tokens"] for c in calls)
    assert run.attributes["output_tokens"] == sum(c.attributes["gen_ai.usage.output_tokens"] for c in calls)
    assert run.attributes["tokens_per_correct_task"] == run.attributes["total_tokens"]
    assert run.attributes["tool_steps"] == len(steps) == 2
    # Content is recorded, and the key is nowhere: not in the trace, not in any file of the run.
    assert "fix it so that the tests pass" in str(calls[0].attributes["gen_ai.input.messages"])
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    shown = run_cli("show", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "Model calls (3)" in shown.stdout
    table = shown.stdout.split("Model calls (3)", 1)[1].splitlines()
    assert table[1].split()[:4] == ["#", "time", "request", "hash"]
    first = table[2].split()
    assert first[0] == "1" and first[2] == calls[0].attributes["cab.llm.request_sha256"][:12]
    assert int(first[3]) == calls[0].attributes["gen_ai.usage.input_tokens"]


def test_no_content_keeps_tokens_and_timing_but_no_messages(tmp_path: Path) -> None:
    with ScriptedModelServer() as server:
        out, _ = run_agent(tmp_path, server, "--no-content")
    records = list(read_records(out))
    calls = [r for r in records if r.kind == "model_call"]
    assert len(calls) == 3
    text = orjson.dumps([r.attributes for r in records if r.kind in ("model_call", "tool_step")]).decode()
    assert "gen_ai.input.messages" not in text and "gen_ai.tool.call.result" not in text
    assert "greet" not in text  # neither the prompt nor the file's content
    assert all(c.attributes["cab.llm.content"] == "omitted" for c in calls)
    assert all(isinstance(c.attributes["gen_ai.usage.input_tokens"], int) for c in calls)
