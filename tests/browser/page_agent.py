"""A small full-screen agent for the cell page's tests, run by the real harness (`cab-trace run
--adapter command --tty`) against the scripted model server (tests/model_server.py).

It draws as a full-screen agent does: the alternate screen, a hidden cursor, a title bar in
reverse video, 256-colour and true-colour text, cursor moves, a spinner redrawn in place, a
scrolling log region. Its first model call uses a wrong key (the endpoint answers 401: an error)
and the second sends the same request again with the right one (a retry); then it reads and
edits the file with the tools the model asks for, sending each result back.

python page_agent.py ENDPOINT KEY MODEL PROMPT
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

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
ESC = "\x1b"
ROWS = 36


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def status(line: str, colour: int) -> None:
    """The status row, redrawn in place (cursor saved and restored)."""
    out(f"{ESC}7{ESC}[{ROWS};1H{ESC}[2K{ESC}[38;5;{colour}m{line}{ESC}[0m{ESC}8")


def log(text: str) -> None:
    """A line in the scrolling region (rows 4 to 34)."""
    out(f"{ESC}[34;1H\r\n{ESC}[38;2;120;200;255m›{ESC}[0m {text}")


def call(endpoint: str, key: str, body: dict[str, Any]) -> dict[str, Any] | None:
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        log(f"{ESC}[1;31mHTTP {exc.code}{ESC}[0m from the model; trying again")
        return None


def main() -> None:
    endpoint, key, model, prompt = sys.argv[1:5]
    out(f"{ESC}[?1049h{ESC}[?25l{ESC}[H{ESC}[2J")
    out(f"{ESC}[1;1H{ESC}[7m page-agent 1.0 · model {model} {' ' * 60}{ESC}[0m")
    out(f"{ESC}[2;1H{ESC}[1mtask:{ESC}[0m {prompt[:100]}")
    out(f"{ESC}[4;34r")  # the log scrolls in rows 4 to 34; the title and the status stay
    for i, frame in enumerate("|/-\\|/"):
        status(f"{frame} thinking ({i})", 214)
        time.sleep(0.05)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": prompt},
    ]
    body = {"model": model, "messages": messages, "tools": TOOLS}
    answer = call(endpoint, "wrong-key-for-the-test", body)  # 401: an error, then the same again
    time.sleep(0.1)
    for _turn in range(8):
        answer = call(endpoint, key, {"model": model, "messages": messages, "tools": TOOLS})
        if answer is None:
            break
        message = answer["choices"][0]["message"]
        messages.append({k: v for k, v in message.items() if v})
        if not message.get("tool_calls"):
            log(f"{ESC}[32mdone:{ESC}[0m {message.get('content')}")
            break
        for tc in message["tool_calls"]:
            args = json.loads(tc["function"]["arguments"])
            path = Path(args["path"])
            if tc["function"]["name"] == "read":
                result = path.read_text()
            else:
                path.write_text(path.read_text().replace(args["oldText"], args["newText"], 1))
                result = "edited"
            log(f"tool {ESC}[1;33m{tc['function']['name']}{ESC}[0m {path.name}")
            messages.append({"role": "tool", "tool_call_id": tc["id"], "content": result})
            status(f"✓ {tc['function']['name']} {path.name}", 40)
            time.sleep(0.1)
    for i in range(12):
        log(f"checking {i:02d} " + "·" * (i * 3))
        time.sleep(0.02)
    status("finished", 46)
    time.sleep(0.2)
    out(f"{ESC}[r{ESC}[?25h{ESC}[?1049l")
    print("page-agent: the file is fixed", flush=True)


if __name__ == "__main__":
    main()
