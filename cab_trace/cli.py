"""The ``cab-trace`` command: argument parsing and error-to-exit-code mapping only.

Exit codes: 0 success; 1 the agent or a phase failed; 2 bad usage or bad input;
128+N signal N. Errors go to stderr as ``cab-trace: error: ...`` with a hint, never a
traceback. Heavy modules are imported inside the command that needs them, so
``cab-trace show`` does not pay for the OpenTelemetry SDK.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cab_trace import __version__
from cab_trace.cli_types import byte_size, directory, memory_limit, positive, positive_int, seconds
from cab_trace.errors import CabTraceError, TraceFileError, UsageError

if TYPE_CHECKING:
    from cab_trace.harness.runner import CellConfig, RunOutcome
    from cab_trace.harness.runtime import Runtime
    from cab_trace.otel.setup import OtlpSettings

PROG = "cab-trace"


def _stderr(message: str) -> None:
    with contextlib.suppress(OSError):  # the terminal has gone (SIGHUP): the run directory has it all
        print(message, file=sys.stderr, flush=True)


def _warn(message: str) -> None:
    _stderr(f"{PROG}: warning: {message}")


def _add_otlp_flags(parser: argparse.ArgumentParser) -> None:
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


def _add_run_output_flags(parser: argparse.ArgumentParser) -> None:
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


def _add_run_behaviour_flags(run: argparse.ArgumentParser) -> None:
    run.add_argument("--keep-workdir", action="store_true", help="keep the scratch workdir after the run")
    run.add_argument(
        "--tty",
        action="store_true",
        help="give the agent a pseudo-terminal (120x36; full-screen agents need one); terminal.cast "
        "records exactly what it drew",
    )
    run.add_argument(
        "--echo", action="store_true", help="show the agent's (redacted) output on stderr as it runs"
    )
    run.add_argument(
        "--cast-limit",
        type=byte_size,
        metavar="SIZE",
        help="stop recording terminal.cast at about SIZE (e.g. 200m); a marker in the cast and a "
        "warning say where (default: no limit)",
    )


def _add_docker_flags(run: argparse.ArgumentParser) -> None:
    docker_group = run.add_argument_group("docker runtime")
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


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one statement per option
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Record, replay, inspect and export OpenTelemetry traces of coding-agent benchmark runs.",
        epilog="Start with `cab-trace demo`, then `cab-trace replay runs/<run-id>`.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run one benchmark cell and record it as a trace",
        description="Run one cell (adapter x model x task) and record every phase as one trace in "
        "RUNS_DIR/<run-id>/trace.jsonl. Secrets (the key, secret-named variables, "
        "--secret-env values) are redacted before anything is written.",
        epilog="examples:\n"
        "  CAB_KEY=sk-... cab-trace run --adapter pi --model m --endpoint http://host:8000/v1 \\\n"
        "      --task tasks/fix-bug\n"
        "  cab-trace run --adapter command --task tasks/fix-bug -- python my_agent.py '{prompt}'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--task",
        required=True,
        type=Path,
        metavar="DIR",
        help="task directory (holds task.toml and the agent's starting files)",
    )
    run.add_argument(
        "--adapter",
        required=True,
        metavar="NAME|FILE",
        help="pi, aider, opencode, codex, claude, gemini, command, or an adapter .toml file",
    )
    run.add_argument("--model", help="model id passed to the agent")
    run.add_argument(
        "--runtime",
        choices=["local", "docker"],
        default="local",
        help="where the agent runs: local (a subprocess, the default) or docker (a container of --image)",
    )
    _add_docker_flags(run)
    run.add_argument(
        "--timeout",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="kill the agent after this long (default: 600; 0 for no limit)",
    )
    run.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="apply the adapter's plugin NAME (repeatable; order is kept)",
    )
    run.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set an adapter variable, e.g. --var provider=nim",
    )
    run.add_argument(
        "--endpoint", metavar="URL", help="model endpoint for {endpoint} (default: $CAB_ENDPOINT)"
    )
    _model_call_options(run)
    run.add_argument(
        "--user-home",
        action="store_true",
        help="let a local agent use your own home and config directories (~/.pi, ~/.config/opencode, "
        "~/.aider*); by default each run gets a fresh home of its own",
    )
    run.add_argument(
        "--key-env",
        default="CAB_KEY",
        metavar="NAME",
        help="environment variable holding the API key (default: CAB_KEY)",
    )
    run.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="treat the value of $NAME as a secret to redact (repeatable)",
    )
    run.add_argument("--sweep-id", default="local", help="sweep this cell belongs to (default: local)")
    run.add_argument(
        "--behavior-mode", default="factory", help="recorded as behavior_mode (default: factory)"
    )
    _add_run_behaviour_flags(run)
    _add_run_output_flags(run)
    _add_otlp_flags(run)

    demo = sub.add_parser(
        "demo",
        help="record the bundled demo run (no Docker, no network, no API key)",
        description="Record the bundled example: a small task and a scripted agent (no LLM) that "
        "prints its progress for a few seconds, leaks a fake key (which is redacted) "
        "and fixes a file.",
    )
    demo.add_argument(
        "--pace",
        type=seconds,
        default=0.5,
        metavar="SECONDS",
        help="seconds between the scripted agent's steps (default: 0.5)",
    )
    _add_run_output_flags(demo)
    _add_otlp_flags(demo)

    show = sub.add_parser(
        "show",
        help="print a trace's spans as a table",
        description="Print each trace in a file as a table of its spans (tree order).",
    )
    show.add_argument("path", type=Path, metavar="PATH", help="a trace file or a run directory")
    show.add_argument("--full", action="store_true", help="also print every attribute, event and status")
    show.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="cut lines to this width (default: the terminal's; no cut when piped)",
    )

    redact = sub.add_parser(
        "redact",
        help="redact secrets from a file or stdin, to stdout",
        description="Write FILE (or stdin) to stdout with every secret replaced by [REDACTED]: credential "
        "shapes, secret-named options and variables, auth headers, URL passwords, private keys, and the "
        "values of --known-secret-env variables. A cab-trace trace file is redacted record by record and "
        "stays valid.",
    )
    redact.add_argument("path", nargs="?", type=Path, metavar="FILE", help="the file (default: stdin)")
    redact.add_argument(
        "--known-secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="also replace the value of $NAME wherever it appears (repeatable)",
    )

    scan = sub.add_parser(
        "scan",
        help="report suspected secrets in a trace file or run directory",
        description="Report every suspected secret in a file, or in every file below a directory, as "
        "FILE:LINE: RULE: PREVIEW. The preview never shows the secret. Exits 1 if anything is found.",
    )
    scan.add_argument("path", type=Path, metavar="PATH", help="a file or a directory (e.g. a run directory)")
    scan.add_argument(
        "--known-secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="also look for the value of $NAME (repeatable)",
    )

    export = sub.add_parser(
        "export",
        help="send traces to an OTLP receiver (Jaeger, a Collector) or write Jaeger/OTLP/asciicast files",
        description="Send recorded spans to an OTLP receiver with their original ids, times and attributes, "
        "or write them as a file that Jaeger UI, the OpenTelemetry Collector or asciinema opens. PATH is a "
        "trace file (ours, OTLP/JSON lines or Jaeger JSON), a run directory, or a directory of run "
        "directories (a sweep).",
        epilog="examples:\n"
        "  cab-trace export runs/ --otlp-endpoint http://127.0.0.1:4317 --protocol grpc --rebase-time now\n"
        "  cab-trace export runs/<run-id> --format jaeger-json -o trace.json   # Jaeger UI: Upload JSON\n"
        "  cab-trace export runs/<run-id> --format otlp-json -o traces.jsonl   # Collector otlpjsonfile",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="trace files or run directories")
    export.add_argument(
        "--otlp-endpoint", metavar="URL", help="OTLP receiver (default: $OTEL_EXPORTER_OTLP_ENDPOINT)"
    )
    export.add_argument(
        "--protocol", choices=["grpc", "http/protobuf"], help="OTLP transport (default: http/protobuf)"
    )
    export.add_argument(
        "--header", action="append", default=[], metavar="KEY=VALUE", help="OTLP header (repeatable)"
    )
    export.add_argument(
        "--format",
        choices=["jaeger-json", "otlp-json", "asciicast"],
        help="write a file instead of sending over OTLP",
    )
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="the file --format writes")
    export.add_argument(
        "--rebase-time",
        choices=["now"],
        help="shift all timestamps so the trace ends now (shows up in Jaeger's default search)",
    )
    export.add_argument(
        "--pace",
        type=float,
        metavar="SPEED",
        help="send spans as they ended in the recording, SPEED times faster (a live replay)",
    )

    sub.add_parser(
        "gc",
        help="remove scratch directories and containers left behind by dead `cab-trace run`s",
        description="Find the scratch directories (in the temp directory) and containers that "
        "`cab-trace run` marked as its own on this host, whose run is no longer alive (killed with -9, "
        "a crash), and remove them. What belongs to runs still going, to other hosts sharing the "
        "engine, or was kept with --keep-workdir is left alone. `cab-trace run` does this too.",
    )

    replay = sub.add_parser(
        "replay",
        help="play a trace back in the terminal: span waterfall, playhead, the agent's screen",
        description="Open a trace in the replay UI: the spans as a waterfall with a playhead that plays "
        "back on the trace's own clock, the selected span's details, and the agent's terminal "
        "(terminal.cast) as it was at that moment. A file with several traces (a sweep) opens a list "
        "first. Press ? in the UI for every key.",
        epilog="keys: space play/pause · ←/→ previous/next span start or end · ,/. 100 ms · "
        "j/k select · enter go to span · +/- speed · e/E errors · / filter · i idle · ? help · q quit",
    )
    replay.add_argument(
        "path",
        type=Path,
        metavar="PATH",
        help="a trace file (ours, OTLP/JSON or Jaeger JSON) or a run directory",
    )
    replay.add_argument(
        "--idle-limit",
        type=float,
        metavar="SECONDS",
        help="on playback, shorten every wait longer than SECONDS with nothing happening to SECONDS "
        "(as asciinema's --idle-time-limit); the transport line shows it; i toggles it",
    )

    validate = sub.add_parser(
        "validate",
        help="check a trace file against the span-record schema",
        description="Check every line of a trace file against schemas/span-record.v1.schema.json.",
    )
    validate.add_argument("path", type=Path, metavar="PATH", help="a trace file or a run directory")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, command = args_list[:cut], args_list[cut + 1 :]
    parser = build_parser()
    args = parser.parse_args(args_list)
    if command and args.command != "run":
        parser.error("arguments after -- are only for `run --adapter command`")
    try:
        if args.command == "run":
            return _cmd_run(args, command)
        handler = _COMMANDS.get(args.command)
        if handler is not None:
            return handler(args)
        parser.print_help(sys.stderr)
        return 2
    except CabTraceError as exc:
        _stderr(f"{PROG}: error: {exc.message}")
        if exc.hint:
            _stderr(f"  hint: {exc.hint}")
        return exc.exit_code
    except KeyboardInterrupt:
        _stderr(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        # `cab-trace show ... | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0


def _otlp(args: argparse.Namespace) -> OtlpSettings | None:
    from cab_trace.otel.setup import OtlpSettings

    return OtlpSettings.resolve(args.otlp_endpoint, args.otlp_protocol, args.otlp_header)


def _parse_vars(items: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--var {item!r} is not KEY=VALUE")
        result[key] = value
    return result


def _model_call_options(run: argparse.ArgumentParser) -> None:
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


def _cmd_run(args: argparse.Namespace, command: list[str]) -> int:
    from cab_trace.harness.adapters import load_adapter
    from cab_trace.harness.runner import CellConfig

    # With the recording proxy, the container talks to the proxy and this machine to the endpoint.
    if load_adapter(args.adapter).uses("endpoint") and args.no_model_proxy:
        check_docker_endpoint(args.runtime, args.network, args.endpoint or os.environ.get("CAB_ENDPOINT"))
    config = CellConfig(
        task_dir=args.task,
        adapter=args.adapter,
        runtime=_runtime(args),
        model=args.model,
        plugins=args.plugin,
        command=command,
        timeout_s=args.timeout or None,
        out=args.out,
        runs_root=args.runs_dir,
        sweep_id=args.sweep_id,
        behavior_mode=args.behavior_mode,
        key_env=args.key_env,
        secret_envs=args.secret_env,
        endpoint=args.endpoint,
        record_content=not args.no_content,
        model_proxy=not args.no_model_proxy,
        variables=_parse_vars(args.var),
        keep_workdir=args.keep_workdir,
        tty=args.tty,
        otlp=_otlp(args),
        user_home=args.user_home,
        cast_limit=args.cast_limit,
    )
    return _record(config, echo=args.echo, quiet=args.quiet)


def _cmd_demo(args: argparse.Namespace) -> int:
    from importlib import resources

    from cab_trace.harness.runner import CellConfig
    from cab_trace.harness.runtime import LocalRuntime

    examples = resources.files("cab_trace.examples")
    agent = Path(str(examples.joinpath("scripted_agent.py")))
    task = Path(str(examples.joinpath("demo-task")))
    # A made-up key that has the shape of a real one: the demo shows it being redacted.
    environ = {**os.environ, "CAB_KEY": "sk-demo-" + secrets.token_hex(16)}
    config = CellConfig(
        task_dir=task,
        adapter="command",
        runtime=LocalRuntime(),
        model="scripted/demo-1",
        command=[
            sys.executable,
            str(agent),
            "--api-key",
            "{key}",
            "--model",
            "{model}",
            "--pace",
            str(args.pace),
            "{prompt}",
        ],
        timeout_s=120,
        out=args.out,
        runs_root=args.runs_dir,
        sweep_id="demo",
        otlp=_otlp(args),
        environ=environ,
    )
    return _record(config, echo=not args.quiet, quiet=args.quiet)


def check_docker_endpoint(runtime: str, network: str | None, endpoint: str | None) -> None:
    """A container cannot reach this machine's loopback: refuse such an endpoint, saying what to do."""
    from urllib.parse import urlsplit

    if runtime != "docker" or not endpoint or network == "host":
        return
    host = (urlsplit(endpoint).hostname or "").lower()
    if host == "localhost" or host.startswith("127.") or host == "::1":
        raise UsageError(
            f"--endpoint {endpoint}: a container cannot reach {host} of this machine (its loopback is "
            "the container's own)",
            hint="add --network host, or serve the endpoint on an address the container can reach "
            "(e.g. 0.0.0.0, then --endpoint http://<docker bridge gateway, usually 172.17.0.1>:PORT/...)",
        )


