"""The recording proxy for an agent in a container: it listens on the Docker network's gateway,
the container reaches it as {endpoint}, and the call is recorded under the container span. The
model is the scripted server (a stand-in for a paid model API) on the host's loopback, which
the container could not reach by itself."""

from __future__ import annotations

from pathlib import Path

from cab_trace.model import read_records
from tests.conftest import run_cli
from tests.model_server import ScriptedModelServer

BODY = '{"model": "scripted-model", "messages": [{"role": "user", "content": "hello from a container"}]}'


def test_a_container_agent_talks_to_the_model_through_the_proxy(
    tmp_path: Path, image: str, leftovers, task: Path
) -> None:
    out = tmp_path / "run"
    script = (
        "wget -q -O - --header 'Content-Type: application/json' "
        f"--post-data '{BODY}' {{endpoint}}/chat/completions"
    )
    with ScriptedModelServer() as server:
        result = run_cli(
            "run", "--runtime", "docker", "--image", image, "--adapter", "command", "--task", str(task),
            "--endpoint", server.url, "--out", str(out), "--", "sh", "-c", script,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = list(read_records(out))
    container = next(r for r in records if r.kind == "container")
    assert '"finish_reason": "stop"' in str(container.attributes["stdout_tail"])  # the agent got its answer
    (call,) = [r for r in records if r.kind == "model_call"]
    assert call.parent_span_id == container.span_id
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["gen_ai.usage.input_tokens"] == max(1, server.requests[0].raw_size // 4)
    assert "hello from a container" in str(call.attributes["gen_ai.input.messages"])
    assert "127.0.0.1" not in " ".join(container.attributes["argv"])  # the gateway, not loopback
