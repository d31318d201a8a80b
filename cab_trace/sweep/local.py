"""The local executor: up to N cells at once on this machine, each a ``cab-trace run`` process.

Each cell runs in a process of its own: a crash or a hang stays in its cell, each cell handles
its signals as ``run`` does, and each has its own recording proxy and span receiver (ports
chosen by the OS), scratch directory (``mkdtemp``), containers (named by the run's id) and run
directory (the cell's path in the sweep directory), so nothing collides.

How the process starts (``spawn``):

* ``fork`` (the default): forked from the sweep's own process, which has imported the runner
  once, and calls the same entry point as ``python -m cab_trace run``. A short cell spends most
  of its CPU starting an interpreter and importing (measured in ``make bench``: about 0.2 s of
  the 0.25 s of CPU of a cell whose agent exits at once); a fork shares the imported pages and
  pays none of it. Safe because the sweep's process is single-threaded when it forks (checked;
  with another thread alive it falls back to ``exec``).
* ``exec``: ``python -m cab_trace run ...`` (what the Ray executor runs on its nodes).

Each cell starts in a session of its own (a Ctrl-C on the terminal reaches the sweep only,
which passes it on exactly once per cell) and is told to stop (SIGTERM) if the sweep's process
dies (``PR_SET_PDEATHSIG``), so nothing is left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cab_trace.sweep.job import CellJob, Finished

PR_SET_PDEATHSIG = 1
SPAWN_MODES = ("fork", "exec")


def _prctl_function() -> object | None:
    """libc's prctl, looked up before any fork (a forked child must not load libraries)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except OSError:
        return None


_PRCTL = _prctl_function()


def die_with_parent(parent: int) -> None:
    """In a child: SIGTERM when the parent dies; exit now if it already has."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # type: ignore[operator]
    if os.getppid() != parent:
        os._exit(143)


def fork_cell(argv: list[str], log_fd: int) -> int:
    """Fork a process that runs ``cab-trace <argv>`` (stderr to ``log_fd``) and exits; its pid.

    The caller must be single-threaded (a fork copies only the calling thread, so a lock another
    thread held stays held in the child) and have imported the runner (that is the point).
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()  # nothing buffered is written twice
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    # The child: never returns into the caller's code.
    code = 70
    try:
        # A parent may block signals in its threads (Ray's workers do); a blocked SIGINT would
        # never reach the run, so the cell starts with none blocked.
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.setsid()
        die_with_parent(parent)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 65536)  # the sweep's lock, pidfds and logs are not the cell's
        from cab_trace.cli import main

        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - a child must exit here, whatever happened
        import traceback

        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def preload() -> None:
    """Import what a forked cell runs, once, before the first fork."""
    import cab_trace.cli
    import cab_trace.harness.runner
    import cab_trace.otel.setup  # noqa: F401


@dataclass
class _Running:
    job: CellJob
    pid: int
    pidfd: int
    started: float
    proc: subprocess.Popen[bytes] | None = None


class LocalExecutor:
    """Runs cell jobs as processes on this machine, ``workers`` at a time."""

    name = "local"

    def __init__(self, sweep_dir: Path, workers: int, spawn: str = "fork") -> None:
        if spawn not in SPAWN_MODES:
            raise ValueError(spawn)
        self.sweep_dir = sweep_dir
        self.workers = workers
        self.spawn = spawn
        self._running: dict[int, _Running] = {}
        self._interrupts = 0

    def capacity(self) -> int:
        return self.workers

    def running(self) -> int:
        return len(self._running)

    def prepare(self) -> None:
        """Import what a forked cell runs, once, before the first fork."""
        if self.spawn == "fork":
            import cab_trace.cli
            import cab_trace.harness.runner
            import cab_trace.otel.setup  # noqa: F401

    def start(self, job: CellJob, log_path: Path) -> None:
        run_dir = self.sweep_dir / job.rel_path
        argv = job.run_argv(str(run_dir))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            proc = None
            if self.spawn == "fork" and threading.active_count() == 1:
                pid = fork_cell(argv, log_fd)
            else:
                parent = os.getpid()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "cab_trace", *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log_fd,
                    start_new_session=True,
                    preexec_fn=lambda: die_with_parent(parent),  # noqa: PLW1509 - only a prctl call
                )
                pid = proc.pid
        finally:
            os.close(log_fd)
        self._running[pid] = _Running(job, pid, os.pidfd_open(pid), time.monotonic(), proc)

    def wait(self, timeout: float, wake_fd: int | None = None) -> list[Finished]:
        """Cells that ended within ``timeout`` seconds (returns early on ``wake_fd``)."""
        fds = [r.pidfd for r in self._running.values()]
        if wake_fd is not None:
            fds.append(wake_fd)
        if not fds:
            time.sleep(timeout)
            return []
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            ready = []
        if wake_fd is not None and wake_fd in ready:
            with contextlib.suppress(OSError):
                os.read(wake_fd, 4096)
        out: list[Finished] = []
        for pid, running in list(self._running.items()):
            if running.pidfd not in ready:
                continue
            try:
                waited, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                waited, status = pid, 0
            if not waited:
                continue
            os.close(running.pidfd)
            del self._running[pid]
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            out.append(
                Finished(
                    index=running.job.index,
                    exit_code=code,
                    interrupted=self._interrupts > 0 and code in (130, 143, 129, 137),
                    wall_s=time.monotonic() - running.started,
                )
            )
        return out

    def interrupt(self) -> None:
        """Stop every running cell as ``run`` stops on Ctrl-C; a second call, as on a second one."""
        self._interrupts += 1
        for pid in self._running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)

    def kill(self) -> None:
        """The sweep itself is failing: end every cell now (they still end their spans)."""
        for pid in self._running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def close(self) -> None:
        for running in self._running.values():
            with contextlib.suppress(OSError):
                os.close(running.pidfd)
