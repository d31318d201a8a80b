"""The real agent CLIs, as `make agents` installs them (pinned in agents/versions), into .agents/bin.

Only the model is a stand-in (tests/model_server.py, a scripted OpenAI-compatible server),
because a real one costs money and never answers the same way twice. In CI (CI=true) a
missing CLI fails these tests; elsewhere they are skipped with the reason, so `make test`
without `make agents` still runs the rest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENTS_BIN = ROOT / ".agents" / "bin"
VERSIONS = ROOT / "agents" / "versions"


def pinned() -> dict[str, tuple[str, str]]:
    """{command: (package, version)} from agents/versions."""
    out: dict[str, tuple[str, str]] = {}
    for line in VERSIONS.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 4:
            _registry, package, version, command = fields
            out[command] = (package, version)
    return out


def agent_bin(command: str) -> Path:
    """The directory holding the pinned ``command``; fails in CI, skips elsewhere, if it is missing."""
    if not (AGENTS_BIN / command).exists():
        why = f"the {command} CLI is not installed in {AGENTS_BIN} (run `make agents`)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; .ci/run installs it")
        pytest.skip(why)
    return AGENTS_BIN
