"""MkDocs hooks for the documentation site (mkdocs.yml names this file).

``<!-- cli-help COMMAND -->`` in a page becomes the ``--help`` of ``cab-trace COMMAND``, as
the installed cab-trace prints it: the command pages list every flag from the parser
itself, so no flag can be documented wrong or left out (and ``make docs`` runs strict).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
from typing import Any

_MARKER = re.compile(r"<!--\s*cli-help\s+([a-z-]+)\s*-->")
WIDTH = "96"


def _help(command: str) -> str:
    from cab_trace.cli import build_parser

    parser = build_parser()
    if command == "cab-trace":
        target = parser
    else:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if command not in sub.choices:
            raise ValueError(f"cli-help: no command {command!r}")
        target = sub.choices[command]
    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal's width: make it the page's
    try:
        with contextlib.redirect_stdout(out):
            target.print_help()
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return out.getvalue().rstrip()


def on_page_markdown(markdown: str, **_: Any) -> str:
    return _MARKER.sub(lambda m: "```text\n" + _help(m.group(1)) + "\n```", markdown)
