"""The cell page's terminal frames: played back as the page's player plays them, every moment is
the screen the replay's emulator shows (text, colours, cursor), whatever the output did; the
frames only look at the rows the emulator marked as touched, and that shortcut is held here to a
full comparison at every moment of generated recordings."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from cab_trace.export.html.frames import Frames, render_frames
from replay.cast import read_cast
from replay.terminal import Screen, Terminal

ESC = "\x1b"
DEFAULT = ("default", "default", 0)


def play(frames: Frames) -> list[dict[str, Any]]:
    """Every frame's screen, decoded as the page's player (assets/player/terminal.js) decodes it."""
    doc = orjson.loads(frames.to_json())
    keys = {k[0]: k for k in doc["keys"]}
    state: dict[str, Any] = {}
    out = []
    for index, frame in enumerate(doc["frames"]):
        if index in keys:
            _, w, h, rows = keys[index]
            state = {"w": w, "h": h, "rows": [""] * h}
            if rows is None:
                assert frame[3] != -1
                for j in range(4, len(frame), 2):
                    state["rows"][frame[j]] = frame[j + 1]
            else:
                state["rows"][: len(rows)] = rows
        else:
            assert frame[3] != -1, "a resize frame without its keyframe"
            if frame[3] > 0:
                state["rows"] = state["rows"][frame[3] :] + [""] * frame[3]
            for j in range(4, len(frame), 2):
                state["rows"][frame[j]] = frame[j + 1]
        out.append(
            {"w": state["w"], "h": state["h"], "rows": list(state["rows"]), "cursor": (frame[1], frame[2])}
        )
    return out


def cells_of_row(row: Any, styles: list[list[Any]]) -> list[tuple[str, tuple[Any, ...]]]:
    """A row as (character, style) pairs; run lengths count UTF-16 units, as the browser does."""
    if isinstance(row, str):
        return [(c, DEFAULT) for c in row]
    text, runs = row
    out, at = [], 0
    for k in range(0, len(runs), 2):
        style, length = tuple(styles[runs[k]]), runs[k + 1]
        units = 0
        while units < length:
            char = text[at]
            out.append((char, style))
            units += len(char.encode("utf-16-le")) // 2
            at += 1
    out += [(c, DEFAULT) for c in text[at:]]
    return out


def cells_of_screen(screen: Screen, y: int) -> list[tuple[str, tuple[Any, ...]]]:
    """The emulator's row as (character, style) pairs, trailing default blanks left out."""
    line = screen.lines[y]
    out = []
    for cell in line:
        flags = cell.bold | cell.italics << 1 | cell.underscore << 2 | cell.reverse << 4
        char = cell.char if cell.char.isprintable() else "?"
        out += [(c, (cell.fg, cell.bg, flags)) for c in char]
    while out and out[-1] == (" ", DEFAULT):
        out.pop()
    return out


def _strip_strike(cells: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, tuple[Any, ...]]]:
    # The replay's Cell has no strikethrough; the page draws it (so it keeps struck-through
    # blanks at the end of a row): compare without it.
    out = [(c, (s[0], s[1], s[2] & ~8)) for c, s in cells]
    while out and out[-1] == (" ", DEFAULT):
        out.pop()
    return out


def random_output(rng: random.Random, cols: int, rows: int) -> str:
    pieces = []
    for _ in range(rng.randrange(1, 12)):
        kind = rng.random()
        if kind < 0.3:
            pieces.append("".join(rng.choice("abcdef XYZ-_.:") for _ in range(rng.randrange(1, cols * 2))))
        elif kind < 0.4:
            pieces.append("\r\n" * rng.randrange(1, 4))
        elif kind < 0.55:
            sgr = rng.choice(
                [
                    "0",
                    "1",
                    "3",
                    "4",
                    "7",
                    "9",
                    "22",
                    "27",
                    "31",
                    "42",
                    "93",
                    "104",
                    "38;5;208",
                    "48;5;17",
                    "38;2;10;200;30",
                ]
            )
            pieces.append(f"{ESC}[{sgr}m")
        elif kind < 0.65:
            pieces.append(f"{ESC}[{rng.randrange(1, rows + 2)};{rng.randrange(1, cols + 2)}H")
        elif kind < 0.7:
            pieces.append(rng.choice([f"{ESC}[2J", f"{ESC}[K", f"{ESC}[1K", f"{ESC}[J", f"{ESC}[H{ESC}[2J"]))
        elif kind < 0.75:
            top = rng.randrange(1, rows)
            pieces.append(
                f"{ESC}[{top};{rng.randrange(top, rows + 1)}r" if rng.random() < 0.7 else f"{ESC}[r"
            )
        elif kind < 0.8:
            pieces.append(
                rng.choice(
                    [
                        f"{ESC}[2L",
                        f"{ESC}[M",
                        f"{ESC}[3A",
                        f"{ESC}[2B",
                        f"{ESC}7",
                        f"{ESC}8",
                        f"{ESC}D",
                        f"{ESC}M",
                    ]
                )
            )
        elif kind < 0.85:
            pieces.append(rng.choice([f"{ESC}[?25l", f"{ESC}[?25h", f"{ESC}[?7l", f"{ESC}[?7h"]))
        elif kind < 0.9:
            pieces.append(rng.choice(["日本語", "🙂 ok", "e\u0301", "├─┤", "\t|", "\b", "\x07"]))
        else:
            pieces.append("log line " + str(rng.randrange(10**6)) + "\r\n")
    return "".join(pieces)


