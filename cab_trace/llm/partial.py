"""What can be read of a request body that was not kept whole: its first and last bytes.

A request body over the proxy's limit is sent on as it comes, and the record keeps only its
first and last :data:`KEEP` bytes (:class:`CutBody`). Of a JSON object cut so, every member
that is whole in either part is read as it is (the model, ``stream``, the sampling parameters,
the tools and the system prompt are small, and come first or last), and the array the cut falls
in keeps its whole elements: the first messages from the head, the latest from the tail, with
a ``cab-trace`` message between them saying how much is not recorded. Which member the tail's
array is, the tail cannot say (its name is in the part left out): its elements are taken as the
latest of the API's conversation (``messages``, ``input``, ``contents``: what grows past any
limit) when they are conversation items, and left out otherwise.

Pure: stdlib and orjson. The tail is read backwards only to find where, in it, a member or an
element starts; from there it is read forwards like the head.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import orjson

from cab_trace.llm.request import parse_request
from cab_trace.llm.wire_types import Api, Message, RequestInfo

#: Bytes kept of each end of a body over the limit: room for many whole messages, well past
#: what a span records of them (``cab_trace.llm.call.ATTRIBUTE_LIMIT``).
KEEP = 1 << 20

_WS = re.compile(rb"[ \t\r\n]*")
#: A whole string (possessive: a long string is matched once, not backtracked through).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
#: What matters inside a container: a whole string, a bracket, or an unterminated string.
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]|"', re.DOTALL)
_SCALAR = re.compile(rb"[^,\]}\s]+")
_CONVERSATION = {
    Api.CHAT: b'"messages"',
    Api.ANTHROPIC: b'"messages"',
    Api.RESPONSES: b'"input"',
    Api.GEMINI: b'"contents"',
}


@dataclass(frozen=True)
class CutBody:
    """A body kept as its first and last bytes; ``size`` is the whole body's."""

    size: int
    head: bytes
    tail: bytes = b""

    @property
    def left_out(self) -> int:
        """Bytes between the head and the tail that were not kept."""
        return max(self.size - len(self.head) - len(self.tail), 0)


@dataclass
class _Part:
    """The members read whole from one end, in order, and the array cut at that end."""

    members: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key as JSON, value as JSON)
    cut_key: bytes | None = None  # the member the cut falls in (None when unknown)
    cut_array: bool = False  # ... and it is an array
    elements: list[bytes] = field(default_factory=list)  # its whole elements at this end


def _value_end(data: bytes, at: int) -> int | None:
    """Where the JSON value starting at ``data[at]`` ends; None when it runs past the end."""
    first = data[at : at + 1]
    if first == b'"':
        match = _STRING.match(data, at)
        return match.end() if match else None
    if first in (b"{", b"["):
        depth = 0
        for token in _TOKEN.finditer(data, at):
            kind = data[token.start()]
            if kind == 0x22:  # a string: whole, or cut (the value runs past the end)
                if token.end() - token.start() == 1:
                    return None
                continue
            depth += 1 if kind in (0x5B, 0x7B) else -1
            if depth == 0:
                return token.end()
        return None
    match = _SCALAR.match(data, at)
    if match is None or match.end() >= len(data):
        return None  # a number or literal may go on past the end
    return match.end()


def _skip(data: bytes, at: int) -> int:
    match = _WS.match(data, at)
    return match.end() if match else at


def _read_forward(data: bytes, at: int, part: _Part) -> None:
    """The members of an object from ``at`` (just after its ``{`` or a ``,`` between members)."""
    while True:
        at = _skip(data, at)
        key = _STRING.match(data, at)
        if key is None:
            return  # the end of the object, or of what was kept
        colon = _skip(data, key.end())
        if data[colon : colon + 1] != b":":
            return
        start = _skip(data, colon + 1)
        end = _value_end(data, start) if start < len(data) else None
        if end is None:
            part.cut_key = key.group()
            part.cut_array = data[start : start + 1] == b"["
            if part.cut_array:
                part.elements = _elements_forward(data, start + 1)
            return
        part.members.append((key.group(), data[start:end]))
        at = _skip(data, end)
        if data[at : at + 1] != b",":
            return
        at += 1


def _elements_forward(data: bytes, at: int) -> list[bytes]:
    """The whole elements of an array from ``at`` (just after its ``[``) to where it is cut."""
    out: list[bytes] = []
    while True:
        at = _skip(data, at)
        if at >= len(data) or data[at : at + 1] == b"]":
            return out
        end = _value_end(data, at)
        if end is None:
            return out
        out.append(data[at:end])
        at = _skip(data, end)
        if data[at : at + 1] != b",":
            return out
        at += 1


def head_part(head: bytes) -> _Part:
    """What the first bytes of a JSON object hold whole."""
    part = _Part()
    at = _skip(head, 0)
    if head[at : at + 1] == b"{":
        _read_forward(head, at + 1, part)
    return part


