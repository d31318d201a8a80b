"""What cab-trace does to itself so that the agent it runs cannot go around the redactor.

The local runtime is no sandbox: the agent runs as the same user. Two things can be closed:

* **Its own /proc entries.** A same-user process can open ``/proc/<cab-trace>/fd/2`` and
  write to cab-trace's terminal (or read its memory) unredacted. ``prctl(PR_SET_DUMPABLE, 0)``
  makes ``/proc/<pid>/fd``, ``mem`` and ``environ`` owned by root and refuses ptrace, so a
  same-user process can no longer do either (root still can).
* **Processes that outlive the agent.** A grandchild that leaves the agent's process group
  (``setsid``, a double fork) could write into the run directory after the leak check.
  With ``PR_SET_CHILD_SUBREAPER`` such orphans become children of cab-trace instead of init,
  so :func:`reap_descendants` finds and ends every one before the leak check runs.

Both are Linux-only; elsewhere these functions do nothing and say so.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import time
from pathlib import Path

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> int:
    if not sys.platform.startswith("linux"):
        return -1
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return int(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0))


def harden() -> list[str]:
    """Close this process's /proc entries to same-user processes and adopt orphaned
    descendants. Returns what could not be done (empty on Linux)."""
    missing: list[str] = []
    if _prctl(PR_SET_DUMPABLE, 0) != 0:
        missing.append("PR_SET_DUMPABLE")
    if _prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        missing.append("PR_SET_CHILD_SUBREAPER")
    return missing


def is_dumpable() -> bool:
    return _prctl(PR_GET_DUMPABLE, 0) != 0


def children(pid: int | None = None) -> list[int]:
    """The live child processes of ``pid`` (this process by default), from /proc."""
    parent = os.getpid() if pid is None else pid
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def reap_descendants(keep: set[int] | frozenset[int] = frozenset(), rounds: int = 20) -> int:
    """SIGKILL and reap every child process but ``keep`` (once the agent is done, the only
    children left are what it started and left behind, adopted as their subreaper).
    Returns how many were ended."""
    if not sys.platform.startswith("linux"):
        return 0
    ended = 0
    for _ in range(rounds):
        pids = [pid for pid in children() if pid not in keep]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                ended += 1
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # only the ones ended here: a caller's own children are not touched
        time.sleep(0.01)
    return ended


def kill_holders(links: set[str]) -> int:
    """SIGKILL every process (of this user, but this one) that holds an open file shown in
    ``/proc/<pid>/fd`` as one of ``links`` (``pipe:[inode]``, a terminal's path): what an agent
    left running when its supervisor was killed keeps the run's output open. Returns how many."""
    if not links or not sys.platform.startswith("linux"):
        return 0
    me = os.getpid()
    ended = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        if pid == me:
            continue
        try:
            held = any(os.readlink(fd) in links for fd in fd_dir.iterdir())
        except OSError:
            continue  # gone, or not ours to look at
        if held:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                ended += 1
    return ended
