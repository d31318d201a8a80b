"""A secret drawn with any mix of control sequences and invisible characters around and inside
it is never readable on the rendered screen (pyte, the emulator the replay uses) after
redaction, whether the text is redacted whole or as a stream cut anywhere."""

from __future__ import annotations

import re

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.redact import Redactor
from cab_trace.redact.screen import screen, stripped, unescaped

KEY = "sk-proj-Zq81xWlPA0cR5nTu2Ye7bench0451xy"
SHORT = "hunter2!pw"  # a known secret under 16 characters: only whole
PIECES = [KEY[i : i + 16] for i in range(len(KEY) - 15)]
INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")

#: Junk that changes nothing a reader sees between two characters of the key.
JUNK = [
    "\x1b[31m", "\x1b[0m", "\x1b[1;38;5;208m", "\x1b[48;2;10;20;30m", "\x1b]0;a title\x07",
    "\x1b]8;;https://example.com\x1b\\", "\u200b", "\u200d", "\ufeff", "\u2060", "\u00ad", "\x00",
    "Z\x08", "QQ\x08\x08", "\x1b[5C\x1b[5D", "\x1b7\x1b[9;1HELSEWHERE\x1b8", "\x1b[?25l", "\x1b[?25h",
    "\x1b(B", "\x1b=", "\x1b[m",
]  # fmt: skip


def render(text: str) -> list[str]:
    scr = pyte.Screen(160, 12)
    # A terminal gives zero-width characters no cell; pyte (0.8) stops drawing the rest of the
    # line at one, so they are taken out before it renders (the redactor still gets them).
    pyte.Stream(scr).feed(INVISIBLE.sub("", text))
    return [INVISIBLE.sub("", line).rstrip() for line in scr.display]


def shown(text: str, secret: str) -> bool:
    lines = render(text)
    if len(secret) < 16:
        return any(secret in line for line in lines)
    return any(
        piece in line for line in lines for piece in [secret[i : i + 16] for i in range(len(secret) - 15)]
    )


@st.composite
def drawings(draw: st.DrawFn, secret: str = KEY) -> str:
    """The secret drawn on one row: in fragments with junk between, in order or out of order
    (each fragment placed by absolute column), with junk before and after."""
    cuts = sorted(draw(st.sets(st.integers(1, len(secret) - 1), max_size=8)))
    bounds = list(zip([0, *cuts], [*cuts, len(secret)], strict=True))
    junk = st.lists(st.sampled_from(JUNK), max_size=3).map("".join)
    if draw(st.booleans()):
        # Out of order: junk that draws and backs up would overwrite a fragment already drawn.
        junk = st.lists(st.sampled_from([j for j in JUNK if "\x08" not in j]), max_size=3).map("".join)
        order = draw(st.permutations(range(len(bounds))))
        body = "".join(f"\x1b[{bounds[i][0] + 5}G" + draw(junk) + secret[slice(*bounds[i])] for i in order)
        body = "    " + body
    else:
        body = "".join(secret[a:b] + draw(junk) for a, b in bounds)
    return "key: " + draw(junk) + body + draw(junk) + "\r\n" + draw(junk)


@given(drawings())
@settings(max_examples=400, deadline=None)
def test_a_key_drawn_any_way_is_shown_before_and_never_after_redaction(text: str) -> None:
    assert shown(text, KEY)  # the drawing really shows the key: the test is not vacuous
    r = Redactor([KEY])
    out = r.text(text)
    assert not shown(out, KEY)
    assert KEY not in INVISIBLE.sub("", out)


@given(drawings(), st.lists(st.integers(0, 400), max_size=6))
@settings(max_examples=300, deadline=None)
def test_streamed_in_any_chunks_the_key_is_never_shown(text: str, cuts: list[int]) -> None:
    data = text.encode()
    points = sorted({min(c, len(data)) for c in cuts})
    stream = Redactor([KEY]).stream()
    out = "".join(stream.feed(data[a:b]) for a, b in zip([0, *points], [*points, len(data)], strict=True))
    out += stream.finish()
    assert not shown(out, KEY)


@given(drawings(SHORT))
@settings(max_examples=200, deadline=None)
def test_a_short_known_secret_drawn_any_way_is_never_shown(text: str) -> None:
    assert shown(text, SHORT)
    assert not shown(Redactor([SHORT]).text(text), SHORT)


@given(drawings("ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2))
@settings(max_examples=200, deadline=None)
def test_a_shaped_token_drawn_any_way_is_never_shown(text: str) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
    out = Redactor().text(text)
    assert not shown(out, token)


def test_views_map_back_to_the_original() -> None:
    text = "a\x1b[31mb\u200bc\rX"
    s = stripped(text)
    assert s.text == "abcX"
    assert s.origin(0, 3) == (0, 9)  # the colour code and the zero-width space inside are covered
    v = screen("     6789\rsk-12\n")
    assert v.text.startswith("sk-126789")
    u = unescaped('{"k": "\\u0073k-x\\"y"}')
    assert u.text == '{"k": "sk-x"y"}'
    assert u.origin(7, 8) == (7, 13)  # "s" came from \\u0073


def test_a_key_inside_an_unterminated_osc_is_still_redacted_in_the_bytes() -> None:
    r = Redactor([KEY])
    assert KEY not in r.text(f"\x1b]0;{KEY}")
