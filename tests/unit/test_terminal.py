"""The replay's terminal emulation: no byte sequence stops it, the fast paths agree with plain
pyte, and a seek says "exact" only when it is (hypothesis against a from-the-start emulation)."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pyte
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay import emulator as terminal_module
from replay.cast import Cast, read_cast
from replay.terminal import Emulator, SafeStream, Screen, Terminal, window_is_self_contained

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces a terminal's output is made of: text, line ends, colours, cursor moves, erases, modes,
# scrolling regions, clears, titles, and pyte's known crashers.
PIECES = st.sampled_from(
    [
        "hello",
        "wörld ",
        "日本",
        "x" * 37,
        "\r\n",
        "\n",
        "\r",
        "\t",
        "\b",
        "\x07",
        "\x1b[31m",
        "\x1b[1;42m",
        "\x1b[0m",
        "\x1b[m",
        "\x1b[K",
        "\x1b[2K",
        "\x1b[H",
        "\x1b[3;5H",
        "\x1b[2A",
        "\x1b[4C",
        "\x1b[2J",
        "\x1b[H\x1b[2J",
        "\x1b[J",
        "\x1b[2;4r",
        "\x1b[r",
        "\x1b[?7l",
        "\x1b[?7h",
        "\x1b[4h",
        "\x1b[?6h",
        "\x1b7",
        "\x1b8",
        "\x1b(0",
        "\x1b(B",
        "\x0e",
        "\x0f",
        "\x1b]0;title\x07",
        "\x1b[8J",
        "\x1b[?1049h",
        "\x1bc",
        "\x1b[3L",
        "\x1b[2M",
        "\x1b[5@",
        "\x1b[S",
        "\x1b",
        "\x1b[",
    ]
)
OUTPUT = st.lists(st.lists(PIECES, max_size=12).map("".join), min_size=1, max_size=25)


def text_of(screen: Screen) -> list[str]:
    return ["".join(c.char for c in line) for line in screen.lines]


def reference(chunks: list[str], cols: int, rows: int) -> Screen:
    """Plain pyte (its own draw), fed everything from the start: what the fast paths must match."""
    emulator = Emulator(cols, rows)
    emulator.screen = pyte.Screen(cols, rows)
    emulator.stream = SafeStream(emulator.screen)
    for chunk in chunks:
        emulator.stream.feed(chunk)
    emulator.events = len(chunks)
    return emulator.snapshot()


def seen(screen: Screen) -> tuple[object, ...]:
    """What a screen looks like: a blank cell's foreground is not seen (unless reversed or
    underlined), and pyte keeps one where it erased a cell it had stored (a cleared screen's
    former text keeps the colour set before the clear) and not where it had none: a screen
    rebuilt from after the clear differs there only, invisibly."""

    def cell(c: object) -> object:
        if getattr(c, "char", None) == " " and not (
            getattr(c, "reverse", False) or getattr(c, "underscore", False)
        ):
            return c._replace(fg="default")  # type: ignore[attr-defined]
        return c

    return tuple(tuple(cell(c) for c in line) for line in screen.lines), screen.cursor


def write_cast(path: Path, chunks: list[str], cols: int, rows: int) -> Cast:
    lines = [orjson.dumps({"version": 2, "width": cols, "height": rows})]
    lines += [orjson.dumps([i * 0.01, "o", chunk]) for i, chunk in enumerate(chunks)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return read_cast(path)


def test_pyte_crashers_become_a_note_and_the_rest_is_still_shown() -> None:
    emulator = Emulator(20, 3)
    emulator.feed("before\x1b[8Jafter")
    screen = emulator.snapshot()
    assert screen.error is not None and "UnboundLocalError" in screen.error
    assert text_of(screen)[0].rstrip() == "beforeafter"


@FUZZ
@given(data=st.binary(max_size=400), cols=st.integers(1, 30), rows=st.integers(1, 8))
def test_no_bytes_stop_the_emulator(data: bytes, cols: int, rows: int) -> None:
    emulator = Emulator(cols, rows)
    emulator.feed(data.decode("utf-8", errors="replace"))
    emulator.resize(rows + 3, cols + 1)
    screen = emulator.snapshot()
    assert len(screen.lines) == screen.height and all(len(line) == screen.width for line in screen.lines)
    restored = Emulator.from_state(emulator.state())
    assert text_of(restored.snapshot()) == text_of(screen)


@FUZZ
@given(chunks=OUTPUT, cols=st.integers(4, 24), rows=st.integers(2, 6))
def test_the_fast_draw_matches_pyte(chunks: list[str], cols: int, rows: int) -> None:
    emulator = Emulator(cols, rows)
    for chunk in chunks:
        emulator.feed(chunk)
    emulator.events = len(chunks)
    ours, theirs = emulator.snapshot(), reference(chunks, cols, rows)
    assert (ours.lines, ours.cursor) == (theirs.lines, theirs.cursor)


@FUZZ
@given(
    prefix=st.sampled_from(["", "ab", "\x1b[?7l", "\x1b[2;3r\x1b[3;1H", "\x1b[4h", "\x1b(0", "\x0e"]),
    run=st.integers(0, 400),
    cols=st.integers(3, 12),
    rows=st.integers(1, 5),
)
def test_a_long_run_is_cut_without_changing_the_screen(prefix: str, run: int, cols: int, rows: int) -> None:
    """A line longer than the screen is cut to its tail before it is drawn; same result."""
    text = prefix + "".join(itertools.islice(itertools.cycle("abcdefghijklmnopqrstuvwxyz0123456789"), run))
    emulator = Emulator(cols, rows)
    emulator.feed(text)
    emulator.events = 1
    ours, theirs = emulator.snapshot(), reference([text], cols, rows)
    assert (ours.lines, ours.cursor) == (theirs.lines, theirs.cursor)


def test_a_50_mb_line_is_quick() -> None:
    emulator = Emulator(120, 36)
    emulator.feed("y" * 50_000_000 + "END")
    assert text_of(emulator.snapshot())[-1].rstrip().endswith("yEND")


@FUZZ
@given(chunks=OUTPUT, cols=st.integers(4, 16), rows=st.integers(2, 5), data=st.data())
def test_a_seek_that_says_exact_is_exact(
    tmp_path_factory: object, chunks: list[str], cols: int, rows: int, data: st.DataObject
) -> None:
    """Whatever the budget and keyframes, a screen marked exact equals emulating from the start,
    and with a budget for everything every screen is exact."""
    path = tmp_path_factory.mktemp("seek") / "t.cast"  # type: ignore[attr-defined]
    cast = write_cast(path, chunks, cols, rows)
    with pytest.MonkeyPatch.context() as patch:
        # Small pieces, so that the background pass is stopped inside events too.
        patch.setattr(terminal_module, "YIELD_EVERY", data.draw(st.integers(1, 64), label="piece"))
        check_seeks(cast, chunks, cols, rows, data)


def check_seeks(cast: Cast, chunks: list[str], cols: int, rows: int, data: st.DataObject) -> None:
    budget = data.draw(st.integers(1, 400), label="budget")
    terminal = Terminal(
        cast, keyframe_bytes=data.draw(st.integers(1, 300), label="keyframes"), budget_bytes=budget
    )
    for _ in range(data.draw(st.integers(0, 6), label="background")):
        # A request may stop the background pass anywhere, inside an event too.
        stops = iter(data.draw(st.lists(st.booleans(), max_size=8), label="stops"))
        terminal.advance(data.draw(st.integers(1, 200)), lambda stops=stops: next(stops, False))
    for target in data.draw(st.lists(st.integers(0, len(chunks)), min_size=1, max_size=5), label="seeks"):
        screen = terminal.screen_at(target)
        assert screen is not None and screen.events == target
        if screen.exact:
            expected = reference(chunks[:target], cols, rows)
            assert seen(screen) == seen(expected), target
        exact = terminal.exact_screen_at(target)
        if exact is not None:
            expected = reference(chunks[:target], cols, rows)
            assert exact.exact and seen(exact) == seen(expected)
    everything = Terminal(cast, budget_bytes=10**9)
    assert all(s is not None and s.exact for s in map(everything.screen_at, range(len(chunks) + 1)))


def test_plain_log_output_is_exact_from_a_window_far_from_any_keyframe(tmp_path: Path) -> None:
    """The common case of a huge recording: lines of text and colours. A seek deep into it is
    answered from the last few kilobytes alone, and that is exact."""
    chunks = [f"\x1b[32m{i:06d}\x1b[0m line of output {'x' * (i % 50)}\r\n" for i in range(3000)]
    cast = write_cast(tmp_path / "log.cast", chunks, 80, 10)
    terminal = Terminal(cast, budget_bytes=4096)
    screen = terminal.screen_at(2500)
    assert screen is not None and screen.exact and not terminal.keyframes
    assert text_of(screen)[-2].startswith("002499 line of output")
    assert (screen.lines, screen.cursor) == (
        reference(chunks[:2500], 80, 10).lines,
        reference(chunks[:2500], 80, 10).cursor,
    )


def test_a_full_screen_program_is_approximate_until_the_background_pass_gets_there(tmp_path: Path) -> None:
    frames = [f"\x1b[2;1r\x1b[{1 + i % 5};1Hframe {i} " + "z" * 200 for i in range(400)]
    cast = write_cast(tmp_path / "tui.cast", frames, 40, 6)
    terminal = Terminal(cast, keyframe_bytes=2000, budget_bytes=1000)
    first = terminal.screen_at(390)
    assert first is not None and not first.exact and terminal.exact_screen_at(390) is None
    while not terminal.done:
        terminal.advance()
    again = terminal.screen_at(390)
    assert again is not None and again.exact
    assert again.lines == reference(frames[:390], 40, 6).lines


def test_window_is_self_contained() -> None:
    lines = "".join(f"line {i}\r\n" for i in range(10))
    assert window_is_self_contained(lines, 4, attributes_known=True)
    assert not window_is_self_contained(lines, 6, attributes_known=True)  # needs 12 line feeds
    assert not window_is_self_contained(lines + "\x1b[3A", 4, attributes_known=True)  # a move after
    assert window_is_self_contained("\x1b[3A" + lines, 4, attributes_known=True)  # a move before
    assert not window_is_self_contained(lines, 4, attributes_known=False)  # colours unknown
    assert window_is_self_contained("\x1b[0m" + lines, 4, attributes_known=False)
    # Long lines wrap: each moves the cursor down as often as it wraps, when the width is known.
    long_lines = "\r" + "".join(f"\n{'y' * 45}" for _ in range(3))
    assert not window_is_self_contained(long_lines, 4, attributes_known=True)
    assert window_is_self_contained(long_lines, 4, attributes_known=True, cols=10)  # 3 + 3 * 4 moves
    assert not window_is_self_contained("\x1b[?7l" + long_lines, 4, attributes_known=True, cols=10)
    assert not window_is_self_contained(long_lines.replace("y", "日"), 4, attributes_known=True, cols=10)
