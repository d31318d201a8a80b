"""The recording proxy between the agent and its model endpoint.

The run starts one whenever the adapter takes an ``{endpoint}``; the agent gets the proxy's
URL (same path as the real endpoint) and the proxy forwards every request to the real one.
It is thin I/O around pure parsing (STYLE.md item 14): HTTP/1.1 framing in
:mod:`cab_trace.harness.http11`, the model APIs in :mod:`cab_trace.llm`. Bytes go to the agent
the moment they arrive, one write per read, and are read on the side
(:mod:`cab_trace.harness.answer_reader`); the finished :class:`~cab_trace.llm.CallRecord` goes
to a recorder thread, so the agent never waits for spans to be built or redacted.

**Invisible.** Each connection the agent opens gets one connection to the endpoint of its own,
opened when its first request comes, and kept, closed or cut exactly as the endpoint's is:

- heads go on as they came (only ``Host`` is the endpoint's), bodies byte for byte in the
  endpoint's own framing, ``1xx`` answers (``103 Early Hints``) passed on before the final one
  (to an HTTP/1.1 agent, as HTTP/1.1 requires), an HTTP/1.0 answer as HTTP/1.0;
- an answer cut short (under its ``Content-Length``, inside a chunk, a reset connection) is
  cut short for the agent too: the agent's connection ends as the endpoint's did;
- an endpoint that closes an idle connection closes the agent's;
- it listens with a real backlog and a thread per connection: concurrent calls do not queue.

Three deliberate differences, all in model-API calls:

- A streamed chat request that did not ask for usage is sent upstream with
  ``stream_options.include_usage``; the usage-only chunk and the ``"usage": null`` members
  this adds are taken out on the way back (:class:`~cab_trace.llm.stream_usage.UsageStripper`,
  which never holds the endpoint's own bytes back for more than a few milliseconds).
- They go upstream with ``Accept-Encoding: identity``, so the proxy can read the answer (an
  answer compressed anyway is passed on as it came and read on the side when it is gzip or
  deflate).
- ``Expect: 100-continue`` is answered by the proxy, which needs the body to forward it.

Nothing about request headers is recorded (so no ``Authorization``, ``api-key`` or ``x-api-key``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import itertools
import queue
import select
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from cab_trace.clock import RunClock
from cab_trace.harness import http11
from cab_trace.harness.answer_reader import AnswerReader, Budget, ReadResult
from cab_trace.harness.http11 import BodyFraming, Framing, Head, HttpError
from cab_trace.llm import Api, CallRecord, detect_api, parse_request
from cab_trace.llm.call import request_hash
from cab_trace.llm.stream_usage import UsageStripper, ask_for_usage, stream_choices
from cab_trace.llm.wire import RequestInfo

CallFn = Callable[[CallRecord], None]

#: Bytes read from a socket at a time.
_READ = 256 * 1024
#: Connections waiting to be accepted: far more than any agent opens at once.
BACKLOG = 1024
#: How long stop() lets calls still in flight finish on their own before recording them as cut.
_STOP_GRACE_S = 0.5
#: Request headers the proxy sets itself for a model call it reads.
_BODY_METHODS = ("POST", "PUT", "PATCH")
_MODEL_CALL_DROP = ("host", "accept-encoding", "content-length", "transfer-encoding", "expect")


class _AgentGone(Exception):
    """The agent closed (or reset) its connection."""


class _UpstreamGone(Exception):
    """The endpoint could not be reached (``unreachable``), or closed or reset the connection."""

    def __init__(self, reason: str, reset: bool = False, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reset = reset
        self.unreachable = unreachable


class _Side:
    """One socket and the bytes read from it that are not used yet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def ready(self) -> bool:
        """Bytes can be had without waiting."""
        if self.buf:
            return True
        pending = getattr(self.sock, "pending", None)
        return bool(pending is not None and pending())

    def recv(self, n: int = _READ) -> bytes:
        """Buffered bytes first, else what one read gives (b"" at end of file)."""
        if self.buf:
            data = bytes(self.buf[:n])
            del self.buf[:n]
            return data
        return self.sock.recv(n)

    def unread(self, data: bytes) -> None:
        self.buf[:0] = data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


