"""Each real agent CLI's run makes a cell page that passes the browser checks (tests/browser/checks.py):
opened from disk in chromium with the network blocked, its playhead and terminal agree with
cab-trace replay's, its model calls are the run's and open to their conversation, and the key
the agent was given is nowhere in it. The model is the scripted server (a stand-in for a paid API)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cab_trace.llm.parts import well_known_finish
from cab_trace.llm.turns import RESPONSE_STATUS, turns
from cab_trace.model import read_records
from tests.agents.conftest import ROOT, agent_bin
from tests.agents.test_real_agents import KEY, PROVEN
from tests.browser.checks import browser_or_skip, check_page
from tests.browser.client import Browser
from tests.conftest import run_cli
from tests.model_server import ScriptedModelServer

DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = browser_or_skip()
    yield b
    b.close()


@pytest.mark.slow
@pytest.mark.parametrize("adapter", list(PROVEN))
def test_a_real_agent_run_makes_a_cell_page_that_plays_back(
    tmp_path: Path, adapter: str, browser: Browser
) -> None:
    bin_dir = agent_bin(adapter)
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CAB_KEY": KEY}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "OPENAI_API_KEY"):
        env[name] = ""
    run = tmp_path / "run"
    with ScriptedModelServer(expect_key=KEY) as server:
        result = run_cli(
            "run", "--adapter", adapter, "--model", "scripted-model",
            "--endpoint", server.base_url if PROVEN[adapter]["bare"] else server.url,
            "--task", str(DEMO_TASK), "--out", str(run), "--timeout", "120",
            env=env, cwd=tmp_path, timeout=300,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = tmp_path / "cell.html"
    # The key is known to the leak check (as it was to the run): the page is written only clean.
    exported = run_cli(
        "export",
        str(run),
        "--format",
        "html",
        "-o",
        str(page),
        "--known-secret-env",
        "CAB_KEY",
        env={"CAB_KEY": KEY},
    )
    assert exported.returncode == 0, exported.stderr
    assert KEY not in page.read_text()
    replay = check_page(browser, run, page)
    calls = [r for r in read_records(run) if r.kind == "model_call"]
    assert len(calls) > 0 and len(replay.trace.spans) == len(list(read_records(run)))
    # The last call's answer is on the page as the agent got it, and says how it ended: its
    # finish reason, or for the Responses API (codex), which gives none, the status it gave.
    text = browser.eval("document.querySelector('#calls-table tr.conv-row').textContent")
    last = turns(replay.trace.spans)[-1]
    assert "answer" in text and last.answer
    for part in (p for m in last.answer for p in m.parts):
        if part.get("type") == "text" and str(part.get("content", "")).strip():
            assert str(part["content"]).strip()[:60] in text
        elif part.get("type") == "tool_call":
            assert str(part["name"]) in text
    reasons = last.span.attributes.get("gen_ai.response.finish_reasons")
    if PROVEN[adapter]["path"] == "/v1/responses":
        assert not reasons and last.span.attributes[RESPONSE_STATUS] == "completed"
        assert "assistant  (no finish reason given · status: completed)" in text
    else:
        assert isinstance(reasons, list) and f"assistant  (finish: {well_known_finish(reasons[0])})" in text
