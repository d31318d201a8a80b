"""The recording proxy between the agent and its model endpoint.

The run starts one whenever the adapter takes an ``{endpoint}``; the agent gets the proxy's
URL (same path as the real endpoint) and the proxy forwards every request to the real one.
It is thin I/O around the pure parsers of :mod:`cab_trace.llm` (STYLE.md item 14): bytes
are copied to the agent as they arrive, one write per piece read, and observed on the side;
the finished :class:`~cab_trace.llm.CallRecord` goes to a recorder thread, so the agent never
waits for spans to be built or redacted.

What the agent sees is what it would have seen without the proxy: the upstream's status,
headers (less hop-by-hop ones) and body framing (a length, chunks, or the end of the
connection), errors and all. Three deliberate differences:

- A streamed chat request that did not ask for usage is sent upstream with
  ``stream_options.include_usage``; the usage-only chunk and the ``"usage": null`` members
  this adds are taken out of the stream before it reaches the agent.
- Model-API requests go upstream with ``Accept-Encoding: identity``, so the proxy can read
  the answer; the agent's HTTP client gets it uncompressed.
- An endpoint that cannot be reached (refused, unknown host) closes the agent's connection
  without an answer: its client reports a connection error, as it would have.

Nothing about headers is recorded (so no ``Authorization``, ``api-key`` or ``x-api-key``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.client
import itertools
import queue
import select
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cab_trace.llm import Api, CallRecord, ResponseAccumulator, detect_api, parse_request
from cab_trace.llm.call import request_hash
from cab_trace.llm.stream_usage import UsageStripper, ask_for_usage
from cab_trace.llm.wire import RequestInfo

CallFn = Callable[[CallRecord], None]

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)
#: A JSON answer longer than this is still forwarded whole, but not parsed.
MAX_OBSERVED_BODY = 32 * 1024 * 1024
_READ = 256 * 1024
#: Stream bytes kept for the recorder before it is given them to parse.
_SSE_BATCH = 4 * 1024 * 1024
_PARSE_SLICE = 64 * 1024
_PARSE_PAUSE = 0.002
#: How long the recorder gives way to streams being copied, at most, per slice it parses.
_PARSE_YIELD_MAX = 0.1
#: How long stop() lets calls still in flight finish on their own before recording them as cut.
_STOP_GRACE_S = 0.5


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    errors = 0

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints a traceback into the user's terminal; a connection that went
        # wrong has already been answered or closed.
        self.errors += 1


class UpstreamGone(Exception):
    """The endpoint could not be reached or stopped answering mid-way."""


class _AgentLeft(Exception):
    """The agent closed its connection while the answer was being copied to it."""


@dataclass
class _Active:
    call: CallRecord
    conn: http.client.HTTPConnection | None = None
    #: The upstream socket: for an answer that ends with its connection, http.client hands
    #: the socket to the response and forgets it, so it is kept here to be shut down.
    sock: socket.socket | None = None
    done: bool = False


class ModelProxy:
    """Start with :meth:`start` (returns the URL to give the agent), stop with :meth:`stop`.

    Args:
        upstream: the real endpoint, ``http(s)://host[:port][/path]``.
        on_call: called with each finished model call, in a recorder thread, in the order
            calls finish. Calls still waiting when the proxy stops are finished by :meth:`stop`.
        host: the address to listen on (loopback; the Docker bridge's gateway for an agent
            in a container).
        ask_usage: ask streamed chat calls for usage when the agent did not.
    """

    def __init__(self, upstream: str, on_call: CallFn, host: str = "127.0.0.1", ask_usage: bool = True):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {upstream!r}")
        self.upstream = upstream
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._netloc = parsed.netloc.rpartition("@")[2]
        self._path = parsed.path.rstrip("/")
        self._listen = host
        self._on_call = on_call
        self.ask_usage = ask_usage
        self._server: ThreadingHTTPServer | None = None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified when a call leaves _active
        self._active: dict[int, _Active] = {}
        self._counter = itertools.count(1)
        self._seen: dict[str, int] = {}
        # Work for the recorder thread, in order: observing answers, then recording calls.
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._recorder: threading.Thread | None = None
        self.calls = 0
        self._copying = 0  # streams being copied now
        self.failed_callbacks = 0
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Listen on a free port; returns the URL the agent should use as its endpoint."""
        self._server = _Server((self._listen, 0), _handler(self))
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="cab-trace-model-proxy", daemon=True
        ).start()
        self._recorder = threading.Thread(target=self._record_loop, name="cab-trace-model-calls", daemon=True)
        self._recorder.start()
        self.url = f"http://{self._listen}:{self._server.server_address[1]}{self._path}"
        return self.url

    def stop(self) -> None:
        """Stop listening; record calls still in flight as they stand; wait for the recorder.
        Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        # An agent that exits right after reading its last answer can leave that call still
        # finishing here (its handler between the last byte and _finish): give calls a moment
        # to end as they really did. Only what is still open after it was cut short.
        with self._lock:
            self._settled.wait_for(lambda: not self._active, timeout=_STOP_GRACE_S)
        # Calls still in flight, as they stand now (a copy: their handler may still move).
        now = time.time_ns()
        with self._lock:
            active, self._active = list(self._active.values()), {}
            for item in active:
                item.done = True
        for item in active:
            call = dataclasses.replace(item.call, end_ns=now)
            call.outcome = "unanswered" if call.status is None else "stream_cut"
            call.detail = "still waiting when the agent finished"
            self._queue.put(functools.partial(self._deliver, call))
            _shut(item.sock)
            _close(item.conn)
        server.shutdown()
        server.server_close()
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self._queue.put(None)
        if self._recorder is not None:
            self._recorder.join()

    def _record_loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except Exception:  # noqa: BLE001 - a recording failure must not stop the proxy
                self.failed_callbacks += 1

    def parse_stream(self, acc: ResponseAccumulator, pieces: list[bytes]) -> None:
        """In the recorder thread: parse stream bytes a slice at a time, letting go of the
        interpreter between slices, for longer while a stream is being copied, so that the
        threads copying get it back at once rather than after the interpreter's switch
        interval (5 ms) for every piece they copy. Recording lags; copying does not."""
        size = 0
        for piece in pieces:
            acc.feed_bytes(piece)
            size += len(piece)
            if size >= _PARSE_SLICE:
                size = 0
                time.sleep(0)
                waited = 0.0
                while self._copying and waited < _PARSE_YIELD_MAX:
                    time.sleep(_PARSE_PAUSE)
                    waited += _PARSE_PAUSE

    def _copy_starts(self, step: int) -> None:
        with self._lock:
            self._copying += step

    def observe(self, job: Callable[[], object]) -> None:
        """Run ``job`` in the recorder thread, after everything handed to it before."""
        self._queue.put(job)

    # -- calls ---------------------------------------------------------------------------------

    def _begin(self, api: Api, method: str, path: str, body: bytes) -> _Active:
        # The request is parsed and hashed by the recorder (see _deliver), not on the way upstream.
        started = time.time_ns()
        with self._lock:
            index = next(self._counter)
            item = _Active(
                CallRecord(
                    api=api,
                    method=method,
                    path=path,
                    server_address=self._host,
                    server_port=self._port,
                    request_body_sha256="",
                    request=RequestInfo(),
                    start_ns=started,
                    index=index,
                    request_body=body,
                )
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

    def _finish(self, item: _Active, settle: Callable[[], None] | None = None) -> None:
        """The call is over: ``settle`` (what is left of reading its answer) and recording it
        happen in the recorder thread, after the observations queued before."""
        with self._lock:
            if item.done:
                return  # stop() got there first
            item.done = True
            self._active.pop(item.call.index, None)
            self._settled.notify_all()
        if not item.call.end_ns:
            item.call.end_ns = time.time_ns()

        def record() -> None:
            if settle is not None:
                settle()
            self._deliver(item.call)

        self._queue.put(record)

    # -- upstream connections ------------------------------------------------------------------

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                kept = self._idle.pop()
            if _idle_and_open(kept):
                return kept, True
            kept.close()  # the endpoint closed it (or sent something unasked) while it waited
        if self._scheme == "https":
            import ssl  # only for an https endpoint: `cab-trace run` starts faster without it

            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port)
        return conn, False

    def _release(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if self._server is not None and len(self._idle) < 16:
                self._idle.append(conn)
                return
        conn.close()

    def prepare(self) -> None:
        """Open a connection for the next call when none is waiting: an endpoint that closes
        its connection after each answer (as servers of event streams often do) would otherwise
        make every call wait for a new connection before its request can go."""
        with self._lock:
            if self._idle or self._server is None:
                return
        conn, reused = self._connection()
        if not reused:
            try:
                _connect(conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                return
        self._release(conn)

    def send(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[http.client.HTTPConnection, bool]:
        """Send a request upstream on a pooled connection (a fresh one when a kept-alive one
        turns out closed before anything was answered). Raises :class:`UpstreamGone`."""
        for attempt in range(2):
            conn, reused = self._connection()
            try:
                if conn.sock is None:
                    _connect(conn)
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", self._netloc)
                for key, value in headers:
                    conn.putheader(key, value)
                if body or method in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                return conn, reused
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if not reused or attempt:
                    raise UpstreamGone(_reason(exc)) from None
        raise UpstreamGone("no connection")  # pragma: no cover - the loop returns or raises


def _connect(conn: http.client.HTTPConnection) -> None:
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _idle_and_open(conn: http.client.HTTPConnection) -> bool:
    """A kept connection is fit to send on when nothing is waiting to be read on it: a
    closed one reads as end of file."""
    if conn.sock is None:
        return True  # not connected yet: send() connects it
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _shut(sock: socket.socket | None) -> None:
    """Shut a socket down, which wakes a thread blocked reading it."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _close(conn: http.client.HTTPConnection | None) -> None:
    if conn is not None and conn.sock is not None:
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()


