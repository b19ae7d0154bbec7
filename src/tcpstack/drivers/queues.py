"""Queue disciplines for the simulator's bottleneck: drop-tail, RED and CoDel.

A discipline decides, for each packet offered to a bottleneck queue, whether
it is accepted, dropped or accepted with its ECN field set to CE. It keeps
no packets itself: the bottleneck (:class:`tcpstack.drivers.sim.Bottleneck`)
holds the FIFO and tells the discipline what it needs, the backlog when a
packet arrives (:meth:`QueueDiscipline.enqueue`) and, for a discipline that
acts at the head of the queue (``acts_at_dequeue``, CoDel), the packet's
sojourn time when it leaves (:meth:`QueueDiscipline.dequeue`).

The backlog counts the packets waiting, not the one being serialized (as
the simulator's ``queue_limit`` always has). Verdicts are strings:
:data:`ACCEPT`, :data:`MARK` (accept and set CE, RFC 3168 §5) or the drop
reason written in the trace (``"queue-overflow"``, ``"red-drop"``,
``"codel-drop"``). With ``ecn=True`` a discipline marks an ECN-capable
(ECT) packet where it would drop it to signal congestion; a Not-ECT packet
is still dropped, and a packet that does not fit the hard limit is always
dropped (RFC 3168 §7).

Example::

    red = Red(limit_bytes=125_000, min_th=15_000, max_th=45_000, ecn=True)
    b = net.bottleneck(10e6, queue=red)
"""

from __future__ import annotations

import math
import random
from typing import Final

__all__ = [
    "ACCEPT",
    "MARK",
    "QUEUES",
    "CoDel",
    "DropTail",
    "QueueDiscipline",
    "Red",
    "make_queue",
]

ACCEPT: Final = "accept"
"""Verdict: the packet joins the queue (or, at dequeue, is sent) unchanged."""
MARK: Final = "mark"
"""Verdict: as :data:`ACCEPT`, with the packet's ECN field set to CE."""
OVERFLOW: Final = "queue-overflow"
"""Drop reason: the packet does not fit the queue's hard limit."""


class QueueDiscipline:
    """The base: a hard limit in packets and/or bytes, drop-tail beyond it.

    Args:
        limit_packets: most packets waiting (not counting the one being
            serialized); None: no limit in packets.
        limit_bytes: most bytes waiting (IP packet sizes); None: no limit in
            bytes. With both, whichever is hit first.
        ecn: mark CE on ECT packets instead of dropping them where the
            discipline signals congestion (RFC 3168 §5); the hard limit
            always drops.

    Raises:
        ValueError: a negative limit.
    """

    name = "droptail"
    acts_at_dequeue = False
    """True if :meth:`dequeue` may drop or mark (the bottleneck then serves
    the queue packet by packet; otherwise it computes departures at arrival)."""

    def __init__(self, *, limit_packets: int | None = None, limit_bytes: int | None = None,
                 ecn: bool = False) -> None:
        for label, v in (("limit_packets", limit_packets), ("limit_bytes", limit_bytes)):
            if v is not None and v < 0:
                raise ValueError(f"{label} must be >= 0 or None, got {v}")
        self.limit_packets = limit_packets
        self.limit_bytes = limit_bytes
        self.ecn = ecn
        self.rng = random.Random(0)
        """Random draws (RED); the bottleneck seeds it from the network's seed."""
        self.bandwidth: float | None = None
        """The bottleneck's rate, bit/s, set when attached (RED's idle correction)."""

    def attach(self, bandwidth: float, rng: random.Random) -> None:
        """Called by the bottleneck the discipline serves: its rate (bit/s) and
        the seeded generator for the discipline's draws."""
        self.bandwidth = bandwidth
        self.rng = rng

    def overflows(self, size: int, backlog_packets: int, backlog_bytes: int,
                  idle_since: float | None) -> bool:
        """True if a packet of ``size`` bytes does not fit behind ``backlog_packets``
        packets / ``backlog_bytes`` bytes (drop-tail). A packet that finds the
        link idle (``idle_since`` set) goes straight into service: it always fits."""
        return idle_since is None and (
            (self.limit_packets is not None and backlog_packets >= self.limit_packets)
            or (self.limit_bytes is not None and backlog_bytes + size > self.limit_bytes)
        )

    def enqueue(self, size: int, now: float, backlog_packets: int, backlog_bytes: int,
                idle_since: float | None, ect: bool) -> str:
        """Judge a packet of ``size`` bytes arriving at ``now`` (seconds).

        Args:
            backlog_packets, backlog_bytes: packets and bytes waiting ahead of
                it (not counting the packet being serialized).
            idle_since: when the link went idle (nothing in service nor
                waiting), or None if it is busy.
            ect: the packet is ECN-capable (ECT(0) or ECT(1)); only computed
                when :attr:`ecn` is set (False otherwise).

        Returns:
            :data:`ACCEPT`, :data:`MARK` or a drop reason.
        """
        if self.overflows(size, backlog_packets, backlog_bytes, idle_since):
            return OVERFLOW
        return ACCEPT

    def on_empty(self, now: float) -> None:
        """The queue ran empty when a packet was due to leave (after a drop at
        dequeue). Only called when :attr:`acts_at_dequeue`."""

    def dequeue(self, size: int, now: float, sojourn: float, backlog_bytes: int,
                ect: bool) -> str:
        """Judge the packet at the head of the queue as it leaves at ``now``:
        ``sojourn`` seconds after it arrived, ``backlog_bytes`` still waiting
        behind it. Only called when :attr:`acts_at_dequeue`. Returns
        :data:`ACCEPT`, :data:`MARK` or a drop reason."""
        return ACCEPT


