"""The Docker runtime: the agent in a container, through the docker SDK.

The task's workdir is bind-mounted read-write at :data:`WORKDIR` and is the working directory;
the container gets the adapter's environment (not this process's), an init process so signals
reach the agent, labels that bind it to its run's proof of life (its scratch directory's lock
file and the token in it, see :mod:`cab_trace.harness.ownership` and :func:`collect_garbage`),
optional memory, CPU and pids limits and a network mode, and never privileges. Nothing is
pulled unless asked.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cab_trace.errors import CabTraceError
from cab_trace.harness import lifecycle, ownership
from cab_trace.harness.lifecycle import attach_result, exit_code_and_signal
from cab_trace.harness.runtime import LaunchResult, LaunchSpec, OutputFn
from cab_trace.model import AttrValue

WORKDIR = "/workspace"
#: How long a run waits for a Docker engine that went away to come back, to stop its container
#: (``CAB_TRACE_ENGINE_WAIT_S`` overrides it); past it, the container is named for `cab-trace gc`.
ENGINE_WAIT_S = 15.0
#: What the container span's exit code is when the engine never said (``docker run``'s own code
#: for an error of the engine).
ENGINE_ERROR_EXIT = 125
LABEL_RUN = "cab-trace.run-id"
LABEL_OWNER = "cab-trace.owner"
"""``<hostname>:<pid>:<start ticks>`` of the `cab-trace run` that made the container: for people
reading labels. Anyone can write a label: it proves nothing and gc never acts on it."""
LABEL_LOCK = "cab-trace.lock"
"""The lock file of the run's scratch directory: held while the run lives (ownership.py)."""
LABEL_TOKEN = "cab-trace.token"  # noqa: S105 - a label's name, not a secret
"""The random token written in that lock file (or, without one, this runtime's own)."""
STOP_GRACE_S = 2
#: How long one question to an engine that went away may take before it counts as unanswered.
_PROBE_TIMEOUT_S = 3


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
    return lifecycle.owner_mark()


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


def _engine_errors() -> tuple[type[BaseException], ...]:
    """What talking to the engine can raise: its API errors, and the HTTP client's (OSError)."""
    from docker.errors import DockerException

    return (DockerException, OSError)


def _is_not_found(exc: BaseException) -> bool:
    from docker.errors import NotFound

    return isinstance(exc, NotFound)


def _engine_wait_s() -> float:
    try:
        return max(float(os.environ.get("CAB_TRACE_ENGINE_WAIT_S", ENGINE_WAIT_S)), 0.0)
    except ValueError:
        return ENGINE_WAIT_S


def _oom_killed(container: Any) -> bool:
    """Whether the engine says the container's process was killed for lack of memory."""
    try:
        container.reload()
    except _engine_errors():
        return False
    return bool(container.attrs.get("State", {}).get("OOMKilled"))


def _pump(stream: Any, on_output: OutputFn) -> None:
    # The engine closes the stream when the container goes; a broken connection ends it too.
    with contextlib.suppress(*_engine_errors()):
        for item in stream:
            out, err = (item, None) if isinstance(item, bytes) else item
            if out:
                on_output("stdout", out)
            if err:
                on_output("stderr", err)


#: The watchdog script (stdlib only), run by this Python without site packages.
WATCHDOG = Path(__file__).with_name("watchdog.py")


