"""An agent that reports what it was given (argv, environment) to the file named by $PROBE_OUT,
and with $PROBE_SPANS sends two spans of its own whose ids are pieces of $MY_SECRET (as an
agent would that wanted a secret out through the ids it may choose). Used by test_no_way_in.py."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

out = os.environ.get("PROBE_OUT")
if out:
    with open(out, "w") as handle:
        json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, handle)

if os.environ.get("PROBE_SPANS"):
    secret = os.environ["MY_SECRET"]
    base = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/")
    now = 1_700_000_000_000_000_000

    def span(name: str, span_id: str, parent: str, links: list[dict[str, str]]) -> dict[str, object]:
        return {
            "traceId": secret,
            "spanId": span_id,
            "parentSpanId": parent,
            "name": name,
            "kind": 1,
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + 1000),
            "links": links,
            "attributes": [{"key": "note", "value": {"stringValue": "ids are mine to choose"}}],
        }

    spans = [
        span("probe parent", secret[16:], "", []),
        span("probe child", secret[:16], secret[16:], [{"traceId": secret, "spanId": secret[8:24]}]),
    ]
    body = json.dumps(
        {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "probe"}, "spans": spans}]}]}
    )
    request = urllib.request.Request(
        f"{base}/v1/traces", body.encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
