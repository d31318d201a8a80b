"""Reading asciicast v2 and v3 into the replay's index: sizes, times, resizes, markers, errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cab_trace.errors import TraceFileError
from replay.cast import HAS_SGR, MAX_COLS, SGR_DEFAULT_AFTER, read_cast
from replay.terminal import Terminal


def write(path: Path, header: object, *events: object, tail: bytes = b"") -> Path:
    lines = [orjson.dumps(header)] + [e if isinstance(e, bytes) else orjson.dumps(e) for e in events]
    path.write_bytes(b"\n".join(lines) + b"\n" + tail)
    return path


def test_v2_absolute_times_output_and_resize(tmp_path: Path) -> None:
    cast = read_cast(
        write(
            tmp_path / "a.cast",
            {"version": 2, "width": 80, "height": 24, "timestamp": 1700000000, "env": {"TERM": "xterm"}},
            [0.5, "o", "hello\r\n"],
            [0.75, "i", "typed"],
            [1.0, "r", "100x30"],
            [1.5, "m", "chapter"],
            [2.0, "o", "\x1b[31mred\x1b[0m"],
        )
    )
    assert (cast.version, cast.width, cast.height, cast.timestamp, cast.term_type) == (
        2,
        80,
        24,
        1700000000.0,
        "xterm",
    )
    assert list(cast.times_ns) == [500_000_000, 1_000_000_000, 2_000_000_000]
    assert bytes(cast.codes) == b"oro"
    assert cast.resizes == {1: (100, 30)}
    assert cast.markers == [(1_500_000_000, "chapter")]
    assert cast.text(0) == "hello\r\n" and cast.text(1) == "" and cast.text(2) == "\x1b[31mred\x1b[0m"
    assert cast.size_before(1) == (80, 24) and cast.size_before(2) == (100, 30)
    assert cast.state_default_at(2, mid_event=False) == (True, True)
    assert cast.state_default_at(2, mid_event=True) == (True, False)  # inside it, red is on
    assert cast.flags[2] & HAS_SGR and cast.flags[2] & SGR_DEFAULT_AFTER  # and reset by its end


def test_v3_relative_intervals_comments_and_exit(tmp_path: Path) -> None:
    """asciinema 3's default format: term.cols/rows, intervals since the previous event, # comments."""
    path = write(
        tmp_path / "b.cast",
        {"version": 3, "term": {"cols": 120, "rows": 36, "type": "xterm-256color"}, "timestamp": 1504467315},
        b"# event stream follows the header",
        [0.248, "o", "Hello "],
        [1.001, "o", "World"],
        [3.5, "m", ""],
        [0.143, "o", "!"],
        b"# terminal window resized",
        [2.05, "r", "90x30"],
        [1.541, "o", "Bye!"],
        [0.887, "x", "0"],
    )
    cast = read_cast(path)
    assert (cast.version, cast.width, cast.height, cast.term_type) == (3, 120, 36, "xterm-256color")
    assert [round(t / 1e9, 3) for t in cast.times_ns] == [0.248, 1.249, 4.892, 6.942, 8.483]
    assert cast.resizes == {3: (90, 30)} and cast.exit_status == "0"
    assert [cast.text(i) for i in range(len(cast))] == ["Hello ", "World", "!", "", "Bye!"]
    screen = Terminal(cast).screen_at(len(cast))
    assert screen is not None and (screen.width, screen.height) == (90, 30)
    assert "".join(c.char for c in screen.lines[0]).rstrip() == "Hello World!Bye!"


def test_a_resize_changes_the_emulated_screen(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.cast",
        {"version": 2, "width": 10, "height": 3},
        [0.1, "o", "0123456789abc"],
        [0.2, "r", "20x5"],
        [0.3, "o", "\r\nwide enough for this"],
    )
    terminal = Terminal(read_cast(path))
    before = terminal.screen_at(1)
    after = terminal.screen_at(3)
    assert before is not None and after is not None
    assert (before.width, before.height) == (10, 3) and (after.width, after.height) == (20, 5)
    assert "".join(c.char for c in after.lines[2]) == "wide enough for this"


def test_a_recording_cut_off_mid_line_keeps_what_came_before(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.cast", {"version": 2, "width": 8, "height": 2}, [0.1, "o", "ok"], tail=b'[0.2, "o", "ha'
    )
    cast = read_cast(path)
    assert len(cast) == 1 and cast.cut_off


def test_a_huge_size_is_capped(tmp_path: Path) -> None:
    path = write(tmp_path / "h.cast", {"version": 2, "width": 10**9, "height": 24}, [0.1, "r", "99999999x5"])
    cast = read_cast(path)
    assert cast.width == MAX_COLS and cast.resizes == {0: (MAX_COLS, 5)}


