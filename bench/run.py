"""`make bench`: run the benchmarks, print one table, write bench/results.json.

python -m bench.run [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench import (
    bench_agents,
    bench_export,
    bench_faults,
    bench_harness,
    bench_html,
    bench_proxy,
    bench_proxy_stress,
    bench_read,
    bench_redact,
    bench_replay,
    bench_runs,
    bench_sweep,
    bench_terminal,
)
from bench.common import Figure

SUITES = {
    "harness": bench_harness.run,
    "redact": bench_redact.run,
    "export": bench_export.run,
    "replay": bench_replay.run,
    "runs": bench_runs.run,
    "agents": bench_agents.run,
    "proxy": bench_proxy.run,
    "proxy-stress": bench_proxy_stress.run,
    "faults": bench_faults.run,
    "terminal": bench_terminal.run,
    "read": bench_read.run,
    "html": bench_html.run,
    "sweep": bench_sweep.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these suites")
    args = parser.parse_args()
    figures: list[Figure] = []
    for name in args.only or SUITES:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(SUITES[name](quick=args.quick))
    header = ("figure", "unit", "ours", "baseline", "ratio", "target", "baseline is")
    rows = [
        (
            f.name,
            f.unit,
            f"{f.ours:,.1f}",
            f"{f.baseline:,.1f}",
            f"{f.ratio:.2f}",
            f.target or "-",
            f.baseline_name,
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    load = os.getloadavg()
    print(f"machine load (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=sys.stderr)
    machine = {
        "load_1_5_15": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        # When, and how busy the machine was: a ratio on a loaded machine reads differently.
        "date": time.strftime("%Y-%m-%d"),
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    out = Path(__file__).with_name("results.json")
    out.write_text(
        json.dumps({"machine": machine, "figures": [f.as_dict() for f in figures]}, indent=2) + "\n"
    )
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
