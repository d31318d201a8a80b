"""An agent trying, as an attacker would, to get its key past the redactor through a real
`cab-trace run` (pipes and --tty): no byte of the run directory, no JSON-decoded or rendered
form of it, and nothing on the console holds the key or a 16-character piece of it, and the
run still ends clean (the leak check had nothing to catch)."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pyte
import pytest

from cab_trace.model import read_records
from tests.conftest import run_cli

KEY = "opaque-Key-With-No-Shape-0451-zzQ8wq"  # no provider shape: only the known-secret layer knows it
PIECES = [KEY[i : i + 16] for i in range(len(KEY) - 15)]
AGENT = Path(__file__).with_name("attack_agent.py")
INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\u00ad\u200b-\u200f\u2060-\u2064\ufeff]|\x1b\\[[0-?]*[ -/]*[@-~]"
)


def leaked(text: str) -> list[str]:
    """Pieces of the key in ``text`` as bytes, with control sequences and invisible characters taken out."""
    plain = INVISIBLE.sub("", text)
    return [p for p in PIECES if p in text or p in plain]


def rendered(cast: Path) -> list[str]:
    header, *events = [json.loads(line) for line in cast.read_text().splitlines()]
    screen = pyte.HistoryScreen(header["width"], header["height"], history=10_000)
    stream = pyte.Stream(screen)
    for event in events:
        stream.feed(re.sub("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]", "", event[2]))
    lines = ["".join(c.data for c in row.values()) for row in screen.history.top] + list(screen.display)
    return lines


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
def test_an_attacking_agent_gets_its_key_nowhere(tmp_path: Path, task_dir: Path, tty: bool) -> None:
    from tests.otlp_receiver import OtlpReceiver

    out = tmp_path / "run"
    # The task's check prints the key too, with colour codes between its characters.
    check = f"{sys.executable} -c \"import os; print('ok ' + (chr(27) + '[0m').join(os.environ['CAB_KEY']))\""
    (task_dir / "task.toml").write_text(f'id = "attack/key"\nprompt = "p"\ncheck = {json.dumps(check)}\n')
    with OtlpReceiver("http") as collector:
        result = run_cli(
            "run", "--adapter", "command", "--task", str(task_dir), "--out", str(out), "--echo",
            "--otlp-endpoint", collector.endpoint, *(["--tty"] if tty else []),
            "--", sys.executable, str(AGENT),
            env={"CAB_KEY": KEY, "ATTACK_RUN_DIR": str(out)},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert collector.received.raw and not any(
        p.encode() in raw for raw in collector.received.raw for p in PIECES
    )
    verify = next(r for r in read_records(out) if r.kind == "verify")
    assert verify.attributes["passed"] is True
    assert verify.attributes["stdout_tail"] == "ok [REDACTED]\n"
    assert "leak check" not in result.stderr
    assert leaked(result.stdout + result.stderr) == []
    time.sleep(3.5)  # the escaped grandchild would have written by now: it was ended before the leak check
    assert not (out / "late.txt").exists()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"trace.jsonl", "terminal.cast", "changes.diff"}
    for path in files:
        raw = path.read_text(errors="replace")
        assert leaked(raw) == [], path
        for line in raw.splitlines():  # JSON-decoded: the trace, the cast
            try:
                decoded = json.dumps(json.loads(line), ensure_ascii=False)
            except ValueError:
                continue
            assert leaked(decoded) == [], path
    assert [p for line in rendered(out / "terminal.cast") for p in leaked(line)] == []
    container = next(r for r in read_records(out) if r.kind == "container")
    assert (
        str(container.attributes["stdout_tail"]).rstrip().endswith("[REDACTED]")
    )  # the key typed one character at a time
    diff = (out / "changes.diff").read_text()
    assert "leak.txt" in diff and "[REDACTED]" in diff


def test_a_task_id_holding_the_key_names_no_directory(tmp_path: Path, task_dir: Path) -> None:
    (task_dir / "task.toml").write_text(f'id = "demo/{KEY}"\nprompt = "p"\n')
    result = run_cli(
        "run", "--adapter", "command", "--task", str(task_dir), "--runs-dir", str(tmp_path / "runs"),
        "--", sys.executable, "-c", "print('hi')",
        env={"CAB_KEY": KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert leaked(result.stdout + result.stderr) == []
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert KEY not in run_dir.name and "REDACTED" in run_dir.name


def _as_another_user() -> tuple[list[str], dict[str, str]]:
    """How to run cab-trace's Python as an ordinary user (we are often root, whom
    PR_SET_DUMPABLE does not stop): the command prefix (setpriv and a Python that user may
    run, with this checkout's packages on its path) and the environment it needs."""
    import os
    import shutil
    import site
    import subprocess

    root = str(Path(__file__).resolve().parents[2])
    packages = os.pathsep.join([root, *site.getsitepackages()])
    env = {**os.environ, "PYTHONPATH": packages, "HOME": "/tmp"}
    if os.geteuid() != 0:
        return [sys.executable], env
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("needs setpriv (util-linux) to run cab-trace as an ordinary user")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    wanted = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (
        os.path.realpath(sys.executable),
        f"/usr/bin/python{wanted}",
        f"/usr/local/bin/python{wanted}",
    ):
        probe = subprocess.run(
            # (the Python it starts must be one that user can run again, for the agent)
            [*prefix, candidate, "-c", "import sys, orjson, subprocess; "
             "subprocess.run([sys.executable, '-c', ''], check=True); print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if probe.stdout.strip() == wanted:
            return [*prefix, candidate], env
    pytest.fail(f"needs a Python {wanted} that user 65534 may run (to test what a same-user agent can reach)")


def _world_dir(tmp_path: Path) -> Path:
    import shutil
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="cab-trace-attack-"))
    shared.chmod(0o777)
    shutil.copytree(tmp_path / "task", shared / "task")
    for path in [shared / "task", *(shared / "task").rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    return shared


PROC_PROBE = (
    "import os, subprocess, sys\n"
    "from cab_trace.harness import hardening\n"
    "if len(sys.argv) > 1: hardening.harden()\n"
    # (a process whose uid was changed starts undumpable: the control sets it back explicitly)
    "else: hardening._prctl(hardening.PR_SET_DUMPABLE, 1)\n"
    'child = \'import os\\ntry:\\n open(f"/proc/{os.getppid()}/fd/2", "w").write("")\\n print("open")\\n'
    'except OSError:\\n print("refused")\'\n'
    "print(subprocess.run([sys.executable, '-c', child], capture_output=True, text=True).stdout.strip())\n"
)


def _stderr_file(shared: Path) -> Path:
    """A file for cab-trace's stderr that the other user could open again (as a user's own
    terminal is): a pipe made by root could not be reopened through /proc anyway."""
    path = shared / "stderr.txt"
    path.touch()
    path.chmod(0o666)
    return path


def test_pr_set_dumpable_closes_proc_fd_to_a_same_user_child(tmp_path: Path, task_dir: Path) -> None:
    import shutil
    import subprocess

    python, env = _as_another_user()
    shared = _world_dir(tmp_path)
    try:
        probe = [*python, "-c", PROC_PROBE]
        results = []
        for extra in ([], ["harden"]):
            with _stderr_file(shared).open("w") as err:
                results.append(subprocess.run([*probe, *extra], stdout=subprocess.PIPE, stderr=err, text=True,
                                              env=env, check=False).stdout.strip())  # fmt: skip
        assert results == [
            "open",
            "refused",
        ]  # a same-user child reaches the parent's fds until it is hardened
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_an_agent_cannot_write_to_cab_trace_stderr_through_proc(tmp_path: Path, task_dir: Path) -> None:
    import shutil
    import subprocess

    python, env = _as_another_user()
    shared = _world_dir(tmp_path)
    try:
        out = shared / "run"
        stderr_path = _stderr_file(shared)
        with stderr_path.open("w") as err:
            result = subprocess.run(
                [*python, "-m", "cab_trace", "run", "--adapter", "command", "--task", str(shared / "task"),
                 "--out", str(out), "--echo", "--", python[-1], str(AGENT)],
                stdout=subprocess.PIPE, stderr=err, text=True, timeout=120, check=False,
                env={**env, "CAB_KEY": KEY, "ATTACK_PROC": "1", "HOME": str(shared)},
            )  # fmt: skip
        console = result.stdout + stderr_path.read_text()
        assert "proc: refused" in console, console[-2000:]  # --echo shows what the agent printed
        assert leaked(console) == []
        assert result.returncode == 0, console[-2000:]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_an_instrumented_agent_cannot_send_its_key_in_the_scope_of_its_spans(tmp_path: Path) -> None:
    """The instrumentation scope's name and version (and the resource) of an agent's own spans
    are redacted before the trace file and the collector see them."""
    from tests.harness.test_trace_propagation import AGENT as INSTRUMENTED
    from tests.harness.test_trace_propagation import DEMO_TASK
    from tests.otlp_receiver import OtlpReceiver

    agent = tmp_path / "agent.py"
    agent.write_text(
        INSTRUMENTED.replace(
            'provider.get_tracer("my-agent")',
            'provider.get_tracer("scope-" + os.environ["CAB_KEY"], "1.0+" + os.environ["CAB_KEY"])',
        ).replace('{"service.name": "my-agent"}', '{"service.name": "my-agent", "k": os.environ["CAB_KEY"]}')
    )
    out = tmp_path / "run"
    with OtlpReceiver("http") as collector:
        result = run_cli(
            "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out),
            "--otlp-endpoint", collector.endpoint, "--", sys.executable, str(agent),
            env={"CAB_KEY": KEY},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    call = next(r for r in read_records(out / "trace.jsonl") if r.name == "chat gpt-x")
    assert call.scope.name == "scope-[REDACTED]" and call.scope.version == "1.0+[REDACTED]"
    assert call.resource["k"] == "[REDACTED]"
    assert collector.received.raw and not any(
        p.encode() in raw for raw in collector.received.raw for p in PIECES
    )
    assert leaked((out / "trace.jsonl").read_text()) == []
