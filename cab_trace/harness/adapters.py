"""Adapters and plugins: data, not code.

An adapter is a TOML file that says how (model, prompt, endpoint, key, extra args) become
an agent's argv and env::

    name = "aider"
    description = "..."
    command = ["aider", "--model", "openai/{model}", "{plugin_args}", "--message", "{prompt}"]
    [vars]                      # defaults for extra placeholders, overridable with --var K=V
    [env]                       # added to the agent's environment
    OPENAI_API_KEY = "{key}"
    [plugins.no-git]            # named additions a run may apply with --plugin
    args = ["--no-git"]
    env = {}
    requires_env = []           # skipped (and said why) unless these are set
    requires = ["key"]          # placeholders that must have a value (here: only used in [env])
    [files."models.json"]       # configuration files written, per run, into {config_dir}
    content = '''{"baseUrl": "{endpoint}", "models": [{"id": "{model}"}]}'''

Placeholders are ``{name}`` for the known names below and the adapter's ``vars``; any
other text in braces is left as it is. In ``command`` and in ``files`` every placeholder
must have a value; an ``env`` entry whose placeholders have no value is left out.
``{plugin_args}`` as a whole element marks where plugin arguments go (default: the end).

``[files]`` are the configuration an agent reads from files rather than flags (pi's
``models.json``, opencode's provider): each is written, filled in, into a directory the run
makes for it outside the workdir (``{config_dir}``) and removes at the end. In a file whose
name ends in ``.json`` the values are escaped as JSON string contents (``escape = "none"``
turns that off). Point the agent at its key through the environment (``[env]``) and name the
variable in the file where the agent allows it, so the key is written nowhere.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cab_trace.errors import AdapterError
from cab_trace.harness import safetree
from cab_trace.harness.crossing import check_env, check_text, check_texts

#: Placeholders every adapter can use, and what fills them.
BUILTIN_PLACEHOLDERS = {
    "model": "--model",
    "prompt": "the task's prompt",
    "key": "the API key (from $CAB_KEY, or the variable named by --key-env)",
    "endpoint": "--endpoint or $CAB_ENDPOINT",
    "workdir": "the agent's working directory",
    "task_id": "the task's id",
    "config_dir": "a directory of this run's own, outside the workdir, holding the adapter's [files]",
}
PLUGIN_ARGS = "{plugin_args}"
#: An adapter file larger than this is not an adapter.
MAX_ADAPTER_FILE = 16 << 20
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Plugin:
    name: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    requires_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdapterFile:
    """A configuration file the adapter writes into ``{config_dir}`` before the agent starts."""

    name: str  # a relative path inside the config directory
    content: str  # a template
    escape: str = "none"  # "json": values are escaped as JSON string contents


@dataclass(frozen=True)
class Adapter:
    name: str
    description: str
    command: tuple[str, ...]
    vars: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    plugins: Mapping[str, Plugin] = field(default_factory=dict)
    source: str = ""
    files: Mapping[str, AdapterFile] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    """Placeholders that must have a value even where they appear only in ``env`` (the key)."""

    @property
    def takes_command(self) -> bool:
        """The ``command`` adapter: its argv is whatever follows ``--``."""
        return not self.command

    def uses(self, placeholder: str) -> bool:
        """Whether the command, the environment, a plugin or a file refers to ``{placeholder}``."""
        templates = [
            *self.command,
            *self.env.values(),
            *(f.content for f in self.files.values()),
            *(a for p in self.plugins.values() for a in (*p.args, *p.env.values())),
        ]
        return any(placeholder in _PLACEHOLDER.findall(t) for t in templates)


@dataclass(frozen=True)
class PluginChoice:
    """What became of the plugins a run asked for."""

    applied: list[Plugin]
    skipped: list[tuple[str, str]]  # (name, why)

    @property
    def extra_args(self) -> list[str]:
        return [a for p in self.applied for a in p.args]

    @property
    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for p in self.applied:
            merged.update(p.env)
        return merged


def builtin_adapter_names() -> list[str]:
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in resources.files("cab_trace.harness").joinpath("adapters").iterdir()
        if entry.name.endswith(".toml")
    )


def load_adapter(name_or_path: str) -> Adapter:
    """A built-in adapter by name (pi, aider, opencode, codex, claude, gemini, command) or a TOML file.

    Raises:
        AdapterError: no such adapter, or the file is not a valid adapter.
    """
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.is_file():
        try:
            # A regular file of a sensible size: a fifo would block, /dev/zero never ends.
            data = safetree.read_regular(path, MAX_ADAPTER_FILE)
        except OSError as exc:
            raise AdapterError(f"adapter file {path}: cannot be read ({exc.strerror or exc})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AdapterError(
                f"adapter file {path}: not UTF-8 text (byte {exc.start})",
                hint="an adapter is a TOML file; is this the right path?",
            ) from None
        return parse_adapter(text, str(path))
    if name_or_path not in builtin_adapter_names():
        close = difflib.get_close_matches(name_or_path, builtin_adapter_names(), n=1, cutoff=0.5)
        raise AdapterError(
            f"unknown adapter {name_or_path!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
            hint=f"built-in adapters: {', '.join(builtin_adapter_names())}; "
            "or pass the path of an adapter .toml",
        )
    text = (
        resources.files("cab_trace.harness").joinpath("adapters", f"{name_or_path}.toml").read_text("utf-8")
    )
    return parse_adapter(text, f"built-in adapter {name_or_path}")


def parse_adapter(text: str, source: str) -> Adapter:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AdapterError(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:
        raise AdapterError(f"{source}: not valid TOML (nested too deeply)") from None
    fields = {"name", "description", "command", "vars", "env", "plugins", "files", "requires"}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise AdapterError(f"{source}: unknown field {unknown[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise AdapterError(f"{source}: 'name' must be a non-empty string")
    command = _str_list(data.get("command", []), f"{source}: command")
    variables = _str_map(data.get("vars", {}), f"{source}: [vars]")
    env = _str_map(data.get("env", {}), f"{source}: [env]")
    # Each of these reaches the agent's argv or environment: none may hold a NUL (crossing.py).
    check_texts(command, f"{source}: command", AdapterError)
    for var, value in variables.items():
        check_text(value, f"{source}: [vars] {var}", AdapterError)
    check_env(env, f"{source}: [env]", AdapterError)
    known = set(BUILTIN_PLACEHOLDERS) | set(variables)
    files = _parse_files(data.get("files", {}), source)
    for part in [*command, *env.values(), *(f.content for f in files.values())]:
        for placeholder in _PLACEHOLDER.findall(part):
            if placeholder not in known and part != PLUGIN_ARGS:
                raise AdapterError(
                    f"{source}: placeholder {{{placeholder}}} is neither built in nor defined in [vars]",
                    hint=f"built-in placeholders: {', '.join(sorted(BUILTIN_PLACEHOLDERS))}",
                )
    plugins_raw = data.get("plugins", {})
    if not isinstance(plugins_raw, dict):
        raise AdapterError(f"{source}: [plugins] must be a table of plugin tables")
    plugins = {pname: parse_plugin(pname, spec, source) for pname, spec in plugins_raw.items()}
    requires = _str_list(data.get("requires", []), f"{source}: requires")
    for placeholder in requires:
        if placeholder not in known:
            raise AdapterError(f"{source}: requires {placeholder!r}, which is neither built in nor in [vars]")
    description = data.get("description", "")
    return Adapter(
        name, str(description), tuple(command), variables, env, plugins, source, files, tuple(requires)
    )


def _parse_files(raw: object, source: str) -> dict[str, AdapterFile]:
    if not isinstance(raw, dict):
        raise AdapterError(f"{source}: [files] must be a table of file tables")
    files: dict[str, AdapterFile] = {}
    for name, spec in raw.items():
        where = f"{source}: [files.{name!r}]"
        if problem := _file_name_problem(name):
            raise AdapterError(
                f"{where}: {problem}",
                hint="a file's name is a relative path of plain parts inside the config directory, "
                'e.g. "models.json" or "conf/agent.toml"',
            )
        if not isinstance(spec, dict):
            raise AdapterError(f"{where} must be a table")
        unknown = sorted(set(spec) - {"content", "escape"})
        if unknown:
            raise AdapterError(f"{where}: unknown field {unknown[0]!r}", hint="files have content, escape")
        content = spec.get("content")
        if not isinstance(content, str):
            raise AdapterError(f"{where}: 'content' must be a string")
        escape = spec.get("escape", "json" if name.endswith(".json") else "none")
        if escape not in ("json", "none"):
            raise AdapterError(f'{where}: escape must be "json" or "none", not {escape!r}')
        check_text(content, f"{where}: content", AdapterError)
        files[name] = AdapterFile(name, content, escape)
    # A file cannot also be a directory holding another ("a" and "a/b"): found now, not mid-run.
    for name in files:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if (parent := "/".join(parts[:depth])) in files:
                raise AdapterError(
                    f"{source}: [files.{parent!r}] is a file, and [files.{name!r}] needs it to be a directory"
                )
    return files


def _file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a file of the config directory, or None."""
    if "\0" in name:
        return "the name holds a NUL byte (\\0)"
    if not name or name.startswith("/"):
        return "the name must be a relative path inside the config directory"
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "the name must be a relative path of plain parts (no empty part, '.' or '..')"
    if any(len(part.encode()) > 255 for part in parts):
        return "a part of the name is longer than a file name may be (255 bytes)"
    return None


