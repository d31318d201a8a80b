"""The Docker runtime: the agent in a container, through the docker SDK.

The task's workdir is bind-mounted read-write at :data:`WORKDIR` and is the working directory;
the container gets the adapter's environment (not this process's), an init process so signals
reach the agent, labels that say which run owns it (so leftovers can always be found, see
:func:`collect_garbage`), optional memory, CPU and pids limits and a network mode, and never
privileges. Nothing is pulled unless asked.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cab_trace.errors import CabTraceError
from cab_trace.harness.runtime import LaunchResult, LaunchSpec, OutputFn
from cab_trace.model import AttrValue

WORKDIR = "/workspace"
LABEL_RUN = "cab-trace.run-id"
LABEL_OWNER = "cab-trace.owner"
"""``<hostname>:<pid>`` of the `cab-trace run` that made the container."""
STOP_GRACE_S = 2


class DockerError(CabTraceError):
    """The Docker engine cannot be used for this run."""


@dataclass(frozen=True)
class DockerOptions:
    image: str
    pull: bool = False
    memory: str | None = None
    """A Docker memory limit such as ``2g``."""
    cpus: float | None = None
    pids_limit: int | None = None
    network: str | None = None
    """A Docker network mode (``none``, ``bridge``, ``host``, a network name); None: Docker's default."""
    user: str | None = None
    """``uid:gid`` in the container; None: this process's, so files the agent writes stay yours."""


def owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def connect() -> Any:
    """A docker SDK client, or a DockerError that says what to do."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        text = str(exc)
        if "Permission denied" in text or "PermissionError" in text:
            raise DockerError(
                "permission denied on the Docker engine's socket",
                hint="add yourself to the docker group (and log in again), run as root, "
                "or use --runtime local",
            ) from None
        raise DockerError(
            "cannot reach the Docker engine",
            hint="start Docker (e.g. `sudo systemctl start docker` or `sudo dockerd &`), "
            "check DOCKER_HOST, or use --runtime local",
        ) from None
    return client


class DockerRuntime:
    """Runs the agent in a fresh container per launch; :meth:`cleanup` removes it."""

    name = "docker"

    def __init__(self, options: DockerOptions) -> None:
        self.options = options
        self.client: Any = None
        self._image: Any = None
        self._containers: list[Any] = []

    # -- before the run ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Connect and find (or, with ``pull``, pull) the image. Raises DockerError."""
        from docker.errors import APIError, ImageNotFound

        self.client = connect()
        try:
            if self.options.pull:
                self._image = self.client.images.pull(self.options.image)
            else:
                self._image = self.client.images.get(self.options.image)
        except ImageNotFound:
            raise DockerError(
                f"image {self.options.image!r} is not on this machine",
                hint="build or load it (`docker build`, `docker load`, `docker import`), "
                "or add --pull to pull it from its registry",
            ) from None
        except APIError as exc:
            raise DockerError(f"image {self.options.image!r}: {exc.explanation or exc}") from None

    def identity(self) -> dict[str, AttrValue]:
        """What the run span records of the image: its name and digest (or id)."""
        if self._image is None:
            return {}
        return {"image": self.options.image, "image_digest": _digests(self._image)[0]}

    def agent_environment(self, adapter_env: Mapping[str, str]) -> dict[str, str]:
        # The container sees the adapter's variables only (and the image's own ENV), never ours.
        return dict(adapter_env)

    def agent_host(self) -> str | None:
        """The host's address on the container's network: the network's gateway (for Docker's
        default bridge, usually 172.17.0.1); loopback with ``--network host``; none without a
        network."""
        network = self.options.network or "bridge"
        if network == "host":
            return "127.0.0.1"
        if network == "none" or self.client is None:
            return None
        from docker.errors import DockerException

        try:
            configs = self.client.networks.get(network).attrs.get("IPAM", {}).get("Config") or []
        except DockerException:
            return None
        gateway = next((c["Gateway"] for c in configs if c.get("Gateway") and ":" not in c["Gateway"]), None)
        if gateway is None:
            # Some engines leave the default bridge's gateway out of its IPAM config; Docker gives
            # a network's gateway the first address of its subnet.
            import ipaddress

            subnets = [c["Subnet"] for c in configs if c.get("Subnet") and ":" not in c["Subnet"]]
            gateway = str(next(ipaddress.ip_network(subnets[0]).hosts())) if subnets else None
        return gateway

    # -- the launch --------------------------------------------------------------------------

    def launch(self, spec: LaunchSpec, on_output: OutputFn) -> LaunchResult:
        from docker.errors import APIError
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import ReadTimeout

        if self.client is None:
            self.prepare()
        opts = self.options
        name = f"cab-trace-{spec.run_id or os.getpid()}-{len(self._containers) + 1}".lower()
        env = dict(spec.env)
        # An arbitrary uid has no home directory in the image; this is the container's /tmp.
        env.setdefault("HOME", "/tmp")  # noqa: S108
        kwargs: dict[str, Any] = {
            "command": list(spec.argv),
            "name": name,
            "working_dir": WORKDIR,
            "environment": env,
            "volumes": {
                str(spec.workdir.resolve()): {"bind": WORKDIR, "mode": "rw"},
                **{str(host.resolve()): {"bind": target, "mode": "rw"} for host, target in spec.mounts},
            },
            "init": True,
            "labels": {LABEL_RUN: spec.run_id, LABEL_OWNER: owner_label()},
            "privileged": False,
            "detach": True,
            "user": opts.user or f"{os.getuid()}:{os.getgid()}",
            "tty": spec.tty,
        }
        if spec.tty:
            env.setdefault("TERM", "xterm-256color")
        if opts.memory:
            kwargs["mem_limit"] = opts.memory
        if opts.cpus:
            kwargs["nano_cpus"] = int(opts.cpus * 1e9)
        if opts.pids_limit:
            kwargs["pids_limit"] = opts.pids_limit
        if opts.network:
            kwargs["network_mode"] = opts.network
        started = time.monotonic()
        try:
            container = self.client.containers.create(opts.image, **kwargs)
        except APIError as exc:
            return LaunchResult(
                125, False, time.monotonic() - started, error=f"docker: {exc.explanation or exc}"
            )
        self._containers.append(container)
        # Attach before start, so not a byte of output is missed.
        # With a tty the engine sends one raw stream; without, stdout and stderr multiplexed.
        stream = container.attach(stdout=True, stderr=True, stream=True, logs=True, demux=not spec.tty)
        reader = threading.Thread(target=_pump, args=(stream, on_output), daemon=True)
        reader.start()
        timed_out = False
        exit_code: int | None = None
        try:
            container.start()
            if spec.tty:
                with contextlib.suppress(*_engine_errors()):
                    container.resize(height=spec.size[1], width=spec.size[0])
            try:
                exit_code = int(container.wait(timeout=spec.timeout_s)["StatusCode"])
            except (ReadTimeout, RequestsConnectionError):
                timed_out = True
        except APIError as exc:
            return LaunchResult(
                125, False, time.monotonic() - started, error=f"docker: {exc.explanation or exc}"
            )
        finally:
            if exit_code is None:  # timed out, interrupted or failed: the agent does not outlive us
                _stop(container)
                with contextlib.suppress(*_engine_errors()):
                    exit_code = int(container.wait(timeout=10)["StatusCode"])
            reader.join(timeout=5)
        duration = time.monotonic() - started
        attributes: dict[str, AttrValue] = {
            "container.id": container.id,
            "container.name": name,
            "container.image.name": opts.image,
            "container.image.tags": list(self._image.tags) if self._image is not None else [],
            "container.image.repo_digests": _digests(self._image) if self._image is not None else [],
            "container.runtime.name": "docker",
            "image": opts.image,
        }
        return LaunchResult(
            exit_code if exit_code is not None else 137, timed_out, duration, attributes=attributes
        )

    # -- after the run -----------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Remove this run's containers; returns what was removed (``container:<name>``)."""
        removed = []
        for container in self._containers:
            with contextlib.suppress(*_engine_errors()):
                container.remove(force=True)
                removed.append(f"container:{container.name}")
        self._containers.clear()
        return removed