def _runtime(args: argparse.Namespace) -> Runtime:
    from cab_trace.harness.runtime import LocalRuntime

    docker_flags = [
        f"--{n.replace('_', '-')}"
        for n in ("image", "memory", "cpus", "pids_limit", "network")
        if getattr(args, n) is not None
    ] + (["--pull"] if args.pull else [])
    if args.runtime == "local":
        if docker_flags:
            raise UsageError(f"{', '.join(docker_flags)} need(s) --runtime docker")
        return LocalRuntime()
    if not args.image:
        raise UsageError("--runtime docker needs --image IMAGE")
    from cab_trace.harness.docker_runtime import DockerOptions, DockerRuntime, collect_garbage

    runtime = DockerRuntime(
        DockerOptions(args.image, args.pull, args.memory, args.cpus, args.pids_limit, args.network)
    )
    runtime.prepare()  # a missing engine or image is one clear error, before anything is recorded
    if removed := collect_garbage(runtime.client):
        _warn(f"removed {len(removed)} container(s) left by dead runs: {', '.join(removed)}")
    return runtime


def _cmd_gc(args: argparse.Namespace) -> int:
    from cab_trace.harness.docker_runtime import DockerError, collect_garbage
    from cab_trace.harness.lifecycle import collect_scratch

    scratch = collect_scratch()
    _stderr(f"{PROG}: removed {len(scratch)} scratch director(ies) left by dead runs")
    for path in scratch:
        print(path)
    try:
        removed = collect_garbage()
    except DockerError as exc:
        _stderr(f"{PROG}: containers not checked: {exc.message}")
        return 0
    _stderr(f"{PROG}: removed {len(removed)} container(s) left by dead runs" + (": " if removed else ""))
    for name in removed:
        print(name)
    return 0


