"""`cab-trace run`: one benchmark cell, recorded as one trace."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cab_trace.cli.common import (
    add_docker_flags,
    add_model_call_flags,
    add_otlp_flags,
    add_run_behaviour_flags,
    add_run_output_flags,
    otlp_settings,
    parse_vars,
    warn,
)
from cab_trace.cli.record import record
from cab_trace.cli_types import positive_int, seconds
from cab_trace.errors import UsageError

if TYPE_CHECKING:
    from cab_trace.harness.cell_config import CellConfig
    from cab_trace.harness.runtime import Runtime


def register(sub: Any) -> None:
    run: argparse.ArgumentParser = sub.add_parser(
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
    add_axis_flags(run)
    add_cell_flags(run)
    sweep_cell = run.add_argument_group("a cell of a sweep (`cab-trace sweep` sets these)")
    sweep_cell.add_argument(
        "--repeat", type=positive_int, metavar="N", help="which repeat of its cell this run is (run span)"
    )
    sweep_cell.add_argument("--node", metavar="NAME", help="the machine that ran the cell (run span)")
    add_run_behaviour_flags(run)
    add_run_output_flags(run)
    add_otlp_flags(run)
    run.set_defaults(handler=cmd_run, takes_command=True)


def add_axis_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, many: bool = False) -> None:
    """--task, --adapter and --model: one of each for `run`; for `sweep` (``many``) each is
    repeatable, an axis of its matrix. Spelled and shown alike in both, so that a run's command
    line is a sweep's with one value per axis."""
    each = " (repeatable: one value per axis of the matrix)" if many else ""
    parser.add_argument(
        "--task",
        required=not many,
        type=str if many else Path,  # a sweep expands globs itself
        action="append" if many else "store",
        metavar="DIR",
        help="task directory (holds task.toml and the agent's starting files)"
        + ("; a glob such as 'tasks/*' takes every task directory it matches" if many else "")
        + each,
    )
    parser.add_argument(
        "--adapter",
        required=not many,
        action="append" if many else "store",
        metavar="NAME|FILE",
        help="pi, aider, opencode, codex, claude, gemini, command, or an adapter .toml file" + each,
    )
    parser.add_argument(
        "--model",
        action="append" if many else "store",
        metavar="MODEL",
        help="model id passed to the agent" + each,
    )


def add_cell_flags(parser: argparse.ArgumentParser, per_adapter: bool = False) -> None:
    """The flags of `run` that say how a cell runs (also `sweep`'s, which runs many: there
    ``per_adapter`` makes --image and --endpoint repeatable as ADAPTER=VALUE)."""
    parser.add_argument(
        "--runtime",
        choices=["local", "docker"],
        default="local",
        help="where the agent runs: local (a subprocess, the default) or docker (a container of --image)",
    )
    add_docker_flags(parser, per_adapter)
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="kill the agent after this long (default: 600; 0 for no limit)",
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="apply the adapter's plugin NAME (repeatable; order is kept)",
    )
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set an adapter variable, e.g. --var provider=nim",
    )
    if per_adapter:
        parser.add_argument(
            "--endpoint",
            action="append",
            metavar="URL",  # as run's: the same flag, which a sweep also takes per adapter
            help="model endpoint for {endpoint} (default: $CAB_ENDPOINT); ADAPTER=URL gives one "
            "adapter's cells theirs (repeatable)",
        )
    else:
        parser.add_argument(
            "--endpoint", metavar="URL", help="model endpoint for {endpoint} (default: $CAB_ENDPOINT)"
        )
    add_model_call_flags(parser)
    parser.add_argument(
        "--user-home",
        action="store_true",
        help="let a local agent use your own home and config directories (~/.pi, ~/.config/opencode, "
        "~/.aider*); by default each run gets a fresh home of its own",
    )
    parser.add_argument(
        "--key-env",
        default="CAB_KEY",
        metavar="NAME",
        help="environment variable holding the API key (default: CAB_KEY)",
    )
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="treat the value of $NAME as a secret to redact (repeatable)",
    )
    parser.add_argument("--sweep-id", default="local", help="sweep this cell belongs to (default: local)")
    parser.add_argument(
        "--behavior-mode", default="factory", help="recorded as behavior_mode (default: factory)"
    )


def cmd_run(args: argparse.Namespace) -> int:
    return record(config_from_args(args), echo=args.echo, quiet=args.quiet)


def config_from_args(args: argparse.Namespace, runtime: Runtime | None = None) -> CellConfig:
    """The cell `run`'s flags describe (`sweep` checks its cells with it before running any)."""
    from cab_trace.harness.adapters import load_adapter
    from cab_trace.harness.cell_config import CellConfig

    # With the recording proxy, the container talks to the proxy and this machine to the endpoint.
    if load_adapter(args.adapter).uses("endpoint") and args.no_model_proxy:
        check_docker_endpoint(args.runtime, args.network, args.endpoint or os.environ.get("CAB_ENDPOINT"))
    return CellConfig(
        task_dir=args.task,
        adapter=args.adapter,
        runtime=runtime or runtime_from_args(args),
        model=args.model,
        plugins=args.plugin,
        command=args.agent_command,
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
        variables=parse_vars(args.var),
        keep_workdir=args.keep_workdir,
        tty=args.tty,
        otlp=otlp_settings(args),
        user_home=args.user_home,
        cast_limit=args.cast_limit,
        run_attributes={k: v for k, v in (("repeat", args.repeat), ("node", args.node)) if v is not None},
    )


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


def runtime_from_args(args: argparse.Namespace) -> Runtime:
    """The runtime the flags ask for; Docker's engine and image are checked here, before any recording."""
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
    from cab_trace.harness.docker_gc import collect_garbage
    from cab_trace.harness.docker_runtime import DockerOptions, DockerRuntime

    runtime = DockerRuntime(
        DockerOptions(args.image, args.pull, args.memory, args.cpus, args.pids_limit, args.network)
    )
    runtime.prepare()  # a missing engine or image is one clear error, before anything is recorded
    if removed := collect_garbage(runtime.client):
        warn(f"removed {len(removed)} container(s) left by dead runs: {', '.join(removed)}")
    return runtime
