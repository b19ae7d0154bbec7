"""Out-of-order reassembly for the receive side (RFC 9293 §3.10.7.4, SHLD-31).

Offsets are stream offsets (Python ints that never wrap), not sequence
numbers: the connection converts with its RCV.NXT. Every length is bytes;
every range is half-open, ``[start, end)``.

Layout, and why
---------------
A peer chooses how it cuts the stream, so the queue must cost little per
segment and per byte however small the pieces are (issue 12: one-byte holes
cost 107 bytes of memory per byte held and time proportional to the number
of holes per segment). The offset space is cut into pages of
:data:`PAGE_SIZE` bytes. A page that holds anything has

* a bitmap, one Python int: bit ``i`` set when the byte at
  ``page * PAGE_SIZE + i`` is held (a full page shares one constant);
* a bytearray with its held bytes in offset order, holes squeezed out:
  the byte at bit ``i`` sits at index ``popcount(bits below i)``.

So memory is the bytes held plus one bit per byte of every page touched plus
a few hundred bytes per page: every other byte held costs about 1.4 bytes
per byte, runs of whole pages about 1.0. Runs of full pages are also kept as
stretches of page numbers (a :class:`~tcpstack.sack.RangeSet`), so the held
range around an offset is found with a few bit operations and one binary
search, never a walk over pages.

Costs: adding a segment is O(log pages + pages it covers); the range around
an offset (what a SACK block reports) and the highest range are O(log
pages); delivering a run costs the bytes it copies plus O(pages). The count
of held ranges is kept up to date, so the range limit (pruning from the top
end, like Linux's ``tcp_prune_ofo_queue``) costs O(1) to check.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import NamedTuple

from .sack import RangeSet

__all__ = ["PAGE_SIZE", "Held", "ReassemblyQueue"]

PAGE_SHIFT = 11
PAGE_SIZE = 1 << PAGE_SHIFT
"""Bytes of offset space per page (2048)."""

_MASK = PAGE_SIZE - 1
_FULL = (1 << PAGE_SIZE) - 1  # the bitmap of a full page (one shared int)
_TOP = 1 << _MASK  # a page's last bit


def _trailing_ones(x: int) -> int:
    """How many low bits of ``x`` are set before the first clear one."""
    return (x ^ (x + 1)).bit_length() - 1


class Held(NamedTuple):
    """What :meth:`ReassemblyQueue.add` did with a segment.

    Attributes:
        kept: its bytes are held (False: dropped at the range limit).
        merged: it touched or overlapped held bytes: no new range.
        pruned: ranges pruned from the top to make room for it.
    """

    kept: bool
    merged: bool
    pruned: int


_NEW = Held(True, False, 0)
_MERGED = Held(True, True, 0)
_DROPPED = Held(False, False, 0)


class ReassemblyQueue:
    """Holds received bytes that lie beyond a hole (see the module docstring for the layout).

    ``len()`` is the bytes held; :attr:`ranges` the number of disjoint,
    non-adjacent held ranges.
    """

    __slots__ = ("_bits", "_data", "_full", "_held", "_pages", "_runs")

    def __init__(self) -> None:
        self._bits: dict[int, int] = {}  # page -> bitmap of held bytes
        self._data: dict[int, bytearray] = {}  # page -> its held bytes, in order
        self._pages: list[int] = []  # pages holding bytes, ascending
        self._full = RangeSet()  # stretches of full pages, page numbers
        self._held = 0
        self._runs = 0

    def __len__(self) -> int:
        """Bytes held."""
        return self._held

    def __bool__(self) -> bool:
        return self._held > 0

    @property
    def ranges(self) -> int:
        """The number of disjoint, non-adjacent ranges held."""
        return self._runs

    @property
    def end(self) -> int:
        """One past the highest offset held; 0 when empty."""
        if not self._pages:
            return 0
        page = self._pages[-1]
        return (page << PAGE_SHIFT) + self._bits[page].bit_length()

    # -- queries -----------------------------------------------------------------

    def held(self, off: int) -> bool:
        """Whether the byte at offset ``off`` is held."""
        bits = self._bits.get(off >> PAGE_SHIFT)
        return bits is not None and bool(bits >> (off & _MASK) & 1)

    def run_at(self, off: int) -> tuple[int, int] | None:
        """The held range ``(start, end)`` holding offset ``off``, or None."""
        bits = self._bits.get(off >> PAGE_SHIFT)
        if bits is None or not bits >> (off & _MASK) & 1:
            return None
        return self._run_start(off), self._run_end(off)

    def run_below(self, off: int) -> tuple[int, int] | None:
        """The range holding the highest held byte below ``off``, or None."""
        top = self._highest_below(off)
        if top is None:
            return None
        return self._run_start(top), self._run_end(top)

    def blocks(self) -> list[tuple[int, int]]:
        """Every held range as ``(start, end)``, ascending (O(ranges): tests, traces)."""
        out: list[tuple[int, int]] = []
        run = self.run_below(self.end)
        while run is not None:
            out.append(run)
            run = self.run_below(run[0])
        out.reverse()
        return out

    # -- input ---------------------------------------------------------------------

    def add(self, start: int, data: bytes | memoryview, max_ranges: int | None = None) -> Held:
        """Store ``data`` at offset ``start``; overlaps keep the bytes already held.

        With ``max_ranges``, a segment that would make one range more than
        that prunes held ranges from the top end first (at least an eighth of
        ``max_ranges`` at a time, so pruning is rare), but only ranges above
        its own start: the bytes nearest RCV.NXT stay (Linux
        ``tcp_prune_ofo_queue``). If that does not make room, the segment is
        dropped. A segment that touches held bytes never needs room.
        """
        if not data:
            return _MERGED
        end = start + len(data)
        limited = max_ranges is not None and self._runs >= max_ranges
        if limited and start > self.end:
            return _DROPPED  # the fast path under a flood: above everything held, no room
        i = start & _MASK
        if i > 0 and i + len(data) < PAGE_SIZE and not limited:
            return self._add_inside_page(start, data)
        joins = self._runs_touching(start, end)
        pruned = 0
        if not joins and max_ranges is not None and self._runs >= max_ranges:
            pruned = self._prune_above(start, max_ranges)
            if self._runs >= max_ranges:
                return Held(False, False, pruned)
        self._store(start, data)
        self._runs += 1 - joins
        if pruned:
            return Held(True, joins > 0, pruned)
        return _MERGED if joins else _NEW

    def _add_inside_page(self, start: int, data: bytes | memoryview) -> Held:
        """:meth:`add` without a limit for a segment whose neighbour bytes (``start - 1``
        and its end) lie in its own page: the common case of small segments.

        What it saves: the page loops of :meth:`_runs_touching` and :meth:`_store`,
        and their big-int masks (one window of ``len(data) + 2`` bits serves both).
        """
        page = start >> PAGE_SHIFT
        i = start & _MASK
        n = len(data)
        bits = self._bits
        x = bits.get(page)
        if x is None:
            bits[page] = ((1 << n) - 1) << i
            self._data[page] = bytearray(data)
            insort(self._pages, page)
            self._held += n
            self._runs += 1
            return _NEW
        window = x >> (i - 1) & ((4 << n) - 1)  # bits i - 1 .. i + n of the page
        joins = (window & 1) + (window & ~(window << 1) & ~1).bit_count()
        old = window >> 1 & ((1 << n) - 1)  # bytes of the segment held already
        if not old:
            d = self._data[page]
            at = (x & ((1 << i) - 1)).bit_count()
            d[at:at] = data
            self._held += n
        elif old != (1 << n) - 1:
            new = (~old & ((1 << n) - 1)) << i
            self._insert_new(page, x, new, data, i)
            self._held += new.bit_count()
        y = x | ((1 << n) - 1) << i
        if y == _FULL and x != _FULL:
            y = _FULL
            self._full.add(page, page + 1)
        bits[page] = y
        self._runs += 1 - joins
        return _MERGED if joins else _NEW

    def pop_contiguous(self, offset: int) -> bytes:
        """Remove and return the bytes from ``offset`` on that have no hole before them.

        Bytes held below ``offset`` are discarded (already delivered).
        """
        cut = self._run_end(offset) if self.held(offset) else offset
        return b"".join(self._remove_below(cut, offset))

    # -- internals -------------------------------------------------------------------

    def _run_start(self, off: int) -> int:
        """The start of the held range holding the held byte at ``off``."""
        bits = self._bits
        page = off >> PAGE_SHIFT
        below = ~bits[page] & ((1 << (off & _MASK)) - 1)  # clear bits below off
        while not below:  # the range reaches the start of `page`
            prev = bits.get(page - 1)
            if prev is None or not prev & _TOP:
                return page << PAGE_SHIFT
            if prev == _FULL:  # jump over the stretch of full pages
                page = self._full.containing(page - 1)[0]
                continue
            page -= 1
            below = ~prev & _FULL
        return (page << PAGE_SHIFT) + below.bit_length()

    def _run_end(self, off: int) -> int:
        """The end of the held range holding the held byte at ``off``."""
        bits = self._bits
        page = off >> PAGE_SHIFT
        pos = off & _MASK
        top = pos + _trailing_ones(bits[page] >> pos)
        while top == PAGE_SIZE:  # the range reaches the end of `page`
            nxt = bits.get(page + 1)
            if nxt is None or not nxt & 1:
                return (page + 1) << PAGE_SHIFT
            if nxt == _FULL:  # jump over the stretch of full pages
                page = self._full.containing(page + 1)[1] - 1
                continue
            page += 1
            top = _trailing_ones(nxt)
        return (page << PAGE_SHIFT) + top

    def _highest_below(self, off: int) -> int | None:
        """The highest held offset below ``off``, or None."""
        if off <= 0:
            return None
        last = off - 1
        page = last >> PAGE_SHIFT
        bits = self._bits.get(page, 0) & ((2 << (last & _MASK)) - 1)
        if not bits:
            pages = self._pages
            i = bisect_left(pages, page) - 1
            if i < 0:
                return None
            page = pages[i]
            bits = self._bits[page]
        return (page << PAGE_SHIFT) + bits.bit_length() - 1

    def _runs_touching(self, start: int, end: int) -> int:
        """How many held ranges overlap or touch ``[start, end)``.

        The one holding ``start - 1``, if any, plus the ranges starting in
        ``[start, end]``.
        """
        n = 1 if self.held(start - 1) else 0
        bits = self._bits
        first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
        for page in range(first, last + 1):
            x = bits.get(page)
            if x is None:
                continue
            prev = bits.get(page - 1)
            carry = 1 if prev is not None and prev & _TOP else 0
            starts = x & ~((x << 1) | carry)  # bits that begin a range
            lo = start & _MASK if page == first else 0
            hi = end & _MASK if page == last else _MASK  # inclusive
            n += (starts >> lo & ((2 << (hi - lo)) - 1)).bit_count()
        return n

    def _store(self, start: int, data: bytes | memoryview) -> None:
        """Set the bits of ``[start, start + len(data))`` and insert the new bytes."""
        bits, datas = self._bits, self._data
        end = start + len(data)
        pos = start
        whole = end - start <= PAGE_SIZE - (start & _MASK)
        view = data if whole else memoryview(data)
        while pos < end:
            page = pos >> PAGE_SHIFT
            i = pos & _MASK
            n = min(end - pos, PAGE_SIZE - i)
            piece = view if whole else view[pos - start : pos - start + n]
            mask = ((1 << n) - 1) << i
            old = bits.get(page)
            if old is None:
                datas[page] = bytearray(piece)
                insort(self._pages, page)
                old = 0
                self._held += n
            else:
                new = mask & ~old
                if new == mask:  # none held yet: one insertion
                    d = datas[page]
                    at = (old & ((1 << i) - 1)).bit_count()
                    d[at:at] = piece
                    self._held += n
                elif new:  # partly held: insert each new stretch
                    self._insert_new(page, old, new, piece, i)
                    self._held += new.bit_count()
            x = old | mask
            if x == _FULL:
                x = _FULL
                if old != _FULL:
                    self._full.add(page, page + 1)
            bits[page] = x
            pos += n

    def _insert_new(self, page: int, old: int, new: int, piece: bytes | memoryview,
                    piece_at: int) -> None:
        """Insert the bytes of ``piece`` (placed at bit ``piece_at``) where ``new`` has bits."""
        d = self._data[page]
        while new:
            lo = (new & -new).bit_length() - 1
            n = _trailing_ones(new >> lo)
            at = (old & ((1 << lo) - 1)).bit_count()
            d[at:at] = piece[lo - piece_at : lo - piece_at + n]
            stretch = ((1 << n) - 1) << lo
            old |= stretch
            new &= ~stretch

    def _remove_below(self, cut: int, keep_from: int) -> list[bytes | bytearray]:
        """Drop every byte held below ``cut`` (which no range straddles); return the
        dropped bytes at or above ``keep_from``, in order."""
        bits, datas, pages = self._bits, self._data, self._pages
        cut_page = cut >> PAGE_SHIFT
        out: list[bytes | bytearray] = []
        k = 0
        prev_page, prev_x = -2, 0
        runs = held = 0
        first = pages[0] if pages else 0
        while k < len(pages) and pages[k] <= cut_page:
            page = pages[k]
            x = bits[page]
            base = page << PAGE_SHIFT
            part = x & ((1 << (cut - base)) - 1) if page == cut_page else x
            if not part:
                break
            carry = 1 if prev_page == page - 1 and prev_x & _TOP else 0
            runs += (part & ~((x << 1) | carry)).bit_count()
            n = part.bit_count()
            held += n
            d = datas[page]
            skip = (x & ((1 << (keep_from - base)) - 1)).bit_count() if keep_from > base else 0
            if skip < n:
                out.append(d if skip == 0 and n == len(d) else d[skip:n])
            if part == x:
                del bits[page], datas[page]
                k += 1
            else:
                bits[page] = x & ~part
                del d[:n]
                break
            prev_page, prev_x = page, x
        del pages[:k]
        if held:  # the pages emptied, and the cut page if cut inside it, are not full
            self._full.remove(first, cut_page + (1 if cut & _MASK else 0))
        self._runs -= runs
        self._held -= held
        return out

    def _prune_above(self, start: int, max_ranges: int) -> int:
        """Drop whole ranges from the top while they start above ``start``: at least
        an eighth of ``max_ranges``, and until fewer than ``max_ranges`` remain."""
        goal = max(1, max_ranges >> 3)
        pruned = 0
        while self._runs and (pruned < goal or self._runs >= max_ranges):
            top = self.end - 1
            cut = self._run_start(top)
            if cut <= start:
                break
            self._remove_top_run(cut)
            pruned += 1
        return pruned

    def _remove_top_run(self, cut: int) -> None:
        """Drop the highest range, which starts at ``cut``."""
        bits, datas, pages = self._bits, self._data, self._pages
        cut_page = cut >> PAGE_SHIFT
        top_page = pages[-1]
        while pages and pages[-1] >= cut_page:
            page = pages[-1]
            x = bits[page]
            keep = x & ((1 << (cut - (page << PAGE_SHIFT))) - 1) if page == cut_page else 0
            kept = keep.bit_count()
            self._held -= x.bit_count() - kept
            if keep:
                bits[page] = keep
                del datas[page][kept:]
                break
            del bits[page], datas[page]
            pages.pop()
        self._full.remove(cut_page, top_page + 1)
        self._runs -= 1

