"""Every secret a run is handed on its command line is a known secret: found wherever the agent
puts it (its terminal, the files it changes), not only in the places a rule knows its context.

A value given as ``--otlp-header``, a secret-named ``--var``, or the password and key in an
``--endpoint`` URL reaches the agent (through its argv, the endpoint it is given, or the
command lines of its ancestors that any process can read in /proc) and may be printed bare."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import run_cli

HEADER = "hcTeamKey-7Q2x-9vLp-4mZr"  # a collector token under a name that says nothing of secrets
VAR = "varSecret-3Kd8-Wq1z-7Rtb"  # given to the agent as --var api_key=...
PASSWORD = "urlPass-5Nf2-Ht8c-1Yqe"  # in the endpoint's userinfo
QUERY_KEY = "qryKey-8Bv4-Lm3s-6Pdw"  # in the endpoint's query, as Google's APIs take a key
SECRETS = {"header": HEADER, "var": VAR, "password": PASSWORD, "query": QUERY_KEY}

# The agent prints each value bare, as a careless agent's debug output would, and writes them
# into a file of the workdir; it learns the header from its ancestors' command lines, as `ps` does.
AGENT = """
import os, sys, urllib.parse
endpoint = urllib.parse.urlsplit(os.environ["AGENT_BASE_URL"])
print("using", sys.argv[sys.argv.index("--api-key") + 1])
print("as", endpoint.username, endpoint.password)
print("with", urllib.parse.parse_qs(endpoint.query)["key"][0])
pid, lines = os.getppid(), []
while pid > 1:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        lines.append(f.read().replace(b"\\0", b" ").decode())
    with open(f"/proc/{pid}/stat") as f:
        pid = int(f.read().rpartition(")")[2].split()[1])
print("\\n".join(line.replace("=", " ") for line in lines if "--otlp-header" in line))
open("notes.txt", "w").write(" ".join([endpoint.password, sys.argv[-1]]) + "\\n")
"""


def test_values_handed_to_the_run_are_known_secrets(tmp_path: Path, task_dir: Path) -> None:
    from tests.otlp_receiver import OtlpReceiver

    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    adapter = tmp_path / "careless.toml"
    adapter.write_text(
        'name = "careless"\ndescription = "prints what it was given"\n'
        f'command = [{sys.executable!r}, {str(agent)!r}, "--api-key", "{{api_key}}"]\n'
        '[vars]\napi_key = ""\n[env]\nAGENT_BASE_URL = "{endpoint}"\n'
    )
    out = tmp_path / "run"
    with OtlpReceiver("http") as collector:
        result = run_cli(
            "run", "--adapter", str(adapter), "--task", str(task_dir), "--out", str(out), "--echo",
            "--no-model-proxy", "--endpoint", f"http://bob:{PASSWORD}@127.0.0.1:9/v1?key={QUERY_KEY}",
            "--var", f"api_key={VAR}", "--otlp-endpoint", collector.endpoint,
            "--otlp-header", f"x-honeycomb-team={HEADER}",
            env={"CAB_KEY": "cab-key-not-the-point-0123"},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[REDACTED]" in (out / "terminal.cast").read_text()  # the agent did print them
    places = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    places["console"] = (result.stdout + result.stderr).encode()
    places.update({f"collector{i}": raw for i, raw in enumerate(collector.received.raw)})
    assert "notes.txt" in places["changes.diff"].decode()
    found = {
        (place, what) for place, data in places.items() for what, v in SECRETS.items() if v.encode() in data
    }
    assert found == set()
