"""Runtimes: where the agent process runs. The local runtime is a subprocess; the Docker
runtime (``docker_runtime.py``) implements the same :class:`Runtime` protocol."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from cab_trace.harness import hardening, lifecycle
from cab_trace.harness.lifecycle import attach_result, exit_code_and_signal
from cab_trace.harness.output import CAST_HEIGHT, CAST_WIDTH
from cab_trace.harness.ownership import Owner
from cab_trace.harness.supervise import encode_spec
from cab_trace.model import AttrValue

#: The terminal type a --tty agent gets, and its recording's header records.
CAST_TERM = "xterm-256color"

#: Receives raw output as it arrives: (stream name "stdout" or "stderr", bytes).
OutputFn = Callable[[str, bytes], None]

#: Seconds between SIGTERM and SIGKILL when a timed-out agent is stopped.
KILL_GRACE_S = 2.0
_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class LaunchSpec:
    """What to run: argv, the adapter's environment additions, the workdir, the time limit."""

    argv: Sequence[str]
    env: Mapping[str, str]
    workdir: Path
    timeout_s: float | None
    run_id: str = ""
    abort: threading.Event | None = field(default=None, kw_only=True)
    """Set (e.g. when the agent's output can no longer be written): stop the agent now."""
    tty: bool = False
    """Give the agent a pseudo-terminal (of ``size``) instead of pipes; its output is one stream."""
    size: tuple[int, int] = (CAST_WIDTH, CAST_HEIGHT)
    """Columns and rows of the pseudo-terminal: the terminal recording's, so it replays as drawn."""
    home: Path | None = None
    """The agent's own home directory for this run (hermetic runs), or None for the user's."""
    mounts: tuple[tuple[Path, str], ...] = ()
    """Host directories the agent must see besides the workdir, and where (for a container)."""
    owner: Owner | None = field(default=None, kw_only=True)
    """The run's proof of life, which what the runtime makes (a container) is bound to (ownership.py)."""


@dataclass
class LaunchResult:
    exit_code: int
    timed_out: bool
    duration_s: float
    error: str | None = None  # the agent could not be started (exit_code is then 127 or 126)
    attributes: dict[str, AttrValue] = field(default_factory=dict)


class Runtime(Protocol):
    """Runs one agent process to completion, streaming its output."""

    name: str

    def agent_environment(self, adapter_env: Mapping[str, str]) -> dict[str, str]:
        """The whole environment the agent will see (so its secrets can be known in advance)."""
        ...

    def launch(self, spec: LaunchSpec, on_output: OutputFn) -> LaunchResult:
        """Start the agent, feed its output to ``on_output`` until it ends or times out."""
        ...

    def identity(self) -> dict[str, AttrValue]:
        """Attributes the run span records as part of the run's identity (e.g. the image digest)."""
        ...

    def cleanup(self) -> list[str]:
        """Remove what the runtime made for the run; returns what it removed."""
        ...

    def agent_host(self) -> str | None:
        """An address of this machine the agent can reach (for its own spans), or None."""
        ...


#: Where toolchains installed under the home directory live, by the variable that moves them.
#: A hermetic home keeps these pointing at the user's, so `cargo test` or a pyenv shim still work.
TOOLCHAIN_HOMES = (
    ("CARGO_HOME", ".cargo"),
    ("RUSTUP_HOME", ".rustup"),
    ("PYENV_ROOT", ".pyenv"),
    ("NVM_DIR", ".nvm"),
    ("GOPATH", "go"),
    ("GOMODCACHE", "go/pkg/mod"),
    ("BUN_INSTALL", ".bun"),
    ("VOLTA_HOME", ".volta"),
)


