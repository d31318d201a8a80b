"""The real agent CLIs under the harness: what `cab-trace run` adds around each proven agent.

For pi, opencode, aider, codex, claude and gemini (as `make agents` installs them into .agents/bin): the wall
time of `cab-trace run --adapter X --endpoint URL` on the demo task vs the same agent started
as a plain subprocess with the argv, environment and config files the adapter builds, in a
fresh copy of the task, against the same scripted model server (tests/model_server.py, the
suite's stand-in for a paid model API). Agents that are not installed are left out with a note.
The difference is the harness: Python start-up and imports, the phases, the agent-span
receiver (opencode sends over a thousand spans per run), the check and the leak check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import Figure, median_seconds

ROOT = Path(__file__).resolve().parents[1]
AGENTS_BIN = ROOT / ".agents" / "bin"
DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"
KEY = "sk-cabtrace-bench-Zq8vW3xR5tY7uI9oP1aS"
AGENTS = ("pi", "opencode", "aider", "codex", "claude", "gemini")
#: These take the endpoint without /v1 (their clients add /v1/messages, /v1beta/models/...).
BARE_ENDPOINT = ("claude", "gemini")


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{AGENTS_BIN}{os.pathsep}{os.environ['PATH']}",
        "CAB_KEY": KEY,
    }


def _harnessed(adapter: str, url: str, scratch: Path) -> Callable[[], None]:
    def run() -> None:
        runs = Path(tempfile.mkdtemp(dir=scratch))
        cmd = [sys.executable, "-m", "cab_trace", "run", "--adapter", adapter, "--model", "scripted-model",
               "--endpoint", url, "--task", str(DEMO_TASK), "--runs-dir", str(runs), "-q"]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, env=_env(scratch), cwd=scratch)
        shutil.rmtree(runs)

    return run


def _bare(adapter_name: str, url: str, scratch: Path) -> Callable[[], None]:
    from cab_trace.harness.adapters import build_argv, build_env, build_files, load_adapter
    from cab_trace.harness.runner import write_adapter_files
    from cab_trace.harness.task import Task

    adapter = load_adapter(adapter_name)
    task = Task.load(DEMO_TASK)

    def run() -> None:
        where = Path(tempfile.mkdtemp(dir=scratch))
        workdir, config, home = where / "workdir", where / "config", where / "home"
        for d in (workdir, config, home):
            d.mkdir()
        task.copy_to(workdir)
        values: dict[str, str | None] = {**adapter.vars, "model": "scripted-model", "prompt": task.prompt,
                  "key": KEY, "endpoint": url, "task_id": task.id, "workdir": str(workdir),
                  "config_dir": str(config)}  # fmt: skip
        write_adapter_files(config, build_files(adapter, values))
        env = {**_env(home), **build_env(adapter, values, {}), "PWD": str(workdir)}
        subprocess.run(build_argv(adapter, values, [], []), check=True, capture_output=True, env=env,
                       cwd=workdir, stdin=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(where)

    return run


def run(quick: bool) -> list[Figure]:
    sys.path.insert(0, str(ROOT))
    from tests.model_server import ScriptedModelServer

    figures: list[Figure] = []
    missing = [a for a in AGENTS if not (AGENTS_BIN / a).exists()]
    if missing:
        print(f"  agents: {', '.join(missing)} not installed (make agents); left out", file=sys.stderr)
    with ScriptedModelServer(expect_key=KEY) as server, tempfile.TemporaryDirectory() as tmp:
        for adapter in AGENTS:
            if adapter in missing:
                continue
            scratch = Path(tmp) / adapter
            scratch.mkdir()
            url = server.base_url if adapter in BARE_ENDPOINT else server.url
            ours, base = median_seconds(
                _harnessed(adapter, url, scratch),
                _bare(adapter, url, scratch),
                1 if quick else 3,
            )
            figures.append(
                Figure(
                    f"`cab-trace run --adapter {adapter}` on the demo task (real CLI, scripted model)",
                    "s",
                    ours,
                    base,
                    f"the same {adapter} argv/env/config as a plain subprocess",
                )
            )
    return figures