class DropTail(QueueDiscipline):
    """First in, first out; a packet that does not fit the limit is dropped
    (``"queue-overflow"``). Never marks: ``ecn`` has no effect."""

    name = "droptail"


class Red(QueueDiscipline):
    """Random Early Detection (Floyd & Jacobson, "Random Early Detection
    Gateways for Congestion Avoidance", IEEE/ACM ToN 1993; RFC 2309 §3).

    At each arrival the average queue ``avg`` (bytes) follows an EWMA of the
    backlog ``q``: ``avg = (1 - w_q) * avg + w_q * q``; after an idle period
    of ``m`` packet times it first decays as ``avg = (1 - w_q)**m * avg``
    (the paper's idle-time correction: ``m = (now - q_time) / s``, ``s`` the
    time to send a ``mean_packet_size`` packet). Then:

    * ``avg < min_th``: accept (``count = -1``);
    * ``min_th <= avg < max_th``: ``count += 1``, ``p_b = max_p * (avg -
      min_th) / (max_th - min_th)``, ``p_a = p_b / (1 - count * p_b)``
      (1 once ``count * p_b >= 1``); with probability ``p_a`` the packet is
      marked (ECT, with ``ecn``) or dropped (``"red-drop"``), and ``count =
      0``;
    * ``avg >= max_th``: dropped, even if ECT (RFC 3168 §7), ``count = 0``;
      with ``gentle`` (Floyd 2000, "Recommendation on using the gentle_
      variant of RED") ``p_b`` instead rises linearly from ``max_p`` at
      ``max_th`` to 1 at ``2 * max_th`` (same mark-or-drop choice, and
      ``p_a = p_b``), and only ``avg >= 2 * max_th`` drops every packet.

    The hard limit (``limit_packets`` / ``limit_bytes``) still drops
    (``"queue-overflow"``) after the RED decision accepted the packet.

    Args:
        min_th, max_th: thresholds on ``avg``, bytes (0 <= min_th < max_th).
        max_p: the drop probability at ``max_th`` (0 < max_p <= 1).
        w_q: the EWMA weight (0 < w_q <= 1; the paper suggests 0.002).
        gentle: the gentle variant above ``max_th``.
        mean_packet_size: bytes, for the idle-time correction.

    Raises:
        ValueError: a parameter out of range.
    """

    name = "red"

    def __init__(self, *, min_th: float, max_th: float, max_p: float = 0.1, w_q: float = 0.002,
                 gentle: bool = False, mean_packet_size: int = 1500,
                 limit_packets: int | None = None, limit_bytes: int | None = None,
                 ecn: bool = False) -> None:
        super().__init__(limit_packets=limit_packets, limit_bytes=limit_bytes, ecn=ecn)
        if not 0 <= min_th < max_th:
            raise ValueError(f"RED needs 0 <= min_th < max_th, got {min_th}, {max_th}")
        if not 0 < max_p <= 1:
            raise ValueError(f"RED max_p must be in (0, 1], got {max_p}")
        if not 0 < w_q <= 1:
            raise ValueError(f"RED w_q must be in (0, 1], got {w_q}")
        if mean_packet_size < 1:
            raise ValueError(f"RED mean_packet_size must be >= 1, got {mean_packet_size}")
        self.min_th = min_th
        self.max_th = max_th
        self.max_p = max_p
        self.w_q = w_q
        self.gentle = gentle
        self.mean_packet_size = mean_packet_size
        self.avg = 0.0
        """The average queue, bytes."""
        self.count = -1
        """Packets accepted since the last mark or drop while min_th <= avg."""

    def update_average(self, now: float, backlog_bytes: int, idle_since: float | None) -> float:
        """Update and return ``avg`` (bytes) for an arrival at ``now``."""
        if idle_since is not None and self.bandwidth is not None and now > idle_since:
            # Idle correction (Floyd & Jacobson 1993 §4, Fig. 2): the queue was
            # empty for m "small packet" times: avg <- (1 - w_q)^m * avg.
            s = self.mean_packet_size * 8 / self.bandwidth
            m = (now - idle_since) / s
            self.avg *= (1 - self.w_q) ** m
        else:
            # The EWMA of the instantaneous queue (Fig. 2): avg <- (1-w_q) avg + w_q q.
            self.avg = (1 - self.w_q) * self.avg + self.w_q * backlog_bytes
        return self.avg

    def probability(self, avg: float) -> float:
        """The initial probability ``p_b`` at ``avg`` (bytes), for
        ``min_th <= avg`` (1.0 where every packet is dropped)."""
        if avg < self.max_th:
            # Fig. 2: p_b <- max_p (avg - min_th) / (max_th - min_th).
            return self.max_p * (avg - self.min_th) / (self.max_th - self.min_th)
        if self.gentle and avg < 2 * self.max_th:
            # Gentle RED: from max_p at max_th linearly up to 1 at 2 max_th.
            return self.max_p + (1 - self.max_p) * (avg - self.max_th) / self.max_th
        return 1.0

    def enqueue(self, size: int, now: float, backlog_packets: int, backlog_bytes: int,
                idle_since: float | None, ect: bool) -> str:
        """RED's decision, then the hard limit (see the class docstring)."""
        avg = self.update_average(now, backlog_bytes, idle_since)
        if avg < self.min_th:
            # Below min_th: no congestion signal; count restarts (Fig. 2: count <- -1).
            self.count = -1
            verdict = ACCEPT
        elif avg >= (2 * self.max_th if self.gentle else self.max_th):
            # Above max_th (2 max_th if gentle): every packet is dropped, ECT or not
            # (RFC 3168 §7: a router should drop rather than mark here).
            self.count = 0
            return "red-drop"
        else:
            self.count += 1
            p_b = self.probability(avg)
            if avg >= self.max_th:
                p_a = p_b  # gentle region: no count spreading
            else:
                # Fig. 2: p_a <- p_b / (1 - count p_b), uniform spacing of drops.
                denom = 1 - self.count * p_b
                p_a = 1.0 if denom <= 0 else p_b / denom
            if self.rng.random() < p_a:
                self.count = 0
                # RFC 3168 §5: mark an ECT packet instead of dropping it.
                verdict = MARK if self.ecn and ect else "red-drop"
                if verdict != MARK:
                    return verdict
            else:
                verdict = ACCEPT
        if self.overflows(size, backlog_packets, backlog_bytes, idle_since):
            return OVERFLOW
        return verdict


