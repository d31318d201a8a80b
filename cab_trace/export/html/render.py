"""A :class:`~cab_trace.export.html.data.CellPage` as one self-contained HTML document.

The static parts (identity, per-axis numbers, the model-call rows, the diff, the check's
output) are HTML made here, every string from the run escaped; the player script
(``assets/player/``) draws the rest from data blocks in the page: the spans and calls as
JSON, the terminal's frames and the conversations gzip-compressed (the browser's own
``DecompressionStream`` opens them after the first paint). A Content-Security-Policy with the
hashes of the page's one script and one style sheet lets nothing else run and nothing load.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

import cab_trace
from cab_trace.export.html.data import CellPage
from cab_trace.model.axes import CellNumbers

NONE = "\u2013"


@dataclass(frozen=True)
class Document:
    """A page as written, and what the leak check reads besides it (the compressed blocks)."""

    text: str
    payloads: tuple[tuple[str, bytes], ...]


def asset(name: str) -> str:
    """A file of ``assets/`` (package data: the template, the style sheet, the scripts)."""
    return resources.files("cab_trace.export.html").joinpath("assets", name).read_text(encoding="utf-8")


#: The player's parts (``assets/player/``), one job each, joined in this order into one script.
PLAYER_PARTS = ("base", "timeline", "waterfall", "terminal", "calls", "spans", "main")


def player_script() -> str:
    """The page's one script: the player's parts in one strict function (they share its scope)."""
    parts = "".join(asset(f"player/{name}.js") for name in PLAYER_PARTS)
    return '"use strict";\n(function () {\n' + parts + "})();\n"


def e(value: object) -> str:
    """Text from the run, escaped for HTML (element content and quoted attributes)."""
    return html.escape(str(value), quote=True)


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _json(value: Any) -> str:
    """JSON text; a list of a dict's values or a top-level list has an item a line (the leak
    check reads the page in blocks of whole lines)."""
    if isinstance(value, dict):
        return "{" + ",\n".join(f"{orjson.dumps(k).decode()}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list) and len(value) > 1 and all(isinstance(v, list | dict) for v in value):
        return (
            "[\n" + ",\n".join(orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode() for v in value) + "]"
        )
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_block(element_id: str, value: Any) -> str:
    """JSON in an inert script element; ``<``, ``>`` and ``&`` escaped so no text ends it."""
    text = _json(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">\n{text}\n</script>'


def packed_block(element_id: str, data: bytes) -> str:
    """Bytes gzip-compressed and in base64, in an inert script element."""
    packed = base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)).decode()
    lines = "\n".join(packed[i : i + 4096] for i in range(0, len(packed), 4096))
    return (
        f'<script type="application/octet-stream" id="{element_id}" data-encoding="gzip+base64" '
        f'data-bytes="{len(data)}">\n{lines}\n</script>'
    )


def page_shell(title: str, body: str, css: str, script: str, blocks: Iterable[str] = ()) -> str:
    """The document around ``body``, with the policy that lets only ``script`` and ``css`` in."""
    policy = (
        f"default-src 'none'; script-src {csp_hash(script)}; style-src {csp_hash(css)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{e(policy)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="cab-trace {e(cab_trace.__version__)}">\n'
        f"<title>{e(title)} · cab-trace</title>\n<style>{css}</style>\n</head>\n<body>\n"
        f"{body}\n" + "\n".join(blocks) + f"\n<script>{script}</script>\n</body>\n</html>\n"
    )


# -- numbers ------------------------------------------------------------------------------------


def duration(ms: float | None) -> str:
    if ms is None:
        return "unknown"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.2f} s"
    return f"{int(ms // 60_000)} min {ms % 60_000 / 1000:.0f} s"


def count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _tokens(n: CellNumbers) -> tuple[str, str]:
    """The tokens cell and why it says what it says."""
    if n.total_tokens is not None:
        return f"{n.total_tokens:,}", f"{n.input_tokens:,} in / {n.output_tokens:,} out"
    if n.model_calls is None:
        return "unknown", "model calls were not recorded (no recording proxy)"
    return "unknown", f"{n.calls_without_usage} model call(s) reported no usage"


def _pass(n: CellNumbers) -> tuple[str, str]:
    if n.passed is None:
        return "unknown", "no check ran, or it said neither"
    return ("passed", "the task's check passed") if n.passed else ("failed", "the task's check failed")


def _blast(n: CellNumbers) -> tuple[str, str]:
    if n.files_added is None and n.files_modified is None and n.files_removed is None:
        return "unknown", "the changes were not recorded"
    files = len(n.files_added or []) + len(n.files_removed or []) + len(n.files_modified or [])
    lines = ""
    if n.lines_added is not None or n.lines_removed is not None:
        lines = f" · +{count(n.lines_added)} \u2212{count(n.lines_removed)}"
    why = "; ".join(
        f"{label}: {', '.join(paths) if paths else NONE}"
        for label, paths in (
            ("added", n.files_added),
            ("removed", n.files_removed),
            ("modified", n.files_modified),
            ("not expected", n.files_unexpected),
        )
        if paths is not None
    )
    return f"{files} file(s){lines}", why


def axes(n: CellNumbers) -> list[tuple[str, str, str, str]]:
    """(id, label, value, explanation) per axis, as the cell page's cards show them."""
    per_correct: tuple[str, str]
    if n.tokens_per_correct_task is not None:
        per_correct = (f"{n.tokens_per_correct_task:,}", "tokens of this run, which passed")
    elif n.passed is False:
        per_correct = (NONE, "the task did not pass: no correct task to divide by")
    else:
        per_correct = ("unknown", "needs the tokens and a passed check")
    calls = count(n.model_calls)
    if n.model_calls_failed:
        calls += f" ({n.model_calls_failed} failed)"
    return [
        ("pass", "pass", *_pass(n)),
        (
            "exit",
            "exit code",
            count(n.exit_code),
            "the agent's exit code" + (" (timed out)" if n.timed_out else ""),
        ),
        ("wall", "wall", duration(n.wall_ms), "the whole run, setup to cleanup"),
        ("container", "container-active", duration(n.container_ms), "while the agent ran"),
        ("tokens", "tokens", *_tokens(n)),
        (
            "calls",
            "model calls",
            calls,
            "through the recording proxy" if n.model_calls is not None else "not recorded",
        ),
        ("call_time", "model-call time", duration(n.model_call_ms), "the sum of the model calls' durations"),
        ("per_correct", "tokens / correct task", *per_correct),
        ("blast", "blast radius", *_blast(n)),
    ]