class _HangUpWatch:
    """Watches the agent's side of a stream; when the agent hangs up, closes the upstream
    connection so that the copy, waiting on it, stops at once."""

    def __init__(self, agent: socket.socket, upstream: socket.socket | None) -> None:
        self._agent, self._upstream = agent, upstream
        self._done = threading.Event()
        self.hung_up = False
        self._thread = threading.Thread(target=self._run, name="cab-trace-hang-up-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                readable, _, _ = select.select([self._agent], [], [], 0.25)
                if not readable:
                    continue
                gone = not self._agent.recv(1, socket.MSG_PEEK)
            except (OSError, ValueError):
                gone = True
            if gone and not self._done.is_set():
                self.hung_up = True
                _shut(self._upstream)
            return  # gone, or the agent sent more (its next request): nothing more to watch

    def stop(self) -> None:
        self._done.set()


def _judge(
    call: CallRecord, acc: ResponseAccumulator, cut: str | None, is_sse: bool, hung_up: bool = False
) -> None:
    """The call's outcome, from its status and what arrived. An agent that hung up after the
    whole answer had arrived did not cancel anything."""
    if call.status is not None and call.status >= 400:
        call.outcome = "http_error"
    elif hung_up and not acc.info.complete:
        call.outcome = "cancelled"
        call.detail = f"the agent closed the connection after {acc.info.chunks} event(s)"
    elif cut is not None:
        call.outcome, call.detail = "stream_cut", cut
    elif acc.info.error:
        call.outcome = "api_error"
    elif is_sse and not acc.info.complete:
        call.outcome = "stream_cut"
        call.detail = f"the connection closed after {acc.info.chunks} event(s)"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"host not found ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return str(exc) or type(exc).__name__


def _handler(proxy: ModelProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._proxy()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

        def log_message(self, format: str, *args: object) -> None:
            return None  # nothing in the user's terminal

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                parts: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _proxy(self) -> None:
            try:
                body = self._read_body()
            except ValueError:
                self.send_error(400, "bad request body framing")
                return
            api = detect_api(self.command, self.path)
            item = proxy._begin(api, self.command, self.path, body) if api is not None else None
            send_body = body
            if item is not None and api is Api.CHAT and proxy.ask_usage:
                added = ask_for_usage(body)  # None when the agent asked (or said no) itself
                if added is not None:
                    send_body, item.call.usage_added = added, True
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
            if item is not None:
                headers = [(k, v) for k, v in headers if k.lower() != "accept-encoding"]
                headers.append(("Accept-Encoding", "identity"))
            exchanged = self._exchange(headers, send_body, item)
            if exchanged is not None and item is not None and item.call.usage_added:
                conn, response = exchanged
                if response.status in (400, 422):
                    # An endpoint that will not take stream_options: ask again as the agent did,
                    # so that it gets the answer it would have had (without usage).
                    with contextlib.suppress(OSError, http.client.HTTPException):
                        response.read()
                    conn.close()
                    item.call.usage_added, item.call.usage_refused = False, True
                    exchanged = self._exchange(headers, body, item)
            if exchanged is None:
                return
            conn, response = exchanged
            self._relay(conn, response, item)

        def _exchange(
            self, headers: list[tuple[str, str]], body: bytes, item: _Active | None
        ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse] | None:
            """Send the request and wait for the answer's head; None (the call recorded, the
            agent's connection to be closed) when there is none."""
            try:
                conn, _ = proxy.send(self.command, self.path, headers, body)
            except UpstreamGone as exc:
                self.close_connection = True
                if item is not None:
                    item.call.outcome, item.call.detail = "unreachable", str(exc)
                    proxy._finish(item)
                return None
            if item is not None:
                item.conn, item.sock = conn, conn.sock
                if not self._wait(conn):
                    _close(conn)
                    item.call.outcome = "cancelled"
                    item.call.detail = "the agent gave up waiting for an answer"
                    proxy._finish(item)
                    self.close_connection = True
                    return None
            try:
                return conn, conn.getresponse()
            except (OSError, ValueError, http.client.HTTPException) as exc:
                conn.close()
                self.close_connection = True
                if item is not None:
                    item.call.outcome, item.call.detail = "unreachable", _reason(exc)
                    proxy._finish(item)
                return None

        def _wait(self, conn: http.client.HTTPConnection) -> bool:
            """Wait for the answer to start; False if the agent closes its connection first."""
            up, down = conn.sock, self.connection
            if up is None:
                return True
            while True:
                try:
                    ready, _, _ = select.select([up, down], [], [], 0.5)
                except (OSError, ValueError):  # stop() closed the upstream connection
                    return True
                if up in ready:
                    return True
                if down in ready:
                    try:
                        if not down.recv(1, socket.MSG_PEEK):
                            return False
                    except OSError:
                        return False
                    return True  # the agent sent more (pipelining): go on waiting for the answer

        def _relay(
            self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse, item: _Active | None
        ) -> None:
            call = item.call if item is not None else None
            if call is not None:
                call.status = response.status
            is_sse = "text/event-stream" in (response.getheader("Content-Type") or "")
            rewrite = call is not None and call.usage_added and is_sse
            # Keep the upstream's framing: a length when it sent one (and nothing is rewritten),
            # chunks for chunks, and the end of the connection for a body that ended with it.
            chunked = bool(response.chunked) or (rewrite and response.length is not None)
            acc = ResponseAccumulator(call.api) if call is not None else None
            observed: list[bytes] = []
            # A stream may stall for minutes: notice an agent that hangs up meanwhile (watched from
            # the first chunk on, so that starting the watch never delays that chunk).
            watches: list[_HangUpWatch] = []

            def watch() -> None:
                if item is not None and is_sse:
                    watches.append(_HangUpWatch(self.connection, item.sock))

            if is_sse:
                proxy._copy_starts(1)
            try:
                self.wfile.write(self._head(response, chunked))
                sse = UsageStripper() if rewrite else None
                cut = self._copy(
                    response,
                    call,
                    chunked=chunked,
                    sse=sse,
                    acc=acc,
                    is_sse=is_sse,
                    observed=observed,
                    after_first=watch,
                )
                if cut is None and chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (_AgentLeft, OSError, ValueError):
                return self._agent_left(conn, item, acc, observed if is_sse else [])
            finally:
                if is_sse:
                    proxy._copy_starts(-1)
                for w in watches:
                    w.stop()
            hung_up = any(w.hung_up for w in watches)
            spare = False
            if cut is not None or hung_up:
                # Pass the failure on: no end marker, and the connection closes.
                self.close_connection = True
                conn.close()
            elif response.will_close:
                conn.close()
                spare = True
            else:
                response.close()  # read to its end; the connection can take the next request
                proxy._release(conn)
            if item is None or call is None or acc is None:
                return None
            call.end_ns = time.time_ns()

            def settle() -> None:
                if observed and is_sse:
                    proxy.parse_stream(acc, observed)
                elif observed:
                    acc.feed_json(b"".join(observed))
                call.response = acc.info
                _judge(call, acc, cut, is_sse, hung_up)

            proxy._finish(item, settle)
            if spare:
                proxy.prepare()  # the agent has its whole answer: nothing waits for this
            return None

        def _head(self, response: http.client.HTTPResponse, chunked: bool) -> bytes:
            by_close = not chunked and response.length is None and self.command != "HEAD"
            lines = [f"HTTP/1.1 {response.status} {response.reason}"]
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP or (key.lower() == "content-length" and not chunked):
                    lines.append(f"{key}: {value}")
            if chunked:
                lines.append("Transfer-Encoding: chunked")
            if by_close or response.will_close:
                lines.append("Connection: close")
                self.close_connection = True
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        def _write(self, data: bytes, chunked: bool) -> None:
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            except (OSError, ValueError):
                raise _AgentLeft from None

        def _forward(self, data: bytes, sse: UsageStripper | None, chunked: bool) -> None:
            """Pass a piece on; with ``sse``, the events it completes, less the usage the proxy
            asked for."""
            if sse is None:
                self._write(data, chunked)
            elif forward := sse.feed(data):
                self._write(forward, chunked)

        def _copy(
            self,
            response: http.client.HTTPResponse,
            call: CallRecord | None,
            *,
            chunked: bool,
            sse: UsageStripper | None,
            acc: ResponseAccumulator | None,
            is_sse: bool,
            observed: list[bytes],
            after_first: Callable[[], None] | None = None,
        ) -> str | None:
            """Copy the body as it arrives, observing it after the agent has each piece;
            returns why the upstream stopped short, or None."""
            size = pending = 0
            while True:
                try:
                    data = response.read1(_READ) if self.command != "HEAD" else b""
                except http.client.IncompleteRead:
                    return "the body ended early"
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    return _reason(exc)
                if not data:
                    break
                if call is not None and call.first_chunk_ns is None:
                    call.first_chunk_ns = time.time_ns()
                self._forward(data, sse, chunked)
                if after_first is not None:
                    after_first()
                    after_first = None
                if acc is not None:
                    if is_sse:
                        # Kept as it came and parsed in the recorder thread in batches (the
                        # rest when the call ends), so the copy never waits for the parser nor
                        # shares the interpreter with it while the stream is flowing.
                        observed.append(data)
                        pending += len(data)
                        if pending >= _SSE_BATCH:
                            proxy.observe(functools.partial(proxy.parse_stream, acc, list(observed)))
                            observed.clear()
                            pending = 0
                    elif size < MAX_OBSERVED_BODY:
                        observed.append(data)
                    size += len(data)
            if sse is not None and (rest := sse.partial):
                self._write(rest, chunked)  # an event the stream never finished, as it came
            if size > MAX_OBSERVED_BODY and not is_sse:
                observed.clear()
            # A body shorter than its length ends with no error from http.client (only the length
            # left unread says so): pass it on as cut, so the agent's connection closes as the
            # endpoint's did, rather than leaving the agent waiting for the rest.
            return "the body ended early" if response.length else None

        def _agent_left(
            self,
            conn: http.client.HTTPConnection,
            item: _Active | None,
            acc: ResponseAccumulator | None,
            stream: list[bytes],
        ) -> None:
            self.close_connection = True
            _close(conn)
            if item is not None:
                call = item.call
                call.outcome = "cancelled"
                call.detail = "the agent closed the connection during the answer"

                def settle() -> None:
                    if acc is not None:
                        if stream:
                            proxy.parse_stream(acc, stream)
                        call.response = acc.info

                proxy._finish(item, settle)

    return Handler
