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


INDEX_ROWS = (
    "Array.from(document.querySelectorAll('#cells tbody tr')).map(r => Object.fromEntries("
    "Array.from(r.cells).map((c, i) => [document.querySelectorAll('#cells th')[i].textContent,"
    " c.textContent])))"
)


def sort_by(browser: Browser, heading: str) -> list[str]:
    """Click a heading of the index; the cells' names in the order shown."""
    browser.eval(
        "Array.from(document.querySelectorAll('#cells th'))"
        f".find(h => h.textContent === {json.dumps(heading)}).click()"
    )
    return [row["cell"] for row in browser.eval(INDEX_ROWS)]


def test_a_sweep_index_sorts_and_links_to_every_cell(
    browser: Browser, demo_run: Path, tmp_path: Path
) -> None:
    """A sweep directory as `cab-trace sweep` lays it out (<adapter>/<model>/<task>/r<N>/, one
    cells.jsonl line per cell in plan order, repeat by repeat): the index lists each cell's
    repeats together, says each cell's place in the plan, sorts and filters, and links."""
    sweep = tmp_path / "sweep"
    runs = {"m/1": FIXTURE, "m2/1": demo_run, "m/2": demo_run}
    for key, run in runs.items():
        model, repeat = key.split("/")
        shutil.copytree(run, sweep / "command" / model / "demo" / "fix-greeting" / f"r{repeat}")

    def line(model: str, repeat: int, state: str, **more: str) -> dict[str, object]:
        return {"cell_id": f"s/command/{model}/demo/fix-greeting", "sweep_id": "s", "adapter": "command",
                "model": model, "task_id": "demo/fix-greeting", "repeat": repeat, "plugins": [], "vars": {},
                "state": state, **more}  # fmt: skip

    def ran(model: str, repeat: int) -> dict[str, object]:
        return line(model, repeat, "done", run_dir=f"command/{model}/demo/fix-greeting/r{repeat}")

    plan = [ran("m", 1), ran("m2", 1), ran("m", 2), line("m2", 2, "pending"),
            line("m", 3, "failed", error="could not start")]  # fmt: skip
    (sweep / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in plan))
    site = tmp_path / "site"
    assert run_cli("export", str(sweep), "--format", "html", "-o", str(site)).returncode == 0
    browser.open(site / "index.html")
    rows = browser.eval(INDEX_ROWS)
    name = "s/command/{}/demo/fix-greeting r{}".format
    index = [name("m", 1), name("m", 2), name("m", 3), name("m2", 1), name("m2", 2)]
    assert [r["cell"] for r in rows] == index
    assert [r["#"] for r in rows] == ["1", "3", "5", "2", "4"]
    assert [r["repeat"] for r in rows] == ["1", "2", "3", "1", "2"]
    assert [r["state"] for r in rows] == ["done", "done", "failed", "done", "pending"]
    # The plan's order is one click away.
    assert sort_by(browser, "#") == [name("m", 1), name("m2", 1), name("m", 2), name("m2", 2), name("m", 3)]
    # By tokens, each way: unknowns last whichever way, ties in the index's order.
    tokens = {name("m", 1): cell_numbers(read_records(FIXTURE)).total_tokens}
    tokens[name("m", 2)] = tokens[name("m2", 1)] = cell_numbers(read_records(demo_run)).total_tokens
    assert all(tokens.values())

    def by_tokens(descending: bool) -> list[str]:
        known = sorted((c for c in index if c in tokens), key=lambda c: tokens[c] * (-1 if descending else 1))
        return known + [c for c in index if c not in tokens]

    assert sort_by(browser, "tokens") == by_tokens(False)
    assert sort_by(browser, "tokens") == by_tokens(True)
    browser.eval(
        "(() => { const f = document.getElementById('filter'); f.value = 'm2/demo/fix-greeting r1';"
        " f.dispatchEvent(new Event('input')); })()"
    )
    assert (
        browser.eval("Array.from(document.querySelectorAll('#cells tbody tr')).filter(r => !r.hidden).length")
        == 1
    )
    href = browser.eval("document.querySelector('#cells tbody tr:not([hidden]) a').getAttribute('href')")
    assert href == "cells/command--m2--demo--fix-greeting--r1.html"
    browser.call("click", selector="#cells tbody tr:not([hidden]) a")
    assert browser.eval("window.cabPage.ready.then(() => location.href)").endswith(href.split("/")[-1])
    assert browser.eval("document.getElementById('index-link').getAttribute('href')") == "../index.html"
    assert browser.call("seen") == {"console": [], "pageErrors": [], "blocked": []}


def test_the_index_of_a_real_sweep(browser: Browser, tmp_path: Path) -> None:
    """`cab-trace sweep` itself (2 models, 2 repeats of the demo task): every cell's page is on
    the index, its repeats together, and each page says which repeat it is."""
    sweep, site = tmp_path / "sweep", tmp_path / "site"
    result = run_cli(
        "sweep", "--adapter", "command", "--model", "vendor/m1", "--model", "m2", "--task", str(DEMO_TASK),
        "--repeats", "2", "--workers", "2", "--sweep-id", "real", "--out", str(sweep), "-q", "--",
        sys.executable, "-c", FIX_GREETING, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = [json.loads(line) for line in (sweep / "cells.jsonl").read_text().splitlines()]
    assert [(c["model"], c["repeat"]) for c in plan] == [
        ("vendor/m1", 1),
        ("m2", 1),
        ("vendor/m1", 2),
        ("m2", 2),
    ]
    assert run_cli("export", str(sweep), "--format", "html", "-o", str(site)).returncode == 0
    browser.open(site / "index.html")
    rows = browser.eval(INDEX_ROWS)
    assert [(r["model"], r["repeat"], r["#"]) for r in rows] == [
        ("vendor/m1", "1", "1"), ("vendor/m1", "2", "3"), ("m2", "1", "2"), ("m2", "2", "4"),
    ]  # fmt: skip
    assert [r["cell"] for r in rows] == [
        f"real/command/{c['model']}/demo/fix-greeting r{c['repeat']}"
        for c in (plan[0], plan[2], plan[1], plan[3])
    ]
    assert all(r["state"] == "done" and r["pass"] == "passed" for r in rows)
    hrefs = browser.eval(
        "Array.from(document.querySelectorAll('#cells tbody a')).map(a => a.getAttribute('href'))"
    )
    assert hrefs[1] == "cells/command--vendor--m1--demo--fix-greeting--r2.html"
    browser.call("click", selector="#cells tbody tr:nth-child(2) a")
    assert browser.eval("window.cabPage.ready.then(() => document.title)").startswith(
        "real/command/vendor/m1/demo/fix-greeting r2"
    )
    identity = browser.eval(
        "Object.fromEntries(Array.from(document.querySelectorAll('table.kv tr'))"
        ".map(r => [r.cells[0].textContent, r.cells[1].textContent.trim()]))"
    )
    assert identity["repeat"] == "2" and identity["cell_id"] == "real/command/vendor/m1/demo/fix-greeting"
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