class CoDel(QueueDiscipline):
    """Controlled Delay (RFC 8289), acting on each packet's sojourn time as it
    leaves the queue (its pseudo-code in §5, without the RFC's optional parts).

    The packet at the head is "ok to drop" once the sojourn time has stayed
    at or above ``target`` for ``interval`` (and more than ``max_packet``
    bytes wait behind it). Then CoDel enters the dropping state: it drops
    that packet and sets the next drop at ``now + interval / sqrt(count)``;
    each drop after that increments ``count`` and is spaced by the control
    law ``drop_next + interval / sqrt(count)`` (RFC 8289 §3.3) while the
    sojourn time stays above target; when it falls below, dropping stops.
    On re-entry soon after (within 16 intervals) ``count`` restarts at the
    drops of the last dropping period beyond the first (RFC 8289 §5.6).
    With ``ecn`` an ECT packet is marked instead of dropped, and a mark ends
    the loop of drops due at that dequeue (as Linux's codel does); the
    hard limit drops at arrival (``"queue-overflow"``).

    Args:
        target: acceptable standing queue delay, seconds (RFC: 5 ms).
        interval: seconds, of the order of a worst-case RTT (RFC: 100 ms).

    Raises:
        ValueError: target or interval not > 0.
    """

    name = "codel"
    acts_at_dequeue = True

    def __init__(self, *, target: float = 0.005, interval: float = 0.100,
                 limit_packets: int | None = None, limit_bytes: int | None = None,
                 ecn: bool = False) -> None:
        super().__init__(limit_packets=limit_packets, limit_bytes=limit_bytes, ecn=ecn)
        if not target > 0 or not interval > 0:
            raise ValueError(f"CoDel target and interval must be > 0, got {target}, {interval}")
        self.target = target
        self.interval = interval
        self.first_above_time = 0.0  # 0: the sojourn time is not above target
        self.drop_next = 0.0
        self.count = 0
        self.lastcount = 0
        self.dropping = False
        self.max_packet = 0  # largest packet seen (RFC 8289 maxpacket_)
        self._entered = False  # just entered the dropping state: send the next head
        self._looping = False  # dropped the head in the drop loop: judge the next

    def control_law(self, t: float, count: int) -> float:
        """RFC 8289 §3.3: the next drop time, ``t + interval / sqrt(count)`` (seconds)."""
        return t + self.interval / math.sqrt(count)

    def _ok_to_drop(self, size: int, now: float, sojourn: float, backlog_bytes: int) -> bool:
        """RFC 8289 §5.5 dodequeue(): has the sojourn time been above target for an interval?"""
        if size > self.max_packet:
            self.max_packet = size
        if sojourn < self.target or backlog_bytes <= self.max_packet:
            # "went below - stay below for at least interval"
            self.first_above_time = 0.0
            return False
        if self.first_above_time == 0.0:
            self.first_above_time = now + self.interval
            return False
        return now >= self.first_above_time

    def dequeue(self, size: int, now: float, sojourn: float, backlog_bytes: int,
                ect: bool) -> str:
        """RFC 8289 §5.6 dequeue(), one packet at a time: after a drop the
        bottleneck calls it again for the next head at the same ``now`` (the
        RFC's loop), or :meth:`on_empty` if none is left."""
        ok = self._ok_to_drop(size, now, sojourn, backlog_bytes)
        if self._entered:
            # The packet dequeued right after entering the dropping state is sent
            # (the RFC's "r = dodequeue(now)" after the first drop).
            self._entered = False
            return ACCEPT
        if self._looping:
            # Inside the RFC's drop loop: the previous head was dropped.
            self._looping = False
            if not ok:
                self.dropping = False  # leave the dropping state
                return ACCEPT
            # Schedule the next drop by the control law from the last one.
            self.drop_next = self.control_law(self.drop_next, self.count)
            return self._drop_if_due(now, ect)
        if self.dropping:
            if not ok:
                # Sojourn time below target: leave the dropping state.
                self.dropping = False
                return ACCEPT
            return self._drop_if_due(now, ect)
        if ok:
            # Enter the dropping state (§5.6): drop this packet; count restarts at 1,
            # or at the previous period's drops beyond its first if that ended less
            # than 16 intervals ago.
            self.dropping = True
            delta = self.count - self.lastcount
            self.count = 1
            if delta > 1 and now - self.drop_next < 16 * self.interval:
                self.count = delta
            self.drop_next = self.control_law(now, self.count)
            self.lastcount = self.count
            verdict = self._signal(ect)
            self._entered = verdict != MARK  # a marked packet is the one sent
            return verdict
        return ACCEPT

    def _drop_if_due(self, now: float, ect: bool) -> str:
        """In the dropping state: drop (or mark) the head if ``drop_next`` has come."""
        if now < self.drop_next:
            return ACCEPT
        self.count += 1
        verdict = self._signal(ect)
        if verdict == MARK:
            # Linux codel: a marked packet is sent; the next signal by the control law.
            self.drop_next = self.control_law(self.drop_next, self.count)
        else:
            self._looping = True
        return verdict

    def on_empty(self, now: float) -> None:
        """The queue ran empty at a dequeue (RFC 8289 dodequeue() with no packet):
        the sojourn time is no longer above target, and dropping stops."""
        self.first_above_time = 0.0
        if self._looping:
            self.dropping = False  # the RFC's drop loop: "leave drop state"
        # Just entered: the RFC stays in the dropping state; the next head decides.
        self._looping = self._entered = False

    def _signal(self, ect: bool) -> str:
        """Drop, or mark an ECT packet when ``ecn`` (RFC 3168 §5)."""
        return MARK if self.ecn and ect else "codel-drop"