# -- sections -----------------------------------------------------------------------------------


def _identity(page: CellPage) -> str:
    n = page.numbers
    rows = [f"<tr><th>{e(k)}</th><td><code>{e(v)}</code></td></tr>" for k, v in page.identity]
    tokens, why = _tokens(n)
    rows.append(f"<tr><th>tokens</th><td>{e(tokens)} <span class=dim>({e(why)})</span></td></tr>")
    rows.append(f"<tr><th>wall</th><td>{e(duration(n.wall_ms))}</td></tr>")
    return '<table class="kv">' + "".join(rows) + "</table>"


def _cards(n: CellNumbers) -> str:
    out = []
    for key, label, value, why in axes(n):
        unknown = " unknown" if value == "unknown" else ""
        out.append(
            f'<div class="card{unknown}" data-axis="{key}" title="{e(why)}">'
            f'<div class="label">{e(label)}</div><div class="value">{e(value)}</div>'
            f'<div class="why">{e(why)}</div></div>'
        )
    return '<div class="cards">' + "".join(out) + "</div>"


def _finish(call: dict[str, Any]) -> str:
    """The finish column: the API's finish reason; for the Responses API, which gives none, its
    status (marked as such) when it was recorded."""
    if call["finish"] == NONE and call["status"]:
        why = "the Responses API gives no finish reason; this is its status"
        return f'{NONE} <span class="dim" title="{e(why)}">status {e(call["status"])}</span>'
    return e(call["finish"])


