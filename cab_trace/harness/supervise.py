"""The local runtime's supervisor: a tiny process between `cab-trace run` and the agent.

Run as ``python -I -S supervise.py CONTROL_FD STATUS_FD`` (stdlib only, so it starts in
milliseconds and an agent's ``PYTHON*`` variables cannot break it). It exists so that the agent
and everything it started end with the run, whatever happens to cab-trace:

* it is a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): a daemon the agent starts with
  ``setsid`` and a double fork is re-parented to it, not to init, so it can still be found;
* when the agent exits, it SIGKILLs every process still below it at once (no waiting on
  stragglers that left the agent's process group);
* when `cab-trace run` dies, even by SIGKILL, the control pipe reaches end-of-file and it
  SIGKILLs everything below it; the agent also gets SIGKILL should the supervisor itself die
  (``PR_SET_PDEATHSIG``);
* it is not dumpable (``PR_SET_DUMPABLE`` 0), so the agent cannot reach its pipes through
  ``/proc/<ppid>/fd``.

Protocol. CONTROL_FD (from cab-trace): the spec (:func:`encode_spec`: its length in decimal
and a newline, then NUL-separated fields ``tty``, ``cwd``, the argv count, the argv, the
``NAME=value`` environment), then single bytes: ``T`` SIGTERM everything, ``K`` SIGKILL
everything; end-of-file means ``K``.
STATUS_FD (to cab-trace): ``pid N``, or ``error ERRNO TEXT`` if the agent could not be started;
``exit STATUS`` (a raw wait status) when the agent ends; end-of-file once every process below
the supervisor is gone. Its stdin, stdout and stderr are the agent's; it keeps no copy of them.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
_KILL_ROUNDS_S = 5.0


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, value, 0, 0, 0)


def _children_map() -> dict[int, list[int]]:
    """Every process's children, by parent pid, with zombies left out (they are dead)."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:  # no procfs: only the agent's process group can be signalled
        return children
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] not in (b"Z", b"X"):
            children.setdefault(int(fields[1]), []).append(int(name))
    return children


def descendants(root: int) -> list[int]:
    """Live processes below ``root``."""
    children = _children_map()
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


# An OSError below means there is nothing left to do: the process, or the reader, has gone.
# (Not contextlib.suppress, nor typing: importing them would cost this process milliseconds.)


def _kill(pid: int, sig: int, group: bool = False) -> None:
    try:  # noqa: SIM105
        (os.killpg if group else os.kill)(pid, sig)
    except OSError:
        pass


def _signal_all(agent_pid: int, sig: int) -> None:
    _kill(agent_pid, sig, group=True)
    for pid in descendants(os.getpid()):
        _kill(pid, sig)


def _reap(agent_pid: int, status: list[int]) -> None:
    """Reap every child that has ended (orphans re-parented to us included)."""
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == agent_pid:
            status.append(wait_status)


def _kill_everything(agent_pid: int, status: list[int]) -> None:
    """SIGKILL until nothing is left below us (a process may fork while we look)."""
    deadline = time.monotonic() + _KILL_ROUNDS_S
    while time.monotonic() < deadline:
        _reap(agent_pid, status)
        left = descendants(os.getpid())
        if not left:
            break
        _signal_all(agent_pid, signal.SIGKILL)
        time.sleep(0.005)
    _reap(agent_pid, status)


def encode_spec(argv: list[str], env: dict[str, str], cwd: str, tty: bool) -> bytes:
    """What cab-trace sends first.

    Fields are NUL-separated, so a NUL inside one would split it in two (an argument or a
    variable of its own): refused here, as exec refuses it, and checked long before (see
    cab_trace/harness/crossing.py). So is a variable name holding ``=``.

    Raises:
        ValueError: a field holds a NUL, or a variable's name is empty or holds ``=``.
    """
    fields = [b"1" if tty else b"0", os.fsencode(cwd), str(len(argv)).encode()]
    fields += [os.fsencode(a) for a in argv]
    for name, value in env.items():
        if not name or "=" in name or "\0" in name:
            raise ValueError(f"environment variable name {name!r} cannot be passed to a process")
        fields.append(os.fsencode(name) + b"=" + os.fsencode(value))
    if any(b"\0" in field for field in fields):
        raise ValueError("a NUL byte in the agent's argv, environment or working directory")
    payload = b"\0".join(fields)
    return str(len(payload)).encode() + b"\n" + payload


