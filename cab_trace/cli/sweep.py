"""`cab-trace sweep`: run a benchmark matrix (adapter x model x task x repeat), on this machine or
on a Ray cluster, and print its numbers by adapter x model."""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cab_trace.cli.common import PROG, add_otlp_flags, add_run_behaviour_flags, add_table_flags, stderr
from cab_trace.cli.run import add_axis_flags, add_cell_flags
from cab_trace.cli_types import positive_int
from cab_trace.errors import UsageError

if TYPE_CHECKING:
    from cab_trace.redact import Redactor

_EPILOG = """\
examples:
  CAB_KEY=sk-... cab-trace sweep --adapter pi --adapter opencode --model A --model B \\
      --task 'tasks/polyglot/*' --repeats 2 --workers 4 --endpoint URL --out sweeps/expansion
  cab-trace sweep --sweep-file expansion.toml              # the same, written down
  cab-trace sweep --out sweeps/expansion                   # run again: only what is missing
  cab-trace sweep --sweep-file expansion.toml --executor ray --ray-address HEAD:6379
  cab-trace show sweeps/expansion --group-by adapter,model,task

Every cell is a complete `cab-trace run` written to SWEEPDIR/<adapter>/<model>/<task>/r<N>/;
cells.jsonl records each cell's state and numbers, summary.json the groups. A sweep file's keys
are the flags' names (adapter = ["pi", "opencode"], repeats = 2, [image] pi = "..."); flags
override it. See docs/sweeps.md."""


def register(sub: Any) -> None:
    sweep: argparse.ArgumentParser = sub.add_parser(
        "sweep",
        help="run a matrix of cells (adapter x model x task x repeat) and add up their numbers",
        description="Run every cell of a matrix as a `cab-trace run`, up to --workers at once (or on a "
        "Ray cluster), resumably, with a live view on stderr; then print the numbers by adapter x model.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument(
        "--sweep-file", type=Path, metavar="FILE", help="a TOML file of the sweep (keys named as the flags)"
    )
    axes = sweep.add_argument_group("the matrix (repeatable flags: one value per cell axis)")
    add_axis_flags(axes, many=True)
    axes.add_argument("--repeats", type=positive_int, metavar="N", help="runs of each cell (default: 1)")
    axes.add_argument(
        "--plugin-set",
        action="append",
        metavar="A,B",
        help="a set of plugins as an axis (repeatable; '' for none); --plugin applies to every cell",
    )
    axes.add_argument(
        "--var-set",
        action="append",
        metavar="K=V,K=V",
        help="a set of adapter variables as an axis (repeatable; '' for none); --var applies to every cell",
    )
    add_cell_flags(sweep, per_adapter=True)
    add_run_behaviour_flags(sweep, echo=False)  # a cell's output goes to its log
    add_otlp_flags(sweep)
    where = sweep.add_argument_group("where and how")
    where.add_argument(
        "--out", type=Path, metavar="DIR", help="the sweep directory, SWEEPDIR (default: sweeps/<sweep-id>)"
    )
    where.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="cells at once (default: 1 locally, since cells that share a machine time each other's "
        "wall clock; on Ray: as many as the cluster has CPUs)",
    )
    where.add_argument(
        "--rerun",
        choices=["failed", "all"],
        help="also run again the cells that failed (or every cell); by default only missing ones run",
    )
    where.add_argument("--executor", choices=["local", "ray"], help="local (default) or ray")
    where.add_argument(
        "--ray-address", metavar="ADDR", help="the Ray cluster (head HOST:PORT; default: $RAY_ADDRESS)"
    )
    where.add_argument(
        "--ray-shared-dir",
        type=Path,
        metavar="DIR",
        help="a directory every Ray node and this machine see at the same path: cells write their run "
        "directories there instead of sending them back through Ray",
    )
    where.add_argument(
        "--spawn",
        choices=["fork", "exec"],
        default=argparse.SUPPRESS,
        help="how a local cell's process starts: fork (default; forked from the sweep, which has "
        "imported the runner once) or exec (python -m cab_trace run)",
    )
    where.add_argument("--dry-run", action="store_true", help="print the cells and where they go; run none")
    shown = sweep.add_argument_group(
        "the table at the end: the cells added up (the same as `cab-trace show SWEEPDIR --only groups`)"
    )
    add_table_flags(shown)
    sweep.add_argument("-q", "--quiet", action="store_true", help="no live view; the table only")
    keep_default = {"help", "format", "quiet", "dry_run", "group_by", "rerun", "sweep_file", "keep_workdir"}
    for action in sweep._actions:
        if action.dest not in keep_default:
            action.default = argparse.SUPPRESS  # only what was given overrides the sweep file
        if action.dest == "sweep_id":
            action.help = (
                "the sweep's id, first part of every cell id (default: the sweep file's, else sweep-<date>)"
            )
    sweep.set_defaults(handler=cmd_sweep, takes_command=True)