def _string_start(data: bytes, close: int) -> int | None:
    """Where the string whose closing quote is at ``close`` opens; None when not in ``data``."""
    at = close
    while True:
        at = data.rfind(b'"', 0, at)
        if at <= 0:
            return None  # the opening quote (or what escapes it) is before the kept part
        slashes = at
        while slashes > 0 and data[slashes - 1] == 0x5C:
            slashes -= 1
        if slashes == 0:
            return None  # a run of backslashes from the start: cannot tell if it escapes
        if (at - slashes) % 2 == 0:
            return at


def _commas_backward(tail: bytes) -> tuple[int | None, int | None, bool]:
    """Read the last bytes of a JSON object backwards: the first comma between its members that
    is in them (the members after it are whole), whether the member the cut falls in is an
    array, and then the first comma between that array's elements (None when there is none)."""
    end = len(tail.rstrip(b" \t\r\n"))
    if tail[end - 1 : end] != b"}":
        return None, None, False
    stack: list[int] = [0x7B]  # the opening bracket each container entered needs, innermost last
    member_comma: int | None = None
    element_comma: int | None = None
    at = end - 1
    while at > 0:
        at -= 1
        byte = tail[at]
        if byte == 0x22:  # the closing quote of a string: go to its opening one
            start = _string_start(tail, at)
            if start is None:
                break  # the cut falls in this string
            at = start
        elif byte in (0x7D, 0x5D):  # } ]
            stack.append(byte - 2)  # { [
            if len(stack) == 2:
                element_comma = None  # a member's value, entered from its end
        elif byte in (0x7B, 0x5B):
            if stack.pop() != byte:
                return None, None, False  # not JSON
            if not stack:
                return member_comma, None, False  # the object's own opening: all of it is whole
        elif byte == 0x2C:  # ,
            if len(stack) == 1:
                member_comma = at
            elif len(stack) == 2 and stack[-1] == 0x5B:
                element_comma = at
    in_array = len(stack) >= 2 and stack[1] == 0x5B
    return member_comma, element_comma if in_array else None, in_array


def tail_part(tail: bytes) -> _Part:
    """What the last bytes of a JSON object hold whole (the cut member's name stays unknown)."""
    part = _Part()
    member_comma, element_comma, in_array = _commas_backward(tail)
    if member_comma is not None:
        _read_forward(tail, member_comma + 1, part)
    if in_array and element_comma is not None:
        part.cut_array = True
        part.elements = _elements_forward(tail, element_comma + 1)
    return part


def _document(members: list[tuple[bytes, bytes]], arrays: dict[bytes, list[bytes]]) -> bytes:
    items = [k + b":" + v for k, v in members]
    items.extend(k + b":[" + b",".join(elements) + b"]" for k, elements in arrays.items())
    return b"{" + b",".join(items) + b"}"


def _turns(api: Api, elements: list[bytes]) -> bool:
    """Whether ``elements`` are items of the API's conversation (not tool definitions, say)."""
    for element in elements:
        try:
            item = orjson.loads(element)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(item, dict):
            return False
        if "role" in item or (api is Api.GEMINI and "parts" in item):
            continue
        kind = item.get("type")
        if (
            api is Api.RESPONSES
            and isinstance(kind, str)
            and kind.endswith(("message", "reasoning", "_call", "_output"))
        ):
            continue
        return False
    return True


def marker(cut: CutBody, limit: int) -> Message:
    """The message that stands where the request's middle is not recorded."""
    text = (
        f"[{cut.left_out:,} bytes of the request not recorded: its body ({cut.size:,} bytes) is "
        f"over the proxy's limit of {limit:,} bytes, so only its first and last bytes were kept]"
    )
    return {"role": "cab-trace", "parts": [{"type": "text", "content": text}]}


@dataclass
class CutRequest:
    """What a cut request asked for, as far as its ends say."""

    info: RequestInfo
    members: frozenset[str]
    """Names of the members read whole (``stream`` absent: whether it streamed is unknown)."""


def parse_cut_request(api: Api, cut: CutBody, path: str, limit: int) -> CutRequest:
    """The request a :class:`CutBody` was, as far as its head and tail say, with a ``cab-trace``
    message among its input messages where the rest was left out. Never raises."""
    head = head_part(cut.head)
    tail = tail_part(cut.tail) if cut.tail else _Part()
    seen = {k for k, _ in head.members}
    members = head.members + [(k, v) for k, v in tail.members if k not in seen]
    arrays: dict[bytes, list[bytes]] = {}
    if head.cut_key is not None and head.cut_array:
        arrays[head.cut_key] = head.elements
    first = parse_request(api, _document(members, arrays), path)
    # The tail's array has no name in the tail: taken as the conversation when its items are the
    # conversation's (it is what grows past any limit), and that is not whole already.
    conversation = _CONVERSATION[api]
    if (
        tail.cut_array
        and conversation not in seen | {k for k, _ in tail.members}
        and _turns(api, tail.elements)
    ):
        arrays[conversation] = arrays.get(conversation, []) + tail.elements
    info = parse_request(api, _document(members, arrays), path)
    shown = len(first.input_messages)
    info.input_messages = [*info.input_messages[:shown], marker(cut, limit), *info.input_messages[shown:]]
    names: set[str] = set()
    for name, _ in members:
        try:
            names.add(str(orjson.loads(name)))
        except orjson.JSONDecodeError:
            continue
    return CutRequest(info, frozenset(names))