@dataclass
class _Active:
    call: CallRecord
    link: _Link
    done: bool = False
    reader: AnswerReader | None = None


@dataclass
class _Exchange:
    """What one response being copied needs to know."""

    item: _Active | None
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


class ModelProxy:
    """Start with :meth:`start` (returns the URL to give the agent), stop with :meth:`stop`.

    Args:
        upstream: the real endpoint, ``http(s)://host[:port][/path]``.
        on_call: called with each finished model call, in a recorder thread, in the order
            calls finish. Calls still waiting when the proxy stops are finished by :meth:`stop`.
        host: the address to listen on (loopback; the Docker bridge's gateway for an agent
            in a container).
        ask_usage: ask streamed chat calls for usage when the agent did not.
        clock: the run's clock, for every time recorded (a fresh one by default).
    """

    def __init__(
        self,
        upstream: str,
        on_call: CallFn,
        host: str = "127.0.0.1",
        ask_usage: bool = True,
        clock: RunClock | None = None,
    ):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {upstream!r}")
        self.upstream = upstream
        self._tls = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._tls else 80)
        self._netloc = parsed.netloc.rpartition("@")[2]
        self._path = parsed.path.rstrip("/")
        self._listen = host
        self._on_call = on_call
        self.ask_usage = ask_usage
        self.clock = clock or RunClock()
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified when a call leaves _active
        self._active: dict[int, _Active] = {}
        self._links: set[_Link] = set()
        self._counter = itertools.count(1)
        self._seen: dict[str, int] = {}
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._recorder: threading.Thread | None = None
        self._ssl: ssl.SSLContext | None = None
        self.budget = Budget()
        self.stopping = False
        self.calls = 0
        self.failed_callbacks = 0
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Listen on a free port; returns the URL the agent should use as its endpoint."""
        family = socket.AF_INET6 if ":" in self._listen else socket.AF_INET
        listener = socket.create_server((self._listen, 0), family=family, backlog=BACKLOG)
        self._listener = listener
        if self._tls:
            self._ssl = ssl.create_default_context()
        threading.Thread(
            target=self._accept_loop, args=(listener,), name="cab-trace-model-proxy", daemon=True
        ).start()
        self._recorder = threading.Thread(target=self._record_loop, name="cab-trace-model-calls", daemon=True)
        self._recorder.start()
        self.url = f"http://{self._listen}:{listener.getsockname()[1]}{self._path}"
        return self.url

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.01)  # out of descriptors for now: the connection waits in the backlog
                    continue
                return  # stop() closed the listener
            if self.stopping:
                conn.close()
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(self, conn)
            with self._lock:
                self._links.add(link)
            threading.Thread(target=link.run, name="cab-trace-model-proxy-conn", daemon=True).start()

    def stop(self) -> None:
        """Stop listening; record calls still in flight as they stand; wait for the recorder.
        Idempotent."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self.stopping = True
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
        listener.close()
        # An agent that exits right after reading its last answer can leave that call still
        # finishing here: give calls a moment to end as they really did.
        with self._lock:
            self._settled.wait_for(lambda: not self._active, timeout=_STOP_GRACE_S)
        now = self.clock.now_ns()
        with self._lock:
            active, self._active = list(self._active.values()), {}
            links, self._links = list(self._links), set()
            for item in active:
                item.done = True
        for item in active:
            call = dataclasses.replace(item.call, end_ns=now, notes=list(item.call.notes))
            call.outcome = "unanswered" if call.status is None else "stream_cut"
            call.detail = "still waiting when the agent finished"
            reader = item.reader
            self._queue.put(functools.partial(self._settle_stopped, call, reader))
        for link in links:
            link.close()
        self._queue.put(None)
        if self._recorder is not None:
            self._recorder.join()

    def _settle_stopped(self, call: CallRecord, reader: AnswerReader | None) -> None:
        if reader is not None:
            result = reader.result()
            call.response = result.info
            call.notes.extend(result.notes)
        self._deliver(call)

    def _record_loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except Exception:  # noqa: BLE001 - a recording failure must not stop the proxy
                self.failed_callbacks += 1

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    # -- calls ---------------------------------------------------------------------------------

    def _begin(self, api: Api, link: _Link, head: Head, body: bytes, started: int) -> _Active:
        # The request is parsed and hashed by the recorder (see _deliver), not on the way upstream.
        with self._lock:
            index = next(self._counter)
            item = _Active(
                CallRecord(
                    api=api,
                    method=head.method,
                    path=head.target,
                    server_address=self._host,
                    server_port=self._port,
                    request_body_sha256="",
                    request=RequestInfo(),
                    start_ns=started,
                    index=index,
                    request_body=body,
                ),
                link,
            )
            self._active[index] = item
            self.calls += 1
        return item

    def _deliver(self, call: CallRecord) -> None:
        """In the recorder thread: read the request, then hand the call on."""
        body, call.request_body = call.request_body, b""
        call.request = parse_request(call.api, body, call.path)
        call.request_body_sha256 = request_hash(body)
        first = self._seen.setdefault(call.request_body_sha256, call.index)
        call.repeat_of = first if first != call.index else None
        self._on_call(call)

    def _finish(self, item: _Active, exchange: _Exchange | None = None) -> None:
        """The call is over: reading what is left of its answer and recording it happen in the
        recorder thread."""
        with self._lock:
            if item.done:
                return  # stop() got there first
            item.done = True
            self._active.pop(item.call.index, None)
            self._settled.notify_all()
        call = item.call
        if not call.end_ns:
            call.end_ns = self.clock.now_ns()
        reader = item.reader
        if reader is not None:
            reader.close()

        def record() -> None:
            if reader is not None or exchange is not None:
                result = reader.result() if reader is not None else ReadResult(call.response)
                _judge(call, result, exchange)
            self._deliver(call)

        self._queue.put(record)

    # -- upstream connections ------------------------------------------------------------------

    def connect(self, watch: _Side) -> socket.socket:
        """A new connection to the endpoint; gives up when the agent hangs up meanwhile.
        Raises :class:`_UpstreamGone` or :class:`_AgentGone`."""
        try:
            addresses = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise _UpstreamGone(f"host not found ({exc.strerror})", unreachable=True) from None
        reason = "no address"
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                code = sock.connect_ex(address)
                while code in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
                    readable, writable, _ = select.select([watch.sock], [sock], [], 0.25)
                    if self.stopping:
                        raise _UpstreamGone("the run ended", unreachable=True)
                    if writable:
                        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    elif readable:
                        _watch_agent(watch)
                if code:
                    reason = _reason(OSError(code, errno.errorcode.get(code, str(code))))
                    sock.close()
                    continue
                sock.setblocking(True)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._ssl is not None:
                    sock = self._ssl.wrap_socket(sock, server_hostname=self._host)
                return sock
            except (_AgentGone, _UpstreamGone):
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                reason = _reason(exc)
        raise _UpstreamGone(reason, unreachable=True)

    @property
    def netloc(self) -> str:
        return self._netloc


