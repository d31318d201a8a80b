"""Run (part of) the suite on a busy machine: one CPU-bound process per core runs beside pytest
for as long as it does, so a test that only passes on an idle machine fails here, not later on
someone's loaded laptop or a shared CI runner. `make test-busy` runs it (and CI, see .ci/run).

    python -m tests.busy [PYTEST ARGS...]

The burners are plain Python loops started here, stopped here by their process ids; pytest's
exit code is this command's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

_BURN = "import os, time\nos.nice(0)\nx = 0\nwhile True:\n    x = (x * 31 + 7) % 1000003\n"


def main(argv: list[str]) -> int:
    burners = [
        subprocess.Popen([sys.executable, "-c", _BURN], stdin=subprocess.DEVNULL)
        for _ in range(os.cpu_count() or 2)
    ]
    print(f"tests.busy: {len(burners)} CPU-bound process(es) beside the tests", file=sys.stderr, flush=True)
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *argv])
    finally:
        for proc in burners:
            proc.send_signal(signal.SIGKILL)
        for proc in burners:
            proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
