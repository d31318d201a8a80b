"""The replay's pure parts added for the layout: the zoom window and axis ticks, the header's
facts that fit a width, and the terminal moments of the transcript."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from cab_trace.model.axes import CellNumbers
from cab_trace.outcome import Fact, fit, identity_facts, outcome_facts
from replay.cast import read_cast
from replay.moments import REDRAWN, moments, plain_lines
from replay.view import TimeWindow, format_tick, nice_step, ticks

S = 1_000_000_000


def test_zoom_keeps_the_anchor_in_place_and_stays_inside_the_run() -> None:
    window = TimeWindow(10 * S)
    assert window.zoom_by(4, anchor_ns=2 * S)
    assert window.zoom == 4 and window.start_ns <= 2 * S <= window.end_ns
    assert (2 * S - window.start_ns) / window.span_ns == 0.2  # where it was on screen
    assert window.pan(-10) and window.start_ns == 0  # clamped at the start
    assert window.pan(100) and window.end_ns == 10 * S
    assert not window.pan(1)  # already at the end
    assert window.zoom_by(1e9) and window.span_ns == 10_000_000  # a thousandth of the run at most
    assert window.reset() and window.zoom == 1 and not window.reset()


@given(
    st.integers(1, 10**13),
    st.lists(st.tuples(st.floats(0.1, 10), st.floats(0, 1), st.floats(-3, 3)), max_size=20),
)
def test_the_window_never_leaves_the_run(duration: int, moves: list[tuple[float, float, float]]) -> None:
    window = TimeWindow(duration)
    for factor, anchor, pan in moves:
        window.zoom_by(factor, anchor * duration)
        window.pan(pan)
        assert 0 <= window.start_ns < window.end_ns <= duration + 1e-6
        # floats: the bound holds to the last bits of a double, not to an absolute 1e-6 ns
        assert window.span_ns >= min(window.min_span_ns, duration) * (1 - 1e-12) - 1e-6


def test_the_window_follows_the_playhead_a_page_at_a_time() -> None:
    window = TimeWindow(100 * S)
    window.zoom_by(10, 0)
    assert not window.follow(5 * S)
    assert window.follow(12 * S) and window.start_ns <= 12 * S <= window.end_ns
    assert window.start_ns == 11 * S  # the playhead a tenth in, not at the edge


def test_ticks_are_round_apart_and_labelled_as_precisely_as_needed() -> None:
    assert nice_step(4.7 * S, 70) == S
    assert nice_step(600 * S, 100) == 60 * S  # minutes, not 100 s
    assert [label for _, label in ticks(TimeWindow(4_733_000_000), 70)] == ["0", "1s", "2s", "3s", "4s"]
    window = TimeWindow(5 * S)
    window.zoom_by(8, 2 * S)
    labels = [label for _, label in ticks(window, 70)]
    assert all(label.endswith("s") and "." in label for label in labels)  # 1.9s, 2.0s …
    assert format_tick(150 * S, 30 * S) == "2:30" and format_tick(250_000_000, 50_000_000) == "250ms"
    columns = [c for c, _ in ticks(TimeWindow(4_733_000_000), 70)]
    assert columns == sorted(columns) and all(0 <= c < 70 for c in columns)


def test_the_header_keeps_the_most_important_facts_when_narrow() -> None:
    numbers = CellNumbers(task_id="demo/fix-greeting", adapter="pi", model="m", passed=True, exit_code=0,
                          error_spans=2)  # fmt: skip
    facts = outcome_facts(numbers, None)
    assert [f.value for f in facts] == ["✓ check passed", "0", "run ok", "2 spans with errors"]
    narrow = fit(facts, 45)
    assert [f.value for f in narrow] == ["✓ check passed", "0", "2 spans with errors"]  # "run ok" goes first
    assert [f.value for f in fit(facts, 5)] == ["✓ check passed"]
    assert identity_facts(CellNumbers(), "root span")[0] == Fact("", "root span", keep=3)
    failed = outcome_facts(CellNumbers(run_failed=True, status_message="agent exited\x1b[31m with 1"), None)
    assert any(f.value == "run failed: agent exited\\x1b[31m with 1" for f in failed)  # escaped


def test_printed_lines_lose_their_escapes_and_keep_the_last_redraw() -> None:
    assert plain_lines("\x1b[32mok\x1b[0m\nprogress 10%\rprogress 100%\n\n\x1b]0;title\x07done\n") == [
        "ok",
        "progress 100%",
        "done",
    ]


def test_terminal_moments_between_times(tmp_path: Path) -> None:
    cast = tmp_path / "t.cast"
    cast.write_text(
        '{"version": 2, "width": 80, "height": 24}\n'
        '[0.1, "o", "starting\\r\\n"]\n[0.2, "o", "\\u001b[1mbold\\u001b[0m line\\r\\n"]\n'
        '[1.5, "o", "after the call\\r\\n"]\n[3.0, "o", "\\u001b[?1049h\\u001b[Hfull screen"]\n'
    )
    recording = read_cast(cast)
    origin = 10 * S
    found = moments(recording, origin, [origin + S, origin + 2 * S])
    assert [m.lines for m in found] == [("starting", "bold line"), ("after the call",), (REDRAWN,)]
    assert found[0].at_ns == origin + 200_000_000
