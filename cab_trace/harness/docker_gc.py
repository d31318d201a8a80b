"""The labels that bind a container to the `cab-trace run` that made it, and the garbage
collection that reads them to remove the containers of runs proven dead.

Separate from the runtime because the labels are a contract between two parties: the run that
writes them (:mod:`cab_trace.harness.docker_runtime`) and `cab-trace gc` (and the start of each
run) that acts on them, with the proof of death in :mod:`cab_trace.harness.ownership`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from cab_trace.harness import lifecycle, ownership
from cab_trace.harness.docker_engine import _engine_errors, connect

LABEL_RUN = "cab-trace.run-id"
LABEL_OWNER = "cab-trace.owner"
"""``<hostname>:<pid>:<start ticks>`` of the `cab-trace run` that made the container: for people
reading labels. Anyone can write a label: it proves nothing and gc never acts on it."""
LABEL_LOCK = "cab-trace.lock"
"""The lock file of the run's scratch directory: held while the run lives (ownership.py)."""
LABEL_TOKEN = "cab-trace.token"  # noqa: S105 - a label's name, not a secret
"""The random token written in that lock file (or, without one, this runtime's own)."""


def owner_label() -> str:
    return lifecycle.owner_mark()


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
