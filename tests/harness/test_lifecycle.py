"""The pieces of `lifecycle` and `ownership` on their own: a scratch directory's lock against real
processes, the exit-code convention, claiming a run directory, and the JSONL exporter undoing a
line the disk refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cab_trace.errors import UsageError
from cab_trace.harness import lifecycle, ownership
from tests.faults import complete_lines, small_disk

HOLD = """
import sys, time
from pathlib import Path
from cab_trace.harness.ownership import Scratch
scratch = Scratch.create("held", root=Path(sys.argv[1]))
print(scratch.path, flush=True)
time.sleep(60)
"""


def test_a_scratch_dir_is_owned_while_its_process_lives_and_free_once_it_is_killed(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    held = Path(proc.stdout.readline().strip())
    assert (held / ownership.LOCK_FILE).read_text().startswith("cab-trace lock v1\n")
    report = ownership.collect_scratch(tmp_path)
    assert report.removed == [] and report.in_use == 1 and held.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    report = ownership.collect_scratch(tmp_path)
    assert report.removed == [held] and not held.exists()


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


def test_collect_scratch_removes_only_proven_dead_runs_directories(tmp_path: Path) -> None:
    dead = ownership.Scratch.create("dead", root=tmp_path)
    dead.abandon()
    live = ownership.Scratch.create("live", root=tmp_path)
    kept = ownership.Scratch.create("kept", root=tmp_path)
    kept.keep()
    unmarked = tmp_path / f"{ownership.SCRATCH_PREFIX}unmarked"
    (unmarked / "workdir").mkdir(parents=True)
    report = ownership.collect_scratch(tmp_path)
    assert report.removed == [dead.path] and report.in_use == 1
    assert sorted(path for path, _ in report.left) == sorted([str(kept.path), str(unmarked)])
    assert not dead.path.exists() and live.path.exists() and kept.path.exists() and unmarked.exists()
    assert live.remove() and not live.path.exists()


def test_a_lock_file_made_where_nothing_locks_proves_nothing(tmp_path: Path) -> None:
    scratch = ownership.Scratch.create("nolock", root=tmp_path)
    scratch.abandon()
    lock = scratch.path / ownership.LOCK_FILE
    lock.write_text(lock.read_text().replace("lock flock", "lock none"))
    report = ownership.collect_scratch(tmp_path)
    assert report.removed == [] and "cannot be locked" in report.left[0][1]


def test_a_dead_runs_directory_that_made_containers_waits_for_them(tmp_path: Path) -> None:
    scratch = ownership.Scratch.create("docker", root=tmp_path)
    scratch.record_container("cab-trace-x-1")
    scratch.abandon()
    assert ownership.collect_scratch(tmp_path).removed == []  # no engine asked: left for gc
    assert ownership.collect_scratch(tmp_path, container_gone=lambda name: False).removed == []
    assert ownership.collect_scratch(tmp_path, container_gone=lambda name: True).removed == [scratch.path]


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
