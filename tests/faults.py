"""Helpers for the fault tests: a really full disk, a real `cab-trace run` process to signal,
a collector that accepts connections and never answers, and checks that nothing is left."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from cab_trace.harness.ownership import SCRATCH_PREFIX


@dataclass
class SmallDisk:
    """A directory where writes fail once about ``size`` bytes are used: a real tmpfs where this
    machine lets us mount one (root), else the file-size limit (RLIMIT_FSIZE) of the process
    started with :attr:`preexec`."""

    path: Path
    size: int
    tmpfs: bool

    def preexec(self) -> Callable[[], None] | None:
        if self.tmpfs:
            return None
        size = self.size

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        return limit


@contextlib.contextmanager
def small_disk(root: Path, size: int, fsize: int | None = None) -> Iterator[SmallDisk]:
    """``size`` bytes of tmpfs, or a file-size limit of ``fsize`` (default: ``size``) bytes."""
    path = root / "small-disk"
    path.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
    try:
        yield SmallDisk(path, size if mounted else fsize or size, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def start_cli(
    *args: str, env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    """`cab-trace ARGS` as its own process (to send real signals to)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cab_trace", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,  # noqa: PLW1509 - only setrlimit
    )


def wait_for_file(path: Path, timeout: float = 30) -> str:
    """The content of ``path`` once it exists and holds a line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = path.read_text()
            if text.endswith("\n"):
                return text.strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def running(pid: int, settle: float = 5) -> bool:
    """Whether ``pid`` still runs after up to ``settle`` seconds (a zombie counts as gone)."""
    deadline = time.monotonic() + settle
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            return False
        if state in (b"Z", b"X"):
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.02)


def scratch_dirs(tmpdir: Path) -> list[Path]:
    """The scratch directories cab-trace runs made under ``tmpdir`` (their TMPDIR)."""
    return sorted(p for p in tmpdir.glob(f"{SCRATCH_PREFIX}*") if p.is_dir())


def complete_lines(path: Path) -> list[object]:
    """Every line of a JSONL file, asserting each is whole JSON (no torn last line)."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path} ends in a torn line"
    return [orjson.loads(line) for line in data.splitlines()]


@contextlib.contextmanager
def hanging_collector() -> Iterator[str]:
    """An OTLP/HTTP endpoint that accepts connections and never answers; yields its URL."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def isolated_tmpdir(tmp_path: Path) -> Path:
    """A TMPDIR of the test's own, so scratch directories can be counted exactly."""
    path = Path(tempfile.mkdtemp(dir=tmp_path, prefix="tmpdir-"))
    return path
