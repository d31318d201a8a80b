"""Known secrets: the pieces they are found by, and the forms encodings give them.

Pure: stdlib only. A known secret is found from its :data:`ANCHOR`-character pieces (every
piece of :data:`PIECE` or more characters holds one whole), across line breaks; its encoded
forms (reversed, hex, base64 at each alignment) are found the same way; its
:data:`FRAGMENT`-character pieces find it folded over prefixed lines.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence

from cab_trace.errors import UsageError

#: A known secret shorter than this cannot be replaced without destroying ordinary text
#: (a key "ab" would blank every "ab"); the harness warns about such values instead.
MIN_SECRET_LENGTH = 4
#: A piece of a known secret this long is as bad as all of it, and is replaced wherever it appears.
PIECE = 16
#: Pieces this long of a known secret are looked for where it may be folded over lines.
FRAGMENT = 4
#: Known secrets are found from these many-character pieces of them (see :func:`anchors`).
ANCHOR = 8
_LINE_BREAKS = "\r\n"

_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def occurrences(text: str, needle: str) -> list[int]:
    out: list[int] = []
    i = text.find(needle)
    while i != -1:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def encoded_forms(secret: str) -> list[tuple[str, str]]:
    """The forms of ``secret`` that encodings give it, each with the alphabet its run is made of:
    reversed; hex (both cases); base64 (standard and URL-safe) at each of the three alignments
    the secret can have in the encoded text, without the characters its neighbours share."""
    if len(secret) < ANCHOR:
        return []
    raw = secret.encode()
    forms: list[tuple[str, str]] = [(secret[::-1], "")]
    forms += [(raw.hex(), "hex"), (raw.hex().upper(), "hex")]
    for align in range(3):
        encoded = base64.b64encode(b"\0" * align + raw).decode().rstrip("=")
        cut = (0, 2, 3)[align]
        tail = (align + len(raw)) % 3
        body = encoded[cut : len(encoded) - (1 if tail else 0)]
        if len(body) >= ANCHOR:
            forms += [(body, "b64"), (body.replace("+", "-").replace("/", "_"), "b64")]
    return [(f, k) for f, k in forms if f != secret]


def encoded_run(text: str, start: int, end: int, kind: str) -> tuple[int, int]:
    """``text[start:end]`` widened to the whole run of its encoding's alphabet."""
    alphabet = _B64 if kind == "b64" else _HEXDIGITS
    while start > 0 and text[start - 1] in alphabet:
        start -= 1
    while end < len(text) and text[end] in alphabet:
        end += 1
    return start, end


_DISTINCT = re.compile(r"(?=.*[0-9])(?=.*[A-Za-z])|(?=.*[a-z])(?=.*[A-Z])")


def fragments(secrets: Sequence[str]) -> frozenset[str]:
    """The :data:`FRAGMENT`-character pieces of secrets of 12+ characters that ordinary text
    rarely holds (letters and digits, or both cases: not ``proj``, not ``2024``)."""
    out: set[str] = set()
    for secret in secrets:
        if len(secret) >= 12:
            for i in range(len(secret) - FRAGMENT + 1):
                piece = secret[i : i + FRAGMENT]
                if _DISTINCT.match(piece) and not any(c.isspace() for c in piece):
                    out.add(piece)
    return frozenset(out)


def anchors(secret: str) -> list[tuple[str, int]]:
    """Pieces of ``secret`` such that every piece of it of :data:`PIECE` or more characters
    contains one of them whole: the :data:`ANCHOR`-character pieces at every multiple of
    ANCHOR, and its last ANCHOR characters. A shorter secret is its own anchor."""
    if len(secret) <= ANCHOR:
        return [(secret, 0)]
    offsets = {*range(0, len(secret) - ANCHOR + 1, ANCHOR), len(secret) - ANCHOR}
    return [(secret[o : o + ANCHOR], o) for o in sorted(offsets)]


def extend(text: str, at: int, secret: str, offset: int, length: int) -> tuple[int, int] | None:
    """The stretch of ``text`` around ``text[at:at+length] == secret[offset:offset+length]``
    that spells a known secret or a piece of it (line breaks in between skipped), if long enough."""
    lo, k = at, offset  # text[lo:] matches secret[k:]
    j = at - 1
    while k > 0 and j >= 0:
        c = text[j]
        if c == secret[k - 1]:
            k -= 1
            lo = j
        elif c not in _LINE_BREAKS:
            break
        j -= 1
    hi, k_end = at + length, offset + length
    j = hi
    while k_end < len(secret) and j < len(text):
        c = text[j]
        if c == secret[k_end]:
            k_end += 1
            hi = j + 1
        elif c not in _LINE_BREAKS:
            break
        j += 1
    matched = k_end - k
    if matched == len(secret) or matched >= PIECE:
        return lo, hi
    return None


def named_secrets(names: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The values of the variables ``--secret-env`` names, each of which must be set.

    Raises:
        UsageError: a named variable is unset or empty (a secret that cannot be looked for).
    """
    values = []
    for name in names:
        value = environ.get(name)
        if not value:
            raise UsageError(f"--secret-env {name}: ${name} is not set")
        values.append(value)
    return values
