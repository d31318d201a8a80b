"""A cell's per-axis numbers from its trace: unknown stays unknown, failed calls are failures."""

from __future__ import annotations

from cab_trace.model import SpanRecord, Status
from cab_trace.model.axes import cell_numbers

TRACE = "ab" * 16


def span(sid: str, parent: str | None, kind: str, start: int, end: int, **attrs: object) -> SpanRecord:
    status = Status("ERROR", "boom") if attrs.pop("error", False) else Status()
    return SpanRecord(
        trace_id=TRACE,
        span_id=sid * 16,
        parent_span_id=parent * 16 if parent else None,
        name=kind,
        kind=kind,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status=status,
        attributes=attrs,  # type: ignore[arg-type]
    )


def cell(*calls: SpanRecord, passed: bool = True, **run_attrs: object) -> list[SpanRecord]:
    return [
        span("1", None, "run", 0, 10_000_000_000, adapter="pi", model="m", check_passed=passed, **run_attrs),
        span("2", "1", "container", 1_000_000_000, 9_000_000_000, exit_code=0, timed_out=False),
        *calls,
        span(
            "9",
            "1",
            "blast_radius",
            9_000_000_000,
            9_100_000_000,
            files_added=[],
            files_modified=["a.py"],
            files_removed=[],
            files_expected=["b.py"],
            lines_added=3,
            lines_removed=1,
        ),
    ]


def call(sid: str, tokens: tuple[int, int] | None, error: bool = False) -> SpanRecord:
    usage = (
        {}
        if tokens is None
        else {"gen_ai.usage.input_tokens": tokens[0], "gen_ai.usage.output_tokens": tokens[1]}
    )
    return span(sid, "2", "model_call", 2_000_000_000, 2_500_000_000, error=error, **usage)


def test_tokens_add_up_when_every_call_reported_usage() -> None:
    n = cell(call("3", (100, 10)), call("4", (200, 20)))
    got = cell_numbers(n)
    assert (got.model_calls, got.input_tokens, got.output_tokens, got.total_tokens) == (2, 300, 30, 330)
    assert got.tokens_per_correct_task == 330
    assert got.wall_ms == 10_000 and got.container_ms == 8_000 and got.model_call_ms == 1_000
    assert got.files_unexpected == ["a.py"]


def test_a_call_without_usage_makes_tokens_unknown_not_smaller() -> None:
    got = cell_numbers(cell(call("3", (100, 10)), call("4", None)))
    assert got.total_tokens is None and got.tokens_per_correct_task is None
    assert got.calls_without_usage == 1
    assert "total_tokens" not in got.to_dict()


def test_a_failed_call_is_a_failure_not_missing_usage() -> None:
    got = cell_numbers(cell(call("3", (100, 10)), call("4", None, error=True)))
    assert got.model_calls_failed == 1 and got.calls_without_usage == 0
    assert got.total_tokens == 110


def test_no_proxy_means_calls_unknown() -> None:
    got = cell_numbers(cell())
    assert got.model_calls is None and got.total_tokens is None
    assert cell_numbers(cell(model_calls=0)).model_calls == 0


def test_a_failed_check_has_no_tokens_per_correct_task() -> None:
    got = cell_numbers(cell(call("3", (1, 1)), passed=False))
    assert got.passed is False and got.total_tokens == 2 and got.tokens_per_correct_task is None


def test_a_foreign_trace_has_its_extent_as_wall() -> None:
    spans = [span("1", None, "span", 5, 1_000_005), span("2", "1", "span", 10, 2_000_005, error=True)]
    got = cell_numbers(spans)
    assert got.wall_ms == 2.0 and got.error_spans == 1 and got.passed is None and got.model_calls is None
