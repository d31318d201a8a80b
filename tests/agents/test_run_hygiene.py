"""What a run gives an agent, and what the console says: the working directory in PWD, a home
of the run's own, the TERM its recording names, usage errors for runs that cannot work, and a
failed check reported as failed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cab_trace.harness.runtime import TOOLCHAIN_HOMES, local_agent_environment
from cab_trace.model import read_records
from tests.conftest import run_cli

DEMO_TASK = Path(__file__).resolve().parents[2] / "cab_trace" / "examples" / "demo-task"
SHOW_ENV = (
    "import json, os; "
    "print(json.dumps({k: os.environ.get(k) for k in "
    "('PWD', 'OLDPWD', 'HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'TERM')} "
    "| {'cwd': os.getcwd()}))"
)


def agent_env_seen(out: Path) -> dict[str, str | None]:
    container = next(r for r in read_records(out / "trace.jsonl") if r.kind == "container")
    line = next(x for x in str(container.attributes["stdout_tail"]).splitlines() if x.startswith("{"))
    return dict(json.loads(line))


def test_pwd_is_the_workdir_and_home_is_the_runs_own(tmp_path: Path) -> None:
    user_home, elsewhere, out = tmp_path / "home", tmp_path / "elsewhere", tmp_path / "run"
    user_home.mkdir()
    elsewhere.mkdir()
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out),
        "--", sys.executable, "-c", SHOW_ENV,
        env={"HOME": str(user_home), "PWD": str(elsewhere), "OLDPWD": "/somewhere/before", "TERM": "dumb"},
        cwd=elsewhere,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = agent_env_seen(out)
    assert seen["PWD"] == seen["cwd"] and seen["cwd"] != str(elsewhere)
    assert seen["OLDPWD"] is None
    home = Path(str(seen["HOME"]))
    assert home != user_home and home.parent == Path(str(seen["cwd"])).parent
    assert seen["XDG_CONFIG_HOME"] == str(home / ".config")
    assert seen["XDG_DATA_HOME"] == str(home / ".local" / "share")
    assert seen["XDG_CACHE_HOME"] == str(home / ".cache")
    assert seen["TERM"] == "dumb"  # without --tty the agent's TERM is the user's
    assert not home.exists()  # removed with the run
    cleanup = next(r for r in read_records(out / "trace.jsonl") if r.kind == "cleanup")
    assert any(str(p).endswith("/home") for p in cleanup.attributes["removed"])  # type: ignore[union-attr]
    container = next(r for r in read_records(out / "trace.jsonl") if r.kind == "container")
    assert container.attributes["home"] == "run" and container.attributes["tty"] is False


def test_user_home_opts_back_in_and_tty_sets_the_recorded_term(tmp_path: Path) -> None:
    user_home, out = tmp_path / "home", tmp_path / "run"
    user_home.mkdir()
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out), "--user-home", "--tty",
        "--", sys.executable, "-c", SHOW_ENV,
        env={"HOME": str(user_home), "TERM": "dumb", "XDG_CONFIG_HOME": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = agent_env_seen(out)
    assert seen["HOME"] == str(user_home) and seen["XDG_CONFIG_HOME"] == ""
    cast_header = json.loads((out / "terminal.cast").read_text().splitlines()[0])
    assert seen["TERM"] == cast_header["env"]["TERM"] == "xterm-256color"
    container = next(r for r in read_records(out / "trace.jsonl") if r.kind == "container")
    assert container.attributes["tty"] is True and container.attributes["home"] == "user"


def test_toolchains_under_the_users_home_stay_reachable(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    (user_home / ".cargo").mkdir(parents=True)
    (user_home / ".rustup").mkdir()
    env = local_agent_environment(
        {"HOME": str(user_home), "RUSTUP_HOME": "/opt/rustup", "OLDPWD": "/x"},
        {"XDG_CACHE_HOME": "/adapter/says"},
        workdir=tmp_path / "w",
        home=tmp_path / "h",
        user_home=user_home,
    )
    assert env["HOME"] == str(tmp_path / "h")
    assert env["CARGO_HOME"] == str(user_home / ".cargo")
    assert env["RUSTUP_HOME"] == "/opt/rustup"  # what the user set is kept
    assert "PYENV_ROOT" not in env  # only toolchains that are there
    assert env["XDG_CACHE_HOME"] == "/adapter/says"  # the adapter has the last word
    assert "OLDPWD" not in env and env["PWD"] == str(tmp_path / "w")
    assert {name for name, _ in TOOLCHAIN_HOMES} >= {"CARGO_HOME", "RUSTUP_HOME", "PYENV_ROOT"}


def test_a_failed_check_is_reported_as_failed_on_the_console(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out), "--", "true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # the run worked; the task was not done
    verify_line = next(x for x in result.stderr.splitlines() if x.strip().startswith("verify"))
    assert "FAILED: check failed: exit code 1" in verify_line
    final = next(x for x in result.stderr.splitlines() if x.startswith("cab-trace: run"))
    assert final.startswith("cab-trace: run finished, task check FAILED: exit code 1 · exit 0"), final
    assert "run ok" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--adapter", "{adapter_file}", "--endpoint", "http://127.0.0.1:1/v1"],
            "adapter noendpoint has no use for an endpoint",
        ),
        # Without the recording proxy (which reaches this machine's loopback for the container):
        (
            ["--adapter", "pi", "--model", "m", "--runtime", "docker", "--image", "img",
             "--endpoint", "http://127.0.0.1:8000/v1", "--no-model-proxy"],
            "a container cannot reach 127.0.0.1 of this machine",
        ),
        (
            ["--adapter", "aider", "--model", "m", "--runtime", "docker", "--image", "img",
             "--endpoint", "http://localhost:8000/v1", "--no-model-proxy"],
            "add --network host",
        ),
    ],
)  # fmt: skip
def test_runs_that_cannot_work_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    adapter = tmp_path / "noendpoint.toml"
    adapter.write_text('name = "noendpoint"\ncommand = ["true", "{model}"]\n')
    args = [a.replace("{adapter_file}", str(adapter)) for a in args]
    runs = tmp_path / "runs"
    result = run_cli(
        "run", *args, "--task", str(DEMO_TASK), "--runs-dir", str(runs), env={"CAB_KEY": "sk-some-key-123456"}
    )
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not runs.exists()
