"""The Python end of tests/browser/driver.mjs: a real chromium (Debian's /usr/bin/chromium) driven by
playwright-core from npm, one JSON request and answer a line. Used by the browser tests and by
bench/bench_html.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("CAB_CHROMIUM", "/usr/bin/chromium"))


def missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if not CHROMIUM.exists():
        return f"no chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if shutil.which("node") is None:
        return "no node on PATH (Node.js 20 or newer)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core is not installed in {HERE} (make browser-deps)"
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One chromium for many pages. ``call(op, **fields)`` returns the driver's value."""

    def __init__(self, timeout: float = 60.0) -> None:
        self._timeout = timeout
        self._proc = subprocess.Popen(
            ["node", str(HERE / "driver.mjs")],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()
        first = self._read()
        if first.get("value") != "ready":
            raise BrowserError(f"the browser driver did not start: {first}")

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self._proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self._timeout)
        if not result or not result[0]:
            err = ""
            if self._proc.poll() is not None and self._proc.stderr is not None:
                err = self._proc.stderr.read()[-2000:]
            raise BrowserError(f"no answer from the browser driver within {self._timeout} s {err}")
        answer: dict[str, Any] = json.loads(result[0])
        return answer

    def call(self, op: str, **fields: Any) -> Any:
        with self._lock:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self._proc.stdin.flush()
            answer = self._read()
        if not answer.get("ok"):
            raise BrowserError(answer.get("error", "unknown error"))
        return answer.get("value")

    def open(self, path: Path, width: int = 1400, height: int = 1000) -> dict[str, Any]:
        value: dict[str, Any] = self.call("open", url=path.resolve().as_uri(), width=width, height=height)
        return value

    def eval(self, expr: str, arg: Any = None) -> Any:
        return self.call("eval", expr=expr, arg=arg)

    def press(self, key: str, times: int = 1) -> None:
        self.call("press", key=key, times=times)

    def close(self) -> None:
        try:
            if self._proc.poll() is None and self._proc.stdin is not None:
                self._proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self._proc.stdin.flush()
                self._proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
