"""The index page of a sweep's cell pages: the sweep's table, sortable, each cell linking to its
page. Made from each cell's line of ``cells.jsonl`` and the numbers read from its trace
(:mod:`cab_trace.model.axes`): unknown is shown as unknown, never 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cab_trace.export.html.render import NONE, Document, asset, count, duration, e, page_shell
from cab_trace.model.axes import CellNumbers

if TYPE_CHECKING:
    from cab_trace.export.html.site import Row

_IDENTITY = ("#", "cell", "adapter", "model", "task")
_OUTCOME = (
    "repeat",
    "state",
    "pass",
    "exit",
    "wall",
    "container-active",
    "tokens",
    "model calls",
    "model-call time",
    "tokens / correct",
    "files changed",
)
_NUMERIC = {"#", *_OUTCOME} - {"state"}
_PLAN_TITLE = "the cell's place in the sweep's plan: the order the cells run in, as cab-trace show lists them"


def _variant(fields: dict[str, Any]) -> str:
    """A cell's plugin set and var set, as a sweep's ``--plugin-set`` / ``--var-set`` give them."""
    plugins, variables = fields.get("plugins"), fields.get("vars")
    out = []
    if isinstance(plugins, list) and plugins:
        out.append("plugins " + ",".join(str(p) for p in plugins))
    if isinstance(variables, dict) and variables:
        out.append(",".join(f"{k}={v}" for k, v in variables.items()))
    return " · ".join(out)


def _cell(value: str, sort: Any, unknown: bool = False) -> str:
    cls = ' class="unknown"' if unknown else ""
    key = "" if sort is None else str(sort)
    return f'<td{cls} data-sort="{e(key)}">{e(value)}</td>'


def _numbers(n: CellNumbers | None, fields: dict[str, Any]) -> list[str]:
    def pick(name: str) -> Any:
        if n is not None and getattr(n, name) is not None:
            return getattr(n, name)
        return fields.get(name)

    passed = pick("passed")
    exit_code = pick("exit_code")
    wall, container, call_ms = pick("wall_ms"), pick("container_ms"), pick("model_call_ms")
    tokens, calls, per_correct = pick("total_tokens"), pick("model_calls"), pick("tokens_per_correct_task")
    changed = None
    lists = [pick(k) for k in ("files_added", "files_removed", "files_modified")]
    if any(isinstance(v, list) for v in lists):
        changed = sum(len(v) for v in lists if isinstance(v, list))
    pass_text = "unknown" if passed is None else "passed" if passed else "failed"
    if per_correct is not None:
        per_text = f"{per_correct:,}"
    elif passed is False:
        per_text = NONE
    else:
        per_text = "unknown"
    return [
        _cell(pass_text, {True: 1, False: 0}.get(passed), passed is None),
        _cell(count(exit_code), exit_code, exit_code is None),
        _cell(duration(wall), wall, wall is None),
        _cell(duration(container), container, container is None),
        _cell(count(tokens), tokens, tokens is None),
        _cell(count(calls), calls, calls is None),
        _cell(duration(call_ms), call_ms, call_ms is None),
        _cell(per_text, per_correct, per_text == "unknown"),
        _cell(count(changed), changed, changed is None),
    ]


def render_index(rows: Sequence[Row], title: str) -> Document:
    """The index page of ``rows``, in their order (the default order sorting returns to on ties)."""
    variants = [_variant(row.fields) for row in rows]
    with_variant = any(variants)
    columns = (*_IDENTITY, *(("variant",) if with_variant else ()), *_OUTCOME)
    body_rows = []
    for order, (row, variant) in enumerate(zip(rows, variants, strict=True)):
        f = row.fields
        n = row.numbers
        link = f'<a href="{e(row.href)}">{e(row.name)}</a>' if row.href else e(row.name)
        if row.problem:
            link += f'<div class="err">{e(row.problem)}</div>'
        state = str(f.get("state") or ("done" if n is not None else "no page" if row.problem else NONE))
        identity = [
            str(f.get("adapter") or (n.adapter if n else None) or NONE),
            str(f.get("model") or (n.model if n else None) or NONE),
            str(f.get("task_id") or (n.task_id if n else None) or NONE),
        ]
        repeat = f.get("repeat")
        if not isinstance(repeat, int) or isinstance(repeat, bool):
            repeat = n.repeat if n is not None else None  # a run's own: its run span says it
        cells = [_cell(NONE if row.plan is None else str(row.plan), row.plan)]
        cells.append(f'<td data-sort="{e(row.name)}">{link}</td>')
        cells += [_cell(v, v) for v in identity]
        if with_variant:
            cells.append(_cell(variant or NONE, variant or None))
        cells.append(_cell(NONE if repeat is None else str(repeat), repeat))
        cells.append(_cell(state, state))
        cells += _numbers(n, f)
        body_rows.append(f'<tr data-order="{order}">{"".join(cells)}</tr>')
    heads = "".join(
        f'<th data-type="{"num" if h in _NUMERIC else "text"}" aria-sort="none" tabindex="0"'
        + (f' title="{e(_PLAN_TITLE)}"' if h == "#" else "")
        + f">{e(h)}</th>"
        for h in columns
    )
    made = sum(1 for r in rows if r.href)
    passed = sum(1 for r in rows if r.numbers is not None and r.numbers.passed)
    known = sum(1 for r in rows if r.numbers is not None and r.numbers.passed is not None)
    body = (
        f'<header><h1>{e(title)}</h1><p class="dim">{len(rows)} cell(s) · {made} page(s) · '
        f"{passed} of {known} checked cell(s) passed · click a heading to sort</p></header><main>"
        '<section><p><input id="filter" type="search" placeholder="filter cells" '
        'aria-label="filter cells"></p>'
        f'<table id="cells" class="grid cells"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table></section>"
        "<footer>cab-trace · every cell page opens from disk with no network</footer></main>"
    )
    return Document(page_shell(title, body, asset("page.css"), asset("index.js")), ())
