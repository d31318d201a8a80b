"""Text that adds up piece by piece in bounded memory, for answers of any size.

A streamed answer's text, reasoning or tool-call arguments arrive in thousands of pieces; the
record keeps the head and the tail of each and how much was left out between them, which is
what a span shows anyway (:func:`cab_trace.llm.call.bound_text`). Pure.
"""

from __future__ import annotations

#: Characters kept at each end. Head + marker + tail stays within the span's limit for one
#: text part (``cab_trace.llm.call.PART_LIMIT``, 16 KB), so it is not cut a second time there.
KEEP = 8 * 1024 - 64


def marker(left_out: int) -> str:
    """What stands where text was left out."""
    return f"\n…[cab-trace: {left_out:,} characters not recorded]…\n"


class Pieces:
    """Pieces of one text: :meth:`append` each as it arrives, :meth:`text` for the whole, or its
    head and tail around a marker saying how many characters are not kept."""

    __slots__ = ("_dropped", "_head", "_head_len", "_keep", "_tail", "_tail_len")

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._head: list[str] = []
        self._head_len = 0
        self._tail: list[str] = []
        self._tail_len = 0
        self._dropped = 0

    def append(self, piece: str) -> None:
        if not piece:
            return
        if self._head_len < self._keep:
            room = self._keep - self._head_len
            self._head.append(piece[:room])
            self._head_len += min(room, len(piece))
            piece = piece[room:]
            if not piece:
                return
        self._tail.append(piece)
        self._tail_len += len(piece)
        if self._tail_len > 2 * self._keep:
            # Amortised: the tail is trimmed to its limit once it holds twice as much.
            text = "".join(self._tail)
            self._dropped += len(text) - self._keep
            self._tail, self._tail_len = [text[-self._keep :]], self._keep

    def __len__(self) -> int:
        """Characters appended in all."""
        return self._head_len + self._dropped + self._tail_len

    def __bool__(self) -> bool:
        return bool(self._head_len)

    @property
    def cut(self) -> bool:
        """Whether :meth:`text` leaves something out."""
        return self._dropped + max(self._tail_len - self._keep, 0) > 0

    def text(self) -> str:
        head = "".join(self._head)
        tail = "".join(self._tail)
        if len(tail) > self._keep:
            return head + marker(self._dropped + len(tail) - self._keep) + tail[-self._keep :]
        if self._dropped:
            return head + marker(self._dropped) + tail
        return head + tail
