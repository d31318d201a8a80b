"""The supervisor and the Docker watchdog run as `python -I -S SCRIPT`: no site packages, no
cab_trace. Every import they make must be the standard library's, and cheap ones (they start
for every launch)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from cab_trace.harness import supervise, watchdog

SCRIPTS = [supervise.__file__, watchdog.__file__]

#: Each costs milliseconds at start-up; the supervisor does without them.
SLOW = {"subprocess", "json", "typing", "contextlib", "threading", "asyncio", "logging"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_imports_only_cheap_standard_library_modules(script: str) -> None:
    tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    imported.discard("__future__")
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert not imported & SLOW, imported & SLOW


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_script_starts_in_an_isolated_interpreter(script: str) -> None:
    # Without arguments it fails on argv, after its imports: the imports themselves must work.
    done = subprocess.run([sys.executable, "-I", "-S", script], capture_output=True, text=True, check=False)
    assert "IndexError" in done.stderr and "ModuleNotFoundError" not in done.stderr
