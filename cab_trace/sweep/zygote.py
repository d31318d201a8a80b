"""A cell starter for a Ray worker: a small single-threaded process that has imported the runner
once and forks a process per cell, as the local executor does.

A Ray worker is multi-threaded, so it must not fork Python itself; starting ``python -m
cab_trace run`` instead costs every cell an interpreter and its imports (most of a short
cell's CPU). Each worker starts one of these (``python -m cab_trace.sweep.zygote``) and keeps
it. Protocol, one JSON object per line: in ``{"argv": [...], "log": PATH}``; out
``{"pid": N}`` once the cell runs, then ``{"exit": CODE}`` (128+N for a signal) when it ends.
One cell at a time. It ends when its stdin closes, and when its worker dies (``PR_SET_PDEATHSIG``);
its cells, in turn, are told to stop when it dies.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from cab_trace.sweep.local import die_with_parent, fork_cell, preload


def main() -> int:
    signal.pthread_sigmask(signal.SIG_SETMASK, set())  # a Ray worker's mask is not the cells'
    die_with_parent(os.getppid())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker stops cells itself, by their pid
    preload()
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        request = json.loads(line)
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            pid = fork_cell(list(request["argv"]), log_fd)
        finally:
            os.close(log_fd)
        reply.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        reply.write(json.dumps({"exit": 128 - code if code < 0 else code}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
