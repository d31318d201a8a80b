"""The pure part of a sweep: its file, its matrix, cell ids and paths, resume state, the live view."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cab_trace.errors import UsageError
from cab_trace.sweep import plan, spec, state
from cab_trace.sweep.job import cell_job, error_from_log
from cab_trace.sweep.live import LiveView, clock_text
from cab_trace.sweep.plan import Cell, TaskRef, expand, segment

TASK_A = TaskRef("polyglot/rust-error-handling", "/tasks/a")
TASK_B = TaskRef("demo/fix", "/tasks/b")


def test_cell_id_and_path_follow_the_results_pages() -> None:
    cell = Cell("expansion-20260616", "pi", "pi", "stepfun-ai/step-3.5-flash", TASK_A, 2)
    assert cell.cell_id == "expansion-20260616/pi/stepfun-ai/step-3.5-flash/polyglot/rust-error-handling"
    assert cell.path == "pi/stepfun-ai/step-3.5-flash/polyglot/rust-error-handling/r2"
    assert Cell("s", "pi", "pi", None, TASK_B, 1).path == "pi/-/demo/fix/r1"


@pytest.mark.parametrize("bad", ["", ".", "..", "a//b", "../etc", "a/../b", "a/."])
def test_a_model_id_that_could_leave_the_sweep_directory_is_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="cannot be a directory name"):
        _ = Cell("s", "pi", "pi", bad or "/", TASK_B, 1).path


@given(st.text(min_size=1, max_size=300))
def test_a_segment_is_one_plain_directory_name(text: str) -> None:
    if text in (".", ".."):
        return
    name = segment(text, "model")
    assert "/" not in name and "\x00" not in name and name not in (".", "..")
    assert not name.startswith(".")
    assert len(name.encode()) <= 120
    assert all(32 < ord(c) < 127 for c in name)  # no control characters, no spaces


def test_segments_keep_ids_apart() -> None:
    assert segment("a b", "m") != segment("a_b", "m")
    assert segment(".hidden", "m") == "%2Ehidden"
    assert segment("qwen2.5-coder:7b", "m") == "qwen2.5-coder:7b"
    assert segment("x" * 500, "m") != segment("x" * 499 + "y", "m")


def test_the_matrix_runs_repeat_by_repeat_with_adapters_side_by_side() -> None:
    cells = expand("s", [("pi", "pi"), ("codex", "codex")], ["m1", "m2"], [TASK_A, TASK_B], 2)
    assert len(cells) == 16
    assert [c.repeat for c in cells[:8]] == [1] * 8
    assert [(c.adapter, c.model) for c in cells[:4]] == [
        ("pi", "m1"),
        ("pi", "m2"),
        ("codex", "m1"),
        ("codex", "m2"),
    ]
    assert len({c.path for c in cells}) == 16
    assert len({c.key for c in cells}) == 16


def test_plugin_and_var_sets_are_an_axis_with_their_own_directories() -> None:
    cells = expand(
        "s",
        [("pi", "pi")],
        ["m"],
        [TASK_B],
        1,
        plugins=["base"],
        variables={"api": "x"},
        plugin_sets=[[], ["thinking-off"]],
        var_sets=[{}, {"provider": "nim"}],
    )
    assert len(cells) == 4
    assert {c.plugins for c in cells} == {("base",), ("base", "thinking-off")}
    assert {dict(c.vars).get("provider") for c in cells} == {None, "nim"}
    assert all(dict(c.vars)["api"] == "x" for c in cells)
    assert {c.path.split("/")[0] for c in cells} == {
        "pi+none",
        "pi+thinking-off",
        "pi+provider=nim",
        "pi+thinking-off+provider=nim",
    }


def test_cells_that_would_share_or_nest_a_directory_are_refused() -> None:
    # '%' is written %25, so an id that looks encoded is kept apart from the one it looks like.
    assert len({c.path for c in expand("s", [("pi", "pi")], ["a b", "a%20b"], [TaskRef("t", "/t")], 1)}) == 2
    with pytest.raises(UsageError, match="share the directory"):
        expand("s", [("pi", "pi")], ["a", "a/b"], [TaskRef("b/t", "/1"), TaskRef("t", "/2")], 1)
    with pytest.raises(UsageError, match="inside the directory"):
        expand("s", [("pi", "pi")], ["m"], [TaskRef("t", "/1"), TaskRef("t/r1/x", "/2")], 1)
    with pytest.raises(UsageError, match="twice"):
        expand("s", [("pi", "pi")], ["m", "m"], [TASK_B], 1)
    with pytest.raises(UsageError, match="file of the sweep directory"):
        expand("s", [("x", "cells.jsonl")], ["m"], [TASK_B], 1)


def test_a_sweep_file_reads_as_flags_with_paths_from_its_own_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "sweep.toml"
    path.write_text(
        'sweep-id = "exp"\nadapter = ["pi", "my/adapter.toml"]\nmodel = "m"\ntask = ["tasks/*", "/abs/t"]\n'
        'repeats = 3\nworkers = 4\ntimeout = 90\nmemory = "2g"\nkey_env = "NIM_KEY"\nout = "../runs"\n'
        '[image]\npi = "img-pi"\n"*" = "img-any"\n[endpoint]\npi = "http://e/v1"\n'
        '[var]\nprovider = "nim"\n'
    )
    layer = spec.read_sweep_file(path)
    assert layer["adapter"] == ["pi", str(tmp_path / "conf" / "my/adapter.toml")]
    assert layer["model"] == ["m"]
    assert layer["task"] == [str(tmp_path / "conf" / "tasks/*"), "/abs/t"]
    assert layer["key-env"] == "NIM_KEY" and layer["repeats"] == 3 and layer["timeout"] == 90.0
    assert layer["out"] == str(tmp_path / "conf" / "../runs")
    merged = spec.merge(layer, {"repeats": 1, "image": "img-flag"})
    assert merged["repeats"] == 1 and merged.for_adapter("image", "codex") == "img-flag"
    file_only = spec.merge(layer)
    assert file_only.for_adapter("image", "pi") == "img-pi"
    assert file_only.for_adapter("image", "codex") == "img-any"
    assert file_only.for_adapter("endpoint", "codex") is None
    assert "workers" not in file_only.recorded() and "out" not in file_only.recorded()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('adapter = ["pi"]\nmodle = "m"\n', r"sweep.toml:2: modle: unknown key.*did you mean 'model'"),
        ("repeats = 0\n", r"sweep.toml:1: repeats: must be a positive whole number"),
        ('adapter = "pi"\n\ntimeout = "soon"\n', r"sweep.toml:3: timeout: must be a number"),
        ("[image]\npi = 3\n", r"sweep.toml:1: image: must be a string"),
        ('runtime = "vm"\n', r"runtime: must be one of local, docker"),
        ('memory = "1k"\n', r"memory: must be a memory limit"),
        ("adapter = [\n", r"sweep.toml: not valid TOML"),
        ("repeats = 2\nrepeats = 3\n", r"not valid TOML"),
    ],
)
def test_a_bad_sweep_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        spec.read_sweep_file(path)
    assert re.search(message, f"{caught.value.message} {caught.value.hint}")


def test_flag_values_for_sets_and_adapters() -> None:
    assert spec.parse_per_adapter(["img"], "--image") == "img"
    assert spec.parse_per_adapter(["pi=a", "b"], "--image") == {"pi": "a", "*": "b"}
    assert spec.parse_per_adapter(["http://h/v1?x=y"], "--endpoint") == "http://h/v1?x=y"
    assert spec.parse_var_set("provider=nim,api=x") == {"provider": "nim", "api": "x"}
    assert spec.parse_var_set("") == {}
    assert spec.parse_plugin_set("a, b,") == ["a", "b"]
    with pytest.raises(UsageError):
        spec.parse_var_set("novalue")


def test_task_globs_find_task_directories(tmp_path: Path) -> None:
    for name in ("b", "a", "c"):
        (tmp_path / "tasks" / name).mkdir(parents=True)
        if name != "c":
            (tmp_path / "tasks" / name / "task.toml").write_text("")
    found = spec.expand_tasks([str(tmp_path / "tasks/*"), str(tmp_path / "tasks/a")])
    assert [p.name for p in found] == ["a", "b"]
    with pytest.raises(UsageError, match="matches no task directory"):
        spec.expand_tasks([str(tmp_path / "none/*")])


def _lines(cells: list[Cell], states: list[str]) -> list[dict]:
    return [
        {**c.identity(), "state": s, "run_dir": c.path, "attempts": 1}
        for c, s in zip(cells, states, strict=True)
    ]


def test_a_resumed_sweep_runs_only_what_is_missing() -> None:
    cells = expand("s", [("pi", "pi")], ["m"], [TASK_A, TASK_B], 3)
    previous = _lines(cells, ["done", "failed", "interrupted", "running", "pending", "weird"])
    lines, to_run = state.merge_plan(cells, previous)
    assert to_run == [2, 3, 4, 5]
    assert lines[3]["state"] == "interrupted"  # its sweep died while it ran: never done
    assert state.merge_plan(cells, previous, "failed")[1] == [1, 2, 3, 4, 5]
    assert state.merge_plan(cells, previous, "all")[1] == [0, 1, 2, 3, 4, 5]
    # A larger plan adds cells; a smaller one keeps the lines it dropped (their runs are there).
    more = expand("s", [("pi", "pi")], ["m"], [TASK_A, TASK_B], 4)
    lines, to_run = state.merge_plan(more, previous)
    assert to_run == [2, 3, 4, 5, 6, 7] and len(lines) == 8
    fewer = cells[:2]
    lines, to_run = state.merge_plan(fewer, previous)
    assert to_run == [] and len(lines) == 6
    assert lines[5]["state"] == "weird" and lines[3]["state"] == "interrupted"


def test_a_started_cell_forgets_its_last_run() -> None:
    line = {**expand("s", [("pi", "pi")], ["m"], [TASK_B], 1)[0].identity(), "state": "failed",
            "error": "x", "node": "n", "attempts": 2, "wall_ms": 5, "passed": True}  # fmt: skip
    started = state.start_line(line, "pi/m/demo/fix/r1")
    assert started["state"] == "running" and started["attempts"] == 3
    assert "error" not in started and "wall_ms" not in started and "passed" not in started


NUMBERS = {"started_at": "2026-01-01T00:00:00Z", "wall_ms": 12.0, "passed": False, "exit_code": 1}


@pytest.mark.parametrize(
    ("exit_code", "numbers", "container_error", "kwargs", "expected", "error"),
    [
        (0, NUMBERS, None, {}, "done", None),
        (1, NUMBERS, "agent exited with code 1", {}, "done", None),  # the agent failing is an outcome
        (1, NUMBERS, "timed out after 5 s; the agent was killed", {}, "done", None),
        (1, NUMBERS, "command not found: pi", {}, "failed", "command not found: pi"),
        (1, NUMBERS, "docker: no such image", {}, "failed", "docker: no such image"),
        (2, None, None, {"error": "image 'x' is not on this machine"}, "failed", "image 'x'"),
        (137, NUMBERS, None, {}, "failed", "exited with code 137"),
        (0, None, None, {}, "failed", "no readable trace"),
        (130, NUMBERS, None, {"interrupted": True}, "interrupted", None),
        (None, None, None, {"error": "Ray gave up on it"}, "failed", "Ray gave up"),
    ],
)
def test_how_a_cell_ended(exit_code, numbers, container_error, kwargs, expected, error) -> None:
    line = {
        **expand("s", [("pi", "pi")], ["m"], [TASK_B], 1)[0].identity(),
        "state": "running",
        "run_dir": "x",
    }
    out = state.finished_line(line, exit_code, numbers, container_error=container_error, **kwargs)
    assert out["state"] == expected
    assert out["run_dir"] == "x" and out["adapter"] == "pi" and out["repeat"] == 1
    if error:
        assert error in out["error"]
    else:
        assert "error" not in out
    if expected == "done":
        assert out["wall_ms"] == 12.0 and out["passed"] is False


def test_cells_jsonl_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "cells.jsonl"
    state.write_atomic(path, state.encode_cells([{"a": 1}, {"b": "\x1b"}]))
    assert state.read_cells(path) == [{"a": 1}, {"b": "\x1b"}]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(UsageError, match=r"cells.jsonl:2: not JSON"):
        state.read_cells(path)


def test_the_run_command_of_a_cell_never_holds_the_key() -> None:
    full = spec.merge(
        {
            "adapter": ["pi"],
            "task": ["/t"],
            "endpoint": {"pi": "http://e/v1"},
            "runtime": "docker",
            "image": "img",
            "memory": "2g",
            "timeout": 0.0,
            "secret-env": ["X"],
            "no-content": True,
        }
    )
    cell = expand("sw", [("pi", "pi")], ["m/x"], [TASK_B], 1, plugins=["p"], variables={"v": "1"})[0]
    job = cell_job(full, cell, 0)
    argv = job.run_argv("/out", node="n1")
    assert argv[:5] == ["run", "--adapter", "pi", "--task", "/tasks/b"]
    joined = " ".join(argv)
    for part in ("--model m/x", "--image img", "--memory 2g", "--timeout 0", "--plugin p", "--var v=1",
                 "--endpoint http://e/v1", "--key-env CAB_KEY", "--secret-env X", "--no-content",
                 "--out /out", "--node n1", "--repeat 1", "--sweep-id sw"):  # fmt: skip
        assert part in joined, part
    assert job.docker and job.rel_path == cell.path


def test_error_from_log_takes_runs_last_error() -> None:
    log = "cab-trace: warning: x\ncab-trace: error: first\n  hint: h\ncab-trace: error: image 'i' is gone\n"
    assert error_from_log(log) == "image 'i' is gone"
    assert error_from_log("nothing") is None


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_view_on_a_terminal_redraws_in_place_and_escapes_names() -> None:
    now = [0.0]
    out = FakeTerminal()
    view = LiveView(out, tty=True, title="s\x1b[2J", to_run=4, clock=lambda: now[0], width=lambda: 100)
    view.started("pi/m/t r1")
    now[0] = 1.0
    view.tick()
    first = out.getvalue()
    assert "0/4 finished" in first and "1 running" in first and "\x1b[2J" not in first
    view.finished("pi/m/\x1b]0;owned\x07t r1", "done", True, 2.5)
    now[0] = 2.0
    view.tick()
    text = out.getvalue()[len(first) :]
    assert text.startswith("\x1b[1F\x1b[J")  # back over the one line drawn, then redrawn
    assert "\x1b]0;" not in text and "\\x1b]0;owned\\x07" in text
    assert "pass" in text and "ETA 0:06" in text
    assert all(len(line) <= 99 for line in text.split("\x1b[J")[1].splitlines())
    view.width = lambda: 40
    now[0] = 3.0
    view.tick(force=True)
    assert all(len(line) <= 39 for line in out.getvalue().rsplit("\x1b[J", 1)[1].splitlines())
    view.note("cause \x07")
    assert "cab-trace: sweep: cause \\x07" in out.getvalue()


def test_live_view_without_a_terminal_is_plain_lines() -> None:
    now = [0.0]
    out = io.StringIO()
    view = LiveView(out, tty=False, title="s", to_run=2, clock=lambda: now[0])
    view.started("a")
    view.finished("a\nb", "failed", None, None)
    now[0] = 31
    view.tick()
    view.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "cab-trace: sweep: [1/2] ERROR   a\\nb"
    assert "\x1b" not in out.getvalue()
    assert lines[1].startswith("cab-trace: sweep s: 1/2 finished") and len(lines) == 3


def test_clock_text() -> None:
    assert clock_text(None) == "\u2013"
    assert clock_text(62) == "1:02" and clock_text(3725) == "1:02:05"


def test_reserved_names_cover_the_sweep_files() -> None:
    assert {plan.CELLS_FILE, plan.SUMMARY_FILE, plan.SPEC_FILE} <= plan.RESERVED
