"""The attacks of tests/harness/test_redaction_attacks.py, from inside a container (the busybox
test image: sh and printf): the key drawn with colour codes, backspaces, out of order, split
over lines and into a file, on pipes and on a terminal. No byte of the run directory, and no
rendered screen of its cast, holds the key or a 16-character piece of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docker.test_docker_run import docker_run
from tests.harness.test_redaction_attacks import leaked, rendered

KEY = "opaque-Key-With-No-Shape-0451-zzQ8wq"
HALF = len(KEY) // 2


def _printf(text: str) -> str:
    """``text`` as a printf format (octal escapes for control characters, % doubled)."""
    return "".join(f"\\{ord(c):03o}" if ord(c) < 32 or c in "\\'%" else c for c in text)


ATTACKS = [
    "colour: " + "\x1b[0m".join(KEY) + "\n",
    "backspace: " + "".join(c + "X\x08" for c in KEY) + "\n",
    " " * (8 + HALF) + KEY[HALF:] + "\rredraw: " + KEY[:HALF] + "\n",
    "split: " + KEY[:HALF] + "\n" + KEY[HALF:] + "\n",
]


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
def test_an_attacking_agent_in_a_container_gets_its_key_nowhere(
    tmp_path: Path, image: str, leftovers, task: Path, tty: bool
) -> None:
    out = tmp_path / "run"
    prints = "; ".join(f"printf '{_printf(a)}'" for a in ATTACKS)
    script = f"{prints}; printf '{_printf('a=' + chr(27) + '[1m'.join(KEY))}' > leak.txt; echo done"
    result = docker_run(
        image, task, out, script, "--secret-env", "MY_TOKEN", "--echo", *(["--tty"] if tty else []),
        env={"MY_TOKEN": KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert leaked(result.stdout + result.stderr) == []
    for path in (p for p in out.rglob("*") if p.is_file()):
        assert leaked(path.read_text(errors="replace")) == [], path
    assert [p for line in rendered(out / "terminal.cast") for p in leaked(line)] == []
    shown = "\n".join(rendered(out / "terminal.cast"))
    assert re.search(r"colour: \[REDACTED\]", shown) and "done" in shown
    assert "leak.txt" in (out / "changes.diff").read_text()
