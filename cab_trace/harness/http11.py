"""HTTP/1.1 messages as bytes, for the recording proxy: heads parsed and rewritten, bodies framed.

Pure (stdlib only, no sockets): the proxy reads bytes, asks this module where a head ends,
what it says and how the body after it is framed (RFC 9112 section 6), and forwards the
bytes it read. A head is kept as the bytes that arrived, so what is not rewritten goes on
exactly as it came (header order, case and spelling included).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

#: A head longer than this is refused (a server would answer 431; a client would give up).
MAX_HEAD = 64 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class HttpError(ValueError):
    """Bytes that are not the HTTP/1.x message they should be."""


@dataclass
class Head:
    """A request or response head: its start line's three parts and its header fields."""

    raw: bytes
    """The head exactly as it arrived, blank line included."""
    first: str
    """Method (request) or version (response)."""
    second: str
    """Request target, or status code."""
    third: str
    """Version (request), or reason phrase (response)."""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def values(self, name: str) -> list[str]:
        """Every value of header ``name``, comma-separated lists split, lower-cased."""
        lower = name.lower()
        out: list[str] = []
        for k, v in self.headers:
            if k.lower() == lower:
                out.extend(item.strip().lower() for item in v.split(",") if item.strip())
        return out

    # requests ----------------------------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.first

    @property
    def target(self) -> str:
        return self.second

    @property
    def request_version(self) -> str:
        return self.third

    # responses ---------------------------------------------------------------------------------

    @property
    def status(self) -> int:
        return int(self.second)

    @property
    def response_version(self) -> str:
        return self.first

    @property
    def reason(self) -> str:
        return self.third


def head_end(buffer: bytes | bytearray) -> int:
    """Where the head in ``buffer`` ends (just past its blank line), or -1 if it has not
    ended yet. Raises :class:`HttpError` when a head is longer than :data:`MAX_HEAD`."""
    # Leading empty lines before a request are to be ignored (RFC 9112 section 2.2).
    match = _HEAD_END.search(buffer, 0, MAX_HEAD + 4)
    if match is None:
        if len(buffer) > MAX_HEAD:
            raise HttpError(f"a head longer than {MAX_HEAD:,} bytes")
        return -1
    return match.end()


def _fields(lines: Sequence[bytes]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            raise HttpError("a folded header line (obsolete line folding)")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise HttpError(f"not a header line: {line[:60]!r}")
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return headers


def _lines(raw: bytes) -> list[bytes]:
    return [line.rstrip(b"\r") for line in raw.lstrip(b"\r\n").split(b"\n")]


def parse_request_head(raw: bytes) -> Head:
    """A request head (``raw`` as :func:`head_end` delimited it). Raises :class:`HttpError`."""
    lines = _lines(raw)
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1] or not _TOKEN.match(parts[0]):
        raise HttpError(f"not a request line: {lines[0][:80]!r}")
    version = parts[2].decode("latin-1")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(f"not HTTP/1.x: {version[:20]!r}")
    return Head(raw, parts[0].decode("latin-1"), parts[1].decode("latin-1"), version, _fields(lines[1:]))


def parse_response_head(raw: bytes) -> Head:
    """A response head. Raises :class:`HttpError`."""
    lines = _lines(raw)
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise HttpError(f"not a status line: {lines[0][:80]!r}")
    return Head(
        raw,
        version.decode("latin-1"),
        code.decode("latin-1"),
        reason.decode("latin-1"),
        _fields(lines[1:]),
    )


class Framing(Enum):
    """How a body is delimited."""

    NONE = "none"  # no body at all
    LENGTH = "length"  # Content-Length bytes
    CHUNKED = "chunked"  # chunks, ending with a zero-size one and the trailers
    CLOSE = "close"  # everything until the connection closes (responses only)


@dataclass(frozen=True)
class BodyFraming:
    kind: Framing
    length: int = 0


def _content_length(head: Head) -> int | None:
    values = {v.strip() for k, v in head.headers if k.lower() == "content-length"}
    if not values:
        return None
    # "Content-Length: 5, 5" and repeated equal fields are one length; anything else is not.
    items = {item.strip() for value in values for item in value.split(",")}
    if len(items) != 1 or not next(iter(items)).isdigit():
        raise HttpError(f"Content-Length {sorted(values)!r} is not one number")
    return int(next(iter(items)))


