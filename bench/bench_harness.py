"""The recording side: what a span costs, what `cab-trace run` adds around an agent, and what
capturing a noisy agent's output costs.

1. Span pipeline: µs per span through the real pipeline (redaction + the JSONL exporter,
   flushed per span) vs the bare OpenTelemetry SDK with a SimpleSpanProcessor and an exporter
   that does nothing. Target 1.5x.
2. Harness overhead, local: `cab-trace run --runtime local` of an agent that exits at once vs
   starting that agent as a plain subprocess from Python, with where the difference goes
   (interpreter start, imports, the run itself).
3. Harness overhead, Docker: `cab-trace run --runtime docker` of `true` vs `docker run --rm
   <img> true` with the same image. Target 1.2x. Needs a Docker engine and the test image
   (`tests/docker`); skipped with a note otherwise.
4. Output capture: `cab-trace run` of an agent printing 100 MB vs the same agent as a plain
   subprocess writing to /dev/null.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.common import Figure, median_seconds

SPAN_ATTRS = {
    "cab.kind": "tool_call",
    "argv": ("pi", "--print", "--api-key", "sk-not-a-real-key-0000000000", "--model", "m", "fix the bug"),
    "timeout_s": 600,
    "exit_code": 0,
    "stdout_tail": "Running tests ... ok\n" * 20,
}
TASK_TOML = 'id = "bench/noop"\nprompt = "nothing"\n'


def _spans(tracer: object, count: int) -> None:
    for i in range(count):
        with tracer.start_as_current_span(f"tool_call:{i % 7}", attributes=SPAN_ATTRS):  # type: ignore[attr-defined]
            pass


def span_pipeline(quick: bool) -> Figure:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from cab_trace.otel.setup import build_pipeline
    from cab_trace.redact import Redactor

    class Nothing(SpanExporter):
        def export(self, spans: Sequence[object]) -> SpanExportResult:  # type: ignore[override]
            return SpanExportResult.SUCCESS

    count = 2_000 if quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = build_pipeline(Path(tmp) / "trace.jsonl", Redactor(["sk-not-a-real-key-0000000000"]))
        bare = TracerProvider()
        bare.add_span_processor(SimpleSpanProcessor(Nothing()))
        bare_tracer = bare.get_tracer("bench")
        ours, base = median_seconds(
            lambda: _spans(pipeline.tracer, count), lambda: _spans(bare_tracer, count), 3 if quick else 5
        )
        pipeline.shutdown()
    return Figure(
        "span pipeline: redaction + JSONL, per span",
        "µs",
        ours / count * 1e6,
        base / count * 1e6,
        "bare SDK, SimpleSpanProcessor, no-op exporter",
        target="<= 1.5x",
    )


def _timed(cmd: list[str], **kwargs: object) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]

    return run


def _task(root: Path) -> Path:
    task = root / "task"
    task.mkdir()
    (task / "task.toml").write_text(TASK_TOML)
    (task / "README").write_text("a file to copy\n")
    return task


def _run_cmd(task: Path, out_root: Path, *agent: str, runtime: Sequence[str] = ()) -> Callable[[], None]:
    counter = iter(range(10**6))

    def run() -> None:
        out = out_root / f"run-{next(counter)}"
        _timed([sys.executable, "-m", "cab_trace", "run", "-q", *runtime, "--adapter", "command",
                "--task", str(task), "--out", str(out), "--", *agent])()  # fmt: skip

    return run


def local_overhead(quick: bool) -> list[Figure]:
    repeat = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        task = _task(root)
        agent = ["true"]
        ours, base = median_seconds(_run_cmd(task, root, *agent), _timed(agent), repeat)
        # Where the difference goes: starting Python, importing what a run needs, the run itself.
        start, _ = median_seconds(_timed([sys.executable, "-c", "pass"]), lambda: None, repeat)
        imports, _ = median_seconds(
            _timed(
                [sys.executable, "-c", "import cab_trace.cli, cab_trace.harness.runner, cab_trace.otel.setup"]
            ),
            lambda: None,
            repeat,
        )
        # The run span covers the phases; what is left is pipeline setup, export and shutdown.
        probe = root / "probe"
        _timed([sys.executable, "-m", "cab_trace", "run", "-q", "--adapter", "command",
                "--task", str(task), "--out", str(probe), "--", *agent])()  # fmt: skip
        from cab_trace.model import read_records

        run_span = next(r for r in read_records(probe / "trace.jsonl") if r.kind == "run")
        phases = (run_span.end_time_unix_nano - run_span.start_time_unix_nano) / 1e9
    rest = max(ours - imports - phases, 0.0)
    note = (
        f"+{(ours - base) * 1000:.0f} ms: interpreter {start * 1000:.0f} ms, imports "
        f"{(imports - start) * 1000:.0f} ms, phases (setup, agent, changes, cleanup) {phases * 1000:.0f} ms, "
        f"pipeline setup + export + shutdown + leak check {rest * 1000:.0f} ms"
    )
    return [
        Figure(
            "cab-trace run --runtime local, agent exits at once",
            "ms",
            ours * 1000,
            base * 1000,
            "the agent as a plain subprocess",
            note=note,
        )
    ]


def docker_overhead(quick: bool) -> list[Figure]:
    try:
        import docker

        client = docker.from_env()
        client.ping()
        client.images.get("cab-trace-test:busybox")
    except Exception as exc:  # noqa: BLE001 - any reason there is no engine or image: say it, go on
        print(f"  docker overhead skipped: {exc}", file=sys.stderr)
        return []
    repeat = 3 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        task = _task(root)
        ours, base = median_seconds(
            _run_cmd(
                task, root, "true", runtime=["--runtime", "docker", "--image", "cab-trace-test:busybox"]
            ),
            _timed(["docker", "run", "--rm", "cab-trace-test:busybox", "true"]),
            repeat,
        )
    return [
        Figure(
            "cab-trace run --runtime docker, `true`",
            "ms",
            ours * 1000,
            base * 1000,
            "docker run --rm <img> true",
            target="<= 1.2x",
        )
    ]


def output_capture(quick: bool) -> list[Figure]:
    size = 20_000_000 if quick else 100_000_000
    script = f"yes 'tests/test_parser.py::test_parses_empty_input PASSED   [ 12%]' | head -c {size}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        task = _task(root)
        ours, base = median_seconds(
            _run_cmd(task, root, "sh", "-c", script), _timed(["sh", "-c", script]), 2 if quick else 3
        )
    mb = size / 1e6
    return [
        Figure(
            f"output capture, agent prints {mb:.0f} MB",
            "MB/s",
            mb / ours,
            mb / base,
            "same agent, output to /dev/null",
            note="higher is better; redaction and the terminal recording, on reader threads",
        )
    ]


def run(quick: bool = False) -> list[Figure]:
    started = time.monotonic()
    figures = [span_pipeline(quick), *local_overhead(quick), *docker_overhead(quick), *output_capture(quick)]
    print(f"  harness benchmarks took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return figures
