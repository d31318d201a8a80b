"""What every command shares: output to the user, and the flags that mean the same in every command.

A flag that means the same thing is spelled the same in every command: add it here, once.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from cab_trace.cli_types import byte_size, directory, memory_limit, positive, positive_int
from cab_trace.errors import UsageError
from cab_trace.textsafe import safe_text

if TYPE_CHECKING:
    from cab_trace.otel.setup import OtlpSettings

PROG = "cab-trace"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'run'?`` for a word close to one of ``choices``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<word>[^']*)' \(choose from (?P<choices>.*)\)")


class Parser(argparse.ArgumentParser):
    """argparse, and a suggestion when a command or a choice is mistyped."""

    def error(self, message: str) -> NoReturn:
        found = _INVALID_CHOICE.search(message)
        if found:
            choices = re.findall(r"'([^']*)'", found["choices"])
            message += did_you_mean(found["word"], choices)
        super().error(message)


def check_flags(parser: argparse.ArgumentParser, args: Sequence[str]) -> None:
    """A mistyped ``--flag`` of a command is an error naming the flag (and the flag it is
    closest to), before argparse would complain that required flags are missing."""
    subparsers = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if subparsers is None:
        return
    command_at = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if command_at is None:
        return
    sub = subparsers.choices.get(args[command_at])
    if not isinstance(sub, argparse.ArgumentParser):
        return
    known = [option for action in sub._actions for option in action.option_strings if option.startswith("--")]
    for arg in args[command_at + 1 :]:
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue
        name = arg.split("=", 1)[0]
        if any(option.startswith(name) for option in known):  # the flag, or a prefix argparse takes
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f" (`{PROG} {args[command_at]} --help` lists them)"
        sub.error(f"unrecognized argument {name}{hint}")


def stderr(message: str) -> None:
    """Write one line to stderr; a terminal that has gone (SIGHUP) is not an error.

    The line is escaped (:func:`cab_trace.textsafe.safe_text`): messages quote task ids, adapter
    and span names, agent output and file names, none of which may drive the user's terminal.
    """
    with contextlib.suppress(OSError):  # the run directory has it all
        print(safe_text(message), file=sys.stderr, flush=True)


def stdout(line: str) -> None:
    """Write one line of a command's result to stdout, escaped as :func:`stderr` escapes."""
    print(safe_text(line), flush=True)


def warn(message: str) -> None:
    stderr(f"{PROG}: warning: {message}")


def add_colour_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        "--colour",
        dest="color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the output: auto (on a terminal, unless NO_COLOR is set), always or never",
    )


def use_colour(when: str, stream: TextIO) -> bool:
    """Colour for ``stream``: ``always``; ``never``; ``auto``: a terminal, NO_COLOR unset
    (https://no-color.org) and a TERM that is not ``dumb``."""
    if when != "auto":
        return when == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def add_otlp_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "OTLP export (optional; the JSONL trace file is always written)",
        "Defaults come from OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL and "
        "OTEL_EXPORTER_OTLP_HEADERS; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are honoured.",
    )
    group.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="also send spans to this OTLP receiver, e.g. http://127.0.0.1:4318",
    )
    group.add_argument(
        "--otlp-protocol", choices=["grpc", "http/protobuf"], help="OTLP transport (default: http/protobuf)"
    )
    group.add_argument(
        "--otlp-header",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a header to send with every request (repeatable; values are redacted from traces)",
    )


def add_run_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=directory,
        metavar="DIR",
        help="the run directory to write (default: RUNS_DIR/<run-id>/)",
    )
    parser.add_argument(
        "--runs-dir",
        type=directory,
        default=Path("runs"),
        metavar="RUNS_DIR",
        help="where new run directories go (default: ./runs)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the run directory")