def local_agent_environment(
    base: Mapping[str, str],
    adapter_env: Mapping[str, str],
    workdir: Path | None = None,
    home: Path | None = None,
    user_home: Path | None = None,
) -> dict[str, str]:
    """The environment a local agent gets: ``base`` made right for the workdir, then the adapter's.

    - Every ``OTEL_*`` variable is left out (:func:`without_our_settings`): they configure
      cab-trace's own exporter, and name the user's collector and its token.
    - ``PWD`` is the workdir and ``OLDPWD`` is dropped: agents that work in ``$PWD`` (opencode)
      would otherwise edit the directory ``cab-trace run`` was started from.
    - With ``home``, a hermetic run: ``HOME`` and the XDG base directories point into it, so the
      agent neither reads nor writes the user's own configuration (``~/.pi``,
      ``~/.config/opencode``, ``~/.aider*``); toolchains installed under ``user_home`` (cargo,
      rustup, pyenv, nvm, go, bun, volta) are still found through their variables.
    """
    env = without_our_settings(base)
    env.pop("OLDPWD", None)
    if workdir is not None:
        env["PWD"] = str(workdir)
    if home is not None:
        env["HOME"] = str(home)
        env["XDG_CONFIG_HOME"] = str(home / ".config")
        env["XDG_DATA_HOME"] = str(home / ".local" / "share")
        env["XDG_CACHE_HOME"] = str(home / ".cache")
        env["XDG_STATE_HOME"] = str(home / ".local" / "state")
        if user_home is not None:
            for variable, relative in TOOLCHAIN_HOMES:
                if variable not in env and (user_home / relative).is_dir():
                    env[variable] = str(user_home / relative)
    env.update(adapter_env)
    return env


#: The prefix of the variables that configure OpenTelemetry SDKs (exporters, endpoints, headers,
#: resource, sampling): the user set them for cab-trace.
OTEL_PREFIX = "OTEL_"


