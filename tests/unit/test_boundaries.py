"""The import boundaries of STYLE.md: the pure core imports no opentelemetry, docker or textual;
the recorder never imports textual; replay never imports the harness."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("opentelemetry", "docker", "textual", "ray")

PURE = [
    "cab_trace",
    "cab_trace.errors",
    "cab_trace.model",
    "cab_trace.model.record",
    "cab_trace.model.record_fields",
    "cab_trace.model.record_fast",
    "cab_trace.model.attr_values",
    "cab_trace.model.formats",
    "cab_trace.model.otlp_json",
    "cab_trace.model.jaeger_json",
    "cab_trace.model.index",
    "cab_trace.model.structure",
    "cab_trace.model.foreign",
    "cab_trace.model.inspect_log",
    "cab_trace.model.inspect_archive",
    "cab_trace.model.inspect_messages",
    "cab_trace.model.harbor",
    "cab_trace.model.asciicast",
    "cab_trace.model.imported",
    "cab_trace.redact",
    "cab_trace.llm",
    "cab_trace.llm.turns",
    "cab_trace.redact.screen",
    "cab_trace.redact.decode",
    "cab_trace.redact.known",
    "cab_trace.redact.spans",
    "cab_trace.redact.stream",
    "cab_trace.redact.table",
    "cab_trace.redact.prefilter",
    "cab_trace.redact.scan",
    "cab_trace.redact.records",
    "cab_trace.redact.redactor",
    "cab_trace.redact.gates",
    "cab_trace.redact.windows",
    "cab_trace.show",
    "cab_trace.model.axes",
    "cab_trace.sweep",
    "cab_trace.sweep.summary",
    "cab_trace.sweep.runs",
    "cab_trace.sweep.runs_index",
    "cab_trace.sweep.runs_table",
    "cab_trace.model.compare",
    "cab_trace.compare_text",
    "cab_trace.outcome",
    "cab_trace.clock",
    "cab_trace.llm.bounded",
    "cab_trace.llm.stream_usage",
    "cab_trace.llm.partial",
    "cab_trace.llm.wire",
    "cab_trace.llm.wire_types",
    "cab_trace.llm.values",
    "cab_trace.llm.messages",
    "cab_trace.llm.request",
    "cab_trace.llm.accumulator",
    # HTTP/1.1 framing and the answers read on the side, for the model proxy
    "cab_trace.harness.http11",
    "cab_trace.harness.answer_reader",
    "cab_trace.harness.model_proxy",
    "cab_trace.harness.proxy_link",
    "cab_trace.harness.proxy_exchange",
    "cab_trace.harness.proxy_pair",
    "cab_trace.harness.proxy_answer",
    "cab_trace.harness.proxy_io",
    "cab_trace.harness.request_body",
    "cab_trace.textsafe",
    "cab_trace.model.lines",
    # what checks untrusted input on its way in: stdlib only, so every command can afford it
    "cab_trace.harness.crossing",
    "cab_trace.harness.safetree",
    "cab_trace.harness.ownership",
    # what a cell run is given and gives back, and the runner's plain helpers: the CLI names them
    # without loading the recorder
    "cab_trace.harness.cell_config",
    "cab_trace.harness.cell_helpers",
    "cab_trace.sweep.spec",
    "cab_trace.sweep.plan",
    "cab_trace.sweep.state",
    "cab_trace.sweep.job",
    "cab_trace.sweep.live",
    # the replay's logic: no widget toolkit, so it is tested (and reusable) without a terminal
    "replay.timeline",
    "replay.tree",
    "replay.terminal",
    "replay.emulator",
    "replay.cast",
    "replay.cast_index",
    "replay.cast_escapes",
    "replay.terminal_worker",
    "replay.load",
    "replay.probe",
    "replay.pair",
    "replay.compare_pair",
    "replay.screen_math",
    # the cell page (export --format html): renders terminals with the replay's emulator, no UI
    "cab_trace.export.html",
    "cab_trace.export.html.site",
    # where an export writes (never over its input, whole or not at all): stdlib only
    "cab_trace.export.output",
    "replay.view",
    "replay.moments",
    "replay.outcome",
]
NO_TEXTUAL = [
    "cab_trace.cli",
    "cab_trace.harness.runner",
    "cab_trace.harness.cell_base",
    "cab_trace.harness.cell_launch",
    "cab_trace.harness.cell_finish",
    "cab_trace.otel.setup",
    "cab_trace.validate",
]


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return {m.split(".")[0] for m in out.stdout.split()} | set(out.stdout.split())


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_nothing_heavy(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert not loaded & set(HEAVY), f"{module} pulled in {sorted(loaded & set(HEAVY))}"


@pytest.mark.parametrize("module", NO_TEXTUAL)
def test_the_recorder_never_loads_textual(module: str) -> None:
    assert "textual" not in _loaded_after_import(module)


@pytest.mark.parametrize("module", ["replay", "replay.app", "replay.screens.runs", "replay.screens.compare"])
def test_replay_loads_no_harness_and_no_recorder(module: str) -> None:
    loaded = _loaded_after_import(module)
    assert not {m for m in loaded if m.startswith(("cab_trace.harness", "cab_trace.otel", "opentelemetry"))}


@pytest.mark.parametrize("module", ["cab_trace.export.html", "cab_trace.export.html.site"])
def test_the_cell_page_loads_no_harness_no_recorder_and_no_ui(module: str) -> None:
    """The page is made from recorded files: nothing of the harness, the SDK or Textual."""
    loaded = _loaded_after_import(module)
    unwanted = ("cab_trace.harness", "cab_trace.otel", "textual", "replay.app")
    heavy = {m for m in loaded if m.startswith(unwanted)}
    assert not heavy, f"{module} pulled in {sorted(heavy)}"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["model", "redact", "llm"])
def test_pure_packages_import_only_stdlib_orjson_and_each_other(package: str) -> None:
    """Static check, so that an import hidden inside a function is caught too."""
    # zstandard: Inspect AI's .eval members are Zstandard-compressed (``compression.zstd`` is the
    # stdlib's from Python 3.14); a decompressor, no I/O and nothing heavy.
    allowed_roots = set(sys.stdlib_module_names) | {"orjson", "__future__", "zstandard", "compression"}
    allowed_project = {"cab_trace.errors", "cab_trace.model", "cab_trace.redact", "cab_trace.llm"}
    for path in (ROOT / "cab_trace" / package).rglob("*.py"):
        for name in _imports(path):
            ok = name.split(".")[0] in allowed_roots or any(
                name == p or name.startswith(p + ".") for p in allowed_project
            )
            assert ok, f"{path.relative_to(ROOT)} imports {name}"


def test_the_cell_page_imports_only_pure_parts_statically() -> None:
    """Static check of cab_trace/export/html: the replay's pure modules, never its widgets."""
    unwanted = ("cab_trace.harness", "cab_trace.otel", "textual", "rich", "replay.app", "replay.widgets")
    for path in (ROOT / "cab_trace" / "export" / "html").rglob("*.py"):
        bad = {n for n in _imports(path) if n.startswith(unwanted)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_replay_never_imports_the_harness_statically() -> None:
    for path in (ROOT / "replay").rglob("*.py"):
        bad = {n for n in _imports(path) if n.startswith(("cab_trace.harness", "cab_trace.otel"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_recorder_never_imports_textual_statically() -> None:
    for path in (ROOT / "cab_trace").rglob("*.py"):
        assert not {n for n in _imports(path) if n.split(".")[0] == "textual"}, path


def test_only_the_ray_executor_imports_ray() -> None:
    """Ray is an optional extra: everything else, the local executor and the CLI too, runs without it."""
    for path in (ROOT / "cab_trace").rglob("*.py"):
        if path == ROOT / "cab_trace" / "sweep" / "ray.py":
            continue
        assert not {n for n in _imports(path) if n.split(".")[0] == "ray"}, path
    for module in ("cab_trace.cli", "cab_trace.sweep.orchestrate", "cab_trace.sweep.local"):
        assert "ray" not in _loaded_after_import(module), module
