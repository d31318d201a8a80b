"""The ``cab-trace`` command: builds the parser from one module per command and maps errors to exit codes.

Exit codes: 0 success; 1 the agent or a phase failed; 2 bad usage or bad input;
128+N signal N. Errors go to stderr as ``cab-trace: error: ...`` with a hint, never a
traceback. Heavy modules are imported inside the command that needs them, so
``cab-trace show`` does not pay for the OpenTelemetry SDK.

A command is a module here with ``register(sub)``, which adds its parser and sets
``handler`` (a function of the parsed arguments returning the exit code). Flags shared
between commands live in :mod:`cab_trace.cli.common`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cab_trace import __version__
from cab_trace.cli import compare, demo, export, gc, redact, replay, run, show, sweep, validate
from cab_trace.cli.common import PROG, Parser, check_flags, stderr
from cab_trace.clock import install_test_wall_step
from cab_trace.errors import CabTraceError

__all__ = ["PROG", "build_parser", "main"]

# In the order `--help` lists them.
_COMMAND_MODULES = (run, sweep, demo, show, replay, compare, export, validate, redact, gc)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Record, replay, inspect and export OpenTelemetry traces of coding-agent benchmark runs.",
        epilog="Start with `cab-trace demo`, then `cab-trace replay runs/<run-id>`.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_test_wall_step()  # the suite's wall-clock step (see cab_trace.clock); off otherwise
    args_list = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, command = args_list[:cut], args_list[cut + 1 :]
    parser = build_parser()
    check_flags(parser, args_list)
    args = parser.parse_args(args_list)
    if command and not getattr(args, "takes_command", False):
        parser.error("arguments after -- are only for `run --adapter command` (and `sweep`)")
    args.agent_command = command
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args))
    except CabTraceError as exc:
        stderr(f"{PROG}: error: {exc.message}")
        if exc.hint:
            stderr(f"  hint: {exc.hint}")
        return exc.exit_code
    except KeyboardInterrupt:
        stderr(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        # `cab-trace show ... | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
