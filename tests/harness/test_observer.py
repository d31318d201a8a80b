"""The observer never changes the experiment, and what it records holds together:

- one clock: the wall clock steps 20 s forward in the middle of a real `cab-trace run` (in
  cab-trace's process and in the agent's, as NTP or a resumed VM steps it for the whole
  machine) and nothing recorded moves relative to anything else: phases, model calls, the
  agent's own spans and the terminal recording stay where they happened;
- durable as it goes: `kill -9` of cab-trace keeps every span the agent had sent.

The agent is a real program (Python with the OpenTelemetry SDK) talking to the scripted model
server through the run's proxy."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import orjson

from cab_trace.clock import STEP_FILE_ENV
from cab_trace.model import read_records
from tests.conftest import ROOT, run_cli
from tests.faults import start_cli
from tests.model_server import ScriptedModelServer

DEMO_TASK = ROOT / "cab_trace" / "examples" / "demo-task"

STEPPING_AGENT = """
import json, os, sys, time, urllib.request
from cab_trace.clock import install_test_wall_step

install_test_wall_step()  # this process's wall clock follows the step file, as cab-trace's does
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("stepping-agent")
endpoint, step_file = sys.argv[1], sys.argv[2]


def chat():
    body = json.dumps({"model": "scripted-model", "messages": [{"role": "user", "content": "hi"}]})
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(endpoint + "/chat/completions", body.encode(), headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


with tracer.start_as_current_span("agent step 1"):
    chat()
print("one", flush=True)
time.sleep(0.3)
with open(step_file, "w") as handle:
    handle.write("20")  # the wall clock jumps 20 s forward, for cab-trace and for us
time.sleep(0.3)
with tracer.start_as_current_span("agent step 2"):
    chat()
print("two", flush=True)
time.sleep(0.3)
provider.shutdown()
"""


def test_a_wall_clock_step_mid_run_moves_nothing(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(STEPPING_AGENT)
    step = tmp_path / "wall-step"
    out = tmp_path / "run"
    with ScriptedModelServer() as server:
        result = run_cli(
            "run", "--adapter", "command", "--task", str(DEMO_TASK), "--endpoint", server.url,
            "--model", "scripted-model", "--out", str(out), "-q",
            "--", sys.executable, str(agent), "{endpoint}", str(step),
            env={STEP_FILE_ENV: str(step), "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert step.read_text() == "20"  # the step did happen mid-run
    records = list(read_records(out / "trace.jsonl"))
    run = next(r for r in records if r.kind == "run")
    container = next(r for r in records if r.kind == "container")
    calls = sorted((r for r in records if r.kind == "model_call"), key=lambda r: r.start_time_unix_nano)
    steps = {r.name: r for r in records if r.name.startswith("agent step")}
    assert len(calls) == 2 and set(steps) == {"agent step 1", "agent step 2"}

    # Nothing lasts the 20 s the wall clock jumped; the container span's length is its duration.
    assert run.duration_ns < 15e9
    assert abs(container.duration_ns / 1e9 - float(container.attributes["duration_s"])) < 0.5
    # Everything is inside the run, in the order it happened.
    for r in records:
        assert run.start_time_unix_nano <= r.start_time_unix_nano <= r.end_time_unix_nano
        assert r.end_time_unix_nano <= run.end_time_unix_nano, r.name
    gap = calls[1].start_time_unix_nano - calls[0].end_time_unix_nano
    assert 0.5e9 < gap < 5e9  # the agent's 0.6 s of sleep, not 20.6 s
    # The agent's own spans (stamped by its stepped wall clock) land around the calls they made.
    for step_span, model_call in zip((steps["agent step 1"], steps["agent step 2"]), calls, strict=True):
        assert container.start_time_unix_nano <= step_span.start_time_unix_nano
        assert step_span.end_time_unix_nano <= container.end_time_unix_nano
        slack = 0.2e9  # the two processes read their clocks apart
        assert step_span.start_time_unix_nano - slack <= model_call.start_time_unix_nano
        assert model_call.end_time_unix_nano <= step_span.end_time_unix_nano + slack
    assert "cab.clock_shift_ns" in steps["agent step 2"].attributes
    assert "cab.clock_shift_ns" not in steps["agent step 1"].attributes
    # The terminal recording stays in sync: "two" is printed right after the second call.
    lines = (out / "terminal.cast").read_text().splitlines()
    header = orjson.loads(lines[0])
    assert header["timestamp"] == container.start_time_unix_nano // 1_000_000_000
    (two,) = [orjson.loads(line)[0] for line in lines[1:] if "two" in orjson.loads(line)[2]]
    printed = container.start_time_unix_nano + two * 1e9
    assert calls[1].end_time_unix_nano - 0.1e9 <= printed <= calls[1].end_time_unix_nano + 2e9


SPRAYING_AGENT = """
import os, sys, time
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider()
processor = BatchSpanProcessor(OTLPSpanExporter(), max_export_batch_size=100)
provider.add_span_processor(processor)
tracer = provider.get_tracer("spraying-agent")
with tracer.start_as_current_span("session"):  # still open when the run is killed
    for batch in range(5):
        for i in range(100):
            with tracer.start_as_current_span(f"tool {batch}.{i}"):
                pass
        processor.force_flush()
    print("sent 500", flush=True)
    time.sleep(120)
"""


def test_kill_9_keeps_every_span_the_agent_sent(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(SPRAYING_AGENT)
    out = tmp_path / "run"
    proc = start_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out),
        "--", sys.executable, str(agent),
    )  # fmt: skip
    cast = out / "terminal.cast"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (cast.exists() and "sent 500" in cast.read_text()):
        time.sleep(0.05)
    assert "sent 500" in cast.read_text()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    records = list(read_records(out / "trace.jsonl"))
    tools = [r for r in records if r.name.startswith("tool ")]
    assert len(tools) == 500  # it used to be 0: they were held until the agent ended
    assert len({r.span_id for r in tools}) == 500


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_killed_supervisor_ends_the_run_promptly(tmp_path: Path) -> None:
    """kill -9 of the supervisor alone: the agent dies with it (PDEATHSIG), what it left holding
    the output pipes is ended at once (it used to be waited on, 5 s per pipe), and the run says
    what happened."""
    out = tmp_path / "run"
    orphan = tmp_path / "orphan.pid"
    proc = start_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out),
        "--", "sh", "-c", f"sleep 300 & echo $! > {orphan}; echo started; wait",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (orphan.exists() and orphan.read_text().strip()):
        time.sleep(0.05)
    orphan_pid = int(orphan.read_text())
    (supervisor,) = [
        pid for pid in _children(proc.pid) if b"supervise.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    killed = time.monotonic()
    os.kill(supervisor, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - killed
    assert proc.returncode == 1, err
    assert "the agent's supervisor died" in err
    assert took < 8, took  # generous for a busy machine; it used to be over 10 s
    assert not _alive(orphan_pid)
    container = next(r for r in read_records(out / "trace.jsonl") if r.kind == "container")
    assert container.status.code == "ERROR" and "supervisor died" in container.status.message
    assert container.attributes["exit_code"] == 137


def test_a_signal_while_the_agent_starts_still_records_its_exit_code(tmp_path: Path) -> None:
    """The agent's first act is to send cab-trace SIGHUP (its supervisor's parent), so the signal
    lands while cab-trace is still starting it: the agent is stopped like any other and its
    exit code still reaches the container span (it used to be missing, now and then)."""
    out = tmp_path / "run"
    script = "kill -HUP $(cut -d' ' -f4 /proc/$PPID/stat); sleep 30"
    result = run_cli(
        "run", "--adapter", "command", "--task", str(DEMO_TASK), "--out", str(out), "--", "sh", "-c", script
    )  # fmt: skip
    assert result.returncode == 129, result.stderr
    container = next(r for r in read_records(out / "trace.jsonl") if r.kind == "container")
    assert container.status.message == "interrupted"
    assert container.attributes["exit_code"] in (129, 143), container.attributes
