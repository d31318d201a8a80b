"""Model-call and tool-step spans through the real pipeline and out again: redacted like every
span (content included), and exported to OTLP and Jaeger JSON unchanged, so GenAI-aware
backends read them."""

from __future__ import annotations

from pathlib import Path

import orjson

from cab_trace.llm import Api, CallRecord, ResponseAccumulator, parse_request
from cab_trace.llm.call import request_hash
from cab_trace.model import read_records
from cab_trace.otel.model_calls import ModelCallSpans
from cab_trace.otel.setup import build_pipeline
from cab_trace.redact import Redactor
from tests.conftest import run_cli
from tests.otlp_receiver import OtlpReceiver

RUN = Path(__file__).resolve().parents[1] / "replay" / "fixtures" / "model-calls-run"
KEY = "opaque-key-the-harness-knows-7731"
SHAPED = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # a GitHub token by its shape


def test_content_goes_through_the_one_redacting_pipeline(tmp_path: Path) -> None:
    body = orjson.dumps(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": f"use {KEY} and {SHAPED}"},
                # Rules that would match across JSON's escapes in the encoded text:
                {
                    "role": "user",
                    "content": 'Authorization: Bearer abcdefghijklmnop" and token=abc\\"def123456789',
                },
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "function": {"name": "bash", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": f"export TOKEN={KEY}"},
            ],
        }
    )
    acc = ResponseAccumulator(Api.CHAT)
    acc.feed_json(
        orjson.dumps(
            {
                "id": "x",
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": f"I saw {KEY}",
                            "tool_calls": [
                                {"id": "c9", "function": {"name": "bash", "arguments": '{"cmd": "env"}'}}
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3},
            }
        )
    )
    pipeline = build_pipeline(tmp_path / "trace.jsonl", Redactor([KEY]))
    spans = ModelCallSpans(pipeline.tracer, redact=pipeline.redaction.redactor.text)
    spans(
        CallRecord(
            Api.CHAT, "POST", "/v1/chat/completions", "example.com", 443, request_hash(body),
            parse_request(Api.CHAT, body), start_ns=1_000, end_ns=2_000, status=200, response=acc.info,
            index=1,
        )
    )  # fmt: skip
    later = orjson.dumps(
        {"model": "m", "messages": [{"role": "tool", "tool_call_id": "c9", "content": f"export TOKEN={KEY}"}]}
    )
    spans(
        CallRecord(
            Api.CHAT, "POST", "/v1/chat/completions", "example.com", 443, request_hash(later),
            parse_request(Api.CHAT, later), start_ns=2_500, end_ns=2_600, status=200, response=acc.info,
            index=2,
        )
    )  # fmt: skip
    spans.finish(3_000)
    pipeline.shutdown()
    text = (tmp_path / "trace.jsonl").read_text()
    assert KEY not in text and SHAPED not in text
    assert "[REDACTED]" in text
    call, _ = sorted(
        (r for r in read_records(tmp_path / "trace.jsonl") if r.kind == "model_call"),
        key=lambda r: r.start_time_unix_nano,
    )
    assert (
        call.span_kind == "CLIENT" and call.start_time_unix_nano == 1_000 and call.end_time_unix_nano == 2_000
    )
    assert call.attributes["gen_ai.usage.input_tokens"] == 9
    messages = orjson.loads(str(call.attributes["gen_ai.input.messages"]))  # still JSON after redaction
    assert "Bearer [REDACTED]" in messages[1]["parts"][0]["content"]
    (step,) = [r for r in read_records(tmp_path / "trace.jsonl") if r.kind == "tool_step"]
    assert step.attributes["gen_ai.tool.call.result"] == "export TOKEN=[REDACTED]"
    assert spans.totals(None)["input_tokens"] == 18


def test_exported_to_otlp_unchanged() -> None:
    with OtlpReceiver("http") as receiver:
        result = run_cli("export", str(RUN), "--otlp-endpoint", receiver.endpoint)
    assert result.returncode == 0, result.stderr
    received = [span for _, span in receiver.received.spans()]
    calls = [s for s in received if s.name == "chat scripted-model"]
    assert len(calls) == 3
    for span in calls:
        assert span.kind == 3  # SPAN_KIND_CLIENT
        attrs = {kv.key: kv.value for kv in span.attributes}
        assert attrs["gen_ai.operation.name"].string_value == "chat"
        assert attrs["gen_ai.usage.input_tokens"].int_value > 0  # ints stay ints
        assert [v.string_value for v in attrs["gen_ai.response.finish_reasons"].array_value.values]
        assert orjson.loads(attrs["gen_ai.input.messages"].string_value)[0]["role"] == "system"
    tools = [s for s in received if s.name.startswith("execute_tool ")]
    assert {kv.key: kv.value for kv in tools[0].attributes}[
        "gen_ai.operation.name"
    ].string_value == "execute_tool"


