"""cab-trace's GenAI spans in the consumers people read them with: a real recorded run (a tool
loop through the recording proxy), a call of every provider format the proxy parses, and the
imported Harbor trial and Inspect AI log, exported over OTLP to Phoenix and to MLflow's tracking
server (both real, on 127.0.0.1). What must arrive: tool results (content and call id), tool
definitions, and the answers. A trace in the shape older versions wrote shows what was lost."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from cab_trace.llm import Api, call_attributes
from cab_trace.model import SpanRecord, encode_record
from cab_trace.model.imported import span_id, trace_id
from tests.conftest import run_cli
from tests.consumers.conftest import HERE, consumer_python, get
from tests.model_server import ScriptedModelServer
from tests.proxy.test_run_model_calls import KEY, run_agent
from tests.unit.test_genai_schema import CASES, _call, _response, fixture

FOREIGN = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"
OLD_RUN = Path(__file__).resolve().parents[1] / "replay" / "fixtures" / "model-calls-run"
T0 = 1_796_000_000_000_000_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A run recorded now, and a trace of one call per provider format, as files to export."""
    tmp = tmp_path_factory.mktemp("recorded")
    with ScriptedModelServer(expect_key=KEY) as server:
        run, _ = run_agent(tmp, server)
    trace = trace_id("providers")
    lines = []
    for n, (api, request, response, path) in enumerate(CASES):
        call = _call(api, fixture(request), _response(api, response), path)
        start = T0 + n * 1_000_000_000
        lines.append(
            encode_record(
                SpanRecord(
                    trace,
                    span_id(trace, n),
                    None,
                    f"chat {api.value} {n}",
                    "model_call",
                    start,
                    start + 250_000_000,
                    span_kind="CLIENT",
                    attributes=call_attributes(call),
                    resource={"service.name": "cab-trace-providers"},
                )
            )
        )
    providers = tmp / "providers.jsonl"
    providers.write_bytes(b"".join(lines))
    return [run, providers]


def export(paths: list[Path], endpoint: str, *headers: str) -> None:
    flags = [flag for header in headers for flag in ("--otlp-header", header)]
    # The first request a server takes can be slow (it loads what it needs): a long timeout.
    result = run_cli(
        "export",
        *map(str, paths),
        "--otlp-endpoint",
        endpoint,
        *flags,
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "60000"},
    )
    assert result.returncode == 0, result.stderr


def _json(value: Any) -> Any:
    """An attribute's JSON text, or the value MLflow already decoded it to."""
    return orjson.loads(value) if isinstance(value, str) else value


