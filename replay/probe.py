"""Keypress-to-screen latency, measured inside the replay: from the moment a key event enters
the app (its own timestamp, taken when the driver parsed it from the terminal) to the end of
the next frame written and flushed to the terminal driver; and from a playback tick's start
to its frame. Pure (stdlib only): the app calls :meth:`key`, :meth:`tick` and :meth:`frame`.

Off unless ``CAB_TRACE_LATENCY_LOG`` names a file: then every measurement is appended to it
as a JSON line ``{"what": "right", "ms": 3.2}`` when the app exits (``make bench`` reads it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

ENV = "CAB_TRACE_LATENCY_LOG"


class LatencyProbe:
    """Pairs each key (or tick) with the first frame flushed after it.

    A key that draws nothing before the next key is dropped, not charged to a later frame.
    """

    def __init__(self, log: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self._clock = clock
        self._pending: tuple[str, float] | None = None
        self.samples: list[tuple[str, float]] = []

    @classmethod
    def from_env(cls) -> LatencyProbe | None:
        path = os.environ.get(ENV)
        return cls(Path(path)) if path else None

    def key(self, name: str, at: float) -> None:
        """A key event entered the app at ``at`` (the event's own monotonic timestamp)."""
        self._pending = (name, at)

    def tick(self) -> None:
        """A playback tick starts now."""
        if self._pending is None:
            self._pending = ("tick", self._clock())

    def frame(self) -> None:
        """A frame was just written and flushed to the terminal."""
        if self._pending is not None:
            name, at = self._pending
            self._pending = None
            self.samples.append((name, (self._clock() - at) * 1000))

    def save(self) -> None:
        if self.log is None or not self.samples:
            return
        with self.log.open("a", encoding="utf-8") as out:
            for name, ms in self.samples:
                out.write(json.dumps({"what": name, "ms": round(ms, 3)}) + "\n")
        self.samples.clear()
