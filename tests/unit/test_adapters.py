"""Adapters and plugins are data: built-in ones load and produce the command lines benchmarks use."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from cab_trace.errors import AdapterError, TaskError
from cab_trace.harness.adapters import (
    build_argv,
    build_env,
    build_files,
    builtin_adapter_names,
    choose_plugins,
    load_adapter,
    parse_adapter,
)
from cab_trace.harness.task import Task

VALUES = {
    "model": "stepfun-ai/step-3.5-flash",
    "prompt": "Fix it",
    "key": "sk-k",
    "endpoint": "http://e/v1",
    "task_id": "t",
    "workdir": "/w",
    "config_dir": "/c",
}


def test_builtin_adapters() -> None:
    assert builtin_adapter_names() == ["aider", "claude", "codex", "command", "gemini", "opencode", "pi"]
    for name in builtin_adapter_names():
        assert load_adapter(name).name == name


def test_pi_argv_is_shaped_like_the_benchmarks() -> None:
    pi = load_adapter("pi")
    argv = build_argv(pi, {**pi.vars, **VALUES, "provider": "nim"}, [], [])
    assert argv == [
        "pi",
        "--print",
        "--no-session",
        "--offline",
        "--provider",
        "nim",
        "--model",
        "stepfun-ai/step-3.5-flash",
        "Fix it",
    ]


def test_aider_argv_and_plugin_args_before_the_message() -> None:
    aider = load_adapter("aider")
    choice = choose_plugins(aider, ["no-git"], {})
    argv = build_argv(aider, {**aider.vars, **VALUES}, choice.extra_args, [])
    assert argv[:5] == [
        "aider",
        "--openai-api-base",
        "http://e/v1",
        "--model",
        "openai/stepfun-ai/step-3.5-flash",
    ]
    assert argv[-2:] == ["--no-git", "--message=Fix it"]


def test_missing_endpoint_in_a_file_is_a_clear_error() -> None:
    pi = load_adapter("pi")
    with pytest.raises(
        AdapterError, match=r"needs a value for \{endpoint\} \(in its file pi-agent/models.json\)"
    ) as info:
        build_files(pi, {**pi.vars, **VALUES, "endpoint": None})
    assert "--endpoint" in (info.value.hint or "")


@pytest.mark.parametrize("name", ["pi", "aider", "opencode", "codex", "claude", "gemini"])
def test_the_key_is_never_in_argv_nor_in_a_file(name: str) -> None:
    adapter = load_adapter(name)
    values = {**adapter.vars, **VALUES, "key": "sk-the-key-0123456789", "config_dir": "/c"}
    argv = build_argv(adapter, values, [], [])
    files = build_files(adapter, values)
    assert not any("sk-the-key" in a for a in argv)
    assert not any("sk-the-key" in c for c in files.values())
    assert "sk-the-key-0123456789" in build_env(adapter, values, {}).values()
    assert adapter.uses("endpoint") and adapter.uses("key")


def test_pi_models_json_is_valid_json_with_odd_values() -> None:
    pi = load_adapter("pi")
    model = 'we"ird\\model\n'
    files = build_files(pi, {**pi.vars, **VALUES, "model": model, "config_dir": "/c"})
    provider = json.loads(files["pi-agent/models.json"])["providers"]["cab"]
    assert provider == {
        "baseUrl": "http://e/v1",
        "api": "openai-completions",
        "apiKey": "CAB_AGENT_API_KEY",
        "models": [{"id": model}],
    }
    assert (
        build_env(pi, {**pi.vars, **VALUES, "config_dir": "/c"}, {})["PI_CODING_AGENT_DIR"] == "/c/pi-agent"
    )


def test_opencode_config_names_the_key_variable_for_opencode_to_fill() -> None:
    opencode = load_adapter("opencode")
    files = build_files(opencode, {**opencode.vars, **VALUES, "config_dir": "/c"})
    provider = json.loads(files["opencode.json"])["provider"]["cab"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"] == {"baseURL": "http://e/v1", "apiKey": "{env:CAB_AGENT_API_KEY}"}
    assert list(provider["models"]) == ["stepfun-ai/step-3.5-flash"]


def test_codex_config_is_valid_toml() -> None:
    codex = load_adapter("codex")
    files = build_files(codex, {**codex.vars, **VALUES, "config_dir": "/c"})
    config = tomllib.loads(files["codex/config.toml"])
    assert config["model_providers"]["cab"]["base_url"] == "http://e/v1"
    assert config["model_providers"]["cab"]["env_key"] == "CAB_AGENT_API_KEY"


def test_aider_keeps_its_clutter_out_of_the_workdir() -> None:
    aider = load_adapter("aider")
    argv = build_argv(aider, {**aider.vars, **VALUES, "config_dir": "/c"}, [], [])
    for flag, value in [
        ("--chat-history-file", "/c/chat-history.md"),
        ("--input-history-file", "/c/input-history"),
        ("--model-metadata-file", "/c/model-metadata.json"),
    ]:
        assert argv[argv.index(flag) + 1] == value
    assert "--no-gitignore" in argv and "--no-git" in argv
    metadata = json.loads(build_files(aider, {**VALUES, "config_dir": "/c"})["model-metadata.json"])
    assert list(metadata) == ["openai/stepfun-ai/step-3.5-flash"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ('[files."/etc/x"]\ncontent = "a"', "must be a relative path"),
        ('[files."../x"]\ncontent = "a"', "must be a relative path"),
        ("[files.x]\ncontent = 3", "'content' must be a string"),
        ('[files.x]\ncontent = "a"\nmode = 1', "unknown field 'mode'"),
        ('[files.x]\ncontent = "a"\nescape = "yaml"', "escape must be"),
        ('[files.x]\ncontent = "{nope}"', r"placeholder \{nope\} is neither built in"),
    ],
)
def test_bad_adapter_files_sections(files: str, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        parse_adapter('name = "a"\ncommand = ["a"]\n' + files, "my.toml")


def test_env_entries_without_a_value_are_left_out() -> None:
    cmd = load_adapter("command")
    env = build_env(cmd, {**VALUES, "key": None, "endpoint": None}, {})
    assert "CAB_KEY" not in env and "CAB_ENDPOINT" not in env
    assert env["CAB_PROMPT"] == "Fix it"


def test_command_adapter_fills_only_known_placeholders() -> None:
    cmd = load_adapter("command")
    argv = build_argv(cmd, VALUES, [], ["sh", "-c", "f() { echo {model}; }; f", "{nothing}"])
    assert argv == ["sh", "-c", "f() { echo stepfun-ai/step-3.5-flash; }; f", "{nothing}"]


def test_plugins_applied_and_skipped_with_reasons() -> None:
    aider = parse_adapter(
        'name = "a"\ncommand = ["a"]\n[plugins.p1]\nargs = ["--x"]\n'
        '[plugins.p2]\nenv = {Y = "1"}\nrequires_env = ["NEEDED"]\n',
        "t",
    )
    choice = choose_plugins(aider, ["p1", "p2", "nope", "p1"], {})
    assert [p.name for p in choice.applied] == ["p1"]
    assert choice.skipped == [
        ("p2", "needs $NEEDED, which is not set"),
        ("nope", "not defined for adapter a"),
        ("p1", "already applied"),
    ]
    choice = choose_plugins(aider, ["p2"], {"NEEDED": "yes"})
    assert choice.env == {"Y": "1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "a"\ncommand = ["a", "{modle}"]', r"placeholder \{modle\} is neither built in"),
        ('command = ["a"]', "'name' must be a non-empty string"),
        ('name = "a"\ncommand = "a"', "command must be a list of strings"),
        ('name = "a"\ncolor = 1', "unknown field 'color'"),
        ('name = "a"\n[plugins.p]\nflags = []', "unknown field 'flags'"),
        ("name = [", "not valid TOML"),
    ],
)
def test_bad_adapter_files(text: str, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        parse_adapter(text, "my.toml")


def test_unknown_adapter_lists_the_builtin_ones() -> None:
    with pytest.raises(AdapterError) as info:
        load_adapter("cursor")
    assert "aider, claude, codex, command, gemini, opencode, pi" in (info.value.hint or "")


def test_task_loading(tmp_path: Path) -> None:
    (tmp_path / "task.toml").write_text('id = "poly/x"\nprompt = "do it"\n')
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.rs").write_text("fn main() {}")
    task = Task.load(tmp_path)
    assert (task.id, task.category, task.check) == ("poly/x", "poly", None)
    assert task.starting_files() == [Path("src/a.rs")]
    work = tmp_path / "w"
    assert task.copy_to(work) == 1 and (work / "src" / "a.rs").read_text() == "fn main() {}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ('id = "x"', "missing field 'prompt'"),
        ('id = "x"\nprompt = ""', "prompt must be a non-empty string"),
        ('id = "x"\nprompt = "p"\ncheck = 3', "check must be a string"),
        ('id = "x"\nprompt = "p"\ntimeout = 3', "unknown field 'timeout'"),
        ('id = "x', "not valid TOML"),
    ],
)
def test_bad_tasks(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "task.toml").write_text(content)
    with pytest.raises(TaskError, match=message):
        Task.load(tmp_path)


def test_missing_task_directory(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="does not exist"):
        Task.load(tmp_path / "nope")
