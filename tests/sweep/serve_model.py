"""The scripted model server as a process of its own (for a Ray cluster's network namespace):
prints its base URL, serves until its stdin closes, then prints how many requests carried the
expected key and how many did not, as JSON.

python -m tests.sweep.serve_model KEY
"""

from __future__ import annotations

import json
import sys

from tests.model_server import ScriptedModelServer


def main() -> int:
    with ScriptedModelServer(expect_key=sys.argv[1]) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()
        good = sum(1 for r in server.requests if r.had_credential and r.credential_ok)
        print(json.dumps({"requests": len(server.requests), "with_key": good}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
