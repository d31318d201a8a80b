"""The cell page as a document (no browser here; tests/browser/ opens it in chromium): what it
holds, what it leaves out, that it needs nothing from outside, that text from the run cannot
become markup, the leak check, and the command line."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from cab_trace.export.html import PageOptions, build_page, render_page
from cab_trace.export.html.site import index_order
from cab_trace.model import JsonlWriter, SpanRecord, Status, read_records
from replay.load import load
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
PAGE_RUN = ROOT / "tests" / "browser" / "fixtures" / "page-run"  # a full-screen agent, 4 model calls
DEMO_RUN = ROOT / "tests" / "replay" / "fixtures" / "demo-run"  # no model proxy: calls unknown
SECRET = "sk-live-Zx81pQ7rT5vW3yN2mK9jH4gF6dS0aB1c"


def page(run: Path, **options: Any) -> str:
    [trace] = load(run)
    return render_page(build_page(trace, run, PageOptions(**options))).text


def blocks(text: str) -> dict[str, Any]:
    """The page's data blocks, opened as the player opens them."""
    out: dict[str, Any] = {}
    for element_id, kind, body in re.findall(
        r'<script type="([^"]+)" id="([^"]+)"[^>]*>(.*?)</script>', text, re.S
    ):
        if element_id == "application/json":
            out[kind] = json.loads(body)
        else:
            out[kind] = json.loads(gzip.decompress(base64.b64decode("".join(body.split()))))
    return out


def card(text: str, axis: str) -> str:
    match = re.search(
        rf'data-axis="{axis}"[^>]*><div class="label">[^<]*</div><div class="value">([^<]*)<', text
    )
    assert match, axis
    return match.group(1)


def test_the_page_needs_nothing_from_outside() -> None:
    text = page(PAGE_RUN)
    assert not re.search(r"<(link|img|iframe|object|embed|base)\b", text)
    assert not re.search(r"\b(src|href)\s*=\s*[\"']?(https?:|//)", text, re.I)
    assert "@import" not in text and "url(" not in text
    # The policy lets in the page's one script and one style sheet, by their hashes, and nothing else.
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert policy and "default-src &#x27;none&#x27;" in policy.group(1)
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", text, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    for source in (scripts[0], styles[0]):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"sha256-{digest}" in policy.group(1)


def test_identity_numbers_and_the_model_calls_are_on_the_page() -> None:
    text = page(PAGE_RUN)
    assert "local/command/scripted-model/demo/fix-greeting" in text
    assert card(text, "pass") == "passed"
    assert card(text, "exit") == "0"
    assert card(text, "tokens") == "708"  # 661 in + 47 out; the failed call is an error, not missing usage
    assert card(text, "calls") == "4 (1 failed)"
    assert card(text, "per_correct") == "708"
    assert card(text, "blast").startswith("1 file(s)")
    rows = re.findall(r'<tr(?: class="error")? data-call="(\d)">(.*?)</tr>', text, re.S)
    assert [n for n, _ in rows] == ["0", "1", "2", "3"]
    assert "error 401" in rows[0][1] and "retry of #1" in rows[1][1]
    records = sorted(
        (r for r in read_records(PAGE_RUN) if r.kind == "model_call"), key=lambda r: r.start_time_unix_nano
    )
    for (_, row), record in zip(rows, records, strict=True):
        assert str(record.attributes["cab.llm.request_sha256"])[:12] in row
    data = blocks(text)
    assert len(data["cab-head"]["calls"]) == 4 and len(data["cab-head"]["spans"]) == 14
    assert data["cab-terminal"]["w"] == 120 and len(data["cab-terminal"]["frames"]) > 5
    content = data["cab-content"]
    third = content["calls"][2]
    # The turn as cab_trace.llm.turns reads it: the system prompt apart, the task and call 2's
    # answer earlier, new this turn the read's result only.
    assert third["earlier"] == 2 and third["continues"] == 2 and not third["sys_changed"]
    [system] = [content["messages"][i] for i in third["sys"]]
    assert "You are a coding agent." in system["parts"][0]["content"]
    [new] = [content["messages"][i] for i in third["in"][third["earlier"] :]]
    # Recorded (before 0.2) under `result`: on the page under the conventions' `response`.
    assert new["role"] == "tool" and "def greet" in new["parts"][0]["response"]
    assert "result" not in new["parts"][0]
    # Each message is stored once: the system prompt and the task, sent by every call, too.
    assert len(content["messages"]) == len({json.dumps(m, sort_keys=True) for m in content["messages"]})
    assert all(call["sys"] == third["sys"] for call in content["calls"])
    assert [s["name"] for s in content["steps"]] == ["read", "edit"]
    assert "Hello, {name}!" in content["steps"][1]["arguments"]