def _watch_agent(agent: _Side) -> None:
    """The agent's side is readable while it should be waiting: read what it sent (a pipelined
    next request stays buffered); raise :class:`_AgentGone` if it hung up."""
    try:
        data = agent.sock.recv(_READ)
    except BlockingIOError:
        return
    except OSError:
        raise _AgentGone from None
    if not data:
        raise _AgentGone
    agent.buf += data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"host not found ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _judge(call: CallRecord, result: ReadResult, exchange: _Exchange | None) -> None:
    """The call's outcome, from its status, how its answer ended and what was read of it. An
    agent that hung up after the whole answer had arrived did not cancel anything."""
    info = result.info
    call.response = info
    call.notes.extend(result.notes)
    cut = exchange.cut if exchange is not None else None
    hung_up = exchange is not None and exchange.hung_up
    problem = (exchange.problem if exchange is not None else None) or result.problem
    if call.status is not None and call.status >= 400:
        call.outcome = "http_error"
    elif hung_up and not info.complete:
        call.outcome = "cancelled"
        call.detail = (
            f"the agent closed the connection after {info.chunks} event(s)"
            if result.sse
            else "the agent closed the connection during the answer"
        )
    elif cut is not None or result.cut is not None:
        call.outcome = "stream_cut" if result.sse else "body_cut"
        call.detail = cut or result.cut or ""
    elif problem is not None:
        call.outcome, call.detail = "bad_answer", problem
    elif info.error:
        call.outcome = "api_error"
    elif result.sse and not info.complete:
        call.outcome = "stream_cut"
        call.detail = f"the connection closed after {info.chunks} event(s)"