def parse_plugin(name: str, spec: object, source: str) -> Plugin:
    where = f"{source}: plugin {name!r}"
    if not isinstance(spec, dict):
        raise AdapterError(f"{where} must be a table")
    unknown = sorted(set(spec) - {"args", "env", "requires_env", "description"})
    if unknown:
        raise AdapterError(
            f"{where}: unknown field {unknown[0]!r}", hint="plugins have args, env, requires_env"
        )
    args = _str_list(spec.get("args", []), f"{where}: args")
    env = _str_map(spec.get("env", {}), f"{where}: env")
    check_texts(args, f"{where}: args", AdapterError)
    check_env(env, f"{where}: env", AdapterError)
    return Plugin(
        name=name,
        args=tuple(args),
        env=env,
        requires_env=tuple(_str_list(spec.get("requires_env", []), f"{where}: requires_env")),
    )


def choose_plugins(adapter: Adapter, requested: Sequence[str], environ: Mapping[str, str]) -> PluginChoice:
    """Apply the requested plugin stack in order; say why each one that is not applied was skipped."""
    applied: list[Plugin] = []
    skipped: list[tuple[str, str]] = []
    for name in requested:
        plugin = adapter.plugins.get(name)
        if plugin is None:
            skipped.append((name, f"not defined for adapter {adapter.name}"))
        elif any(p.name == name for p in applied):
            skipped.append((name, "already applied"))
        elif missing := [v for v in plugin.requires_env if not environ.get(v)]:
            skipped.append((name, f"needs ${missing[0]}, which is not set"))
        else:
            applied.append(plugin)
    return PluginChoice(applied, skipped)


