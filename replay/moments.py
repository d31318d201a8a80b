"""Terminal moments for the transcript: what the agent printed between two moments of the run.

Pure (no Textual). An agent that prints lines (a ``--print`` mode, a script) is read from its
output: the last lines it printed in the stretch, escape sequences taken out. An agent that
draws a full screen (cursor moves, the alternate screen) has no lines to read that way; the
moment then says so, and the terminal pane shows its screen.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from replay.cast_escapes import TOUCHES_LAYOUT
from replay.cast_index import Cast

#: Escape sequences: CSI (colours, erases, cursor moves), OSC (titles, links), and two-byte ones.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
#: How much output of one stretch is read, from its end.
READ_BYTES = 16 * 1024
MAX_LINES = 8
REDRAWN = "(the agent redrew its screen: the terminal pane shows it)"


@dataclass(frozen=True)
class Moment:
    at_ns: int
    """Absolute time of the stretch's last output."""
    lines: tuple[str, ...]


def plain_lines(text: str) -> list[str]:
    """Printed text as the lines a reader saw: escapes out, each carriage return starting the
    line over (a progress bar keeps its last state), blank lines dropped."""
    text = _ESCAPES.sub("", text)
    out = []
    for raw in text.split("\n"):
        line = _CONTROL.sub("", raw.rstrip("\r").rsplit("\r", 1)[-1]).rstrip()
        if line.strip():
            out.append(line)
    return out


def printed_between(cast: Cast, first: int, end: int, max_lines: int = MAX_LINES) -> tuple[str, ...]:
    """The last lines printed by output events ``first`` … ``end - 1``."""
    pieces: list[str] = []
    size = 0
    i = end - 1
    while i >= first and size < READ_BYTES:
        if cast.flags[i] & TOUCHES_LAYOUT:
            return (REDRAWN,)
        text = cast.text_tail(i, READ_BYTES - size)
        pieces.append(text)
        size += len(text)
        i -= 1
    if any(first <= c < end for c in _clears_near(cast, first, end)):
        return (REDRAWN,)
    lines = plain_lines("".join(reversed(pieces)))
    return tuple(lines[-max_lines:])


def _clears_near(cast: Cast, first: int, end: int) -> list[int]:
    at = bisect.bisect_left(cast.clears, first)
    return list(cast.clears[at : at + 1])


def moments(cast: Cast, origin_ns: int, times_ns: Sequence[int]) -> list[Moment]:
    """One moment per stretch between consecutive ``times_ns`` (absolute, sorted) in which the
    agent printed something, and one after the last time."""
    out = []
    bounds = [*times_ns, origin_ns + (cast.times_ns[-1] + 1 if len(cast.times_ns) else 0)]
    start = 0
    for t in bounds:
        end = cast.events_before(t - origin_ns - 1)
        if end > start:
            lines = printed_between(cast, start, end)
            if lines:
                out.append(Moment(origin_ns + cast.times_ns[end - 1], lines))
        start = max(start, end)
    return out
