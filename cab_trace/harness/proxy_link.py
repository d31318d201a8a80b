"""One agent connection relayed to the model endpoint, for :mod:`cab_trace.harness.model_proxy`.

Each connection the agent opens is a :class:`Link`: a thread of its own, and one connection to
the endpoint opened when its first request comes, kept, closed or cut exactly as the endpoint's
is. Requests and answers are read with :mod:`cab_trace.harness.http11` and forwarded the moment
their bytes arrive; a model call's answer is handed, piece by piece after the agent has it, to
its :class:`~cab_trace.harness.answer_reader.AnswerReader`. What the call was and how it ended
goes to the proxy (:meth:`ModelProxy._begin`, :meth:`ModelProxy._finish`).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cab_trace.harness import http11
from cab_trace.harness.answer_reader import AnswerReader
from cab_trace.harness.http11 import BodyFraming, Framing, Head, HttpError
from cab_trace.harness.proxy_io import READ, AgentGone, Side, UpstreamGone, reason, watch_agent
from cab_trace.harness.request_body import BodyDigest, Oversize, read_body, relay_rest
from cab_trace.llm import Api, CallRecord, detect_api
from cab_trace.llm.stream_usage import UsageStripper, ask_for_usage, stream_choices

if TYPE_CHECKING:
    from cab_trace.harness.model_proxy import ModelProxy

_BODY_METHODS = ("POST", "PUT", "PATCH")
#: Request headers the proxy sets itself for a model call it reads.
_MODEL_CALL_DROP = ("host", "accept-encoding", "content-length", "transfer-encoding", "expect")


@dataclass
class Active:
    call: CallRecord
    link: Link
    done: bool = False
    reader: AnswerReader | None = None
    digest: BodyDigest | None = None
    """A body over the limit, relayed as it came: what the record gets of it."""
    relayed_why: str = ""
    body_length: int | None = None  # ... and its Content-Length, when it had one


@dataclass
class Exchange:
    """What one response being copied needs to know."""

    item: Active | None
    method: str
    agent_version: str
    stripper: UsageStripper | None = None
    chunked_out: bool = False  # the agent gets our own chunks (the body is rewritten)
    hung_up: bool = False
    cut: str | None = None
    reset: bool = False
    problem: str | None = None
    """The answer is not what HTTP or its API sends (the connection ends after it)."""
    informational: list[int] = field(default_factory=list)
    body_unsent: bool = False
    """The endpoint stopped taking the request's body before its end (the connection ends after
    its answer)."""
    end_ns: int = 0
    """When the answer ended: stamped just *before* its last bytes go to the agent (or when the
    endpoint closed a body that ends with the connection), so that nothing the agent does in
    answer can be stamped earlier, however late this thread gets to run afterwards."""


class Link:
    """One connection from the agent and the connection to the endpoint paired with it."""

    def __init__(self, proxy: ModelProxy, sock: socket.socket) -> None:
        self.proxy = proxy
        self.agent = Side(sock)
        self.up: Side | None = None
        self._closed = False

    # -- the connection's life ---------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.proxy.stopping and self._exchange():
                pass
        except (AgentGone, UpstreamGone, OSError, ValueError):
            pass  # ValueError: a socket stop() closed
        finally:
            self.close()
            self.proxy._forget(self)

    def close(self, reset: bool = False) -> None:
        """Close both connections (``reset``: the agent's with a reset, as the endpoint's was)."""
        if self._closed:
            return
        self._closed = True
        if reset:
            # Closed with a zero linger time and no shutdown first: a reset, not an end of file.
            with contextlib.suppress(OSError):
                self.agent.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for side in (self.agent, self.up):
            if side is not None:
                if not (reset and side is self.agent):
                    with contextlib.suppress(OSError):
                        side.sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    side.sock.close()

    def _close_up(self) -> None:
        if self.up is not None:
            with contextlib.suppress(OSError):
                self.up.sock.close()
            self.up = None

    # -- reading ---------------------------------------------------------------------------------

    def _wait_request(self) -> bool:
        """Wait for bytes from the agent; False when it has closed the connection (or the
        endpoint closed the idle connection paired with it, which closes the agent's too)."""
        while not self.agent.ready():
            watched = [self.agent.sock] + ([self.up.sock] if self.up is not None else [])
            readable, _, _ = select.select(watched, [], [])
            if self.up is not None and self.up.sock in readable:
                return False  # the endpoint closed it, or sent something nobody asked for
            if self.agent.sock in readable:
                data = self.agent.sock.recv(READ)
                if not data:
                    return False
                self.agent.buf += data
        return True

    def _request_head(self) -> Head | None:
        while True:
            # Empty lines before a request are to be ignored (RFC 9112 section 2.2).
            while bytes(self.agent.buf[:1]) in (b"\r", b"\n"):
                del self.agent.buf[:1]
            end = http11.head_end(self.agent.buf) if self.agent.buf else -1
            if end >= 0:
                raw = bytes(self.agent.buf[:end])
                del self.agent.buf[:end]
                return http11.parse_request_head(raw)
            if self.agent.buf:
                data = self.agent.sock.recv(READ)
                if not data:
                    return None
                self.agent.buf += data
            elif not self._wait_request():
                return None

    def _agent_bytes(self, n: int) -> bytes:
        data = self.agent.recv(n)
        if not data:
            raise AgentGone
        return data

    def _relay_body(self, framing: BodyFraming, oversize: Oversize | None = None) -> None:
        """A request's body, from the agent to the endpoint as it comes, in its own framing
        (the rest of it after what ``oversize`` read)."""
        up = self.up
        assert up is not None
        relay_rest(oversize, framing, self._agent_bytes, self.agent.unread, up.send)

    def _up_bytes(self, exchange: Exchange, n: int = READ, timeout: float | None = None) -> bytes | None:
        """The endpoint's next bytes (b"" at end of file; None when ``timeout`` passed first),
        watching the agent meanwhile. Raises :class:`AgentGone`, :class:`UpstreamGone` (a reset)."""
        up = self.up
        assert up is not None
        if not up.ready():
            watch = [up.sock] if exchange.hung_up else [up.sock, self.agent.sock]
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                wait = None if deadline is None else max(deadline - time.monotonic(), 0)
                readable, _, _ = select.select(watch, [], [], wait)
                if up.sock in readable:
                    break
                if self.agent.sock in readable:
                    try:
                        watch_agent(self.agent)
                    except AgentGone:
                        exchange.hung_up = True
                        raise
                    watch = [up.sock]  # it sent its next request: nothing more to see there
                    continue
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        try:
            return up.recv(n)
        except ConnectionResetError:
            raise UpstreamGone("connection reset", reset=True) from None
        except ssl.SSLError as exc:
            raise UpstreamGone(f"TLS error ({exc.reason})") from None

    def _to_agent(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.agent.send(data)
        except OSError:
            raise AgentGone from None

    # -- one request and its answer ----------------------------------------------------------------

    def _exchange(self) -> bool:  # noqa: PLR0912, PLR0915 - one request's whole path, in order
        """Relay one request and its answer; True when both connections stay open for the next."""
        proxy = self.proxy
        try:
            head = self._request_head()
        except HttpError:
            self._to_agent(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        if head is None:
            return False
        started = proxy.clock.now_ns()
        try:
            framing = http11.request_framing(head)
        except HttpError:
            self._to_agent(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        if "100-continue" in head.values("expect") and head.request_version == "HTTP/1.1":
            # The proxy needs the body before it can send the request: it asks for it itself.
            self._to_agent(b"HTTP/1.1 100 Continue\r\n\r\n")
        api = detect_api(head.method, head.target)
        item: Active | None = None
        body = b""
        send_body: bytes | None = None  # None: the body is relayed as it comes
        oversize: Oversize | None = None
        if api is not None:
            got = read_body(framing, self._agent_bytes, self.agent.unread, proxy.max_request_body, proxy.held)
            if isinstance(got, Oversize):
                # Too big to hold: relayed exactly as sent (its own framing, no usage asked for).
                oversize = got
                item = proxy._begin(api, self, head, b"", started)
                item.digest, item.relayed_why = got.digest, got.why
                if framing.kind is Framing.LENGTH:
                    item.body_length = framing.length
                out = http11.rewrite_head(
                    head,
                    set_headers=[("Host", proxy.netloc), ("Accept-Encoding", "identity")],
                    drop=["expect"],
                )
            else:
                body, held = got
                item = proxy._begin(api, self, head, body, started, held=held)
                send_body = body
                if api is Api.CHAT and proxy.ask_usage:
                    added = ask_for_usage(body)  # None when the agent asked (or said no) itself
                    if added is not None:
                        send_body, item.call.usage_added = added, True
                out = self._model_call_head(head, send_body)
        else:
            out = http11.rewrite_head(head, set_headers=[("Host", proxy.netloc)], drop=["expect"])
        exchange = Exchange(item, head.method, head.request_version)
        try:
            self._send_request(out, send_body, framing, exchange, oversize)
            response = self._response_head(exchange)
            if (
                response is not None
                and item is not None
                and item.call.usage_added
                and response.status in (400, 422)
            ):
                # An endpoint that will not take stream_options: ask again as the agent did, so that
                # it gets the answer it would have had (without usage).
                response = self._ask_again(head, body, response, exchange)
        except UpstreamGone as gone:
            if item is not None:
                item.call.outcome = "unreachable" if gone.unreachable else "unanswered"
                item.call.detail = gone.reason
                if exchange.cut is not None:
                    item.call.detail = exchange.cut
                proxy._finish(item)
            self.close(reset=gone.reset)
            return False
        except AgentGone:
            if item is not None:
                item.call.outcome = "cancelled"
                item.call.detail = "the agent gave up waiting for an answer"
                proxy._finish(item)
            return False
        if response is None:  # answered as it came (no HTTP head, a tunnel): the connection ends
            if item is not None:
                proxy._finish(item, exchange)
            return False
        return self._relay_answer(head, response, exchange)

    def _model_call_head(self, head: Head, body: bytes) -> bytes:
        return http11.rewrite_head(
            head,
            set_headers=[
                ("Host", self.proxy.netloc),
                ("Accept-Encoding", "identity"),
                *(
                    [("Content-Length", str(len(body)))]
                    if body or head.method in ("POST", "PUT", "PATCH")
                    else []
                ),
            ],
            drop=_MODEL_CALL_DROP,
        )

    def _send_request(
        self,
        out: bytes,
        body: bytes | None,
        framing: BodyFraming,
        exchange: Exchange,
        oversize: Oversize | None = None,
    ) -> None:
        """Send the head (and the body: a model call's whole, else relayed as it comes) on the
        paired connection, a new one if need be; a kept connection that turns out closed before
        anything was answered is replaced once, while what was sent is still at hand."""
        for attempt in range(2):
            reused = self.up is not None
            if self.up is None:
                self.up = Side(self.proxy.connect(self.agent))
            try:
                if body is not None and len(body) > READ:
                    self.up.send(out)  # not joined first: that would copy a big body once more
                    self.up.send(body)
                else:
                    self.up.send(out + (body or b""))
                for data in oversize.raw if oversize is not None else ():
                    self.up.send(data)  # what was read of a body before it proved too big
                break
            except (BrokenPipeError, ConnectionResetError) as exc:
                self._close_up()
                if not reused or attempt or (body is None and oversize is None):
                    raise UpstreamGone(reason(exc)) from None
        if oversize is not None:
            oversize.raw = []  # sent: not held while the rest goes by
        if body is None:
            try:
                self._relay_body(framing, oversize)
            except (BrokenPipeError, ConnectionResetError):
                # The endpoint stopped taking the body (an early 413, say): what it answered, if
                # anything, goes to the agent; the body's rest is left unread, so the connection ends.
                exchange.body_unsent = True

    def _ask_again(self, head: Head, body: bytes, refused: Head, exchange: Exchange) -> Head | None:
        assert exchange.item is not None
        call = exchange.item.call
        framing = http11.response_framing(refused, head.method)
        if framing.kind is Framing.CLOSE or not http11.keeps_alive(refused, refused.response_version):
            self._close_up()
        else:
            self._discard_body(framing, exchange)
        call.usage_added, call.usage_refused = False, True
        self._send_request(self._model_call_head(head, body), body, BodyFraming(Framing.NONE), exchange)
        return self._response_head(exchange)

    def _discard_body(self, framing: BodyFraming, exchange: Exchange) -> None:
        if framing.kind is Framing.LENGTH:
            left = framing.length
            while left:
                data = self._up_bytes(exchange, min(left, READ))
                if not data:
                    raise UpstreamGone("the connection closed in an answer")
                left -= len(data)
        elif framing.kind is Framing.CHUNKED:
            reader = http11.ChunkedReader()
            while not reader.done:
                data = self._up_bytes(exchange)
                if not data:
                    raise UpstreamGone("the connection closed in an answer")
                used, _ = reader.feed(data)
                if used < len(data):
                    assert self.up is not None
                    self.up.unread(data[used:])

    def _response_head(self, exchange: Exchange) -> Head | None:
        """The final answer's head, with every ``1xx`` before it passed on; None when the answer
        was not HTTP (passed on as it came). Raises :class:`UpstreamGone` (nothing arrived),
        :class:`AgentGone` (the agent gave up waiting)."""
        up = self.up
        assert up is not None
        while True:
            try:
                end = http11.head_end(up.buf) if up.buf else -1
            except HttpError as exc:
                self._not_http(exchange, str(exc))
                return None
            if end >= 0:
                raw = bytes(up.buf[:end])
                del up.buf[:end]
                try:
                    response = http11.parse_response_head(raw)
                except HttpError as exc:
                    up.unread(raw)
                    self._not_http(exchange, str(exc))
                    return None
                if response.status == 101:
                    self._to_agent(raw)
                    self._tunnel()
                    return None
                if response.status < 200:
                    # 1xx before the final answer: passed on as they come, to an HTTP/1.1 agent
                    # (an HTTP/1.0 one may not be sent any).
                    if exchange.agent_version == "HTTP/1.1":
                        self._to_agent(raw)
                    exchange.informational.append(response.status)
                    continue
                return response
            if up.buf and not self._looks_like_http(bytes(up.buf)):
                self._not_http(exchange, "the answer does not start with a status line")
                return None
            data = self._up_bytes(exchange)
            if data is None:
                continue
            if not data:
                if up.buf:  # a head cut short: the agent gets what came, and the end
                    self._to_agent(bytes(up.buf))
                    exchange.cut = "the connection closed in the answer's head"
                raise UpstreamGone("the endpoint closed the connection without an answer")
            up.buf += data

    @staticmethod
    def _looks_like_http(start: bytes) -> bool:
        probe = start.lstrip(b"\r\n")[:5]
        return b"HTTP/"[: len(probe)] == probe

    def _not_http(self, exchange: Exchange, why: str) -> None:
        """An answer that is not HTTP/1.x: the agent gets its bytes as they come."""
        exchange.problem = f"the answer is not HTTP/1.x ({why})"
        if exchange.item is not None:
            exchange.item.call.end_ns = 0
        assert self.up is not None
        self._to_agent(bytes(self.up.buf))
        self.up.buf.clear()
        while data := self._up_bytes(exchange):
            self._to_agent(data)

    def _tunnel(self) -> None:
        """After ``101 Switching Protocols``: bytes both ways until either side closes."""
        up = self.up
        assert up is not None
        self._to_agent(bytes(up.buf))
        up.buf.clear()
        if self.agent.buf:
            up.send(bytes(self.agent.buf))
            self.agent.buf.clear()
        while True:
            readable, _, _ = select.select([up.sock, self.agent.sock], [], [])
            for source, target in ((up, self.agent), (self.agent, up)):
                if source.sock in readable:
                    data = source.sock.recv(READ)
                    if not data:
                        return
                    target.send(data)

    def _relay_answer(self, request: Head, response: Head, exchange: Exchange) -> bool:
        """Copy the answer's body; True when both connections stay open."""
        proxy, item = self.proxy, exchange.item
        try:
            framing = http11.response_framing(response, request.method)
        except HttpError as exc:
            framing = BodyFraming(Framing.CLOSE)
            exchange.problem = str(exc)
        head = response.raw
        if item is not None:
            call = item.call
            call.status = response.status
            call.content_type = response.get("Content-Type")
            call.content_encoding = response.get("Content-Encoding")
            if exchange.informational:
                call.notes.append(
                    "informational answers first: " + ", ".join(str(s) for s in exchange.informational)
                )
            item.reader = AnswerReader(call.api, call.content_type, call.content_encoding, proxy.budget)
            if call.usage_added and 200 <= response.status < 300 and framing.kind is not Framing.NONE:
                exchange.stripper = UsageStripper(stream_choices(call.request_body))
                head = self._rewritten_head(response, framing, exchange)
        try:
            if framing.kind is Framing.NONE or (framing.kind is Framing.LENGTH and framing.length == 0):
                exchange.end_ns = proxy.clock.now_ns()
            self._to_agent(head)
            self._copy(framing, exchange)
        except AgentGone:
            exchange.hung_up = True
        except UpstreamGone as gone:
            exchange.cut, exchange.reset = gone.reason, gone.reset
        ended = exchange.cut is not None or exchange.hung_up or exchange.problem is not None
        if item is not None:
            item.call.end_ns = exchange.end_ns or proxy.clock.now_ns()
            proxy._finish(item, exchange)
        if ended:
            self.close(reset=exchange.reset)
            return False
        keep = (
            framing.kind is not Framing.CLOSE
            and http11.keeps_alive(response, response.response_version)
            and http11.keeps_alive(request, request.request_version)
        )
        if exchange.stripper is not None and not exchange.chunked_out:
            keep = False  # the agent was told the body ends with the connection
        if self.up is not None and self.up.buf:
            keep = False  # the endpoint sent more than the answer: nobody's, and no next call's
        if exchange.body_unsent:
            keep = False  # the rest of the agent's body is still on its way: no next request there
        return keep

    def _rewritten_head(self, response: Head, framing: BodyFraming, exchange: Exchange) -> bytes:
        """The answer's head when the proxy takes out what it asked for: its length changes, so
        a length becomes chunks (or, for an HTTP/1.0 agent, the end of the connection)."""
        if framing.kind is Framing.CLOSE:
            return response.raw
        if exchange.agent_version == "HTTP/1.1":
            exchange.chunked_out = True
            if framing.kind is Framing.CHUNKED:
                return response.raw
            return http11.rewrite_head(
                response, set_headers=[("Transfer-Encoding", "chunked")], drop=["content-length"]
            )
        return http11.rewrite_head(
            response, set_headers=[("Connection", "close")], drop=["content-length", "transfer-encoding"]
        )

    def _copy(self, framing: BodyFraming, exchange: Exchange) -> None:  # noqa: PLR0912 - one loop per framing
        """The body, as it arrives; the agent has every piece before it is observed."""
        if framing.kind is Framing.NONE:
            return
        up = self.up
        assert up is not None
        chunks = http11.ChunkedReader() if framing.kind is Framing.CHUNKED else None
        left = framing.length if framing.kind is Framing.LENGTH else -1
        stripper = exchange.stripper
        while left != 0 and not (chunks is not None and chunks.done):
            timeout = None
            if stripper is not None and (deadline := stripper.deadline) is not None:
                timeout = max(deadline - time.monotonic(), 0)
            data = self._up_bytes(exchange, READ if left < 0 else min(left, READ), timeout)
            if data is None:
                self._forward_stripped(stripper.release(time.monotonic()) if stripper else b"", exchange)
                continue
            if not data:
                exchange.end_ns = self.proxy.clock.now_ns()
                if chunks is not None:
                    exchange.cut = "the connection closed inside the chunked body"
                elif left > 0:
                    got = framing.length - left
                    exchange.cut = f"the body ended after {got:,} of its {framing.length:,} bytes"
                break
            if chunks is not None:
                try:
                    used, payload = chunks.feed(data)
                except HttpError as exc:
                    exchange.problem = f"the chunked body is malformed ({exc})"
                    self._raw_to_end(data, exchange)
                    return
                if used < len(data):
                    up.unread(data[used:])  # not this answer's: the next read sees it
                    data = data[:used]
            else:
                payload = [data]
                if left > 0:
                    left -= len(data)
            if left == 0 or (chunks is not None and chunks.done):
                exchange.end_ns = self.proxy.clock.now_ns()  # before the agent can have it all
            self._forward(data, payload, exchange)
        if stripper is not None:
            self._forward_stripped(stripper.finish(), exchange)
            if exchange.chunked_out and exchange.cut is None:
                self._to_agent(b"0\r\n" + (chunks.trailers if chunks is not None else b"") + b"\r\n")
        if exchange.cut is not None:
            raise UpstreamGone(exchange.cut)

    def _forward(self, raw: bytes, payload: list[bytes], exchange: Exchange) -> None:
        item = exchange.item
        call = item.call if item is not None else None
        if call is not None and call.first_chunk_ns is None and raw:
            call.first_chunk_ns = self.proxy.clock.now_ns()
        if exchange.stripper is None:
            self._to_agent(raw)
        else:
            now = time.monotonic()
            self._forward_stripped(b"".join(exchange.stripper.feed(p, now) for p in payload), exchange)
        if item is not None and item.reader is not None:
            for piece in payload:
                item.reader.feed(piece)

    def _forward_stripped(self, data: bytes, exchange: Exchange) -> None:
        if data:
            self._to_agent(http11.chunk(data) if exchange.chunked_out else data)

    def _raw_to_end(self, data: bytes, exchange: Exchange) -> None:
        """A body that cannot be framed: the agent gets the bytes as they come, to the end."""
        while data:
            self._to_agent(data)
            data = self._up_bytes(exchange) or b""
