"""The runs in a directory: one row per cell, a run that cannot be read is a marked row, and the
index makes the second look read nothing that did not change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cab_trace.model.axes import cell_numbers
from cab_trace.sweep.runs import INDEX_FILE_NAME, scan_runs
from tests.runs_factory import Spec, spans, write_run, write_sweep


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def three_runs(root: Path) -> list[Spec]:
    specs = [
        Spec(adapter="pi", model="a", seed=1, calls=[(1000, 100)] * 3),
        Spec(adapter="pi", model="b", seed=2, calls=[(1000, 100)] * 7, passed=False),
        Spec(adapter="codex", model="a", seed=3, usage=False),
    ]
    for name, spec in zip(("r1", "nested/r2", "nested/deeper/r3"), specs, strict=True):
        write_run(root / name, spec)
    return specs


def test_run_directories_are_found_recursively_in_path_order(tmp_path: Path, cache: Path) -> None:
    specs = three_runs(tmp_path / "runs")
    found = scan_runs(tmp_path / "runs", cache_dir=cache)
    assert [r.ref for r in found.rows] == ["nested/deeper/r3", "nested/r2", "r1"]
    assert [r.number for r in found.rows] == [1, 2, 3]
    by_ref = {r.ref: r for r in found.rows}
    # Every number is what the trace says, as cell_numbers reads it (one place for them).
    assert by_ref["r1"].fields == {"run_dir": "r1", **cell_numbers(spans(specs[0])).to_dict()}
    assert by_ref["r1"].outcome == "pass" and by_ref["nested/r2"].outcome == "FAIL"
    assert by_ref["nested/r2"].fields["model_calls"] == 7
    assert by_ref["nested/r2"].why == "verify:demo/fix-greeting: check failed: exit code 1"
    # Usage not reported: tokens are unknown, not 0.
    assert "input_tokens" not in by_ref["nested/deeper/r3"].fields
    assert by_ref["nested/deeper/r3"].fields["calls_without_usage"] == 2


def test_a_run_that_cannot_be_read_is_a_marked_row(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "runs"
    write_run(root / "good", Spec(seed=1))
    (root / "bad").mkdir()
    (root / "bad" / "trace.jsonl").write_text('{"trace_id": "nope"}\n')
    (root / "empty").mkdir()
    (root / "empty" / "trace.jsonl").write_text("")
    killed = root / "killed"
    write_run(killed, Spec(seed=2))
    lines = (killed / "trace.jsonl").read_text().splitlines()
    (killed / "trace.jsonl").write_text(
        "\n".join(line for line in lines if '"kind":"run"' not in line) + "\n"
    )
    found = scan_runs(root, cache_dir=cache)
    rows = {r.ref: r for r in found.rows}
    assert rows["bad"].state == "unreadable" and rows["bad"].outcome == "unreadable"
    assert rows["bad"].problem is not None and rows["bad"].problem.startswith("line 1: not a span record")
    assert rows["empty"].problem == "the trace holds no spans"
    assert rows["killed"].state == "incomplete" and "no run span" in (rows["killed"].problem or "")
    assert rows["good"].outcome == "pass"


def test_the_second_look_reads_only_what_changed(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "runs"
    three_runs(root)
    first = scan_runs(root, cache_dir=cache)
    assert first.traces_read == 3 and first.index_path == root / INDEX_FILE_NAME
    second = scan_runs(root, cache_dir=cache)
    assert second.traces_read == 0
    assert [r.fields for r in second.rows] == [r.fields for r in first.rows]
    # A run still going: its trace grew. Only it is read again.
    trace = root / "r1" / "trace.jsonl"
    with trace.open("a") as out:
        out.write(trace.read_text().splitlines()[0] + "\n")
    third = scan_runs(root, cache_dir=cache)
    assert third.traces_read == 1
    # A run removed: it leaves the index too.
    for f in (root / "r1").iterdir():
        f.unlink()
    (root / "r1").rmdir()
    fourth = scan_runs(root, cache_dir=cache)
    assert [r.ref for r in fourth.rows] == ["nested/deeper/r3", "nested/r2"]
    assert fourth.traces_read == 0
    index = (root / INDEX_FILE_NAME).read_text().splitlines()
    assert len(index) == 3 and not any('"r1/trace.jsonl"' in line for line in index)


def test_a_directory_that_refuses_the_index_gets_it_in_the_cache(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "runs"
    three_runs(root)
    (root / INDEX_FILE_NAME).mkdir()  # the index cannot be put there (as root, chmod would not stop it)
    first = scan_runs(root, cache_dir=cache)
    assert first.index_path is not None and first.index_path.parent == cache
    assert not list((root / INDEX_FILE_NAME).iterdir())
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
    assert scan_runs(root, cache_dir=cache).traces_read == 0


def test_an_index_from_elsewhere_cannot_point_the_listing_anywhere(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "runs"
    write_run(root / "r1", Spec(seed=1))
    scan_runs(root, cache_dir=cache)
    lines = (root / INDEX_FILE_NAME).read_text().splitlines()
    forged = [
        lines[0],
        json.dumps({"p": "../../etc/passwd", "s": 1, "m": 1, "n": {"adapter": "x"}, "x": None}),
        json.dumps({"p": "r1/trace.jsonl", "s": "big", "m": 1, "n": {}, "x": None}),
        "not json",
        *lines[1:],
    ]
    (root / INDEX_FILE_NAME).write_text("\n".join(forged) + "\n")
    found = scan_runs(root, cache_dir=cache)
    assert [r.ref for r in found.rows] == ["r1"] and found.traces_read == 0
    # Another version's index is not trusted: its traces are read again.
    (root / INDEX_FILE_NAME).write_text('{"cab_trace_runs_index": "0:old"}\n' + "\n".join(lines[1:]) + "\n")
    assert scan_runs(root, cache_dir=cache).traces_read == 1


def test_links_to_directories_are_not_followed(tmp_path: Path, cache: Path) -> None:
    outside = tmp_path / "outside"
    write_run(outside / "r", Spec(seed=1))
    root = tmp_path / "runs"
    write_run(root / "mine", Spec(seed=2))
    os.symlink(outside, root / "link")
    os.symlink(root, root / "mine-loop")
    found = scan_runs(root, cache_dir=cache)
    assert [r.ref for r in found.rows] == ["mine"]


def test_a_sweep_directory_lists_its_cells_in_plan_order(tmp_path: Path, cache: Path) -> None:
    specs = [
        Spec(adapter="pi", model="a", repeat=1, seed=1),
        Spec(adapter="pi", model="a", repeat=2, seed=2, passed=False),
        Spec(adapter="pi", model="b", repeat=1, seed=3),
        Spec(adapter="pi", model="b", repeat=2, seed=4),
    ]
    sweep = write_sweep(tmp_path / "sweep", specs, states={2: "pending", 3: "failed"})
    # A hand-edited line sends a cell's run_dir outside the sweep: it is not read.
    cells = [json.loads(line) for line in (sweep / "cells.jsonl").read_text().splitlines()]
    cells.append({**cells[0], "cell_id": "evil", "run_dir": "../../outside"})
    cells.append({**cells[0], "cell_id": "odd", "state": "paused"})
    (sweep / "cells.jsonl").write_text("\n".join(json.dumps(c) for c in cells) + "\nnot json\n")
    found = scan_runs(sweep, cache_dir=cache)
    assert [r.ref for r in found.rows] == [
        "s/pi/a/demo/fix-greeting/1",
        "s/pi/a/demo/fix-greeting/2",
        "s/pi/b/demo/fix-greeting/1",
        "s/pi/b/demo/fix-greeting/2",
        "evil",
        "odd",
    ]
    outcomes = [r.outcome for r in found.rows]
    assert outcomes[:4] == ["pass", "FAIL", "pending", "error"]
    assert found.rows[3].why == "cab-trace run exited 1"
    assert found.rows[2].run_dir is None and found.rows[2].fields.get("wall_ms") is None
    assert found.rows[0].fields["repeat"] == 1 and found.rows[1].fields["repeat"] == 2
    assert "outside the sweep directory" in (found.rows[4].problem or "") and found.rows[4].run_dir is None
    assert found.rows[5].state == "paused"  # unknown states are kept, and not done
    assert found.rows[5].summary_fields()["state"] == "paused"
    assert any("cells.jsonl:7: not valid JSON" in w for w in found.warnings)
    assert found.sweeps == [sweep]


def test_sweeps_below_a_directory_are_read_as_sweeps(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "all"
    write_sweep(root / "sweep-1", [Spec(seed=1), Spec(seed=2, model="b")])
    write_run(root / "loose", Spec(seed=3, adapter="aider"))
    found = scan_runs(root, cache_dir=cache)
    assert [r.get("adapter") for r in found.rows] == ["pi", "pi", "aider"]
    assert found.rows[0].get("run_dir") == "sweep-1/cells/0000"
    assert scan_runs(root, cache_dir=cache).traces_read == 0


def test_find_takes_what_the_table_shows(tmp_path: Path, cache: Path) -> None:
    three_runs(tmp_path / "runs")
    found = scan_runs(tmp_path / "runs", cache_dir=cache)
    assert found.find("2").ref == "nested/r2"
    assert found.find("#3").ref == "r1"
    assert found.find("nested/deeper/r3").number == 1
    assert found.find("deeper").number == 1  # one row holds it
    assert found.find(str(tmp_path / "runs" / "r1")).number == 3
    with pytest.raises(LookupError, match="fits 2 cells"):
        found.find("nested")
    with pytest.raises(LookupError, match="no cell"):
        found.find("nothing-like-it")


def test_nothing_is_written_when_told(tmp_path: Path, cache: Path) -> None:
    three_runs(tmp_path / "runs")
    found = scan_runs(tmp_path / "runs", cache_dir=cache, write_index=False)
    assert found.index_path is None and not (tmp_path / "runs" / INDEX_FILE_NAME).exists()
    assert not cache.exists()


_BOTH_WAYS = """
import sys
from pathlib import Path
import cab_trace.sweep.runs as runs
import cab_trace.sweep.runs_index as runs_index
root, cache = Path(sys.argv[1]), Path(sys.argv[2])
runs_index.PARALLEL_FROM = 2
many = runs.scan_runs(root, cache_dir=cache, write_index=False)
runs_index.PARALLEL_FROM = 10**9
one = runs.scan_runs(root, cache_dir=cache, write_index=False)
assert many.workers > 1 and one.workers == 1, (many.workers, one.workers)
assert [(r.ref, r.state, r.problem, r.fields) for r in many.rows] == [
    (r.ref, r.state, r.problem, r.fields) for r in one.rows
]
print("agree", many.traces_read, one.traces_read)
"""


def test_reading_in_several_processes_gives_what_one_gives(tmp_path: Path, cache: Path) -> None:
    """The first look reads traces in worker processes when there are many: the same rows."""
    import subprocess
    import sys

    root = tmp_path / "runs"
    three_runs(root)
    write_sweep(root / "sweep", [Spec(seed=7), Spec(seed=8, passed=False)])
    (root / "bad").mkdir()
    (root / "bad" / "trace.jsonl").write_text("hello\n")
    # A process of its own: one thread, as the command line is (a process with threads reads alone).
    out = subprocess.run(
        [sys.executable, "-c", _BOTH_WAYS, str(root), str(cache)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["agree", "6", "6"]


def test_the_table_texts_in_one_call_are_the_columns_own(tmp_path: Path, cache: Path) -> None:
    """row_texts is the fast path of the replay's table; the columns' functions are the spec."""
    from cab_trace.sweep.runs_table import COLUMNS, row_texts

    root = tmp_path / "runs"
    three_runs(root)
    write_sweep(root / "sweep", [Spec(seed=5), Spec(seed=6, passed=None, exit_code=2)], states={1: "pending"})
    (root / "bad").mkdir()
    (root / "bad" / "trace.jsonl").write_text("\x1b[31mnot json\n")
    rows = scan_runs(root, cache_dir=cache).rows
    assert len(rows) == 6
    for row in rows:
        full, compact = row_texts(row)
        assert full == tuple(c.text(row) for c in COLUMNS)
        assert compact == tuple((c.compact or c.text)(row) for c in COLUMNS)


# -- other harnesses' records: Harbor trials and Inspect AI logs --------------------------------

FOREIGN = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"


def imported_runs(root: Path) -> Path:
    """A directory as another harness leaves it: a Harbor job (its own result.json and config,
    its trials below), Inspect logs in both formats, and files that are neither."""
    import shutil

    job = root / "harbor-job"
    shutil.copytree(FOREIGN / "harbor", job)
    (job / "result.json").write_text('{"id": "job", "n_total_trials": 2}')  # a job's, not a trial's
    (job / "config.json").write_text('{"job_name": "job"}')
    shutil.copytree(FOREIGN / "inspect", root / "logs")
    (root / "logs" / "notes.json").write_text('{"version": 1, "about": "not an eval log"}')
    (root / "logs" / "other.eval").write_text("not a zip archive")
    return root


def test_harbor_trials_and_inspect_logs_are_rows_one_per_sample(tmp_path: Path, cache: Path) -> None:
    from cab_trace.model.formats import read_trace

    root = imported_runs(tmp_path / "imported")
    # This trial's verdict comes from verifier/reward.txt (Harbor's result without rewards).
    trial = root / "harbor-job" / "fix-greeting__Zq81LmC"
    result = json.loads((trial / "result.json").read_text())
    result["verifier_result"]["rewards"] = None
    (trial / "result.json").write_text(json.dumps(result, indent=4))
    found = scan_runs(root, cache_dir=cache)
    refs = [r.ref for r in found.rows]
    assert refs[:2] == ["harbor-job/fix-greeting__Ab3dE9x", "harbor-job/fix-greeting__Zq81LmC"]
    assert len(refs) == 6 and refs[2].startswith("logs/fix-greeting.eval#")
    assert refs[4].startswith("logs/fix-greeting.json#")
    # Each row is one run, its numbers what that run's trace says; an Inspect log's own trace
    # (the eval, no sample) is no row.
    for row in found.rows:
        assert row.run_dir is not None and row.state == "done" and row.problem is None
        records = list(read_trace(row.run_dir))
        trace = row.trace or records[0].trace_id
        spans = [r for r in records if r.trace_id == trace]
        assert any(r.kind == "run" for r in spans)
        rel = row.run_dir.relative_to(root).as_posix()
        assert row.fields == {"run_dir": rel, **cell_numbers(spans).to_dict()}
    samples = [r for r in found.rows if r.fields["adapter"] == "inspect_ai"]
    assert [(r.fields["task_id"], r.fields["repeat"], r.outcome) for r in samples] == [
        ("fix_greeting/greet-1", 1, "pass"), ("fix_greeting/greet-2", 1, "FAIL")
    ] * 2  # fmt: skip
    assert len({r.trace for r in samples}) == 4
    assert [r.outcome for r in found.rows[:2]] == ["pass", "FAIL"]  # reward 1, reward 0
    assert [r.fields["adapter"] for r in found.rows[:2]] == ["terminus-2"] * 2
    # Named as the table names them, or as `compare FILE#TRACE` does.
    assert found.find(refs[3]) is found.rows[3]
    # The second look reads nothing; a trial's reward that changes is read again, alone.
    again = scan_runs(root, cache_dir=cache)
    assert again.traces_read == 0 and [r.fields for r in again.rows] == [r.fields for r in found.rows]
    reward = trial / "verifier" / "reward.txt"
    reward.write_text("1\n")
    os.utime(reward, ns=(reward.stat().st_atime_ns, reward.stat().st_mtime_ns + 10**9))
    third = scan_runs(root, cache_dir=cache)
    assert third.traces_read == 1 and third.rows[1].outcome == "pass"
