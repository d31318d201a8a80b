"""The scripted model server (the suite's stand-in for a paid model API), over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.model_server import DEMO_FIX, ScriptedModelServer

KEY = "sk-test-model-server-0123456789"

PI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "edit",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "edits": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"oldText": {"type": "string"}, "newText": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
]
OPENCODE_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read",
            "parameters": {"type": "object", "properties": {"filePath": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "edit",
            "parameters": {
                "type": "object",
                "properties": {
                    "filePath": {"type": "string"},
                    "oldString": {"type": "string"},
                    "newString": {"type": "string"},
                },
            },
        },
    },
]


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(expect_key=KEY) as s:
        yield s


def post(server: ScriptedModelServer, path: str, body: dict[str, Any], key: str | None = KEY) -> bytes:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(server.base_url + path, json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def sse_data(raw: bytes) -> list[Any]:
    """The ``data:`` payloads of an SSE stream, JSON-decoded (``[DONE]`` kept as a string)."""
    out: list[Any] = []
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_models_are_listed_and_the_request_is_logged_without_the_key(server: ScriptedModelServer) -> None:
    request = urllib.request.Request(server.url + "/models", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        listed = json.loads(response.read())
    assert [m["id"] for m in listed["data"]] == ["scripted-model"]
    [logged] = server.requests_to("/v1/models")
    assert logged.had_credential and logged.credential_ok and logged.reply == "models"
    assert "authorization" not in logged.headers
    assert KEY not in repr(logged)


def test_a_wrong_key_is_refused_like_a_real_api(server: ScriptedModelServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        post(server, "/v1/chat/completions", {"model": "m", "messages": []}, key="sk-wrong-key-000000")
    assert err.value.code == 401
    assert server.requests[-1].had_credential and not server.requests[-1].credential_ok


def test_opencode_shaped_conversation_reads_then_edits_then_answers(server: ScriptedModelServer) -> None:
    system = {"role": "system", "content": "<env>\n  Working directory: /tmp/work-1\n</env>"}
    messages: list[dict[str, Any]] = [system, {"role": "user", "content": "fix greet"}]
    first = json.loads(
        post(server, "/v1/chat/completions", {"model": "m", "messages": messages, "tools": OPENCODE_TOOLS})
    )
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert call["function"]["name"] == "read"
    assert json.loads(call["function"]["arguments"]) == {"filePath": "/tmp/work-1/greet.py"}
    assert (
        first["usage"]["total_tokens"]
        == first["usage"]["prompt_tokens"] + first["usage"]["completion_tokens"]
    )

    messages += [
        first["choices"][0]["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "..."},
    ]
    second = json.loads(
        post(server, "/v1/chat/completions", {"model": "m", "messages": messages, "tools": OPENCODE_TOOLS})
    )
    edit = second["choices"][0]["message"]["tool_calls"][0]
    assert edit["function"]["name"] == "edit"
    assert json.loads(edit["function"]["arguments"]) == {
        "filePath": "/tmp/work-1/greet.py",
        "oldString": DEMO_FIX.old,
        "newString": DEMO_FIX.new,
    }

    messages += [
        second["choices"][0]["message"],
        {"role": "tool", "tool_call_id": edit["id"], "content": "ok"},
    ]
    third = json.loads(
        post(server, "/v1/chat/completions", {"model": "m", "messages": messages, "tools": OPENCODE_TOOLS})
    )
    assert third["choices"][0]["finish_reason"] == "stop"
    assert third["choices"][0]["message"]["content"] == DEMO_FIX.summary
    assert [r.reply for r in server.requests_to("/v1/chat/completions")] == ["tool:read", "tool:edit", "text"]


@pytest.mark.parametrize("include_usage", [True, False])
def test_streamed_tool_call_with_and_without_the_usage_chunk(
    server: ScriptedModelServer, include_usage: bool
) -> None:
    body: dict[str, Any] = {
        "model": "m",
        "stream": True,
        "messages": [
            {"role": "system", "content": "Current working directory: /w"},
            {"role": "user", "content": "x"},
        ],
        "tools": PI_TOOLS,
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    # The first step is the read; answer it to get the edit, which has the longer arguments.
    body["messages"].append({"role": "tool", "tool_call_id": "c1", "content": "file text"})
    data = sse_data(post(server, "/v1/chat/completions", body))
    assert data[-1] == "[DONE]"
    chunks = data[:-1]
    arguments = "".join(
        c["choices"][0]["delta"].get("tool_calls", [{}])[0].get("function", {}).get("arguments", "")
        for c in chunks
        if c["choices"]
    )
    assert json.loads(arguments) == {
        "path": "/w/greet.py",
        "edits": [{"oldText": DEMO_FIX.old, "newText": DEMO_FIX.new}],
    }
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]) > 2
    usage_chunks = [c for c in chunks if not c["choices"]]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0]["usage"]["completion_tokens"] > 0
    else:
        assert usage_chunks == [] and all("usage" not in c for c in chunks)


def test_no_tools_gets_aider_edit_formats(server: ScriptedModelServer) -> None:
    def ask(system: str) -> str:
        body = {
            "model": "m",
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": "fix"}],
        }
        return str(json.loads(post(server, "/v1/chat/completions", body))["choices"][0]["message"]["content"])

    diff = ask("Every *SEARCH/REPLACE block* must use this format")
    block = f"<<<<<<< SEARCH\n    {DEMO_FIX.old}\n=======\n    {DEMO_FIX.new}\n>>>>>>> REPLACE"
    assert f"greet.py\n```python\n{block}" in diff
    whole = ask("return the entire content of each file")
    assert f"greet.py\n```python\n{DEMO_FIX.content}```" in whole


def test_bash_is_used_when_it_is_the_only_tool_and_really_fixes_the_file(
    tmp_path, server: ScriptedModelServer
) -> None:
    import subprocess

    (tmp_path / "greet.py").write_text('def greet(name: str) -> str:\n    return f"Hello, {name}"\n')
    tools = [
        {
            "type": "function",
            "function": {
                "name": "bash",
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
            },
        }
    ]
    body = {"model": "m", "messages": [{"role": "user", "content": "fix"}], "tools": tools}
    call = json.loads(post(server, "/v1/chat/completions", body))["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "bash"
    subprocess.run(
        ["bash", "-c", json.loads(call["function"]["arguments"])["command"]], cwd=tmp_path, check=True
    )
    assert (tmp_path / "greet.py").read_text() == DEMO_FIX.content


def test_responses_api_streams_a_function_call_then_text(server: ScriptedModelServer) -> None:
    tools = [
        {
            "type": "function",
            "name": "shell",
            "parameters": {"type": "object", "properties": {"command": {"type": "array"}}},
        }
    ]
    body: dict[str, Any] = {
        "model": "m",
        "stream": True,
        "instructions": "You are a coding agent.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix"}]}],
        "tools": tools,
    }
    events = sse_data(post(server, "/v1/responses", body))
    types = [e["type"] for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in types
    done = events[-1]["response"]
    [item] = done["output"]
    assert item["type"] == "function_call" and item["name"] == "shell"
    assert json.loads(item["arguments"])["command"][:2] == ["bash", "-lc"]
    assert done["usage"]["output_tokens"] > 0

    body["input"] += [item, {"type": "function_call_output", "call_id": item["call_id"], "output": "ok"}]
    events = sse_data(post(server, "/v1/responses", body))
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == DEMO_FIX.summary
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == DEMO_FIX.summary


def test_unknown_route_is_404_and_logged(server: ScriptedModelServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        post(server, "/v1/embeddings", {"input": "x"})
    assert err.value.code == 404
    assert server.requests[-1].path == "/v1/embeddings" and server.requests[-1].reply == "error:404"


def test_anthropic_messages_stream_a_tool_use_then_text(server: ScriptedModelServer) -> None:
    tools = [
        {"name": "Read", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}},
        {
            "name": "Edit",
            "input_schema": {
                "type": "object",
                "properties": {
                    "file_path": {"type": "string"},
                    "old_string": {"type": "string"},
                    "new_string": {"type": "string"},
                },
            },
        },
        {"type": "web_search_20250305", "name": "web_search"},  # a server tool: not offered to the script
    ]
    body: dict[str, Any] = {
        "model": "m",
        "stream": True,
        "system": [{"type": "text", "text": "Working directory: /w"}],
        "messages": [{"role": "user", "content": "fix"}],
        "tools": tools,
    }
    events = sse_data(post(server, "/v1/messages?beta=true", body))
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[1]["content_block"]["name"] == "Read"
    partial = "".join(
        e["delta"].get("partial_json", "") for e in events if e["type"] == "content_block_delta"
    )
    assert json.loads(partial) == {"file_path": "/w/greet.py"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-2]["usage"]["output_tokens"] > 0
    use = {"type": "tool_use", "id": events[1]["content_block"]["id"], "name": "Read", "input": {}}
    result = {"type": "tool_result", "tool_use_id": use["id"], "content": "file"}
    body["messages"] += [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]
    body["stream"] = False
    second = json.loads(post(server, "/v1/messages", body))
    assert second["stop_reason"] == "tool_use" and second["content"][0]["name"] == "Edit"
    assert second["content"][0]["input"]["new_string"] == DEMO_FIX.new
    assert [r.reply for r in server.requests_to("/v1/messages")] == ["tool:Read", "tool:Edit"]


def test_gemini_generate_content_fills_required_text_parameters(server: ScriptedModelServer) -> None:
    replace = {
        "name": "replace",
        "parametersJsonSchema": {
            "type": "object",
            "required": ["file_path", "old_string", "new_string", "instruction"],
            "properties": {
                "file_path": {"type": "string"},
                "old_string": {"type": "string"},
                "new_string": {"type": "string"},
                "instruction": {"type": "string"},
            },
        },
    }
    body = {
        "contents": [{"role": "user", "parts": [{"text": "fix"}]}],
        "systemInstruction": {"parts": [{"text": "cwd: /g"}]},
        "tools": [{"functionDeclarations": [replace]}],
    }
    headers = {"Content-Type": "application/json", "x-goog-api-key": KEY}
    request = urllib.request.Request(
        server.base_url + "/v1beta/models/scripted-model:streamGenerateContent?alt=sse",
        json.dumps(body).encode(),
        headers,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        [chunk] = sse_data(response.read())
    call = chunk["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call["name"] == "replace"
    assert call["args"]["file_path"] == "/g/greet.py" and call["args"]["instruction"] == DEMO_FIX.summary
    assert chunk["usageMetadata"]["totalTokenCount"] > 0
    assert server.requests[-1].credential_ok and "x-goog-api-key" not in server.requests[-1].headers
