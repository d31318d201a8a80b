"""What a request body asks for: :func:`parse_request`, one branch per API.

Apart from the response side (:mod:`cab_trace.llm.accumulator`): a request is one JSON
document read once, an answer is a document or a stream read as it arrives.
"""

from __future__ import annotations

from cab_trace.llm import gemini, params
from cab_trace.llm.messages import _anthropic_messages, _chat_messages, _responses_input
from cab_trace.llm.values import _int, _loads, _num, _str
from cab_trace.llm.wire_types import Api, RequestInfo


def parse_request(api: Api, body: bytes, path: str = "") -> RequestInfo:
    """What a request body asks for (Gemini's model and streaming are in its ``path``). Never
    raises: a body that is not a JSON object gives ``parsed=False`` and whatever could be read."""
    doc = _loads(body)
    if not isinstance(doc, dict):
        return RequestInfo(parsed=False)
    if api is Api.GEMINI:
        config = gemini.generation_config(doc)
        messages, gemini_system, tools = gemini.request_messages(doc)
        return RequestInfo(
            model=gemini.model_in_path(path),
            stream=gemini.is_stream_path(path),
            max_tokens=_int(config.get("maxOutputTokens")),
            temperature=_num(config.get("temperature")),
            top_p=_num(config.get("topP")),
            asked_usage=True,  # every Gemini answer carries usageMetadata
            input_messages=messages,
            system_instructions=gemini_system,
            tool_definitions=params.gemini_tools(tools),
            params=params.gemini_params(config),
        )
    info = RequestInfo(
        model=_str(doc.get("model")),
        stream=doc.get("stream") is True,
        temperature=_num(doc.get("temperature")),
        top_p=_num(doc.get("top_p")),
    )
    if api is Api.CHAT:
        info.max_tokens = _int(doc.get("max_completion_tokens")) or _int(doc.get("max_tokens"))
        options = doc.get("stream_options")
        info.asked_usage = isinstance(options, dict) and options.get("include_usage") is True
        info.input_messages = _chat_messages(doc.get("messages"))
        info.tool_definitions = params.chat_tools(doc.get("tools"))
        info.params = params.chat_params(doc)
    elif api is Api.RESPONSES:
        info.max_tokens = _int(doc.get("max_output_tokens"))
        info.asked_usage = True  # the Responses stream always ends with the usage
        info.input_messages = _responses_input(doc.get("input"))
        if isinstance(instructions := doc.get("instructions"), str) and instructions:
            info.system_instructions = [{"type": "text", "content": instructions}]
        info.tool_definitions = params.responses_tools(doc.get("tools"))
        info.params = params.responses_params(doc)
    else:
        info.max_tokens = _int(doc.get("max_tokens"))
        info.asked_usage = True  # Anthropic streams always carry usage
        info.input_messages = _anthropic_messages(doc.get("messages"))
        system = doc.get("system")
        if isinstance(system, str) and system:
            info.system_instructions = [{"type": "text", "content": system}]
        elif isinstance(system, list):
            info.system_instructions = [
                {"type": "text", "content": str(b.get("text", ""))} for b in system if isinstance(b, dict)
            ]
        info.tool_definitions = params.anthropic_tools(doc.get("tools"))
        info.params = params.anthropic_params(doc)
    return info
