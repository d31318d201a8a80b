"""A model call's request body from the agent, in bounded memory, for :mod:`cab_trace.harness.proxy_link`.

The proxy reads a model call's body whole before sending it on: it needs the JSON to ask a
streamed chat call for usage, and to record the request. The agent is untrusted code and may
send a body of any size, so that holds only up to a limit (:data:`MAX_BODY` per call, and
:data:`SHARED_BYTES` for all the calls being read at once). Past it, the body goes to the
endpoint as it comes, exactly the bytes the agent sent in the agent's own framing (no usage
asked for), and the record gets its size, the sha256 of all of it (computed as it passes:
the request hash stays the hash of the whole body) and its first and last
:data:`~cab_trace.llm.partial.KEEP` bytes (:class:`BodyDigest`), from which
:func:`~cab_trace.llm.partial.parse_cut_request` reads what it can.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cab_trace.harness.answer_reader import Budget
from cab_trace.harness.http11 import BodyFraming, ChunkedReader, Framing
from cab_trace.harness.proxy_io import READ
from cab_trace.llm.partial import KEEP, CutBody

#: The largest request body read whole. Real requests reach tens of MB (a long context, a few
#: images or PDFs as base64): Anthropic takes up to 32 MB, OpenAI up to 50 MB of images in one
#: request. 64 MiB is above what any of them accepts, so a body past it is one the endpoint
#: refuses anyway, or a flood.
MAX_BODY = 64 << 20
#: Bytes of request bodies held by all calls together (read, and not yet recorded). A call that
#: would go past it is relayed as it comes, as a body over the limit is.
SHARED_BYTES = 256 << 20


class BodyDigest:
    """A body that passes through, piece by piece: its size, its sha256, and its first and last
    ``keep`` bytes (memory: twice ``keep`` at most)."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._sha = hashlib.sha256()
        self.size = 0
        self._head = bytearray()
        self._tail = bytearray()

    def feed(self, data: bytes) -> None:
        self._sha.update(data)
        self.size += len(data)
        if len(self._head) < self._keep:
            room = self._keep - len(self._head)
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > 2 * self._keep:
                # Amortised: cut back to `keep` once it holds twice that.
                del self._tail[: -self._keep]

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def cut(self) -> CutBody:
        return CutBody(self.size, bytes(self._head), bytes(self._tail[-self._keep :]))


@dataclass
class Oversize:
    """A body found, while it was read, to be one not to hold: what was read of it, to send
    first, and how to read on."""

    raw: list[bytes]
    """What was read so far, exactly as the agent sent it (chunked framing included)."""
    digest: BodyDigest
    """Fed with the payload read so far."""
    why: str
    """Why it is relayed, in words (for the record)."""
    left: int = 0
    """Bytes still to come of a body with a ``Content-Length``."""
    chunks: ChunkedReader | None = None
    """A chunked body's reader, part way through it."""


def _over(limit: int) -> str:
    return f"over the proxy's limit of {limit:,} bytes"


def _shared(held: Budget) -> str:
    return f"more than the {held.limit:,} bytes the proxy holds of all requests at once"


def read_body(
    framing: BodyFraming,
    pull: Callable[[int], bytes],
    unread: Callable[[bytes], None],
    limit: int,
    held: Budget,
) -> tuple[bytes, int] | Oversize:
    """A request's whole body, unchunked, and how many bytes of ``held`` it took (to be given
    back once the record has read it); or, for a body over ``limit`` (or past what ``held``
    has room for), an :class:`Oversize` to relay. ``pull(n)`` returns the agent's next bytes
    (at most ``n``; raises when it is gone); ``unread`` puts back bytes after the body.

    Raises:
        HttpError: a chunked body that is not chunked coding.
    """
    if framing.kind is Framing.LENGTH:
        length = framing.length
        if length > limit:
            return Oversize([], BodyDigest(), _over(limit), left=length)
        if not held.take(length):
            return Oversize([], BodyDigest(), _shared(held), left=length)
        parts, left = [], length
        try:
            while left:
                data = pull(min(left, READ))
                parts.append(data)
                left -= len(data)
        except BaseException:
            held.give(length)
            raise
        return b"".join(parts), length
    if framing.kind is Framing.CHUNKED:
        return _read_chunked(pull, unread, limit, held)
    return b"", 0


def _read_chunked(
    pull: Callable[[int], bytes], unread: Callable[[bytes], None], limit: int, held: Budget
) -> tuple[bytes, int] | Oversize:
    # Only the bytes as sent are kept while reading (to send on exactly so if the body turns out
    # too big); the payload is taken out of them once, at the end or when it is relayed after all.
    reader = ChunkedReader()
    raw: list[bytes] = []
    size = taken = 0
    try:
        while not reader.done:
            data = pull(READ)
            used, pieces = reader.feed(data)
            if used < len(data):
                unread(data[used:])
                data = data[:used]
            size += sum(len(p) for p in pieces)
            del pieces
            why = _over(limit) if size > limit else None
            if why is None and not held.take(len(data)):
                why = _shared(held)
            raw.append(data)
            if why is not None:
                digest = BodyDigest()
                for piece in _payload(raw, consume=False):
                    digest.feed(piece)
                held.give(taken)
                taken = 0
                return Oversize(raw, digest, why, chunks=reader)
            taken += len(data)
    except BaseException:
        held.give(taken)
        raise
    body = b"".join(_payload(raw))
    held.give(taken - len(body))
    return body, len(body)


def _payload(raw: list[bytes], consume: bool = True) -> Iterator[bytes]:
    """The payload of the chunked bytes in ``raw`` (with ``consume``, emptied on the way, so
    that the two are not both held whole)."""
    reader = ChunkedReader()
    if not consume:
        for data in raw:
            yield from reader.feed(data)[1]
        return
    raw.reverse()
    while raw:
        yield from reader.feed(raw.pop())[1]


def relay_rest(
    oversize: Oversize | None,
    framing: BodyFraming,
    pull: Callable[[int], bytes],
    unread: Callable[[bytes], None],
    send: Callable[[bytes], None],
) -> None:
    """The rest of a body, from the agent to the endpoint as it comes, in its own framing (all
    of it when ``oversize`` is None; else what follows what was read of it, each payload piece
    also fed to its digest after it has been sent).

    Raises:
        HttpError: a chunked body that is not chunked coding.
    """
    digest = oversize.digest if oversize is not None else None
    if framing.kind is Framing.LENGTH:
        left = oversize.left if oversize is not None else framing.length
        while left:
            data = pull(min(left, READ))
            send(data)
            if digest is not None:
                digest.feed(data)
            left -= len(data)
    elif framing.kind is Framing.CHUNKED:
        reader = oversize.chunks if oversize is not None and oversize.chunks is not None else ChunkedReader()
        while not reader.done:
            data = pull(READ)
            used, pieces = reader.feed(data)
            send(data[:used])
            if digest is not None:
                for piece in pieces:
                    digest.feed(piece)
            if used < len(data):
                unread(data[used:])
