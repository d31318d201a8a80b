"""Talking to the Docker engine, whatever the run: connecting, what its calls can raise, and
whether it still has a container.

Separate from the runtime because everything that uses docker needs it and nothing more of it:
the runtime, the watch over one container (:mod:`cab_trace.harness.docker_container`), the
garbage collection of dead runs' containers (:mod:`cab_trace.harness.docker_gc`) and the
`cab-trace gc` and preflight commands. The docker SDK is imported only inside the functions.
"""

from __future__ import annotations

from typing import Any

from cab_trace.errors import CabTraceError


class DockerError(CabTraceError):
    """The Docker engine cannot be used for this run."""


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


def _engine_errors() -> tuple[type[BaseException], ...]:
    """What talking to the engine can raise: its API errors, and the HTTP client's (OSError)."""
    from docker.errors import DockerException

    return (DockerException, OSError)


def _is_not_found(exc: BaseException) -> bool:
    from docker.errors import NotFound

    return isinstance(exc, NotFound)


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