def _record(config: CellConfig, echo: bool, quiet: bool) -> int:
    from cab_trace.harness import lifecycle
    from cab_trace.harness.runner import CellRunner

    def show_output(stream: str, text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    progress = None if quiet else (lambda msg: _stderr(f"  {msg}"))
    runner = CellRunner(config, echo=show_output if echo else None, progress=progress)
    if not quiet:
        _stderr(
            f"{PROG}: recording {runner.adapter.name} on {runner.redactor.text(runner.task.id)} "
            f"({config.runtime.name} runtime) into {runner.run_dir}/"
        )
    # Ctrl-C or SIGTERM: stop the agent gracefully; a second one: kill it at once, and say so.
    with lifecycle.handle_signals(notify=lambda msg: _stderr(f"{PROG}: {msg}")):
        try:
            outcome = runner.run()
        except KeyboardInterrupt as exc:
            for warning in vars(exc).get("warnings", []):
                _warn(warning)
            signum = getattr(exc, "signum", signal.SIGINT)
            said = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}.get(signum, "interrupted")
            how = "killed at once (second signal)" if lifecycle.hurried() else "stopped"
            trace = runner.run_dir / "trace.jsonl"
            if vars(exc).get("while_exporting"):
                _stderr(f"{PROG}: {said} while sending spans; the run had ended and {trace} is complete")
            else:
                _stderr(f"{PROG}: {said}; the agent was {how} and the trace so far is in {trace}")
            return 128 + int(signum)
    for warning in outcome.warnings:
        _warn(warning)
    for leak in outcome.leaks:
        _stderr(f"{PROG}: error: leak check: {leak}")
    if outcome.leaks:
        _stderr(
            "  hint: the trace was redacted, but something else wrote the secret there; "
            "scrub it with `cab-trace redact` and report how it got there"
        )
    _report(outcome, quiet)
    return outcome.exit_code


