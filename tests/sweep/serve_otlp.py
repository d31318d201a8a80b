"""The suite's OTLP receiver as a process of its own (for a Ray cluster's network namespace):
prints its endpoint, receives until its stdin closes, then prints, as JSON, every received run
span's trace id and node.

python -m tests.sweep.serve_otlp
"""

from __future__ import annotations

import json
import sys

from tests.otlp_receiver import OtlpReceiver


def main() -> int:
    with OtlpReceiver("http") as receiver:
        print(receiver.endpoint, flush=True)
        sys.stdin.read()
        runs = []
        for _resource, span in receiver.received.spans():
            attrs = {kv.key: kv.value.string_value for kv in span.attributes}
            if attrs.get("cab.kind") == "run":
                runs.append({"trace_id": span.trace_id.hex(), "node": attrs.get("node", "")})
        print(json.dumps({"spans": len(receiver.received.spans()), "runs": runs}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
