"""The sockets of the model proxy: a socket with what was read from it and not used yet, the
two ways a relay ends early (the agent or the endpoint went away), and opening a connection to
the endpoint while watching the agent. For :mod:`cab_trace.harness.proxy_link`."""

from __future__ import annotations

import errno
import select
import socket
import ssl
from collections.abc import Callable

#: Bytes read from a socket at a time.
READ = 256 * 1024


class AgentGone(Exception):
    """The agent closed (or reset) its connection."""


class UpstreamGone(Exception):
    """The endpoint could not be reached (``unreachable``), or closed or reset the connection."""

    def __init__(self, reason: str, reset: bool = False, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reset = reset
        self.unreachable = unreachable


class Side:
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

    def recv(self, n: int = READ) -> bytes:
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


def watch_agent(agent: Side) -> None:
    """The agent's side is readable while it should be waiting: read what it sent (a pipelined
    next request stays buffered); raise :class:`AgentGone` if it hung up."""
    try:
        data = agent.sock.recv(READ)
    except BlockingIOError:
        return
    except OSError:
        raise AgentGone from None
    if not data:
        raise AgentGone
    agent.buf += data


def reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"host not found ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def connect(
    host: str, port: int, tls: ssl.SSLContext | None, watch: Side, stopping: Callable[[], bool]
) -> socket.socket:
    """A new connection to the endpoint (over TLS with ``tls``); gives up when the agent (on
    ``watch``) hangs up meanwhile, or the proxy is ``stopping``. Raises :class:`UpstreamGone`
    or :class:`AgentGone`."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UpstreamGone(f"host not found ({exc.strerror})", unreachable=True) from None
    why = "no address"
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            code = sock.connect_ex(address)
            while code in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
                readable, writable, _ = select.select([watch.sock], [sock], [], 0.25)
                if stopping():
                    raise UpstreamGone("the run ended", unreachable=True)
                if writable:
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                elif readable:
                    watch_agent(watch)
            if code:
                why = reason(OSError(code, errno.errorcode.get(code, str(code))))
                sock.close()
                continue
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
            return sock
        except (AgentGone, UpstreamGone):
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            why = reason(exc)
    raise UpstreamGone(why, unreachable=True)
