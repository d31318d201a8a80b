"""Two runs on one clock: the anchors line up, one playhead moves both, and stepping goes through
the span boundaries of both runs in time order."""

from __future__ import annotations

import pytest

from replay.pair import ANCHORS, PairClock, RunTimes

# A: spans [1000, 5000] (run), adapter_run at 2000, a model call at 3000 (absolute ns, its own clock).
A = RunTimes([1000, 2000, 3000], [5000, 4500, 3500], ["run", "adapter_run", "model_call"], [3000])
# B: [10000, 12000], adapter_run at 10500, its first model call at 11800.
B = RunTimes(
    [10_000, 10_500, 11_800], [12_000, 11_900, 11_900], ["run", "adapter_run", "model_call"], [11_800]
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_aligned_at_the_start() -> None:
    pair = PairClock(A, B)
    assert pair.starts_at == [0, 0] and pair.duration_ns == 4000
    assert pair.offsets == [1000, 10_000]
    assert pair.a.duration_ns == pair.b.duration_ns == 4000
    assert (pair.a.start_ns(1), pair.b.start_ns(1)) == (1000, 500)


@pytest.mark.parametrize(("anchor", "starts_at"), [("adapter_run", [0, 500]), ("first model call", [0, 200])])
def test_aligned_at_an_anchor(anchor: str, starts_at: list[int]) -> None:
    pair = PairClock(A, B, anchor)
    assert pair.starts_at == starts_at
    meet = pair.anchor_position()
    index = 1 if anchor == "adapter_run" else 2
    # Both anchors sit at the same moment of the shared clock, in each run's own timeline.
    assert pair.a.start_ns(index) == pair.b.start_ns(index) == meet
    pair.seek(meet)
    assert pair.a.state(index) == pair.b.state(index) == "running"
    assert pair.at(0) == A.starts[index] and pair.at(1) == B.starts[index]


def test_a_run_without_the_anchor_lines_up_at_its_start() -> None:
    plain = RunTimes([0, 10], [100, 50], ["a", "b"])
    pair = PairClock(A, plain, "first model call")
    assert pair.starts_at == [0, 2000]
    assert plain.anchors["first model call"] is None


def test_one_playhead_steps_through_both_runs_in_time_order() -> None:
    pair = PairClock(A, B)
    seen = []
    while (side := pair.step_boundary(1)) is not None:
        assert pair.a.position_ns == pair.b.position_ns == pair.position_ns
        seen.append((int(pair.position_ns), side, pair.timelines[side].selected))
    # Shared times: A's at 0, 1000, 2000 (starts) and 2500, 3500, 4000 (ends); B's at 0, 500, 1800
    # and 1900, 1900, 2000.
    assert [t for t, _, _ in seen] == sorted(t for t, _, _ in seen)
    # The playhead starts on the first boundary (A's run starting); the next is B's at the same instant.
    assert len(seen) == 11
    assert seen[0] == (0, 1, 0)
    assert (500, 1, 1) in seen and (1800, 1, 2) in seen and (4000, 0, 0) in seen
    for _ in range(11):
        pair.step_boundary(-1)
    assert pair.position_ns == 0


def test_playing_moves_both_and_stops_at_the_end() -> None:
    clock = FakeClock()
    pair = PairClock(A, B, clock=clock)
    pair.toggle_play()
    clock.now += 1.85e-6  # 1850 ns of wall time at x1
    pair.tick()
    assert pair.a.position_ns == pair.b.position_ns == pytest.approx(1850)
    # A's call runs 2000..2500 on the shared clock, B's 1800..1900.
    assert pair.a.state(2) == "pending" and pair.b.state(2) == "running"
    clock.now += 1.0
    pair.tick()
    assert pair.position_ns == 4000 and not pair.master.playing


def test_seek_span_puts_the_playhead_on_a_span_of_either_run() -> None:
    pair = PairClock(A, B, "adapter_run")
    pair.seek_span(1, 2)
    assert pair.position_ns == 500 + 1800 and pair.b.selected == 2
    assert ANCHORS[0] == "start"
    with pytest.raises(ValueError, match="anchor"):
        PairClock(A, B, "middle")
