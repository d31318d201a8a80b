"""Docker tests run against a real engine with a small image made here by `docker import` from
Debian's busybox-static (no registry is reachable). In CI (CI=true) a missing engine or busybox
fails these tests; elsewhere they are skipped with the reason, so `make test` on a laptop
without Docker still runs the rest."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

IMAGE = "cab-trace-test:busybox"
APPLETS = [
    "sh",
    "echo",
    "sleep",
    "cat",
    "ls",
    "env",
    "printf",
    "true",
    "false",
    "yes",
    "head",
    "rm",
    "touch",
    "pwd",
]
DEMO_TASK = Path(__file__).resolve().parents[2] / "cab_trace" / "examples" / "demo-task"
#: The demo task with a check that busybox can run (the demo's own needs python3).
TASK_TOML = 'id = "demo/busybox"\nprompt = "make greet.py say hello"\ncheck = "grep -q Hello greet.py"\n'


@pytest.fixture(scope="session")
def task(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("task")
    for name in ("greet.py", "test_greet.py"):
        shutil.copy(DEMO_TASK / name, root / name)
    (root / "task.toml").write_text(TASK_TOML)
    return root


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Docker tests need {reason} (CI installs and starts them in .ci/run)")
    pytest.skip(f"needs {reason}")


def _rootfs_tar(busybox: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "workspace"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        data = Path(busybox).read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def docker_client():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        _unavailable(f"a running Docker engine ({exc})")
    return client


@pytest.fixture(scope="session")
def image(docker_client) -> str:
    """The test image, imported once (`docker import` of a busybox-static root filesystem)."""
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(IMAGE)
    except ImageNotFound:
        busybox = "/bin/busybox" if Path("/bin/busybox").is_file() else shutil.which("busybox") or ""
        if not Path(busybox).is_file():
            _unavailable("busybox (Debian's busybox-static) to build the test image")
        repository, tag = IMAGE.split(":")
        docker_client.api.import_image_from_data(_rootfs_tar(busybox), repository=repository, tag=tag)
    return IMAGE


@pytest.fixture
def leftovers(docker_client) -> Iterator[callable]:
    """Containers made by cab-trace runs during the test (by label); the test asserts on them."""
    from cab_trace.harness.docker_runtime import LABEL_RUN

    before = {c.id for c in docker_client.containers.list(all=True, filters={"label": LABEL_RUN})}

    def made() -> list[str]:
        return [
            c.name
            for c in docker_client.containers.list(all=True, filters={"label": LABEL_RUN})
            if c.id not in before
        ]

    yield made
    for c in docker_client.containers.list(all=True, filters={"label": LABEL_RUN}):
        if c.id not in before:
            c.remove(force=True)
