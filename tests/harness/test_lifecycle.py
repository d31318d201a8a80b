"""The pieces of `lifecycle` on their own: ownership marks against real processes, the exit-code
convention, claiming a run directory, and the JSONL exporter undoing a line the disk refused."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cab_trace.errors import UsageError
from cab_trace.harness import lifecycle
from tests.faults import complete_lines, small_disk


def test_a_live_process_owns_its_mark_and_a_dead_or_reused_pid_does_not() -> None:
    assert lifecycle.owner_alive(lifecycle.owner_mark())
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    mark = lifecycle.owner_mark(proc.pid)
    proc.wait()
    assert not lifecycle.owner_alive(mark)
    host, pid, start = lifecycle.owner_mark().split(":")
    # The same pid with another start time: the pid was reused, the owner is gone.
    assert not lifecycle.owner_alive(f"{host}:{pid}:{int(start) + 1}")
    # Another host's, an old host:pid mark of a live process, and nonsense are left alone.
    assert lifecycle.owner_alive(f"not-{socket.gethostname()}:1:1")
    assert lifecycle.owner_alive(f"{host}:{pid}")
    assert lifecycle.owner_alive("garbage")


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [
        (0, (0, None)),
        (1, (1, None)),
        (-15, (143, "SIGTERM")),
        (-9, (137, "SIGKILL")),
        (137, (137, "SIGKILL")),
    ],
)
def test_signal_exit_codes_are_128_plus_n_with_the_name(returncode: int, expected) -> None:
    assert lifecycle.exit_code_and_signal(returncode) == expected


def test_claiming_a_run_directory(tmp_path: Path) -> None:
    trace = lifecycle.claim_run_dir(tmp_path / "a" / "b", "trace.jsonl")
    assert trace.exists() and trace.read_bytes() == b""
    with pytest.raises(UsageError, match="already exists and is not empty"):
        lifecycle.claim_run_dir(tmp_path / "a" / "b", "trace.jsonl")
    (tmp_path / "empty").mkdir()
    assert lifecycle.claim_run_dir(tmp_path / "empty", "trace.jsonl").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        lifecycle.claim_run_dir(tmp_path / "file", "trace.jsonl")


def test_collect_scratch_removes_only_dead_runs_marked_directories(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_mark = lifecycle.owner_mark(proc.pid)
    proc.wait()
    dead, live, unmarked = (tmp_path / f"{lifecycle.SCRATCH_PREFIX}{n}" for n in ("dead", "live", "unmarked"))
    for path in (dead, live, unmarked):
        (path / "workdir").mkdir(parents=True)
    (dead / lifecycle.OWNER_FILE).write_text(dead_mark)
    (live / lifecycle.OWNER_FILE).write_text(lifecycle.owner_mark())
    assert lifecycle.collect_scratch(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and unmarked.exists()


def test_a_shielded_signal_is_raised_when_the_block_ends() -> None:
    done = []
    with lifecycle.handle_signals(), pytest.raises(lifecycle.Interrupted) as caught:
        with lifecycle.shielded():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the block went on")
    assert done and caught.value.exit_code == 130
    # A second signal once interrupted does not raise: it hurries.
    notes: list[str] = []
    with lifecycle.handle_signals(notify=notes.append):
        with pytest.raises(lifecycle.Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert lifecycle.hurried() and notes == ["SIGINT again: killing the agent now"]


EXPORT_SCRIPT = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from cab_trace.otel.exporters import JsonlSpanExporter

failures = []
exporter = JsonlSpanExporter(sys.argv[1], on_failure=lambda: failures.append(1))
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("t")
for i in range(200):
    with tracer.start_as_current_span(f"span {i}", attributes={"pad": "x" * 300}):
        pass
provider.shutdown()
print(exporter.written, exporter.failed, len(failures), exporter.first_error, sep="|")
"""


def test_a_span_the_disk_refuses_is_undone_whole(tmp_path: Path) -> None:
    """The JSONL exporter on a really full disk (or over a file-size limit): complete lines
    only, the loss counted and reported once."""
    with small_disk(tmp_path, 16 * 1024) as disk:
        trace = disk.path / "trace.jsonl"
        done = subprocess.run(
            [sys.executable, "-c", EXPORT_SCRIPT, str(trace)],
            capture_output=True,
            text=True,
            preexec_fn=disk.preexec(),
            check=True,
        )
        assert done.stderr == ""  # nothing logged, no traceback
        written, failed, calls, error = done.stdout.strip().split("|")
        lines = complete_lines(trace)
        assert int(written) == len(lines) and int(failed) == 200 - len(lines) > 0
        assert calls == "1" and error in (os.strerror(28), os.strerror(27))  # ENOSPC, EFBIG