def test_exported_to_jaeger_json_with_client_kind_and_gen_ai_tags(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    result = run_cli("export", str(RUN), "--format", "jaeger-json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    spans = orjson.loads(out.read_bytes())["data"][0]["spans"]
    calls = [s for s in spans if s["operationName"] == "chat scripted-model"]
    assert len(calls) == 3
    tags = {t["key"]: t["value"] for t in calls[0]["tags"]}
    assert tags["span.kind"] == "client" and tags["gen_ai.provider.name"] == "openai"
    assert isinstance(tags["gen_ai.usage.output_tokens"], int)


def test_run_totals_count_failures_apart_and_leave_unknown_tokens_out(tmp_path: Path) -> None:
    pipeline = build_pipeline(tmp_path / "trace.jsonl", Redactor([]))
    spans = ModelCallSpans(pipeline.tracer, content=False)
    body = orjson.dumps({"model": "m", "messages": []})
    with_usage = ResponseAccumulator(Api.CHAT)
    with_usage.feed_json(orjson.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}))

    def call(index: int, response: ResponseAccumulator, outcome: str = "ok") -> CallRecord:
        return CallRecord(
            Api.CHAT, "POST", "/v1/chat/completions", "h", 80, request_hash(body),
            parse_request(Api.CHAT, body), start_ns=index * 1_000_000, end_ns=index * 1_000_000 + 500_000,
            status=200, response=response.info, outcome=outcome, index=index,
        )  # fmt: skip

    spans(call(1, with_usage))
    spans(call(2, ResponseAccumulator(Api.CHAT), outcome="stream_cut"))
    # A failed call is a failure, not a call without usage: the tokens are known.
    failed = spans.totals(check_passed=False)
    assert failed["model_calls"] == 2 and failed["model_calls_failed"] == 1
    assert failed["model_calls_without_usage"] == 0 and failed["model_call_ms"] == 1
    assert (failed["input_tokens"], failed["output_tokens"], failed["total_tokens"]) == (7, 2, 9)
    assert failed["correct_tasks"] == 0 and "tokens_per_correct_task" not in failed
    assert spans.totals(check_passed=True)["tokens_per_correct_task"] == 9
    assert "correct_tasks" not in spans.totals(check_passed=None)
    # A call that succeeded and reported no usage: the tokens are unknown, absent, never 0.
    spans(call(3, ResponseAccumulator(Api.CHAT)))
    pipeline.shutdown()
    unknown = spans.totals(check_passed=True)
    assert unknown["model_calls_without_usage"] == 1 and unknown["model_calls_failed"] == 1
    for name in ("input_tokens", "output_tokens", "total_tokens", "tokens_per_correct_task"):
        assert name not in unknown
    assert unknown["correct_tasks"] == 1
    records = {r.attributes["cab.llm.call_index"]: r for r in read_records(tmp_path / "trace.jsonl")}
    assert records[2].status.code == "ERROR" and "stream ended before" in records[2].status.message


def test_run_totals_agree_with_what_a_sweep_reads_from_the_trace(tmp_path: Path) -> None:
    """The run span's totals and `cab_trace.model.axes` (what sweeps, compare and the cell page
    read) count the same calls the same way: failures apart, unknown tokens left out."""
    from cab_trace.llm.summary import call_rows, totals_text
    from cab_trace.model.axes import cell_numbers

    body = orjson.dumps({"model": "m", "messages": []})
    reported = ResponseAccumulator(Api.CHAT)
    reported.feed_json(orjson.dumps({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}))
    for case, outcomes in {
        "known": [("ok", reported), ("http_error", ResponseAccumulator(Api.CHAT))],
        "unknown": [("ok", reported), ("ok", ResponseAccumulator(Api.CHAT))],
    }.items():
        pipeline = build_pipeline(tmp_path / f"{case}.jsonl", Redactor([]))
        spans = ModelCallSpans(pipeline.tracer, content=False)
        for index, (outcome, response) in enumerate(outcomes, 1):
            record = CallRecord(
                Api.CHAT, "POST", "/v1/chat/completions", "h", 80, request_hash(body),
                parse_request(Api.CHAT, body), start_ns=index * 1_000_000, end_ns=index * 1_000_000 + 1,
                status=429 if outcome == "http_error" else 200, response=response.info,
                outcome=outcome, index=index,
            )  # fmt: skip
            spans(record)
        pipeline.shutdown()
        totals = spans.totals(check_passed=True)
        records = list(read_records(tmp_path / f"{case}.jsonl"))
        numbers = cell_numbers(records)
        assert numbers.model_calls == totals["model_calls"]
        assert numbers.model_calls_failed == totals["model_calls_failed"]
        assert numbers.calls_without_usage == totals["model_calls_without_usage"]
        assert numbers.total_tokens == totals.get("total_tokens")
        text = totals_text(call_rows(records))
        if case == "known":
            assert totals["total_tokens"] == 8 and text == "2 model call(s) (1 failed) · tokens 5 in / 3 out"
        else:
            assert "total_tokens" not in totals and numbers.total_tokens is None
            assert text == (
                "2 model call(s) · tokens unknown: 1 call(s) that succeeded reported no usage; "
                "5 in / 3 out from the 1 that did"
            )


def test_no_content_keeps_the_prompt_out_of_a_provider_error_message(tmp_path: Path) -> None:
    """Providers quote the prompt back in errors ("maximum context length ... your messages: ...");
    under --no-content the span's status says what failed, not what the provider quoted."""
    prompt = "the private plan for the merger is in chapter seven"
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": prompt}]})
    error = ResponseAccumulator(Api.CHAT)
    error.feed_json(
        orjson.dumps({"error": {"type": "invalid_request_error", "message": f"too long: {prompt}"}})
    )

    def record(content: bool) -> str:
        out = tmp_path / f"trace-{content}.jsonl"
        pipeline = build_pipeline(out, Redactor([]))
        spans = ModelCallSpans(pipeline.tracer, content=content)
        spans(
            CallRecord(
                Api.CHAT, "POST", "/v1/chat/completions", "h", 80, request_hash(body),
                parse_request(Api.CHAT, body), start_ns=1, end_ns=2, status=400, response=error.info,
                outcome="http_error", index=1,
            )
        )  # fmt: skip
        pipeline.shutdown()
        (span,) = read_records(out)
        assert span.status.code == "ERROR" and "HTTP 400" in span.status.message
        return span.status.message

    assert prompt in record(content=True)  # with content, the provider's words are the useful part
    message = record(content=False)
    assert prompt not in message and "chapter" not in message and "not recorded" in message
