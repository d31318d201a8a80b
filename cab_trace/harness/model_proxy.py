"""The recording proxy between the agent and its model endpoint.

The run starts one whenever the adapter takes an ``{endpoint}``; the agent gets the proxy's
URL (same path as the real endpoint) and the proxy forwards every request to the real one.
It is thin I/O around pure parsing (STYLE.md item 14): HTTP/1.1 framing in
:mod:`cab_trace.harness.http11`, the model APIs in :mod:`cab_trace.llm`. This module listens,
keeps the calls and records them; each agent connection is relayed by
:mod:`cab_trace.harness.proxy_link` (sockets in :mod:`cab_trace.harness.proxy_io`). Bytes go to the agent
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

A request body over the limit (:mod:`cab_trace.harness.request_body`) is none of these: it goes
on as it comes, exactly as the agent sent it, and is recorded from its hash, its size and its
two ends.

Nothing about request headers is recorded (so no ``Authorization``, ``api-key`` or ``x-api-key``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import itertools
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable

from cab_trace.clock import RunClock
from cab_trace.harness.answer_reader import AnswerReader, Budget, ReadResult
from cab_trace.harness.http11 import Head
from cab_trace.harness.proxy_exchange import Active, Exchange
from cab_trace.harness.proxy_io import Side, connect
from cab_trace.harness.proxy_link import Link
from cab_trace.harness.request_body import MAX_BODY, SHARED_BYTES
from cab_trace.llm import Api, CallRecord, parse_request
from cab_trace.llm.call import request_hash
from cab_trace.llm.partial import KEEP, parse_cut_request
from cab_trace.llm.wire_types import RequestInfo

CallFn = Callable[[CallRecord], None]

#: Connections waiting to be accepted: far more than any agent opens at once.
BACKLOG = 1024
#: How long stop() lets calls still in flight finish on their own before recording them as cut.
_STOP_GRACE_S = 0.5


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
        max_request_body: a model call's body larger than this is relayed as it comes
            instead of read whole (:mod:`cab_trace.harness.request_body`).
    """

    def __init__(
        self,
        upstream: str,
        on_call: CallFn,
        host: str = "127.0.0.1",
        ask_usage: bool = True,
        clock: RunClock | None = None,
        *,
        max_request_body: int = MAX_BODY,
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
        self._active: dict[int, Active] = {}
        self._links: set[Link] = set()
        self._counter = itertools.count(1)
        self._seen: dict[str, int] = {}
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._recorder: threading.Thread | None = None
        self._ssl: ssl.SSLContext | None = None
        self.budget = Budget()
        self.max_request_body = max_request_body
        #: Request bodies read whole and not yet recorded, for all calls together.
        self.held = Budget(max(SHARED_BYTES, max_request_body))
        self._held: dict[int, int] = {}  # call index -> bytes it holds of `held`
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
            link = Link(self, conn)
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
            self._seal(item, call)
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
        sse = False
        if reader is not None:
            result = reader.result()
            call.response = result.info
            call.notes.extend(result.notes)
            sse = result.sse
        self._deliver(call, sse)

    def _record_loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except Exception:  # noqa: BLE001 - a recording failure must not stop the proxy
                self.failed_callbacks += 1

    def _forget(self, link: Link) -> None:
        with self._lock:
            self._links.discard(link)

    # -- calls ---------------------------------------------------------------------------------

    def _begin(self, api: Api, link: Link, head: Head, body: bytes, started: int, *, held: int = 0) -> Active:
        # The request is parsed and hashed by the recorder (see _deliver), not on the way upstream.
        with self._lock:
            index = next(self._counter)
            item = Active(
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
            if held:
                self._held[index] = held
            self.calls += 1
        return item

    def _seal(self, item: Active, call: CallRecord) -> None:
        """A relayed body's hash and ends, into ``call``: what passed by is all there is of it."""
        digest = item.digest
        if digest is None:
            return
        call.request_body_sha256 = digest.hexdigest()
        call.request_cut = digest.cut()
        size = f"{digest.size:,} bytes"
        if item.body_length is not None and digest.size < item.body_length:
            size = f"{digest.size:,} of its {item.body_length:,} bytes, all that came"
        usage = " (without asking for usage)" if call.api is Api.CHAT and self.ask_usage else ""
        call.notes.append(
            f"the request body ({size}) is {item.relayed_why}: it was sent on as it came{usage}, "
            f"and only its first and last {KEEP:,} bytes were read for the record"
        )

    def _deliver(self, call: CallRecord, sse: bool = False) -> None:
        """In the recorder thread: read the request, then hand the call on (``sse``: the answer
        was an event stream, which says whether a cut request asked for one)."""
        cut, call.request_cut = call.request_cut, None
        if cut is not None and not cut.left_out:
            call.request_body = cut.head + cut.tail  # all of it was kept after all (a small body)
            cut = None
        if cut is not None:
            read = parse_cut_request(call.api, cut, call.path, self.max_request_body)
            call.request = read.info
            if "stream" not in read.members and call.api is not Api.GEMINI:
                call.request.stream = sse  # its ends do not say: the answer does
            call.request_unread_bytes = cut.left_out
        else:
            body, call.request_body = call.request_body, b""
            call.request = parse_request(call.api, body, call.path)
            call.request_body_sha256 = call.request_body_sha256 or request_hash(body)
            del body
        with self._lock:
            held = self._held.pop(call.index, 0)
        self.held.give(held)
        first = self._seen.setdefault(call.request_body_sha256, call.index)
        call.repeat_of = first if first != call.index else None
        self._on_call(call)

    def _finish(self, item: Active, exchange: Exchange | None = None) -> None:
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
        self._seal(item, call)
        reader = item.reader
        if reader is not None:
            reader.close()

        def record() -> None:
            sse = False
            if reader is not None or exchange is not None:
                result = reader.result() if reader is not None else ReadResult(call.response)
                _judge(call, result, exchange)
                sse = result.sse
            self._deliver(call, sse)

        self._queue.put(record)

    # -- upstream connections ------------------------------------------------------------------

    def connect(self, watch: Side) -> socket.socket:
        """A new connection to the endpoint; gives up when the agent hangs up meanwhile.
        Raises :class:`UpstreamGone` or :class:`AgentGone`."""
        return connect(self._host, self._port, self._ssl, watch, lambda: self.stopping)

    @property
    def netloc(self) -> str:
        return self._netloc


def _judge(call: CallRecord, result: ReadResult, exchange: Exchange | None) -> None:
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
