"""Runtimes: where the agent process runs. The local runtime is a subprocess; the Docker
runtime (``docker_runtime.py``) implements the same :class:`Runtime` protocol."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from cab_trace.harness.output import CAST_HEIGHT, CAST_WIDTH
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
    tty: bool = False
    """Give the agent a pseudo-terminal (of ``size``) instead of pipes; its output is one stream."""
    size: tuple[int, int] = (CAST_WIDTH, CAST_HEIGHT)
    """Columns and rows of the pseudo-terminal: the terminal recording's, so it replays as drawn."""
    home: Path | None = None
    """The agent's own home directory for this run (hermetic runs), or None for the user's."""
    mounts: tuple[tuple[Path, str], ...] = ()
    """Host directories the agent must see besides the workdir, and where (for a container)."""


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

    - ``PWD`` is the workdir and ``OLDPWD`` is dropped: agents that work in ``$PWD`` (opencode)
      would otherwise edit the directory ``cab-trace run`` was started from.
    - With ``home``, a hermetic run: ``HOME`` and the XDG base directories point into it, so the
      agent neither reads nor writes the user's own configuration (``~/.pi``,
      ``~/.config/opencode``, ``~/.aider*``); toolchains installed under ``user_home`` (cargo,
      rustup, pyenv, nvm, go, bun, volta) are still found through their variables.
    """
    env = dict(base)
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
        return {**self._base_env, **adapter_env}

    def identity(self) -> dict[str, AttrValue]:
        return {}

    def cleanup(self) -> list[str]:
        return []  # the process group is gone when launch returns

    def agent_host(self) -> str | None:
        return "127.0.0.1"

    def launch(self, spec: LaunchSpec, on_output: OutputFn) -> LaunchResult:
        env = local_agent_environment(
            self._base_env, spec.env, spec.workdir.resolve(), spec.home, _user_home(self._base_env)
        )
        executable = spec.argv[0]
        resolved = shutil.which(executable, path=env.get("PATH")) if os.sep not in executable else executable
        started = time.monotonic()
        terminal = _open_pty(spec.size) if spec.tty else None
        try:
            proc = _spawn(spec, env, terminal)
        except FileNotFoundError:
            _close_pty(terminal)
            return LaunchResult(
                127, False, time.monotonic() - started, error=f"command not found: {executable}"
            )
        except PermissionError:
            _close_pty(terminal)
            return LaunchResult(
                126, False, time.monotonic() - started, error=f"permission denied: {executable}"
            )
        if terminal is not None:
            os.close(terminal[1])  # the agent holds it now; the master reads EIO once it is gone
            readers = [threading.Thread(target=_pump_pty, args=(terminal[0], on_output), daemon=True)]
        else:
            readers = [
                threading.Thread(target=_pump, args=(stream, name, on_output), daemon=True)
                for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))
            ]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            proc.wait(timeout=spec.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_group(proc)
        finally:
            if proc.returncode is None:  # interrupted while waiting: do not leave the agent behind
                _stop_group(proc)
        # Whatever the agent started in its group and left running would hold the output pipes
        # open and outlive the run; it goes with the agent.
        _signal_group(proc.pid, signal.SIGKILL)
        for reader in readers:
            # A grandchild that left the process group could hold the pipes open; do not wait forever.
            reader.join(timeout=5)
        if terminal is not None:
            with contextlib.suppress(OSError):
                os.close(terminal[0])
        duration = time.monotonic() - started
        exit_code = proc.returncode
        attributes: dict[str, AttrValue] = {"process.pid": proc.pid}
        if resolved:
            attributes["process.executable.path"] = resolved
        return LaunchResult(exit_code, timed_out, duration, attributes=attributes)


def _user_home(env: Mapping[str, str]) -> Path | None:
    home = env.get("HOME")
    return Path(home) if home else None


def _spawn(
    spec: LaunchSpec, env: dict[str, str], terminal: tuple[int, int] | None
) -> subprocess.Popen[bytes]:
    if terminal is None:
        return subprocess.Popen(
            list(spec.argv),
            cwd=spec.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )
    env["TERM"] = CAST_TERM  # what the recording's header says the agent drew for
    return subprocess.Popen(
        list(spec.argv),
        cwd=spec.workdir,
        env=env,
        stdin=terminal[1],
        stdout=terminal[1],
        stderr=terminal[1],
        # A session of its own with the pty as its controlling terminal, as a shell gives.
        preexec_fn=_take_controlling_tty,  # noqa: PLW1509 - only setsid and an ioctl
    )


def _open_pty(size: tuple[int, int]) -> tuple[int, int]:
    master, slave = pty.openpty()
    columns, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    return master, slave


def _close_pty(terminal: tuple[int, int] | None) -> None:
    for fd in terminal or ():
        with contextlib.suppress(OSError):
            os.close(fd)


def _take_controlling_tty() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


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
        while chunk := os.read(fd, _READ_SIZE):
            on_output(name, chunk)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the agent's process group, give it a grace period, then SIGKILL what is left."""
    _signal_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_S)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)
