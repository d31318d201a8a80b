"""The agent's terminal, rendered ahead of time for the cell page: keyframes and the changes
between them, so that the page's player only shows screens and never emulates a terminal.

The screens come from the replay's own emulator (:class:`replay.emulator.Emulator`, pyte), fed
the recording event by event from the start, so the page shows at time *t* exactly what
``cab-trace replay`` shows at *t* (the screen after every event at or before *t*; colours,
cursor moves and full-screen agents included).

What the page holds, per moment the screen changed (events at one instant make one frame):

- the time, relative to the trace's start, in nanoseconds;
- the cursor (column, row; row -1 when the agent hid it);
- how many rows the screen scrolled up since the frame before (log output scrolls: a scroll and
  one new row instead of a whole screen);
- the rows that still differ, each as its text and its colour runs.

Every so often (by the bytes of changes since the last one) a frame also gets a *keyframe*, the
whole screen, so that the player reaches any moment from the keyframe before it with a bounded
number of changes. A resize is always a keyframe.

The emulator says which rows an event touched (pyte's ``dirty`` set); only those are looked at.
A test holds that shortcut to the screens a full comparison gives.

Long runs: everything after ``limit_bytes`` of recording (or of frame data) is left out, and the
page says where its terminal stops and why (as ``--cast-limit`` does for the recording itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

import orjson

from replay.cast_index import OUTPUT, Cast
from replay.emulator import Emulator

#: The default of ``--terminal-limit``: recording bytes (and frame bytes) one page holds.
DEFAULT_LIMIT = 64 * 1024 * 1024
#: A keyframe once the changes since the last one are this many times its size (or this many
#: frames): seeking applies at most about this much, and keyframes add at most about 1/KEY_RATIO.
KEY_RATIO = 8
KEY_MIN_BYTES = 64 * 1024
KEY_MAX_FRAMES = 1000
_DEFAULT_STYLE = ("default", "default", False, False, False, False, False)
#: Of a pyte cell: its text, and its style (fg, bg, bold, italics, underscore, strikethrough, reverse).
_CHAR = itemgetter(0)
_STYLE = itemgetter(1, 2, 3, 4, 5, 6, 7)

Progress = Callable[[int, int], None]


@dataclass
class Frames:
    """A recording as the page's player reads it (see the module's docstring)."""

    width: int
    height: int
    styles: list[list[object]] = field(default_factory=list)
    """[fg, bg, flags] per style id; flags: 1 bold, 2 italic, 4 underline, 8 strikethrough, 16 reverse."""
    frames: list[bytes] = field(default_factory=list)
    """Each frame as JSON: [t, cursor x, cursor y, scrolled, y, row, y, row, …]."""
    keyframes: list[bytes] = field(default_factory=list)
    """Each keyframe as JSON: [frame index, cols, rows, [row, …]], or ``null`` for the rows when
    that frame itself lists every row."""
    events: list[int] = field(default_factory=list)
    """Per frame, how many of the recording's screen events it shows applied."""
    notes: list[tuple[int, str]] = field(default_factory=list)
    """(time, text): where the emulator skipped something, markers in the recording, the limit."""
    stopped_at_ns: int | None = None
    """Where the page's terminal stops (``limit_bytes``), relative to the trace's start."""
    data_bytes: int = 0

    def to_json(self) -> bytes:
        """The player's data, as one JSON document."""
        head = orjson.dumps(
            {
                "w": self.width,
                "h": self.height,
                "styles": self.styles,
                "notes": [[t, text] for t, text in self.notes],
                "stopped": self.stopped_at_ns,
            }
        )
        # A frame a line: the leak check reads the page in blocks of whole lines.
        return (
            head[:-1]
            + b',"frames":[\n'
            + b",\n".join(self.frames)
            + b'],\n"keys":[\n'
            + b",\n".join(self.keyframes)
            + b"]}"
        )


