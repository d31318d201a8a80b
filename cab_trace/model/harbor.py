"""Harbor (Terminal-Bench) trial directories and ATIF trajectories as span records. Pure: parsed
documents in, records out; the caller reads the files (:mod:`cab_trace.model.foreign`).

A **trial directory** (``result.json``, ``config.json``, ``agent/trajectory.json``,
``agent/recording.cast``, ``verifier/reward.txt``) is one trace:

- a ``run`` root from the trial's ``started_at`` to ``finished_at``: task, agent, model, trial
  name, the reward, ``check_passed`` (a reward of 1 passes, 0 fails, other values are
  recorded but give no verdict), the trial's exception as its error;
- the trial's timing as phase spans: ``environment_setup`` (kind ``task_setup``),
  ``agent_setup`` (``task_setup``), ``agent_execution`` (``container``: the agent's run, which
  the terminal recording lines up with) and ``verifier`` (``verify``, with ``passed``);
- the trajectory's steps under ``agent_execution``.

An **ATIF trajectory** on its own (``trajectory.json``) is one trace: a ``run`` root over its
steps.

**Step timing is inferred.** ATIF gives each step one timestamp, taken when the step is
recorded (Terminus-2 records it after the model answered and the commands ran). So an agent
step is placed from the previous step's timestamp (the first, from the agent's start) to its
own: its ``chat`` span and its tool calls' ``execute_tool`` spans all cover that interval, and
say so (``cab.import.timing = "step"``). User and system steps are events at their time.
A step's input messages are what reached the model since its previous answer: the user or
system steps and the tool results in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cab_trace.model.imported import (
    SpanDraft,
    as_dict,
    as_int,
    as_list,
    as_num,
    bounded,
    iso_ns,
    json_text,
    span_id,
    stretch_parents,
    trace_id,
)
from cab_trace.model.record import RecordError, Scope, SpanRecord

Json = Any
SCOPE = Scope("cab_trace.import.harbor", None)
RESULT_FILE = "result.json"
TRAJECTORY_FILE = "agent/trajectory.json"
CAST_FILE = "agent/recording.cast"
PHASES = (
    ("environment_setup", "task_setup"),
    ("agent_setup", "task_setup"),
    ("agent_execution", "container"),
    ("verifier", "verify"),
)


def is_trial_result(doc: object) -> bool:
    """A trial's ``result.json``: Harbor's ``TrialResult``."""
    return isinstance(doc, dict) and all(k in doc for k in ("trial_name", "task_name", "agent_info"))


def is_atif(doc: object) -> bool:
    """An ATIF trajectory: ``schema_version`` ``ATIF-v…``, an agent and steps."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("steps"), list)
        and isinstance(doc.get("agent"), dict)
        and str(doc.get("schema_version", "ATIF")).startswith("ATIF")
    )


def reward_passed(reward: float | None) -> bool | None:
    """A reward as a verdict: 1 passes, 0 fails; a partial reward is no verdict."""
    if reward is None:
        return None
    return True if reward == 1 else False if reward == 0 else None


def _text(message: object) -> str:
    if isinstance(message, str):
        return message
    return "".join(
        str(p.get("text", "")) for p in as_list(message) if isinstance(p, dict) and p.get("type") == "text"
    )


def _provider(model: str) -> tuple[str, str]:
    provider, sep, name = model.partition("/")
    return (provider, name) if sep else ("", model)


# -- a trajectory's steps ------------------------------------------------------------------------


