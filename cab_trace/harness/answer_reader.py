"""Reading a model's answer on the side, while the proxy copies it to the agent.

The copy hands each piece of the body (after HTTP framing, before content coding) to
:meth:`AnswerReader.feed`, which only appends it to a queue: the copy never waits for the
reading. A thread of the reader's own decodes (gzip, deflate), finds out what the body really
is (an event stream or a JSON document, whatever its ``Content-Type`` says) and parses it with
the pure parsers of :mod:`cab_trace.llm`.

Memory and lag are bounded, whatever the answer's size: the queue holds at most
:data:`QUEUE_BYTES` per call (and :data:`SHARED_BYTES` for all calls together); when the reading
falls further behind, the oldest pieces are dropped and the stream is read on from its next
event (the record says how many bytes were not read). So when the agent has its last byte, what
is left to read is a few MB at most: the record follows within a fraction of a second. A busy
machine that slows the reading down loses nothing that fits in the queue. A JSON answer longer
than :data:`JSON_BYTES` is not parsed. The parsers themselves keep bounded text
(:mod:`cab_trace.llm.bounded`) and skip over-long events.
"""

from __future__ import annotations

import collections
import threading
import time
import zlib
from dataclasses import dataclass, field

import orjson

from cab_trace.llm import Api, ResponseAccumulator
from cab_trace.llm.wire_types import ResponseInfo

#: Bytes one call's reader may have waiting.
QUEUE_BYTES = 4 * 1024 * 1024
#: Bytes the readers of all calls may have waiting together.
SHARED_BYTES = 32 * 1024 * 1024
#: A JSON answer (not a stream) longer than this, decoded, is not parsed.
JSON_BYTES = 4 * 1024 * 1024
#: Bytes parsed at a time before letting the threads that copy have the interpreter.
_SLICE = 64 * 1024
#: Decoded bytes produced at a time from a compressed body (a small body can inflate hugely).
_INFLATE = 256 * 1024
_SSE_STARTS = (b"data:", b"event:", b"id:", b"retry:", b":")


class Budget:
    """Bytes waiting in all readers together."""

    def __init__(self, limit: int = SHARED_BYTES) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


@dataclass
class ReadResult:
    """What reading the answer found."""

    info: ResponseInfo
    sse: bool = False
    """Read as an event stream."""
    problem: str | None = None
    """Why the answer could not be read as its API's (not JSON, not decodable), in words."""
    cut: str | None = None
    """The compressed body ended before its compressed stream did."""
    notes: list[str] = field(default_factory=list)


def _describe(data: bytes) -> str:
    head = data.lstrip()[:24]
    if head.startswith(b"<"):
        return "HTML or XML"
    return f"starting {head[:16].decode('utf-8', 'replace')!r}" if head else "empty"