class _Rows:
    """Encodes screen rows for the page, interning their styles."""

    def __init__(self, frames: Frames) -> None:
        self._styles: dict[tuple[object, ...], int] = {_DEFAULT_STYLE: 0}
        self._frames = frames
        frames.styles.append(["default", "default", 0])

    def _style(self, key: tuple[object, ...]) -> int:
        found = self._styles.get(key)
        if found is None:
            found = self._styles[key] = len(self._styles)
            fg, bg, *bits = key
            flags = sum(1 << k for k, on in enumerate(bits) if on)
            self._frames.styles.append([fg, bg, flags])
        return found

    def encode(self, emulator: Emulator, y: int) -> bytes:
        """One row as JSON: its text (trailing default blanks left out), or ``[text, runs]``
        with runs ``[style, length, …]``, lengths in UTF-16 units (as the browser counts)."""
        screen = emulator.screen
        row = screen.buffer.get(y)
        if not row:
            return b'""'
        # Column-wise, with C-level helpers: this runs for every row an event touches.
        cells = list(map(row.__getitem__, range(screen.columns)))
        chars = list(map(_CHAR, cells))
        text = "".join(chars)
        if not text.isprintable():
            # The replay's pane draws a cell it cannot print as "?"; so does the page.
            chars = [c if c.isprintable() else "?" for c in chars]
            text = "".join(chars)
        keys = list(map(_STYLE, cells))
        if keys.count(_DEFAULT_STYLE) == len(keys):
            return orjson.dumps(text.rstrip(" "))
        groups = [(key, len(list(group))) for key, group in groupby(keys)]
        if groups[-1][0] == _DEFAULT_STYLE:  # trailing default blanks are not drawn
            tail = "".join(chars[len(chars) - groups[-1][1] :])
            blanks = len(tail) - len(tail.rstrip(" "))  # a blank is one cell of one character
            groups[-1] = (_DEFAULT_STYLE, groups[-1][1] - blanks)
            del chars[len(chars) - blanks :]
            if not groups[-1][1]:
                groups.pop()
        runs: list[int] = []
        if text.isascii():
            for key, count in groups:
                runs += (0 if key == _DEFAULT_STYLE else self._style(key), count)
            text = text[: sum(runs[1::2])]
        else:
            at, parts = 0, []
            for key, count in groups:
                part = "".join(chars[at : at + count])
                at += count
                parts.append(part)
                runs += (0 if key == _DEFAULT_STYLE else self._style(key), len(part.encode("utf-16-le")) // 2)
            text = "".join(parts)
        return orjson.dumps([text, runs])


def _scroll(old: list[bytes], new: list[bytes]) -> int:
    """How far the screen scrolled up between ``old`` and ``new`` (0: it did not, or telling
    so would not save anything)."""
    height = len(new)
    best, saved = 0, 0
    tried: set[int] = set()
    for y0 in range(height):
        if new[y0] == b'""':
            continue
        for k in range(y0 + 1, height):
            shift = k - y0
            if old[k] != new[y0] or shift in tried:
                continue
            tried.add(shift)
            same = sum(1 for y in range(height - shift) if new[y] == old[y + shift])
            if same > saved:
                best, saved = shift, same
            if len(tried) >= 4:
                break
        break  # the first row with text decides the candidates
    unmoved = sum(1 for a, b in zip(old, new, strict=True) if a == b)
    return best if saved > unmoved + 1 else 0


def render_frames(
    cast: Cast,
    offset_ns: int,
    limit_bytes: int | None = DEFAULT_LIMIT,
    progress: Progress | None = None,
) -> Frames:
    """Emulate ``cast`` from the start and keep a frame per moment its screen changed.

    Args:
        cast: the indexed recording.
        offset_ns: where the recording starts, relative to the trace's start.
        limit_bytes: stop after this much recording, or this much frame data (None: no limit).
        progress: called now and then with (events done, events in all).
    """
    return _Renderer(cast, offset_ns).run(limit_bytes, progress)


class _Renderer:
    """One pass over a recording, from a blank screen."""

    def __init__(self, cast: Cast, offset_ns: int) -> None:
        self.cast, self.offset = cast, offset_ns
        self.emulator = Emulator(cast.width, cast.height)
        screen = self.emulator.screen
        self.out = Frames(screen.columns, screen.lines)
        self.rows = _Rows(self.out)
        self.shown = [self.rows.encode(self.emulator, y) for y in range(screen.lines)]
        self.cursor = (0, 0)
        self.size = (screen.columns, screen.lines)
        self.out.frames.append(b"[null,0,0,0]")  # before the first event: a blank screen
        self.out.keyframes.append(b"[0,%d,%d,[]]" % self.size)
        self.out.events.append(0)
        self.since_key, self.last_key = 0, 0
        self.key_size = max(KEY_MIN_BYTES, len(b",".join(self.shown)) * KEY_RATIO)
        screen.dirty.clear()

    def run(self, limit_bytes: int | None, progress: Progress | None) -> Frames:
        cast, out, emulator = self.cast, self.out, self.emulator
        times, codes, total = cast.times_ns, cast.codes, len(cast)
        out.notes += [(t + self.offset, f"marker in the recording: {text}") for t, text in cast.markers]
        last_error: str | None = None
        next_progress = time.monotonic() + 1.0
        for i in range(total):
            if limit_bytes is not None and i and max(cast.cumulative[i], out.data_bytes) > limit_bytes:
                out.stopped_at_ns = times[i] + self.offset
                out.notes.append(
                    (
                        out.stopped_at_ns,
                        f"the page's terminal stops here (--terminal-limit {limit_bytes:,} bytes); "
                        f"{total - i:,} more screen event(s) are in terminal.cast "
                        "(cab-trace replay shows them)",
                    )
                )
                break
            if progress is not None and time.monotonic() >= next_progress:
                progress(i, total)
                next_progress = time.monotonic() + 1.0
            if codes[i] == OUTPUT:
                # The stream itself, not Emulator.feed: that one steps aside for the replay's UI
                # thread every few kilobytes (time.sleep(0)), which here, with no UI, only costs.
                # The stream parses incrementally, so the screen is the same however the text is
                # cut (the tests hold every moment to the replay's Terminal).
                emulator.stream.feed(cast.text(i))
            else:
                emulator.resize(*cast.resizes[i])
            emulator.events = i + 1
            if emulator.error is not None and emulator.error != last_error:
                last_error = emulator.error
                out.notes.append((times[i] + self.offset, f"emulator error (skipped): {last_error}"))
            if i + 1 < total and times[i + 1] == times[i]:
                continue  # one instant, one frame: the screen after its last event
            self._frame(times[i] + self.offset, i + 1)
        out.notes.sort(key=lambda note: note[0])
        return out

    def _frame(self, t: int, events: int) -> None:
        """A frame for the screen now, if it changed."""
        screen, out = self.emulator.screen, self.out
        cursor = (
            min(screen.cursor.x, screen.columns - 1),
            -1 if screen.cursor.hidden else min(screen.cursor.y, screen.lines - 1),
        )
        if (screen.columns, screen.lines) != self.size:
            self.size = (screen.columns, screen.lines)
            self.shown = [self.rows.encode(self.emulator, y) for y in range(screen.lines)]
            screen.dirty.clear()
            self._append(b"[%d,%d,%d,-1]" % (t, *cursor), events)  # -1: the screen is its keyframe
            self.cursor = cursor
            self._keyframe()
            return
        dirty = sorted(y for y in screen.dirty if 0 <= y < screen.lines)
        screen.dirty.clear()
        new = list(self.shown)
        for y in dirty:
            new[y] = self.rows.encode(self.emulator, y)
        changed = [y for y in dirty if new[y] != self.shown[y]]
        if not changed and cursor == self.cursor:
            return
        scrolled = _scroll(self.shown, new) if len(changed) > 2 else 0
        base = self.shown[scrolled:] + [b'""'] * scrolled if scrolled else self.shown
        parts = [b"%d,%d,%d,%d" % (t, *cursor, scrolled)]
        rows = range(screen.lines) if scrolled else changed
        parts += [b"%d,%s" % (y, new[y]) for y in rows if new[y] != base[y]]
        self.shown, self.cursor = new, cursor
        self._append(b"[" + b",".join(parts) + b"]", events)
        if len(parts) > screen.lines:
            # Every row is in the frame itself (a redraw, or a screenful of new output): a
            # keyframe that points at it costs a few bytes instead of a copy of the screen.
            self._keyframe(whole=False)
        elif self.since_key >= self.key_size or len(out.frames) - self.last_key >= KEY_MAX_FRAMES:
            self._keyframe()

    def _append(self, frame: bytes, events: int) -> None:
        self.out.frames.append(frame)
        self.out.events.append(events)
        self.out.data_bytes += len(frame)
        self.since_key += len(frame)

    def _keyframe(self, whole: bool = True) -> None:
        """Make the last frame a keyframe too: with a copy of the screen, or (``whole`` False)
        pointing at the frame, which lists every row itself."""
        at = len(self.out.frames) - 1
        rows = b"[" + b",".join(self.shown) + b"]" if whole else b"null"
        key = b"[%d,%d,%d,%s]" % (at, *self.size, rows)
        self.out.keyframes.append(key)
        self.out.data_bytes += len(key)
        self.since_key, self.last_key = 0, at
        if whole:
            self.key_size = max(KEY_MIN_BYTES, len(key) * KEY_RATIO)
