"""Flags, commands and adapters as people type them: one spelling for one meaning across
commands (the older spellings still work), and "did you mean" for a mistyped one."""

from __future__ import annotations

import argparse

import pytest

from cab_trace.cli import build_parser
from tests.conftest import run_cli


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_a_flag_means_one_thing_in_every_command() -> None:
    """The same (first) spelling in two commands takes the same kind of value."""
    seen: dict[str, tuple[str, str | None]] = {}
    for name, parser in commands().items():
        for action in parser._actions:
            longs = [o for o in action.option_strings if o.startswith("--")]
            if not longs or longs[0] == "--help":
                continue
            metavar = action.metavar if isinstance(action.metavar, str) else None
            if longs[0] in seen:
                other, other_metavar = seen[longs[0]]
                assert metavar == other_metavar, (
                    f"{longs[0]}: {metavar} in {name}, {other_metavar} in {other}"
                )
            else:
                seen[longs[0]] = (name, metavar)


@pytest.mark.parametrize(
    ("command", "new", "old"),
    [
        ("export", "--otlp-protocol", "--protocol"),
        ("export", "--otlp-header", "--header"),
        ("export", "--speed", "--pace"),
        ("scan", "--secret-env", "--known-secret-env"),
        ("redact", "--secret-env", "--known-secret-env"),
    ],
)
def test_the_older_spellings_still_work(command: str, new: str, old: str) -> None:
    parser = commands()[command]
    action = next(a for a in parser._actions if new in a.option_strings)
    assert old in action.option_strings


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["rnu"], "invalid choice: 'rnu'"),
        (
            ["run", "--modle", "m", "--task", "t", "--adapter", "pi"],
            "unrecognized argument --modle; did you mean --model?",
        ),
        (["run", "--task", "t", "--adapter", "piii"], "unknown adapter 'piii'; did you mean 'pi'?"),
        (["run", "--task", "t", "--adapter", "pi", "--runtime", "dokcer"], "did you mean 'docker'?"),
        (["show", "x", "--wdith", "80"], "did you mean --width?"),
        (["export", "x", "--format", "jager-json"], "did you mean 'jaeger-json'?"),
        (["replay", "x", "--idle-limt", "2"], "did you mean --idle-limit?"),
    ],
)
def test_a_mistyped_command_flag_or_adapter_gets_a_suggestion(args: list[str], said: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    if args == ["rnu"]:
        assert "did you mean 'run'?" in result.stderr


def test_a_flag_nothing_is_close_to_says_where_the_flags_are() -> None:
    result = run_cli("run", "--xyzzy")
    assert result.returncode == 2
    assert "unrecognized argument --xyzzy (`cab-trace run --help` lists them)" in result.stderr


def test_abbreviations_argparse_takes_are_not_mistakes(tmp_path) -> None:
    result = run_cli("show", str(tmp_path / "nope"), "--wid", "80")
    assert "unrecognized" not in result.stderr and "no such file" in result.stderr