class _Steps:
    """Spans of one trajectory's steps, under ``parent``."""

    def __init__(self, trace: str, parent: SpanDraft, trajectory: dict[str, Any], start_ns: int) -> None:
        self.trace = trace
        self.parent = parent
        self.doc = trajectory
        self.start_ns = start_ns
        agent = as_dict(trajectory.get("agent"))
        self.model = str(agent.get("model_name") or "")
        self.definitions = [
            _definition(t) for t in as_list(agent.get("tool_definitions")) if isinstance(t, dict)
        ]

    def drafts(self) -> list[SpanDraft]:
        out: list[SpanDraft] = []
        previous = self.start_ns
        pending: list[Json] = []  # what reached the model since its last answer
        for number, step in enumerate(as_list(self.doc.get("steps")), start=1):
            if not isinstance(step, dict):
                continue
            when = iso_ns(step.get("timestamp"))
            source = step.get("source")
            if source != "agent":
                role = "system" if source == "system" else "user"
                text = _text(step.get("message"))
                pending.append({"role": role, "parts": [{"type": "text", "content": text}]})
                self.parent.event(
                    f"{role} message", when if when is not None else previous, {"message": bounded(text)}
                )
                if when is not None:
                    previous = max(previous, when)
                continue
            end = when if when is not None else previous
            out.extend(self._agent_step(step, number, previous, end, pending))
            pending = self._results(step)
            previous = max(previous, end)
        return out

    def _results(self, step: dict[str, Any]) -> list[Json]:
        parts = []
        for result in as_list(as_dict(step.get("observation")).get("results")):
            if not isinstance(result, dict):
                continue
            part: dict[str, Any] = {"type": "tool_call_response"}
            if isinstance(result.get("source_call_id"), str):
                part["id"] = result["source_call_id"]
            part["response"] = _text(result.get("content"))
            parts.append(part)
        return [{"role": "tool", "parts": parts}] if parts else []

    def _agent_step(
        self, step: dict[str, Any], number: int, start: int, end: int, pending: list[Json]
    ) -> list[SpanDraft]:
        model = str(step.get("model_name") or self.model)
        provider, name = _provider(model)
        step_key = step.get("step_id", number)
        chat = SpanDraft(
            self.trace,
            span_id(self.trace, "step", step_key),
            self.parent.span_id,
            f"chat {name}" if name else "chat",
            "model_call",
            start,
            end,
            span_kind="CLIENT",
        )
        a = chat.attributes
        a.update(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider or "harbor",
                "cab.import.timing": "step",
                "harbor.step_id": step_key,
            }
        )
        if name:
            a["gen_ai.request.model"] = name
        metrics = as_dict(step.get("metrics"))
        prompt, completion = as_int(metrics.get("prompt_tokens")), as_int(metrics.get("completion_tokens"))
        a["cab.llm.usage_reported"] = prompt is not None or completion is not None
        for key, value in (
            ("gen_ai.usage.input_tokens", prompt),  # ATIF's prompt tokens include cached ones
            ("gen_ai.usage.output_tokens", completion),
            ("gen_ai.usage.cache_read.input_tokens", as_int(metrics.get("cached_tokens"))),
        ):
            if value is not None:
                a[key] = value
        if (cost := as_num(metrics.get("cost_usd"))) is not None:
            a["harbor.cost_usd"] = cost
        if (calls := as_int(step.get("llm_call_count"))) is not None:
            a["harbor.llm_call_count"] = calls
        if pending:
            a["gen_ai.input.messages"] = bounded(json_text(pending), 256 * 1024)
        parts: list[Json] = []
        if isinstance(step.get("reasoning_content"), str) and step["reasoning_content"]:
            parts.append({"type": "reasoning", "content": step["reasoning_content"]})
        if text := _text(step.get("message")):
            parts.append({"type": "text", "content": text})
        tools = [c for c in as_list(step.get("tool_calls")) if isinstance(c, dict)]
        for call in tools:
            part: dict[str, Any] = {"type": "tool_call"}
            if isinstance(call.get("tool_call_id"), str):
                part["id"] = call["tool_call_id"]
            part["name"] = str(call.get("function_name") or "")
            part["arguments"] = call.get("arguments")
            parts.append(part)
        # ATIF records no finish reason: "" says so (consumers of the earlier schema require the key).
        answer = {"role": "assistant", "parts": parts, "finish_reason": ""}
        a["gen_ai.output.messages"] = bounded(json_text([answer]), 256 * 1024)
        if self.definitions:
            a["gen_ai.tool.definitions"] = bounded(json_text(self.definitions), 256 * 1024)
        out = [chat]
        results = as_list(as_dict(step.get("observation")).get("results"))
        for index, call in enumerate(tools):
            out.append(
                self._tool(
                    call=call,
                    index=index,
                    step_key=step_key,
                    start=start,
                    end=end,
                    results=results,
                    count=len(tools),
                )
            )
        return out

    def _tool(
        self,
        *,
        call: dict[str, Any],
        index: int,
        step_key: object,
        start: int,
        end: int,
        results: list[Any],
        count: int,
    ) -> SpanDraft:
        name = str(call.get("function_name") or "tool")
        call_id = call.get("tool_call_id")
        draft = SpanDraft(
            self.trace,
            span_id(self.trace, "tool", step_key, index, call_id),
            self.parent.span_id,
            f"execute_tool {name}",
            "tool_step",
            start,
            end,
        )
        a = draft.attributes
        a.update(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.type": "function",
                "cab.import.timing": "step",
            }
        )
        if isinstance(call_id, str):
            a["gen_ai.tool.call.id"] = call_id
        a["gen_ai.tool.call.arguments"] = bounded(json_text(call.get("arguments")))
        matched = [r for r in results if isinstance(r, dict) and r.get("source_call_id") == call_id]
        if not matched and count == 1:  # one call, results that name no call: they are its own
            matched = [r for r in results if isinstance(r, dict) and not r.get("source_call_id")]
        if matched:
            a["gen_ai.tool.call.result"] = bounded("".join(_text(r.get("content")) for r in matched))
        description = next(
            (
                d.get("description")
                for d in self.definitions
                if d.get("name") == name and d.get("description")
            ),
            None,
        )
        if isinstance(description, str):
            a["gen_ai.tool.description"] = description
        return draft


