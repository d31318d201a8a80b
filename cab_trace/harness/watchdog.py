"""The Docker runtime's watchdog: kills the agent's container if `cab-trace run` dies.

Run as ``python -I -S watchdog.py CONTROL_FD DOCKER_HOST CONTAINER_ID`` (stdlib only, like
``supervise.py``). It waits on the control pipe. ``cab-trace`` writes ``x`` before it closes
the pipe when it is done with the container; end-of-file without that means cab-trace died
(``kill -9`` included), and the watchdog sends the container SIGKILL through the Engine API, so
the agent stops at once. The stopped container is left for the next run or `cab-trace gc` to
remove, as any leftover. DOCKER_HOST must be ``unix://PATH`` or a plain ``tcp://HOST:PORT``
(the Docker runtime does not start a watchdog for an engine behind TLS).
"""

from __future__ import annotations

import os
import signal
import socket
import sys


def kill_request(container_id: str) -> bytes:
    return (
        f"POST /containers/{container_id}/kill?signal=SIGKILL HTTP/1.1\r\n"
        "Host: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


def connect(docker_host: str) -> socket.socket:
    if docker_host.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(docker_host[len("unix://") :])
        return sock
    host, _, port = docker_host[len("tcp://") :].rstrip("/").rpartition(":")
    return socket.create_connection((host, int(port)))


def main(control_fd: int, docker_host: str, container_id: str) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)  # only the pipe tells us what happened
    seen = b""
    while chunk := os.read(control_fd, 64):
        seen += chunk
    if b"x" in seen:
        return 0  # cab-trace is done with the container and takes care of it
    try:
        with connect(docker_host) as sock:
            sock.settimeout(30)
            sock.sendall(kill_request(container_id))
            sock.recv(4096)
    except OSError:
        return 1  # the engine is gone too: nothing more to do here; gc will find the container
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