#: Flag destinations that are not keys of a sweep file.
_NOT_KEYS = {
    "handler", "takes_command", "agent_command", "sweep_file", "rerun", "group_by", "format", "quiet",
    "dry_run", "command", "spawn",
}  # fmt: skip


def flag_layer(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that were given, as a sweep file's keys (paths made absolute)."""
    out: dict[str, Any] = {}
    for dest, value in vars(args).items():
        key = dest.replace("_", "-")
        if dest in _NOT_KEYS or (key == "keep-workdir" and not value):
            continue
        out[key] = _flag_value(key, value)
    if args.keep_workdir:
        out["keep-workdir"] = True
    if getattr(args, "agent_command", None):
        out["command"] = list(args.agent_command)
    return out


def _flag_value(key: str, value: Any) -> Any:
    from cab_trace.sweep import spec

    if key == "var":
        return spec.parse_vars(value, "--var")
    if key == "var-set":
        return [spec.parse_var_set(v) for v in value]
    if key == "plugin-set":
        return [spec.parse_plugin_set(v) for v in value]
    if key in ("image", "endpoint"):
        return spec.parse_per_adapter(value, f"--{key}")
    if key in ("out", "ray-shared-dir"):
        return str(Path(value).absolute())
    if key == "task":
        return [str(Path(v).absolute()) for v in value]
    if key == "adapter":
        return [str(Path(v).absolute()) if v.endswith(".toml") or "/" in v else v for v in value]
    return value


def cmd_sweep(args: argparse.Namespace) -> int:  # noqa: PLR0912, PLR0915
    from cab_trace.harness.adapters import load_adapter
    from cab_trace.harness.task import Task
    from cab_trace.sweep import plan, spec, summary
    from cab_trace.sweep.orchestrate import Sweep

    file_layer = spec.read_sweep_file(args.sweep_file) if args.sweep_file else {}
    flags = flag_layer(args)
    given = spec.merge(file_layer, flags)
    sweep_id = given["sweep-id"]
    out = Path(given["out"]) if given["out"] else None
    recorded: dict[str, Any] = {}
    if out is None and sweep_id:
        out = Path("sweeps") / plan.segment(sweep_id, "sweep id")
    if out is not None:
        recorded, recorded_id = _recorded(out)
        sweep_id = sweep_id or recorded_id
    if not sweep_id:
        sweep_id = (
            args.sweep_file.stem
            if args.sweep_file
            else (out.name if out is not None else f"sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}")
        )
    if out is None:
        out = Path("sweeps") / plan.segment(sweep_id, "sweep id")
    if "/" in sweep_id or not sweep_id.strip():
        raise UsageError(f"--sweep-id {sweep_id!r}: a sweep id is one name (no '/')")
    full = spec.merge(recorded, file_layer, flags, {"sweep-id": sweep_id})
    if not full["adapter"] or not full["task"]:
        missing = "--adapter" if not full["adapter"] else "--task"
        raise UsageError(
            f"a sweep needs {missing}",
            hint="give the matrix with flags or --sweep-file, or --out a sweep directory to resume it",
        )
    executor_name = full["executor"]
    if executor_name != "ray":
        for key in ("ray-address", "ray-shared-dir"):
            if full[key] and key in flags:
                raise UsageError(f"--{key} needs --executor ray")
    elif full["otlp-header"]:
        # Header values are often credentials; a task's arguments are stored by Ray in the clear.
        raise UsageError(
            "--otlp-header with --executor ray would send its values through Ray",
            hint="set OTEL_EXPORTER_OTLP_HEADERS in each node's environment (where `ray start` runs) instead",
        )
    if full["command"] and not any(load_adapter(a).takes_command for a in full["adapter"]):
        raise UsageError("arguments after -- are only for the command adapter (--adapter command)")
    if withheld := spec.withheld(full):
        name = withheld[0]
        raise UsageError(
            f"{out / plan.SPEC_FILE}: its {name} held a secret, which a sweep directory does not keep",
            hint="give the agent's command after -- again"
            if name == "command"
            else f"give --{name} again, with the secret, as when the sweep began",
        )
    redactor = _sweep_redactor(full)

    tasks = []
    for path in spec.expand_tasks(full["task"]):
        task = Task.load(path)
        tasks.append(plan.TaskRef(task.id, str(Path(path).absolute())))
    adapters = [(ref, load_adapter(ref).name) for ref in full["adapter"]]
    cells = plan.expand(
        sweep_id,
        adapters,
        full["model"],
        tasks,
        full["repeats"],
        plugins=full["plugin"],
        variables=full["var"],
        plugin_sets=full["plugin-set"],
        var_sets=full["var-set"],
        hide=redactor.env,
    )
    by = summary.parse_axes(args.group_by)
    if args.dry_run:
        for cell in cells:
            print(f"{cell.cell_id} r{cell.repeat}\t{out / cell.path}")
        stderr(f"{PROG}: sweep {sweep_id}: {len(cells)} cells (dry run: none was run)")
        return 0

    executor = _executor(full, out, getattr(args, "spawn", "fork"))
    local = executor.name == "local"

    def preflight(jobs: Any) -> Any:
        from cab_trace.sweep import preflight as checks

        # Nothing is written there: it is where a checked cell's run directory would be.
        with tempfile.TemporaryDirectory(prefix="cab-trace-sweep-preflight-") as scratch:
            return checks.check(jobs, Path(scratch), local=local)

    sweep = Sweep(
        out,
        sweep_id,
        full,
        cells,
        executor,
        rerun=args.rerun,
        quiet=args.quiet,
        preflight=preflight,
        redactor=redactor,
    )
    try:
        result = sweep.run()
    except OSError as exc:  # the sweep directory itself cannot be written: one line, no traceback
        from cab_trace.harness.lifecycle import write_error

        raise write_error(exc.filename or out, exc) from None
    from cab_trace.sweep.runs import sweep_listing
    from cab_trace.sweep.runs_table import render

    # The one rendering of a sweep's groups: `show SWEEPDIR --only groups` prints the same.
    print(render(sweep_listing(out, result.lines), args.format or "table", only="groups", by=by), flush=True)
    _epilogue(result, sweep_id)
    return result.exit_code


def _sweep_redactor(full: Any) -> Redactor:
    """What the sweep's own files and console are redacted with: the secrets its cells' runs
    will know (the key, ``--secret-env`` values, secret-named variables of this environment,
    OTLP headers, secret-named ``--var`` values, endpoints' passwords), and the rules."""
    from cab_trace.harness.cell_helpers import handed_secrets, header_secrets
    from cab_trace.redact import Redactor, secrets_from_env

    env = os.environ
    found = [env.get(name, "") for name in [full["key-env"], *full["secret-env"]]]
    endpoints = full["endpoint"]
    endpoints = list(endpoints.values()) if isinstance(endpoints, dict) else [endpoints]
    headers = dict(h.partition("=")[::2] for h in full["otlp-header"])
    for variables in [full["var"] or {}, *full["var-set"]]:
        found += handed_secrets(variables, headers)
    for endpoint in endpoints:
        found += handed_secrets({"endpoint": endpoint}, {})
    found += [*secrets_from_env(env), *header_secrets(env)]
    return Redactor([s for s in dict.fromkeys(found) if s])


def _recorded(out: Path) -> tuple[dict[str, Any], str | None]:
    """What the sweep directory recorded of its spec (nothing if it holds no sweep yet)."""
    import orjson

    from cab_trace.sweep import plan, spec

    path = out / plan.SPEC_FILE
    if not path.is_file():
        return {}, None
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("spec"), dict):
        raise UsageError(f"{path}: not a sweep record")
    sweep_id = document.get("sweep_id")
    return spec.read_recorded(document["spec"], str(path)), sweep_id if isinstance(sweep_id, str) else None