def _report(outcome: RunOutcome, quiet: bool) -> None:
    if not quiet:
        verdict = "ok" if outcome.exit_code == 0 else f"FAILED: {outcome.message}"
        if outcome.check_passed is False:  # the task was not done: never "run ok"
            check = f"task check FAILED: {outcome.check_message or 'it did not pass'}"
            verdict = f"finished, {check}" if outcome.exit_code == 0 else f"{verdict}; {check}"
        _stderr(f"{PROG}: run {verdict}; trace {outcome.trace_id} in {outcome.trace_path}")
        if outcome.hint:
            _stderr(f"  hint: {outcome.hint}")
        _stderr(f"  look at it: cab-trace replay {outcome.run_dir}  (or: cab-trace show {outcome.run_dir})")
    print(outcome.run_dir, flush=True)


def _cmd_show(args: argparse.Namespace) -> int:
    from cab_trace.model.index import open_index
    from cab_trace.show import render_index

    width = args.width or (shutil.get_terminal_size().columns if sys.stdout.isatty() else 10**6)
    index = open_index(args.path, warn=_warn)  # columns, not records: a million spans fit
    if not len(index):
        _warn(f"{args.path}: holds no spans")
        return 0
    for line in render_index(index, width=width, full=args.full, warn=_warn):
        print(line)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from cab_trace.validate import validate_file

    report = validate_file(args.path)
    verdict = 0 if report.ok else 2
    try:
        for warning in report.warnings:
            _warn(warning)
        if report.ok:
            what = (
                f"{report.lines} line(s)"
                if report.format == "cab-jsonl"
                else f"{report.format}, {report.lines} span(s)"
            )
            print(f"{report.path}: valid ({what})", flush=True)
            return 0
        for problem in report.problems:
            _stderr(problem)
        if report.truncated:
            _stderr("(more problems not shown)")
        _stderr(f"{PROG}: error: {report.path} does not match the span-record schema")
    except BrokenPipeError:
        # `validate bad 2>&1 | head -1`: the reader left early; the verdict still stands.
        _silence_broken_pipe()
    return verdict