def without_our_settings(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without what the user set for cab-trace's own telemetry: every ``OTEL_*`` variable
    (all exporter settings, the per-signal ``OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_*`` ones,
    their headers with the collector's token, the resource and sampler). The agent gets only
    the receiver the run sets up for it (``agent_otlp_env``), and what its adapter sets."""
    return {name: value for name, value in env.items() if not name.startswith(OTEL_PREFIX)}


class LocalRuntime:
    """The agent as a subprocess of this one, in its own process group.

    The agent inherits this process's environment plus the adapter's variables (agents
    need PATH and their own configuration); every secret-named value in it becomes a known
    secret for redaction. ``PWD`` is the workdir; with a per-run home (``LaunchSpec.home``)
    its home and XDG directories are the run's own (:func:`local_agent_environment`).
    """

    name = "local"

    def __init__(self, base_env: Mapping[str, str] | None = None) -> None:
        self._base_env = dict(os.environ if base_env is None else base_env)

    def agent_environment(self, adapter_env: Mapping[str, str]) -> dict[str, str]:
        return {**without_our_settings(self._base_env), **adapter_env}

    def identity(self) -> dict[str, AttrValue]:
        return {}

    def cleanup(self) -> list[str]:
        return []  # the process group is gone when launch returns

    def agent_host(self) -> str | None:
        return "127.0.0.1"

    # The agent runs under a small supervisor process (supervise.py) that makes sure it, and
    # everything it started, ends with the run, even if cab-trace is killed with SIGKILL.
    def launch(self, spec: LaunchSpec, on_output: OutputFn) -> LaunchResult:
        env = local_agent_environment(
            self._base_env, spec.env, spec.workdir.resolve(), spec.home, _user_home(self._base_env)
        )
        executable = spec.argv[0]
        resolved = shutil.which(executable, path=env.get("PATH")) if os.sep not in executable else executable
        started = time.monotonic()
        terminal = _open_pty(spec.size) if spec.tty else None
        if terminal is not None:
            env["TERM"] = CAST_TERM  # what the recording's header says the agent drew for
        agent, readers, outputs, interrupted = _start(spec, env, terminal, on_output)
        if agent.error is not None:
            _close_pty(terminal)
            code, why = _start_failure(*agent.error)
            result = LaunchResult(code, False, time.monotonic() - started, error=f"{why}: {executable}")
            if interrupted is not None:
                attach_result(interrupted, result)
                raise interrupted
            return result
        timed_out = False
        deadline = started + spec.timeout_s if spec.timeout_s else None
        try:
            try:
                if interrupted is not None:
                    agent.stop()
                elif not agent.wait_exit(deadline, spec.abort):
                    timed_out = not (spec.abort is not None and spec.abort.is_set())
                    agent.stop()
            except KeyboardInterrupt as exc:
                interrupted = exc
                agent.stop()  # a second signal does not raise here: it hurries the stop
        finally:
            # Everything below the supervisor is gone once it closes its status pipe, so the
            # output pipes close too and the readers end: nothing that escaped is waited on.
            agent.close()
            if agent.died:
                # The supervisor itself was killed: what the agent left (adopted by us, or by
                # init) may hold the output open. They are the run's, and end with it, now.
                hardening.kill_holders(outputs)
            for reader in readers:
                reader.join(timeout=5)
            if terminal is not None:
                with contextlib.suppress(OSError):
                    os.close(terminal[0])
        result = _result(agent, timed_out, (agent.exited_at or time.monotonic()) - started, resolved)
        if interrupted is not None:
            attach_result(interrupted, result)
            raise interrupted
        if agent.died:
            result.error = (
                "the agent's supervisor died; the agent and everything it started were killed with it"
            )
        return result


def _start(
    spec: LaunchSpec, env: dict[str, str], terminal: tuple[int, int] | None, on_output: OutputFn
) -> tuple[_Supervisor, list[threading.Thread], set[str], KeyboardInterrupt | None]:
    """Start the agent under its supervisor and read its output: the supervisor, the readers,
    what the output shows as in ``/proc`` (to find whatever holds it, should the supervisor
    die), and a signal that came meanwhile. A signal while the agent starts is held until it
    has started (and is known), then stops it like any other, its exit code recorded."""
    interrupted: KeyboardInterrupt | None = None
    readers: list[threading.Thread] = []
    outputs = _output_links(terminal)
    try:
        with lifecycle.shielded():
            try:
                agent = _Supervisor(spec, env, terminal)
            except BaseException:
                _close_pty(terminal)
                raise
            if terminal is not None:
                os.close(terminal[1])  # the agent holds it now; the master reads EIO once it is gone
            if agent.error is None:
                readers = _start_readers(agent.proc, terminal, on_output)
                outputs |= _output_links(None, agent.proc)
    except KeyboardInterrupt as exc:
        interrupted = exc
    return agent, readers, outputs, interrupted


def _result(agent: _Supervisor, timed_out: bool, duration: float, resolved: str | None) -> LaunchResult:
    exit_code, exit_signal = exit_code_and_signal(agent.returncode())
    attributes: dict[str, AttrValue] = {"process.pid": agent.pid or 0}
    if exit_signal:
        attributes["exit_signal"] = exit_signal
    if resolved:
        attributes["process.executable.path"] = resolved
    return LaunchResult(exit_code, timed_out, duration, attributes=attributes)


def _output_links(terminal: tuple[int, int] | None, proc: subprocess.Popen[bytes] | None = None) -> set[str]:
    """How the agent's output shows in ``/proc/<pid>/fd``: ``pipe:[inode]`` of its pipes, or its
    terminal's path."""
    links: set[str] = set()
    if terminal is not None:
        with contextlib.suppress(OSError):
            links.add(os.ttyname(terminal[1]))
    for stream in (proc.stdout, proc.stderr) if proc is not None else ():
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                links.add(f"pipe:[{os.fstat(stream.fileno()).st_ino}]")
    return links


def _user_home(env: Mapping[str, str]) -> Path | None:
    home = env.get("HOME")
    return Path(home) if home else None


def _start_failure(errno_: int, text: str) -> tuple[int, str]:
    """The exit code and words a shell would give for an agent that could not be started."""
    if errno_ == errno.ENOENT:
        return 127, "command not found"
    if errno_ in (errno.EACCES, errno.EPERM):
        return 126, "permission denied"
    return 126, f"cannot start ({text})"


def _start_readers(
    proc: subprocess.Popen[bytes], terminal: tuple[int, int] | None, on_output: OutputFn
) -> list[threading.Thread]:
    if terminal is not None:
        readers = [threading.Thread(target=_pump_pty, args=(terminal[0], on_output), daemon=True)]
    else:
        readers = [
            threading.Thread(target=_pump, args=(stream, name, on_output), daemon=True)
            for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))
        ]
    for reader in readers:
        reader.start()
    return readers


#: The supervisor script (stdlib only), run by this Python without site packages.
SUPERVISOR = Path(__file__).with_name("supervise.py")
#: How long the supervisor may take to kill what the agent left (it gives up after 5 s).
_SUPERVISOR_EXIT_S = 7.0


