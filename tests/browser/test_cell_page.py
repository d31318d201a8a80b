"""The cell page in a real browser (Debian's chromium, driven by playwright-core), opened from disk
with the network blocked: the keys, the playhead, the terminal against the replay's own screens,
the model calls and their conversations, the sweep index; and the screenshots the docs show."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from cab_trace.llm.turns import turns
from cab_trace.model import read_records
from cab_trace.model.axes import cell_numbers
from tests.browser.checks import STATE, Replay, check_page, open_page
from tests.browser.client import Browser
from tests.browser.conftest import DEMO_TASK, FIX_GREETING
from tests.conftest import ROOT, run_cli

FIXTURE = Path(__file__).with_name("fixtures") / "page-run"
DOCS_IMAGES = ROOT / "docs" / "img"


def export(run: Path, out: Path, *extra: str) -> Path:
    result = run_cli("export", str(run), "--format", "html", "-o", str(out), *extra)
    assert result.returncode == 0, result.stderr
    return out


CARDS = (
    "Object.fromEntries(Array.from(document.querySelectorAll('.card'))"
    ".map(c => [c.dataset.axis, c.querySelector('.value').textContent]))"
)


def conversation(browser: Browser, call: int) -> str:
    """Open model call ``call`` (0-based) and return the selector of its conversation."""
    browser.call("click", selector=f"#calls-table tr[data-call='{call}'] button.expand")
    return f"#calls-table tr[data-call='{call}'] + tr.conv-row .conv"


def texts(browser: Browser, selector: str) -> list[str]:
    return browser.eval(
        f"Array.from(document.querySelectorAll({json.dumps(selector)})).map(e => e.textContent)"
    )


def test_the_demo_run_page(browser: Browser, demo_run: Path, tmp_path: Path) -> None:
    """The demo's agent talks to a scripted model through the recording proxy: its page has the
    model calls, their tokens and conversations, and the tool steps."""
    page = export(demo_run, tmp_path / "demo.html")
    replay = check_page(browser, demo_run, page)  # the rows are the run's calls; the last one opens
    numbers = cell_numbers(replay.trace.spans)
    assert numbers.model_calls == 4 and numbers.tool_steps == 3 and numbers.total_tokens
    cards = browser.eval(CARDS)
    assert cards["calls"] == "4" and cards["tokens"] == f"{numbers.total_tokens:,}"
    assert cards["pass"] == "passed"
    rows = browser.eval(
        "Array.from(document.querySelectorAll('#calls-table tbody tr[data-call]'))"
        ".map(r => r.cells[6].textContent)"
    )
    assert rows == ["tool_calls", "tool_calls", "tool_calls", "stop"]
    # Call 1: the task is new; the model answers by asking to read greet.py, and the tool step
    # that read it is there with its arguments and the file it returned.
    first = conversation(browser, 0)
    assert texts(browser, f"{first} h4") == [
        "new this turn (1 message)",
        "answer",
        "tool steps it asked for (1)",
    ]
    [new, answer] = texts(browser, f"{first} .msg")
    assert new.startswith("user") and "greet() forgets the exclamation mark" in new
    assert answer.startswith("assistant  (finish: tool_call)") and "read_file" in answer
    [step] = texts(browser, f"{first} .step")
    assert "tool step read_file" in step and '"path": "greet.py"' in step
    assert 'return f"Hello, {name}"' in step  # the tool's result: the file as it was
    assert texts(browser, f"{first} details summary")[:2] == [
        f"system prompt ({len(system_prompt(replay)):,} characters)",
        "tools offered (3): read_file, edit_file, run_tests",
    ]
    # Call 4 (opened by check_page): the tests' output is new, the answer says what was done;
    # the conversation so far is one line, as is the system prompt, unchanged since call 3.
    last = "#calls-table tr[data-call='3'] + tr.conv-row .conv"
    [new, answer] = texts(browser, f"{last} .msg")
    assert new.startswith("tool") and "Ran 1 test" in new and new.rstrip().endswith("OK")
    assert answer.startswith("assistant  (finish: stop)") and "Fixed greet.py" in answer
    assert texts(browser, f"{last} details summary")[:2] == [
        "earlier messages (6) · continues call #3",
        f"system prompt ({len(system_prompt(replay)):,} characters) · as before",
    ]
    assert browser.call("seen") == {"console": [], "pageErrors": [], "blocked": []}


def system_prompt(replay: Replay) -> str:
    [turn, *_] = turns(replay.trace.spans)
    return "".join(str(p.get("content", "")) for m in turn.system for p in m.parts)


def test_a_run_without_the_model_proxy_says_its_calls_were_not_recorded(
    browser: Browser, plain_run: Path, tmp_path: Path
) -> None:
    """A run made without the recording proxy: its calls and tokens are unknown, never 0."""
    page = export(plain_run, tmp_path / "plain.html")
    check_page(browser, plain_run, page)
    assert "Model calls were not recorded" in browser.eval("document.getElementById('calls').textContent")
    cards = browser.eval(CARDS)
    assert cards["tokens"] == "unknown" and cards["calls"] == "unknown" and cards["pass"] == "passed"


def test_a_full_screen_agent_with_errors_retries_and_tool_steps(
    browser: Browser, agent_run: Path, tmp_path: Path
) -> None:
    page = export(agent_run, tmp_path / "agent.html")
    replay = check_page(browser, agent_run, page)
    # The screen is the full-screen agent's (title bar, status line), with colours.
    browser.press("End")
    state = browser.eval(STATE)
    assert state["terminal"][0].startswith(" page-agent 1.0")
    colours = browser.eval(
        "Array.from(document.querySelectorAll('#terminal .row span')).map(s => s.style.color)"
    )
    assert any(c.startswith("rgb(") for c in colours)  # 256-colour and true-colour text
    rows = browser.eval(
        "Array.from(document.querySelectorAll('#calls-table tbody tr[data-call]')).map(r => r.textContent)"
    )
    assert "error 401" in rows[0] and "error" in browser.eval(
        "document.querySelector('#calls-table tr[data-call=\"0\"]').className"
    )
    assert "retry of #1" in rows[1]
    # Call 3 continues call 2: what is new in its turn is the read's result, shown first; the
    # earlier messages are there, collapsed.
    browser.call("click", selector="#calls-table tr[data-call='2'] button.expand")
    conv = "#calls-table tr.conv-row .conv"
    heads = browser.eval(f"Array.from(document.querySelectorAll('{conv} h4')).map(h => h.textContent)")
    assert heads[:3] == ["new this turn (1 message)", "answer", "tool steps it asked for (1)"]
    first = browser.eval(f"document.querySelector('{conv} .msg').textContent")
    assert first.startswith("tool") and "def greet(name: str) -> str:" in first
    step = browser.eval(f"document.querySelector('{conv} .step').textContent")
    assert (
        "tool step edit" in step and '"newText": "return f\\"Hello, {name}!\\""' in step and "edited" in step
    )
    details = browser.eval(
        f"Array.from(document.querySelectorAll('{conv} details')).map(d => [d.open, d.textContent])"
    )
    # Earlier: the task and call 2's answer (call 1 failed, call 2 was its retry); the system
    # prompt is a line of its own.
    assert details[0][0] is False and details[0][1].startswith("earlier messages (2) · continues call #2")
    assert details[1][0] is False and details[1][1].startswith("system prompt (")
    assert details[1][1].endswith("· as before")
    # A details element fills itself when it opens (its toggle event comes as a task of its own).
    later = "new Promise(r => setTimeout(r, 50))"
    browser.call("click", selector=f"{conv} details:nth-of-type(1) summary")
    opened = f"{later}.then(() => document.querySelectorAll('{conv} details')[0].textContent)"
    assert "read" in browser.eval(opened) and "You are a coding agent." not in browser.eval(opened)
    browser.call("click", selector=f"{conv} details:nth-of-type(2) summary")
    opened = f"{later}.then(() => document.querySelectorAll('{conv} details')[1].textContent)"
    assert "You are a coding agent." in browser.eval(opened)
    # Selecting a model call's span (m: next model call) shows a way to its conversation.
    browser.press("Home")
    browser.press("m")
    selected = browser.eval(STATE)["selected"]
    assert replay.tree.spans[selected].kind == "model_call"
    assert "open its conversation" in browser.eval("document.getElementById('detail').textContent")
    assert browser.call("seen") == {"console": [], "pageErrors": [], "blocked": []}


@pytest.mark.parametrize("name", ["jaeger-wrapped.json", "otlp-pretty.json", "collector-mixed.jsonl"])
def test_other_tools_traces_make_pages_too(browser: Browser, tmp_path: Path, name: str) -> None:
    """Jaeger JSON and OTLP/JSON files (no run directory, no recording): the same checks."""
    trace = ROOT / "tests" / "fixtures" / "foreign" / name
    check_page(browser, trace, export(trace, tmp_path / "foreign.html"))


def test_a_page_without_content_and_with_hostile_text(browser: Browser, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    hostile = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    (run / "changes.diff").write_text((run / "changes.diff").read_text() + f"+{hostile}\n")
    page = export(run, tmp_path / "bare.html", "--no-content")
    open_page(browser, page)
    assert browser.eval("typeof window.pwned") == "undefined"
    assert hostile in browser.eval("document.getElementById('changes').textContent")
    browser.call("click", selector="#calls-table tr[data-call='2'] button.expand")
    text = browser.eval("document.querySelector('#calls-table tr.conv-row').textContent")
    assert "--no-content" in text and "You are a coding agent." not in text
    assert browser.call("seen") == {"console": [], "pageErrors": [], "blocked": []}


def test_a_sweep_index_sorts_and_links_to_every_cell(
    browser: Browser, demo_run: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(FIXTURE, sweep / "runs" / "a")
    shutil.copytree(demo_run, sweep / "runs" / "b")
    cells = [
        {"cell_id": "s/command/m/demo/1", "sweep_id": "s", "adapter": "command", "model": "m",
         "task_id": "demo/fix-greeting", "repeat": 1, "state": "done", "run_dir": "runs/a"},
        {"cell_id": "s/command/m/demo/2", "sweep_id": "s", "adapter": "command", "model": "m",
         "task_id": "demo/fix-greeting", "repeat": 2, "state": "done", "run_dir": "runs/b"},
        {"cell_id": "s/command/m/demo/3", "sweep_id": "s", "adapter": "command", "model": "m",
         "task_id": "demo/fix-greeting", "repeat": 3, "state": "failed", "error": "could not start"},
    ]  # fmt: skip
    (sweep / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells))
    site = tmp_path / "site"
    assert run_cli("export", str(sweep), "--format", "html", "-o", str(site)).returncode == 0
    browser.open(site / "index.html")
    first_column = "Array.from(document.querySelectorAll('#cells tbody tr')).map(r => r.cells[0].textContent)"
    assert browser.eval(first_column) == ["s/command/m/demo/1", "s/command/m/demo/2", "s/command/m/demo/3"]
    tokens = "Array.from(document.querySelectorAll('#cells th')).findIndex(h => h.textContent === 'tokens')"
    browser.eval(f"document.querySelectorAll('#cells th')[{tokens}].click()")
    # Ascending by tokens: the run with tokens first; the unknowns after it, whichever way.
    order = browser.eval(first_column)
    assert order[0] == "s/command/m/demo/1"
    browser.eval(f"document.querySelectorAll('#cells th')[{tokens}].click()")
    assert browser.eval(first_column)[0] == "s/command/m/demo/1"
    browser.eval(
        "(() => { const f = document.getElementById('filter'); f.value = 'demo/2';"
        " f.dispatchEvent(new Event('input')); })()"
    )
    assert (
        browser.eval("Array.from(document.querySelectorAll('#cells tbody tr')).filter(r => !r.hidden).length")
        == 1
    )
    href = browser.eval("document.querySelector('#cells tbody tr:not([hidden]) a').getAttribute('href')")
    assert href == "cells/runs--b.html"
    browser.call("click", selector="#cells tbody tr:not([hidden]) a")
    assert browser.eval("window.cabPage.ready.then(() => location.href)").endswith(href.split("/")[-1])
    assert browser.eval("document.getElementById('index-link').getAttribute('href')") == "../index.html"
    assert browser.call("seen") == {"console": [], "pageErrors": [], "blocked": []}


def test_screenshots_for_the_docs(browser: Browser, tmp_path: Path) -> None:
    """The committed recording, at a fixed moment: the docs' pictures. CAB_DOC_SCREENSHOTS=1
    writes them into docs/img/; otherwise they go to a temporary directory."""
    where = DOCS_IMAGES if os.environ.get("CAB_DOC_SCREENSHOTS") else tmp_path
    page = export(FIXTURE, tmp_path / "cell.html")
    replay = Replay.of(FIXTURE)
    browser.open(page, width=1360, height=1480)
    browser.eval("window.cabPage.ready")
    # The moment the agent's edit runs: pressed as a user would (model call, then its step).
    browser.press("m", 3)
    browser.press("ArrowRight", 2)
    state = browser.eval(STATE)
    assert [line for line in state["terminal"] if line.strip()], "the terminal shows the agent's screen"
    assert [r.rstrip() for r in state["terminal"]] == replay.screen_at(state["t"])
    browser.eval("window.scrollTo(0, 0)")
    browser.call("screenshot", path=str(where / "cell-page.png"))
    browser.eval("window.scrollTo(0, document.getElementById('replay').offsetTop - 8)")
    browser.call("screenshot", path=str(where / "cell-page-replay.png"))
    conv = conversation(browser, 2)
    # Recorded before the conventions' `response` (its tool results are under `result`): shown all the same.
    assert "def greet(name: str) -> str:" in texts(browser, f"{conv} .msg")[0]
    browser.eval("window.scrollTo(0, document.getElementById('calls').offsetTop - 8)")
    browser.call("screenshot", path=str(where / "cell-page-calls.png"))
    for name in ("cell-page.png", "cell-page-replay.png", "cell-page-calls.png"):
        assert (where / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