def _silence_broken_pipe() -> None:
    """Point stdout and stderr at /dev/null so that flushing them at exit raises nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            continue  # already closed: nothing to flush
    os.close(devnull)


def _size(path: Path) -> int:
    """Bytes of a trace file, or of the trace file in a run directory (0 if there is none)."""
    from cab_trace.model.jsonl import resolve_trace_path

    try:
        return resolve_trace_path(path).stat().st_size
    except (TraceFileError, OSError):
        return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from replay.load import load

    if args.idle_limit is not None and not args.idle_limit > 0:
        raise UsageError(f"--idle-limit must be a positive number of seconds, not {args.idle_limit}")
    if sys.stderr.isatty() and _size(args.path) > 5_000_000:
        _stderr(f"{PROG}: reading {args.path} ({_size(args.path) / 1e6:.0f} MB) ...")
    traces = load(args.path, warn=_warn)  # before the UI: a bad file is an error on stderr, exit 2
    if not traces:
        raise TraceFileError(args.path, "holds no spans: nothing to replay")
    if not sys.stdout.isatty():
        raise UsageError("replay needs a terminal", hint="use `cab-trace show` to print a trace")
    from replay.app import ReplayApp

    app = ReplayApp(traces, source=args.path, idle_limit_s=args.idle_limit)
    app.run()
    if app.probe is not None:
        app.probe.save()
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from cab_trace.export.command import run_export

    return run_export(args, _stderr)


def _known_secrets(names: Sequence[str]) -> list[str]:
    values = []
    for name in names:
        value = os.environ.get(name)
        if not value:
            raise UsageError(f"--known-secret-env {name}: ${name} is not set")
        values.append(value)
    return values


def _cmd_redact(args: argparse.Namespace) -> int:
    from cab_trace.redact import Redactor
    from cab_trace.redact.records import redact_stream

    redactor = Redactor(_known_secrets(args.known_secret_env))
    out = sys.stdout.buffer
    if args.path is None:
        redact_stream(sys.stdin.buffer, out, redactor)
        return 0
    try:
        handle = args.path.open("rb")
    except OSError as exc:
        raise UsageError(f"{args.path}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        redact_stream(handle, out, redactor)
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from cab_trace.redact import Redactor
    from cab_trace.redact.scan import files_under, scan_file

    if not args.path.exists():
        raise UsageError(f"{args.path}: no such file or directory")
    redactor = Redactor(_known_secrets(args.known_secret_env))
    hits = 0
    files_with_hits = 0
    files = files_under(args.path)
    for file in files:
        found = 0
        try:
            for hit in scan_file(file, redactor):
                print(hit)
                found += 1
        except OSError as exc:
            _warn(f"{file}: cannot be read ({exc.strerror or exc}); skipped")
        hits += found
        files_with_hits += bool(found)
    if hits:
        _stderr(f"{PROG}: {hits} suspected secret(s) in {files_with_hits} of {len(files)} file(s)")
        return 1
    _stderr(f"{PROG}: no suspected secrets in {len(files)} file(s)")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _cmd_demo,
    "show": _cmd_show,
    "validate": _cmd_validate,
    "redact": _cmd_redact,
    "scan": _cmd_scan,
    "export": _cmd_export,
    "replay": _cmd_replay,
    "gc": _cmd_gc,
}


if __name__ == "__main__":
    sys.exit(main())