def _definition(tool: dict[str, Any]) -> dict[str, Any]:
    """An ATIF tool definition (OpenAI's nested shape, usually) flattened as the conventions ask."""
    inner = as_dict(tool.get("function")) or tool
    out: dict[str, Any] = {"type": "function", "name": str(inner.get("name") or tool.get("type") or "tool")}
    if isinstance(inner.get("description"), str):
        out["description"] = inner["description"]
    params = inner.get("parameters") or inner.get("input_schema")
    if isinstance(params, dict):
        out["parameters"] = params
    return out


def _resource(agent: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {"service.name": "harbor"}
    if isinstance(agent.get("name"), str):
        resource["harbor.agent.name"] = agent["name"]
    if isinstance(agent.get("version"), str):
        resource["harbor.agent.version"] = agent["version"]
    return resource


# -- a trial -------------------------------------------------------------------------------------


def _timing(value: object) -> tuple[int, int] | None:
    t = as_dict(value)
    start, end = iso_ns(t.get("started_at")), iso_ns(t.get("finished_at"))
    if start is None:
        return None
    return start, end if end is not None else start


def records_from_trial(
    result: Any,
    trajectory: Any = None,
    reward_text: str | None = None,
    step_trajectories: dict[str, Any] | None = None,
) -> Iterator[SpanRecord]:
    """One trial as records.

    Args:
        result: the parsed ``result.json``.
        trajectory: the parsed ``agent/trajectory.json``, when there is one.
        reward_text: ``verifier/reward.txt``, used when ``result.json`` has no rewards.
        step_trajectories: a multi-step trial's ``steps/{name}/agent/trajectory.json``, by name.

    Raises:
        RecordError: ``result`` is not a trial result.
    """
    if not is_trial_result(result):
        raise RecordError("not a Harbor trial result (no trial_name, task_name and agent_info)")
    trial_key = result.get("id") or result.get("trial_name")
    trace = trace_id("harbor", trial_key)
    agent_info = as_dict(result.get("agent_info"))
    model_info = as_dict(agent_info.get("model_info"))
    times = [t for k, _ in PHASES if (t := _timing(result.get(k)))]
    start = iso_ns(result.get("started_at")) or min((t[0] for t in times), default=0)
    end = iso_ns(result.get("finished_at")) or max((t[1] for t in times), default=start)
    root = SpanDraft(trace, span_id(trace, "trial"), None, f"trial {result['trial_name']}", "run", start, end)
    a = root.attributes
    a.update(
        {
            "task_id": str(result["task_name"]),
            "run_id": str(result["trial_name"]),
            "adapter": str(agent_info.get("name") or "harbor"),
            "harbor.trial_name": str(result["trial_name"]),
        }
    )
    if isinstance(result.get("id"), str):
        a["harbor.trial_id"] = result["id"]
    if isinstance(model_info.get("name"), str):
        a["model"] = model_info["name"]
        if isinstance(model_info.get("provider"), str):
            a["harbor.model"] = f"{model_info['provider']}/{model_info['name']}"
    if isinstance(result.get("source"), str):
        a["harbor.source"] = result["source"]
    verdict = _outcome(root, result, reward_text)
    drafts = [root]
    agent_span = _phases(trace, root, result, drafts, verdict)
    trajectory_start = agent_span.start_ns if agent_span is not None else start
    if is_atif(trajectory):
        parent = agent_span or root
        drafts.extend(_Steps(trace, parent, trajectory, trajectory_start).drafts())
    for step in as_list(result.get("step_results")):
        drafts.extend(_step_result(trace, root, as_dict(step), step_trajectories or {}))
    stretch_parents(drafts)
    resource = _resource({"name": agent_info.get("name"), "version": agent_info.get("version")})
    return iter([d.record(resource, SCOPE) for d in drafts])


def _outcome(root: SpanDraft, result: dict[str, Any], reward_text: str | None) -> bool | None:
    """The reward, tokens and exception on the root; returns the check's verdict."""
    a = root.attributes
    rewards = as_dict(as_dict(result.get("verifier_result")).get("rewards"))
    if not rewards and reward_text is not None and _parse_float(reward_text) is not None:
        rewards = {"reward": _parse_float(reward_text)}
    for key, value in rewards.items():
        if as_num(value) is not None:
            a[f"harbor.reward.{key}"] = float(value)
    reward = as_num(rewards.get("reward")) if "reward" in rewards else None
    if reward is None and len(rewards) == 1:
        reward = as_num(next(iter(rewards.values())))
    verdict = reward_passed(reward)
    if verdict is not None:
        a["check_passed"] = verdict
    context = as_dict(result.get("agent_result"))
    for key in ("n_input_tokens", "n_cache_tokens", "n_output_tokens"):
        if as_int(context.get(key)) is not None:
            a[f"harbor.{key}"] = context[key]
    if as_num(context.get("cost_usd")) is not None:
        a["harbor.cost_usd"] = float(context["cost_usd"])
    exception = as_dict(result.get("exception_info"))
    if exception:
        root.fail(bounded(f"{exception.get('exception_type')}: {exception.get('exception_message')}"))
        root.event(
            "exception",
            iso_ns(exception.get("occurred_at")) or root.end_ns,
            {
                "exception.type": str(exception.get("exception_type") or ""),
                "exception.message": str(exception.get("exception_message") or ""),
                "exception.stacktrace": str(exception.get("exception_traceback") or ""),
            },
        )
    return verdict


def _parse_float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _phases(
    trace: str, root: SpanDraft, result: dict[str, Any], drafts: list[SpanDraft], verdict: bool | None
) -> SpanDraft | None:
    agent_span = None
    for key, kind in PHASES:
        timing = _timing(result.get(key))
        if timing is None:
            continue
        phase = SpanDraft(trace, span_id(trace, "phase", key), root.span_id, key, kind, *timing)
        if kind == "verify" and verdict is not None:
            phase.attributes["passed"] = verdict
        if key == "agent_execution":
            phase.attributes["terminal_cast"] = CAST_FILE
            agent_span = phase
        drafts.append(phase)
    return agent_span


def _step_result(
    trace: str, root: SpanDraft, step: dict[str, Any], trajectories: dict[str, Any]
) -> list[SpanDraft]:
    """A multi-step trial's step: its agent execution and verifier under a span of its own."""
    name = str(step.get("step_name") or "step")
    times = [t for k in ("agent_execution", "verifier") if (t := _timing(step.get(k)))]
    if not times:
        return []
    span = SpanDraft(
        trace,
        span_id(trace, "step_result", name),
        root.span_id,
        f"step {name}",
        "step",
        times[0][0],
        times[-1][1],
    )
    out = [span]
    rewards = as_dict(as_dict(step.get("verifier_result")).get("rewards"))
    for key, value in rewards.items():
        if as_num(value) is not None:
            span.attributes[f"harbor.reward.{key}"] = float(value)
    agent = None
    for key, kind in (("agent_execution", "container"), ("verifier", "verify")):
        if (timing := _timing(step.get(key))) is not None:
            phase = SpanDraft(
                trace, span_id(trace, "step_phase", name, key), span.span_id, key, kind, *timing
            )
            out.append(phase)
            agent = phase if kind == "container" else agent
    if agent is not None and is_atif(trajectories.get(name)):
        out.extend(_Steps(trace, agent, trajectories[name], agent.start_ns).drafts())
    return out


# -- a trajectory on its own ---------------------------------------------------------------------


def records_from_atif(doc: Any) -> Iterator[SpanRecord]:
    """An ATIF trajectory on its own: a ``run`` root over its steps."""
    if not is_atif(doc):
        raise RecordError("not an ATIF trajectory (no agent and steps)")
    key = doc.get("session_id") or doc.get("trajectory_id") or json_text(doc.get("steps"))[:4096]
    trace = trace_id("atif", key)
    stamps = [t for s in as_list(doc["steps"]) if (t := iso_ns(as_dict(s).get("timestamp"))) is not None]
    start, end = (min(stamps), max(stamps)) if stamps else (0, 0)
    agent = as_dict(doc.get("agent"))
    root = SpanDraft(
        trace, span_id(trace, "trajectory"), None, f"trajectory {agent.get('name', '')}", "run", start, end
    )
    a = root.attributes
    a["adapter"] = str(agent.get("name") or "atif")
    if isinstance(agent.get("model_name"), str):
        a["model"] = _provider(agent["model_name"])[1]
    if isinstance(doc.get("session_id"), str):
        a["run_id"] = doc["session_id"]
    a["atif.schema_version"] = str(doc.get("schema_version", ""))
    final = as_dict(doc.get("final_metrics"))
    for k, v in final.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            a[f"atif.{k}"] = v
    drafts = [root, *_Steps(trace, root, doc, start).drafts()]
    stretch_parents(drafts)
    return iter([d.record(_resource(agent), SCOPE) for d in drafts])
