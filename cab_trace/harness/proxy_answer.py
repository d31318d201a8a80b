"""The answer side of a :class:`~cab_trace.harness.proxy_link.Link`: the endpoint's answer, from
its head (``1xx`` passed on, ``101`` tunnelled, an answer that is not HTTP passed on as it
comes) to its body copied to the agent as it arrives, in its framing, with the usage the proxy
asked for taken out, and observed on the side by the call's
:class:`~cab_trace.harness.answer_reader.AnswerReader` once the agent has each piece; and
whether the connections stay open for the next request.

A layer of its own: it uses only the connections' primitives
(:class:`~cab_trace.harness.proxy_pair.LinkBase`) and never the request side, which calls it.
"""

from __future__ import annotations

import select
import time

from cab_trace.harness import http11
from cab_trace.harness.answer_reader import AnswerReader
from cab_trace.harness.http11 import BodyFraming, Framing, Head, HttpError
from cab_trace.harness.proxy_exchange import Exchange
from cab_trace.harness.proxy_io import READ, AgentGone, UpstreamGone
from cab_trace.harness.proxy_pair import LinkBase
from cab_trace.llm.stream_usage import UsageStripper, stream_choices


class AnswerSide(LinkBase):
    """A link's answers: read, passed on and observed (see the module's docstring)."""

    # -- the answer's head ---------------------------------------------------------------------

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

    # -- the answer's body ---------------------------------------------------------------------

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
