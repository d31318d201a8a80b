"""Strategies for hostile input: strings that hold what has broken parsers and terminals before
(NUL, escapes, bidi overrides, lone surrogates, huge and deep values), TOML and JSON built from
them, and byte-level mutations of well-formed files."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Per target: a few examples in the normal suite (derandomized in CI), thousands with CAB_FUZZ=long.
FUZZ = settings(
    max_examples=3000 if os.environ.get("CAB_FUZZ") == "long" else 30,
    derandomize=bool(os.environ.get("CI")) and os.environ.get("CAB_FUZZ") != "long",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

NASTY = [
    "\x00",
    "\x1b]0;t\x07",
    "\x1b[2J",
    "\u202e",
    "\r",
    "\n",
    "../",
    "/",
    ".",
    "..",
    "{prompt}",
    "{key}",
    "{plugin_args}",
    "{nope}",
    "A=B",
    "=",
    "%s",
    "\\u0000",
    "0" * 16,
    "ff" * 16,
    "é",
    "𝕏",
    " ",
    "",
]

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=5), max_size=6).map("".join),
)
keys = st.one_of(st.sampled_from(["id", "prompt", "check", "category", "name", "command", "env"]), texts)


def toml_string(value: str) -> str:
    # JSON's escapes are TOML's for controls (\uXXXX); other characters are written as they are (a
    # lone surrogate, or DEL, which TOML wants escaped, makes a parse error: also a fine input).
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return '""'


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in doc.items())


scalars = st.one_of(texts, st.integers(), st.booleans(), st.floats(allow_nan=False))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a few bytes flipped, cut, or spliced: close to valid, which is where parsers break."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        out = bytearray(data)
        for _ in range(draw(st.integers(0, 4))):
            if not out:
                break
            at = draw(st.integers(0, len(out) - 1))
            action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
            if action == "flip":
                out[at] = draw(st.integers(0, 255))
            elif action == "cut":
                del out[at : at + draw(st.integers(1, 20))]
            elif action == "insert":
                out[at:at] = draw(
                    st.sampled_from([b"\x00", b"\n", b'"', b"{", b"]", b",", b"\\", b"\xff", b"1e999"])
                )
            else:
                del out[at:]
        return bytes(out)

    return build()
