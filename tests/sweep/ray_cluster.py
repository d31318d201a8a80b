"""A real Ray cluster on 127.0.0.1 for the tests (and the bench): a head and more nodes, each a
`ray start --block` process, stopped by process id (never `ray stop`, which would end every Ray
process on the machine, other people's too).

Everything runs in a network namespace of its own that has only a loopback interface: Ray
turns `--node-ip-address 127.0.0.1` into the machine's outward address when it can find one
(it asks which address would reach 8.8.8.8), and would then listen there. In a namespace with
only `lo` there is no such address, so every Ray port binds 127.0.0.1 (checked with `ss`),
nothing can listen on or talk to any other address, and no port can collide with another
cluster on the machine. The sweep's driver and the model server run in the namespace too
(:meth:`LoopbackCluster.command`).

Needs `unshare`/`nsenter` (util-linux), `ip` (iproute2) and the right to make a network
namespace (root, as in CI; elsewhere a user namespace is tried).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GCS_PORT = 6379  # free by construction: the namespace is new


class ClusterError(RuntimeError):
    pass


def ray_cli() -> Path:
    return Path(sys.executable).with_name("ray")


def available() -> str | None:
    """Why a loopback cluster cannot be made here (None when it can)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install 'cab-trace[ray]')"
    for tool in ("unshare", "nsenter", "ip", "ss"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not ray_cli().exists():
        return f"{ray_cli()} is missing"
    return None


def _session(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text[text.rfind(")") + 2 :].split()[3])


def _processes_of_session(sid: int) -> list[int]:
    """The live processes of session ``sid`` (a killed one that is not reaped yet is not alive)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            fields = text[text.rfind(")") + 2 :].split()
            if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
                out.append(int(stat.parent.name))
    return out


def _processes_mentioning(marker: str) -> list[int]:
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if marker.encode() in cmdline.read_bytes():
                out.append(int(cmdline.parent.name))
    return out


@dataclass
class Node:
    name: str
    proc: subprocess.Popen[bytes]
    temp_dir: Path
    log: Path

    def pids(self) -> list[int]:
        """Every process of the node: its session (the node was started in a session of its own)."""
        return _processes_of_session(self.proc.pid)


@dataclass
class LoopbackCluster:
    """A Ray cluster in a loopback-only network namespace. Use as a context manager."""

    env: Mapping[str, str] = field(default_factory=dict)  # the nodes' environment (e.g. the key)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="crr", dir="/tmp")))
    nodes: list[Node] = field(default_factory=list)
    holder: subprocess.Popen[bytes] | None = None

    # -- the namespace -----------------------------------------------------------------------

    def __enter__(self) -> LoopbackCluster:
        self.start_namespace()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_namespace(self) -> None:
        user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        self.holder = subprocess.Popen(
            ["unshare", *user, "--net", "sh", "-c", "ip link set lo up && exec sleep 1000000"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.holder.poll() is not None:
                raise ClusterError(f"cannot make a network namespace: {self.holder.stderr.read().decode()}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                if b"sleep" in Path(f"/proc/{self.holder.pid}/cmdline").read_bytes():
                    return
            time.sleep(0.05)
        raise ClusterError("the network namespace did not come up")

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        assert self.holder is not None
        user = [] if os.geteuid() == 0 else ["--user", "--preserve-credentials"]
        return ["nsenter", f"--target={self.holder.pid}", *user, "--net", "--", *argv]

    # -- nodes -------------------------------------------------------------------------------

    def start_node(
        self,
        name: str,
        *,
        cpus: int = 1,
        resources: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 90,
    ) -> Node:
        head = not self.nodes
        temp_dir = self.root / name
        log = self.root / f"{name}.log"
        argv = [
            str(ray_cli()),
            "start",
            "--node-ip-address",
            "127.0.0.1",
            "--temp-dir",
            str(temp_dir),
            "--num-cpus",
            str(cpus),
            "--object-store-memory",
            str(100 * 1024 * 1024),
            "--disable-usage-stats",
            "--block",
        ]
        if head:
            argv += ["--head", "--port", str(GCS_PORT), "--include-dashboard", "false"]
        else:
            argv += ["--address", f"127.0.0.1:{GCS_PORT}"]
        if resources:
            argv += ["--resources", resources]
        full_env = {**os.environ, **self.env, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                self.command(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                start_new_session=True,
                cwd=self.root,
            )
        node = Node(name, proc, temp_dir, log)
        self.nodes.append(node)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Ray runtime started" in text:
                return node
            if proc.poll() is not None:
                raise ClusterError(
                    f"ray start ({name}) exited {proc.returncode}:\n{text[-3000:]}{self._head_said()}"
                )
            time.sleep(0.2)
        raise ClusterError(
            f"ray start ({name}) did not start within {timeout:g} s:\n{log.read_text()[-3000:]}"
            + self._head_said()
        )

    def _head_said(self) -> str:
        """A node that cannot join waits for the head: what the head (and its GCS) said, for the
        failure's message (the cluster's directory is removed after the tests)."""
        if len(self.nodes) < 2:
            return ""
        head = self.nodes[0]
        parts = [
            f"\n-- the head ({'running' if head.proc.poll() is None else f'exited {head.proc.returncode}'}):"
        ]
        for path in [head.log, *sorted(head.temp_dir.glob("session_*/logs/gcs_server.*"))]:
            with contextlib.suppress(OSError):
                parts.append(f"{path.name}: {path.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{GCS_PORT}"

    def kill_node(self, node: Node) -> None:
        """End a node at once, as a machine that dies: SIGKILL to every process of it."""
        for _ in range(5):
            pids = node.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.proc.wait(timeout=10)

    def listening(self) -> list[str]:
        """Every listening socket in the namespace, as ``ss -ltun`` prints its local address."""
        out = subprocess.run(
            self.command(["ss", "-H", "-ltun"]), capture_output=True, text=True, check=True, timeout=30
        ).stdout
        return [line.split()[4] for line in out.splitlines() if line.strip()]

    def session_files(self) -> list[Path]:
        """Every file Ray wrote under the nodes' temp dirs (logs, GCS state, spilled objects)."""
        return [p for p in self.root.rglob("*") if p.is_file() and not p.is_symlink()]

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and the namespace, by process id."""
        for node in reversed(self.nodes):
            for pid in node.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(n.pids() for n in self.nodes):
            time.sleep(0.2)
        for node in self.nodes:
            self.kill_node(node)
        # Anything still mentioning this cluster's directory (a worker that left the session).
        for pid in _processes_mentioning(str(self.root)):
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.holder is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.holder.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.holder.wait(timeout=10)
            self.holder = None

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self) -> list[int]:
        """Processes of this cluster still alive (none after :meth:`stop`)."""
        alive = [pid for node in self.nodes for pid in node.pids()]
        return alive + [p for p in _processes_mentioning(str(self.root)) if p != os.getpid()]
