"""The replay clock and the span tree, without a terminal: stepping, seeking, speed, idle
compression and "what is running at t", checked against brute force with hypothesis."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.model import SpanRecord, Status
from replay.timeline import SPEEDS, STEP_NS, IdleCompression, Timeline
from replay.tree import SpanTree

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_700_000_000_000_000_000


def span(i: int, start_ms: int, end_ms: int, parent: int | None = None, error: bool = False) -> SpanRecord:
    return SpanRecord(
        TRACE,
        f"{i:016x}",
        None if parent is None else f"{parent:016x}",
        f"s{i}",
        "tool_call",
        T0 + start_ms * 1_000_000,
        T0 + end_ms * 1_000_000,
        status=Status("ERROR", "boom") if error else Status("OK"),
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@st.composite
def span_sets(draw: st.DrawFn) -> list[SpanRecord]:
    n = draw(st.integers(1, 25))
    spans = []
    for i in range(1, n + 1):
        start = draw(st.integers(0, 5000))
        length = draw(st.integers(0, 3000))
        parent = draw(st.none() | st.integers(1, n))
        spans.append(span(i, start, start + length, parent if parent != i else None, draw(st.booleans())))
    return spans


@given(span_sets(), st.integers(0, 60))
def test_stepping_over_boundaries_and_back_lands_where_it_started(spans, start_at) -> None:
    tl = Timeline(spans, clock=FakeClock())
    for _ in range(min(start_at, len(tl.boundaries) - 1)):
        assert tl.step_boundary(+1)
    before = (tl.position_ns, tl.selected, tl.cursor)
    steps = 0
    while tl.step_boundary(+1):
        steps += 1
    assert tl.position_ns == tl.duration_ns
    assert tl.cursor == len(tl.boundaries) - 1
    for _ in range(steps):
        assert tl.step_boundary(-1)
    assert (tl.position_ns, tl.selected, tl.cursor) == before


@given(span_sets())
def test_every_boundary_is_visited_in_time_order_and_selects_its_span(spans) -> None:
    tl = Timeline(spans, clock=FakeClock())
    seen = [(tl.position_ns, tl.selected)]
    while tl.step_boundary(+1):
        seen.append((tl.position_ns, tl.selected))
    expected = sorted(
        [(s.start_time_unix_nano - tl.origin_ns, i) for i, s in enumerate(spans)]
        + [(s.end_time_unix_nano - tl.origin_ns, i) for i, s in enumerate(spans)],
        key=lambda p: p[0],
    )
    assert [t for t, _ in seen] == [t for t, _ in expected]
    assert sorted(seen) == sorted((float(t), i) for t, i in expected)
    assert not tl.step_boundary(+1)


@given(span_sets(), st.floats(-1e12, 1e12, allow_nan=False))
def test_after_a_seek_steps_go_to_the_nearest_boundary_on_that_side(spans, t) -> None:
    tl = Timeline(spans, clock=FakeClock())
    tl.seek(t)
    here = tl.position_ns
    times = [b.time_ns for b in tl.boundaries]
    if tl.step_boundary(+1):
        assert tl.position_ns == min(x for x in times if x > here)
    else:
        assert all(x <= here for x in times)
    tl.seek(t)
    if tl.step_boundary(-1):
        assert tl.position_ns == max(x for x in times if x < here)
    else:
        assert all(x >= here for x in times)


@given(span_sets(), st.floats(-1e13, 1e13, allow_nan=False))
def test_seeking_clamps_to_the_trace(spans, t) -> None:
    tl = Timeline(spans, clock=FakeClock())
    tl.seek(t)
    assert 0 <= tl.position_ns <= tl.duration_ns
    assert tl.position_ns == min(max(t, 0), tl.duration_ns)


@given(span_sets(), st.floats(0, 8e9, allow_nan=False))
def test_active_at_matches_brute_force(spans, t) -> None:
    tl = Timeline(spans, clock=FakeClock())
    brute = [
        i
        for i, s in enumerate(spans)
        if s.start_time_unix_nano - tl.origin_ns <= t < s.end_time_unix_nano - tl.origin_ns
    ]
    assert tl.active_at(t) == brute
    tl.seek(t)
    assert [i for i in range(len(spans)) if tl.state(i) == "running"] == tl.active_at()


def test_step_time_moves_100_ms_and_clamps() -> None:
    tl = Timeline([span(1, 0, 250)], clock=FakeClock())
    tl.step_time(+1)
    assert tl.position_ns == STEP_NS
    tl.step_time(+5)
    assert tl.position_ns == 250_000_000
    tl.step_time(-1)
    assert tl.position_ns == 150_000_000
    tl.step_time(-9)
    assert tl.position_ns == 0


def test_playback_follows_the_clock_times_speed_and_stops_at_the_end() -> None:
    clock = FakeClock()
    tl = Timeline([span(1, 0, 10_000)], clock=clock)
    tl.play()
    clock.now += 1.0
    tl.tick()
    assert tl.position_ns == 1e9
    tl.faster()
    assert tl.speed == 2.0
    clock.now += 1.0
    tl.tick()
    assert tl.position_ns == 3e9
    tl.pause()
    clock.now += 5.0
    tl.tick()
    assert tl.position_ns == 3e9  # paused: the clock moves, the playhead does not
    tl.play()
    clock.now += 100.0
    tl.tick()
    assert tl.position_ns == tl.duration_ns and not tl.playing
    tl.play()  # at the end, play starts over
    assert tl.position_ns == 0 and tl.playing


def test_speed_is_bounded() -> None:
    tl = Timeline([span(1, 0, 10)], clock=FakeClock())
    for _ in range(20):
        tl.faster()
    assert tl.speed == SPEEDS[-1] == 16.0
    for _ in range(20):
        tl.slower()
    assert tl.speed == SPEEDS[0] == 0.25


def test_idle_compression_shortens_long_waits_only() -> None:
    clock = FakeClock()
    # Boundaries at 0, 1 s, 31 s, 32 s: a 30 s wait between them.
    spans = [span(1, 0, 1000), span(2, 31_000, 32_000)]
    tl = Timeline(spans, clock=clock, idle_limit_s=2.0)
    assert tl.replay_duration_ns == 4e9  # 1 s + (30 s → 2 s) + 1 s
    tl.play()
    clock.now += 0.5
    tl.tick()
    assert tl.position_ns == 0.5e9  # activity plays at real time
    clock.now += 1.5  # replay 2.0 s: half-way through the compressed 2 s wait
    tl.tick()
    assert tl.position_ns == 16e9
    clock.now += 1.0
    tl.tick()
    assert tl.position_ns == 31e9
    tl.set_idle_limit(None)
    assert tl.replay_duration_ns == tl.duration_ns


@given(
    st.lists(st.integers(0, 10**10), max_size=20),
    st.none() | st.integers(1, 10**9),
    st.integers(0, 10**10),
    st.floats(0, 1),
)
def test_idle_compression_is_monotonic_and_invertible(activity, limit, end, fraction) -> None:
    c = IdleCompression(activity, limit, end)
    t = fraction * end
    r = c.to_replay(t)
    assert 0 <= r <= c.replay_end_ns <= end
    # Float rounding in replay time is magnified by the compression ratio on the way back.
    assert abs(c.to_trace(r) - t) <= 1.0 + 1e-4 * end / (limit or end or 1)
    assert c.to_replay(min(t + 1000, end)) >= r


def test_tree_orders_folds_filters_and_finds_errors() -> None:
    spans = [
        span(3, 5, 6, parent=1, error=True),
        span(1, 0, 10),
        span(2, 1, 4, parent=1),
        span(4, 2, 3, parent=2),
    ]
    tree = SpanTree(spans)
    assert [s.name for s in tree.spans] == ["s1", "s2", "s4", "s3"]
    assert tree.depth == [0, 1, 2, 1]
    assert tree.parent == [None, 0, 1, 0]
    assert list(tree.visible()) == [0, 1, 2, 3]
    tree.toggle_fold(1)
    assert tree.visible() == [0, 1, 3]
    tree.reveal(2)
    assert list(tree.visible()) == [0, 1, 2, 3]
    tree.set_filter("S4")
    assert tree.visible() == [0, 1, 2]  # the match and its ancestors
    tree.set_filter("")
    assert tree.errors == [3]
    assert tree.next_error(0, +1) == 3
    assert tree.next_error(3, +1) == 3  # wraps around
    assert tree.next_error(0, -1) == 3


def test_tree_keeps_spans_whose_parents_form_a_cycle() -> None:
    spans = [span(1, 0, 10, parent=2), span(2, 0, 10, parent=1), span(3, 0, 1)]
    tree = SpanTree(spans)
    assert sorted(s.name for s in tree.spans) == ["s1", "s2", "s3"]


@settings(max_examples=50)
@given(span_sets())
def test_tree_lists_every_span_once_parents_first(spans) -> None:
    tree = SpanTree(spans)
    assert sorted(s.span_id for s in tree.spans) == sorted({s.span_id for s in spans})
    for i, p in enumerate(tree.parent):
        if p is not None:
            assert p < i and tree.depth[i] == tree.depth[p] + 1
