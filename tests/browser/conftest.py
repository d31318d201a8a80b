"""The browser tests' fixtures: one chromium for the session, and runs recorded for real."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.checks import browser_or_skip
from tests.browser.client import Browser
from tests.conftest import ROOT, run_cli
from tests.model_server import ScriptedModelServer

DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"
PAGE_AGENT = Path(__file__).with_name("page_agent.py")
KEY = "sk-page-agent-KEY-7d1e9c2b4a6f8e0d3c5b"
#: An agent that fixes the demo task without a model (python -c): for runs without the proxy.
FIX_GREETING = (
    "import pathlib; p = pathlib.Path('greet.py'); print('fixing greet.py');"
    " p.write_text(p.read_text().replace('{name}\"', '{name}!\"'))"
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    b = browser_or_skip()
    yield b
    b.close()


def record_page_agent(out: Path) -> Path:
    """A real run (cab-trace run --tty) of the full-screen test agent against the scripted model."""
    with ScriptedModelServer(expect_key=KEY) as server:
        result = run_cli(
            "run", "--adapter", "command", "--task", str(DEMO_TASK), "--model", "scripted-model",
            "--endpoint", server.url, "--out", str(out), "-q", "--tty", "--",
            sys.executable, str(PAGE_AGENT), "{endpoint}", "{key}", "{model}", "{prompt}",
            env={"CAB_KEY": KEY}, timeout=180,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def agent_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_page_agent(tmp_path_factory.mktemp("agent") / "run")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "run"
    result = run_cli("demo", "--pace", "0.05", "--out", str(out), "-q", timeout=120)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run made without the recording proxy (no endpoint): its model calls are not recorded."""
    out = tmp_path_factory.mktemp("plain") / "run"
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out), "-q", "--",
        sys.executable, "-c", FIX_GREETING, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out