@pytest.mark.parametrize(
    ("header", "events", "where", "problem"),
    [
        ("not json", [], 1, "the header is not JSON"),
        ({"version": 1, "width": 80, "height": 24}, [], 1, "version 1; need 2 or 3"),
        ({"version": 2, "width": 0, "height": 24}, [], 1, "positive integer width and height"),
        ({"version": 3, "width": 80, "height": 24}, [], 1, '"term": {"cols"'),
        ({"version": 3, "term": {"cols": 80}}, [], 1, "term.cols and term.rows"),
        ({"version": 2, "width": 80, "height": 24}, [b"{oops"], 2, "not JSON"),
        ({"version": 2, "width": 80, "height": 24}, [[0.1, "o"]], 2, "[time, code, data]"),
        ({"version": 2, "width": 80, "height": 24}, [[-1, "o", "x"]], 2, "a time ≥ 0"),
        ({"version": 3, "term": {"cols": 8, "rows": 2}}, [[0.1, "o", "a"], [0.1, "r", "80"]], 3, "COLSxROWS"),
    ],
)
def test_bad_recordings_name_the_file_line_and_problem(
    tmp_path: Path, header: object, events: list[object], where: int, problem: str
) -> None:
    path = tmp_path / "bad.cast"
    if isinstance(header, str):
        path.write_text(header + "\n")
    else:
        write(path, header, *events)
    with pytest.raises(TraceFileError) as info:
        read_cast(path)
    assert info.value.message.startswith(f"{path}:{where}: ") and problem in info.value.message


def test_the_index_notes_clears_layout_changes_and_colours(tmp_path: Path) -> None:
    path = write(
        tmp_path / "n.cast",
        {"version": 2, "width": 8, "height": 2},
        [0.1, "o", "plain"],
        [0.2, "o", "\x1b[?25l\x1b[?2004h hidden cursor, bracketed paste: no layout change"],
        [0.3, "o", "\x1b[H\x1b[2Jcleared"],
        [0.4, "o", "\x1b[1;32mgreen"],
        [0.5, "o", "\x1b[2;10r region"],
        [0.6, "o", "\x1b[2J\x1b[3J\x1b[Hcleared again"],
    )
    cast = read_cast(path)
    assert list(cast.clears) == [2, 5]
    assert [cast.state_default_at(i, mid_event=False) for i in range(6)] == [
        (True, True),
        (True, True),
        (True, True),
        (True, True),
        (True, False),  # green is on
        (False, False),  # and a scrolling region
    ]
    assert cast.activity_ns(resolution_ns=250_000_000) == [100_000_000, 400_000_000, 600_000_000]


@pytest.mark.parametrize(
    ("outputs", "default_after"),
    [
        (["\x1b[2;20r", "text", "\x1b[r"], [False, False, True]),
        (["\x1b[?7l", "\x1b[?7h"], [False, True]),
        (["\x1b[4h\x1b[?6h", "\x1b[4l", "\x1b[?6l"], [False, False, True]),
        (["\x1b(0", "\x1b(B", "\x0e", "\x0f"], [False, True, False, True]),
        (["\x1b7", "\x1b8"], [False, True]),
        (["\x1b[2;", "5r"], [True, False]),  # an escape split across two events
        (["\x1bH", "\x1bc"], [False, True]),
        (["\x1b[?25l\x1b[?1049h\x1b[?2004h"], [True]),
    ],
)
def test_the_layout_state_is_followed_across_events(
    tmp_path: Path, outputs: list[str], default_after: list[bool]
) -> None:
    path = write(
        tmp_path / "l.cast",
        {"version": 2, "width": 8, "height": 2},
        *[[i * 0.1, "o", text] for i, text in enumerate(outputs)],
    )
    cast = read_cast(path)
    assert [cast.state_default_at(i + 1, mid_event=False)[0] for i in range(len(outputs))] == default_after


def test_a_line_over_a_mebibyte_is_indexed_in_pieces(tmp_path: Path) -> None:
    big = "\x1b[31m" + "z" * 3_000_000 + "\x1b[2;5r" + "\u00e9" * 1000 + "\x1b[H\x1b[2Jend"
    path = write(
        tmp_path / "big.cast",
        {"version": 3, "term": {"cols": 80, "rows": 24}},
        [0.5, "o", "before"],
        [0.5, "o", big],
        [0.5, "o", "after"],
    )
    cast = read_cast(path)
    assert len(cast) == 3 and [t / 1e9 for t in cast.times_ns] == [0.5, 1.0, 1.5]
    assert cast.text(1) == big and cast.text(2) == "after"
    assert list(cast.clears) == [1] and cast.state_default_at(2, mid_event=False) == (False, False)
    assert big.endswith(cast.text_tail(1, 5000)) and 4900 < len(cast.text_tail(1, 5000).encode()) <= 5000
    cut = tmp_path / "cut.cast"
    cut.write_bytes(path.read_bytes()[:2_000_000])
    assert read_cast(cut).cut_off and len(read_cast(cut)) == 1
