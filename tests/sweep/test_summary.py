"""The sweep's aggregate: Wilson intervals, percentiles, and unknown that stays unknown."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cab_trace.sweep.summary import percentile, render, summarize, summarize_all, wilson_interval


def cell(
    adapter: str, model: str, passed: bool | None, wall: float, tokens: int | None, **extra: object
) -> dict:
    c: dict = {
        "adapter": adapter,
        "model": model,
        "state": "done",
        "wall_ms": wall,
        "model_calls": 2,
        "model_calls_failed": 0,
        **extra,
    }
    if passed is not None:
        c["passed"] = passed
    if tokens is not None:
        c["total_tokens"] = tokens
    return c


def test_wilson_matches_the_published_formula() -> None:
    # 8 of 10 at 95%: the textbook value is [0.490, 0.943].
    low, high = wilson_interval(8, 10) or (0, 0)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 5) or (1, 1)
    assert low == 0 and 0 < high < 1


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_holds_the_rate(k: int, n: int) -> None:
    k = min(k, n)
    low, high = wilson_interval(k, n) or (2, -1)
    assert 0 <= low <= k / n <= high <= 1


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 90) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(i) for i in range(1, 11)], 90) == pytest.approx(9.1)


def test_groups_by_adapter_and_model() -> None:
    cells = [
        cell("pi", "a", True, 1000, 100),
        cell("pi", "a", False, 3000, 300),
        cell("pi", "b", True, 2000, 50),
        {"adapter": "pi", "model": "b", "state": "failed", "error": "image missing"},
        {"adapter": "pi", "model": "b", "state": "pending"},
    ]
    a, b = summarize(cells)
    assert a.key == {"adapter": "pi", "model": "a"} and (a.cells, a.done, a.passed, a.checked) == (2, 2, 1, 2)
    assert a.total_tokens == 400 and a.tokens_per_correct_task == 400
    assert a.wall_median_ms == 2000
    assert (b.cells, b.done, b.failed, b.pending) == (3, 1, 1, 1)
    assert summarize_all(cells).cells == 5


def test_unknown_tokens_make_the_group_unknown_not_smaller() -> None:
    (g,) = summarize([cell("pi", "a", True, 1000, 100), cell("pi", "a", True, 1000, None)])
    assert g.total_tokens is None and g.tokens_per_correct_task is None and g.tokens_unknown == 1
    assert "unknown (1 cell(s) without token counts)" in render([g])


def test_renderings_agree() -> None:
    groups = summarize([cell("pi", "a|b", True, 1500, 10, timed_out=True), cell("aider", "a", False, 500, 7)])
    as_json = json.loads(render(groups, "json"))
    assert [g["key"] for g in as_json] == [
        {"adapter": "pi", "model": "a|b"},
        {"adapter": "aider", "model": "a"},
    ]
    rows = list(csv.DictReader(io.StringIO(render(groups, "csv"))))
    assert rows[0]["adapter"] == "pi" and rows[0]["timeouts"] == "1" and rows[1]["passed"] == "0"
    md = render(groups, "markdown").splitlines()
    assert md[1].startswith("|---") and "a\\|b" in md[2]
    table = render(groups).splitlines()
    assert table[0].split()[:2] == ["adapter", "model"] and len(table) == 3
    assert math.isclose(as_json[0]["pass_rate"], 1.0)


def test_axes_are_read_once_for_show_and_sweep() -> None:
    from cab_trace.errors import UsageError
    from cab_trace.sweep.summary import parse_axes

    assert parse_axes(None) == ["adapter", "model"] == parse_axes(" , ")
    assert parse_axes("adapter, task,task_id,node") == ["adapter", "task_id", "node"]
    said = r"--group-by 'modle': not an axis of a cell; did you mean 'model'\?"
    with pytest.raises(UsageError, match=said):
        parse_axes("adapter,modle")