class _Watchdog:
    """`watchdog.py` watching one container: see that module for why."""

    def __init__(self, proc: subprocess.Popen[bytes], control: int) -> None:
        self._proc = proc
        self._control = control

    @classmethod
    def start(cls, container_id: str) -> _Watchdog | None:
        """None where it cannot reach the engine the way the SDK does (TLS, ssh): `gc` remains."""
        host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if os.environ.get("DOCKER_TLS_VERIFY") or not host.startswith(("unix://", "tcp://")):
            return None
        read, write = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WATCHDOG), str(read), host, container_id],
                pass_fds=(read,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={"PATH": os.defpath},
            )
        except OSError:
            os.close(write)
            return None
        finally:
            os.close(read)
        return cls(proc, write)

    def disarm(self) -> None:
        """We are done with the container: the watchdog leaves it alone and exits."""
        with contextlib.suppress(OSError):
            os.write(self._control, b"x")
        with contextlib.suppress(OSError):
            os.close(self._control)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class _Waiter:
    """Waits for the container in a thread, so the launch can watch its deadline, an abort
    (output that cannot be written), a second interrupt and the engine going away at once."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self._done = threading.Event()
        self._cancelled = threading.Event()
        self.status: int | None = None
        self.ended_at: float | None = None
        #: When the engine stopped answering (None: it did not), and whether it is back since.
        self.lost_at: float | None = None
        self._back = threading.Event()
        self._prober: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def cancel(self) -> None:
        """Stop asking an engine that does not answer (the launch is over)."""
        self._cancelled.set()

    def _run(self) -> None:
        while not self._done.is_set() and not self._cancelled.is_set():
            if self.lost_at is not None and not self._back.is_set():
                if self._probe() is None:
                    continue  # still away
                self._back.set()
            try:
                self.status = int(self._container.wait()["StatusCode"])
                self.ended_at = time.monotonic()
            except Exception:  # noqa: BLE001 - a dropped connection: ask again, unless it is gone
                state = self._probe()
                if state is None:
                    if self.lost_at is None:
                        self.lost_at = time.monotonic()  # the engine does not answer
                    continue
                if self.lost_at is not None:
                    self._back.set()
                if state.get("Status") in ("exited", "dead"):
                    self.status = int(state.get("ExitCode", 137))
                    self.ended_at = time.monotonic()
                else:
                    time.sleep(0.1)
                    continue
            self._done.set()

    def _probe(self) -> dict[str, Any] | None:
        """The container's state, asked of the engine with a short timeout (None: it does not
        answer; the container gone: the wait is over). A restarting engine can take a request
        and not answer it for as long as the main client would wait (a minute)."""
        try:
            if self._prober is None:
                import docker

                # The same engine as the runtime's client (connect(): the environment's).
                version = self._container.client.api.api_version
                self._prober = docker.from_env(timeout=_PROBE_TIMEOUT_S, version=version).api
            state = self._prober.inspect_container(self._container.id).get("State") or {}
        except Exception as exc:  # noqa: BLE001 - away (or the container is gone)
            if _is_not_found(exc):
                self._done.set()
                return {}
            self._cancelled.wait(0.25)
            return None
        return dict(state)

    def wait(self, deadline: float | None, abort: threading.Event | None = None, hurry: bool = False) -> bool:
        """True once the container has ended; False at the deadline, on ``abort``, (with
        ``hurry``) on a second interrupt, or when the engine went away."""
        while not self._done.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if (abort is not None and abort.is_set()) or (hurry and lifecycle.hurried()):
                return False
            if self.lost_at is not None and not self._back.is_set():
                return False
            self._done.wait(0.05)
        return self.status is not None

    def wait_back(self, deadline: float) -> bool:
        """Wait for the engine to answer again (or the container's end to be known); False if
        the deadline passed first."""
        while not (self._back.is_set() or self._done.is_set()):
            if time.monotonic() >= deadline or lifecycle.hurried():
                return False
            self._back.wait(0.05)
        return True


def _stop(container: Any, waiter: _Waiter) -> None:
    """SIGTERM (the init process passes it on), a grace period, then SIGKILL; a second
    interrupt skips the grace."""
    if waiter.status is not None:
        return
    waiter.start()
    with contextlib.suppress(*_engine_errors()):
        container.kill(signal="SIGTERM")
    if not waiter.wait(time.monotonic() + STOP_GRACE_S, hurry=True):
        with contextlib.suppress(*_engine_errors()):
            container.kill()
        waiter.wait(time.monotonic() + 10)


def container_missing(client: Any, name: str) -> bool:
    """Whether the engine says it has no container of that name (False when it cannot say)."""
    from docker.errors import NotFound

    try:
        client.containers.get(name)
    except NotFound:
        return True
    except _engine_errors():
        return False
    return False


def collect_garbage(client: Any = None, report: ownership.Collected | None = None) -> list[str]:
    """Remove the containers of `cab-trace run`s proven dead (killed with -9, a crashed machine);
    returns their names.

    The proof (ownership.py): the container's lock label names a scratch directory whose lock is
    free, the token in it is the container's, and the run wrote the container's name there
    before asking for it. Anything else is left: live runs', other hosts' (a shared engine: the
    lock file is not on this machine), older versions' (an owner label alone), and containers
    cab-trace never made, whatever labels they carry. ``report`` gets what was left, and why.
    """
    client = client or connect()
    removed = []
    for container in client.containers.list(all=True, filters={"label": LABEL_LOCK}):
        labels = container.labels or {}
        proven, why = ownership.container_proven_dead(
            labels.get(LABEL_LOCK, ""), labels.get(LABEL_TOKEN, ""), container.name
        )
        if not proven:
            if report is not None and why != "its run is alive":
                report.left.append((f"container {container.name}", why))
            elif report is not None:
                report.in_use += 1
            continue
        with contextlib.suppress(*_engine_errors()):
            container.remove(force=True)
            removed.append(container.name)
    if report is not None:
        older = client.containers.list(all=True, filters={"label": LABEL_OWNER})
        for container in older:
            if LABEL_LOCK not in (container.labels or {}):
                why = "no lock label (an older cab-trace's, or made outside a run): no proof its run is dead"
                report.left.append((f"container {container.name}", why))
    return removed
