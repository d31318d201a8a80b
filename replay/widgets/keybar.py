"""The footer: the keys people need first, as many as fit, and always ``? Help`` and ``q Quit``.

Textual's Footer lists every shown binding in order and cuts the line at the window's edge, so
at 80 columns help and quit were the ones cut. This bar fits its keys to the width, dropping
from the end of the list, and keeps the last ones (help, quit) at the right edge. A click on a
key runs its action, as the Footer's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.widget import Widget


@dataclass(frozen=True)
class Key:
    key: str
    """As shown: ``space``, ``←→``, ``m``."""
    description: str
    action: str
    """The screen's action a click runs, e.g. ``toggle_play``."""

    @property
    def width(self) -> int:
        return len(self.key) + 1 + len(self.description)


class KeyBar(Widget):
    """``keys`` in order of importance; ``always`` (help, quit) at the right edge."""

    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; }
    """
    GAP = 2

    def __init__(self, keys: Sequence[Key], always: Sequence[Key], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.keys = list(keys)
        self.always = list(always)
        self._spans: list[tuple[int, int, str]] = []

    def layout_keys(self, width: int) -> tuple[list[Key], list[Key]]:
        """The keys shown on the left and on the right at ``width``."""
        right = self.always
        room = width - 1 - sum(k.width + self.GAP for k in right)
        left: list[Key] = []
        for key in self.keys:
            if room - (key.width + self.GAP) < 0:
                break
            left.append(key)
            room -= key.width + self.GAP
        return left, right

    def render(self) -> Text:
        width = self.size.width
        left, right = self.layout_keys(width)
        text = Text(no_wrap=True, overflow="crop")
        spans: list[tuple[int, int, str]] = []

        def put(key: Key) -> None:
            start = len(text)
            text.append(f" {key.key}", style="bold #ffd700")
            text.append(f" {key.description} ")
            spans.append((start, len(text), key.action))

        for key in left:
            put(key)
        right_width = sum(k.width + self.GAP for k in right)
        text.append(" " * max(0, width - len(text) - right_width))
        for key in right:
            put(key)
        self._spans = spans
        return text

    async def on_click(self, event: events.Click) -> None:
        for start, end, action in self._spans:
            if start <= event.x < end:
                event.stop()
                await self.app.run_action(action, self.screen)
                return