def _executor(full: Any, out: Path, spawn: str) -> Any:
    if full["executor"] == "ray":
        try:
            from cab_trace.sweep.ray import RayExecutor
        except ImportError as exc:
            raise UsageError(
                f"--executor ray needs Ray ({exc})", hint="pip install 'cab-trace[ray]'"
            ) from None
        shared = Path(full["ray-shared-dir"]) if full["ray-shared-dir"] else None
        return RayExecutor(
            out,
            address=full["ray-address"],
            workers=full["workers"],
            shared_dir=shared,
            docker=full["runtime"] == "docker",
        )
    from cab_trace.sweep.local import LocalExecutor

    return LocalExecutor(out, full["workers"] or 1, spawn=spawn)


def _epilogue(result: Any, sweep_id: str) -> None:
    from cab_trace.show import safe_text
    from cab_trace.sweep import state
    from cab_trace.sweep.live import clock_text

    counts = state.counts(result.lines)
    said = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    stderr(
        f"{PROG}: sweep {safe_text(sweep_id, one_line=True)}: {said}; ran {result.ran} cell(s) in "
        f"{clock_text(result.elapsed_s)}; results in {result.sweep_dir}/"
    )
    for cause, labels in result.causes.items():
        stderr(f"  {len(labels)} cell(s) failed: {safe_text(cause, one_line=True)}")
        if hint := result.hints.get(cause):
            stderr(f"    hint: {safe_text(hint, one_line=True)}")
    if result.interrupted_by is not None:
        stderr("  run the same command again to run what is missing (finished cells are kept)")
    elif counts[state.FAILED]:
        stderr("  hint: `--rerun failed` runs the failed cells again (after fixing their cause)")
    stderr(f"  look at it: cab-trace show {result.sweep_dir}")