def request_framing(head: Head) -> BodyFraming:
    """How a request's body is delimited (RFC 9112 section 6.3, items 4 to 6)."""
    codings = head.values("transfer-encoding")
    if codings:
        if codings[-1] != "chunked":
            raise HttpError("a request body whose length cannot be known (Transfer-Encoding without chunked)")
        return BodyFraming(Framing.CHUNKED)
    length = _content_length(head)
    if length:
        return BodyFraming(Framing.LENGTH, length)
    return BodyFraming(Framing.NONE)


def response_framing(head: Head, request_method: str) -> BodyFraming:
    """How a response's body is delimited, given the request's method (RFC 9112 section 6.3)."""
    status = head.status
    if request_method == "HEAD" or status < 200 or status in (204, 304):
        return BodyFraming(Framing.NONE)
    codings = head.values("transfer-encoding")
    if codings:
        return BodyFraming(Framing.CHUNKED if codings[-1] == "chunked" else Framing.CLOSE)
    length = _content_length(head)
    if length is not None:
        return BodyFraming(Framing.LENGTH, length) if length else BodyFraming(Framing.NONE)
    return BodyFraming(Framing.CLOSE)


def keeps_alive(head: Head, version: str) -> bool:
    """Whether the connection stays open after this message (its ``Connection`` header and
    its version's default)."""
    tokens = head.values("connection")
    if "close" in tokens:
        return False
    return version == "HTTP/1.1" or "keep-alive" in tokens


def rewrite_head(
    head: Head,
    *,
    set_headers: Iterable[tuple[str, str]] = (),
    drop: Iterable[str] = (),
) -> bytes:
    """The head's bytes with the headers named in ``drop`` (and those set) taken out and
    ``set_headers`` added at the end; everything else as it came."""
    gone = {name.lower() for name in drop} | {name.lower() for name, _ in set_headers}
    lines = head.raw.lstrip(b"\r\n").split(b"\n")
    start, rest = lines[0].rstrip(b"\r"), lines[1:]
    kept = [start]
    for line in rest:
        bare = line.rstrip(b"\r")
        if not bare:
            continue
        if bare.partition(b":")[0].decode("latin-1").lower() in gone:
            continue
        kept.append(bare)
    kept.extend(f"{name}: {value}".encode("latin-1") for name, value in set_headers)
    return b"\r\n".join(kept) + b"\r\n\r\n"


class ChunkedReader:
    """Reads a chunked body as it arrives: where it ends in the bytes given, and its payload.

    :meth:`feed` takes the next bytes and returns how many of them belong to the body (all of
    them until the last chunk and the trailers have arrived) and the payload they carry;
    :attr:`done` says the body is complete. Raises :class:`HttpError` on bytes that are not
    chunked coding."""

    _SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

    def __init__(self) -> None:
        self._state = self._SIZE
        self._line = bytearray()  # a size or trailer line read so far
        self._left = 0  # payload bytes left in this chunk
        self.trailers = b""

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes | memoryview) -> tuple[int, list[bytes]]:
        payload: list[bytes] = []
        view = memoryview(data)
        pos, n = 0, len(view)
        while pos < n and self._state != self._DONE:
            if self._state == self._DATA:
                take = min(self._left, n - pos)
                payload.append(bytes(view[pos : pos + take]))
                pos += take
                self._left -= take
                if not self._left:
                    self._state = self._DATA_END
                continue
            end = bytes(view[pos : min(n, pos + 4096)]).find(b"\n")
            if end < 0:
                self._line += view[pos:]
                pos = n
                if len(self._line) > 8192:
                    raise HttpError("a chunk-size or trailer line longer than 8 KB")
                continue
            self._line += view[pos : pos + end + 1]
            pos += end + 1
            line, self._line = bytes(self._line), bytearray()
            self._line_done(line)
        return pos, payload

    def _line_done(self, line: bytes) -> None:
        bare = line.rstrip(b"\r\n")
        if self._state == self._DATA_END:
            if bare:
                raise HttpError("chunk data longer than its size")
            self._state = self._SIZE
        elif self._state == self._SIZE:
            size_text = bare.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError(f"not a chunk size: {size_text[:20]!r}") from None
            if size < 0:
                raise HttpError("a negative chunk size")
            if size:
                self._left, self._state = size, self._DATA
            else:
                self._state = self._TRAILER
        elif bare:  # a trailer field
            self.trailers += line
        else:
            self._state = self._DONE


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (empty data: nothing, the last chunk is apart)."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"
