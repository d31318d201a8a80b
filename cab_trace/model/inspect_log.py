"""Inspect AI eval logs (``.eval``, a zip archive, and ``.json``) as span records. Pure: bytes
or a parsed document in, records out (stdlib, orjson, and zstandard for the archive's members).

One trace per sample (each epoch of each sample), and one trace for the eval itself:

- the eval's trace: one ``eval`` span from the eval's start to its end, with the task, model,
  status and the headline results; every sample's root links to it;
- a sample's trace: a ``run`` root (task ``{task}/{sample id}``, the model, the check's result
  from the first scorer's score, the sample's error), and under it Inspect's own spans
  (``span_begin`` / ``span_end``: init, solvers, each solver, scorers, each scorer);
- each ``model`` event is a ``chat`` span (GenAI conventions: input and output messages, tool
  definitions, request parameters, usage, finish reasons) from the event's timestamp to its
  ``completed`` time; each ``tool`` event is an ``execute_tool`` span, with Inspect's own
  ``tool`` span (where the tool's inner events are) under it; a ``score`` event is an event on
  its scorer's span; the scorers' span is the ``verify`` phase with ``passed``;
- other events (``info``, ``error``, ``logger``, ``sandbox`` …) are events on the span they
  happened in.

Ids are derived from the eval id, the sample id and epoch, and Inspect's span and event ids.
Inspect's usage counts input tokens apart from cache reads and writes; the conventions'
``input_tokens`` include them, so they are added back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cab_trace.llm.parts import well_known_finish
from cab_trace.model.imported import (
    SpanDraft,
    as_dict,
    as_int,
    as_list,
    as_num,
    bounded,
    iso_ns,
    json_text,
    plain,
    span_id,
    stretch_parents,
    trace_id,
)
from cab_trace.model.inspect_messages import (
    expand_refs,
    messages_of,
    passed_of,
    request_params,
    resolve_attachments,
    text_of,
    tool_definitions,
    usage_attributes,
)
from cab_trace.model.record import Link, RecordError, Scope, SpanRecord

Json = Any
SCOPE = Scope("cab_trace.import.inspect_ai", None)


# -- telling it apart ----------------------------------------------------------------------------


def is_inspect_log(doc: object) -> bool:
    """An Inspect log document (``.json``): ``version`` and an ``eval`` object naming its task."""
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("version"), int)
        and isinstance(doc.get("eval"), dict)
        and "task" in doc["eval"]
        and ("samples" in doc or "status" in doc)
    )


def records_from_inspect_json(doc: Any) -> Iterator[SpanRecord]:
    """The records of a ``.json`` log document."""
    if not is_inspect_log(doc):
        raise RecordError("not an Inspect AI log (no version and eval object)")
    log = InspectLog(doc)
    for sample in as_list(doc.get("samples")):
        if isinstance(sample, dict):
            yield from log.sample_records(sample)
    yield from log.eval_records()


# -- the log ---------------------------------------------------------------------------------------


class InspectLog:
    """One log's eval header, turned into records sample by sample."""

    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.eval = as_dict(header.get("eval"))
        self.eval_id = str(
            self.eval.get("eval_id") or self.eval.get("run_id") or self.eval.get("task_id") or ""
        )
        self.task = str(self.eval.get("task") or "task")
        self.model = str(self.eval.get("model") or "")
        packages = as_dict(self.eval.get("packages"))
        self.resource: dict[str, Any] = {"service.name": "inspect_ai"}
        if isinstance(packages.get("inspect_ai"), str):
            self.resource["service.version"] = packages["inspect_ai"]
        self.eval_trace = trace_id("inspect", self.eval_id, "eval")
        self.eval_span = span_id(self.eval_trace, "eval")
        self.bounds: list[int] = []  # the samples' starts and ends: the eval spans them all

    # the eval's own trace -----------------------------------------------------------------------

    def eval_records(self) -> Iterator[SpanRecord]:
        """The eval's span (after the samples: its times cover theirs, as Inspect's header
        gives its own to the second)."""
        stats = as_dict(self.header.get("stats"))
        start = iso_ns(stats.get("started_at")) or iso_ns(self.eval.get("created")) or 0
        end = iso_ns(stats.get("completed_at")) or start
        if self.bounds:
            start, end = min(start, *self.bounds), max(end, *self.bounds)
        span = SpanDraft(self.eval_trace, self.eval_span, None, f"eval {self.task}", "eval", start, end)
        a = span.attributes
        a["inspect.eval_id"] = self.eval_id
        for key in ("run_id", "task", "task_id", "model", "created"):
            if isinstance(self.eval.get(key), str):
                a[f"inspect.{key}"] = self.eval[key]
        status = self.header.get("status")
        if isinstance(status, str):
            a["inspect.status"] = status
        results = as_dict(self.header.get("results"))
        for key in ("total_samples", "completed_samples"):
            if as_int(results.get(key)) is not None:
                a[f"inspect.{key}"] = results[key]
        for score in as_list(results.get("scores")):
            for metric in as_dict(as_dict(score).get("metrics")).values():
                m = as_dict(metric)
                if isinstance(m.get("name"), str) and as_num(m.get("value")) is not None:
                    a[f"inspect.score.{as_dict(score).get('name')}.{m['name']}"] = float(m["value"])
        error = as_dict(self.header.get("error"))
        if status == "error" or error:
            span.fail(str(error.get("message") or "the eval ended with an error"))
        yield span.record(self.resource, SCOPE)

    # one sample ---------------------------------------------------------------------------------

    def sample_records(self, sample: dict[str, Any]) -> Iterator[SpanRecord]:
        sample = resolve_attachments(sample, as_dict(sample.get("attachments")))
        records = _SampleTrace(self, sample).build()
        if records:
            self.bounds += [records[0].start_time_unix_nano, records[0].end_time_unix_nano]
        return iter(records)


