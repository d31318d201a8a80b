"""The Docker runtime: the agent in a container, through the docker SDK.

The task's workdir is bind-mounted read-write at :data:`WORKDIR` and is the working directory;
the container gets the adapter's environment (not this process's), an init process so signals
reach the agent, labels that bind it to its run's proof of life (its scratch directory's lock
file and the token in it, see :mod:`cab_trace.harness.ownership` and :func:`collect_garbage`),
optional memory, CPU and pids limits and a network mode, and never privileges. Nothing is
pulled unless asked.

This module decides what container to make and what its run means (the launch result, the
engine going away, cleanup). The connection to the engine is in
:mod:`~cab_trace.harness.docker_engine`, the threads and processes that watch one running
container in :mod:`~cab_trace.harness.docker_container`, and the labels and the garbage
collection that reads them in :mod:`~cab_trace.harness.docker_gc`; their public names are
re-exported here, so imports from this module keep working.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cab_trace.harness import lifecycle
from cab_trace.harness.docker_container import (
    STOP_GRACE_S,
    WATCHDOG,
    _oom_killed,
    _pump,
    _stop,
    _Waiter,
    _Watchdog,
)
from cab_trace.harness.docker_engine import (
    DockerError,
    _engine_errors,
    _is_not_found,
    connect,
    container_missing,
)
from cab_trace.harness.docker_gc import (
    LABEL_LOCK,
    LABEL_OWNER,
    LABEL_RUN,
    LABEL_TOKEN,
    collect_garbage,
    owner_label,
)
from cab_trace.harness.lifecycle import attach_result, exit_code_and_signal
from cab_trace.harness.runtime import LaunchResult, LaunchSpec, OutputFn
from cab_trace.model import AttrValue

__all__ = [
    "ENGINE_ERROR_EXIT",
    "ENGINE_WAIT_S",
    "LABEL_LOCK",
    "LABEL_OWNER",
    "LABEL_RUN",
    "LABEL_TOKEN",
    "STOP_GRACE_S",
    "WATCHDOG",
    "WORKDIR",
    "DockerError",
    "DockerOptions",
    "DockerRuntime",
    "collect_garbage",
    "connect",
    "container_missing",
    "owner_label",
]

WORKDIR = "/workspace"
#: How long a run waits for a Docker engine that went away to come back, to stop its container
#: (``CAB_TRACE_ENGINE_WAIT_S`` overrides it); past it, the container is named for `cab-trace gc`.
ENGINE_WAIT_S = 15.0
#: What the container span's exit code is when the engine never said (``docker run``'s own code
#: for an error of the engine).
ENGINE_ERROR_EXIT = 125


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


class DockerRuntime:
    """Runs the agent in a fresh container per launch; :meth:`cleanup` removes it."""

    name = "docker"

    def __init__(self, options: DockerOptions) -> None:
        self.options = options
        self.client: Any = None
        self._image: Any = None
        self._containers: list[Any] = []
        self._run_ids: set[str] = set()
        #: Containers this run could not stop or remove (the engine went away): `gc` will.
        self.left_behind: list[str] = []
        #: Binds containers to this runtime when no run's lock is given (LaunchSpec.owner).
        self._token = secrets.token_hex(16)
        self._tokens: set[str] = {self._token}

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
        if self.client is None:
            self.prepare()
        opts = self.options
        name = f"cab-trace-{spec.run_id or os.getpid()}-{len(self._containers) + 1}".lower()
        if spec.run_id:
            self._run_ids.add(spec.run_id)
        labels = {LABEL_RUN: spec.run_id, LABEL_OWNER: owner_label(), LABEL_TOKEN: self._token}
        if spec.owner is not None:
            # Written down before the engine is asked: a container is never ours without proof.
            spec.owner.record_container(name)
            labels.update({LABEL_LOCK: spec.owner.lock_path, LABEL_TOKEN: spec.owner.token})
            self._tokens.add(spec.owner.token)
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
            "labels": labels,
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
        return self._run(spec, kwargs, on_output)

    def _run(self, spec: LaunchSpec, kwargs: dict[str, Any], on_output: OutputFn) -> LaunchResult:
        from docker.errors import APIError

        started = time.monotonic()
        container = self._create(kwargs)
        if isinstance(container, str):
            return LaunchResult(ENGINE_ERROR_EXIT, False, time.monotonic() - started, error=container)
        watchdog = _Watchdog.start(container.id)  # the container dies with us, kill -9 included
        # Attach before start, so not a byte of output is missed.
        # With a tty the engine sends one raw stream; without, stdout and stderr multiplexed.
        stream = container.attach(stdout=True, stderr=True, stream=True, logs=True, demux=not spec.tty)
        reader = threading.Thread(target=_pump, args=(stream, on_output), daemon=True)
        reader.start()
        waiter = _Waiter(container)
        timed_out = False
        interrupted: KeyboardInterrupt | None = None
        engine_gone: str | None = None
        deadline = started + spec.timeout_s if spec.timeout_s else None
        try:
            try:
                container.start()
                waiter.start()
                if spec.tty:
                    with contextlib.suppress(*_engine_errors()):
                        container.resize(height=spec.size[1], width=spec.size[0])
                if not waiter.wait(deadline, spec.abort):
                    if waiter.lost_at is not None:
                        engine_gone = self._engine_went_away(container, waiter)
                    else:
                        timed_out = not (spec.abort is not None and spec.abort.is_set())
                        _stop(container, waiter)
            except KeyboardInterrupt as exc:
                interrupted = exc
                _stop(container, waiter)  # a second signal does not raise here: it hurries the stop
        except APIError as exc:
            return LaunchResult(
                125, False, time.monotonic() - started, error=f"docker: {exc.explanation or exc}"
            )
        except OSError:  # the engine went away before the container started
            engine_gone = self._engine_went_away(container, waiter)
        finally:
            if waiter.status is None and engine_gone is None:  # failed: the agent does not outlive us
                _stop(container, waiter)
            if watchdog is not None:
                watchdog.disarm()
            reader.join(timeout=5)
            waiter.cancel()
        result = self._result(container, waiter, timed_out, started, engine_gone)
        if interrupted is not None:
            attach_result(interrupted, result)
            raise interrupted
        return result

    def _create(self, kwargs: dict[str, Any]) -> Any:
        """The container, or why the engine would not make it (a string)."""
        from docker.errors import APIError

        try:
            # A signal now would leave a container the engine made but we never heard of: hold it.
            with lifecycle.shielded():
                container = self.client.containers.create(self.options.image, **kwargs)
                self._containers.append(container)
        except APIError as exc:
            return f"docker: {exc.explanation or exc}"
        except OSError:  # the HTTP client's: the engine does not answer
            return "cannot reach the Docker engine"
        return container

    def _result(
        self, container: Any, waiter: _Waiter, timed_out: bool, started: float, engine_gone: str | None
    ) -> LaunchResult:
        """What the launch gives the runner: the exit code (the engine's own error code when it
        went away before saying), and what went wrong in words (the engine, an OOM kill)."""
        opts = self.options
        duration = (waiter.ended_at or time.monotonic()) - started
        fallback = ENGINE_ERROR_EXIT if engine_gone is not None else 137
        exit_code, exit_signal = exit_code_and_signal(
            waiter.status if waiter.status is not None else fallback
        )
        attributes: dict[str, AttrValue] = {
            "container.id": container.id,
            "container.name": container.name,
            "container.image.name": opts.image,
            "container.image.tags": list(self._image.tags) if self._image is not None else [],
            "container.image.repo_digests": _digests(self._image) if self._image is not None else [],
            "container.runtime.name": "docker",
            "image": opts.image,
        }
        if exit_signal:
            attributes["exit_signal"] = exit_signal
        error = engine_gone
        if engine_gone is None and waiter.status is not None and _oom_killed(container):
            attributes["container.oom_killed"] = True
            error = "the agent ran out of memory: the kernel's OOM killer stopped it" + (
                f" (the container's memory limit is {opts.memory})" if opts.memory else ""
            )
        return LaunchResult(exit_code, timed_out, duration, error=error, attributes=attributes)

    def _engine_went_away(self, container: Any, waiter: _Waiter) -> str:
        """The engine stopped answering mid-run: wait a while for it to come back and stop the
        container then; else name it for `gc`. Returns the run's failure message."""
        lost = time.monotonic()
        wait_s = _engine_wait_s()
        if waiter.wait_back(lost + wait_s):
            _stop(container, waiter)
            return "the Docker engine went away; the container was stopped when it came back"
        self.left_behind.append(container.name)
        return (
            f"the Docker engine went away and was not back within {wait_s:g} s; container "
            f"{container.name} may still be running: `cab-trace gc` removes it once the engine is back"
        )

    # -- after the run -----------------------------------------------------------------------

    def container_gone(self, name: str) -> bool:
        """Whether the engine no longer has a container of that name (False when it cannot say)."""
        return self.client is not None and container_missing(self.client, name)

    def cleanup(self) -> list[str]:
        """Remove this run's containers; returns what was removed (``container:<name>``). One
        that cannot be removed (the engine is gone) stays in :attr:`left_behind`."""
        removed = []
        for container in self._containers:
            try:
                container.remove(force=True)
            except _engine_errors() as exc:
                if not _is_not_found(exc) and container.name not in self.left_behind:
                    self.left_behind.append(container.name)
                continue
            removed.append(f"container:{container.name}")
            if container.name in self.left_behind:
                self.left_behind.remove(container.name)
        self._containers.clear()
        # A container the engine made while we were being interrupted carries our run's labels:
        # its run id and our random token (a run id alone is no proof; anyone can write a label).
        if self.client is not None and self._run_ids:
            for run_id in sorted(self._run_ids):
                with contextlib.suppress(*_engine_errors()):
                    for container in self.client.containers.list(
                        all=True, filters={"label": f"{LABEL_RUN}={run_id}"}
                    ):
                        if container.labels.get(LABEL_TOKEN) not in self._tokens:
                            continue
                        with contextlib.suppress(*_engine_errors()):
                            container.remove(force=True)
                            removed.append(f"container:{container.name}")
        return removed


def _digests(image: Any) -> list[str]:
    # An image built or imported locally has no registry digest: its id identifies it.
    return list(image.attrs.get("RepoDigests") or []) or [image.id]


def _engine_wait_s() -> float:
    try:
        return max(float(os.environ.get("CAB_TRACE_ENGINE_WAIT_S", ENGINE_WAIT_S)), 0.0)
    except ValueError:
        return ENGINE_WAIT_S