def _decode_spec(payload: bytes) -> tuple[list[bytes], dict[bytes, bytes], bytes, bool]:
    fields = payload.split(b"\0")
    tty, cwd, count = fields[0] == b"1", fields[1], int(fields[2])
    argv = fields[3 : 3 + count]
    env = {}
    for item in fields[3 + count :]:
        name, _, value = item.partition(b"=")
        env[name] = value
    return argv, env, cwd, tty


def _spawn(argv: list[bytes], env: dict[bytes, bytes], cwd: bytes, tty: bool) -> int:
    """fork + exec (no subprocess module: the supervisor starts faster without it). Raises
    OSError if the agent cannot be started."""
    error_r, error_w = os.pipe()  # close-on-exec: end-of-file means exec worked
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(error_r)
            os.chdir(cwd)
            _child_setup(tty)
            os.execvpe(argv[0], argv, env)  # noqa: S606 - the agent's argv, as the user gave it
        except OSError as exc:
            os.write(error_w, f"{exc.errno or 0} {exc.strerror or exc}".encode())
        finally:
            os._exit(127)
    os.close(error_w)
    report = b""
    while chunk := os.read(error_r, 4096):
        report += chunk
    os.close(error_r)
    if report:
        os.waitpid(pid, 0)
        code, _, text = report.decode("utf-8", "replace").partition(" ")
        raise OSError(int(code), text)
    return pid


def _child_setup(tty: bool) -> None:
    os.setsid()  # its own session and process group
    if tty:
        import fcntl
        import termios

        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)  # the supervisor's own dispositions are not the agent's
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _send(fd: int, line: str) -> None:
    # One status per line: a newline inside (an error's text) must not make a second one.
    line = line.replace("\n", " ").replace("\r", " ")
    try:  # noqa: SIM105
        os.write(fd, line.encode("utf-8", "replace") + b"\n")
    except OSError:
        pass  # cab-trace has gone: nobody to tell


def _read_spec(control_fd: int) -> tuple[bytes, bytes] | None:
    """The spec's payload and whatever came after it, or None at end-of-file."""
    buffer = b""
    length: int | None = None
    while length is None or len(buffer) < length:
        chunk = os.read(control_fd, 65536)
        if not chunk:
            return None
        buffer += chunk
        if length is None and b"\n" in buffer:
            head, _, buffer = buffer.partition(b"\n")
            length = int(head)
    return buffer[:length], buffer[length:]


def main(control_fd: int, status_fd: int) -> int:
    for fd in (control_fd, status_fd):
        os.set_inheritable(fd, False)  # the agent gets neither
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)  # only cab-trace, through the pipe, tells us to stop
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    # Like cab-trace itself (harness/hardening.py): /proc/<this>/fd is closed to same-user
    # processes, so the agent can neither write to the stderr we share with cab-trace's capture
    # nor forge a status line on our pipe to it. The agent's exec makes it dumpable again.
    _prctl(PR_SET_DUMPABLE, 0)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    spec = _read_spec(control_fd)
    if spec is None:
        return 0  # cab-trace went away before saying what to run
    payload, rest = spec
    try:
        agent = _spawn(*_decode_spec(payload))
    except OSError as exc:
        _send(status_fd, f"error {exc.errno or 0} {exc.strerror or exc}")
        return 0
    _send(status_fd, f"pid {agent}")
    # Keep no copy of the agent's stdin/stdout/stderr: its output pipes must close when it ends.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)

    status = _watch(agent, control_fd, wake_r, list(rest.decode("ascii", "replace")))
    _send(status_fd, f"exit {status[0]}")
    # The agent has ended: whatever it left behind goes now, without waiting on it.
    _kill_everything(agent, status)
    return 0


def _watch(agent: int, control_fd: int, wake_r: int, commands: list[str]) -> list[int]:
    """Carry out cab-trace's commands until the agent ends; returns its wait status."""
    status: list[int] = []
    control_open = True
    while not status:
        for command in commands:
            _signal_all(agent, signal.SIGTERM if command == "T" else signal.SIGKILL)
        commands = []
        _reap(agent, status)
        if status:
            break
        watched = [wake_r, control_fd] if control_open else [wake_r]
        ready, _, _ = select.select(watched, [], [], 1.0)
        if wake_r in ready:
            try:  # noqa: SIM105
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
        if control_fd in ready:
            data = os.read(control_fd, 4096)
            if data:
                commands = list(data.decode("ascii", "replace"))
            else:
                control_open = False  # cab-trace is gone: nothing may outlive it
                commands = ["K"]
    return status


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
