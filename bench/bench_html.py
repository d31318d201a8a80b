"""The cell page (`cab-trace export RUN --format html`) of a large run, generated here: a long agent
session with a 40 MB terminal recording (log output with colours in chunks of every size, a
full-screen section redrawn in place, a spinner) and 200 model calls whose conversations grow
call by call, with a tool step between each two. Figures:

1. The page's size vs the run directory's (trace + recording + diff).
2. Making the page vs the replay's emulator alone fed the same recording (what rendering the
   screens, the conversations and the page add to the emulation that makes them exact).
3. Time to first paint of the page in chromium (Debian's, driven by playwright-core as the
   browser tests do), opened from disk, vs the same page without its data and script (the cost
   of the player on the first paint). The note says when the player had the terminal and the
   conversations open (``ready``) and how long a seek anywhere takes in the page.

The browser row is left out, with a note, where chromium or playwright-core is missing.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.bench_terminal import _log_chunk, _tui_chunk
from bench.common import Figure
from cab_trace.model import JsonlWriter, SpanRecord
from replay.cast import read_cast
from replay.terminal import Emulator

COLS, ROWS = 120, 36
T0 = 1_800_000_000_000_000_000


def write_recording(path: Path, total_bytes: int, duration_s: float) -> int:
    """A recording of about ``total_bytes`` over ``duration_s``; returns its event count."""
    rng = random.Random(11)
    logs = [_log_chunk(rng, i * 50) for i in range(200)]
    tuis = [_tui_chunk(rng, i) for i in range(100)]
    with path.open("wb") as out:
        out.write(orjson.dumps({"version": 2, "width": COLS, "height": ROWS}) + b"\n")
        written, events = 0, 0
        # Events spread over the run, some in bursts (several at one instant).
        step = duration_s / max(1, total_bytes // 2000)
        t = 0.0
        while written < total_bytes:
            t += rng.choice((0.0, step / 2, step, 2 * step))
            phase = (events // 400) % 6
            if phase == 3:
                chunk = tuis[events % len(tuis)]
            elif phase == 4:
                chunk = f"\x1b[36;1H\x1b[2K\x1b[33m{'|/-+'[events % 4]}\x1b[0m working on step {events}"
            else:
                chunk = logs[events % len(logs)][: rng.randrange(60, 4000)]
            line = orjson.dumps([round(t, 6), "o", chunk]) + b"\n"
            out.write(line)
            written += len(line)
            events += 1
    return events


def _message(rng: random.Random, role: str, n: int) -> dict[str, object]:
    words = " ".join(
        rng.choice(("read", "the", "file", "test", "fails", "fix", "greet", "edit", "ok")) for _ in range(60)
    )
    return {"role": role, "parts": [{"type": "text", "content": f"{n}: {words}"}]}


def write_trace(path: Path, calls: int, duration_ns: int) -> None:
    """A run span, its phases, ``calls`` model calls with growing conversations and tool steps."""
    rng = random.Random(5)
    trace = "b" * 32
    ids = iter(range(1, 10**9))

    def sid() -> str:
        return f"{next(ids):016x}"

    run_id, container = sid(), sid()
    end = T0 + duration_ns
    run_attrs = {"cell_id": "bench/large", "adapter": "pi", "model": "m", "check_passed": True}
    spans = [
        SpanRecord(trace, run_id, None, "run:bench/large", "run", T0, end, attributes=run_attrs),
        SpanRecord(trace, container, run_id, "pi:launch", "container", T0 + 10**8, end - 10**8),
    ]
    conversation: list[dict[str, object]] = [_message(rng, "system", 0), _message(rng, "user", 1)]
    gap = (duration_ns - 4 * 10**8) // calls
    for k in range(calls):
        start = T0 + 2 * 10**8 + k * gap
        answer = _message(rng, "assistant", k)
        call = {
            "gen_ai.operation.name": "chat",
            "cab.llm.request_sha256": f"{k:064x}",
            "cab.llm.call_index": k + 1,
            "gen_ai.usage.input_tokens": 1000 + 50 * k,
            "gen_ai.usage.output_tokens": 40,
            "cab.llm.content": "recorded",
            "gen_ai.input.messages": orjson.dumps(conversation).decode(),
            "gen_ai.output.messages": orjson.dumps([answer]).decode(),
        }
        step = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "read",
            "cab.llm.asked_by_call": k + 1,
            "gen_ai.tool.call.arguments": '{"path": "a.py"}',
            "gen_ai.tool.call.result": "x = 1\n" * rng.randrange(1, 40),
        }
        spans += [
            SpanRecord(
                trace, sid(), container, "chat m", "model_call", start, start + gap // 3, attributes=call
            ),
            SpanRecord(
                trace, sid(), container, "execute_tool read", "tool_step", start + gap // 3, start + gap // 2,
                attributes=step,
            ),
        ]  # fmt: skip
        conversation += [answer, _message(rng, "tool", k)]
    JsonlWriter(path).write(spans)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _first_paint_ms(browser: object, page: Path) -> float:
    from tests.browser.client import Browser

    assert isinstance(browser, Browser)
    browser.open(page)
    paint: float = browser.eval(
        "new Promise((resolve) => {"
        " const found = () => performance.getEntriesByName('first-contentful-paint')[0];"
        " new PerformanceObserver((list) => { const e = list.getEntriesByName('first-contentful-paint')[0];"
        " if (e) resolve(e.startTime); }).observe({type: 'paint', buffered: true});"
        " setTimeout(() => resolve(found() ? found().startTime : -1), 20000); })"
    )
    if paint < 0:
        raise RuntimeError(f"{page.name}: no first paint within 20 s")
    return paint


def _browser_figures(page: Path, tmp: Path, load: str) -> list[Figure]:
    from tests.browser.client import missing

    why = missing()
    if why is not None:
        print(f"  html: first paint left out: {why}", file=sys.stderr)
        return []
    text = page.read_text()
    bare = re.sub(r'<script type="application/(json|octet-stream)".*?</script>', "", text, flags=re.S)
    bare = re.sub(r"<script>.*?</script>", "", bare, flags=re.S)
    shell = tmp / "shell.html"
    shell.write_text(bare)
    try:
        return _measure(page, shell, load)
    except Exception as exc:  # noqa: BLE001 (a bench row that cannot be measured is left out, said)
        print(f"  html: first paint left out: {exc}", file=sys.stderr)
        return []


def _measure(page: Path, shell: Path, load: str) -> list[Figure]:
    from tests.browser.client import Browser

    browser = Browser(timeout=300)
    try:
        ours, base, ready, seeks = [], [], [], []
        for _ in range(5):
            ours.append(_first_paint_ms(browser, page))
            ready.append(browser.eval("window.cabPage.ready.then(() => window.cabPage.readyAt)"))
            seeks.append(
                browser.eval(
                    "(() => { const page = window.cabPage; const out = []; let x = 7;"
                    " for (let i = 0; i < 40; i++) { x = (x * 48271) % 2147483647;"
                    " const t0 = performance.now(); page.seek((x / 2147483647) * page.duration);"
                    " out.push(performance.now() - t0); } return out.sort((a, b) => a - b)[37]; })()"
                )
            )
            base.append(_first_paint_ms(browser, shell))
    finally:
        browser.close()
    mb = page.stat().st_size / 1e6
    return [
        Figure(
            f"cell page of a large run ({mb:.1f} MB): first paint in chromium",
            "ms",
            statistics.median(ours),
            statistics.median(base),
            "the same page without its data and script",
            note=f"the terminal and the conversations open at {statistics.median(ready):.0f} ms; "
            f"a seek anywhere p95 {statistics.median(seeks):.1f} ms; load {load}",
        )
    ]


def run(quick: bool = False) -> list[Figure]:
    from cab_trace.export.html.data import PageOptions, build_page
    from cab_trace.export.html.render import render_page
    from replay.load import load

    cast_bytes = 8_000_000 if quick else 40_000_000
    calls = 60 if quick else 200
    duration_ns = (10 if quick else 45) * 60 * 10**9
    figures: list[Figure] = []
    load_text = "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run_dir = tmp / "run"
        run_dir.mkdir()
        write_recording(run_dir / "terminal.cast", cast_bytes, duration_ns / 1e9 - 1)
        write_trace(run_dir / "trace.jsonl", calls, duration_ns)
        (run_dir / "changes.diff").write_text("--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n")
        started = time.perf_counter()
        [trace] = load(run_dir)
        document = render_page(build_page(trace, run_dir, PageOptions()))
        page = tmp / "cell.html"
        page.write_text(document.text)
        made = time.perf_counter() - started
        started = time.perf_counter()
        cast = read_cast(run_dir / "terminal.cast")
        emulator = Emulator(cast.width, cast.height)
        for i in range(len(cast)):
            emulator.stream.feed(cast.text(i))
        emulated = time.perf_counter() - started
        run_mb, page_mb = _dir_size(run_dir) / 1e6, page.stat().st_size / 1e6
        figures.append(
            Figure(
                f"cell page of a large run: its size ({calls} calls, {cast_bytes / 1e6:.0f} MB terminal)",
                "MB",
                page_mb,
                run_mb,
                "the run directory (trace, recording, diff)",
                note=f"load {load_text}",
            )
        )
        figures.append(
            Figure(
                "cell page of a large run: making it (export --format html)",
                "s",
                made,
                emulated,
                "the replay's emulator (pyte) fed the same recording",
                note=f"load {load_text}",
            )
        )
        figures += _browser_figures(page, tmp, load_text)
        shutil.rmtree(run_dir, ignore_errors=True)
    return figures
