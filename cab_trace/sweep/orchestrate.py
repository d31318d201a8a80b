"""Runs a sweep: the plan against the sweep directory's record, cells handed to an executor as
it has room, each finished cell's numbers read from its trace, the record kept current.

The executor (local processes, or Ray tasks) only starts, waits for and stops cells; everything
about states, resuming, causes and numbers is here, the same for both.

* **Resumable**: ``cells.jsonl`` says what each cell is; a cell runs again only when it is not
  done (``--rerun failed|all`` to say otherwise). A run directory left by an earlier attempt is
  moved to ``.attempts/<cell path>/<n>/`` first, never deleted.
* **Signals**: the first Ctrl-C (or SIGTERM, SIGHUP) stops starting cells and interrupts every
  running one as ``cab-trace run`` is interrupted; a second one interrupts them again, which
  kills their agents at once. Finished cells are kept; interrupted ones are never done.
* **One record at a time**: the sweep directory is locked while a sweep runs in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from cab_trace.errors import UsageError
from cab_trace.model import read_records
from cab_trace.model.axes import cell_numbers
from cab_trace.sweep import state
from cab_trace.sweep.job import Cause, CellJob, Finished, cell_job, error_from_log
from cab_trace.sweep.live import LiveView
from cab_trace.sweep.plan import (
    ATTEMPTS_DIR,
    CELLS_FILE,
    LOCK_FILE,
    LOGS_DIR,
    SPEC_FILE,
    SUMMARY_FILE,
    Cell,
)
from cab_trace.sweep.spec import SweepSpec

if TYPE_CHECKING:
    from cab_trace.redact import Redactor

#: How often, at most, cells.jsonl is rewritten while cells run (it is always written at the end).
_FLUSH_EVERY_S = 1.0
#: exit 1 of `run` for these reasons is the harness failing, not the agent.
_HARNESS_ERRORS = ("leak check", "could not write")
SPEC_VERSION = 1


class Executor(Protocol):
    name: str

    def capacity(self) -> int: ...
    def running(self) -> int: ...
    def prepare(self) -> None: ...
    def start(self, job: CellJob, log_path: Path) -> None: ...
    def wait(self, timeout: float, wake_fd: int | None = None) -> list[Finished]: ...
    def interrupt(self) -> None: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class SweepResult:
    sweep_dir: Path
    lines: list[dict[str, Any]]
    ran: int
    interrupted_by: int | None = None  # the signal that stopped the sweep
    causes: dict[str, list[str]] = field(default_factory=dict)  # cause -> labels of its cells
    elapsed_s: float = 0.0
    hints: dict[str, str] = field(default_factory=dict)  # cause -> what to do about it

    @property
    def exit_code(self) -> int:
        if self.interrupted_by is not None:
            return 128 + self.interrupted_by
        return 0 if all(line.get("state") == state.DONE for line in self.lines) else 1


def read_run(run_dir: Path) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """A finished run's numbers, the container span's error (why a launch failed), and why the
    trace could not be read (None when it could)."""
    from cab_trace.errors import CabTraceError

    try:
        records = list(read_records(run_dir))
    except CabTraceError as exc:
        return None, None, exc.message
    except OSError as exc:
        return None, None, f"{run_dir}: {exc.strerror or exc}"
    container_error = next((r.status.message for r in records if r.kind == "container" and r.is_error), None)
    return cell_numbers(records).to_dict(), container_error, None


@contextlib.contextmanager
def locked(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep directory for this process (another sweep in it is refused)."""
    path = sweep_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip()
            raise UsageError(
                f"another cab-trace sweep is running in {sweep_dir}" + (f" (pid {other})" if other else ""),
                hint="wait for it to end, or stop it (Ctrl-C); running it again resumes it",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # the lock goes with it


class Sweep:
    """One run of a sweep in its directory."""

    def __init__(
        self,
        sweep_dir: Path,
        sweep_id: str,
        spec: SweepSpec,
        plan: Sequence[Cell],
        executor: Executor,
        *,
        rerun: str | None = None,
        view_stream: Any = None,
        quiet: bool = False,
        preflight: Callable[[Sequence[CellJob]], Mapping[int, Cause]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor | None = None,
    ) -> None:
        self.sweep_dir = sweep_dir
        #: What sweep.json keeps of the spec is redacted with this (the cells get the spec whole).
        self.redactor = redactor
        self.sweep_id = sweep_id
        self.spec = spec
        self.plan = list(plan)
        self.executor = executor
        self.rerun = rerun
        self.stream = view_stream if view_stream is not None else sys.stderr
        self.quiet = quiet
        self.preflight = preflight
        self.clock = clock
        self.lines: list[dict[str, Any]] = []
        self._dirty = False
        self._last_flush = 0.0
        self._signals: list[int] = []
        self._handled = 0
        self._causes: dict[str, list[str]] = {}
        self._hints: dict[str, str] = {}
        self._start_error = ""

    # -- the record --------------------------------------------------------------------------

    def check_directory(self) -> None:
        """Refuse a directory that holds another sweep (by id) or is not a sweep's."""
        spec_path = self.sweep_dir / SPEC_FILE
        if spec_path.is_file():
            try:
                recorded = orjson.loads(spec_path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise UsageError(f"{spec_path}: cannot be read ({exc})") from None
            other = recorded.get("sweep_id") if isinstance(recorded, dict) else None
            if other and other != self.sweep_id:
                raise UsageError(
                    f"{self.sweep_dir} holds sweep {other!r}, not {self.sweep_id!r}",
                    hint=f"use another --out, or --sweep-id {other} to resume that sweep",
                )
        elif (
            self.sweep_dir.is_dir()
            and not (self.sweep_dir / CELLS_FILE).exists()
            and any(p.name != LOCK_FILE for p in self.sweep_dir.iterdir())
        ):
            raise UsageError(
                f"--out {self.sweep_dir} is not empty and holds no sweep",
                hint="choose a new directory for the sweep (or the one of the sweep to resume)",
            )

    def _write_spec(self) -> None:
        document = {
            "version": SPEC_VERSION,
            "sweep_id": self.sweep_id,
            "spec": self.spec.recorded(self.redactor),
        }
        state.write_atomic(self.sweep_dir / SPEC_FILE, orjson.dumps(document, option=orjson.OPT_INDENT_2))

    def flush(self, force: bool = False) -> None:
        now = self.clock()
        if not force and (not self._dirty or now - self._last_flush < _FLUSH_EVERY_S):
            return
        state.write_atomic(self.sweep_dir / CELLS_FILE, state.encode_cells(self.lines))
        self._dirty = False
        self._last_flush = now

    def write_summary(self) -> None:
        document = state.summary_document(self.sweep_id, self.lines)
        state.write_atomic(self.sweep_dir / SUMMARY_FILE, orjson.dumps(document, option=orjson.OPT_INDENT_2))

    # -- running -----------------------------------------------------------------------------

    def run(self) -> SweepResult:
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.check_directory()
        with locked(self.sweep_dir):
            return self._run_locked()

    def _run_locked(self) -> SweepResult:
        started = self.clock()
        previous = state.read_cells(self.sweep_dir / CELLS_FILE)
        self.lines, to_run = state.merge_plan(self.plan, previous, self.rerun)
        jobs = {i: cell_job(self.spec, self.plan[i], i) for i in to_run}
        causes = dict(self.preflight(list(jobs.values()))) if self.preflight and jobs else {}
        # Only now: a command line `run` refuses records nothing, so the next try is not held to it.
        self._write_spec()
        for index, cause in causes.items():
            self.lines[index] = state.finished_line(self.lines[index], None, None, error=cause.text)
            self._cause(cause.text, jobs[index].label, cause.hint)
        queue = deque(i for i in to_run if i not in causes)
        self._dirty = True
        self.flush(force=True)
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        already = state.counts(self.lines)
        view = LiveView(
            self.stream,
            tty=tty,
            title=self.sweep_id,
            to_run=len(queue),
            already={"done": already[state.DONE], "failed": already[state.FAILED]},
            clock=self.clock,
            enabled=not self.quiet,
        )
        for text, labels in self._causes.items():
            view.note(_cause_text(text, labels))
        if not queue:
            view.note(
                "nothing to run: every cell is done"
                + (" or failed (--rerun failed runs those)" if already[state.FAILED] else "")
            )
        with self._signal_handling() as wake_fd:
            try:
                if queue:
                    self.executor.prepare()
                ran, interrupted_by = self._loop(queue, jobs, view, wake_fd)
            except BaseException:
                self.executor.kill()
                raise
            finally:
                self.executor.close()
                self.flush(force=True)
                self.write_summary()
                view.close()
        return SweepResult(
            self.sweep_dir, self.lines, ran, interrupted_by, self._causes, self.clock() - started, self._hints
        )

    def _loop(
        self, queue: deque[int], jobs: Mapping[int, CellJob], view: LiveView, wake_fd: int | None
    ) -> tuple[int, int | None]:
        """Start cells as the executor has room, take the finished ones, stop on a signal."""
        interrupted_by: int | None = None
        ran = 0
        while queue or self.executor.running():
            while queue and not self._signals and self.executor.running() < self.executor.capacity():
                index = queue.popleft()
                ran += 1
                view.started(jobs[index].label)
                if not self._start(jobs[index]):
                    self._finish(jobs[index], Finished(index, None, error=self._start_error), view)
            for finished in self.executor.wait(0.2, wake_fd):
                self._finish(jobs[finished.index], finished, view)
            if len(self._signals) > self._handled:
                self._handled = len(self._signals)
                if interrupted_by is None:
                    interrupted_by = self._signals[0]
                    queue.clear()  # cells not started stay as they were
                    view.note(
                        f"{_signal_text(interrupted_by)}: stopping {self.executor.running()} running "
                        "cell(s); again to kill their agents at once"
                    )
                else:
                    view.note("again: killing the running cells' agents at once")
                self.executor.interrupt()
            self.flush()
            view.tick()
        return ran, interrupted_by

    def _start(self, job: CellJob) -> bool:
        """Start a cell; False (the reason in ``_start_error``) when its process could not start."""
        line = self.lines[job.index]
        run_dir = self.sweep_dir / job.rel_path
        log = self.log_path(job)
        attempt = int(line.get("attempts") or 0)
        self.lines[job.index] = state.start_line(line, job.rel_path)
        self._dirty = True
        try:
            if run_dir.exists() or log.exists():
                self._set_aside(job, attempt)
            self.executor.start(job, log)
        except OSError as exc:  # no process, no file: the cell fails, the sweep goes on
            self._start_error = f"could not start: {exc.strerror or exc}" + (
                f": {exc.filename}" if exc.filename else ""
            )
            return False
        return True

    def log_path(self, job: CellJob) -> Path:
        return self.sweep_dir / LOGS_DIR / f"{job.rel_path}.log"

    def _set_aside(self, job: CellJob, attempt: int) -> None:
        """Move an earlier attempt's run directory and log out of the cell's way, keeping both."""
        base = self.sweep_dir / ATTEMPTS_DIR / job.rel_path
        base.mkdir(parents=True, exist_ok=True)
        name = str(attempt or 0)
        n = 0
        while (base / name).exists() or (base / f"{name}.log").exists():
            n += 1
            name = f"{attempt or 0}.{n}"
        run_dir, log = self.sweep_dir / job.rel_path, self.log_path(job)
        if run_dir.exists():
            os.replace(run_dir, base / name)
        if log.exists():
            os.replace(log, base / f"{name}.log")

    def _finish(self, job: CellJob, finished: Finished, view: LiveView) -> None:
        line = self.lines[job.index]
        numbers = container_error = None
        error = finished.error
        if finished.exit_code is not None:
            numbers, container_error, trace_error = read_run(self.sweep_dir / job.rel_path)
            logged = self._log_error(job)
            if error is None and finished.exit_code not in (0, 1) and not finished.interrupted:
                error = logged or (f"cab-trace run exited with code {finished.exit_code}")
            if error is None and finished.exit_code == 1 and logged and logged.startswith(_HARNESS_ERRORS):
                error = logged
            if error is None and numbers is None and not finished.interrupted:
                error = f"the run left no readable trace: {trace_error}"
        new = state.finished_line(
            line,
            finished.exit_code,
            numbers,
            interrupted=finished.interrupted,
            error=error,
            container_error=container_error,
            node=finished.node,
        )
        self.lines[job.index] = new
        self._dirty = True
        why = ""
        if new["state"] == state.FAILED:
            cause = str(new.get("error", ""))
            if cause not in self._causes:
                view.note(f"{job.label}: {cause}")
            else:
                why = "(failed as above)"
            self._cause(cause, job.label, finished.hint)
        wall = new.get("wall_ms")
        view.finished(
            job.label,
            new["state"],
            new.get("passed") if isinstance(new.get("passed"), bool) else None,
            wall / 1000 if isinstance(wall, int | float) else finished.wall_s,
            why,
        )

    def _log_error(self, job: CellJob) -> str | None:
        try:
            with open(self.log_path(job), "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 16384))
                text = handle.read().decode(errors="replace")
        except OSError:
            return None
        return error_from_log(text)

    def _cause(self, cause: str, label: str, hint: str | None = None) -> None:
        self._causes.setdefault(cause, []).append(label)
        if hint:
            self._hints.setdefault(cause, hint)

    @contextlib.contextmanager
    def _signal_handling(self) -> Iterator[int | None]:
        """SIGINT, SIGTERM, SIGHUP are noted (and wake the loop); the loop does the stopping."""
        if threading.current_thread() is not threading.main_thread():  # signals are the main thread's
            yield None
            return
        read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

        def noted(signum: int, frame: FrameType | None) -> None:
            self._signals.append(signum)

        previous = {sig: signal.signal(sig, noted) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        try:
            yield read_fd
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(read_fd)
            os.close(write_fd)


def _signal_text(signum: int) -> str:
    said = {
        int(signal.SIGINT): "interrupted",
        int(signal.SIGTERM): "terminated",
        int(signal.SIGHUP): "hung up",
    }
    return said.get(signum, f"signal {signum}")


def _cause_text(cause: str, labels: Sequence[str]) -> str:
    first = labels[0] if labels else ""
    more = f" and {len(labels) - 1} more" if len(labels) > 1 else ""
    return f"{len(labels)} cell(s) cannot start: {cause} ({first}{more}); they are marked failed"