class _Supervisor:
    """`supervise.py` running the agent: see that module for why and for its protocol."""

    def __init__(self, spec: LaunchSpec, env: dict[str, str], terminal: tuple[int, int] | None) -> None:
        self.pid: int | None = None
        self.error: tuple[int, str] | None = None
        self.wait_status: int | None = None
        self.exited_at: float | None = None
        #: The supervisor ended without saying how the agent ended: it was killed.
        self.died = False
        self._buffer = b""
        self._eof = False
        control_r, self._control = os.pipe()
        self._status, status_w = os.pipe()
        stdio: dict[str, int] = (
            {"stdin": terminal[1], "stdout": terminal[1], "stderr": terminal[1]}
            if terminal is not None
            else {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        )
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SUPERVISOR), str(control_r), str(status_w)],
                pass_fds=(control_r, status_w),
                env={"PATH": os.defpath},
                **stdio,  # type: ignore[call-overload]
            )
        except BaseException:
            os.close(self._control)
            os.close(self._status)
            raise
        finally:
            os.close(control_r)
            os.close(status_w)
        try:
            self._send(encode_spec(list(spec.argv), env, str(spec.workdir), spec.tty))
            while self.pid is None and self.error is None and not self._eof:
                self._read(None)
        except BaseException:
            self.close()
            raise
        if self.pid is None and self.error is None:
            self.error = (0, "the supervisor ended before starting the agent")

    def _send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # it has gone already; what it was told to do is done
            os.write(self._control, data)

    def _read(self, timeout: float | None) -> None:
        if self._eof:
            return
        ready, _, _ = select.select([self._status], [], [], timeout)
        if not ready:
            return
        data = os.read(self._status, 4096)
        if not data:
            self._eof = True
            self.died = self.pid is not None and self.wait_status is None
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            kind, _, rest = line.decode("utf-8", "replace").partition(" ")
            # Only the supervisor writes here (the pipe is not the agent's); a line that does
            # not parse is ignored rather than trusted.
            if kind == "pid" and rest.isdigit():
                self.pid = int(rest)
            elif kind == "exit" and rest.lstrip("-").isdigit():
                self.wait_status = int(rest)
                self.exited_at = time.monotonic()
            elif kind == "error":
                code, _, text = rest.partition(" ")
                self.error = (int(code) if code.isdigit() else 0, text)

    def wait_exit(
        self, deadline: float | None, abort: threading.Event | None = None, hurry: bool = False
    ) -> bool:
        """Wait for the agent to end; False if the deadline passed or ``abort`` (or, with
        ``hurry``, a second interrupt) came first."""
        while self.wait_status is None and not self._eof:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if (abort is not None and abort.is_set()) or (hurry and lifecycle.hurried()):
                return False
            step = 0.05
            if deadline is not None:
                step = max(min(step, deadline - time.monotonic()), 0)
            self._read(step)
        return True

    def stop(self) -> None:
        """SIGTERM the agent and everything it started, a grace period, then SIGKILL."""
        if self.wait_status is None:
            self._send(b"T")
            self.wait_exit(time.monotonic() + KILL_GRACE_S, hurry=True)
        self.kill()

    def kill(self) -> None:
        if self.wait_status is None:
            self._send(b"K")
            self.wait_exit(time.monotonic() + _SUPERVISOR_EXIT_S)

    def returncode(self) -> int:
        if self.wait_status is None:
            return -signal.SIGKILL  # the supervisor itself was killed; so was the agent
        return os.waitstatus_to_exitcode(self.wait_status)

    def close(self) -> None:
        """Kill what is left, wait until the supervisor has seen everything below it end."""
        self.kill()
        deadline = time.monotonic() + _SUPERVISOR_EXIT_S
        while not self._eof and time.monotonic() < deadline:
            self._read(max(deadline - time.monotonic(), 0))
        with contextlib.suppress(OSError):
            os.close(self._control)  # end-of-file: whatever is left is killed
        with contextlib.suppress(OSError):
            os.close(self._status)
        try:
            self.proc.wait(timeout=_SUPERVISOR_EXIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _open_pty(size: tuple[int, int]) -> tuple[int, int]:
    master, slave = pty.openpty()
    columns, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    return master, slave


def _close_pty(terminal: tuple[int, int] | None) -> None:
    for fd in terminal or ():
        with contextlib.suppress(OSError):
            os.close(fd)


def _pump_pty(master: int, on_output: OutputFn) -> None:
    while True:
        try:
            chunk = os.read(master, _READ_SIZE)
        except OSError:  # EIO: every process holding the terminal has gone
            return
        if not chunk:
            return
        on_output("stdout", chunk)


def _pump(stream: IO[bytes] | None, name: str, on_output: OutputFn) -> None:
    if stream is None:
        return
    fd = stream.fileno()
    with stream:
        while True:
            try:
                chunk = os.read(fd, _READ_SIZE)
            except OSError:
                return
            if not chunk:
                return
            on_output(name, chunk)
