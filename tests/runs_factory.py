"""Run directories and sweep directories made to order, shaped as `cab-trace run` writes them:
the phases, model calls with varied content and usage, tool steps, changes, the check, and a
terminal recording. For the runs table, compare and the bench (10,000 of them), where real runs
would take hours; the real ones are in tests/agents."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from cab_trace.model import JsonlWriter, SpanRecord, Status

T0 = 1_795_000_000_000_000_000
MS = 1_000_000
WORDS = [
    *[
        "read",
        "the",
        "file",
        "then",
        "edit",
        "greet",
        "to",
        "add",
        "the",
        "missing",
        "mark",
        "run",
        "the",
        "tests",
        "again",
        "check",
        "imports",
    ],
    *[
        "refactor",
        "helper",
        "rename",
        "variable",
        "fix",
        "typo",
        "in",
        "docstring",
        "update",
        "assertion",
        "handle",
        "empty",
        "name",
    ],
    *[
        "return",
        "early",
        "log",
        "warning",
        "parse",
        "arguments",
        "open",
        "path",
        "write",
        "result",
        "close",
        "handle",
    ],
]


@dataclass
class Spec:
    """One run to write. Times are in ms from the run's start; ``calls`` are (latency, ttfc)."""

    adapter: str = "pi"
    model: str = "model-a"
    task: str = "demo/fix-greeting"
    repeat: int = 1
    calls: list[tuple[int, int | None]] = field(default_factory=lambda: [(2000, 300), (1500, None)])
    tools: list[str] = field(default_factory=lambda: ["read"])
    tool_ms: int = 40
    setup_ms: int = 20
    agent_gap_ms: int = 100
    """The agent's own time before the first call and after the last."""
    verify_ms: int = 300
    cleanup_ms: int = 10
    passed: bool | None = True
    exit_code: int = 0
    modified: list[str] = field(default_factory=lambda: ["greet.py"])
    lines: tuple[int, int] = (1, 1)
    tokens: list[tuple[int, int]] | None = None
    """(in, out) per call; default: made up from the content."""
    usage: bool = True
    cell_id: str | None = None
    seed: int = 0
    t0: int = T0
    failed_calls: set[int] = field(default_factory=set)
    cast: bool = True


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def span(self) -> str:
        return f"{self.rng.getrandbits(64) or 1:016x}"


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def spans(spec: Spec) -> list[SpanRecord]:
    """The spans of one run, as the recorder writes them (each line when the span ends)."""
    rng = random.Random(spec.seed)
    ids = _Ids(rng)
    trace = f"{rng.getrandbits(128) or 1:032x}"
    t = spec.t0
    run_id, setup_id, adapter_id, plugins_id, container_id = (ids.span() for _ in range(5))
    out: list[SpanRecord] = []

    def add(sid: str, parent: str | None, name: str, kind: str, start: int, end: int, **kw: object) -> None:
        status = kw.pop("status", Status("OK"))
        out.append(
            SpanRecord(
                trace,
                sid,
                parent,
                name,
                kind,
                start,
                end,
                status=status,  # type: ignore[arg-type]
                attributes=kw.pop("attributes", {}),  # type: ignore[arg-type]
                span_kind=kw.pop("span_kind", "INTERNAL"),  # type: ignore[arg-type]
            )
        )

    setup_end = t + spec.setup_ms * MS
    add(setup_id, run_id, f"prepare:{spec.task}", "task_setup", t, setup_end, attributes={"files_copied": 2})
    adapter_start = setup_end + 1 * MS
    add(plugins_id, adapter_id, "applied_plugins", "tool_call", adapter_start, adapter_start + MS // 10)
    launch = adapter_start + 2 * MS
    at = launch + spec.agent_gap_ms * MS
    calls_in = calls_out = 0
    for i, (latency, ttfc) in enumerate(spec.calls, 1):
        start, end = at, at + latency * MS
        content = _text(rng, rng.randint(20, 400))
        answer = _text(rng, rng.randint(5, 120))
        tin, tout = spec.tokens[i - 1] if spec.tokens else (len(content) // 4 + 100 * i, len(answer) // 4 + 3)
        attrs: dict[str, object] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "cab.llm.call_index": i,
            "cab.llm.request_sha256": f"{rng.getrandbits(256):064x}",
            "gen_ai.request.model": spec.model,
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": content}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
            ),
        }
        failed = i in spec.failed_calls
        if not failed:
            finish = "tool_calls" if i <= len(spec.tools) else "stop"
            attrs["gen_ai.response.finish_reasons"] = [finish]
            if spec.usage:
                attrs["gen_ai.usage.input_tokens"] = tin
                attrs["gen_ai.usage.output_tokens"] = tout
                calls_in += tin
                calls_out += tout
        if ttfc is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = ttfc / 1000
        add(
            ids.span(),
            container_id,
            f"chat {spec.model}",
            "model_call",
            start,
            end,
            attributes=attrs,
            span_kind="CLIENT",
            status=Status("ERROR", "upstream 500") if failed else Status("UNSET"),
        )
        at = end
        if i <= len(spec.tools):
            name = spec.tools[i - 1]
            add(
                ids.span(),
                container_id,
                f"execute_tool {name}",
                "tool_step",
                at,
                at + spec.tool_ms * MS,
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": name,
                    "cab.llm.asked_by_call": i,
                    "cab.llm.returned_by_call": i + 1,
                    "gen_ai.tool.call.arguments": json.dumps({"path": "greet.py"}),
                    "gen_ai.tool.call.result": _text(rng, rng.randint(3, 60)),
                },
            )
            at += spec.tool_ms * MS
    container_end = at + spec.agent_gap_ms * MS
    add(
        container_id,
        adapter_id,
        f"{spec.adapter}:launch",
        "container",
        launch,
        container_end,
        attributes={"exit_code": spec.exit_code, "timed_out": False, "model_calls": len(spec.calls)},
        status=Status("OK") if spec.exit_code == 0 else Status("ERROR", f"agent exited {spec.exit_code}"),
    )
    adapter_end = container_end + 1 * MS
    add(
        adapter_id,
        run_id,
        f"{spec.adapter}:{spec.task}",
        "adapter_run",
        adapter_start,
        adapter_end,
        attributes={"exit_code": spec.exit_code},
        status=Status("OK") if spec.exit_code == 0 else Status("ERROR", f"agent exited {spec.exit_code}"),
    )
    changes_end = adapter_end + 5 * MS
    add(
        ids.span(),
        run_id,
        f"changes:{spec.task}",
        "blast_radius",
        adapter_end,
        changes_end,
        attributes={
            "files_added": [],
            "files_removed": [],
            "files_modified": spec.modified,
            "lines_added": spec.lines[0],
            "lines_removed": spec.lines[1],
        },
    )
    end = changes_end
    if spec.passed is not None:
        end = changes_end + spec.verify_ms * MS
        add(
            ids.span(),
            run_id,
            f"verify:{spec.task}",
            "verify",
            changes_end,
            end,
            attributes={"passed": spec.passed, "exit_code": 0 if spec.passed else 1},
            status=Status("OK") if spec.passed else Status("ERROR", "check failed: exit code 1"),
        )
    cleanup_end = end + spec.cleanup_ms * MS
    add(ids.span(), run_id, f"cleanup:{spec.adapter}", "cleanup", end, cleanup_end)
    cell_id = spec.cell_id or f"s/{spec.adapter}/{spec.model}/{spec.task}/{spec.repeat}"
    run_attrs: dict[str, object] = {
        "cell_id": cell_id,
        "sweep_id": "s",
        "run_id": f"run-{spec.seed}",
        "task_id": spec.task,
        "adapter": spec.adapter,
        "model": spec.model,
        "repeat": spec.repeat,
        "runtime": "local",
        "exit_code": spec.exit_code,
        "model_calls": len(spec.calls),
    }
    if spec.passed is not None:
        run_attrs["check_passed"] = spec.passed
    add(run_id, None, f"run:{cell_id}", "run", t, cleanup_end + MS, attributes=run_attrs)
    return out


