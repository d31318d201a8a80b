"""One container while it runs and as it ends: its output pumped to the run, a thread that waits
for it (and notices the engine going away), stopping it with a grace period, the watchdog that
kills it if `cab-trace run` dies, and whether the kernel's OOM killer ended it.

Separate from :mod:`cab_trace.harness.docker_runtime`, which decides what container to make and
what its run means; this is the threads and processes that watch one container, the same for
every launch.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cab_trace.harness import lifecycle
from cab_trace.harness.docker_engine import _engine_errors, _is_not_found
from cab_trace.harness.runtime import OutputFn

STOP_GRACE_S = 2
#: How long one question to an engine that went away may take before it counts as unanswered.
_PROBE_TIMEOUT_S = 3


def _oom_killed(container: Any) -> bool:
    """Whether the engine says the container's process was killed for lack of memory."""
    try:
        container.reload()
    except _engine_errors():
        return False
    return bool(container.attrs.get("State", {}).get("OOMKilled"))


def _pump(stream: Any, on_output: OutputFn) -> None:
    # The engine closes the stream when the container goes; a broken connection ends it too.
    with contextlib.suppress(*_engine_errors()):
        for item in stream:
            out, err = (item, None) if isinstance(item, bytes) else item
            if out:
                on_output("stdout", out)
            if err:
                on_output("stderr", err)


#: The watchdog script (stdlib only), run by this Python without site packages.
WATCHDOG = Path(__file__).with_name("watchdog.py")


class _Watchdog:
    """`watchdog.py` watching one container: see that module for why."""

    def __init__(self, proc: subprocess.Popen[bytes], control: int) -> None:
        self._proc = proc
        self._control = control

    @classmethod
    def start(cls, container_id: str) -> _Watchdog | None:
        """None where it cannot reach the engine the way the SDK does (TLS, ssh): `gc` remains."""
        host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if os.environ.get("DOCKER_TLS_VERIFY") or not host.startswith(("unix://", "tcp://")):
            return None
        read, write = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WATCHDOG), str(read), host, container_id],
                pass_fds=(read,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={"PATH": os.defpath},
            )
        except OSError:
            os.close(write)
            return None
        finally:
            os.close(read)
        return cls(proc, write)

    def disarm(self) -> None:
        """We are done with the container: the watchdog leaves it alone and exits."""
        with contextlib.suppress(OSError):
            os.write(self._control, b"x")
        with contextlib.suppress(OSError):
            os.close(self._control)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class _Waiter:
    """Waits for the container in a thread, so the launch can watch its deadline, an abort
    (output that cannot be written), a second interrupt and the engine going away at once."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self._done = threading.Event()
        self._cancelled = threading.Event()
        self.status: int | None = None
        self.ended_at: float | None = None
        #: When the engine stopped answering (None: it did not), and whether it is back since.
        self.lost_at: float | None = None
        self._back = threading.Event()
        self._prober: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def cancel(self) -> None:
        """Stop asking an engine that does not answer (the launch is over)."""
        self._cancelled.set()

    def _run(self) -> None:
        while not self._done.is_set() and not self._cancelled.is_set():
            if self.lost_at is not None and not self._back.is_set():
                if self._probe() is None:
                    continue  # still away
                self._back.set()
            try:
                self.status = int(self._container.wait()["StatusCode"])
                self.ended_at = time.monotonic()
            except Exception:  # noqa: BLE001 - a dropped connection: ask again, unless it is gone
                state = self._probe()
                if state is None:
                    if self.lost_at is None:
                        self.lost_at = time.monotonic()  # the engine does not answer
                    continue
                if self.lost_at is not None:
                    self._back.set()
                if state.get("Status") in ("exited", "dead"):
                    self.status = int(state.get("ExitCode", 137))
                    self.ended_at = time.monotonic()
                else:
                    time.sleep(0.1)
                    continue
            self._done.set()

    def _probe(self) -> dict[str, Any] | None:
        """The container's state, asked of the engine with a short timeout (None: it does not
        answer; the container gone: the wait is over). A restarting engine can take a request
        and not answer it for as long as the main client would wait (a minute)."""
        try:
            if self._prober is None:
                import docker

                # The same engine as the runtime's client (connect(): the environment's).
                version = self._container.client.api.api_version
                self._prober = docker.from_env(timeout=_PROBE_TIMEOUT_S, version=version).api
            state = self._prober.inspect_container(self._container.id).get("State") or {}
        except Exception as exc:  # noqa: BLE001 - away (or the container is gone)
            if _is_not_found(exc):
                self._done.set()
                return {}
            self._cancelled.wait(0.25)
            return None
        return dict(state)

    def wait(self, deadline: float | None, abort: threading.Event | None = None, hurry: bool = False) -> bool:
        """True once the container has ended; False at the deadline, on ``abort``, (with
        ``hurry``) on a second interrupt, or when the engine went away."""
        while not self._done.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if (abort is not None and abort.is_set()) or (hurry and lifecycle.hurried()):
                return False
            if self.lost_at is not None and not self._back.is_set():
                return False
            self._done.wait(0.05)
        return self.status is not None

    def wait_back(self, deadline: float) -> bool:
        """Wait for the engine to answer again (or the container's end to be known); False if
        the deadline passed first."""
        while not (self._back.is_set() or self._done.is_set()):
            if time.monotonic() >= deadline or lifecycle.hurried():
                return False
            self._back.wait(0.05)
        return True


def _stop(container: Any, waiter: _Waiter) -> None:
    """SIGTERM (the init process passes it on), a grace period, then SIGKILL; a second
    interrupt skips the grace."""
    if waiter.status is not None:
        return
    waiter.start()
    with contextlib.suppress(*_engine_errors()):
        container.kill(signal="SIGTERM")
    if not waiter.wait(time.monotonic() + STOP_GRACE_S, hurry=True):
        with contextlib.suppress(*_engine_errors()):
            container.kill()
        waiter.wait(time.monotonic() + 10)
