"""The runner's standalone helpers: how a path and a task id are shown and named, the scratch
directory's layout, the adapter's files, the OTLP header secrets, and the one-line failure
messages of a run.

Separate from :mod:`cab_trace.harness.runner` because none of them needs a run's state: each
is a plain function of its arguments, tested and reused (the fuzz tests, the benchmarks) alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cab_trace.harness import lifecycle, safetree
from cab_trace.redact import MIN_ENV_SECRET_LENGTH
from cab_trace.redact.rules import is_placeholder, is_secret_name

if TYPE_CHECKING:
    from cab_trace.harness.runtime import LaunchResult


def display_path(path: Path | str) -> str:
    """A path as recorded in a trace: the user's home directory shown as ``~``, never by name."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


#: A slug names directories beside a timestamp and a random suffix: well under a file name's 255 bytes.
MAX_SLUG = 64


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"
    if len(slug) > MAX_SLUG:
        # Cut, with a digest of the whole so that two long ids that share a start stay apart.
        slug = f"{slug[: MAX_SLUG - 9]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return slug


def _scratch_dirs(scratch: Path, own_home: bool) -> tuple[Path, Path, Path | None]:
    """The workdir, and beside it (so nothing there counts as the agent's change) the run's
    config directory and, for a hermetic run, the agent's home."""
    workdir = scratch / "workdir"
    workdir.mkdir()
    config_dir = scratch / "config"
    config_dir.mkdir(mode=0o700)
    home = scratch / "home" if own_home else None
    if home is not None:
        home.mkdir(mode=0o700)
    return workdir, config_dir, home


#: Where a container sees the run's config directory (the adapter's [files]).
CONTAINER_CONFIG_DIR = "/cab-agent-config"


def write_adapter_files(config_dir: Path, files: Mapping[str, str]) -> None:
    """Write the adapter's filled-in files into the run's config directory, readable by the user
    only, never through a link (safetree.write_files)."""
    safetree.write_files(config_dir, files)


def _value_source(name: str) -> str:
    """Where a placeholder's value came from, for an error about it."""
    if name in ("model", "endpoint"):
        return f"--{name}"
    if name == "key":
        return "the API key"
    return f"--var {name} (or the adapter's [vars])"


def header_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of every OTLP header variable (``OTEL_EXPORTER_OTLP_HEADERS`` and the per-signal
    ones): ``key=value`` lists whose values are usually collectors' tokens."""
    found: list[str] = []
    for name, text in environ.items():
        if name.startswith("OTEL_EXPORTER_") and name.endswith("HEADERS"):
            for item in text.split(","):
                _, sep, value = item.partition("=")
                value = urllib.parse.unquote(value.strip())
                if sep and len(value) >= 8:
                    found.append(value)
    return found


def handed_secrets(values: Mapping[str, str | None], otlp_headers: Mapping[str, str]) -> list[str]:
    """Secrets the run is handed on its command line, besides the key: the values of
    secret-named adapter variables (``--var api_key=…``), the password and the secret-named
    query values (``?key=…``) of the endpoint, and the ``--otlp-header`` values. The agent
    gets the first two (in its argv, its endpoint) and can read the last in its ancestors'
    command lines, as ``ps`` does; it may print any of them where no rule knows its context."""
    # As for secret-named environment variables: a value too short to be a credential is a switch.
    found = [
        v
        for k, v in values.items()
        if v
        and k != "key"
        and is_secret_name(k)
        and len(v) >= MIN_ENV_SECRET_LENGTH
        and not is_placeholder(v)
    ]
    endpoint = values.get("endpoint")
    if endpoint:
        parsed = urllib.parse.urlsplit(endpoint)
        if parsed.password:
            found.append(urllib.parse.unquote(parsed.password))
        for name, value in urllib.parse.parse_qsl(parsed.query):
            if value and (is_secret_name(name) or name.lower() in ("sig", "signature")):
                found.append(value)
    found += [v for v in otlp_headers.values() if v]
    return found


def _os_failure(exc: OSError) -> tuple[str, str | None]:
    """The run's failure message for an OSError, and what to do about it if there is something."""
    if exc.errno in lifecycle.DISK_FULL and exc.filename:
        return lifecycle.write_error(exc.filename, exc).message, lifecycle.WRITE_HINT
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), None


def _failure_message(result: LaunchResult, timeout_s: float | None) -> str | None:
    if result.error:
        return result.error
    if result.timed_out:
        return f"timed out after {timeout_s:g} s; the agent was killed"
    if result.exit_code != 0:
        return f"agent exited with code {result.exit_code}"
    return None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
