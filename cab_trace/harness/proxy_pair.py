"""The two connections one :class:`~cab_trace.harness.proxy_link.Link` holds, and the ways bytes
move on them: the endpoint's next bytes read while the agent is watched, bytes sent to the
agent, the endpoint's connection dropped, both closed (with a reset when the endpoint's was).

The bottom layer of a link: the answer side (:mod:`cab_trace.harness.proxy_answer`) and the
request side (:mod:`cab_trace.harness.proxy_link`) are built on these and nothing here knows
of requests or answers.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import time
from typing import TYPE_CHECKING

from cab_trace.harness.proxy_io import READ, AgentGone, Side, UpstreamGone, watch_agent

if TYPE_CHECKING:
    from cab_trace.harness.model_proxy import ModelProxy
    from cab_trace.harness.proxy_exchange import Exchange


class LinkBase:
    """One connection from the agent and the endpoint's paired with it: closing them and moving
    bytes on them."""

    def __init__(self, proxy: ModelProxy, sock: socket.socket) -> None:
        self.proxy = proxy
        self.agent = Side(sock)
        self.up: Side | None = None
        self._closed = False

    # -- the connections -----------------------------------------------------------------------

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

    # -- bytes ---------------------------------------------------------------------------------

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
