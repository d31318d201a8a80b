"""compare on a hand-made pair whose differences are known exactly: phases, the agent's time
split into model calls, tool steps and the rest, calls and steps matched in order, changes, the
check, and the one line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cab_trace.compare_text import render
from cab_trace.model import Status
from cab_trace.model.compare import compare
from cab_trace.model.formats import read_trace
from tests.runs_factory import Spec, spans

FOREIGN = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"

# A: 7 calls of 2 s (first chunk after 300 ms), 6 tool steps of 40 ms, passes.
A = Spec(
    model="slow",
    calls=[(2000, 300)] * 7,
    tools=["read", "edit", "bash", "read", "edit", "bash"],
    tokens=[(100 * i, 10 * i) for i in range(1, 8)],
    modified=["greet.py", "util.py"],
    lines=(4, 2),
    seed=1,
)
# B: 3 calls of 1.5 s (no first-chunk time: not streamed), 2 tool steps, fails its check.
B = Spec(
    model="fast",
    calls=[(1500, None)] * 3,
    tools=["read", "edit"],
    tokens=[(150, 5), (250, 15), (350, 25)],
    passed=False,
    modified=["greet.py"],
    lines=(1, 1),
    seed=2,
    t0=2_000_000_000_000_000_000,
)


@pytest.fixture
def result():
    return compare(spans(A), spans(B), "runs/a", "runs/b")


def test_phases_and_their_differences(result) -> None:
    rows = {p.key: p for p in result.phases}
    expect = {  # (A ms, B ms): worked out by hand from the specs' times
        "run": (14780, 5120),
        "task_setup": (20, 20),
        "adapter_run": (14443, 4783),
        "tool_call": (0.1, 0.1),
        "container": (14440, 4780),
        "model calls": (14000, 4500),
        "tool steps": (240, 80),
        "the agent's own time": (200, 200),
        "blast_radius": (5, 5),
        "verify": (300, 300),
        "cleanup": (10, 10),
    }
    assert [p.key for p in result.phases] == list(expect)
    for key, (a, b) in expect.items():
        assert (rows[key].a_ms, rows[key].b_ms) == pytest.approx((a, b)), key
        assert rows[key].diff_ms == pytest.approx(b - a), key
    assert (rows["model calls"].a_count, rows["model calls"].b_count) == (7, 3)
    assert (rows["tool steps"].a_count, rows["tool steps"].b_count) == (6, 2)
    assert [p.depth for p in result.phases] == [0, 1, 1, 2, 2, 3, 3, 3, 1, 1, 1]


def test_the_one_line_says_where_the_time_went(result) -> None:
    assert result.headline == (
        "B was 9.66 s faster than A (5.12 s against 14.8 s): B spent 9.50 s less in model calls, "
        "3 calls against 7."
    )
    reverse = compare(spans(B), spans(A))
    assert reverse.headline == (
        "B was 9.66 s slower than A (14.8 s against 5.12 s): B spent 9.50 s more in model calls, "
        "7 calls against 3."
    )
    assert compare(spans(A), spans(A)).headline == "A and B took the same time (14.8 s)."


def test_model_calls_and_tool_steps_are_matched_in_order(result) -> None:
    assert len(result.calls) == 7
    first_a, first_b = result.calls[0]
    assert first_a is not None and first_b is not None
    assert (first_a.latency_ms, first_a.ttfc_ms, first_a.input_tokens, first_a.output_tokens) == (
        2000,
        300,
        100,
        10,
    )
    assert (first_b.latency_ms, first_b.ttfc_ms, first_b.input_tokens, first_b.output_tokens) == (
        1500,
        None,
        150,
        5,
    )
    assert first_a.start_ms == pytest.approx(123) and first_b.start_ms == pytest.approx(123)
    assert [c.tools_asked for c, _ in result.calls] == [
        ["read"],
        ["edit"],
        ["bash"],
        ["read"],
        ["edit"],
        ["bash"],
        [],
    ]
    assert [c.tools_asked if c else None for _, c in result.calls] == [
        ["read"],
        ["edit"],
        [],
        None,
        None,
        None,
        None,
    ]
    assert [c.finish if c else None for _, c in result.calls] == ["tool_calls", "tool_calls", "stop"] + [
        None
    ] * 4
    assert result.calls[3][1] is None  # B made no 4th call
    assert [(s.name if s else None, t.name if t else None) for s, t in result.steps] == [
        ("read", "read"),
        ("edit", "edit"),
        ("bash", None),
        ("read", None),
        ("edit", None),
        ("bash", None),
    ]
    step_a = result.steps[0][0]
    assert step_a is not None and (step_a.duration_ms, step_a.asked_by) == (40, 1)


def test_changes_and_the_check(result) -> None:
    doc = json.loads(result.to_json())
    assert doc["changes"]["a"] == {
        "files_added": [],
        "files_removed": [],
        "files_modified": ["greet.py", "util.py"],
        "lines_added": 4,
        "lines_removed": 2,
    }
    assert doc["changes"]["b"]["files_modified"] == ["greet.py"]
    assert doc["a"]["numbers"]["passed"] is True and doc["b"]["numbers"]["passed"] is False
    assert doc["b"]["check_message"] == "check failed: exit code 1"
    assert doc["a"]["numbers"]["input_tokens"] == sum(100 * i for i in range(1, 8))
    assert doc["phases"][0]["diff_ms"] == pytest.approx(-9660)
    text = "\n".join(render(result))
    assert "changed only by A: util.py" in text
    assert "FAIL (exit 0)" in text and "check failed: exit code 1" in text
    assert "model calls   A: 7 calls, 2,800 in / 280 out   B: 3 calls, 750 in / 45 out" in text


def test_what_was_not_observed_stays_unknown() -> None:
    # No recording proxy in A: its model calls are unknown, not 0, and not in the one line.
    a = [s for s in spans(A) if s.kind not in ("model_call", "tool_step")]
    a = [replace(s, attributes={k: v for k, v in s.attributes.items() if k != "model_calls"}) for s in a]
    result = compare(a, spans(B))
    rows = {p.key: p for p in result.phases}
    assert "model calls" not in rows or rows["model calls"].a_ms is None
    assert result.calls[0][0] is None
    assert "container" in result.headline and "model calls" not in result.headline
    assert "A: not recorded" in "\n".join(render(result))


def test_a_hostile_name_is_escaped_in_the_text() -> None:
    a = spans(A)
    a[0] = replace(a[0], name="\x1b[2J\x1b]0;pwned\x07prepare", status=Status("OK"))
    text = "\n".join(render(compare(a, spans(B), "\x1b[31mred")))
    assert "\x1b" not in text and "\\x1b[31mred" in text


def test_traces_from_other_tools_compare_by_phase_name() -> None:
    jaeger = list(read_trace(FOREIGN / "jaeger-bare.json"))
    otlp = list(read_trace(FOREIGN / "otlp-pretty.json"))
    result = compare(jaeger, otlp, "jaeger", "otlp")
    wall_a = (max(s.end_time_unix_nano for s in jaeger) - min(s.start_time_unix_nano for s in jaeger)) / 1e6
    wall_b = (max(s.end_time_unix_nano for s in otlp) - min(s.start_time_unix_nano for s in otlp)) / 1e6
    assert (result.wall.a_ms, result.wall.b_ms) == pytest.approx((wall_a, wall_b))
    ids = {s.span_id for s in jaeger}
    top_a = {
        s.name
        for s in jaeger
        if s.parent_span_id in {r.span_id for r in jaeger if r.parent_span_id not in ids}
    }
    assert {p.label for p in result.phases[1:] if p.a_ms is not None} == top_a
    assert result.calls == [] and result.a.numbers.model_calls is None