class AnswerReader:
    """One answer, read on the side. :meth:`feed` and :meth:`close` from the copying thread;
    :meth:`result` once, from the recorder.

    Args:
        api: the request's API.
        content_type: the answer's ``Content-Type``.
        content_encoding: the answer's ``Content-Encoding``.
        budget: shared by every call's reader.
    """

    def __init__(
        self,
        api: Api,
        content_type: str | None,
        content_encoding: str | None,
        budget: Budget,
        *,
        queue_bytes: int = QUEUE_BYTES,
    ) -> None:
        self._api = api
        self._type = (content_type or "").lower()
        self._encoding = (content_encoding or "").strip().lower()
        self._budget = budget
        self._queue_bytes = queue_bytes
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._dropped = 0  # bytes dropped since the reader last looked
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.acc = ResponseAccumulator(api)
        self.result_ = ReadResult(self.acc.info)
        # Reading state (the reader's thread only).
        self._mode: str | None = None  # "sse" or "json", once the first bytes are seen
        self._sniffed = b""
        self._json: list[bytes] = []
        self._json_size = 0
        self._inflate: zlib._Decompress | None = None
        self._decoding = self._encoding in ("gzip", "x-gzip", "deflate")
        self._broken = False  # lost bytes of a compressed body: nothing after them can be decoded
        self._unread = 0
        if self._encoding and self._encoding != "identity" and not self._decoding:
            self.result_.notes.append(f"the answer is {self._encoding}-encoded; cab-trace does not read it")

    # -- the copying thread ----------------------------------------------------------------------

    def feed(self, piece: bytes) -> None:
        """The next bytes of the body, as the agent has them now. Never waits."""
        if not piece:
            return
        n = len(piece)
        with self._cond:
            # The reading is behind: it reads on from what is newer (the end of a stream, with
            # its usage, is what matters most), within this call's queue and the shared budget.
            while self._queue and self._queued + n > self._queue_bytes:
                self._drop_oldest()
            while not self._budget.take(n):
                if not self._queue:
                    self._dropped += n
                    break
                self._drop_oldest()
            else:
                self._queue.append(piece)
                self._queued += n
            self._cond.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cab-trace-answer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """No more bytes will come."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _drop_oldest(self) -> None:
        piece = self._queue.popleft()
        self._queued -= len(piece)
        self._budget.give(len(piece))
        self._dropped += len(piece)

    def _drop_queue(self) -> None:
        while self._queue:
            self._drop_oldest()

    # -- the recorder ----------------------------------------------------------------------------

    def result(self) -> ReadResult:
        """Everything read (waits for the reader's thread to finish what was queued)."""
        self.close()
        if self._thread is not None:
            self._thread.join()
        else:
            self._run()
        return self.result_

    # -- the reader's thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed and not self._dropped:
                        self._cond.wait()
                    dropped, self._dropped = self._dropped, 0
                    if self._queue:
                        piece = self._queue.popleft()
                        self._queued -= len(piece)
                        self._budget.give(len(piece))
                    else:
                        piece = b""
                    done = self._closed and not self._queue and not piece
                if dropped:
                    self._lost(dropped)
                if piece:
                    self._read(piece)
                if done:
                    self._end()
                    return
        except Exception as exc:  # noqa: BLE001 - the answer went to the agent; only its record is short
            self.result_.problem = (
                self.result_.problem or f"the recorder could not read it ({type(exc).__name__})"
            )
            with self._cond:
                self._drop_queue()
                self._dropped = 0

    def _lost(self, n: int) -> None:
        """``n`` bytes went to the agent unread (the reader was behind)."""
        self._unread += n
        if self._decoding:
            self._broken = True  # a compressed stream cannot be picked up mid-way
        elif self._mode == "sse":
            self.acc.skip(n)
        elif self._mode == "json":
            self._json, self._json_size = [], JSON_BYTES + 1  # not parsed
        else:
            self._mode = "lost"

    def _read(self, piece: bytes) -> None:
        if self._broken:
            self._unread += len(piece)
            return
        if not self._decoding:
            self._decoded(piece)
            return
        if self._inflate is None:
            deflate = self._encoding == "deflate" and piece[:1] != b"\x78"  # raw deflate, no zlib header
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS if deflate else 32 + zlib.MAX_WBITS)
        inflate = self._inflate
        data = piece
        try:
            while data and not inflate.eof:
                out = inflate.decompress(data, _INFLATE)
                self._decoded(out)
                data = inflate.unconsumed_tail
        except zlib.error as exc:
            self._broken = True
            self.result_.problem = f"the {self._encoding}-encoded body cannot be decoded ({exc})"

    def _decoded(self, data: bytes) -> None:
        if not data:
            return
        if self._mode is None:
            self._sniffed += data
            stripped = self._sniffed.lstrip()
            if len(stripped) < 8 and b"\n" not in stripped:
                return
            self._choose(stripped)
            data, self._sniffed = self._sniffed, b""
        if self._mode == "sse":
            view = memoryview(data)
            for start in range(0, len(data), _SLICE):
                self.acc.feed_bytes(bytes(view[start : start + _SLICE]))
                if start + _SLICE < len(data):
                    time.sleep(0)  # let the threads that copy have the interpreter
        elif self._mode == "json":
            self._json_size += len(data)
            if self._json_size <= JSON_BYTES:
                self._json.append(data)
            else:
                self._json = []

    def _choose(self, start: bytes) -> None:
        """What the body is, from its first bytes and its label."""
        labelled_sse = "text/event-stream" in self._type
        looks_sse = start.startswith(_SSE_STARTS)
        looks_json = start[:1] in (b"{", b"[")
        if looks_sse or (labelled_sse and not looks_json):
            self._mode = "sse"
            if not labelled_sse:
                self.result_.notes.append(
                    f"labelled {self._type or 'without a type'}, but is an event stream"
                )
        else:
            self._mode = "json"
            if labelled_sse:
                self.result_.notes.append("labelled text/event-stream, but is not an event stream")
        self.result_.sse = self._mode == "sse"

    def _end(self) -> None:
        result = self.result_
        if self._mode is None and self._sniffed:
            self._choose(self._sniffed.lstrip() or self._sniffed)
            data, self._sniffed = self._sniffed, b""
            self._decoded(data)
        if self._decoding and self._inflate is not None and not self._inflate.eof and not self._broken:
            result.cut = f"the {self._encoding}-encoded body ended before its compressed stream did"
        if self._mode == "json" and self._json_size:
            if self._json_size > JSON_BYTES:
                result.notes.append(f"the answer ({self._json_size:,} bytes) was too long to read")
            else:
                body = b"".join(self._json)
                self._json = []
                try:
                    orjson.loads(body)
                except orjson.JSONDecodeError:
                    result.problem = result.problem or f"the answer is not JSON ({_describe(body)})"
                else:
                    self.acc.feed_json(body)
        result.info = self.acc.info
        # Dropped bytes of a plain event stream are counted by its parser, which skipped them.
        plain_sse = self._mode == "sse" and not self._decoding
        unread = result.info.unread_bytes + (0 if plain_sse else self._unread)
        if unread:
            result.info.unread_bytes = unread
            result.notes.append(
                f"{unread:,} bytes of the answer were not read: the recorder fell behind, "
                "or an event was too long"
            )
