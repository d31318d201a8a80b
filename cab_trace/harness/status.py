"""How a run is going, while it runs: the phase, the model calls so far, their tokens and
failures, and the last tool call the model asked for. The console reads it to say so.

Kept by the runner (the phase) and fed every finished model call by the recording proxy's
recorder thread, beside the spans; read from the console's thread. Pure (stdlib and the
wire-format records). Tokens follow the rule the trace's readers follow
(:mod:`cab_trace.model.axes`): known only while every call that succeeded reported its usage.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cab_trace.llm.call import CallRecord


def failure_reason(call: CallRecord) -> str:
    """Why a call failed, in a few words a person acts on: ``connection refused to
    127.0.0.1:8999``, ``HTTP 429``, ``the stream was cut``."""
    where = f"{call.server_address}:{call.server_port}"
    if call.outcome == "unreachable":
        return f"{call.detail or 'could not connect'} to {where}"
    if call.outcome == "http_error":
        return f"HTTP {call.status} from {where}"
    return {
        "api_error": "the endpoint answered with an error",
        "stream_cut": "the answer's stream was cut",
        "cancelled": "the agent gave up waiting",
        "unanswered": "no answer before the run ended",
    }.get(call.outcome, call.outcome)


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_call_text(part: dict[str, Any]) -> str:
    """A tool call the model asked for, in one short line: ``edit_file greet.py``."""
    name = str(part.get("name") or "?")
    arguments = part.get("arguments")
    if isinstance(arguments, dict) and arguments:
        first = next(iter(arguments.values()))
        return f"{name} {_short(first)}"
    if isinstance(arguments, str) and arguments.strip() not in ("", "{}"):
        return f"{name} {_short(arguments)}"
    return name


@dataclass
class Snapshot:
    """A consistent copy for the console to print."""

    elapsed_s: float
    phase: str
    phase_s: float
    calls: int
    failed: int
    input_tokens: int | None
    output_tokens: int | None
    without_usage: int
    last_tool: str | None
    reasons: list[tuple[str, int]]
    """Why calls failed, most frequent first."""

    @property
    def most_failed(self) -> bool:
        """Most of the calls failed (at least one did): the run's likely cause."""
        return self.failed > 0 and self.failed * 2 > self.calls


@dataclass
class LiveStatus:
    """The run's progress. ``phase`` is the kind of the phase span running now."""

    clock: Any = time.monotonic
    started: float = field(default=0.0)
    phase: str = "starting"
    phase_started: float = field(default=0.0)
    calls: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    without_usage: int = 0
    last_tool: str | None = None
    reasons: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.started = self.phase_started = self.clock()

    def enter(self, phase: str) -> None:
        with self._lock:
            self.phase, self.phase_started = phase, self.clock()

    def on_call(self, call: CallRecord) -> None:
        """A finished model call (from the recorder's thread)."""
        with self._lock:
            self.calls += 1
            if call.failed:
                self.failed += 1
                self.reasons[failure_reason(call)] += 1
                return
            usage = call.response.usage
            if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
                self.without_usage += 1
            else:
                self.input_tokens += usage.input_tokens or 0
                self.output_tokens += usage.output_tokens or 0
            asked = [
                p
                for m in call.response.output_messages
                for p in m.get("parts", [])
                if isinstance(p, dict) and p.get("type") == "tool_call"
            ]
            if asked:
                self.last_tool = tool_call_text(asked[-1])

    def snapshot(self) -> Snapshot:
        now = self.clock()
        with self._lock:
            known = self.without_usage == 0
            return Snapshot(
                elapsed_s=now - self.started,
                phase=self.phase,
                phase_s=now - self.phase_started,
                calls=self.calls,
                failed=self.failed,
                input_tokens=self.input_tokens if known else None,
                output_tokens=self.output_tokens if known else None,
                without_usage=self.without_usage,
                last_tool=self.last_tool,
                reasons=self.reasons.most_common(),
            )
