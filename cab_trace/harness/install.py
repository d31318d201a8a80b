"""How to get an agent CLI that is not installed: from ``agents/versions``, the pinned list
``make agents`` installs (a checkout has it at its root; a wheel carries a copy)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: The checkout's root, when cab-trace runs from one (an editable install).
CHECKOUT = Path(__file__).resolve().parents[2]


def _versions_text() -> str:
    try:
        return (CHECKOUT / "agents" / "versions").read_text(encoding="utf-8")
    except OSError:
        pass
    try:
        return resources.files("cab_trace").joinpath("_agents_versions").read_text("utf-8")
    except (OSError, ModuleNotFoundError):
        return ""


def pinned(command: str) -> tuple[str, str, str] | None:
    """(registry, package, version) of the agent CLI whose command is ``command``."""
    for line in _versions_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 4 and fields[3] == command:
            return fields[0], fields[1], fields[2]
    return None


def install_hint(command: str) -> str:
    """What to do about a missing agent command, as commands that work when pasted."""
    name = os.path.basename(command)
    tips = []
    local = CHECKOUT / ".agents" / "bin"
    if (local / name).exists():
        return f"it is installed in {local}: export PATH={local}:$PATH"
    found = pinned(name)
    in_checkout = (CHECKOUT / "agents" / "versions").is_file() and (CHECKOUT / "Makefile").is_file()
    if found is not None and in_checkout:
        tips.append(f"`make agents` installs the pinned agent CLIs (then: export PATH={local}:$PATH)")
    if found is not None:
        registry, package, version = found
        if registry == "npm":
            tips.append(f"npm install -g {package}@{version}")
        elif registry == "pypi":
            tips.append(f"pipx install {package}=={version}")
    if not tips:
        return f"install {name} so that it is on PATH, or give the adapter the path of the command"
    return "; or ".join(tips)