def write_cast(path: Path, seed: int, events: int) -> None:
    rng = random.Random(seed)
    cols, rows = rng.choice([(20, 6), (40, 10), (80, 24)])
    lines = [orjson.dumps({"version": 2, "width": cols, "height": rows}).decode()]
    t = 0.0
    for _ in range(events):
        t += rng.choice([0.0, 0.0, 0.001, 0.05, 0.2])  # several events at one instant too
        if rng.random() < 0.04:
            cols, rows = rng.randrange(10, 90), rng.randrange(4, 30)
            lines.append(orjson.dumps([round(t, 6), "r", f"{cols}x{rows}"]).decode())
        else:
            lines.append(orjson.dumps([round(t, 6), "o", random_output(rng, cols, rows)]).decode())
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("seed", range(12))
def test_every_moment_is_the_screen_the_replay_shows(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "terminal.cast"
    write_cast(path, seed, events=220)
    cast = read_cast(path)
    frames = render_frames(cast, offset_ns=0, limit_bytes=None)
    played = play(frames)
    styles = frames.styles
    terminal = Terminal(cast)
    while not terminal.done:
        terminal.advance(1 << 20)
    times = cast.times_ns
    for k in range(len(cast) + 1):
        if 0 < k < len(cast) and times[k] == times[k - 1]:
            continue  # not the end of an instant: no moment shows it
        # What the page shows after k events: its last frame with k events or fewer.
        index = max(i for i, e in enumerate(frames.events) if e <= k)
        shown = played[index]
        screen = terminal.exact_screen_at(k)
        assert screen is not None
        assert (shown["w"], shown["h"]) == (screen.width, screen.height), k
        for y in range(screen.height):
            want = _strip_strike(cells_of_screen(screen, y))
            got = _strip_strike(cells_of_row(shown["rows"][y], styles))
            assert got == want, f"seed {seed}, after {k} events, row {y}"
        hidden_now = _run_to(terminal, k).screen.cursor.hidden
        cx, cy = shown["cursor"]
        assert cx == screen.cursor[0]
        assert cy == (-1 if hidden_now else screen.cursor[1]), k


def _run_to(terminal: Terminal, events: int) -> Any:
    """The emulator itself after ``events`` (the screen does not say whether the cursor is hidden)."""
    start = terminal._start_from_keyframe(events, unbounded=True)
    assert start is not None
    while start.events < events:
        terminal._apply(start, start.events)
    return start


def test_frames_are_in_time_and_instants_are_one_frame(tmp_path: Path) -> None:
    path = tmp_path / "terminal.cast"
    path.write_text(
        '{"version": 2, "width": 20, "height": 3}\n'
        '[0.5, "o", "one"]\n[0.5, "o", " two"]\n[1.0, "o", "\\r\\nthree"]\n'
        '[1.5, "o", ""]\n[2.0, "m", "here"]\n'
    )
    frames = render_frames(read_cast(path), offset_ns=7_000)
    assert [orjson.loads(f)[0] for f in frames.frames] == [None, 500_007_000, 1_000_007_000]
    assert frames.events == [0, 2, 3]  # two events at 0.5 s: one frame; the empty output: none
    assert play(frames)[1]["rows"][0] == "one two"
    assert frames.notes == [(2_000_007_000, "marker in the recording: here")]


def test_the_limit_stops_the_terminal_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "terminal.cast"
    lines = ['{"version": 2, "width": 40, "height": 5}']
    lines += [orjson.dumps([i * 0.1, "o", f"line {i} " + "x" * 20 + "\r\n"]).decode() for i in range(200)]
    path.write_text("\n".join(lines) + "\n")
    frames = render_frames(read_cast(path), offset_ns=0, limit_bytes=2000)
    assert frames.stopped_at_ns is not None and 0 < frames.stopped_at_ns < 20_000_000_000
    assert frames.events[-1] < 200
    assert any("--terminal-limit 2,000 bytes" in text for _, text in frames.notes)
    whole = render_frames(read_cast(path), offset_ns=0, limit_bytes=None)
    assert whole.stopped_at_ns is None and whole.events[-1] == 200


def test_log_output_scrolls_instead_of_repeating_the_screen(tmp_path: Path) -> None:
    path = tmp_path / "terminal.cast"
    lines = ['{"version": 2, "width": 80, "height": 24}']
    lines += [
        orjson.dumps([i * 0.1, "o", f"\x1b[32mok\x1b[0m step {i}: " + "output " * (i % 9) + "\r\n"]).decode()
        for i in range(300)
    ]
    path.write_text("\n".join(lines) + "\n")
    frames = render_frames(read_cast(path), offset_ns=0)
    # One new row a line (a scroll and the row), not the whole screen again.
    late = [orjson.loads(f) for f in frames.frames[50:]]
    assert all(f[3] == 1 and len(f) == 6 for f in late)
    assert frames.data_bytes < path.stat().st_size
