"""Sender-side SACK scoreboard and loss recovery helpers (RFC 6675, RFC 2018).

The scoreboard works on **stream offsets**: Python ints that never wrap, so
plain ``<`` is correct here (the connection converts modulo-2^32 sequence
numbers to offsets and back). Every length is in **bytes**; every range is
half-open, ``[start, end)``.

How RFC 6675's octet-based variables map onto offsets
------------------------------------------------------
RFC 6675 names *octets*: HighACK is the highest octet cumulatively
acknowledged, HighData the highest octet sent, HighRxt the highest octet
retransmitted. Here each of them is the offset *one past* that octet, which
is what a connection has at hand:

========================  ==========================================
RFC 6675 (octet)          here (exclusive offset)
========================  ==========================================
HighACK                   ``high_ack``  = SND.UNA as an offset
HighData                  ``high_data`` = SND.NXT as an offset
HighRxt                   :attr:`Scoreboard.high_rxt`
RescueRxt                 :attr:`Scoreboard.rescue_rxt`
RecoveryPoint             :attr:`Scoreboard.recovery_point`
``HighACK + 1``           ``high_ack`` (first unacknowledged offset)
``S > HighRxt``           ``s >= high_rxt``
``S <= HighRxt``          ``s < high_rxt``
``HighACK > RescueRxt``   ``high_ack > rescue_rxt`` (both shifted by 1)
========================  ==========================================

Storage: SACKed data is one sorted list of merged, disjoint, non-adjacent
ranges (binary search with :mod:`bisect`); retransmitted-and-not-SACKed data
is a second such list. There are no per-segment records, so an ACK costs
O(log n) plus the ranges it merges or drops, and :meth:`Scoreboard.is_lost`,
:meth:`Scoreboard.pipe` and :meth:`Scoreboard.next_seg` cost O(log n +
DupThresh).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Protocol

__all__ = ["RecoveryPhase", "Scoreboard"]


class RecoveryPhase(Protocol):
    """Who holds the loss recovery phase a scoreboard works in (RFC 6675 §5).

    A connection's :class:`~tcpstack.recovery.LossRecovery` holds it, so the
    recovery point exists once; a scoreboard used on its own holds its own.
    """

    @property
    def in_recovery(self) -> bool:
        """Whether the loss recovery phase of §5 is running."""
        ...

    @property
    def recovery_point(self) -> int | None:
        """RecoveryPoint (§5 step 4.1) as an offset, or None when undefined."""
        ...


class _OwnPhase:
    """The phase of a scoreboard that is not driven by a connection."""

    __slots__ = ("in_recovery", "recovery_point")

    def __init__(self) -> None:
        self.in_recovery = False
        self.recovery_point: int | None = None


class RangeSet:
    """Disjoint, non-adjacent, ascending half-open ranges of ints (offsets, page numbers).

    ``total`` is the number of ints covered. Adding or removing a range costs
    O(log n) plus the ranges it merges or cuts (and a move of the list tails).
    """

    __slots__ = ("_ends", "_starts", "total")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.total = 0

    def __len__(self) -> int:
        return len(self._starts)

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def clear(self) -> None:
        self._starts.clear()
        self._ends.clear()
        self.total = 0

    def first_start(self) -> int:
        return self._starts[0]

    def last(self) -> tuple[int, int]:
        return self._starts[-1], self._ends[-1]

    def contains(self, offset: int) -> bool:
        i = bisect_right(self._starts, offset) - 1
        return i >= 0 and offset < self._ends[i]

    def touches(self, start: int, end: int) -> bool:
        """Whether a range overlaps or touches ``[start, end)`` (adding it makes no new range)."""
        return bisect_left(self._ends, start) < bisect_right(self._starts, end)

    def containing(self, offset: int) -> tuple[int, int]:
        """The range holding ``offset``, which must be covered."""
        i = bisect_right(self._starts, offset) - 1
        return self._starts[i], self._ends[i]

    def add(self, start: int, end: int) -> int:
        """Cover ``[start, end)``; return how many bytes were not covered before."""
        if end <= start:
            return 0
        starts, ends = self._starts, self._ends
        j = bisect_left(ends, start)  # first range ending at or after start (touching counts)
        k = bisect_right(starts, end)  # ranges from j to k - 1 overlap or touch
        if j == k:
            starts.insert(j, start)
            ends.insert(j, end)
            self.total += end - start
            return end - start
        covered = 0
        for i in range(j, k):
            covered += ends[i] - starts[i]
        new_start = min(start, starts[j])
        new_end = max(end, ends[k - 1])
        starts[j:k] = [new_start]
        ends[j:k] = [new_end]
        added = new_end - new_start - covered
        self.total += added
        return added

    def remove(self, start: int, end: int) -> int:
        """Uncover ``[start, end)``; return how many bytes were covered there."""
        if end <= start:
            return 0
        starts, ends = self._starts, self._ends
        j = bisect_right(ends, start)  # first range ending after start
        k = bisect_left(starts, end)  # ranges from j to k - 1 overlap [start, end)
        if j >= k:
            return 0
        removed = 0
        for i in range(j, k):
            removed += min(ends[i], end) - max(starts[i], start)
        keep_starts: list[int] = []
        keep_ends: list[int] = []
        if starts[j] < start:
            keep_starts.append(starts[j])
            keep_ends.append(start)
        if ends[k - 1] > end:
            keep_starts.append(end)
            keep_ends.append(ends[k - 1])
        starts[j:k] = keep_starts
        ends[j:k] = keep_ends
        self.total -= removed
        return removed

    def drop_starting_at_or_below(self, offset: int) -> int:
        """Drop every range whose start is ``<= offset``, whole; return the bytes dropped."""
        i = bisect_right(self._starts, offset)
        if i == 0:
            return 0
        dropped = 0
        for s, e in zip(self._starts[:i], self._ends[:i], strict=True):
            dropped += e - s
        del self._starts[:i]
        del self._ends[:i]
        self.total -= dropped
        return dropped

    def bytes_between(self, start: int, end: int) -> int:
        """Covered bytes inside ``[start, end)``."""
        starts, ends = self._starts, self._ends
        if not starts or end <= start:
            return 0
        if start <= starts[0] and end >= ends[-1]:
            return self.total
        j = bisect_right(ends, start)
        k = bisect_left(starts, end)
        n = 0
        for i in range(j, k):
            n += min(ends[i], end) - max(starts[i], start)
        return n

    def overlapping(self, start: int, end: int) -> list[tuple[int, int]]:
        """The ranges (unclipped) that overlap ``[start, end)``."""
        j = bisect_right(self._ends, start)
        k = bisect_left(self._starts, end)
        return list(zip(self._starts[j:k], self._ends[j:k], strict=True))

    def end_below_last(self, default: int) -> int:
        """The end of the second-highest range, or ``default`` with fewer than two."""
        return self._ends[-2] if len(self._ends) >= 2 else default

    def hole_at(self, offset: int, limit: int) -> tuple[int, int]:
        """The first uncovered offset ``h >= offset`` and where the gap from ``h`` ends.

        The gap ends at the next range's start or at ``limit``, whichever is lower.
        """
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, offset)
        if i > 0 and ends[i - 1] > offset:
            offset = ends[i - 1]
        gap_end = starts[i] if i < len(starts) else limit
        return offset, min(gap_end, limit)

    def lost_limit(self, dupthresh: int, threshold_bytes: int) -> tuple[int, int] | None:
        """The IsLost() boundary, scanning at most ``dupthresh`` ranges from the top.

        Returns ``(start, above)``: ``start`` is the start of the highest range
        such that the gap below it has ``dupthresh`` ranges or more than
        ``threshold_bytes`` covered bytes at or above it; ``above`` is the number
        of bytes covered from ``start`` up. ``None`` when no gap qualifies.
        """
        starts, ends = self._starts, self._ends
        above = 0
        n = len(starts)
        for i in range(n - 1, max(n - dupthresh, 0) - 1, -1):
            above += ends[i] - starts[i]
            if n - i >= dupthresh or above > threshold_bytes:
                return starts[i], above
        return None


class Scoreboard:
    """RFC 6675 scoreboard over stream offsets.

    Offsets are ints that never wrap; lengths are bytes. The caller (the
    connection) reports what it sends (:meth:`on_sent`) and every ACK
    (:meth:`on_ack`); it asks :meth:`pipe` (SetPipe) for the bytes in flight
    and :meth:`next_seg` (NextSeg) for what to send, and drives the loss
    recovery phase with :meth:`enter_recovery`, :meth:`exit_recovery` and
    :meth:`reset_after_timeout` (RFC 6675 §5, §5.1).

    Args:
        mss: SMSS in bytes (settable later, e.g. once the handshake fixed it).
        dupthresh: DupThresh of RFC 6675 §2 (3 by default, as RFC 5681).
        phase: the holder of the recovery phase and RecoveryPoint. By default
            the scoreboard holds its own, which :meth:`enter_recovery`,
            :meth:`exit_recovery` and :meth:`reset_after_timeout` update. Given
            a holder, those methods only reset the scoreboard's marks (HighRxt,
            RescueRxt, retransmitted ranges) and the holder changes the phase.
        max_ranges: at most this many disjoint SACKed ranges are kept (None:
            no limit). At the limit a block that would add a range is ignored:
            its bytes count as not SACKed, which costs at most a needless
            retransmission, never data (as Linux ignores SACK information
            that would split its queue beyond its memory limit).

    Attributes:
        high_rxt: HighRxt (§2), offset one past the highest byte retransmitted
            in the current recovery phase; never below HighACK.
        rescue_rxt: RescueRxt (§2), offset, or ``None`` while undefined.
        recovery_point: RecoveryPoint (§5 step 4.1), offset one past the
            highest byte sent when recovery began; after an RTO (§5.1) it holds
            HighData at the timeout while ``in_recovery`` is false. ``None``
            when there is no such point.
        in_recovery: whether the loss recovery phase of §5 is running (read
            from the phase holder).
        last_rule: which NextSeg() rule (1-4) produced the last
            :meth:`next_seg` result, ``None`` if it returned ``None``.
    """

    __slots__ = (
        "_high_ack",
        "_high_data",
        "_max_ranges",
        "_mss",
        "_own",
        "_phase",
        "_rescue_offer",
        "_rexmit",
        "_sacked",
        "dupthresh",
        "high_rxt",
        "last_rule",
        "rescue_rxt",
    )

    def __init__(self, mss: int, dupthresh: int = 3, *,
                 phase: RecoveryPhase | None = None, max_ranges: int | None = None) -> None:
        if dupthresh < 1:
            raise ValueError("dupthresh must be >= 1")
        if max_ranges is not None and max_ranges < 1:
            raise ValueError("max_ranges must be >= 1")
        self._max_ranges = max_ranges
        self._mss = _check_mss(mss)
        self.dupthresh = dupthresh
        self._sacked = RangeSet()
        self._rexmit = RangeSet()  # retransmitted in this phase and not SACKed since
        self._high_ack: int | None = None
        self._high_data: int | None = None
        self.high_rxt = 0
        self.rescue_rxt: int | None = None
        self._own = _OwnPhase() if phase is None else None
        self._phase: RecoveryPhase = self._own if self._own is not None else phase  # type: ignore[assignment]
        self.last_rule: int | None = None
        self._rescue_offer: tuple[int, int] | None = None

    @property
    def in_recovery(self) -> bool:
        """Whether the loss recovery phase of §5 is running."""
        return self._phase.in_recovery

    @property
    def recovery_point(self) -> int | None:
        """RecoveryPoint (§5 step 4.1, or HighData at the last RTO, §5.1), or None."""
        return self._phase.recovery_point

    # -- parameters and read-only state -------------------------------------

    @property
    def mss(self) -> int:
        """SMSS in bytes: the segment size of NextSeg() and the unit of IsLost()."""
        return self._mss

    @mss.setter
    def mss(self, value: int) -> None:
        self._mss = _check_mss(value)

    @property
    def high_ack(self) -> int | None:
        """HighACK as last reported (SND.UNA offset), ``None`` before anything happened."""
        return self._high_ack

    @property
    def high_data(self) -> int | None:
        """HighData as known from :meth:`on_sent` (SND.NXT offset), ``None`` if unknown."""
        return self._high_data

    # -- input ---------------------------------------------------------------

    def on_sent(self, start: int, end: int, *, retransmission: bool) -> None:
        """Record that a segment carrying the bytes ``[start, end)`` went out.

        New data (``retransmission=False``) only moves HighData. A
        retransmission marks its not-yet-acknowledged, not-SACKed bytes as
        retransmitted, so :meth:`pipe` counts them a second time (§4 SetPipe
        rule b), and sets HighRxt to ``end`` (§5 step C.2; HighRxt only moves
        up). The first retransmission after :meth:`enter_recovery` also sets
        RescueRxt to ``end`` (§5 step 4.3). A retransmission of exactly the
        range :meth:`next_seg` offered under rule (4) is the rescue
        retransmission: RescueRxt becomes RecoveryPoint and HighRxt does not
        move (§4 NextSeg rule 4, step C.2).

        Raises:
            ValueError: if ``end < start``.
        """
        if end < start:
            raise ValueError("segment end below its start")
        offer, self._rescue_offer = self._rescue_offer, None
        if end == start:
            return
        if self._high_ack is None:
            self._high_ack = start
            self.high_rxt = max(self.high_rxt, start)
        if self._high_data is None or end > self._high_data:
            self._high_data = end
        if not retransmission:
            return
        start = max(start, self._high_ack)
        if end <= start:
            return
        self._rexmit.add(start, end)
        for s, e in self._sacked.overlapping(start, end):
            self._rexmit.remove(s, e)
        if offer is not None and self.in_recovery and offer[0] <= start and end <= offer[1]:
            self.rescue_rxt = self.recovery_point if self.recovery_point is not None else end
            return
        if self.in_recovery and self.rescue_rxt is None:
            self.rescue_rxt = end
        self.high_rxt = max(self.high_rxt, end)

    def on_ack(self, high_ack: int, blocks: Iterable[tuple[int, int]]) -> int:
        """Update() of §4: take an ACK's cumulative point and SACK blocks.

        Args:
            high_ack: SND.UNA after this ACK, as an offset (HighACK + 1 in RFC
                terms). A value lower than one seen before is ignored.
            blocks: the ACK's SACK blocks, ``(left, right)`` offsets, left edge
                included and right edge excluded (RFC 2018 §3), in any order.

        State below ``high_ack`` is discarded. A block is ignored unless
        ``high_ack < left < right <= HighData`` (HighData checked only when
        known): this drops empty and inverted blocks, D-SACK blocks below the
        cumulative ACK (RFC 2883), and blocks touching or straddling
        ``high_ack``, since a receiver holding the byte at ``high_ack`` would
        have acknowledged it (RFC 2018 §3: blocks report non-contiguous data).
        For the same reason a stored SACKed range that ``high_ack`` reaches
        into is dropped whole: the receiver reneged on it (RFC 2018 §8), so
        those bytes are outstanding again.

        Returns:
            Bytes newly SACKed by this ACK: SACKed now, not SACKed before and
            not cumulatively acknowledged. A non-zero value is what makes an
            ACK a "duplicate acknowledgment" in RFC 6675 §2.
        """
        self._advance(high_ack)
        self._rescue_offer = None
        floor = self._high_ack
        assert floor is not None
        ceiling = self._high_data
        newly = 0
        sacked, limit = self._sacked, self._max_ranges
        for left, right in blocks:
            if right <= left or left <= floor or (ceiling is not None and right > ceiling):
                continue
            if limit is not None and len(sacked) >= limit and not sacked.touches(left, right):
                continue  # no room for another range: leave these bytes unSACKed
            added = sacked.add(left, right)
            if added:
                self._rexmit.remove(left, right)
                newly += added
        return newly

    # -- queries -------------------------------------------------------------

    def is_sacked(self, offset: int) -> bool:
        """Whether the byte at ``offset`` is SACKed (and above HighACK)."""
        return self._sacked.contains(offset)

    def is_lost(self, offset: int) -> bool:
        """IsLost(SeqNum) of §4 for the byte at ``offset``.

        True when at least DupThresh discontiguous SACKed ranges lie above the
        byte, or more than ``(DupThresh - 1) * SMSS`` bytes above it are
        SACKed. A byte that is cumulatively acknowledged or SACKed is never
        lost. For the §5 entry test call ``is_lost(high_ack)``: the RFC's
        ``IsLost(HighACK + 1)``.
        """
        if self._high_ack is None or offset < self._high_ack or self._sacked.contains(offset):
            return False
        return offset < self._lost_limit()[0]

    def pipe(self, high_ack: int, high_data: int) -> int:
        """SetPipe() of §4: the bytes estimated in flight.

        Every byte of ``[high_ack, high_data)`` that is not SACKed counts once
        if IsLost() is false for it (rule a) and once more if it was
        retransmitted in the current recovery phase and not SACKed since (rule
        b). The RFC writes rule (b) as ``S1 <= HighRxt``; the bytes below
        HighRxt that NextSeg() left alone are SACKed, so the two agree, except
        that the rescue retransmission of rule (4), which leaves HighRxt alone,
        is counted here too, as §5 step C.4 counts it when it is sent.

        ``high_ack`` above the last :meth:`on_ack` value acts as an ACK without
        blocks. Returns bytes, never negative.
        """
        self._advance(high_ack)
        self._note_high_data(high_data)
        floor = self._high_ack
        assert floor is not None
        if high_data <= floor:
            return 0
        unsacked = high_data - floor - self._sacked.bytes_between(floor, high_data)
        limit, sacked_from_limit = self._lost_limit()
        if limit <= high_data:
            lost = limit - floor - (self._sacked.total - sacked_from_limit)
        else:  # pragma: no cover - high_data below SACKed data: inconsistent caller
            lost = high_data - floor - self._sacked.bytes_between(floor, high_data)
        return unsacked - lost + self._rexmit.bytes_between(floor, high_data)

    def next_seg(
        self, high_ack: int, high_data: int, *, unsent: int, rwnd_end: int
    ) -> tuple[int, int] | None:
        """NextSeg() of §4: the range ``[start, end)`` to send next, or ``None``.

        Rules, in order (the winner is left in :attr:`last_rule`):

        1. The lowest byte S2 with S2 >= HighRxt, not SACKed, below the
           highest SACKed byte, and lost (IsLost): a retransmission from S2.
        2. Otherwise new data from ``high_data``: at most ``mss``, ``unsent``
           (bytes the application has queued and not sent) and
           ``rwnd_end - high_data`` bytes (``rwnd_end``: offset of the right
           edge of the peer's window).
        3. Otherwise the lowest byte S3 meeting the first two conditions of
           rule 1 but not lost: a retransmission from S3.
        4. Otherwise, only in recovery and once per recovery phase (HighACK >
           RescueRxt, or RescueRxt undefined), the rescue retransmission: the
           segment ending with the highest outstanding byte that is not SACKed.
           :meth:`on_sent` recognizes it when the caller sends it.

        Segments of rules 1, 3 and 4 hold at most ``mss`` bytes, none of them
        SACKed, all in ``[high_ack, high_data)``. Calling this does not change
        the scoreboard beyond what an ACK at ``high_ack`` would.
        """
        self._advance(high_ack)
        self._note_high_data(high_data)
        self.last_rule = None
        self._rescue_offer = None
        floor = self._high_ack
        assert floor is not None
        mss = self._mss
        sacked = self._sacked
        s, gap_end = sacked.hole_at(max(self.high_rxt, floor), high_data)
        if s < high_data and s < self._lost_limit()[0]:
            self.last_rule = 1
            return s, min(s + mss, gap_end)
        if unsent > 0 and rwnd_end > high_data:
            self.last_rule = 2
            return high_data, high_data + min(mss, unsent, rwnd_end - high_data)
        if s < high_data and len(sacked) and s < sacked.last()[0]:
            self.last_rule = 3
            return s, min(s + mss, gap_end)
        if self.in_recovery and (self.rescue_rxt is None or floor > self.rescue_rxt):
            top = self._highest_gap(floor, high_data)
            if top is not None:
                start, end = top
                seg = (max(start, end - mss), end)
                self.last_rule = 4
                self._rescue_offer = seg
                return seg
        return None

    def sacked_bytes(self) -> int:
        """Bytes SACKed above HighACK."""
        return self._sacked.total

    def blocks(self) -> list[tuple[int, int]]:
        """The SACKed ranges above HighACK, merged, ``[start, end)``, ascending."""
        return self._sacked.ranges()

    # -- recovery phase --------------------------------------------------------

    def enter_recovery(self, high_data: int) -> None:
        """Begin loss recovery (§5 step 4.1): RecoveryPoint = ``high_data``.

        Call it before the fast retransmission of step 4.3; that
        retransmission, reported through :meth:`on_sent`, then sets HighRxt
        and RescueRxt. HighRxt restarts at HighACK and the retransmission
        marks of an earlier phase are forgotten. Recovery ends (§5 step A)
        when the cumulative ACK reaches ``recovery_point``
        (``high_ack >= recovery_point``); the caller then calls
        :meth:`exit_recovery`.
        """
        self._note_high_data(high_data)
        if self._own is not None:
            self._own.in_recovery = True
            self._own.recovery_point = high_data
        self.rescue_rxt = None
        self._rescue_offer = None
        self._rexmit.clear()
        if self._high_ack is not None:
            self.high_rxt = self._high_ack

    def exit_recovery(self) -> None:
        """End loss recovery (§5 step A): RecoveryPoint and RescueRxt become undefined.

        The SACK information stays: it describes the receiver, not the phase.
        """
        if self._own is not None:
            self._own.in_recovery = False
            self._own.recovery_point = None
        self.rescue_rxt = None
        self._rescue_offer = None

    def may_enter_recovery(self, high_ack: int) -> bool:
        """Whether §5 allows a new recovery phase at this cumulative ACK.

        False during recovery, and after an RTO until ``high_ack`` reaches the
        RecoveryPoint recorded by :meth:`reset_after_timeout` (§5.1).
        """
        if self.in_recovery:
            return False
        return self.recovery_point is None or high_ack >= self.recovery_point

    def reset_after_timeout(self, *, keep_sacks: bool = False) -> None:
        """Forget the recovery state after a retransmission timeout (§5.1).

        - Retransmission marks are forgotten and HighRxt goes back to HighACK:
          after an RTO every outstanding byte is retransmitted anew.
        - Loss recovery is terminated and RecoveryPoint is set to HighData and
          kept (§5.1, like ``recover`` in RFC 6582 §3.2 step 4), so that
          :meth:`may_enter_recovery` refuses a new phase until it is acked.
        - SACK information is discarded unless ``keep_sacks`` is true. RFC 2018
          §8 says a sender SHOULD forget SACKed marks after an RTO because the
          receiver may have reneged, and MUST retransmit the left edge anyway;
          RFC 6675 §5.1 leaves that rule unchanged and only notes that keeping
          the information is reasonable where reneging is detected. This
          scoreboard detects reneging only when the cumulative ACK reaches a
          SACKed range (see :meth:`on_ack`), which is late, so by default it
          follows RFC 2018; the SACK blocks of later ACKs rebuild the
          scoreboard, and §5.1's advice to use all SACK information that
          arrives after the RTO holds either way. With ``keep_sacks=True``
          the left edge is still never SACKed (HighACK is not).
        """
        if self._high_ack is not None:
            self.high_rxt = self._high_ack
        self._rexmit.clear()
        self.rescue_rxt = None
        self._rescue_offer = None
        if self._own is not None:
            self._own.in_recovery = False
            self._own.recovery_point = self._high_data
        if not keep_sacks:
            self._sacked.clear()

    # -- internals -------------------------------------------------------------

    def _advance(self, high_ack: int) -> None:
        if self._high_ack is None or high_ack > self._high_ack:
            self._high_ack = high_ack
            # (Each set asked through its byte count, an attribute, first: every
            # ACK of a transfer without loss finds both empty, and saves two calls.)
            sacked, rexmit = self._sacked, self._rexmit
            if sacked.total:
                sacked.drop_starting_at_or_below(high_ack)
            if rexmit.total and rexmit.first_start() < high_ack:
                rexmit.remove(rexmit.first_start(), high_ack)
            if self._high_data is not None and high_ack > self._high_data:
                self._high_data = high_ack
        if self.high_rxt < self._high_ack:
            self.high_rxt = self._high_ack

    def _note_high_data(self, high_data: int) -> None:
        if self._high_data is None or high_data > self._high_data:
            self._high_data = high_data

    def _lost_limit(self) -> tuple[int, int]:
        """(offset, SACKed bytes at or above it): unSACKed bytes below the offset are lost.

        IsLost() is the same for every byte of one gap between SACKed ranges
        (the same ranges lie above all of them) and, going up, can only turn
        from true to false. So the lost bytes are exactly the unSACKed bytes
        below one boundary: the start of the highest SACKed range whose gap
        below is lost, or HighACK when no gap is lost.
        """
        found = self._sacked.lost_limit(self.dupthresh, (self.dupthresh - 1) * self._mss)
        if found is None:
            floor = self._high_ack
            return (floor if floor is not None else 0), self._sacked.total
        return found

    def _highest_gap(self, floor: int, high_data: int) -> tuple[int, int] | None:
        """The gap ``[start, end)`` holding the highest outstanding unSACKed byte."""
        if high_data <= floor:
            return None
        sacked = self._sacked
        if not len(sacked):
            return floor, high_data
        last_start, last_end = sacked.last()
        if last_end < high_data:
            return last_end, high_data
        return sacked.end_below_last(floor), last_start


def _check_mss(mss: int) -> int:
    if mss < 1:
        raise ValueError("mss must be >= 1 byte")
    return mss
