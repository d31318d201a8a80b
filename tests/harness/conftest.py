from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

# A stand-in for the `pi` CLI: the real one needs a paid LLM API, which cannot run here. It
# behaves as carelessly as a real agent can: prints its argv (key included) and its
# environment's secrets, writes to stderr, and exits, fails or hangs as told by FAKE_* variables.
FAKE_AGENT = r"""#!{python}
import json, os, subprocess, sys, time
print("argv " + json.dumps(sys.argv[1:]), flush=True)
for name in ("CAB_KEY", "OPENAI_API_KEY", "MY_SECRET"):
    if os.environ.get(name):
        print(f"{name}={os.environ[name]}", flush=True)
print("working in " + os.getcwd(), file=sys.stderr, flush=True)
if os.environ.get("FAKE_PIDFILE"):
    child = subprocess.Popen(["sleep", "300"])
    open(os.environ["FAKE_PIDFILE"], "w").write(str(child.pid))
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A directory holding an executable `pi` (and `aider`, `opencode`) stand-in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pi", "aider", "opencode"):
        path = bin_dir / name
        path.write_text(FAKE_AGENT.replace("{python}", sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    (task / "src").mkdir(parents=True)
    (task / "task.toml").write_text(
        'id = "polyglot/rust-error-handling"\nprompt = "Function uses unwrap on user input; replace it"\n'
    )
    (task / "src" / "lib.rs").write_text("pub fn f() {}\n")
    return task


@pytest.fixture
def agent_env(fake_bin: Path) -> dict[str, str]:
    # The built-in adapters need an endpoint; the stand-in never calls it.
    return {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "CAB_ENDPOINT": "http://127.0.0.1:9/v1"}
