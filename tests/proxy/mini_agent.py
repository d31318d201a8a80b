"""A small tool-using agent over the OpenAI chat API, for the run tests: it really reads and
edits files with the tool calls the model asks for, and sends the results back, like pi does.
Streams every other call (without asking for usage) and logs the usage it saw on the others.

python mini_agent.py ENDPOINT KEY MODEL PROMPT USAGE_LOG
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read",
            "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "edit",
            "description": "Replace text in a file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "oldText": {}, "newText": {}},
            },
        },
    },
]


def call(endpoint: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        if not body.get("stream"):
            return json.loads(response.read())
        message: dict = {"role": "assistant", "content": "", "tool_calls": []}
        for raw in response:
            line = raw.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            assert "usage" not in chunk, "the agent did not ask for usage"
            for choice in chunk["choices"]:
                delta = choice["delta"]
                message["content"] += delta.get("content") or ""
                for tc in delta.get("tool_calls") or []:
                    while len(message["tool_calls"]) <= tc["index"]:
                        message["tool_calls"].append(
                            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                        )
                    slot = message["tool_calls"][tc["index"]]
                    slot["id"] = tc.get("id") or slot["id"]
                    fn = tc.get("function") or {}
                    slot["function"]["name"] += fn.get("name") or ""
                    slot["function"]["arguments"] += fn.get("arguments") or ""
        return {"choices": [{"message": message}]}


def main() -> None:
    endpoint, key, model, prompt, usage_log = sys.argv[1:6]
    messages: list[dict] = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": prompt},
    ]
    seen = []
    for turn in range(10):
        stream = turn % 2 == 1
        answer = call(endpoint, key, {"model": model, "messages": messages, "tools": TOOLS, "stream": stream})
        seen.append(answer.get("usage"))
        message = answer["choices"][0]["message"]
        messages.append({k: v for k, v in message.items() if v})
        if not message.get("tool_calls"):
            print(message.get("content"))
            break
        for tc in message["tool_calls"]:
            args = json.loads(tc["function"]["arguments"])
            path = Path(args["path"])
            if tc["function"]["name"] == "read":
                result = path.read_text()
            else:
                path.write_text(path.read_text().replace(args["oldText"], args["newText"], 1))
                result = "edited"
            print(f"tool {tc['function']['name']} {path}", flush=True)
            messages.append({"role": "tool", "tool_call_id": tc["id"], "content": result})
    Path(usage_log).write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
