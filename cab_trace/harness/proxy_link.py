"""One agent connection relayed to the model endpoint, for :mod:`cab_trace.harness.model_proxy`.

Each connection the agent opens is a :class:`Link`: a thread of its own, and one connection to
the endpoint opened when its first request comes, kept, closed or cut exactly as the endpoint's
is. Requests and answers are read with :mod:`cab_trace.harness.http11` and forwarded the moment
their bytes arrive; a model call's answer is handed, piece by piece after the agent has it, to
its :class:`~cab_trace.harness.answer_reader.AnswerReader`. What the call was and how it ended
goes to the proxy (:meth:`ModelProxy._begin`, :meth:`ModelProxy._finish`).

A link is built in layers, each using only those below it: its two connections and the bytes
on them (:class:`~cab_trace.harness.proxy_pair.LinkBase`), the answer side
(:class:`~cab_trace.harness.proxy_answer.AnswerSide`), and here the request side and the
connection's life, which drive them. What a call in flight carries (:class:`Active`,
:class:`Exchange`) is in :mod:`cab_trace.harness.proxy_exchange` and re-exported here.
"""

from __future__ import annotations

import select

from cab_trace.harness import http11
from cab_trace.harness.http11 import BodyFraming, Framing, Head, HttpError
from cab_trace.harness.proxy_answer import AnswerSide
from cab_trace.harness.proxy_exchange import Active, Exchange
from cab_trace.harness.proxy_io import READ, AgentGone, Side, UpstreamGone, reason
from cab_trace.harness.request_body import Oversize, read_body, relay_rest
from cab_trace.llm import Api, detect_api
from cab_trace.llm.stream_usage import ask_for_usage

__all__ = ["Active", "Exchange", "Link"]

_BODY_METHODS = ("POST", "PUT", "PATCH")
#: Request headers the proxy sets itself for a model call it reads.
_MODEL_CALL_DROP = ("host", "accept-encoding", "content-length", "transfer-encoding", "expect")


class Link(AnswerSide):
    """One connection from the agent and the connection to the endpoint paired with it."""

    # -- the connection's life -----------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.proxy.stopping and self._exchange():
                pass
        except (AgentGone, UpstreamGone, OSError, ValueError):
            pass  # ValueError: a socket stop() closed
        finally:
            self.close()
            self.proxy._forget(self)

    # -- reading -------------------------------------------------------------------------------

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

    # -- one request and its answer ------------------------------------------------------------

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