def write_run(run_dir: Path, spec: Spec) -> Path:
    """A run directory: trace.jsonl (and terminal.cast)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    records = spans(spec)
    writer = JsonlWriter(run_dir / "trace.jsonl")
    writer.write(records)
    writer.close()
    if spec.cast:
        container = next(r for r in records if r.kind == "container")
        rng = random.Random(spec.seed + 1)
        start_s = container.start_time_unix_nano // 10**9
        lines = [json.dumps({"version": 2, "width": 80, "height": 24, "timestamp": start_s})]
        span_s = container.duration_ns / 1e9
        for k in range(8):
            text = f"{spec.adapter} step {k}: {_text(rng, 6)}\r\n"
            lines.append(json.dumps([round(span_s * k / 8, 6), "o", text]))
        (run_dir / "terminal.cast").write_text("\n".join(lines) + "\n")
    return run_dir


def write_sweep(sweep: Path, specs: list[Spec], states: dict[int, str] | None = None) -> Path:
    """A sweep directory: cells.jsonl in plan order, and the run directory of each started cell.
    ``states`` gives a cell (by index) another state than done (pending cells get no run dir)."""
    from cab_trace.model.axes import cell_numbers

    sweep.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, spec in enumerate(specs):
        state = (states or {}).get(i, "done")
        cell = {
            "cell_id": spec.cell_id or f"s/{spec.adapter}/{spec.model}/{spec.task}/{spec.repeat}",
            "sweep_id": "s",
            "adapter": spec.adapter,
            "model": spec.model,
            "task_id": spec.task,
            "repeat": spec.repeat,
            "plugins": [],
            "vars": {},
            "state": state,
        }
        if state != "pending":
            rel = f"cells/{i:04d}"
            write_run(sweep / rel, spec)
            cell["run_dir"] = rel
            if state == "done":
                cell.update(cell_numbers(spans(spec)).to_dict())
            elif state == "failed":
                cell["error"] = "cab-trace run exited 1"
        lines.append(json.dumps(cell))
    (sweep / "cells.jsonl").write_text("\n".join(lines) + "\n")
    return sweep