def add_run_behaviour_flags(run: argparse.ArgumentParser, echo: bool = True) -> None:
    """How the agent runs and what is kept (a sweep's cells take these, but --echo: their
    output goes to each cell's log)."""
    run.add_argument("--keep-workdir", action="store_true", help="keep the scratch workdir after the run")
    run.add_argument(
        "--tty",
        action="store_true",
        help="give the agent a pseudo-terminal (120x36; full-screen agents need one); terminal.cast "
        "records exactly what it drew",
    )
    if echo:
        run.add_argument(
            "--echo",
            action="store_true",
            help="show the agent's (redacted) output on stderr as it runs, its escape sequences shown "
            "as text",
        )
    run.add_argument(
        "--cast-limit",
        type=byte_size,
        metavar="SIZE",
        help="stop recording terminal.cast at about SIZE (e.g. 200m); a marker in the cast and a "
        "warning say where (default: no limit)",
    )


#: How a table of runs or groups is printed (``show DIR``, and ``sweep`` at its end).
TABLE_FORMATS = ("table", "json", "csv", "markdown")


def add_table_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--format and --group-by (alias --by) of a table of runs: `show DIR` and `sweep`'s table."""
    parser.add_argument(
        "--format",
        choices=TABLE_FORMATS,
        help="table (default; aligned columns), json, csv or markdown",
    )
    parser.add_argument(
        "--group-by",
        "--by",
        dest="group_by",
        metavar="AXES",
        help="add the cells up by these axes, comma-separated (default: adapter,model): adapter, model, "
        "task, repeat, plugins, vars, node, runtime, sweep_id",
    )


def add_docker_flags(run: argparse.ArgumentParser, per_adapter: bool = False) -> None:
    docker_group = run.add_argument_group("docker runtime")
    if per_adapter:  # a sweep: one image for every adapter, or one per adapter
        docker_group.add_argument(
            "--image",
            action="append",
            metavar="IMAGE",  # as run's: the same flag, which a sweep also takes per adapter
            help="the container image (required with --runtime docker); ADAPTER=IMAGE gives one "
            "adapter's cells theirs (repeatable)",
        )
    else:
        docker_group.add_argument(
            "--image", metavar="IMAGE", help="the container image (required with --runtime docker)"
        )
    docker_group.add_argument(
        "--pull", action="store_true", help="pull the image first (default: use the local image only)"
    )
    docker_group.add_argument("--memory", type=memory_limit, metavar="LIMIT", help="memory limit, e.g. 2g")
    docker_group.add_argument("--cpus", type=positive, metavar="N", help="CPU limit, e.g. 1.5")
    docker_group.add_argument(
        "--pids-limit", type=positive_int, metavar="N", help="process limit in the container"
    )
    docker_group.add_argument(
        "--network", metavar="MODE", help="Docker network mode: none, bridge, host or a network name"
    )


def add_model_call_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--no-content",
        action="store_true",
        help="record model calls without their messages, tool definitions, arguments and results",
    )
    run.add_argument(
        "--no-model-proxy",
        action="store_true",
        help="give the agent the endpoint itself: no recording proxy, no model-call spans",
    )


def add_known_secret_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, help_text: str) -> None:
    # `run` spells it --secret-env; --known-secret-env is the older name here.
    parser.add_argument(
        "--secret-env",
        "--known-secret-env",
        dest="known_secret_env",
        action="append",
        default=[],
        metavar="NAME",
        help=help_text,
    )


def otlp_settings(args: argparse.Namespace) -> OtlpSettings | None:
    from cab_trace.otel.setup import OtlpSettings

    return OtlpSettings.resolve(args.otlp_endpoint, args.otlp_protocol, args.otlp_header)


def parse_vars(items: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--var {item!r} is not KEY=VALUE")
        result[key] = value
    return result


def known_secrets(names: Sequence[str]) -> list[str]:
    from cab_trace.redact.known import named_secrets

    return named_secrets(names, os.environ)


def silence_broken_pipe() -> None:
    """Point stdout and stderr at /dev/null so that flushing them at exit raises nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            continue  # already closed: nothing to flush
    os.close(devnull)
