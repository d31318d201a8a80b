"""``cab-trace export --format html``: a run as one self-contained HTML page (the cell page), and a
sweep as a directory of them with an index.

A page is a pure function of the run directory: the recorded, already redacted files in
(:func:`build_page`), one HTML document out (:func:`render_page`), with its style sheet, its
player script and its data inside it; it opens from disk in any current browser, with no network
and no server. The terminal is rendered here, by the replay's emulator, into screens the page's
small player only shows. Before a page is written, the leak check reads it
(:func:`check_document`); a page with a known secret in it is not written (``site.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from cab_trace.export.html.data import CellPage, PageOptions, build_page
from cab_trace.export.html.leaks import PageLeak, find_leaks
from cab_trace.export.html.render import Document, render_page

__all__ = [
    "CellPage",
    "Document",
    "PageLeak",
    "PageOptions",
    "build_page",
    "check_document",
    "render_page",
]


def check_document(document: Document, name: str, known_secrets: Sequence[str]) -> list[PageLeak]:
    """Where a known secret shows in a page (its text, and its compressed blocks decompressed)."""
    parts = [(name, document.text)]
    parts += [
        (f"{name} ({block} block)", data.decode("utf-8", "replace")) for block, data in document.payloads
    ]
    return find_leaks(parts, known_secrets)
