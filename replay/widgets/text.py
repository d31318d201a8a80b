"""Text from a trace is data, never markup: every string shown goes through :func:`data` (the
reader's warnings too, :func:`warnings_text`)."""

from __future__ import annotations

from rich.text import Text

from cab_trace.show import safe_text


def data(value: str, style: str = "", one_line: bool = True) -> Text:
    """``value`` as literal text: Rich markup is not interpreted (``Text`` never parses it) and
    control characters and escape sequences are shown escaped (``\\x1b``), so nothing in a
    trace can restyle or take over the user's terminal."""
    return Text(safe_text(value, one_line=one_line), style=style)


def warnings_text(warnings: list[str]) -> Text:
    """What the reader warned about (duplicate ids, cycles, a cut last line), one line each."""
    text = Text()
    for i, message in enumerate(warnings[:3]):
        text.append("\n" if i else "")
        text.append("⚠ ", style="bold #ffd700")
        text.append_text(data(message))
    if len(warnings) > 3:
        text.append(f"\n⚠ … and {len(warnings) - 3} more", style="bold #ffd700")
    return text