class _Link:
    """One connection from the agent and the connection to the endpoint paired with it."""

    def __init__(self, proxy: ModelProxy, sock: socket.socket) -> None:
        self.proxy = proxy
        self.agent = _Side(sock)
        self.up: _Side | None = None
        self._closed = False

    # -- the connection's life ---------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.proxy.stopping and self._exchange():
                pass
        except (_AgentGone, _UpstreamGone, OSError, ValueError):
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
                data = self.agent.sock.recv(_READ)
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
                data = self.agent.sock.recv(_READ)
                if not data:
                    return None
                self.agent.buf += data
            elif not self._wait_request():
                return None

    def _agent_bytes(self, n: int) -> bytes:
        data = self.agent.recv(n)
        if not data:
            raise _AgentGone
        return data

    def _read_body(self, framing: BodyFraming) -> bytes:
        """A request's whole body, unchunked."""
        if framing.kind is Framing.LENGTH:
            parts, left = [], framing.length
            while left:
                data = self._agent_bytes(min(left, _READ))
                parts.append(data)
                left -= len(data)
            return b"".join(parts)
        if framing.kind is Framing.CHUNKED:
            reader, payload = http11.ChunkedReader(), []
            while not reader.done:
                data = self._agent_bytes(_READ)
                used, pieces = reader.feed(data)
                payload.extend(pieces)
                if used < len(data):
                    self.agent.unread(data[used:])
            return b"".join(payload)
        return b""

    def _relay_body(self, framing: BodyFraming) -> None:
        """A request's body, from the agent to the endpoint as it comes, in its own framing."""
        assert self.up is not None
        if framing.kind is Framing.LENGTH:
            left = framing.length
            while left:
                data = self._agent_bytes(min(left, _READ))
                self.up.send(data)
                left -= len(data)
        elif framing.kind is Framing.CHUNKED:
            reader = http11.ChunkedReader()
            while not reader.done:
                data = self._agent_bytes(_READ)
                used, _ = reader.feed(data)
                self.up.send(data[:used])
                if used < len(data):
                    self.agent.unread(data[used:])

    def _up_bytes(self, exchange: _Exchange, n: int = _READ, timeout: float | None = None) -> bytes | None:
        """The endpoint's next bytes (b"" at end of file; None when ``timeout`` passed first),
        watching the agent meanwhile. Raises :class:`_AgentGone`, :class:`_UpstreamGone` (a reset)."""
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
                        _watch_agent(self.agent)
                    except _AgentGone:
                        exchange.hung_up = True
                        raise
                    watch = [up.sock]  # it sent its next request: nothing more to see there
                    continue
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        try:
            return up.recv(n)
        except ConnectionResetError:
            raise _UpstreamGone("connection reset", reset=True) from None
        except ssl.SSLError as exc:
            raise _UpstreamGone(f"TLS error ({exc.reason})") from None

    def _to_agent(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.agent.send(data)
        except OSError:
            raise _AgentGone from None

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
        item: _Active | None = None
        body = send_body = b""
        if api is not None:
            body = self._read_body(framing)
            item = proxy._begin(api, self, head, body, started)
            send_body = body
            if api is Api.CHAT and proxy.ask_usage:
                added = ask_for_usage(body)  # None when the agent asked (or said no) itself
                if added is not None:
                    send_body, item.call.usage_added = added, True
            out = self._model_call_head(head, send_body)
        else:
            out = http11.rewrite_head(head, set_headers=[("Host", proxy.netloc)], drop=["expect"])
        exchange = _Exchange(item, head.method, head.request_version)
        try:
            self._send_request(out, send_body if item is not None else None, framing, exchange)
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
        except _UpstreamGone as gone:
            if item is not None:
                item.call.outcome = "unreachable" if gone.unreachable else "unanswered"
                item.call.detail = gone.reason
                if exchange.cut is not None:
                    item.call.detail = exchange.cut
                proxy._finish(item)
            self.close(reset=gone.reset)
            return False
        except _AgentGone:
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
        self, out: bytes, body: bytes | None, framing: BodyFraming, exchange: _Exchange
    ) -> None:
        """Send the head (and the body: a model call's whole, else relayed as it comes) on the
        paired connection, a new one if need be; a kept connection that turns out closed before
        anything was answered is replaced once."""
        for attempt in range(2):
            reused = self.up is not None
            if self.up is None:
                self.up = _Side(self.proxy.connect(self.agent))
            try:
                self.up.send(out + (body or b""))
                if body is None:
                    self._relay_body(framing)
                return
            except (BrokenPipeError, ConnectionResetError) as exc:
                self._close_up()
                if not reused or attempt or body is None:
                    raise _UpstreamGone(_reason(exc)) from None

    def _ask_again(self, head: Head, body: bytes, refused: Head, exchange: _Exchange) -> Head | None:
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

    def _discard_body(self, framing: BodyFraming, exchange: _Exchange) -> None:
        if framing.kind is Framing.LENGTH:
            left = framing.length
            while left:
                data = self._up_bytes(exchange, min(left, _READ))
                if not data:
                    raise _UpstreamGone("the connection closed in an answer")
                left -= len(data)
        elif framing.kind is Framing.CHUNKED:
            reader = http11.ChunkedReader()
            while not reader.done:
                data = self._up_bytes(exchange)
                if not data:
                    raise _UpstreamGone("the connection closed in an answer")
                used, _ = reader.feed(data)
                if used < len(data):
                    assert self.up is not None
                    self.up.unread(data[used:])

    def _response_head(self, exchange: _Exchange) -> Head | None:
        """The final answer's head, with every ``1xx`` before it passed on; None when the answer
        was not HTTP (passed on as it came). Raises :class:`_UpstreamGone` (nothing arrived),
        :class:`_AgentGone` (the agent gave up waiting)."""
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
                raise _UpstreamGone("the endpoint closed the connection without an answer")
            up.buf += data

    @staticmethod
    def _looks_like_http(start: bytes) -> bool:
        probe = start.lstrip(b"\r\n")[:5]
        return b"HTTP/"[: len(probe)] == probe

    def _not_http(self, exchange: _Exchange, why: str) -> None:
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
                    data = source.sock.recv(_READ)
                    if not data:
                        return
                    target.send(data)

    def _relay_answer(self, request: Head, response: Head, exchange: _Exchange) -> bool:
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
            self._to_agent(head)
            self._copy(framing, exchange)
        except _AgentGone:
            exchange.hung_up = True
        except _UpstreamGone as gone:
            exchange.cut, exchange.reset = gone.reason, gone.reset
        ended = exchange.cut is not None or exchange.hung_up or exchange.problem is not None
        if item is not None:
            item.call.end_ns = proxy.clock.now_ns()
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
        return keep

    def _rewritten_head(self, response: Head, framing: BodyFraming, exchange: _Exchange) -> bytes:
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

    def _copy(self, framing: BodyFraming, exchange: _Exchange) -> None:  # noqa: PLR0912 - one loop per framing
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
            data = self._up_bytes(exchange, _READ if left < 0 else min(left, _READ), timeout)
            if data is None:
                self._forward_stripped(stripper.release(time.monotonic()) if stripper else b"", exchange)
                continue
            if not data:
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
            self._forward(data, payload, exchange)
        if stripper is not None:
            self._forward_stripped(stripper.finish(), exchange)
            if exchange.chunked_out and exchange.cut is None:
                self._to_agent(b"0\r\n" + (chunks.trailers if chunks is not None else b"") + b"\r\n")
        if exchange.cut is not None:
            raise _UpstreamGone(exchange.cut)

    def _forward(self, raw: bytes, payload: list[bytes], exchange: _Exchange) -> None:
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

    def _forward_stripped(self, data: bytes, exchange: _Exchange) -> None:
        if data:
            self._to_agent(http11.chunk(data) if exchange.chunked_out else data)

    def _raw_to_end(self, data: bytes, exchange: _Exchange) -> None:
        """A body that cannot be framed: the agent gets the bytes as they come, to the end."""
        while data:
            self._to_agent(data)
            data = self._up_bytes(exchange) or b""
