"""An adapter's [files] reach an agent in a container: the run's config directory is mounted
at /cab-agent-config and {config_dir} names it there."""

from __future__ import annotations

from pathlib import Path

from cab_trace.model import read_records
from tests.conftest import run_cli

ADAPTER = """
name = "cfg-reader"
command = ["sh", "-c", "cat $CFG; echo; echo home=$HOME"]
[env]
CFG = "{config_dir}/agent/cfg.json"
[files."agent/cfg.json"]
content = '{"baseUrl": "{endpoint}", "model": "{model}"}'
"""


def test_adapter_files_are_mounted_into_the_container(
    tmp_path: Path, image: str, leftovers, task: Path
) -> None:
    adapter = tmp_path / "cfg-reader.toml"
    adapter.write_text(ADAPTER)
    out = tmp_path / "run"
    result = run_cli(
        "run", "--runtime", "docker", "--image", image, "--adapter", str(adapter), "--model", 'm"1',
        "--endpoint", "http://172.17.0.1:9/v1", "--task", str(task), "--out", str(out),
        "--no-model-proxy",  # the endpoint itself, not the recording proxy's URL, in the file
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    container = next(r for r in read_records(out / "trace.jsonl") if r.kind == "container")
    tail = str(container.attributes["stdout_tail"])
    assert '{"baseUrl": "http://172.17.0.1:9/v1", "model": "m\\"1"}' in tail
    assert "home=/tmp" in tail
    assert container.attributes["home"] == "container"
    assert container.attributes["config_files"] == ["agent/cfg.json"]
    cleanup = next(r for r in read_records(out / "trace.jsonl") if r.kind == "cleanup")
    assert any(str(p).endswith("/config") for p in cleanup.attributes["removed"])  # type: ignore[union-attr]
