"""Issue 21's attacks, each through a real `cab-trace run` (the local runtime, real processes):
a task, an adapter or the agent trying to turn cab-trace against its user. Each fails on the
code before the fix (the prompt injected variables, the symlink was followed, the user's OTLP
settings and token reached the agent, the agent's ids reached the collector, the long task id
crashed) and passes after it."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from cab_trace.model import read_records
from tests.conftest import run_cli

PROBE = Path(__file__).with_name("probe_agent.py")


def run(task: Path, out: Path, *command: str, adapter: str = "command", env=None, extra=(), timeout=120):
    return run_cli(
        "run", "--adapter", adapter, "--task", str(task), "--out", str(out), *extra,
        *(["--", *command] if command else []),
        env=env, timeout=timeout,
    )  # fmt: skip


def one_line_error(stderr: str) -> str:
    """The error a usage failure printed: exactly one error line (a hint may follow), no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("cab-trace: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# -- 1. NUL bytes that would split a field of the supervisor's spec --------------------------------


def test_a_nul_in_the_prompt_is_a_usage_error_not_injected_variables(tmp_path: Path, task_dir: Path) -> None:
    (task_dir / "task.toml").write_text(
        'id = "nul/prompt"\nprompt = "fix the bug\\u0000PATH=/evil/bin\\u0000INJECTED=1"\n'
    )
    out = tmp_path / "run"
    result = run(
        task_dir, out, sys.executable, str(PROBE), "{prompt}", env={"PROBE_OUT": str(tmp_path / "p")}
    )
    assert result.returncode == 2, result.stderr
    error = one_line_error(result.stderr)
    assert "task.toml" in error and "prompt" in error and "NUL" in error
    assert not out.exists() and not (tmp_path / "p").exists()  # nothing ran, nothing was recorded


def test_a_prompt_that_is_an_option_is_refused_unless_the_options_have_ended(
    tmp_path: Path, task_dir: Path
) -> None:
    """A prompt passed as an argument of its own is read as an option when it starts with '-'
    (claude's --dangerously-skip-permissions, say)."""
    (task_dir / "task.toml").write_text('id = "flag"\nprompt = "--dangerously-skip-permissions"\n')
    seen = tmp_path / "p"
    result = run(
        task_dir, tmp_path / "run", sys.executable, str(PROBE), "{prompt}", env={"PROBE_OUT": str(seen)}
    )
    assert result.returncode == 2, result.stderr
    error = one_line_error(result.stderr)
    assert "task.toml" in error and "prompt starts with '-'" in error
    assert not seen.exists()
    result = run(
        task_dir,
        tmp_path / "run2",
        sys.executable,
        str(PROBE),
        "--",
        "{prompt}",
        env={"PROBE_OUT": str(seen)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(seen.read_text())["argv"] == ["--", "--dangerously-skip-permissions"]


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ('command = ["{python}", "{probe}", "x\\u0000INJECTED=1"]\n', "command"),
        ('command = ["{python}", "{probe}"]\n[env]\nA = "v\\u0000INJECTED=1"\n', "[env]"),
        ('command = ["{python}", "{probe}"]\n[env]\n"A\\u0000INJECTED" = "1"\n', "[env]"),
        ('command = ["{python}", "{probe}"]\n[env]\n"LD_PRELOAD=/evil.so X" = "1"\n', "[env]"),
        ('command = ["{python}", "{probe}", "{v}"]\n[vars]\nv = "a\\u0000INJECTED=1"\n', "[vars]"),
        (
            'command = ["{python}", "{probe}"]\n[plugins.p]\nargs = ["\\u0000INJECTED=1"]\n',
            "plugin 'p'",
        ),
        ('command = ["{python}", "{probe}"]\n[files."a.txt"]\ncontent = "x\\u0000y"\n', "a.txt"),
    ],
    ids=["command", "env-value", "env-name-nul", "env-name-equals", "vars", "plugin-args", "file-content"],
)
def test_a_nul_anywhere_in_an_adapter_is_a_usage_error_naming_the_file_and_field(
    tmp_path: Path, task_dir: Path, table: str, field: str
) -> None:
    adapter = tmp_path / "evil.toml"
    body = table.replace("{python}", sys.executable).replace("{probe}", str(PROBE))
    adapter.write_text(f'name = "evil"\n{body}')
    out = tmp_path / "run"
    result = run(task_dir, out, adapter=str(adapter), env={"PROBE_OUT": str(tmp_path / "p")})
    assert result.returncode == 2, result.stderr
    error = one_line_error(result.stderr)
    assert str(adapter) in error and field in error, error
    assert not out.exists() and not (tmp_path / "p").exists()


# -- 2. symlinks and special files in a task directory ---------------------------------------------


def test_a_symlink_out_of_the_task_is_refused_before_anything_runs(tmp_path: Path, task_dir: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:TOP-SECRET-HASH:19000::::::\n")
    secret.chmod(0o600)
    (task_dir / "notes.txt").symlink_to(secret)
    out = tmp_path / "run"
    result = run(task_dir, out, "sh", "-c", "cat notes.txt")
    assert result.returncode == 2, result.stderr
    error = one_line_error(result.stderr)
    assert "notes.txt" in error and "outside the task" in error
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "target",
    ["/etc", "../..", "src/../../..", "/{task}/src/lib.rs"],
    ids=["absolute-dir", "parent", "dotdot-through-a-dir", "absolute-into-the-task"],
)
def test_every_way_out_of_the_task_is_refused(tmp_path: Path, task_dir: Path, target: str) -> None:
    (task_dir / "link").symlink_to(target.replace("/{task}", str(task_dir)))
    result = run(task_dir, tmp_path / "run", "true")
    assert result.returncode == 2, result.stderr
    assert "link" in one_line_error(result.stderr)


def test_a_symlink_that_goes_out_through_another_symlink_is_refused(tmp_path: Path, task_dir: Path) -> None:
    (task_dir / "deep" / "er").mkdir(parents=True)
    (task_dir / "up").symlink_to("deep/er")  # inside: deep/er
    (task_dir / "escape").symlink_to("up/../../..")  # lexically inside ("..") but really ../ of the task
    result = run(task_dir, tmp_path / "run", "true")
    assert result.returncode == 2, result.stderr
    assert "escape" in one_line_error(result.stderr)


def test_links_inside_the_task_are_copied_as_links_and_special_files_are_skipped_and_recorded(
    tmp_path: Path, task_dir: Path
) -> None:
    (task_dir / "lib.rs").symlink_to("src/lib.rs")
    (task_dir / "source").symlink_to("src")
    (task_dir / "dangling").symlink_to("nowhere/at/all")
    os.mkfifo(task_dir / "pipe")
    out = tmp_path / "run"
    report = tmp_path / "seen.json"
    script = (
        "import json, os, sys; json.dump({n: [os.path.islink(n), "
        "os.readlink(n) if os.path.islink(n) else None, os.path.exists(n)] "
        "for n in ('lib.rs', 'source', 'dangling', 'pipe')}, open(sys.argv[1], 'w'))"
    )
    result = run(task_dir, out, sys.executable, "-c", script, str(report))
    assert result.returncode == 0, result.stderr
    seen = json.loads(report.read_text())
    assert seen["lib.rs"] == [True, "src/lib.rs", True]
    assert seen["source"] == [True, "src", True]
    assert seen["dangling"] == [True, "nowhere/at/all", False]
    assert seen["pipe"] == [False, None, False]
    setup = next(r for r in read_records(out) if r.kind == "task_setup")
    assert setup.attributes["files_skipped"] == ["pipe (fifo)"]
    assert "pipe" in result.stderr and "skipped" in result.stderr


# -- 4. the user's OpenTelemetry settings are cab-trace's, not the agent's ---------------------------


def test_the_users_otlp_settings_and_tokens_do_not_reach_the_agent(tmp_path: Path, task_dir: Path) -> None:
    user_env = {
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://users-collector.example:4318/v1/logs",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "authorization=Bearer%20users-logs-token-123456",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-api-key=users-metrics-token-123456",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://users-collector.example:4318/v1/metrics",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=users-traces-token-123456",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "/home/user/collector-ca.pem",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://users-zipkin.example:9411",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_RESOURCE_ATTRIBUTES": "team=users-team",
    }
    seen = tmp_path / "env.json"
    result = run(
        task_dir, tmp_path / "run", sys.executable, str(PROBE),
        env={**user_env, "PROBE_OUT": str(seen)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    agent_env = json.loads(seen.read_text())["env"]
    for name, value in user_env.items():
        if name in agent_env:  # only cab-trace's own receiver may be named, never the user's values
            assert agent_env[name] != value, name
    assert not any("users-" in value for value in agent_env.values())
    # cab-trace's own receiver still gets the agent's spans (and logs), nowhere else.
    assert agent_env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://127.0.0.1:")


# -- 4. ids the agent chooses are checked against the known secrets --------------------------------

SECRET = "5e3f0c2a9b7d41e8a6c0f19d2b4e7a31"  # a hex key, shaped as many are; also a valid trace id


def test_an_agent_cannot_smuggle_a_secret_out_as_span_ids(tmp_path: Path, task_dir: Path) -> None:
    from tests.otlp_receiver import OtlpReceiver

    out = tmp_path / "run"
    with OtlpReceiver("http") as collector:
        result = run(
            task_dir, out, sys.executable, str(PROBE),
            env={"MY_SECRET": SECRET, "PROBE_SPANS": "1", "PROBE_OUT": str(tmp_path / "p")},
            extra=("--secret-env", "MY_SECRET", "--otlp-endpoint", collector.endpoint),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "leak check" not in result.stderr
    pieces = [SECRET[i : i + 16] for i in range(len(SECRET) - 15)]
    raw_pieces = [bytes.fromhex(p) for p in pieces if len(p) % 2 == 0]
    assert collector.received.raw
    for raw in collector.received.raw:
        assert not any(p.encode() in raw for p in pieces)
        assert not any(p in raw for p in raw_pieces)  # OTLP/protobuf carries ids as bytes
        assert not any(base64.b64encode(p) in raw for p in raw_pieces)
    text = (out / "trace.jsonl").read_text()
    assert not any(p in text for p in pieces)
    agent = [r for r in read_records(out) if r.name.startswith("probe")]
    assert len(agent) == 2
    child = next(r for r in agent if r.name == "probe child")
    replaced = child.attributes["cab.ids_replaced"]
    assert {"span_id", "parent_span_id", "links[0].trace_id", "links[0].span_id"} <= set(replaced)
    parent = next(r for r in agent if r.name == "probe parent")
    assert child.parent_span_id == parent.span_id  # the tree stays whole: one id, one replacement


# -- 7. what used to crash is a one-line error before the run starts -------------------------------


def test_a_5000_character_task_id_is_a_usage_error(tmp_path: Path, task_dir: Path) -> None:
    (task_dir / "task.toml").write_text(f'id = "{"x" * 5000}"\nprompt = "p"\n')
    result = run_cli("run", "--adapter", "command", "--task", str(task_dir), "--runs-dir",
                     str(tmp_path / "runs"), "--", "true")  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "task.toml" in one_line_error(result.stderr)
    assert not (tmp_path / "runs").exists()


def test_a_long_task_id_within_the_limit_still_runs(tmp_path: Path, task_dir: Path) -> None:
    (task_dir / "task.toml").write_text(f'id = "{"long-id/" * 30}end"\nprompt = "p"\n')
    result = run_cli("run", "--adapter", "command", "--task", str(task_dir), "--runs-dir",
                     str(tmp_path / "runs"), "--", "true")  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert len(run_dir.name) < 200


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'name = "x"\ncommand = ["true"]\n[files."a\\u0000b"]\ncontent = ""\n', "NUL"),
        (b'name = "x"\ncommand = ["true"]\n[files."."]\ncontent = ""\n', "'.'"),
        (b'name = "x"\ncommand = ["true"]\n[files."a/./b"]\ncontent = ""\n', "'a/./b'"),
        (
            b'name = "x"\ncommand = ["true"]\n[files."a"]\ncontent = ""\n[files."a/b"]\ncontent = ""\n',
            "'a'",
        ),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe binary", "not UTF-8"),
    ],
    ids=["nul-name", "dot", "dot-inside", "file-and-directory", "binary"],
)
def test_a_broken_adapter_file_is_a_one_line_error_before_the_run(
    tmp_path: Path, task_dir: Path, content: bytes, words: str
) -> None:
    adapter = tmp_path / "adapter.toml"
    adapter.write_bytes(content)
    out = tmp_path / "run"
    result = run(task_dir, out, adapter=str(adapter))
    assert result.returncode == 2, result.stderr
    error = one_line_error(result.stderr)
    assert str(adapter) in error and words in error, error
    assert not out.exists()


def test_special_and_huge_task_and_adapter_files_are_errors_not_hangs(tmp_path: Path, task_dir: Path) -> None:
    (task_dir / "task.toml").unlink()
    os.mkfifo(task_dir / "task.toml")  # reading a fifo nobody writes would wait forever
    result = run(task_dir, tmp_path / "run", "true", timeout=30)
    assert result.returncode == 2 and "task.toml" in one_line_error(result.stderr)
    adapter = tmp_path / "adapter.toml"
    os.mkfifo(adapter)
    (task_dir / "task.toml").unlink()
    (task_dir / "task.toml").write_text('id = "t"\nprompt = "p"\n')
    result = run(task_dir, tmp_path / "run", adapter=str(adapter), timeout=30)
    assert result.returncode == 2 and "adapter.toml" in one_line_error(result.stderr)
    assert stat.S_ISFIFO(adapter.lstat().st_mode)


def test_a_span_the_leak_guard_withholds_fails_the_run_and_says_where(
    tmp_path: Path, task_dir: Path, monkeypatch
) -> None:
    """Fault injection: the guard in front of the collector knows a secret the redactor was not
    told of (as if the redactor had missed it); the agent prints it. The span that holds it is
    not sent, and the run fails saying so, with a hint that blames the redactor, not 'something
    else'."""
    from cab_trace.harness import runner as runner_module
    from cab_trace.harness.runner import CellConfig, CellRunner
    from cab_trace.harness.runtime import LocalRuntime
    from cab_trace.otel.setup import OtlpSettings
    from tests.otlp_receiver import OtlpReceiver

    missed = "tok-Missed-By-The-Redactor-77QxZ"
    real = runner_module.build_pipeline

    def with_a_blind_spot(*args, **kwargs):
        pipeline = real(*args, **kwargs)
        pipeline.leak_guard.known = lambda: [*pipeline.redaction.redactor.known_secrets, missed]
        return pipeline

    monkeypatch.setattr(runner_module, "build_pipeline", with_a_blind_spot)
    with OtlpReceiver("http") as collector:
        config = CellConfig(
            task_dir=task_dir,
            adapter="command",
            runtime=LocalRuntime(),
            command=["sh", "-c", f"echo {missed}"],
            out=tmp_path / "run",
            otlp=OtlpSettings(collector.endpoint),
        )
        outcome = CellRunner(config).run()
    assert outcome.exit_code == 1
    assert "1 span(s), which were not sent to the collector" in outcome.message
    assert outcome.hint is not None and "redactor missed" in outcome.hint
    assert not any(missed[:16].encode() in raw for raw in collector.received.raw)
    sent = {span.name for _, span in collector.received.spans()}
    assert "command:launch" not in sent and any(name.startswith("run:") for name in sent)
