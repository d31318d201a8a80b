"""What a sweep runs, from a sweep file (TOML), from flags, and from the sweep directory's own record.

Pure (stdlib only): mappings in, a :class:`SweepSpec` out. A sweep file's keys are the flags'
names without the dashes in front (``adapter``, ``model``, ``task``, ``repeats``, ``workers``,
``image`` ...); ``_`` and ``-`` are the same in a key. Repeatable flags take a list (a single
value is a list of one). ``image`` and ``endpoint`` take one value for every adapter or a table
by adapter (``[image] pi = "..."``, ``"*"`` for the rest). Layers override one another key by
key: the sweep directory's record < the sweep file < the flags.

Relative paths (tasks, adapter files, ``out``, ``ray-shared-dir``) are taken from where they
were written: a sweep file's relative to the file's directory, a flag's to the current directory.
"""

from __future__ import annotations

import difflib
import glob
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cab_trace.cli_types import byte_size, memory_limit
from cab_trace.errors import UsageError
from cab_trace.harness.safetree import read_regular
from cab_trace.redact.spans import REDACTED

if TYPE_CHECKING:
    from cab_trace.redact import Redactor

#: The keys a sweep file may hold, and how each is read. ``kind`` is one of:
#: str, strs (a list of strings), bool, int (positive), seconds (0 or more), number (positive),
#: per-adapter (a string or a table of strings by adapter), vars (a table of strings),
#: var-sets (a list of tables), plugin-sets (a list of lists of strings), choice:<a>|<b>.
KEYS: dict[str, str] = {
    "adapter": "strs",
    "model": "strs",
    "task": "strs",
    "repeats": "int",
    "plugin": "strs",
    "plugin-set": "plugin-sets",
    "var": "vars",
    "var-set": "var-sets",
    "runtime": "choice:local|docker",
    "image": "per-adapter",
    "endpoint": "per-adapter",
    "pull": "bool",
    "memory": "memory",
    "cpus": "number",
    "pids-limit": "int",
    "network": "str",
    "timeout": "seconds",
    "no-content": "bool",
    "no-model-proxy": "bool",
    "user-home": "bool",
    "key-env": "str",
    "secret-env": "strs",
    "behavior-mode": "str",
    "tty": "bool",
    "cast-limit": "size",
    "keep-workdir": "bool",
    "command": "strs",
    "otlp-endpoint": "str",
    "otlp-protocol": "choice:grpc|http/protobuf",
    "otlp-header": "strs",
    "sweep-id": "str",
    "out": "path",
    "workers": "int",
    "executor": "choice:local|ray",
    "ray-address": "str",
    "ray-shared-dir": "path",
}
#: Keys whose values are paths, resolved against the directory of whoever wrote them.
PATH_KEYS = ("out", "ray-shared-dir")
#: Not recorded in the sweep directory: header values may be credentials, and where the sweep
#: directory is, and how to run it, are the next command's to say.
NOT_RECORDED = ("otlp-header", "out", "workers", "executor", "ray-address", "ray-shared-dir")
#: A wildcard key of a per-adapter table: the value for adapters not named.
ANY_ADAPTER = "*"

DEFAULTS: dict[str, Any] = {
    "model": [],
    "repeats": 1,
    "plugin": [],
    "plugin-set": [],
    "var": {},
    "var-set": [],
    "runtime": "local",
    "pull": False,
    "timeout": 600.0,
    "no-content": False,
    "no-model-proxy": False,
    "user-home": False,
    "key-env": "CAB_KEY",
    "secret-env": [],
    "behavior-mode": "factory",
    "tty": False,
    "keep-workdir": False,
    "command": [],
    "otlp-header": [],
    "executor": "local",
}