def test_what_was_not_observed_is_unknown_never_zero() -> None:
    text = page(DEMO_RUN)  # recorded without the model proxy
    for axis in ("tokens", "calls", "call_time"):
        assert card(text, axis) == "unknown", axis
    assert "Model calls were not recorded for this run" in text
    assert card(text, "pass") == "unknown"  # this recording has no verify span: no check ran
    assert card(text, "blast") == "unknown"
    assert "No check ran" in text


def test_no_content_leaves_the_conversations_out() -> None:
    full, bare = page(PAGE_RUN), page(PAGE_RUN, content=False)
    assert "You are a coding agent." in json.dumps(blocks(full)["cab-content"])
    assert "You are a coding agent." not in json.dumps(blocks(bare))
    assert "You are a coding agent." not in bare
    data = blocks(bare)
    assert not data["cab-content"]["messages"]
    assert all("arguments" not in s and "result" not in s for s in data["cab-content"]["steps"])
    assert "made with --no-content" in bare
    assert len(data["cab-head"]["calls"]) == 4  # the calls themselves are still listed


def test_text_from_the_run_never_becomes_markup(tmp_path: Path) -> None:
    hostile = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    t0 = 1_800_000_000_000_000_000
    spans = [
        SpanRecord("a" * 32, "1" * 16, None, f"run {hostile}", "run", t0, t0 + 10**9,
                   attributes={"cell_id": hostile, "note": hostile}),
        SpanRecord("a" * 32, "2" * 16, "1" * 16, hostile, "verify", t0 + 10**8, t0 + 5 * 10**8,
                   status=Status("ERROR", hostile), attributes={"stdout_tail": hostile, "passed": False}),
    ]  # fmt: skip
    run = tmp_path / "run"
    run.mkdir()
    JsonlWriter(run / "trace.jsonl").write(spans)
    (run / "changes.diff").write_text(f"+{hostile}\n")
    text = page(run)
    assert hostile not in text
    assert "<script>window.pwned" not in text and "<img" not in text
    assert text.count("<script") == 4  # the head, the spans' and the conversations' blocks, the player
    assert blocks(text)["cab-head"]["spans"][0][0] == f"run {hostile}"  # still there, as data


def _raw_run(tmp_path: Path, where: str) -> Path:
    """A run recorded by something that did not redact: the secret in an attribute or a message."""
    run = tmp_path / "raw"
    shutil.copytree(PAGE_RUN, run)
    records = list(read_records(run))
    for r in records:
        if where == "attribute" and r.kind == "verify":
            r.attributes["stdout_tail"] = f"token={SECRET}"
        if where == "message" and r.kind == "model_call" and "gen_ai.input.messages" in r.attributes:
            r.attributes["gen_ai.input.messages"] = str(r.attributes["gen_ai.input.messages"]).replace(
                "You are a coding agent.", f"Your key is {SECRET}"
            )
    (run / "trace.jsonl").unlink()
    JsonlWriter(run / "trace.jsonl").write(records)
    return run


@pytest.mark.parametrize("where", ["attribute", "message"])
def test_the_leak_check_keeps_a_page_with_a_known_secret_from_being_written(
    tmp_path: Path, where: str
) -> None:
    run = _raw_run(tmp_path, where)
    out = tmp_path / "cell.html"
    result = run_cli("export", str(run), "--format", "html", "-o", str(out), env={"BENCH_API_KEY": SECRET})
    assert result.returncode == 1, result.stderr
    assert not out.exists() and not list(tmp_path.glob(".cell.html*"))
    assert "not written: the leak check found a known secret" in result.stderr
    assert SECRET not in result.stderr and SECRET[:10] not in result.stderr
    # Named with --known-secret-env instead of by a secret-sounding name: found too.
    result = run_cli(
        "export", str(run), "--format", "html", "-o", str(out), "--known-secret-env", "PLAIN",
        env={"PLAIN": SECRET},
    )  # fmt: skip
    assert result.returncode == 1 and not out.exists()
    # Without the secret known, the page is written (the leak check looks for known secrets).
    assert run_cli("export", str(run), "--format", "html", "-o", str(out)).returncode == 0


