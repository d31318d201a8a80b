"""Bad input through the real CLI: one error line, a non-zero exit, no traceback, and nothing
already on disk lost (the red-team pass on "bad input gets a clear error and loses nothing").

Each test here failed before its fix: a named pipe hung every reader; an export whose -o was its
own input destroyed the recording; an export stopped by a bad line truncated the previous good
output; a Harbor trial's unreadable trajectory or reward vanished without a word; a deeply nested
OTLP attribute was read and then crashed show and every export; a recording cut off mid-line
was read without saying what was lost; `export --format html` refused a Harbor trial directory
that every other command reads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parent.parent
RUN = FIXTURES / "replay" / "fixtures" / "agent-run"
TRIAL = FIXTURES / "fixtures" / "foreign" / "harbor" / "fix-greeting__Zq81LmC"
COLLECTOR = FIXTURES / "fixtures" / "foreign" / "collector-mixed.jsonl"


def _clean_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if not line.startswith("  hint:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], result.stderr


def _copy_run(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    return run, {p.name: p.read_bytes() for p in run.iterdir()}


def _unchanged(run: Path, before: dict[str, bytes]) -> None:
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["show"],
        ["replay"],
        ["export", "--format", "jaeger-json", "-o", "{out}/x.json"],
        ["export", "--format", "html", "-o", "{out}/x.html"],
    ],
)
def test_a_named_pipe_is_refused_at_once_not_waited_on(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "trace.jsonl"
    os.mkfifo(fifo)  # no writer: opening it for reading would block for ever
    args = [a.format(out=tmp_path) for a in command]
    result = run_cli(*args, str(fifo), timeout=60)
    _clean_error(result, str(fifo), "named pipe")


def test_compare_refuses_a_named_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "b.jsonl"
    os.mkfifo(fifo)
    result = run_cli("compare", str(RUN), str(fifo), timeout=60)
    _clean_error(result, str(fifo), "named pipe")


def test_export_names_a_symlink_loop_as_such(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = run_cli("export", "--format", "jaeger-json", "-o", str(tmp_path / "x.json"), str(tmp_path / "a"))
    _clean_error(result, "symbolic links")  # it used to say "no such file or directory"


@pytest.mark.parametrize(
    ("fmt", "target"),
    [
        (["--format", "otlp-json"], "trace.jsonl"),
        (["--format", "jaeger-json"], "trace.jsonl"),
        (["--format", "asciicast"], "terminal.cast"),  # same version: was a traceback
        (["--format", "asciicast", "--cast-version", "3"], "terminal.cast"),  # was deleted
        (["--format", "html"], "trace.jsonl"),
        (["--format", "html"], "terminal.cast"),
    ],
)
def test_export_never_writes_over_what_it_reads(tmp_path: Path, fmt: list[str], target: str) -> None:
    run, before = _copy_run(tmp_path)
    result = run_cli("export", *fmt, "-o", str(run / target), str(run))
    _clean_error(result, f"-o {run / target}", "destroy")
    _unchanged(run, before)


def test_an_export_stopped_by_a_bad_line_keeps_the_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    good = run_cli("export", "--format", "jaeger-json", "-o", str(out), str(RUN))
    assert good.returncode == 0, good.stderr
    previous = out.read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes((RUN / "trace.jsonl").read_bytes() + b'{"bad": 1}\n')
    result = run_cli("export", "--format", "jaeger-json", "-o", str(out), str(bad))
    _clean_error(result, f"{bad}:16:")
    assert out.read_bytes() == previous  # it was left empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "trace.json"]  # no temp file


def test_export_to_a_missing_directory_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli("export", "--format", "otlp-json", "-o", str(tmp_path / "no" / "x.jsonl"), str(RUN))
    _clean_error(result, "cannot be written")


def _trial(tmp_path: Path) -> Path:
    trial = tmp_path / TRIAL.name
    shutil.copytree(TRIAL, trial)
    return trial


@pytest.mark.parametrize("damage", ["directory", "fifo", "loop", "not-atif"])
def test_a_trials_unreadable_trajectory_is_said_not_dropped(tmp_path: Path, damage: str) -> None:
    trial = _trial(tmp_path)
    trajectory = trial / "agent" / "trajectory.json"
    trajectory.unlink()
    if damage == "directory":
        trajectory.mkdir()
    elif damage == "fifo":
        os.mkfifo(trajectory)
    elif damage == "loop":
        trajectory.symlink_to(trajectory)
    else:
        trajectory.write_bytes(orjson.dumps({"schema_version": "ATIF-v1.6", "agent": {}, "steps": "x"}))
    for command in ("show", "validate"):
        result = run_cli(command, str(trial), timeout=60)
        assert result.returncode == 0, result.stderr
        assert f"warning: {trajectory}: could not read the agent's trajectory" in result.stderr


def test_a_trials_unreadable_reward_is_said(tmp_path: Path) -> None:
    trial = _trial(tmp_path)
    reward = trial / "verifier" / "reward.txt"
    reward.unlink()
    reward.mkdir()
    result = run_cli("show", str(trial))
    assert result.returncode == 0, result.stderr
    assert f"warning: {reward}: could not read the reward (is a directory" in result.stderr


def test_export_html_reads_a_harbor_trial_directory(tmp_path: Path) -> None:
    page = tmp_path / "trial.html"
    result = run_cli("export", "--format", "html", "-o", str(page), str(TRIAL))
    assert result.returncode == 0, result.stderr
    assert "fix-greeting" in page.read_text()
    site = tmp_path / "site"
    result = run_cli("export", "--format", "html", "-o", f"{site}/", str(TRIAL.parent))
    assert result.returncode == 0, result.stderr
    assert len(list((site / "cells").glob("*.html"))) == 2


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"stringValue": "x"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return value


def _otlp_with(tmp_path: Path, value: dict[str, object]) -> Path:
    line = orjson.loads(COLLECTOR.read_bytes().splitlines()[0])
    line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [{"key": "deep", "value": value}]
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(line) + "\n")  # orjson itself will not write it so deep
    return path


@pytest.mark.parametrize(
    "command", [["show"], ["validate"], ["export", "--format", "jaeger-json", "-o", "{out}/x.json"]]
)
def test_an_attribute_nested_past_the_limit_is_an_error_naming_the_line(
    tmp_path: Path, command: list[str]
) -> None:
    path = _otlp_with(tmp_path, _nested(100))  # read, then a TypeError when written or shown
    result = run_cli(*[a.format(out=tmp_path) for a in command], str(path))
    _clean_error(result, f"{path}:1:", "nest deeper than 64 levels")


def test_an_attribute_nested_within_the_limit_is_read_and_exported(tmp_path: Path) -> None:
    path = _otlp_with(tmp_path, _nested(64))
    for command in (["show"], ["export", "--format", "otlp-json", "-o", str(tmp_path / "x.jsonl")]):
        result = run_cli(*command, str(path))
        assert result.returncode == 0, result.stderr


def test_a_recording_cut_off_mid_line_says_what_was_lost(tmp_path: Path) -> None:
    cast = tmp_path / "rec.cast"
    whole = (TRIAL / "agent" / "recording.cast").read_bytes()
    cast.write_bytes(whole[:-20])  # the recorder killed while writing its last event
    lines = whole[:-20].count(b"\n")
    for command in ("show", "validate"):
        result = run_cli(command, str(cast))
        assert result.returncode == 0, result.stderr
        assert f"warning: {cast}: line {lines + 1}: the last line is incomplete" in result.stderr


DEMO_TASK = FIXTURES.parent / "cab_trace" / "examples" / "demo-task"


def test_a_sweep_file_that_is_a_named_pipe_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "sweep.toml"
    os.mkfifo(fifo)
    result = run_cli(
        "sweep", "--sweep-file", str(fifo), "--out", str(tmp_path / "out"), "--dry-run", timeout=60
    )
    _clean_error(result, str(fifo), "fifo")


@pytest.mark.parametrize("command", ["show", "sweep"])
def test_a_sweeps_cells_file_that_is_a_named_pipe_is_refused(tmp_path: Path, command: str) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    os.mkfifo(sweep / "cells.jsonl")
    if command == "show":
        result = run_cli("show", str(sweep), timeout=60)
    else:  # resuming the sweep in that directory reads what its cells did
        args = ["--task", str(DEMO_TASK), "--adapter", "command", "--out", str(sweep), "--", "true"]
        result = run_cli("sweep", *args, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{sweep / 'cells.jsonl'}: cannot be read (" in result.stderr and "fifo" in result.stderr.lower()
    assert not [p for p in sweep.iterdir() if p.is_dir()]  # no cell was run (a .lock is all it adds)


def test_a_sweep_of_a_hundred_million_cells_is_refused_before_it_is_planned(tmp_path: Path) -> None:
    spec = tmp_path / "sweep.toml"
    spec.write_text(f'task = ["{DEMO_TASK}"]\nadapter = ["command"]\nrepeats = 100000000\n')
    result = run_cli(
        "sweep", "--sweep-file", str(spec), "--out", str(tmp_path / "out"), "--dry-run", timeout=60
    )
    _clean_error(result, "100,000,000 cells", "1,000,000")


@pytest.mark.parametrize("command", [["replay"], ["export", "--format", "html", "-o", "{out}/page.html"]])
def test_a_runs_diff_that_is_a_named_pipe_is_left_out_and_said(tmp_path: Path, command: list[str]) -> None:
    run, _ = _copy_run(tmp_path)
    (run / "changes.diff").unlink()
    os.mkfifo(run / "changes.diff")  # opened, it would be waited on for ever
    result = run_cli(*[a.format(out=tmp_path) for a in command], str(run), timeout=60)
    assert "Traceback" not in result.stderr
    assert f"warning: {run / 'changes.diff'}: is a named pipe (FIFO), not a file" in result.stderr
    # replay stops at "needs a terminal" here (no tty); the page is written without the diff
    assert result.returncode == (2 if command == ["replay"] else 0), result.stderr


@pytest.mark.parametrize("command", [["show"], ["export", "--format", "otlp-json", "-o", "{out}/x.jsonl"]])
def test_a_trace_saved_with_a_byte_order_mark_is_named_so(tmp_path: Path, command: list[str]) -> None:
    """A Windows editor's BOM is a BOM, not "not UTF-8 text" (the file is UTF-8)."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (RUN / "trace.jsonl").read_bytes())
    args = [a.replace("{out}", str(tmp_path)) for a in command]
    result = run_cli(*args[:1], str(path), *args[1:])
    _clean_error(result, f"{path}:1:", "byte order mark (BOM)")
    assert "not UTF-8" not in result.stderr
