"""A run's life and death: claiming its directory, its signals, and the leftovers of dead runs.

* **Claiming** a run directory is atomic: the trace file is created with ``O_EXCL``, so of
  any number of runs given the same ``--out`` exactly one gets it.
* **Signals**: the first SIGINT or SIGTERM raises :class:`Interrupted` (the run stops the
  agent gracefully and ends every span); a second one does not raise, it sets :data:`HURRY`
  so whatever is waiting for the agent kills it at once, and says so.
* **Ownership** of what a run leaves outside its run directory (the scratch workdir,
  containers) is proven by a lock, not a pid: see :mod:`cab_trace.harness.ownership`.
  :func:`owner_mark` (``host:pid:start``) only says, for a person reading a label, who made it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from cab_trace.errors import CabTraceError, UsageError

#: What stops a run gracefully: Ctrl-C, SIGTERM, and SIGHUP (its terminal closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: Set by a second SIGINT/SIGTERM: stop waiting for anything to end gracefully.
HURRY = threading.Event()


# -- exit codes ------------------------------------------------------------------------------


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code_and_signal(returncode: int) -> tuple[int, str | None]:
    """One convention for both runtimes, as shells report it: a process killed by signal N
    exits ``128+N``; the signal's name comes with it. ``returncode`` is Python's (negative for
    a signal) or already a shell-style code (Docker's)."""
    if returncode < 0:
        return 128 - returncode, signal_name(-returncode)
    if 128 < returncode < 128 + signal.NSIG:
        return returncode, signal_name(returncode - 128)
    return returncode, None


# -- interruption ----------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a run. ``exit_code`` is 128+N, as a shell would report it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum
        self.exit_code = 128 + signum
        #: What the run has to say about it (e.g. spans the collector never got).
        self.warnings: list[str] = []


class RunWriteError(CabTraceError):
    """A file of the run could not be written (a full disk, a size limit, an I/O error)."""

    exit_code = 1


#: The errors of a write the disk refuses: full, over the file size limit, over quota.
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})

#: What to do about a write that failed.
WRITE_HINT = (
    "free space on that disk (or lift the file size limit), or choose another --out, and run again; "
    "every line already written is complete"
)


def write_error(path: Path | str, exc: OSError) -> RunWriteError:
    """The one-line error for a write that failed, saying which file and what to do."""
    return RunWriteError(f"could not write {path}: {exc.strerror or exc}", hint=WRITE_HINT)


def attach_result(exc: BaseException, result: object) -> None:
    """Keep what a runtime knows of a launch it stopped (exit code, duration) on the interrupt."""
    vars(exc)["cab_trace_launch_result"] = result


def attached_result(exc: BaseException) -> Any:
    return vars(exc).get("cab_trace_launch_result")


@dataclass
class _SignalState:
    first: int | None = None
    pending: int | None = None
    shield: int = 0
    notify: Callable[[str], None] | None = None
    stops: list[threading.Event | None] = field(default_factory=list)


_state = _SignalState()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _state.first is None:
        _state.first = signum
        if _state.shield:
            _state.pending = signum  # raised when the shielded section ends
            for stop in _state.stops:
                if stop is not None:
                    stop.set()
            return
        raise Interrupted(signum)
    if not HURRY.is_set():
        HURRY.set()
        if _state.notify is not None:
            _state.notify(f"{signal_name(signum)} again: killing the agent now")


@contextlib.contextmanager
def handle_signals(notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """For the length of a run: SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` once; a second
    one sets :data:`HURRY` (and calls ``notify`` with what is being done) instead of raising,
    so the stopping can never be cut short half way. Main thread only."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in STOP_SIGNALS}
    _state.first, _state.pending, _state.shield, _state.notify = None, None, 0, notify
    HURRY.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.notify = None


def hurried() -> bool:
    """Whether a second signal asked for everything to be killed at once."""
    return HURRY.is_set()


@contextlib.contextmanager
def shielded(stop: threading.Event | None = None) -> Iterator[None]:
    """Hold a first SIGINT/SIGTERM until the block is done (e.g. while the Docker engine
    creates a container, so the container is always known to whoever must remove it); the
    signal sets ``stop``, if given, so the block can cut a wait short."""
    _state.shield += 1
    _state.stops.append(stop)
    try:
        yield
    finally:
        _state.shield -= 1
        _state.stops.pop()
        if not _state.shield and _state.pending is not None:
            signum, _state.pending = _state.pending, None
            raise Interrupted(signum)


# -- ownership -------------------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (None if unknown or gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rpartition(b")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def owner_mark(pid: int | None = None) -> str:
    """``host:pid:start`` of this process (or of ``pid``): for people reading a container's
    labels. It proves nothing (a pid means nothing in another PID namespace): never trust it."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid) or 0}"


# -- the run directory -----------------------------------------------------------------------


def claim_run_dir(run_dir: Path, trace_name: str) -> Path:
    """Create ``run_dir`` (if needed) and its trace file, atomically; returns the trace path.

    Raises:
        UsageError: ``run_dir`` is a file, is not empty, or another run claimed it first.
    """
    taken = UsageError(
        f"run directory {run_dir} already exists and is not empty",
        hint="choose another --out, or leave --out off to get a fresh runs/<run-id>/",
    )
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} is a file, not a directory", hint="choose a directory path")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if any(run_dir.iterdir()):
            raise taken
        trace = run_dir / trace_name
        fd = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise taken from None
    except NotADirectoryError:
        raise UsageError(f"cannot create run directory {run_dir}: a parent is a file") from None
    except OSError as exc:
        raise UsageError(f"cannot create run directory {run_dir}: {exc.strerror or exc}") from None
    os.close(fd)
    return trace
