"""`cab-trace show DIR`, `cab-trace compare` and `cab-trace replay DIR` as a user runs them: a
separate process, real stdout and stderr, exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.replay.conftest import DEMO_RUN, FIXTURES
from tests.runs_factory import Spec, write_run, write_sweep
from tests.unit.test_compare import A, B

HOSTILE = "pi\x1b]0;pwned\x07\x1b[2J"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    specs = [
        Spec(adapter="pi", model="m1", repeat=1, seed=1),
        Spec(adapter="pi", model="m1", repeat=2, seed=2, passed=False),
        Spec(adapter="pi", model="m2", repeat=1, seed=3, calls=[(1000, 10)] * 5),
        Spec(adapter=HOSTILE, model="m2", repeat=2, seed=4),
    ]
    return write_sweep(tmp_path / "sweep", specs, states={3: "pending"})


def test_show_dir_prints_the_cells_then_the_groups(sweep: Path) -> None:
    result = run_cli("show", str(sweep))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "4 cells: 2 pass, 1 FAIL, 1 pending"
    header = lines[1].split()
    assert header[:6] == ["#", "adapter", "model", "task", "rep", "result"]
    assert lines[2].split()[:6] == ["1", "pi", "m1", "demo/fix-greeting", "1", "pass"]
    assert "FAIL" in lines[3] and "verify:demo/fix-greeting: check failed: exit code 1" in lines[3]
    assert "5" in lines[4].split()  # the 5 model calls of cell 3
    assert "\x1b" not in result.stdout and "pi\\x1b]0;pwned" in result.stdout
    at = lines.index("by adapter × model")
    assert lines[at + 1].split()[:4] == ["adapter", "model", "cells", "done"]
    assert lines[at + 2].split()[:6] == ["pi", "m1", "2", "2", "0", "1/2"]


def test_show_dir_formats_for_scripts(sweep: Path) -> None:
    doc = json.loads(run_cli("show", str(sweep), "--format", "json").stdout)
    assert [c["number"] for c in doc["cells"]] == [1, 2, 3, 4]
    assert doc["cells"][2]["model_calls"] == 5 and doc["cells"][3]["state"] == "pending"
    assert "wall_ms" not in doc["cells"][3]  # not run: unknown, not 0
    assert [g["key"] for g in doc["groups"]] == [
        {"adapter": "pi", "model": "m1"},
        {"adapter": "pi", "model": "m2"},
        {"adapter": HOSTILE, "model": "m2"},
    ]
    cells = run_cli("show", str(sweep), "--format", "csv", "--only", "cells").stdout
    rows = list(csv.DictReader(io.StringIO(cells)))
    assert [r["outcome"] for r in rows] == ["pass", "FAIL", "pass", "pending"]
    assert rows[3]["wall_ms"] == ""
    by_task = run_cli("show", str(sweep), "--format", "markdown", "--only", "groups", "--group-by", "task_id")
    assert by_task.returncode == 0
    assert "| task_id | cells |" in by_task.stdout and "| demo/fix-greeting | 4 |" in by_task.stdout


def test_a_run_that_cannot_be_read_is_a_row_not_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root / "good", Spec(seed=1))
    (root / "broken").mkdir()
    (root / "broken" / "trace.jsonl").write_bytes(b"\x00\xff not json\n")
    result = run_cli("show", str(root))
    assert result.returncode == 0, result.stderr
    broken = next(line for line in result.stdout.splitlines() if " broken " in line)
    assert "unreadable" in broken and "not a trace" in broken
    assert "Traceback" not in result.stderr


def test_show_of_a_directory_with_no_runs_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("show", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"cab-trace: error: {tmp_path}: no runs in it or below it")
    assert "Traceback" not in result.stderr


def test_compare_two_run_directories(tmp_path: Path) -> None:
    a, b = write_run(tmp_path / "a", A), write_run(tmp_path / "b", B)
    result = run_cli("compare", str(a), str(b))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2] == (
        "B was 9.66 s faster than A (5.12 s against 14.8 s): B spent 9.50 s less in model calls, "
        "3 calls against 7."
    )
    assert any(line.split()[:5] == ["model", "calls", "14.0", "s", "4.50"] for line in lines)
    doc = json.loads(run_cli("compare", str(a), str(b), "--format", "json").stdout)
    assert doc["headline"] == lines[2]
    assert len(doc["model_calls"]) == 7 and doc["model_calls"][3]["b"] is None


def test_compare_cells_of_a_directory_as_the_table_names_them(sweep: Path) -> None:
    by_number = run_cli("compare", str(sweep), "1", "#3", "--format", "json")
    assert by_number.returncode == 0, by_number.stderr
    doc = json.loads(by_number.stdout)
    assert doc["a"]["title"] == "#1 s/pi/m1/demo/fix-greeting/1"
    assert doc["b"]["numbers"]["model_calls"] == 5
    by_id = run_cli("compare", str(sweep), "s/pi/m1/demo/fix-greeting/1", "cells/0002", "--format", "json")
    assert json.loads(by_id.stdout)["headline"] == doc["headline"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{sweep}", "{sweep}/cells/0000"], "is a directory of runs, not one run"),
        (["{sweep}", "1", "99"], "no cell in"),
        (["{sweep}", "1", "4"], "cannot be opened: the cell is pending"),
        (["{sweep}", "1", "s/pi"], "fits 4 cells"),
        (["{sweep}/cells/0000"], "compare takes two runs"),
    ],
)
def test_compare_errors_say_what_to_do(sweep: Path, args: list[str], message: str) -> None:
    result = run_cli("compare", *(a.format(sweep=sweep) for a in args))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr


def test_compare_names_one_trace_of_a_file_with_several(tmp_path: Path) -> None:
    both = tmp_path / "both.jsonl"
    both.write_bytes(
        (FIXTURES / "demo-run" / "trace.jsonl").read_bytes()
        + (FIXTURES / "model-calls-run" / "trace.jsonl").read_bytes()
    )
    result = run_cli("compare", str(both), str(DEMO_RUN))
    assert (
        result.returncode == 2
        and "holds 2 traces" in result.stderr
        and f"{both}#7ebf41d0faac" in result.stderr
    )
    ok = run_cli("compare", f"{both}#a5de62", f"{both}#7ebf41", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["a"]["numbers"]["model_calls"] == 3


def test_a_directory_of_imported_logs_is_a_table_and_its_samples_compare(tmp_path: Path) -> None:
    from tests.unit.test_runs_index import imported_runs

    root = imported_runs(tmp_path / "imported")
    result = run_cli("show", str(root))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "6 cells: 3 pass, 3 FAIL"
    assert [line.split()[1] for line in lines[2:8]] == ["terminus-2"] * 2 + ["inspect_ai"] * 4
    at = lines.index("by adapter × model")
    assert lines[at + 2].split()[:6] == ["terminus-2", "scripted-model", "2", "2", "0", "1/2"]
    assert lines[at + 3].split()[:6] == ["inspect_ai", "scripted-model", "4", "4", "0", "2/4"]
    # Two samples of one Inspect log, named by row as the table shows them.
    both = run_cli("compare", str(root), "3", "4", "--format", "json")
    assert both.returncode == 0, both.stderr
    doc = json.loads(both.stdout)
    assert doc["a"]["numbers"]["task_id"] == "fix_greeting/greet-1"
    assert doc["b"]["numbers"]["task_id"] == "fix_greeting/greet-2"
    assert run_cli("replay", str(root), "4").stderr.count("replay needs a terminal") == 1


def test_replay_of_a_directory_without_a_terminal_says_so(sweep: Path) -> None:
    result = run_cli("replay", str(sweep))
    assert result.returncode == 2 and "replay needs a terminal" in result.stderr


def test_replay_of_one_cell_of_a_directory(sweep: Path) -> None:
    # Resolved before the UI: a cell that is not there is an error; one that is needs a terminal.
    missing = run_cli("replay", str(sweep), "99")
    assert missing.returncode == 2 and "no cell in" in missing.stderr
    found = run_cli("replay", str(sweep), "s/pi/m1/demo/fix-greeting/2")
    assert found.returncode == 2 and "replay needs a terminal" in found.stderr