@dataclass
class SweepSpec:
    """A resolved sweep: every key of :data:`KEYS` with a value (``None`` where a key is unset)."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key, DEFAULTS.get(key))

    def for_adapter(self, key: str, adapter: str) -> str | None:
        """A per-adapter value (``image``, ``endpoint``) for one adapter (by name or as given)."""
        value = self[key]
        if value is None or isinstance(value, str):
            return value
        return value.get(adapter, value.get(ANY_ADAPTER))  # type: ignore[no-any-return]

    def recorded(self, redactor: Redactor | None = None) -> dict[str, Any]:
        """What the sweep directory keeps of the spec, so that the same sweep runs again from it:
        with ``redactor``, every secret in it replaced (a key in the agent's command, a
        secret-named variable, an endpoint's password), which a resume must be given again
        (:func:`withheld`)."""
        kept = {k: v for k, v in self.values.items() if k not in NOT_RECORDED}
        if redactor is None:
            return kept
        scrubbed: dict[str, Any] = {}
        for key, value in kept.items():
            if KEYS.get(key) == "vars":
                scrubbed[key] = redactor.env(value)
            elif key == "var-set":
                scrubbed[key] = [redactor.env(v) for v in value]
            else:
                scrubbed[key] = redactor.value(value)  # a list of strings as an argv (the command)
        return scrubbed


def withheld(spec: SweepSpec) -> list[str]:
    """The keys of ``spec`` that still hold a secret a sweep directory did not keep."""
    return [k for k, v in spec.values.items() if REDACTED in json.dumps(v)]


def normalize_key(key: str) -> str:
    return key.replace("_", "-")


def _line_of(text: str, key: str) -> int | None:
    """The line of a sweep file where ``key`` is set (for error messages), if it can be found."""
    spellings = {key, key.replace("-", "_")}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        for spelling in spellings:
            if re.match(rf"^\[?\s*\"?{re.escape(spelling)}\"?\s*[=\]]", stripped):
                return number
    return None


class _Reader:
    """Reads one layer's mapping (a file's or the record's), naming the source in errors."""

    def __init__(self, source: str, text: str = "", base: Path | None = None) -> None:
        self.source = source
        self.text = text
        self.base = base

    def error(self, key: str, problem: str, hint: str | None = None) -> UsageError:
        line = _line_of(self.text, key) if self.text else None
        where = f"{self.source}:{line}" if line else self.source
        return UsageError(f"{where}: {key}: {problem}", hint=hint)

    def read(self, data: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = normalize_key(raw_key)
            if key not in KEYS:
                close = difflib.get_close_matches(key, list(KEYS), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"the keys: {', '.join(KEYS)}"
                raise self.error(raw_key, "unknown key", hint=hint)
            if key in out:
                raise self.error(raw_key, f"given twice (as {key!r} and as another spelling)")
            out[key] = self.value(key, value)
        return out

    def value(self, key: str, value: Any) -> Any:  # noqa: PLR0912
        kind = KEYS[key]
        if kind == "strs":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise self.error(key, "must be a string or a list of strings")
            if key == "task":
                return [self.path(v) for v in items]  # globs are expanded when the tasks are resolved
            if key == "adapter":
                return [self.adapter(v) for v in items]
            return list(items)
        if kind in ("str", "path"):
            if not isinstance(value, str) or not value:
                raise self.error(key, "must be a non-empty string")
            return self.path(value) if kind == "path" else value
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.error(key, "must be true or false")
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise self.error(key, "must be a positive whole number")
            return value
        if kind in ("seconds", "number"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise self.error(key, "must be a number")
            if value < 0 or (kind == "number" and value == 0):
                raise self.error(key, "must be 0 or more" if kind == "seconds" else "must be more than 0")
            return float(value)
        if kind == "memory":
            try:
                return memory_limit(str(value))
            except ValueError:
                raise self.error(key, "must be a memory limit of 6m or more, e.g. 512m or 2g") from None
        if kind == "size":
            try:
                return byte_size(str(value))
            except ValueError:
                raise self.error(key, "must be a size, e.g. 200m") from None
        if kind.startswith("choice:"):
            choices = kind.removeprefix("choice:").split("|")
            if value not in choices:
                raise self.error(key, f"must be one of {', '.join(choices)}")
            return value
        if kind == "per-adapter":
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and value and all(isinstance(v, str) and v for v in value.values()):
                return {str(k): v for k, v in value.items()}
            raise self.error(key, "must be a string, or a table of strings by adapter name")
        if kind == "vars":
            return self.vars(key, value)
        if kind == "var-sets":
            if not isinstance(value, list):
                raise self.error(key, 'must be a list of tables, e.g. [{provider = "nim"}, {}]')
            return [self.vars(key, v) for v in value]
        if kind == "plugin-sets":
            if not isinstance(value, list) or not all(
                isinstance(s, list) and all(isinstance(p, str) for p in s) for s in value
            ):
                raise self.error(key, 'must be a list of lists of plugin names, e.g. [[], ["thinking-off"]]')
            return [list(s) for s in value]
        raise AssertionError(kind)

    def vars(self, key: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.error(key, 'must be a table of strings, e.g. {provider = "nim"}')
        return {str(k): v for k, v in value.items()}

    def path(self, text: str) -> str:
        path = Path(text).expanduser()
        if self.base is not None and not path.is_absolute():
            path = self.base / path
        return str(path)

    def adapter(self, text: str) -> str:
        # A name of a built-in adapter stays a name; a file is a path like any other.
        return self.path(text) if text.endswith(".toml") or "/" in text else text


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


#: A sweep file larger than this is not a sweep file.
MAX_SWEEP_FILE = 16 << 20


def read_sweep_file(path: Path) -> dict[str, Any]:
    """One layer from a sweep file.

    Raises:
        UsageError: the file cannot be read, is not TOML, or has a key or value that is wrong
            (the message names the file and, where it can, the line).
    """
    try:
        # Not path.read_text: a named pipe would be waited on for ever, a device read for ever.
        text = read_regular(path, MAX_SWEEP_FILE).decode("utf-8")
    except OSError as exc:
        raise UsageError(f"--sweep-file {path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UsageError(f"--sweep-file {path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    return _Reader(str(path), text, base=path.resolve().parent).read(data)


def read_recorded(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """One layer from what a sweep directory recorded of its spec (paths there are absolute)."""
    return _Reader(source).read(data)


def parse_vars(items: Sequence[str], flag: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r} is not KEY=VALUE")
        result[key] = value
    return result


def parse_var_set(text: str) -> dict[str, str]:
    """``--var-set 'provider=nim,api=openai-completions'`` (an empty text is the empty set)."""
    return parse_vars([p for p in text.split(",") if p], "--var-set")


def parse_plugin_set(text: str) -> list[str]:
    """``--plugin-set thinking-off,no-git`` (an empty text is no plugins)."""
    return [p.strip() for p in text.split(",") if p.strip()]


_ADAPTER_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$")


def parse_per_adapter(items: Sequence[str], flag: str) -> str | dict[str, str]:
    """``--image IMG`` (every adapter) or ``--image pi=IMG`` (repeatable), as a file's value."""
    table: dict[str, str] = {}
    for item in items:
        match = _ADAPTER_PREFIX.match(item)
        if match and "://" not in match[1]:
            table[match[1]] = match[2]
        else:
            table[ANY_ADAPTER] = item
    if not table:
        raise UsageError(f"{flag}: needs a value")
    if list(table) == [ANY_ADAPTER]:
        return table[ANY_ADAPTER]
    return table


def merge(*layers: Mapping[str, Any]) -> SweepSpec:
    """Later layers win, key by key."""
    values: dict[str, Any] = {}
    for layer in layers:
        values.update(layer)
    return SweepSpec(values)


def expand_tasks(entries: Sequence[str]) -> list[Path]:
    """Task directories from paths and globs, in the order given (a glob's matches sorted), once each.

    Raises:
        UsageError: a glob that matches no task directory.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for entry in entries:
        if _is_glob(entry):
            matches = [
                Path(m) for m in sorted(glob.glob(entry, recursive=True)) if (Path(m) / "task.toml").is_file()
            ]
            if not matches:
                raise UsageError(
                    f"task {entry!r} matches no task directory",
                    hint="a task directory holds a task.toml; a glob such as tasks/* matches them",
                )
        else:
            matches = [Path(entry)]
        for match in matches:
            resolved = match.resolve()
            if resolved not in seen:
                seen.add(resolved)
                out.append(match)
    return out
