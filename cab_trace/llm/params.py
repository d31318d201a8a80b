"""What a request asks of the model beyond its messages, as the GenAI conventions name it: the
sampling parameters (``gen_ai.request.*``), the output type asked for (``gen_ai.output.type``)
and the tool definitions, flattened to the conventions' shape (``gen_ai.tool.definitions``:
``{"type": "function", "name", "description", "parameters"}``, or ``{"type", "name"}`` for a
provider's own tools).

Pure: works on the parsed request body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cab_trace.llm.values import _int, _num

Json = Any


@dataclass
class Params:
    """Request parameters the conventions name; None when the request did not set them."""

    seed: int | None = None
    top_k: float | None = None
    stop_sequences: list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    choice_count: int | None = None
    output_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def attributes(self) -> dict[str, Any]:
        """``gen_ai.request.*`` and ``gen_ai.output.type`` for what was set. ``choice.count``
        only when it is not 1, as the conventions ask."""
        attrs: dict[str, Any] = {}
        for key, value in (
            ("gen_ai.request.seed", self.seed),
            ("gen_ai.request.top_k", self.top_k),
            ("gen_ai.request.stop_sequences", self.stop_sequences),
            ("gen_ai.request.frequency_penalty", self.frequency_penalty),
            ("gen_ai.request.presence_penalty", self.presence_penalty),
            ("gen_ai.output.type", self.output_type),
        ):
            if value is not None:
                attrs[key] = value
        if self.choice_count is not None and self.choice_count != 1:
            attrs["gen_ai.request.choice.count"] = self.choice_count
        return attrs


def _stops(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _format_type(kind: object) -> str | None:
    """The conventions' output type for a ``response_format`` / ``text.format`` type."""
    if kind in ("json_object", "json_schema", "json"):
        return "json"
    if kind == "text":
        return "text"
    return None


def chat_params(doc: dict[str, Any]) -> Params:
    """Chat Completions: seed, stop, penalties, n, response_format (and audio output)."""
    params = Params(
        seed=_int(doc.get("seed")),
        stop_sequences=_stops(doc.get("stop")),
        frequency_penalty=_num(doc.get("frequency_penalty")),
        presence_penalty=_num(doc.get("presence_penalty")),
        choice_count=_int(doc.get("n")),
        output_type=_format_type(_dict(doc.get("response_format")).get("type")),
    )
    modalities = doc.get("modalities")
    if params.output_type is None and isinstance(modalities, list) and "audio" in modalities:
        params.output_type = "speech"
    return params


def responses_params(doc: dict[str, Any]) -> Params:
    """Responses: the only output format it takes is ``text.format``."""
    return Params(output_type=_format_type(_dict(_dict(doc.get("text")).get("format")).get("type")))


def anthropic_params(doc: dict[str, Any]) -> Params:
    """Messages: top_k, stop_sequences, and a structured output format when asked for."""
    fmt = _dict(doc.get("output_format")) or _dict(_dict(doc.get("output_config")).get("format"))
    return Params(
        top_k=_num(doc.get("top_k")),
        stop_sequences=_stops(doc.get("stop_sequences")),
        output_type=_format_type(fmt.get("type")),
    )


def gemini_params(config: dict[str, Any]) -> Params:
    """generateContent's ``generationConfig``."""
    mime = config.get("responseMimeType") or config.get("response_mime_type")
    output = None
    if config.get("responseSchema") or config.get("responseJsonSchema") or mime == "application/json":
        output = "json"
    elif mime == "text/plain":
        output = "text"
    modalities = config.get("responseModalities")
    if output is None and isinstance(modalities, list):
        if "IMAGE" in modalities:
            output = "image"
        elif "AUDIO" in modalities:
            output = "speech"
    return Params(
        seed=_int(config.get("seed")),
        top_k=_num(config.get("topK")),
        stop_sequences=_stops(config.get("stopSequences")),
        frequency_penalty=_num(config.get("frequencyPenalty")),
        presence_penalty=_num(config.get("presencePenalty")),
        choice_count=_int(config.get("candidateCount")),
        output_type=output,
    )


# -- tool definitions ----------------------------------------------------------------------------


def _function(name: object, description: object, parameters: object, rest: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "name": str(name)}
    if isinstance(description, str):
        out["description"] = description
    if isinstance(parameters, dict):
        out["parameters"] = parameters
    out.update(rest)
    return out


def _generic(tool: dict[str, Any], kind: str) -> dict[str, Any]:
    """A provider's own tool (web search, code execution, a computer): its type, and a name
    (the type itself when it has none: the conventions require one)."""
    name = tool.get("name")
    return {**tool, "type": kind, "name": name if isinstance(name, str) and name else kind}


def chat_tools(tools: object) -> list[Json]:
    """``{"type": "function", "function": {name, description, parameters, strict}}`` flattened."""
    out: list[Json] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        kind = str(tool.get("type") or "function")
        inner = tool.get(kind)
        if kind == "function" and isinstance(inner, dict) and isinstance(inner.get("name"), str):
            rest = {k: v for k, v in inner.items() if k not in ("name", "description", "parameters")}
            out.append(_function(inner["name"], inner.get("description"), inner.get("parameters"), rest))
        elif isinstance(inner, dict):  # {"type": "custom", "custom": {"name": ...}}
            out.append(_generic({**inner}, kind))
        else:
            out.append(_generic({k: v for k, v in tool.items() if k != "type"}, kind))
    return out


def responses_tools(tools: object) -> list[Json]:
    """Responses' tools are flat already; built-in ones (``web_search``) get their type as name."""
    out: list[Json] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        kind = str(tool.get("type") or "function")
        if kind == "function" and isinstance(tool.get("name"), str):
            rest = {k: v for k, v in tool.items() if k not in ("type", "name", "description", "parameters")}
            out.append(_function(tool["name"], tool.get("description"), tool.get("parameters"), rest))
        else:
            out.append(_generic({k: v for k, v in tool.items() if k != "type"}, kind))
    return out


def anthropic_tools(tools: object) -> list[Json]:
    """``{name, description, input_schema}`` as a function; typed server tools
    (``{"type": "bash_20250124", "name": "bash"}``) as they are."""
    out: list[Json] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if kind in (None, "custom") and isinstance(tool.get("name"), str):
            rest = {k: v for k, v in tool.items() if k not in ("type", "name", "description", "input_schema")}
            out.append(_function(tool["name"], tool.get("description"), tool.get("input_schema"), rest))
        else:
            out.append(_generic({k: v for k, v in tool.items() if k != "type"}, str(kind or "function")))
    return out


def gemini_tools(tools: object) -> list[Json]:
    """Each ``functionDeclarations`` entry as a function; ``googleSearch``, ``codeExecution``
    and the like as a tool of that type."""
    out: list[Json] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        for key, value in tool.items():
            if key in ("functionDeclarations", "function_declarations") and isinstance(value, list):
                for fn in value:
                    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                        params = fn.get("parameters") or fn.get("parametersJsonSchema")
                        rest = {
                            k: v
                            for k, v in fn.items()
                            if k not in ("name", "description", "parameters", "parametersJsonSchema")
                        }
                        out.append(_function(fn["name"], fn.get("description"), params, rest))
            else:
                out.append({"type": key, "name": key, **({"config": value} if value else {})})
    return out


def descriptions(definitions: list[Json]) -> dict[str, str]:
    """Tool name -> description, from flattened definitions (for ``gen_ai.tool.description``)."""
    return {
        d["name"]: d["description"]
        for d in definitions
        if isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("description"), str)
    }
