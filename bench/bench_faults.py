"""What the fault handling costs.

1. Launch under the supervisor: `LocalRuntime.launch` of `true` (the supervisor process starts,
   runs the agent, kills what is left, reports) vs `subprocess.run(["true"])`.
2. terminal.cast size per byte of output, for an agent printing short lines (`yes`: "y\\n",
   the worst case: each newline becomes the JSON ``\\r\\n``) and 80-column lines; the
   baseline is the output itself.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import Figure, median_seconds


def supervisor_launch(quick: bool) -> Figure:
    from cab_trace.harness.runtime import LaunchSpec, LocalRuntime

    runtime = LocalRuntime()
    true = shutil.which("true") or "/bin/true"
    repeat = 5 if quick else 15
    with tempfile.TemporaryDirectory() as tmp:
        spec = LaunchSpec([true], {}, Path(tmp), 30)
        ours, base = median_seconds(
            lambda: runtime.launch(spec, lambda _s, _c: None),
            lambda: subprocess.run([true], check=True),
            repeat,
        )
    return Figure(
        "local launch of `true` under the supervisor",
        "ms",
        ours * 1e3,
        base * 1e3,
        "`true` as a plain subprocess",
    )


def cast_size(quick: bool) -> list[Figure]:
    from cab_trace.harness.output import CastWriter, OutputCapture
    from cab_trace.redact import Redactor

    size = 2_000_000 if quick else 20_000_000
    figures = []
    for name, line in (('`yes` ("y\\n")', b"y\n"), ("80-column lines", b"x" * 79 + b"\n")):
        data = line * (size // len(line))
        with tempfile.TemporaryDirectory() as tmp:
            cast = CastWriter(Path(tmp) / "terminal.cast")
            capture = OutputCapture(Redactor([]), cast=cast)
            for start in range(0, len(data), 65536):
                capture("stdout", data[start : start + 65536])
            capture.finish()
            cast.close()
            written = cast.path.stat().st_size
        figures.append(
            Figure(
                f"terminal.cast size, {name}, 64 KiB reads",
                "MB",
                written / 1e6,
                len(data) / 1e6,
                "the output itself",
            )
        )
    return figures


def run(quick: bool = False) -> list[Figure]:
    return [supervisor_launch(quick), *cast_size(quick)]