def test_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "cell.html"
    ok = run_cli("export", str(PAGE_RUN), "--format", "html", "-o", str(out))
    assert ok.returncode == 0, ok.stderr
    assert out.read_text().startswith("<!DOCTYPE html>") and f"wrote {out}" in ok.stderr
    cases = [
        (["--format", "html"], "--format html needs -o FILE"),
        (
            ["--no-content", "--format", "jaeger-json", "-o", str(tmp_path / "x.json")],
            "only for --format html",
        ),
        (["--terminal-limit", "1m", "-o", str(tmp_path / "x")], "-o needs --format"),
        (
            ["--format", "html", "-o", str(tmp_path / "x.html"), "--known-secret-env", "NOT_SET_ANYWHERE"],
            "is not set",
        ),
    ]
    for extra, message in cases:
        result = run_cli("export", str(PAGE_RUN), *extra)
        assert result.returncode == 2 and message in result.stderr, (extra, result.stderr)
        assert "Traceback" not in result.stderr
    both = run_cli(
        "export", str(PAGE_RUN), str(DEMO_RUN), "--format", "html", "-o", str(tmp_path / "two.html")
    )
    assert both.returncode == 2 and "several runs make a directory" in both.stderr
    missing = run_cli("export", str(tmp_path / "nope"), "--format", "html", "-o", str(tmp_path / "n.html"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


CELL = "command/m/demo/fix-greeting"  # a cell's directory in a sweep: <adapter>/<model>/<task>/r<N>


def _sweep(tmp_path: Path) -> Path:
    """A sweep directory as `cab-trace sweep` lays it out (three repeats of one cell)."""
    sweep = tmp_path / "sweep"
    shutil.copytree(PAGE_RUN, sweep / CELL / "r1")
    shutil.copytree(DEMO_RUN, sweep / CELL / "r2")
    same = {"cell_id": f"s1/{CELL}", "sweep_id": "s1", "adapter": "command", "model": "m",
            "task_id": "demo/fix-greeting", "plugins": [], "vars": {}}  # fmt: skip
    cells = [
        {**same, "repeat": 1, "state": "done", "run_dir": f"{CELL}/r1", "passed": True, "total_tokens": 708},
        {**same, "repeat": 2, "state": "done", "run_dir": f"{CELL}/r2"},
        {**same, "repeat": 3, "state": "pending"},
    ]
    lines = [json.dumps(c) for c in cells]
    lines.insert(1, "{not json")
    (sweep / "cells.jsonl").write_text("\n".join(lines) + "\n")
    return sweep


def test_a_sweep_is_a_directory_of_pages_and_an_index(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    site = tmp_path / "site"
    result = run_cli("export", str(sweep), "--format", "html", "-o", f"{site}/")
    assert result.returncode == 0, result.stderr
    assert "cells.jsonl:2: not JSON" in result.stderr
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    first, second = (
        "cells/command--m--demo--fix-greeting--r1.html",
        "cells/command--m--demo--fix-greeting--r2.html",
    )
    assert pages == [first, second, "index.html"]
    index = (site / "index.html").read_text()
    body = index[index.index("<tbody>") :]
    rows = re.findall(r'<tr data-order="\d+">(.*?)</tr>', body, re.S)
    assert len(rows) == 3
    assert f'href="{first}"' in rows[0] and f'href="{second}"' in rows[1]
    # Every repeat of a cell has the same cell id: its row (and page) names the repeat.
    assert f">s1/{CELL} r1</a>" in rows[0] and f">s1/{CELL} r2</a>" in rows[1]
    assert "href" not in rows[2] and "pending" in rows[2] and f"s1/{CELL} r3" in rows[2]  # listed, not linked
    assert 'data-sort="708">708<' in rows[0]
    assert rows[1].count('class="unknown"') >= 3  # tokens, calls, call time of a run without the proxy
    cell = (site / first).read_text()
    assert 'href="../index.html"' in cell
    # Any directory of run directories works too, found at any depth (hidden ones left out: a
    # sweep's earlier attempts), in order of their paths, numbers as numbers: r2 before r10.
    (sweep / "cells.jsonl").unlink()
    shutil.copytree(sweep / CELL / "r2", sweep / CELL / "r10")
    shutil.copytree(sweep / CELL / "r2", sweep / ".attempts" / CELL / "r2" / "1")
    plain = tmp_path / "plain"
    assert run_cli("export", str(sweep), "--format", "html", "-o", str(plain)).returncode == 0
    shown = re.findall(r'<a href="cells/([^"]+)\.html">', (plain / "index.html").read_text())
    assert shown == [f"command--m--demo--fix-greeting--r{n}" for n in (1, 2, 10)]


def test_the_index_lists_each_cells_repeats_together() -> None:
    """The plan runs repeat by repeat; the index groups a cell's repeats, in the plan's order of
    cells, and reads any JSON in a line without failing."""

    def line(model: object, repeat: object, **more: object) -> dict[str, object]:
        return {"adapter": "a", "model": model, "task_id": "t", "repeat": repeat, **more}

    plan = [line("m1", 1), line("m2", 1), line("m1", 2), line("m2", 2), line("m1", 10), line("m1", 3)]
    assert index_order(plan) == [0, 2, 5, 4, 1, 3]
    # Another plugin set is another cell; a line without a repeat comes after its cell's repeats.
    plan = [line("m", 1), line("m", 1, plugins=["p"]), line("m", 2), line("m", None), line(["odd"], {"x": 1})]
    assert index_order(plan) == [0, 2, 3, 1, 4]


def test_a_cell_whose_page_cannot_be_made_is_said_and_the_rest_are_made(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    (sweep / CELL / "r2" / "trace.jsonl").write_text('{"not": "a span"}\n')
    site = tmp_path / "site"
    result = run_cli("export", str(sweep), "--format", "html", "-o", str(site))
    assert result.returncode == 1
    assert f"s1/{CELL} r2" in result.stderr and "Traceback" not in result.stderr
    assert (site / "cells" / "command--m--demo--fix-greeting--r1.html").is_file()
    assert (site / "index.html").is_file()
    assert 'class="err"' in (site / "index.html").read_text()


def test_a_long_recording_is_cut_where_the_page_says(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(PAGE_RUN, run)
    header, *events = (run / "terminal.cast").read_text().splitlines()
    t_last = json.loads(events[-1])[0]
    more = [json.dumps([t_last + i * 1e-4, "o", f"line {i} " + "x" * 60 + "\r\n"]) for i in range(3000)]
    (run / "terminal.cast").write_text("\n".join([header, *events, *more]) + "\n")
    small = page(run, terminal_limit=64 * 1024)
    whole = page(run, terminal_limit=None)
    assert "the terminal on this page stops at" in small and "stops at" not in whole
    cut, full = blocks(small)["cab-terminal"], blocks(whole)["cab-terminal"]
    assert len(json.dumps(cut)) < 100 * 1024 < len(json.dumps(full))
    assert cut["stopped"] is not None and full["stopped"] is None
    notes = [text for _, text in cut["notes"]]
    assert any("--terminal-limit 65,536 bytes" in n for n in notes)


@pytest.mark.slow
def test_the_wheel_carries_the_page_assets(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = tmp_path.glob("cab_trace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    from cab_trace.export.html.render import PLAYER_PARTS

    for asset in ("page.css", "replay.html", "index.js", *(f"player/{part}.js" for part in PLAYER_PARTS)):
        assert f"cab_trace/export/html/assets/{asset}" in names


def test_a_trace_over_the_span_limit_keeps_the_first_spans_and_says_so(tmp_path: Path) -> None:
    t0 = 1_800_000_000_000_000_000
    root = SpanRecord("c" * 32, f"{1:016x}", None, "run", "run", t0, t0 + 10**10)
    children = [
        SpanRecord(
            "c" * 32,
            f"{i + 2:016x}",
            f"{1:016x}",
            f"step {i}",
            "tool_call",
            t0 + i * 10**7,
            t0 + i * 10**7 + 5,
        )
        for i in range(80)
    ]
    run = tmp_path / "run"
    run.mkdir()
    JsonlWriter(run / "trace.jsonl").write([root, *children])
    text = page(run, max_spans=50)
    data = blocks(text)
    assert len(data["cab-head"]["spans"]) == 50 and len(data["cab-spans"]) == 50
    assert "this trace has 81 spans; the page holds the first 50 in tree order" in text


def test_a_sweep_cannot_send_the_export_outside_its_directory(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    outside = tmp_path / "elsewhere"
    shutil.copytree(PAGE_RUN, outside)
    lines = (sweep / "cells.jsonl").read_text().splitlines()
    cell = json.loads(lines[0])
    cell["run_dir"] = "../elsewhere"
    lines[0] = json.dumps(cell)
    (sweep / "cells.jsonl").write_text("\n".join(lines) + "\n")
    site = tmp_path / "site"
    result = run_cli("export", str(sweep), "--format", "html", "-o", str(site))
    assert result.returncode == 1  # a cell was left out: said, and not "ok"
    assert "'../elsewhere' is not inside the sweep directory" in result.stderr
    assert sorted(p.name for p in (site / "cells").iterdir()) == ["command--m--demo--fix-greeting--r2.html"]
    assert "is not inside the sweep directory" in (site / "index.html").read_text()
