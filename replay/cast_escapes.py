"""What the index of an asciicast notes about an output event, read from the event's JSON text
without emulating it: whether it clears the whole screen, whether it touches the terminal's
layout state (modes, scrolling region, character sets, tab stops, saved cursors) and whether the
colours are the defaults after it (:class:`LayoutTracker`), as bits of ``Cast.flags``.

Separate from :mod:`replay.cast`, which reads the file and builds the index, and from
:mod:`replay.cast_index`, which holds it: this is the escape-sequence knowledge alone, plain
regular expressions over bytes (stdlib only).
"""

from __future__ import annotations

import re

# What the index notes about an output event, found in its JSON text (escape is \u001b there).
_ESC = rb"\\u001[bB]"
_SGR = re.compile(_ESC + rb"\[[0-9;:]*+m")
_CLEAR = re.compile(
    _ESC + rb"\[(?:1?;?1?)?H(?:" + _ESC + rb"\[[0-9;]*m)*" + _ESC + rb"\[[023]?J"
    rb"|" + _ESC + rb"\[2J(?:" + _ESC + rb"\[3J)?" + _ESC + rb"\[(?:1?;?1?)?H"
    rb"|" + _ESC + rb"c"
)
"""A whole-screen clear with the cursor sent home (or a full reset): the screen after it does not
depend on what was drawn before."""
_LAYOUT = re.compile(
    _ESC + rb"\[(\??)([0-9;]*+)([hlr])"  # modes, scrolling region
    rb"|" + _ESC + rb"([()])(.)"  # character set designation
    rb"|" + _ESC + rb"([78cH])"  # save / restore cursor, reset, tab stop
    rb"|" + _ESC + rb"\[[0-9]*+(g)"  # tab stops cleared
    rb"|\\u000([eEfF])"  # shift out / in
    rb"|\\u009([bBdD])"  # 8-bit CSI, OSC: anything may follow
)
_NOT_SGR = re.compile(rb"\\u00(?!1[bB]\[[0-9;:]*+m)")
_PARTIAL = re.compile(rb"(\\u001[bB](?:\[[0-9;?]*|[()])?)(?:\"\s*\]\s*)?$")
"""An escape sequence cut off at the end of an event's text (the next event finishes it)."""
_LAYOUT_MODES = {"?3", "?6", "?7", "4", "20"}
"""Column mode, origin mode, autowrap, insert, newline: modes that change where text lands."""
_DEFAULT_MODES = frozenset({"?7"})
_RESET_SGR = {b"\\u001b[m", b"\\u001b[0m", b"\\u001B[m", b"\\u001B[0m"}

# Bits of Cast.flags, per event.
LAYOUT_DEFAULT_AFTER = 1
"""After this event, modes, scrolling region, character sets, tab stops and the saved-cursor
stack are as a fresh terminal has them (so emulating from a blank screen there is faithful)."""
TOUCHES_LAYOUT = 2
SGR_DEFAULT_AFTER = 4
"""After this event, colours and attributes are the defaults."""
HAS_SGR = 8


class LayoutTracker:
    """Follows, without emulating, the terminal state that outlives the screen's content: the
    modes that move text, the scrolling region, character sets and shifts, tab stops, pyte's
    saved-cursor stack (which keeps some of these), and the current colours. It reads the
    JSON text of each output event, in order, as the index is built."""

    def __init__(self) -> None:
        self.modes: set[str] = set(_DEFAULT_MODES)
        self.region = False
        self.charsets = ("B", "0")
        self.shifted = False
        self.tabs_default = True
        self.saved: list[tuple[frozenset[str], tuple[str, str], bool]] = []
        self.unknown = False  # an 8-bit control: we no longer know
        self.sgr_default = True
        self.pending = b""
        self.restored_at = -1
        self.shift = 0

    @property
    def default(self) -> bool:
        return (
            not self.unknown
            and self.modes == _DEFAULT_MODES
            and not self.region
            and self.charsets == ("B", "0")
            and not self.shifted
            and self.tabs_default
            and not self.saved
        )

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def feed(self, line: bytes) -> int:  # noqa: PLR0912 (one branch per kind of sequence)
        """Follow one event (the JSON text of its output, from just inside the opening quote);
        returns its flags."""
        flags = 0
        self.restored_at = -1
        self.shift = len(self.pending)  # feed_sgr sees the event without it
        if self.pending:  # an escape the previous event began: read it whole
            line, self.pending = self.pending + line, b""
        if b"\\u00" not in line:
            return self._flags(flags)
        partial = _PARTIAL.search(line, max(0, len(line) - 48))
        if partial:
            self.pending = partial.group(1)
        if not _NOT_SGR.search(line):  # colours only, as in most output: nothing to follow here
            return self._flags(flags)
        for match in _LAYOUT.finditer(line):
            flags |= TOUCHES_LAYOUT
            private, params, final, which, charset, esc, tbc, shift, c1 = match.groups()
            if final == b"r":
                self.region = bool(params.strip(b";"))
            elif final:
                prefix = private.decode()
                for number in params.decode().split(";"):
                    mode = prefix + number
                    if mode in _LAYOUT_MODES:
                        (self.modes.add if final == b"h" else self.modes.discard)(mode)
            elif which:
                pair = (
                    (charset.decode(), self.charsets[1])
                    if which == b"("
                    else (self.charsets[0], charset.decode())
                )
                self.charsets = pair
            elif esc == b"7":
                self.saved.append((frozenset(self.modes & {"?6", "?7"}), self.charsets, self.shifted))
            elif esc == b"8":
                if self.saved:
                    kept, self.charsets, self.shifted = self.saved.pop()
                    self.modes = (self.modes - {"?6", "?7"}) | kept
                else:
                    self.modes.discard("?6")
                self.restored_at = match.end()  # the attributes come back too
            elif esc == b"c":
                self.reset()
            elif esc == b"H" or tbc:
                self.tabs_default = False
            elif shift:
                self.shifted = shift in b"eE"
            elif c1:
                self.unknown = True
        return self._flags(flags)

    def _flags(self, flags: int) -> int:
        return flags | (LAYOUT_DEFAULT_AFTER if self.default else 0)

    def feed_sgr(self, line: bytes) -> int:
        """Follow the colours of one event; returns its flags."""
        # Only the last SGR counts: look for it from the end (a log line has hundreds).
        at, last = len(line), None
        upper = b"\\u001B[" in line
        while last is None:
            at = line.rfind(b"\\u001b[", 0, at)
            if upper:
                at = max(at, line.rfind(b"\\u001B[", 0, at))
            if at < 0:
                break
            last = _SGR.match(line, at)
        if last is None:
            if self.restored_at >= 0:
                self.sgr_default = False  # a restored cursor brought its attributes back
            return SGR_DEFAULT_AFTER if self.sgr_default else 0
        self.sgr_default = last.group(0) in _RESET_SGR and last.start() + self.shift >= self.restored_at
        return HAS_SGR | (SGR_DEFAULT_AFTER if self.sgr_default else 0)
