"""Reading a big trace outside the replay: `validate`, `show` and `export` on 100,000 spans (and,
in a full run, 1,000,000), streamed.

1. `validate` time vs an orjson parse of every line (the least any checker must do). Goal: <= 3x.
2. Peak memory each command adds over a process that only imported it, vs the file's size:
   streaming keeps it a fraction of the file whatever the trace's size. Goal: <= 1x.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_replay import ROOT, parse_only, write_trace
from bench.common import Figure, median_seconds
from cab_trace.validate import validate_file

_COMMAND_PEAK = """
import os, sys
from cab_trace.cli import main
import cab_trace.show, cab_trace.validate, cab_trace.export.command, cab_trace.model.index  # noqa: E401,E501
if sys.argv[1] != "-":
    sys.stdout = open(os.devnull, "w")
    sys.stderr = open(os.devnull, "w")
    main(sys.argv[1:])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
os.write(1, peak.encode())
"""


def _peak_mb(*args: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _COMMAND_PEAK, *(args or ["-"])],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return int(out.stdout) / 1000


def _validate(path: Path) -> None:
    report = validate_file(path)
    if not report.ok:
        raise RuntimeError(f"validate found problems in the generated trace: {report.problems[:3]}")


def run(quick: bool = False) -> list[Figure]:
    count = 20_000 if quick else 100_000
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [count] if quick else [count, 1_000_000]:
            path = Path(tmp) / f"trace-{n}.jsonl"
            mb = write_trace(path, n)
            repeat = (2 if quick else 3) if n == count else 1
            ours, base = median_seconds(lambda p=path: _validate(p), lambda p=path: parse_only(p), repeat)
            figures.append(
                Figure(
                    f"validate a {n:,}-span trace ({mb:.0f} MB)",
                    "s",
                    ours,
                    base,
                    "orjson parse of every line",
                    target="<= 3x",
                )
            )
            baseline = _peak_mb()
            out = Path(tmp) / "out.json"
            for name, args in (
                ("validate", ["validate", str(path)]),
                ("show", ["show", str(path)]),
                (
                    "export --format jaeger-json",
                    ["export", str(path), "--format", "jaeger-json", "-o", str(out)],
                ),
                ("export --format otlp-json", ["export", str(path), "--format", "otlp-json", "-o", str(out)]),
            ):
                figures.append(
                    Figure(
                        f"{name}: memory on a {n:,}-span trace",
                        "MB",
                        _peak_mb(*args) - baseline,
                        mb,
                        "the file's size",
                        target="<= 1x",
                        note="peak RSS added over the imports",
                    )
                )
            out.unlink(missing_ok=True)
            path.unlink()
    return figures
