"""Fast paths held to the exact ways they stand in for. A redactor of known secrets alone (the
leak check's) leaves out a view (the escape view, a decoder's) when it could hold none of the
secrets' anchors (``Redactor._view_adds_nothing``): held to the views always built, on
generated text made of the pieces that could make them differ (the secret and its pieces,
every kind of escape, percent-encoding, HTML reference and fullwidth form of their characters,
``\\\\`` pairs, lone and paired carriage returns, controls, invisible characters, line
breaks, ordinary words) and on generated casts. One ``bytes.translate`` (``screen.unusual``)
tells what ``has_controls`` and ``has_special`` tell, and two RE2 sets select the rules one
set selects."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.agent_output import corpus, with_secrets
from cab_trace.redact import Redactor, screen
from cab_trace.redact.prefilter import Selector
from cab_trace.redact.rules import NAMED_TRIGGERS
from cab_trace.redact.scan import leak_check

SECRET = "opaque-Key/With+No_Shape-0451"
#: A short one (12 characters: found whole only), drawn in two halves with no anchor in either.
SHORT = "Zq81xWlPA0cR"


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _forms(segment: str) -> list[str]:
    """A piece of a secret as text can carry it: as it is, encoded every way a view decodes, and
    followed by an escaped or a real line break (a secret split over lines)."""
    forms = [segment, _escaped(segment), "".join(f"\\x{ord(c):02x}" for c in segment)]
    forms += [
        "".join(f"\\{ord(c):03o}" for c in segment),
        segment + "\\n",
        segment + "\\r\\n",
        segment + "\n",
    ]
    forms += [segment.replace("/", "\\/"), "\\\\" + segment]
    # percent-encoded (whole, special characters only), HTML references, fullwidth
    forms += ["".join(f"%{ord(c):02X}" for c in segment), segment.replace("/", "%2F").replace("+", "%2b")]
    forms += ["".join(f"&#{ord(c)};" for c in segment), "".join(f"&#x{ord(c):x}" for c in segment)]
    forms += ["".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in segment)]
    return forms


#: The secret in five pieces (cut inside its anchors and at its "/"), each in any of its forms.
_CUTS = [0, 3, 10, 11, 20, len(SECRET)]
_SPELLED = st.tuples(*(st.sampled_from(_forms(SECRET[a:b])) for a, b in itertools.pairwise(_CUTS))).map(
    "".join
)
_DRAWN = st.sampled_from(
    [
        "      lPA0cR\\rZq81xW",
        "      lPA0cR\rZq81xW",
        "Zq81xW\\u200blPA0cR",
        "Zq81xW\u200blPA0cR",
        "Zq81xW\U000e0041lPA0cR",
        "Zq81xW\\blPA0cR",
    ]
)
_PIECES = [
    SECRET[:10],
    SECRET[::-1],
    SECRET.encode().hex(),
    "\\/",
    "\\\\",
    '\\"',
    "\\n",
    "\\r\\n",
    "\\r",
    "\\t",
    "\\u001b[31m",
    "\\u00e9",
    "\x1b[0m",
    "\r",
    "\r\n",
    "\n",
    "\u200b",
    "é",
    "%6f",
    "%20",
    "&amp;",
    "&#32;",
    "\uff21",
    "\u2460",
    " ",
    "word",
    "0451",
]
_TEXT = st.lists(st.one_of(_SPELLED, _DRAWN, st.sampled_from(_PIECES)), max_size=10).map("".join)


def _reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Redactor, "_view_adds_nothing", lambda self, *args: False)


@given(_TEXT)
@settings(max_examples=1000, deadline=None)
def test_the_escape_view_is_left_out_only_where_it_finds_nothing(text: str) -> None:
    redactor = Redactor([SECRET, SHORT], rules=(), named_values=False)
    fast = redactor.findings(text)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _reference(monkeypatch)
        assert redactor.findings(text) == fast


def test_the_fast_path_is_taken_on_ordinary_escaped_output() -> None:
    # Not a test that cannot fail: the fast path must really be taken where it is meant to be.
    redactor = Redactor([SECRET], rules=(), named_values=False)
    text = json.dumps(corpus(200_000, seed=5))
    data = text.encode()
    hits = redactor._prefilter.spans(text, data)
    assert redactor._view_adds_nothing("escape", text, data, hits, screen.unusual(data))
    more = text + _escaped(SECRET[:4])
    assert not redactor._view_adds_nothing("escape", more, more.encode(), hits, screen.unusual(more.encode()))
    percent = text + "%41"
    assert redactor._view_adds_nothing("percent", text, data, hits, screen.unusual(data))
    assert not redactor._view_adds_nothing("percent", percent, percent.encode(), hits, screen.unusual(data))


def _cast(path: Path, outputs: list[str]) -> None:
    events = [{"version": 2, "width": 80, "height": 24}, *([0.1 * i, "o", o] for i, o in enumerate(outputs))]
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")


@pytest.mark.parametrize("seed", range(6))
def test_the_leak_check_finds_the_same_in_generated_casts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    text = corpus(300_000, seed=seed)
    lines = text.split("\n")
    # The secret whole, split over events, escaped in tool traffic, behind a colour code, none.
    hidden = [
        f"key {SECRET} here",
        f"{SECRET[:12]}",
        json.dumps({"k": SECRET}).replace("o", "\\u006f"),
        "\x1b[31m".join(SECRET[:12]) + SECRET[12:],
        "nothing",
        json.dumps({"k": SECRET[:15]}),
    ]
    outputs = ["\r\n".join(lines[i : i + 40]) for i in range(0, len(lines), 40)]
    outputs.insert(len(outputs) // 2, hidden[seed])
    if seed == 1:
        outputs.insert(len(outputs) // 2 + 1, SECRET[12:])
    _cast(tmp_path / "terminal.cast", outputs)
    (tmp_path / "tool.json").write_text(json.dumps({"out": "\n".join(outputs[:20])}))
    fast = [str(h) for h in leak_check(tmp_path, [SECRET])]
    _reference(monkeypatch)
    assert [str(h) for h in leak_check(tmp_path, [SECRET])] == fast
    assert bool(fast) == (seed not in (4, 5))


_BYTES_ALPHABET = st.sampled_from(
    [
        "a",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\x00",
        "\x08",
        "\x1b[0m",
        "\x7f",
        "\x85",
        "é",
        "│",
        "\u200b",
        "\u202e",
    ]
)


@given(st.lists(_BYTES_ALPHABET, max_size=12).map("".join))
@settings(max_examples=1000, deadline=None)
def test_one_translate_tells_what_the_screen_checks_tell(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    found = screen.unusual(data)
    assert found.controls == screen.has_controls(data)
    assert screen.special_in(found) == screen.has_special(text)
    assert found.others == {c for c in text if not c.isascii()}


def test_two_sets_select_what_one_selects() -> None:
    redactor = Redactor([SECRET])
    triggers = [rule.trigger for rule in redactor._rules] + ["|".join(f"(?:{t})" for t in NAMED_TRIGGERS)]
    one, two = Selector(triggers), Selector(triggers, split=len(redactor._rules))
    assert one.ready and two.ready
    text = with_secrets(corpus(400_000, seed=9), 2_000)[0]
    lines = text.split("\n")
    windows = ["\n".join(lines[i : i + 3]) for i in range(0, len(lines), 3)]
    selected = 0
    for window in windows:
        data = window.encode()
        assert sorted(two(data)) == sorted(one(data))
        selected += bool(one(data))
    assert selected > 100
