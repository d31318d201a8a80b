"""A Docker engine of the test's own: a second dockerd with its own data root, exec root, pid
file and unix socket under a temporary directory, to be killed and restarted without disturbing
the engine everything else on the machine shares.

Its bridge is an interface of its own, made here: never ``--bridge=none``, with which dockerd
deletes the machine's ``docker0`` (the shared engine's bridge) when it starts. It touches no
iptables; containers run with ``--network none``.

Needs root (dockerd does). Everything it made goes with :meth:`PrivateEngine.close`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.docker.conftest import IMAGE, _rootfs_tar


class PrivateEngine:
    def __init__(self) -> None:
        # Short: a unix socket's path has a 108-byte limit.
        self.root = Path(tempfile.mkdtemp(prefix="cab-eng-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = self.root / "dockerd.log"
        # A bridge of its own (a name of at most 15 characters), in the benchmarking range.
        self.bridge = f"cabeng{os.getpid() % 100000}"
        self._bridge_made = False

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.host, timeout=30)

    def start(self, timeout: float = 60) -> None:
        """Start the engine (again) and wait until it answers."""
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not self._bridge_made:
            net = 18 + os.getpid() % 2
            for command in (
                ["ip", "link", "add", self.bridge, "type", "bridge"],
                ["ip", "addr", "add", f"198.{net}.{os.getpid() % 250}.1/24", "dev", self.bridge],
                ["ip", "link", "set", self.bridge, "up"],
            ):
                subprocess.run(command, check=True, capture_output=True)
            self._bridge_made = True
        self._forget_containerd()
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    dockerd,
                    "--data-root",
                    str(self.root / "data"),
                    "--exec-root",
                    str(self.root / "exec"),
                    "--pidfile",
                    str(self.root / "docker.pid"),
                    "-H",
                    self.host,
                    f"--bridge={self.bridge}",
                    "--iptables=false",
                    "--ip-masq=false",
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {self._log.read_text()[-2000:]}")
            with contextlib.suppress(Exception):
                self.client().ping()
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer within {timeout:g} s: {self._log.read_text()[-2000:]}")

    def kill(self) -> None:
        """The engine dies at once (kill -9), as on a crash or an OOM kill of dockerd."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def _forget_containerd(self) -> None:
        """The containerd a killed dockerd started dies with it, but may linger as a zombie
        nobody reaps; its pid file would then make the next dockerd wait for it forever."""
        pidfile = self.root / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _state(pid) not in ("Z", ""):
            time.sleep(0.1)
        if _state(pid) not in ("Z", "") and str(self.root) in _cmdline(pid):
            os.kill(pid, signal.SIGKILL)  # ours: started by this engine, for this engine
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        pidfile.unlink(missing_ok=True)

    def import_image(self) -> str:
        busybox = "/bin/busybox" if Path("/bin/busybox").is_file() else shutil.which("busybox") or ""
        repository, tag = IMAGE.split(":")
        self.client().api.import_image_from_data(_rootfs_tar(busybox), repository=repository, tag=tag)
        return IMAGE

    def close(self) -> None:
        """Remove its containers, stop it, and everything under its root."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                for container in self.client().containers.list(all=True):
                    container.remove(force=True)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # dockerd mounts its data root privately; a killed one may leave that mount behind.
        for mount in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            point = mount.split()[1]
            if point.startswith(str(self.root) + os.sep):
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._bridge_made:
            subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""
