"""Flag types: what each accepts and what it turns away (argparse makes the latter exit 2)."""

from __future__ import annotations

import pytest

from cab_trace.cli_types import byte_size, memory_limit, positive, positive_int, seconds


@pytest.mark.parametrize(
    ("text", "value"),
    [("500", 500), ("2g", 2 * 1024**3), ("2G", 2 * 1024**3), ("1.5m", int(1.5 * 1024**2)), ("64kb", 65536)],
)
def test_sizes_as_docker_writes_them(text: str, value: int) -> None:
    assert byte_size(text) == value


@pytest.mark.parametrize("text", ["lots", "", "-1", "0", "2x", "1e3", "nan", "2 gigs"])
def test_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError):
        byte_size(text)


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "-inf", "soon"])
def test_what_is_not_a_timeout(text: str) -> None:
    with pytest.raises(ValueError):
        seconds(text)


def test_the_accepted_numbers() -> None:
    assert seconds("0") == 0 and seconds("1.5") == 1.5
    assert positive("0.5") == 0.5 and positive_int("3") == 3
    assert memory_limit("512m") == "512m"
    for fn, text in ((positive, "0"), (positive, "inf"), (positive_int, "0"), (memory_limit, "5m")):
        with pytest.raises(ValueError):
            fn(text)