def _tool_results(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    messages = _json(attributes.get("gen_ai.input.messages")) or []
    return [p for m in messages for p in m.get("parts", []) if p.get("type") == "tool_call_response"]


def _tool_names(attributes: dict[str, Any]) -> list[str]:
    return [t["name"] for t in _json(attributes.get("gen_ai.tool.definitions")) or []]


# -- Phoenix ---------------------------------------------------------------------------------------


def phoenix_spans(url: str, want: int, timeout: float = 60) -> list[dict[str, Any]]:
    """Every span Phoenix holds, once it holds ``want`` (it inserts in batches)."""
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans, cursor = [], None
        while True:
            page = json.loads(
                get(f"{url}/v1/projects/default/spans?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            )
            spans += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        if len(spans) >= want:
            return spans
        time.sleep(0.5)
    raise AssertionError(f"Phoenix holds {len(spans)} span(s), not {want}")


def _count(paths: list[Path]) -> int:
    from cab_trace.model.formats import read_trace

    return sum(1 for p in paths for _ in read_trace(p))


def test_phoenix_shows_tool_results_definitions_and_answers(phoenix: str, recorded: list[Path]) -> None:
    imported = [FOREIGN / "harbor" / "fix-greeting__Ab3dE9x", FOREIGN / "inspect" / "fix-greeting.eval"]
    export([*recorded, *imported], phoenix)
    spans = phoenix_spans(phoenix, _count([*recorded, *imported]))
    chats = [s for s in spans if s["attributes"].get("gen_ai.operation.name") in ("chat", "generate_content")]
    with_results = [s for s in chats if _tool_results(s["attributes"])]
    providers = {s["attributes"].get("cab.llm.api") for s in with_results}
    assert {"openai.chat_completions", "openai.responses", "anthropic.messages"} <= providers
    assert "gcp.gemini.generate_content" in providers
    # the imported Harbor trial's and Inspect log's calls are there as LLM spans too
    assert any(s["attributes"].get("cab.import.timing") == "step" and s["span_kind"] == "LLM" for s in chats)
    assert any(s["attributes"].get("gen_ai.request.model") == "scripted-model" for s in with_results)
    for span in with_results:
        a = span["attributes"]
        assert span["span_kind"] == "LLM", span["name"]
        sent = _tool_results(a)
        # Phoenix's own rendering of the conversation: the messages that carry a tool's result
        # (role tool; user for Anthropic, whose results come in the user's turn), with content and id
        carrying = sorted(
            k.rsplit(".", 1)[0]
            for k in a
            if k.startswith("llm.input_messages.") and k.endswith(".tool_call_id")
        )
        ids = [a[f"{prefix}.tool_call_id"] for prefix in carrying]
        contents = [a.get(f"{prefix}.content") for prefix in carrying]
        assert sorted(ids) == sorted(p["id"] for p in sent if "id" in p), span["name"]
        assert all(contents), (span["name"], contents)  # results arrive with their content
        expected = {p["response"] for p in sent if isinstance(p["response"], str)}
        assert set(contents) >= expected, span["name"]
        # the answer arrives too
        assert any(k.startswith("llm.output_messages.0.message.") for k in a), span["name"]
    with_tools = [s for s in chats if _tool_names(s["attributes"])]
    assert with_tools
    for span in with_tools:
        a = span["attributes"]
        schemas = [v for k, v in a.items() if k.startswith("llm.tools.") and k.endswith(".tool.json_schema")]
        assert len(schemas) == len(_tool_names(a)), span["name"]  # every definition arrives
        assert all(name in "".join(map(str, schemas)) for name in _tool_names(a))


def test_phoenix_lost_what_older_versions_wrote(phoenix: str) -> None:
    """The shape cab-trace wrote before (``result``, nested tool definitions): Phoenix shows the
    tool messages empty and no tools. The test above can fail."""
    before = len(phoenix_spans(phoenix, 0))
    export([OLD_RUN], phoenix)
    spans = phoenix_spans(phoenix, before + _count([OLD_RUN]))
    old = [
        s
        for s in spans
        if s["context"]["trace_id"] == "a5de620fc5bf9780f97c191fee41fe29" and _tool_results(s["attributes"])
    ]
    assert old
    for span in old:
        a = span["attributes"]
        tools = [k.rsplit(".", 2)[0] for k, v in a.items() if k.endswith(".message.role") and v == "tool"]
        assert tools and not any(a.get(f"{t}.message.content") for t in tools)
        assert not [k for k in a if k.startswith("llm.tools.")]


# -- MLflow ----------------------------------------------------------------------------------------


def mlflow_spans(url: str, want: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        out = subprocess.run(
            [str(consumer_python()), str(HERE / "mlflow_spans.py"), url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        spans = json.loads(out.stdout)
        if len(spans) >= want:
            return spans
        time.sleep(1)
    raise AssertionError(f"MLflow holds {len(spans)} span(s), not {want}")


def test_mlflow_takes_tool_results_and_definitions(mlflow_server: str, recorded: list[Path]) -> None:
    imported = [FOREIGN / "inspect" / "fix-greeting.json"]
    export([*recorded, *imported], mlflow_server, "x-mlflow-experiment-id=0")
    spans = mlflow_spans(mlflow_server, _count([*recorded, *imported]))
    chats = [s for s in spans if s["attributes"].get("gen_ai.operation.name") in ("chat", "generate_content")]
    with_results = [s for s in chats if _tool_results(s["attributes"])]
    assert len({s["attributes"].get("cab.llm.api") for s in with_results}) >= 4
    for span in with_results:
        assert span["span_type"] in ("CHAT_MODEL", "LLM"), span["name"]  # generate_content is LLM
        inputs = span["inputs"]  # MLflow's own reading of gen_ai.input.messages
        parts = [p for m in inputs for p in m.get("parts", []) if p.get("type") == "tool_call_response"]
        assert parts and all("response" in p for p in parts), span["name"]
        assert span["outputs"], span["name"]
    with_tools = [s for s in chats if _tool_names(s["attributes"])]
    assert with_tools
    for span in with_tools:
        tools = span["attributes"].get("mlflow.chat.tools")
        assert tools, span["name"]
        names = [t.get("function", t).get("name") for t in tools]
        assert sorted(names) == sorted(_tool_names(span["attributes"])), span["name"]


def test_the_providers_trace_holds_each_format(recorded: list[Path]) -> None:
    lines = recorded[1].read_bytes().splitlines()
    apis = {str(SpanRecord.from_json_obj(orjson.loads(line)).attributes["cab.llm.api"]) for line in lines}
    assert apis == {api.value for api in Api}