class _SampleTrace:
    def __init__(self, log: InspectLog, sample: dict[str, Any]) -> None:
        self.log = log
        self.sample = sample
        self.sample_id = str(sample.get("id", ""))
        self.epoch = as_int(sample.get("epoch")) or 1
        self.trace = trace_id("inspect", log.eval_id, self.sample_id, self.epoch)
        self.root_id = span_id(self.trace, "sample")
        self.drafts: list[SpanDraft] = []
        self.spans: dict[str, SpanDraft] = {}  # Inspect span id -> draft
        pool = as_dict(sample.get("events_data"))
        self.messages = as_list(pool.get("messages"))
        self.calls = as_list(pool.get("calls"))

    def _parent(self, inspect_span: object) -> str:
        draft = self.spans.get(str(inspect_span)) if inspect_span else None
        return draft.span_id if draft is not None else self.root_id

    def build(self) -> list[SpanRecord]:
        events = [e for e in as_list(self.sample.get("events")) if isinstance(e, dict)]
        times = [t for e in events for t in (iso_ns(e.get("timestamp")), iso_ns(e.get("completed"))) if t]
        start = iso_ns(self.sample.get("started_at")) or (min(times) if times else 0)
        end = iso_ns(self.sample.get("completed_at")) or (max(times) if times else start)
        root = self._root(start, end)
        self.drafts.append(root)
        tool_spans: list[tuple[SpanDraft, dict[str, Any]]] = []
        for event in events:
            kind = event.get("event")
            if kind == "span_begin":
                self._span_begin(event)
            elif kind == "span_end":
                draft = self.spans.get(str(event.get("id")))
                if draft is not None:
                    draft.end_ns = iso_ns(event.get("timestamp")) or draft.end_ns
            elif kind == "model":
                self._model(event)
            elif kind == "tool":
                tool_spans.append((self._tool(event), event))
            elif kind == "score":
                self._score(event, root)
            else:
                self._other(event, root)
        self._nest_tool_spans(tool_spans)
        stretch_parents(self.drafts)
        resource = {**self.log.resource, "inspect.eval_id": self.log.eval_id}
        return [d.record(resource, SCOPE) for d in self.drafts]

    def _root(self, start: int, end: int) -> SpanDraft:
        task_id = f"{self.log.task}/{self.sample_id}"
        root = SpanDraft(self.trace, self.root_id, None, f"sample {task_id}", "run", start, end)
        root.links.append(Link(self.log.eval_trace, self.log.eval_span, {"inspect.link": "eval"}))
        a = root.attributes
        a.update(
            {
                "task_id": task_id,
                "adapter": "inspect_ai",
                "run_id": f"{self.log.eval_id}/{self.sample_id}/{self.epoch}",
                "repeat": self.epoch,  # an epoch is a repeat of the cell (the run span's repeat)
                "inspect.sample_id": self.sample_id,
                "inspect.epoch": self.epoch,
                "inspect.task": self.log.task,
            }
        )
        if self.log.model:
            a["model"] = self.log.model.split("/", 1)[-1]
            a["inspect.model"] = self.log.model
        scores = as_dict(self.sample.get("scores"))
        for name, score in scores.items():
            value = as_dict(score).get("value")
            a[f"inspect.score.{name}"] = plain(value)
        first = next(iter(scores.values()), None)
        verdict = passed_of(as_dict(first).get("value")) if first is not None else None
        if verdict is not None:
            a["check_passed"] = verdict
        for key in ("total_time", "working_time"):
            if as_num(self.sample.get(key)) is not None:
                a[f"inspect.{key}_s"] = float(self.sample[key])
        error = as_dict(self.sample.get("error"))
        if error:
            root.fail(bounded(str(error.get("message") or "the sample ended with an error")))
            if isinstance(error.get("traceback"), str):
                root.event("exception", end, {"exception.stacktrace": error["traceback"]})
        limit = as_dict(self.sample.get("limit"))
        if limit:
            a["inspect.limit"] = str(limit.get("type") or "")
        return root

    def _span_begin(self, event: dict[str, Any]) -> None:
        inspect_id = str(event.get("id") or event.get("uuid") or "")
        kind = str(event.get("type") or "span")
        name = str(event.get("name") or kind)
        when = iso_ns(event.get("timestamp")) or 0
        parent = self._parent(event.get("parent_id"))
        draft = SpanDraft(
            self.trace,
            span_id(self.trace, "span", inspect_id),
            parent,
            name,
            "verify" if kind == "scorers" else kind,
            when,
            when,
        )
        draft.attributes["inspect.span_type"] = kind
        self.spans[inspect_id] = draft
        self.drafts.append(draft)

    def _model(self, event: dict[str, Any]) -> None:
        start = iso_ns(event.get("timestamp")) or 0
        output = as_dict(event.get("output"))
        end = iso_ns(event.get("completed"))
        if end is None:
            seconds = as_num(output.get("time"))
            end = start + int(seconds * 1e9) if seconds is not None else start
        full = str(event.get("model") or self.log.model)
        provider, _, model = full.partition("/")
        model = model or full
        draft = SpanDraft(
            self.trace,
            span_id(self.trace, "event", event.get("uuid") or start),
            self._parent(event.get("span_id")),
            f"chat {model}",
            "model_call",
            start,
            end,
            span_kind="CLIENT",
        )
        a = draft.attributes
        a.update(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider if model != full else "inspect_ai",
                "gen_ai.request.model": model,
            }
        )
        if isinstance(output.get("model"), str):
            a["gen_ai.response.model"] = output["model"]
        if isinstance(output.get("response_id"), str):
            a["gen_ai.response.id"] = output["response_id"]
        a.update(request_params(as_dict(event.get("config"))))
        reasons = [
            str(c.get("stop_reason")) for c in as_list(output.get("choices")) if as_dict(c).get("stop_reason")
        ]
        if reasons:
            a["gen_ai.response.finish_reasons"] = reasons
        a.update(usage_attributes(as_dict(output.get("usage"))))
        messages = as_list(event.get("input")) or expand_refs(event.get("input_refs"), self.messages)
        system = [m for m in messages if as_dict(m).get("role") == "system"]
        if system:
            a["gen_ai.system_instructions"] = bounded(
                json_text([{"type": "text", "content": text_of(as_dict(m).get("content"))} for m in system])
            )
        rest = [m for m in messages if as_dict(m).get("role") != "system"]
        if rest:
            a["gen_ai.input.messages"] = bounded(json_text(messages_of(rest)), 256 * 1024)
        choices = [as_dict(c) for c in as_list(output.get("choices"))]
        answers = [
            {**m, "finish_reason": well_known_finish(str(c.get("stop_reason") or ""))}
            for c in choices
            for m in messages_of([c.get("message")])
        ]
        if answers:
            a["gen_ai.output.messages"] = bounded(json_text(answers), 256 * 1024)
        if definitions := tool_definitions(event.get("tools")):
            a["gen_ai.tool.definitions"] = bounded(json_text(definitions), 256 * 1024)
        if retries := as_int(event.get("retries")):
            a["inspect.retries"] = retries
        error = event.get("error") or output.get("error")
        if error:
            draft.fail(bounded(str(error)))
            a["error.type"] = "api_error"
        self.drafts.append(draft)

    def _tool(self, event: dict[str, Any]) -> SpanDraft:
        start = iso_ns(event.get("timestamp")) or 0
        end = iso_ns(event.get("completed")) or start
        name = str(event.get("function") or "tool")
        draft = SpanDraft(
            self.trace,
            span_id(self.trace, "event", event.get("uuid") or event.get("id") or start),
            self._parent(event.get("span_id")),
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
            }
        )
        if isinstance(event.get("id"), str):
            a["gen_ai.tool.call.id"] = event["id"]
        if "arguments" in event:
            a["gen_ai.tool.call.arguments"] = bounded(json_text(event["arguments"]))
        result = event.get("result")
        if result is not None:
            a["gen_ai.tool.call.result"] = bounded(result if isinstance(result, str) else text_of(result))
        error = as_dict(event.get("error"))
        if error:
            draft.fail(bounded(f"{error.get('type', 'error')}: {error.get('message', '')}"))
            a["error.type"] = str(error.get("type") or "tool_error")
        self.drafts.append(draft)
        return draft

    def _nest_tool_spans(self, tools: list[tuple[SpanDraft, dict[str, Any]]]) -> None:
        """Inspect opens a ``tool`` span for each tool call (its inner events go there), beside
        the ``tool`` event; the span goes under the call's ``execute_tool`` span."""
        for draft, event in tools:
            for inspect_id, span in self.spans.items():
                if (
                    span.attributes.get("inspect.span_type") == "tool"
                    and span.name == event.get("function")
                    and span.parent_span_id == draft.parent_span_id
                    and draft.start_ns <= span.start_ns <= draft.end_ns
                    and inspect_id != ""
                ):
                    span.parent_span_id = draft.span_id
                    break

    def _score(self, event: dict[str, Any], root: SpanDraft) -> None:
        score = as_dict(event.get("score"))
        when = iso_ns(event.get("timestamp"))
        target = self.spans.get(str(event.get("span_id")))
        attributes: dict[str, Any] = {"inspect.score.value": score.get("value")}
        for key in ("answer", "explanation"):
            if isinstance(score.get(key), str):
                attributes[f"inspect.score.{key}"] = score[key]
        if event.get("target") is not None:
            attributes["inspect.score.target"] = event["target"]
        if event.get("intermediate"):
            attributes["inspect.score.intermediate"] = True
        (target or root).event("score", when, attributes)
        verify = next((d for d in self.drafts if d.kind == "verify"), None)
        verdict = passed_of(score.get("value"))
        if verify is not None and verdict is not None and "passed" not in verify.attributes:
            verify.attributes["passed"] = verdict

    def _other(self, event: dict[str, Any], root: SpanDraft) -> None:
        kind = str(event.get("event") or "event")
        if kind in ("state", "store", "sample_init"):
            return  # the messages and store as diffs: the model spans already hold the conversation
        target = self.spans.get(str(event.get("span_id"))) or root
        attributes: dict[str, Any] = {}
        for key in ("message", "data", "level", "source", "cmd", "action", "input", "explanation"):
            if key in event and event[key] is not None:
                attributes[f"inspect.{key}"] = event[key]
        if kind == "error":
            error = as_dict(event.get("error"))
            attributes["inspect.message"] = error.get("message", "")
        target.event(kind, iso_ns(event.get("timestamp")), attributes)
