"""The Ray executor: each cell a Ray task, on whichever node has room and the runtime it needs.

The only module that imports Ray (``pip install 'cab-trace[ray]'``). It schedules nothing itself:
Ray places each task on a node with a free CPU (and, for a Docker cell, a free unit of the
custom resource ``docker``, which a node with an engine advertises: ``ray start --resources
'{"docker": 4}'``), retries a task whose node or worker died (``max_retries``), and rebuilds a
result that was lost with its node by running its task again.

On the node, the task runs ``cab-trace run`` for the cell (a complete run, as on one machine,
in a process of its own, forked by the worker's cell starter: :mod:`cab_trace.sweep.zygote`) in
a scratch directory, and sends the run directory back as its result: a gzipped
tar, at most :data:`MAX_RESULT_BYTES` (or, with ``--ray-shared-dir``, it writes the run
directory there and sends back only its path). The sweep unpacks it under the sweep directory;
each task's result is taken once, so a cell that ran twice (its node died after it finished,
before its result was fetched) is counted once.

**The key never travels through Ray.** Tasks carry the command line (the key's *name*,
``--key-env``), never its value; no ``runtime_env`` is set. A node's cells read the key from
the node's own environment, which Ray's workers inherit from the raylet: set it where
``ray start`` runs on each node. The run's log that comes back is redacted on the node first.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from cab_trace.errors import AgentNotInstalled, UsageError
from cab_trace.sweep.job import CellJob, Finished, error_from_log
from cab_trace.sweep.plan import INCOMING_DIR

#: The largest run directory a task sends back through Ray (gzipped); larger ones need a shared dir.
MAX_RESULT_BYTES = 256 * 1024 * 1024
#: Ray retries a cell whose node or worker died this many times (then it is failed).
MAX_RETRIES = 3
#: Where attempts write their run directories in a shared directory.
SHARED_ATTEMPTS = ".cab-trace-attempts"
#: How long a cell may take to stop once the sweep is interrupted, before it is let go.
STOP_WAIT_S = 120.0


def node_name() -> str:
    """This node as the run span records it: its host name and the start of its Ray node id."""
    node_id = ray.get_runtime_context().get_node_id() or ""
    return f"{socket.gethostname()}/{node_id[:12]}" if node_id else socket.gethostname()


# -- on the node ---------------------------------------------------------------------------------


def _pack(root: Path, limit: int) -> bytes:
    """``root`` as a gzipped tar (paths relative to it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
            if buffer.tell() > limit:
                raise _TooLarge(buffer.tell())
    return buffer.getvalue()


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def unpack(data: bytes, dest: Path) -> None:
    """Unpack a result into ``dest``: regular files and directories only, nothing outside it."""
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        for member in members:
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                raise ValueError(f"a result holds {member.name!r}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # Python before 3.11.4: the members were checked above
            tar.extractall(dest, members=members)  # noqa: S202


def _redact(text: str, key_env: str) -> str:
    from cab_trace.redact import Redactor, secrets_from_env

    values = [v for v in [os.environ.get(key_env)] if v]
    return Redactor([*values, *secrets_from_env(os.environ)]).text(text)


def _preexec(parent: int) -> None:
    from cab_trace.sweep.local import die_with_parent

    die_with_parent(parent)


_zygote: subprocess.Popen[bytes] | None = None


def _starter() -> subprocess.Popen[bytes]:
    """This worker's cell starter (cab_trace.sweep.zygote), started on its first cell and kept."""
    global _zygote  # noqa: PLW0603 - one per worker process, for the worker's life
    if _zygote is None or _zygote.poll() is not None:
        parent = os.getpid()
        _zygote = subprocess.Popen(
            [sys.executable, "-m", "cab_trace.sweep.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lambda: _preexec(parent),  # noqa: PLW1509 - only a prctl call
        )
    return _zygote


class _Cell:
    """One cell's process, forked by the worker's cell starter."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.starter = _starter()
        assert self.starter.stdin is not None and self.starter.stdout is not None
        self.starter.stdin.write(json.dumps({"argv": argv, "log": str(log_path)}).encode() + b"\n")
        self.starter.stdin.flush()
        self.pid = int(self._read(None)["pid"])

    def _read(self, deadline: float | None) -> dict[str, Any]:
        stdout = self.starter.stdout
        assert stdout is not None
        while True:
            # Short waits, so that an interrupt (ray.cancel) is raised here promptly.
            timeout = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError
            ready, _, _ = select.select([stdout], [], [], timeout)
            if ready:
                line = stdout.readline()
                if not line:
                    raise RuntimeError("the cell starter died")
                return dict(json.loads(line))

    def wait(self, deadline: float | None = None) -> int:
        return int(self._read(deadline)["exit"])

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)


def run_cell(  # noqa: PLR0915 - one task's whole life on its node, in order
    job: CellJob, task_archive: bytes, adapter_text: str | None, shared_dir: str | None, limit: int
) -> dict[str, Any]:
    """The Ray task: run one cell on this node and return its run directory (or where it is)."""
    from cab_trace.harness.ownership import Scratch

    node = node_name()
    scratch_dir = Scratch.create("ray-cell")  # locked while this worker lives: gc removes it once dead
    scratch = scratch_dir.path
    interrupted = False
    try:
        task_dir = scratch / "task"
        unpack(task_archive, task_dir)
        adapter = job.adapter_ref
        if adapter_text is not None:
            adapter_file = scratch / Path(job.adapter_ref).name
            adapter_file.write_text(adapter_text, encoding="utf-8")
            adapter = str(adapter_file)
        if shared_dir:
            out = Path(shared_dir) / SHARED_ATTEMPTS / uuid.uuid4().hex / "run"
            out.parent.mkdir(parents=True)
        else:
            out = scratch / "run"
        log_path = scratch / "run.log"
        argv = job.run_argv(str(out), node=node, task_dir=str(task_dir), adapter=adapter)
        started = time.monotonic()
        cell = _Cell(argv, log_path)
        try:
            code = cell.wait()
        except KeyboardInterrupt:  # ray.cancel: stop the cell as `run` stops on Ctrl-C
            interrupted = True
            cell.signal(signal.SIGINT)
            deadline = time.monotonic() + STOP_WAIT_S
            while True:
                try:
                    code = cell.wait(deadline)
                    break
                except KeyboardInterrupt:
                    cell.signal(signal.SIGINT)  # again: the agent is killed at once
                except TimeoutError:
                    cell.signal(signal.SIGKILL)
                    code = cell.wait()
                    break
        log_text = _redact(log_path.read_text(errors="replace")[-16384:], job.key_env)
        result: dict[str, Any] = {
            "node": node,
            "key_missing": not os.environ.get(job.key_env),
            "exit_code": code,
            "interrupted": interrupted,
            "log": log_text,
            "wall_s": time.monotonic() - started,
        }
        if not out.is_dir():
            return result
        if shared_dir:
            result["shared_path"] = str(out)
        else:
            try:
                result["archive"] = _pack(out, limit)
            except _TooLarge as exc:
                result["error"] = (
                    f"its run directory is over {limit // 2**20} MiB ({exc.size // 2**20} MiB so far, "
                    "gzipped); use --ray-shared-dir to collect it"
                )
        return result
    finally:
        scratch_dir.remove()


# -- on the machine that runs the sweep --------------------------------------------------------


@dataclass
class _InFlight:
    job: CellJob
    ref: Any
    started: float
    log_path: Path


def _task_archive(task_dir: str) -> bytes:
    try:
        return _pack(Path(task_dir), MAX_RESULT_BYTES)
    except _TooLarge:
        raise UsageError(
            f"task {task_dir} is over {MAX_RESULT_BYTES // 2**20} MiB gzipped: too large to send to the nodes"
        ) from None


class RayExecutor:
    """Runs cell jobs as Ray tasks; at most ``workers`` in flight (default: the cluster's CPUs)."""

    name = "ray"

    def __init__(
        self,
        sweep_dir: Path,
        address: str | None = None,
        workers: int | None = None,
        shared_dir: Path | None = None,
        docker: bool = False,
    ) -> None:
        self.sweep_dir = sweep_dir
        self.address = address
        self.workers = workers
        self.shared_dir = shared_dir
        self.docker = docker
        self._capacity = workers or 1
        self._in_flight: dict[Any, _InFlight] = {}
        self._tasks: dict[str, Any] = {}
        self._remote: Any = None
        self._interrupts = 0

    def prepare(self) -> None:
        try:
            ray.init(
                address=self.address,
                log_to_driver=False,  # the cells print nothing; Ray's own chatter stays in its logs
                logging_level=logging.WARNING,
            )
        except ConnectionError as exc:
            raise UsageError(
                f"cannot reach the Ray cluster{f' at {self.address}' if self.address else ''}: {exc}",
                hint="start it with `ray start --head` (and `ray start --address HEAD:PORT` on each node), "
                "then --ray-address HEAD:PORT",
            ) from None
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        if self.docker and not resources.get("docker"):
            raise UsageError(
                "no node of the Ray cluster has the `docker` resource, so Docker cells would wait forever",
                hint="start the nodes that have a Docker engine with `ray start ... --resources "
                "'{\"docker\": N}'` (N: how many Docker cells the node takes at once)",
            )
        if self.workers is None:
            cpus = int(resources.get("CPU", 1))
            self._capacity = max(1, min(cpus, int(resources["docker"])) if self.docker else cpus)
        self._remote = ray.remote(run_cell)

    def capacity(self) -> int:
        return self._capacity

    def running(self) -> int:
        return len(self._in_flight)

    def start(self, job: CellJob, log_path: Path) -> None:
        if job.task_dir not in self._tasks:
            self._tasks[job.task_dir] = ray.put(_task_archive(job.task_dir))
        adapter_text = None
        if job.adapter_ref.endswith(".toml") or os.sep in job.adapter_ref:
            adapter_text = Path(job.adapter_ref).read_text(encoding="utf-8")
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": MAX_RETRIES, "retry_exceptions": False}
        if job.docker:
            options["resources"] = {"docker": 1}
        shared = str(self.shared_dir.absolute()) if self.shared_dir else None
        ref = self._remote.options(**options).remote(
            job, self._tasks[job.task_dir], adapter_text, shared, MAX_RESULT_BYTES
        )
        self._in_flight[ref] = _InFlight(job, ref, time.monotonic(), log_path)

    def wait(self, timeout: float, wake_fd: int | None = None) -> list[Finished]:
        if not self._in_flight:
            time.sleep(timeout)
            return []
        refs = list(self._in_flight)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout, fetch_local=True)
        return [self._gather(self._in_flight.pop(ref)) for ref in ready]

    def _gather(self, flight: _InFlight) -> Finished:
        """Take one task's result (once): put its run directory in place, its log beside it."""
        from ray.exceptions import RayTaskError, TaskCancelledError

        job = flight.job
        wall = time.monotonic() - flight.started
        try:
            result = ray.get(flight.ref)
        except TaskCancelledError:
            return Finished(job.index, None, interrupted=True, wall_s=wall)
        except RayTaskError as exc:
            return Finished(
                job.index, None, error=f"its Ray task failed: {type(exc.cause).__name__}", wall_s=wall
            )
        except ray.exceptions.RayError as exc:  # its node or worker died more often than Ray retries
            return Finished(job.index, None, error=f"Ray gave up on it: {type(exc).__name__}", wall_s=wall)
        node = result.get("node")
        if "exit_code" not in result:
            return Finished(job.index, None, error=result.get("error"), node=node, wall_s=wall)
        flight.log_path.parent.mkdir(parents=True, exist_ok=True)
        flight.log_path.write_text(result.get("log", ""), encoding="utf-8")
        target = self.sweep_dir / job.rel_path
        error, hint = result.get("error"), None
        refused = error_from_log(result.get("log", "")) if result["exit_code"] == 2 else None
        if refused is not None and AgentNotInstalled.said_in(refused):
            # The node's `run` looked on the node's PATH (the one `ray start` had there): one
            # cause per node, whose cells are failed; the other nodes' cells are not.
            error = f"on node {node}: {refused}"
            hint = (
                "install it on that node, or start the node (`ray start`) with a PATH that holds it: "
                "a cell's agent gets its node's environment, not this machine's"
            )
        elif result["exit_code"] == 2 and result.get("key_missing"):
            # Most likely why `run` refused the cell there: say where the key must be.
            refused = refused or "cab-trace run refused the cell"
            host = str(node).split("/", 1)[0]
            error = f"{refused} (node {host} has no ${job.key_env}: set it where `ray start` runs)"
        try:
            if "archive" in result:
                incoming = self.sweep_dir / INCOMING_DIR / uuid.uuid4().hex
                unpack(result["archive"], incoming)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(incoming, target)
            elif "shared_path" in result:
                target.parent.mkdir(parents=True, exist_ok=True)
                _move(Path(result["shared_path"]), target)
        except (OSError, ValueError, tarfile.TarError) as exc:
            error = f"its run directory could not be put in place: {exc}"
        return Finished(
            job.index,
            result["exit_code"],
            # Stopped by us, not by itself: a cell that ended on its own meanwhile is done.
            interrupted=result["exit_code"] >= 128
            and (bool(result.get("interrupted")) or self._interrupts > 0),
            error=error,
            hint=hint,
            node=node,
            wall_s=float(result.get("wall_s", wall)),
        )

    def interrupt(self) -> None:
        """First: every cell stops as `run` does on Ctrl-C; then: their workers are ended, and the
        cells (told by their parent's death) kill their agents at once."""
        self._interrupts += 1
        for ref in self._in_flight:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=self._interrupts > 1)

    def kill(self) -> None:
        for ref in self._in_flight:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            shutil.rmtree(self.sweep_dir / INCOMING_DIR, ignore_errors=True)
        if ray.is_initialized():
            ray.shutdown()


def _move(source: Path, target: Path) -> None:
    """Move a run directory from the shared directory into the sweep (a copy across file systems)."""
    try:
        os.rename(source, target)
    except OSError:
        shutil.copytree(source, target)
        shutil.rmtree(source, ignore_errors=True)
    with contextlib.suppress(OSError):
        source.parent.rmdir()  # the attempt's own directory, now empty
