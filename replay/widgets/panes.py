"""The containers of the trace screen's lower half: the span detail's (or transcript's) pane and
the terminal's box. Both take the focus and can be maximized (z).

Separate from :mod:`replay.screens.trace` so the screen module holds the screen: its layout,
bindings and drawing.
"""

from __future__ import annotations

from textual.containers import ScrollableContainer, VerticalScroll

from replay.widgets.terminal_pane import TerminalPane


class Pane(VerticalScroll):
    """A pane of the lower half: scrolls, takes the focus (tab), and z maximizes it."""

    ALLOW_MAXIMIZE = True


class TerminalBox(ScrollableContainer):
    """The terminal pane's box: scrolls both ways over a screen larger than it."""

    ALLOW_MAXIMIZE = True

    def on_resize(self) -> None:
        # Grown to what the agent drew, or maximized: the cursor's row is to stay in view.
        for pane in self.query(TerminalPane):
            pane.call_after_refresh(pane.follow_cursor)
