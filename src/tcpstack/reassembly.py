"""Out-of-order reassembly for the receive side (RFC 9293 §3.10.7.4, SHLD-31).

Offsets are stream offsets (Python ints that never wrap), not sequence
numbers: the connection converts with its RCV.NXT. The queue keeps any number
of holes; its size is bounded by what the receive window lets in.
"""

from __future__ import annotations

import bisect


class ReassemblyQueue:
    """Holds received bytes that lie beyond a hole, merged into disjoint blocks."""

    __slots__ = ("_blocks", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._blocks: list[bytearray] = []

    def __len__(self) -> int:
        """Bytes held."""
        return sum(len(b) for b in self._blocks)

    def __bool__(self) -> bool:
        return bool(self._blocks)

    def blocks(self) -> list[tuple[int, int]]:
        """The held ranges as ``(start, end)`` stream offsets, end exclusive, in order."""
        return [(s, s + len(b)) for s, b in zip(self._starts, self._blocks, strict=True)]

    def add(self, start: int, data: bytes) -> None:
        """Store ``data`` at stream offset ``start``; overlaps keep the bytes already held."""
        if not data:
            return
        end = start + len(data)
        i = bisect.bisect_left(self._starts, start)
        # Merge with the block before if it touches or overlaps.
        if i > 0 and self._starts[i - 1] + len(self._blocks[i - 1]) >= start:
            i -= 1
        new_start = min(start, self._starts[i]) if i < len(self._starts) else start
        merged = bytearray()
        pos = new_start
        j = i
        incoming = memoryview(data)
        while j < len(self._starts) and self._starts[j] <= end:
            s, blk = self._starts[j], self._blocks[j]
            if s > pos:  # a gap before this block, filled from the new data
                merged += incoming[pos - start : s - start]
                pos = s
            merged += blk[pos - s :] if pos > s else blk
            pos = max(pos, s + len(blk))
            j += 1
        if pos < end:
            merged += incoming[max(pos, start) - start :]
            pos = end
        self._starts[i:j] = [new_start]
        self._blocks[i:j] = [merged]

    def pop_contiguous(self, offset: int) -> bytes:
        """Remove and return the bytes from ``offset`` on that have no hole before them.

        Blocks ending at or before ``offset`` are discarded (already delivered).
        """
        while self._starts and self._starts[0] + len(self._blocks[0]) <= offset:
            del self._starts[0], self._blocks[0]
        if not self._starts or self._starts[0] > offset:
            return b""
        start, blk = self._starts.pop(0), self._blocks.pop(0)
        return bytes(blk[offset - start :])
