"""What one model call in flight and one answer being copied carry, for the proxy and its links.

:class:`Active` is made by the proxy when a model call begins (:meth:`ModelProxy._begin`) and
filled in by the :class:`~cab_trace.harness.proxy_link.Link` that relays it; :class:`Exchange` is
the link's record of one answer as it is copied, which the proxy reads when the call ends
(:meth:`ModelProxy._finish`). Plain data, separate so that both sides name it without the
other's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cab_trace.harness.answer_reader import AnswerReader
from cab_trace.harness.request_body import BodyDigest
from cab_trace.llm import CallRecord
from cab_trace.llm.stream_usage import UsageStripper

if TYPE_CHECKING:
    from cab_trace.harness.proxy_link import Link


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
