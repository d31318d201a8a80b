"""Real consumers of GenAI traces, run on 127.0.0.1: Phoenix (arize-phoenix) and MLflow's
tracking server, from PyPI, in their own venv (`make consumers` makes .venv-consumers/ from
tests/consumers/requirements.txt). In CI (CI=true) a missing venv fails these tests; elsewhere
they are skipped with the reason, as the agent tests are.

Each server is a process of its own, in its own process group, stopped by its id at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = ROOT / ".venv-consumers"
HERE = Path(__file__).resolve().parent


def consumer_python() -> Path:
    python = CONSUMERS / "bin" / "python"
    if not (CONSUMERS / ".installed").exists() or not python.exists():
        why = f"Phoenix and MLflow are not installed in {CONSUMERS} (run `make consumers`)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; .ci/run installs them")
        pytest.skip(why)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


class Server:
    """A consumer's server process; :meth:`stop` ends its process group (and only that)."""

    def __init__(self, argv: list[str], env: dict[str, str], health: str, log: Path) -> None:
        self.health = health
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited ({self.process.returncode}): {self.tail()}")
            try:
                get(self.health, timeout=5)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise AssertionError(f"the server did not answer {self.health} in {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._log_file.close()


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Phoenix on 127.0.0.1 (its HTTP port takes OTLP at /v1/traces and serves the REST API)."""
    python = consumer_python()
    work = tmp_path_factory.mktemp("phoenix")
    port, grpc_port = free_port(), free_port()
    env = {
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_ENABLE_MCP_SERVER": "false",
        "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
    }
    url = f"http://127.0.0.1:{port}"
    server = Server([str(python), str(HERE / "phoenix_loopback.py")], env, f"{url}/healthz", work / "log")
    try:
        server.wait_ready()
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MLflow's tracking server on 127.0.0.1 (OTLP at /v1/traces, with x-mlflow-experiment-id)."""
    python = consumer_python()
    work = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    argv = [
        str(python), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
        "--default-artifact-root", str(work / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    env = {"MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "true"}
    url = f"http://127.0.0.1:{port}"
    server = Server(argv, env, f"{url}/health", work / "log")
    try:
        server.wait_ready()
        yield url
    finally:
        server.stop()
