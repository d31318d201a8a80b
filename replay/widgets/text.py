"""Text from a trace is data, never markup: every string shown goes through :func:`data`."""

from __future__ import annotations

from rich.text import Text

from cab_trace.show import safe_text


def data(value: str, style: str = "", one_line: bool = True) -> Text:
    """``value`` as literal text: Rich markup is not interpreted (``Text`` never parses it) and
    control characters and escape sequences are shown escaped (``\\x1b``), so nothing in a
    trace can restyle or take over the user's terminal."""
    return Text(safe_text(value, one_line=one_line), style=style)