def fill(template: str, values: Mapping[str, str | None]) -> str | None:
    """Replace known placeholders; None if one of them has no value."""
    missing = False

    def sub(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name not in values:
            return match.group(0)  # not ours: braces in a shell command, say
        value = values[name]
        if value is None:
            missing = True
            return ""
        return value

    result = _PLACEHOLDER.sub(sub, template)
    return None if missing else result


def build_argv(
    adapter: Adapter, values: Mapping[str, str | None], plugin_args: Sequence[str], command: Sequence[str]
) -> list[str]:
    """The agent's argv: the adapter's command (or ``command`` for the command adapter), filled in.

    Raises:
        AdapterError: a placeholder in the command has no value.
    """
    for name in adapter.requires:
        if values.get(name) is None:
            raise AdapterError(
                f"adapter {adapter.name} needs a value for {{{name}}}", hint=_missing_hint(name)
            )
    template = list(command) if adapter.takes_command else list(adapter.command)
    if not template:
        raise AdapterError(
            f"adapter {adapter.name} runs the command given after --, and none was given",
            hint="e.g. cab-trace run --adapter command --task DIR -- python agent.py",
        )
    argv: list[str] = []
    placed = False
    for part in template:
        if part == PLUGIN_ARGS:
            argv.extend(plugin_args)
            placed = True
            continue
        filled = fill(part, values)
        if filled is None:
            name = next(n for n in _PLACEHOLDER.findall(part) if n in values and values[n] is None)
            raise AdapterError(
                f"adapter {adapter.name} needs a value for {{{name}}}", hint=_missing_hint(name)
            )
        argv.append(filled)
    if not placed:
        argv.extend(plugin_args)
    return argv


def build_env(
    adapter: Adapter, values: Mapping[str, str | None], plugin_env: Mapping[str, str]
) -> dict[str, str]:
    """The variables the adapter adds to the agent's environment (entries lacking a value left out)."""
    env: dict[str, str] = {}
    for name, template in {**adapter.env, **plugin_env}.items():
        filled = fill(template, values)
        if filled is not None:
            env[name] = filled
    return env


def build_files(adapter: Adapter, values: Mapping[str, str | None]) -> dict[str, str]:
    """The adapter's configuration files, filled in: {relative name: content}.

    Raises:
        AdapterError: a placeholder in a file has no value.
    """
    files: dict[str, str] = {}
    for spec in adapter.files.values():
        escaped = values
        if spec.escape == "json":
            escaped = {k: None if v is None else json.dumps(v)[1:-1] for k, v in values.items()}
        filled = fill(spec.content, escaped)
        if filled is None:
            name = next(n for n in _PLACEHOLDER.findall(spec.content) if n in values and values[n] is None)
            raise AdapterError(
                f"adapter {adapter.name} needs a value for {{{name}}} (in its file {spec.name})",
                hint=_missing_hint(name),
            )
        files[spec.name] = filled
    return files


def _missing_hint(name: str) -> str:
    if name == "key":
        return "set the API key in $CAB_KEY, or name another variable with --key-env"
    if name == "endpoint":
        return "pass --endpoint URL or set $CAB_ENDPOINT"
    if name == "model":
        return "pass --model"
    return f"pass --var {name}=VALUE"


def _str_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AdapterError(f"{where} must be a list of strings")
    return list(value)


def _str_map(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise AdapterError(f"{where} must be a table of strings")
    return dict(value)
