"""The header: which run (identity) on one line, how it ended (outcome) on the next.

Each line is made of separate facts (:mod:`replay.outcome`); when the window is narrow the
least important facts go first, so at 80 columns the check, the exit code, the model calls
and the tokens stay in view and nothing wraps.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from cab_trace.outcome import Fact, fit

TONES = {"good": "bold green", "bad": "bold red", "warn": "bold #ffaf00", "plain": "", "dim": "dim"}


def fact_line(facts: Sequence[Fact], width: int) -> Text:
    """One line of facts that fits ``width`` (labels dim, values in their tone)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, fact in enumerate(fit(facts, width)):
        if i:
            text.append("  ")
        if fact.label:
            text.append(fact.label + " ", style="dim")
        text.append(fact.value, style=TONES[fact.tone])
    text.truncate(width, overflow="ellipsis")
    return text


class RunHeader(Widget):
    """Two lines: identity, then outcome. Update with :meth:`show`."""

    DEFAULT_CSS = """
    RunHeader { height: 2; padding: 0 1; background: $panel; }
    """

    def __init__(self, identity: Sequence[Fact], outcome: Sequence[Fact], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.identity = list(identity)
        self.outcome = list(outcome)

    def show(self, outcome: Sequence[Fact]) -> None:
        if list(outcome) != self.outcome:
            self.outcome = list(outcome)
            self.refresh()

    def render(self) -> Text:
        width = max(self.content_size.width, 10)
        text = fact_line(self.identity, width)
        text.append("\n")
        text.append_text(fact_line(self.outcome, width))
        return text