def _calls(page: CellPage) -> str:
    calls = page.head["calls"]
    if not calls:
        if page.numbers.model_calls is None:
            why = "Model calls were not recorded for this run (it ran without the recording proxy)."
        else:
            why = "The agent made no model calls through the recording proxy."
        return f'<p class="dim">{e(why)}</p>'
    rows = []
    for c in calls:
        marks = ""
        if c["error"]:
            marks += ' <span class="badge err">error</span>'
        if c["retry_of"] is not None:
            marks += f' <span class="badge retry">retry of #{e(c["retry_of"])}</span>'
        cls = ' class="error"' if c["error"] else ""
        rows.append(
            f'<tr{cls} data-call="{c["n"] - 1}"><td class="num"><button class="expand" '
            f'aria-expanded="false">▸</button>{c["n"]}</td><td>{e(c["clock"])}</td>'
            f'<td><code title="{e(c["hash"])}">{e(c["hash"][:12] or NONE)}</code></td>'
            f'<td class="num">{e(NONE if c["in"] is None else format(c["in"], ","))}</td>'
            f'<td class="num">{e(NONE if c["out"] is None else format(c["out"], ","))}</td>'
            f'<td class="num">{e(duration(c["latency"] / 1e6))}</td><td>{_finish(c)}{marks}</td></tr>'
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("#", "timestamp", "request hash", "prompt", "completion", "latency", "finish")
    )
    note = ""
    if not page.head["content"]:
        note = '<p class="dim">Conversations are not on this page (made with --no-content).</p>'
    return (
        f'{note}<table id="calls-table" class="grid"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _diff(text: str | None) -> str:
    if text is None:
        return '<p class="dim">No changes were recorded (no changes.diff in the run directory).</p>'
    if not text.strip():
        return '<p class="dim">The agent changed nothing.</p>'
    lines = []
    for line in text.splitlines():
        cls = ""
        if line.startswith(("+++", "---")):
            cls = "file"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        lines.append(f'<span class="{cls}">{e(line)}</span>' if cls else e(line))
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


def _check(check: dict[str, Any] | None) -> str:
    if check is None:
        return '<p class="dim">No check ran (no verify span in the trace).</p>'
    passed = check.get("passed")
    verdict = "passed" if passed is True else "failed" if passed is False else "unknown"
    facts = [f'<span class="badge {verdict}">{verdict}</span>']
    for key, label in (("exit_code", "exit code"), ("duration_s", "took (s)"), ("timed_out", "timed out")):
        if key in check:
            facts.append(f"{label} <code>{e(check[key])}</code>")
    out = ['<p class="facts">' + " · ".join(facts) + "</p>"]
    if "command" in check:
        out.append(f"<p>command <code>{e(check['command'])}</code></p>")
    for key, label in (("stdout_tail", "stdout"), ("stderr_tail", "stderr")):
        text = check.get(key)
        if isinstance(text, str) and text:
            out.append(f'<h3>{label} <span class="dim">(its end, as recorded)</span></h3>')
            out.append(f'<pre class="out">{e(text)}</pre>')
    if not any(isinstance(check.get(k), str) and check.get(k) for k in ("stdout_tail", "stderr_tail")):
        out.append('<p class="dim">The check printed nothing.</p>')
    return "".join(out)


def _section(section_id: str, title: str, body: str, extra: str = "") -> str:
    return f'<section id="{section_id}"><h2>{e(title)}{extra}</h2>{body}</section>'


def render_page(page: CellPage, index_href: str | None = None) -> Document:
    """The HTML document of one cell page; ``index_href`` links back to a sweep's index."""
    n = page.numbers
    verdict, _ = _pass(n)
    status = "error" if n.run_failed else verdict
    notes = "".join(f"<li>{e(note)}</li>" for note in page.notes)
    body = (
        '<header><div class="crumbs">'
        + (f'<a id="index-link" href="{e(index_href)}">← all cells</a>' if index_href else "")
        + "</div>"
        f'<h1><span class="badge {e(status)}">{e(status)}</span> {e(page.title)}</h1>'
        + (f'<p class="err">{e(n.status_message)}</p>' if n.status_message else "")
        + "</header><main>"
        + _section("identity", "Run", _identity(page))
        + _section("numbers", "Numbers", _cards(n))
        + _section("replay", "Replay", asset("replay.html"))
        + _section("calls", f"Model calls ({len(page.head['calls'])})", _calls(page))
        + _section("spans", f"Spans ({len(page.head['spans'])})", '<div id="span-table"></div>')
        + _section("changes", "Changes", _diff(page.diff))
        + _section("check", "Check", _check(page.check))
        + (f'<section id="notes"><h2>Notes</h2><ul>{notes}</ul></section>' if notes else "")
        + f"<footer>cab-trace {e(cab_trace.__version__)} · made from <code>{e(page.source)}</code>"
        " · keys: space play/pause · ←/→ span · ,/. 100 ms · +/- speed · home/end · ? help</footer></main>"
    )
    payloads: list[tuple[str, bytes]] = [("spans", _json(page.details).encode())]
    blocks = [json_block("cab-head", page.head)]
    if page.frames is not None:
        payloads.append(("terminal", page.frames.to_json()))
    if page.conversations is not None:
        payloads.append(("content", page.conversations.to_json()))
    blocks += [packed_block(f"cab-{name}", data) for name, data in payloads]
    text = page_shell(page.title, body, asset("page.css"), player_script(), blocks)
    return Document(text, tuple(payloads))