def _digests(image: Any) -> list[str]:
    # An image built or imported locally has no registry digest: its id identifies it.
    return list(image.attrs.get("RepoDigests") or []) or [image.id]


def _engine_errors() -> tuple[type[BaseException], ...]:
    """What talking to the engine can raise: its API errors, and the HTTP client's (OSError)."""
    from docker.errors import DockerException

    return (DockerException, OSError)


def _pump(stream: Any, on_output: OutputFn) -> None:
    # The engine closes the stream when the container goes; a broken connection ends it too.
    with contextlib.suppress(*_engine_errors()):
        for item in stream:
            out, err = (item, None) if isinstance(item, bytes) else item
            if out:
                on_output("stdout", out)
            if err:
                on_output("stderr", err)


def _stop(container: Any) -> None:
    with contextlib.suppress(*_engine_errors()):
        container.stop(timeout=STOP_GRACE_S)
    with contextlib.suppress(*_engine_errors()):
        container.kill()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed process nobody has reaped yet (no init in a container) is a zombie: dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def collect_garbage(client: Any = None) -> list[str]:
    """Remove containers left by `cab-trace run`s on this host that are no longer alive
    (killed with -9, a crashed machine); returns their names. Containers of live runs and of
    other hosts (a shared engine) are left alone."""
    client = client or connect()
    host = socket.gethostname()
    removed = []
    for container in client.containers.list(all=True, filters={"label": LABEL_OWNER}):
        owner = container.labels.get(LABEL_OWNER, "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        with contextlib.suppress(*_engine_errors()):
            container.remove(force=True)
            removed.append(container.name)
    return removed
