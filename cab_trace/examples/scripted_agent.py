"""A small coding agent for the demo: a real agent loop against an OpenAI-compatible endpoint.

It does what coding agents do, in a few dozen lines and with the standard library only: sends
the task and its tools to the model, runs the tool calls the model asks for (read a file, edit
it, run the tests), sends the results back, and stops when the model answers in words. It
prints its progress as it goes (including, carelessly, its API key, which cab-trace redacts).

``cab-trace demo`` points it at the demo's scripted model through the recording proxy, so
every call and tool step is recorded as it would be for a real agent.

    python scripted_agent.py --endpoint URL --api-key KEY --model MODEL [--pace SECONDS] PROMPT
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SYSTEM = (
    "You are a careful coding agent. You work in the current directory. Read before you edit, "
    "change as little as you can, and run the tests before you say you are done."
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the working directory",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "edit_file",
            "description": "Replace the text old with the text new in a file",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "old": {"type": "string"},
                    "new": {"type": "string"},
                },
                "required": ["path", "old", "new"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_tests",
            "description": "Run the task's tests and return their output",
            "parameters": {"type": "object", "properties": {}},
        },
    },
]
MAX_TURNS = 8


def say(message: str, pace: float = 0.0) -> None:
    print(message, flush=True)
    time.sleep(pace)


def chat(endpoint: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """One streamed chat completion, put back together: the assistant message."""
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    with urllib.request.urlopen(request, timeout=60) as response:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            for choice in chunk.get("choices", []):
                delta = choice.get("delta", {})
                text.append(delta.get("content") or "")
                for call in delta.get("tool_calls", []):
                    into = calls.setdefault(call.get("index", 0), {"function": {"arguments": ""}})
                    into["id"] = call.get("id") or into.get("id")
                    into["type"] = "function"
                    function = call.get("function", {})
                    into["function"]["name"] = function.get("name") or into["function"].get("name")
                    into["function"]["arguments"] += function.get("arguments") or ""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


def run_tool(name: str, arguments: dict[str, Any]) -> str:
    if name == "read_file":
        return Path(arguments["path"]).read_text()
    if name == "edit_file":
        path = Path(arguments["path"])
        text = path.read_text()
        if arguments["old"] not in text:
            return f"error: the old text is not in {path}"
        path.write_text(text.replace(arguments["old"], arguments["new"], 1))
        return f"edited {path}"
    if name == "run_tests":
        done = subprocess.run(
            [sys.executable, "-m", "unittest", "-q", "test_greet"],
            capture_output=True,
            text=True,
            check=False,
        )
        return (done.stdout + done.stderr).strip() or f"exit code {done.returncode}"
    return f"error: no tool named {name}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--pace", type=float, default=0.3)
    parser.add_argument("prompt")
    args = parser.parse_args()

    say(f"scripted-agent 2.0  model={args.model}", args.pace)
    say(f"auth: using key {args.api_key}", args.pace)  # careless, as agents are: cab-trace redacts it
    say(f"task: {args.prompt}", args.pace)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": args.prompt},
    ]
    for turn in range(1, MAX_TURNS + 1):
        say(f"[turn {turn}] asking the model ...")
        body = {"model": args.model, "messages": messages, "tools": TOOLS, "stream": True}
        try:
            answer = chat(args.endpoint, args.api_key, body)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            print(f"error: the model could not be reached: {exc}", file=sys.stderr, flush=True)
            return 1
        messages.append(answer)
        if answer.get("content"):
            say(f"model: {answer['content']}", args.pace)
        calls = answer.get("tool_calls") or []
        if not calls:
            say("done.", args.pace / 2)
            return 0
        for call in calls:
            name = call["function"]["name"]
            arguments = json.loads(call["function"]["arguments"] or "{}")
            shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
            say(f"  tool {name}({shown})", args.pace / 2)
            result = run_tool(name, arguments)
            say("    " + result.replace("\n", "\n    "), args.pace / 2)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    print(f"error: no answer after {MAX_TURNS} turns", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