QUEUES: dict[str, type[QueueDiscipline]] = {"droptail": DropTail, "red": Red, "codel": CoDel}
"""Discipline classes by name."""


def make_queue(name: str, *, limit_bytes: int | None = None, limit_packets: int | None = None,
               ecn: bool = False) -> QueueDiscipline:
    """A discipline by name with its default parameters and the given hard limit.

    ``"droptail"``: the limit only. ``"red"`` (needs ``limit_bytes``):
    ``max_th = limit_bytes / 2``, ``min_th = max_th / 3`` (Floyd's advice
    of max_th at least twice min_th, and a buffer beyond max_th),
    ``max_p = 0.1``, ``w_q = 0.002``, gentle. ``"codel"``: RFC 8289's
    5 ms target and 100 ms interval.

    Raises:
        ValueError: unknown name (the message lists the known ones), or RED
            without ``limit_bytes``.
    """
    if name == "droptail":
        return DropTail(limit_bytes=limit_bytes, limit_packets=limit_packets, ecn=ecn)
    if name == "red":
        if limit_bytes is None or limit_bytes <= 0:
            raise ValueError("a RED queue by name needs a byte limit (its thresholds derive "
                             "from it)")
        max_th = limit_bytes / 2
        return Red(min_th=max_th / 3, max_th=max_th, gentle=True, limit_bytes=limit_bytes,
                   limit_packets=limit_packets, ecn=ecn)
    if name == "codel":
        return CoDel(limit_bytes=limit_bytes, limit_packets=limit_packets, ecn=ecn)
    raise ValueError(f"unknown queue {name!r}; known: {', '.join(QUEUES)}")
