"""Importing other harnesses' records: Inspect AI logs, Harbor trials and ATIF trajectories,
asciicast recordings, on files the tools themselves wrote (tests/fixtures/foreign/README.md), and
Jaeger JSON with the ids Jaeger UI accepts."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cab_trace.errors import TraceFileError
from cab_trace.export.sources import traces_below
from cab_trace.model import SpanRecord
from cab_trace.model.asciicast import convert, read, records_from_cast
from cab_trace.model.axes import cell_numbers
from cab_trace.model.foreign import terminal_of
from cab_trace.model.formats import detect_format, jaeger_document, read_trace, resolve_source
from cab_trace.model.harbor import records_from_atif, records_from_trial
from cab_trace.model.inspect_log import records_from_inspect_json
from cab_trace.model.inspect_messages import passed_of
from cab_trace.model.jsonl import encode_record
from cab_trace.model.record import RecordError
from tests.conftest import run_cli
from tests.strategies import traces
from tests.unit.test_genai_schema import SCHEMAS, problems

FOREIGN = Path(__file__).resolve().parents[1] / "fixtures" / "foreign"
EVAL = FOREIGN / "inspect" / "fix-greeting.eval"
EVAL_JSON = FOREIGN / "inspect" / "fix-greeting.json"
TRIAL = FOREIGN / "harbor" / "fix-greeting__Ab3dE9x"
FAILED_TRIAL = FOREIGN / "harbor" / "fix-greeting__Zq81LmC"


def by_trace(records: list[SpanRecord]) -> dict[str, list[SpanRecord]]:
    out: dict[str, list[SpanRecord]] = {}
    for r in records:
        out.setdefault(r.trace_id, []).append(r)
    return out


def _schema_clean(records: list[SpanRecord]) -> None:
    for r in records:
        for attribute in SCHEMAS:
            if attribute in r.attributes:
                value = orjson.loads(str(r.attributes[attribute]))
                assert not problems(attribute, value), (r.name, attribute, problems(attribute, value)[:3])


# -- Inspect AI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EVAL, EVAL_JSON], ids=["eval", "json"])
def test_an_inspect_log_is_one_trace_per_sample_and_one_for_the_eval(path: Path) -> None:
    assert detect_format(path) == ("inspect-eval" if path.suffix == ".eval" else "inspect-json")
    records = list(read_trace(path))
    traces_ = by_trace(records)
    assert len(traces_) == 3
    roots = {t: next(r for r in rs if r.parent_span_id is None) for t, rs in traces_.items()}
    evals = [r for r in roots.values() if r.kind == "eval"]
    samples = [r for r in roots.values() if r.kind == "run"]
    assert len(evals) == 1 and len(samples) == 2
    assert all(s.links and s.links[0].span_id == evals[0].span_id for s in samples)  # each links to the eval
    assert {s.attributes["task_id"] for s in samples} == {"fix_greeting/greet-1", "fix_greeting/greet-2"}
    verdicts = {s.attributes["task_id"]: s.attributes.get("check_passed") for s in samples}
    assert verdicts == {"fix_greeting/greet-1": True, "fix_greeting/greet-2": False}  # includes(): C / I
    # the eval's span covers its samples (Inspect's header times are to the second)
    assert evals[0].start_time_unix_nano <= min(s.start_time_unix_nano for s in samples)
    assert evals[0].end_time_unix_nano >= max(s.end_time_unix_nano for s in samples)


def test_inspect_model_and_tool_events_become_chat_and_execute_tool_spans() -> None:
    records = list(read_trace(EVAL))
    sample = next(rs for rs in by_trace(records).values() if any(r.name.endswith("greet-1") for r in rs))
    kinds = Counter(r.kind for r in sample)
    assert kinds["model_call"] == 3 and kinds["tool_step"] == 2 and kinds["verify"] == 1
    calls = sorted((r for r in sample if r.kind == "model_call"), key=lambda r: r.start_time_unix_nano)
    first = calls[0].attributes
    assert first["gen_ai.operation.name"] == "chat" and first["gen_ai.provider.name"] == "openai"
    assert first["gen_ai.request.model"] == "scripted-model"
    assert first["gen_ai.usage.input_tokens"] == 249 and first["gen_ai.usage.output_tokens"] == 5
    assert first["gen_ai.response.finish_reasons"] == ["tool_calls"]
    tools = orjson.loads(str(first["gen_ai.tool.definitions"]))
    assert [t["name"] for t in tools] == ["read", "edit"] and tools[0]["description"] == "Read a file."
    # the second call carries the first tool's result back, under "response"
    sent = orjson.loads(str(calls[1].attributes["gen_ai.input.messages"]))
    results = [p for m in sent for p in m["parts"] if p["type"] == "tool_call_response"]
    assert results and results[0]["response"].startswith("def greet")
    assert orjson.loads(str(calls[0].attributes["gen_ai.system_instructions"]))[0]["content"] == (
        "You are a coding agent."
    )
    steps = {r.attributes["gen_ai.tool.name"]: r for r in sample if r.kind == "tool_step"}
    assert steps["edit"].attributes["gen_ai.tool.call.result"] == "edited greet.py"
    assert orjson.loads(str(steps["edit"].attributes["gen_ai.tool.call.arguments"]))["path"] == "greet.py"
    # Inspect's own tool span sits under the execute_tool span; spans nest in time
    inner = next(r for r in sample if r.kind == "tool" and r.name == "edit")
    assert inner.parent_span_id == steps["edit"].span_id
    spans = {r.span_id: r for r in sample}
    for r in sample:
        parent = spans.get(r.parent_span_id or "")
        if parent is not None:
            assert parent.start_time_unix_nano <= r.start_time_unix_nano <= r.end_time_unix_nano
            assert r.end_time_unix_nano <= parent.end_time_unix_nano
    _schema_clean(records)


def test_inspect_ids_are_deterministic() -> None:
    once, twice = list(read_trace(EVAL)), list(read_trace(EVAL))
    assert [(r.trace_id, r.span_id) for r in once] == [(r.trace_id, r.span_id) for r in twice]
    assert len({r.span_id for r in once}) == len(once)


def test_score_values_as_verdicts() -> None:
    assert [passed_of(v) for v in ("C", "I", 1, 0, 0.5, True, "yes")] == [
        True,
        False,
        True,
        False,
        None,
        True,
        None,
    ]


def test_cell_numbers_of_imported_traces() -> None:
    records = list(read_trace(EVAL))
    sample = next(rs for rs in by_trace(records).values() if any(r.name.endswith("greet-1") for r in rs))
    numbers = cell_numbers(sample)
    assert (numbers.task_id, numbers.adapter, numbers.model) == (
        "fix_greeting/greet-1",
        "inspect_ai",
        "scripted-model",
    )
    assert numbers.passed is True and numbers.model_calls == 3 and numbers.tool_steps == 2
    assert numbers.calls_without_usage == 0
    assert (numbers.input_tokens, numbers.output_tokens) == (249 + 325 + 414, 5 + 25 + 17)
    assert numbers.tokens_per_correct_task == numbers.total_tokens
    assert numbers.wall_ms is not None and numbers.wall_ms > 0
    trial = cell_numbers(read_trace(TRIAL))
    assert (trial.task_id, trial.adapter, trial.model, trial.passed) == (
        "fix-greeting",
        "terminus-2",
        "scripted-model",
        True,
    )
    assert trial.model_calls == 4 and trial.input_tokens == 3843 and trial.output_tokens == 155
    assert trial.container_ms is not None and trial.container_ms > 0
    assert cell_numbers(read_trace(FAILED_TRIAL)).passed is False
    assert cell_numbers(read_trace(FAILED_TRIAL)).tokens_per_correct_task is None


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_deflated_archive_and_an_unfinished_one_read_too(tmp_path: Path) -> None:
    """Older Inspect versions deflate their members; a log still being written has only its journal."""
    doc = orjson.loads(EVAL_JSON.read_bytes())
    sample = doc["samples"][0]
    start = {"version": 2, "eval": doc["eval"], "plan": doc["plan"]}
    path = tmp_path / "running.eval"
    path.write_bytes(
        _archive(
            {"_journal/start.json": orjson.dumps(start), "samples/greet-1_epoch_1.json": orjson.dumps(sample)}
        )
    )
    warnings: list[str] = []
    records = list(read_trace(path, warn=warnings.append))
    assert len(by_trace(records)) == 2 and any("had not finished" in w for w in warnings)


def test_files_that_are_not_traces_say_what_they_are(tmp_path: Path) -> None:
    other_zip = tmp_path / "x.eval"
    other_zip.write_bytes(_archive({"readme.txt": b"hi"}))
    with pytest.raises(TraceFileError, match=r"is a zip archive, not a trace.*no header\.json"):
        detect_format(other_zip)
    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))
    with pytest.raises(TraceFileError, match="gzip-compressed"):
        detect_format(gz)
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\x00\x01\x02" * 10)
    with pytest.raises(TraceFileError, match="binary file"):
        detect_format(binary)
    latin = tmp_path / "l.txt"
    latin.write_bytes(b"caf\xe9 au lait\n" * 5)
    with pytest.raises(TraceFileError, match="not UTF-8 text"):
        detect_format(latin)
    damaged = tmp_path / "damaged.jsonl"  # a killed writer's NUL bytes after a good first line
    good = (
        Path(__file__).resolve().parents[1] / "replay" / "fixtures" / "demo-run" / "trace.jsonl"
    ).read_bytes()
    damaged.write_bytes(good.splitlines(keepends=True)[0] + b"\x00" * 64 + b"\n")
    with pytest.raises(TraceFileError, match=r"damaged\.jsonl:2"):
        list(read_trace(damaged))
    damaged_eval = tmp_path / "damaged.eval"  # a byte flipped inside a compressed sample
    data = bytearray(EVAL.read_bytes())
    at = data.index(b"samples/greet-1_epoch_1.json") + 200
    data[at] ^= 0xFF
    damaged_eval.write_bytes(bytes(data))
    with pytest.raises(TraceFileError, match=r"damaged\.eval: not valid as an Inspect AI log .*samples/"):
        list(read_trace(damaged_eval))
    broken = tmp_path / "broken.eval"
    broken.write_bytes(EVAL.read_bytes()[:2000])
    with pytest.raises(TraceFileError, match="zip archive"):
        list(read_trace(broken))


def test_validate_says_a_eval_is_a_zip_in_one_line(tmp_path: Path) -> None:
    ok = run_cli("validate", str(EVAL))
    assert ok.returncode == 0 and "Inspect AI log (.eval: a zip archive of JSON)" in ok.stdout
    assert "31 span(s) in 3 trace(s)" in ok.stdout
    other = tmp_path / "other.eval"
    other.write_bytes(_archive({"data.bin": b"\x00" * 10}))
    refused = run_cli("validate", str(other))
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) <= 2 and "zip archive" in refused.stderr
    assert "Traceback" not in refused.stderr and "UTF-8" not in refused.stderr


# -- Harbor ----------------------------------------------------------------------------------------


def test_a_harbor_trial_directory_is_one_trace_with_its_phases_steps_and_terminal() -> None:
    assert (
        resolve_source(TRIAL) == TRIAL / "result.json"
        and detect_format(TRIAL / "result.json") == "harbor-trial"
    )
    records = list(read_trace(TRIAL))
    assert len(by_trace(records)) == 1
    root = next(r for r in records if r.parent_span_id is None)
    assert root.kind == "run" and root.attributes["check_passed"] is True
    assert root.attributes["harbor.reward.reward"] == 1.0
    phases = {r.name: r for r in records if r.parent_span_id == root.span_id}
    assert [phases[n].kind for n in ("environment_setup", "agent_setup", "agent_execution", "verifier")] == [
        "task_setup",
        "task_setup",
        "container",
        "verify",
    ]
    assert phases["verifier"].attributes["passed"] is True
    result = orjson.loads((TRIAL / "result.json").read_bytes())
    trajectory = orjson.loads((TRIAL / "agent" / "trajectory.json").read_bytes())
    calls = sorted((r for r in records if r.kind == "model_call"), key=lambda r: r.start_time_unix_nano)
    agent_steps = [s for s in trajectory["steps"] if s["source"] == "agent"]
    assert len(calls) == len(agent_steps) == 4
    # Each step runs from the previous step's timestamp (the first from the agent's start) to its own.
    execution = phases["agent_execution"]
    assert calls[0].start_time_unix_nano == execution.start_time_unix_nano
    from cab_trace.model.imported import iso_ns

    for call, step, before in zip(calls, agent_steps, [trajectory["steps"][0], *agent_steps], strict=False):
        assert call.end_time_unix_nano == iso_ns(step["timestamp"])
        assert call.start_time_unix_nano == max(
            iso_ns(before["timestamp"]) or 0, execution.start_time_unix_nano
        )
        assert call.attributes["cab.import.timing"] == "step"
    assert execution.start_time_unix_nano == iso_ns(result["agent_execution"]["started_at"])
    tools = [r for r in records if r.kind == "tool_step"]
    assert [t.attributes["gen_ai.tool.name"] for t in tools].count("bash_command") == 3
    cat = next(t for t in tools if "cat greet.py" in str(t.attributes["gen_ai.tool.call.arguments"]))
    assert 'return f"Hello, {name}"' in str(cat.attributes["gen_ai.tool.call.result"])
    # the second model call was sent the first call's result
    sent = orjson.loads(str(calls[1].attributes["gen_ai.input.messages"]))
    assert sent[0]["parts"][0]["type"] == "tool_call_response" and sent[0]["parts"][0]["id"] == "call_0_1"
    _schema_clean(records)
    assert terminal_of(TRIAL / "result.json") == TRIAL / "agent" / "recording.cast"


def test_a_failed_trial_and_a_trial_without_its_trajectory(tmp_path: Path) -> None:
    root = next(r for r in read_trace(FAILED_TRIAL) if r.parent_span_id is None)
    assert root.attributes["check_passed"] is False
    bare = tmp_path / "trial"
    (bare / "verifier").mkdir(parents=True)
    result = orjson.loads((TRIAL / "result.json").read_bytes())
    result["verifier_result"] = None
    result["exception_info"] = {
        "exception_type": "AgentTimeoutError",
        "exception_message": "the agent ran out of time",
        "exception_traceback": "Traceback ...",
        "occurred_at": result["finished_at"],
    }
    (bare / "result.json").write_bytes(orjson.dumps(result))
    (bare / "verifier" / "reward.txt").write_text("0\n")
    records = list(read_trace(bare))
    root = next(r for r in records if r.parent_span_id is None)
    assert root.is_error and "AgentTimeoutError: the agent ran out of time" in root.status.message
    assert root.attributes["check_passed"] is False  # from reward.txt
    assert not [r for r in records if r.kind == "model_call"]  # no trajectory: no steps, nothing invented


def test_an_atif_trajectory_on_its_own() -> None:
    path = TRIAL / "agent" / "trajectory.json"
    assert detect_format(path) == "atif"
    records = list(read_trace(path))
    assert records == list(records_from_atif(orjson.loads(path.read_bytes())))
    assert Counter(r.kind for r in records) == {"run": 1, "model_call": 4, "tool_step": 4}
    assert terminal_of(path) == TRIAL / "agent" / "recording.cast"


def test_a_directory_of_trials_exports_as_a_sweep(tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    result = run_cli("export", str(FOREIGN / "harbor"), str(EVAL), "--format", "otlp-json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "of 5 trace(s)" in result.stderr  # two trials, two samples and the eval
    # a Harbor job's directory: its own result.json and config.json, its trials below it
    job = tmp_path / "jobs" / "2026-01-02__10-00-00"
    shutil.copytree(FOREIGN / "harbor", job)
    (job / "result.json").write_text('{"id": "job", "n_total_trials": 2, "stats": {}}')
    (job / "config.json").write_text("{}")
    again = run_cli("export", str(tmp_path / "jobs"), "--format", "otlp-json", "-o", str(out))
    assert again.returncode == 0 and "of 2 trace(s)" in again.stderr, again.stderr


def test_a_directory_export_finds_inspect_json_logs_and_leaves_superseded_attempts(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(EVAL_JSON, logs / "run-1.json")
    (logs / "notes.json").write_text('{"version": 2, "not": "an inspect log"}')
    # A run directory, its kept workdir (whose own files are not runs), and the attempt a
    # rerun superseded (kept in .attempts/, not a cell of the sweep).
    run = tmp_path / "sweep" / "cell"
    shutil.copytree(TRIAL, tmp_path / "trial")
    records = list(read_trace(tmp_path / "trial" / "result.json"))
    run.mkdir(parents=True)
    (run / "trace.jsonl").write_bytes(b"".join(encode_record(r) for r in records))
    (run / "workdir").mkdir()
    shutil.copy(EVAL_JSON, run / "workdir" / "inspect.json")
    attempt = tmp_path / "sweep" / ".attempts" / "cell" / "1"
    attempt.mkdir(parents=True)
    shutil.copy(run / "trace.jsonl", attempt / "trace.jsonl")
    assert traces_below(tmp_path) == sorted(
        [logs / "run-1.json", run / "trace.jsonl", tmp_path / "trial" / "result.json"]
    )
    out = tmp_path / "all.jsonl"
    result = run_cli("export", str(logs), "--format", "otlp-json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "of 3 trace(s)" in result.stderr  # the .json log: its two samples and the eval


# -- asciicast -------------------------------------------------------------------------------------


def test_a_recording_on_its_own_is_a_one_span_trace() -> None:
    path = TRIAL / "agent" / "recording.cast"
    assert detect_format(path) == "asciicast" and terminal_of(path) == path
    (span,) = read_trace(path)
    lines = path.read_bytes().splitlines()
    header, last = orjson.loads(lines[0]), orjson.loads(lines[-1])
    assert span.start_time_unix_nano == header["timestamp"] * 10**9
    assert span.duration_ns == round(last[0] * 1e6) * 1000
    assert span.attributes["asciicast.cols"] == 100 and span.kind == "container"


def test_v3_markers_exit_and_no_timestamp() -> None:
    cast = (
        b'{"version": 3, "term": {"cols": 80, "rows": 24}, "title": "demo"}\n# c\n'
        b'[0.5, "o", "a"]\n[0.25, "m", "half"]\n[1, "x", "3"]\n'
    )
    (span,) = records_from_cast(io.BytesIO(cast))
    assert span.name == "demo" and span.start_time_unix_nano == 0 and span.duration_ns == 1_750_000_000
    assert span.attributes["exit_code"] == 3
    assert [(e.name, e.time_unix_nano, e.attributes["asciicast.marker"]) for e in span.events] == [
        ("marker", 750_000_000, "half")
    ]


EVENTS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5_000_000),
        st.sampled_from(["o", "i", "m", "r"]),
        st.text(max_size=20),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(events=EVENTS, idle=st.none() | st.floats(min_value=0.5, max_value=10, allow_nan=False))
def test_converting_v2_to_v3_and_back_keeps_every_event_exactly(
    events: list[tuple[int, str, str]], idle: float | None
) -> None:
    header: dict[str, Any] = {"version": 2, "width": 90, "height": 30, "timestamp": 1_700_000_000}
    header["env"] = {"TERM": "xterm-256color", "SHELL": "/bin/sh"}
    if idle is not None:
        header["idle_time_limit"] = idle
    clock, lines = 0, [orjson.dumps(header) + b"\n"]
    for gap, code, data in events:
        clock += gap
        text = "100x40" if code == "r" else data
        lines.append(orjson.dumps([clock / 1e6, code, text]) + b"\n")
    v3 = list(convert(lines, 3))
    parsed3 = read(v3)
    assert parsed3.header["term"] == {"cols": 90, "rows": 30, "type": "xterm-256color"}
    assert parsed3.header.get("idle_time_limit") == idle and parsed3.header["env"] == {"SHELL": "/bin/sh"}
    back = list(convert(v3, 2))
    original, again = read(lines), read(back)
    assert again.header == original.header
    assert [(e.time_us, e.code, e.data) for e in again.events] == [
        (e.time_us, e.code, e.data) for e in original.events
    ]


# -- Jaeger JSON -----------------------------------------------------------------------------------


def test_jaeger_ids_that_are_not_hex_are_mapped_and_kept(tmp_path: Path) -> None:
    doc = {
        "data": [
            {
                "traceID": "trace-123",
                "spans": [
                    {
                        "traceID": "trace-123",
                        "spanID": "span-A",
                        "operationName": "root",
                        "startTime": 10,
                        "duration": 5,
                    },
                    {
                        "traceID": "trace-123",
                        "spanID": "span-B",
                        "operationName": "child",
                        "references": [{"refType": "CHILD_OF", "traceID": "trace-123", "spanID": "span-A"}],
                        "startTime": 11,
                        "duration": 2,
                    },
                ],
                "processes": {},
            }
        ]
    }
    path = tmp_path / "ui.json"
    path.write_bytes(orjson.dumps(doc))
    warnings: list[str] = []
    first = list(read_trace(path, warn=warnings.append))
    assert len(warnings) == 1 and "not hex" in warnings[0] and "jaeger.span_id" in warnings[0]
    root, child = first
    assert len(root.trace_id) == 32 and len(root.span_id) == 16 and child.parent_span_id == root.span_id
    assert root.attributes["jaeger.trace_id"] == "trace-123" and root.attributes["jaeger.span_id"] == "span-A"
    assert child.attributes["jaeger.parent_span_id"] == "span-A"
    assert [(r.trace_id, r.span_id) for r in read_trace(path)] == [(r.trace_id, r.span_id) for r in first]


@settings(max_examples=60, deadline=None)
@given(records=traces())
def test_jaeger_ui_computes_each_trace_s_end_and_duration_as_the_trace_has_them(
    records: list[SpanRecord],
) -> None:
    """Jaeger UI's transformTraceData: start = min startTime, end = max(startTime + duration)."""
    for trace in jaeger_document(records)["data"]:
        spans = [s for s in trace["spans"] if s["startTime"]]  # it drops spans with no start time
        if not spans:
            continue
        mine = [r for r in records if r.trace_id == trace["traceID"] and r.start_time_unix_nano // 1000]
        ui_start = min(s["startTime"] for s in spans)
        ui_end = max(s["startTime"] + s["duration"] for s in spans)
        assert ui_start == min(r.start_time_unix_nano for r in mine) // 1000
        assert ui_end == max(r.end_time_unix_nano for r in mine) // 1000
        for s, r in zip(trace["spans"], [r for r in records if r.trace_id == trace["traceID"]], strict=True):
            assert s["startTime"] + s["duration"] == r.end_time_unix_nano // 1000


# -- damaged input ---------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = _replace(copy[head], rest, value)
    return copy


DOCUMENTS = {
    "inspect.json": orjson.loads(EVAL_JSON.read_bytes()),
    "result.json": orjson.loads((TRIAL / "result.json").read_bytes()),
    "trajectory.json": orjson.loads((TRIAL / "agent" / "trajectory.json").read_bytes()),
}
PATHS = {name: _paths(doc) for name, doc in DOCUMENTS.items()}


SUBSTITUTES = [None, -1, 2**64, 1.5, True, "x", "2026-13-45T99:99:99+00:00", [], {}, [None], {"type": "text"}]


def _import(name: str, doc: Any) -> list[SpanRecord]:
    if name == "inspect.json":
        return list(records_from_inspect_json(doc))
    if name == "trajectory.json":
        return list(records_from_atif(doc))
    return list(records_from_trial(doc, DOCUMENTS["trajectory.json"], "1"))


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_damaged_record_is_read_or_refused_clearly_never_a_crash(name: str) -> None:
    """Every field of a real log, in turn, replaced by each of a set of wrong values: the importer
    reads what it can or says what is wrong (RecordError, which the CLI reports as file and
    problem), and every span it makes is a valid record."""
    for field in PATHS[name]:
        for value in SUBSTITUTES:
            try:
                records = _import(name, _replace(DOCUMENTS[name], field, value))
            except RecordError:
                continue
            for record in records:
                assert record.start_time_unix_nano <= record.end_time_unix_nano, (field, value)
                assert SpanRecord.from_json_obj(record.to_json_obj()) == record, (field, value)
