"""TCP Vegas: delay-based congestion avoidance (Brakmo & Peterson, "TCP Vegas: End
to End Congestion Avoidance on a Global Internet", IEEE JSAC 13(8), 1995; the
parameters of Linux ``tcp_vegas``).

Once per round trip Vegas compares the rate it expects, cwnd / BaseRTT, with
the rate it got, cwnd / RTT (RTT: the smallest sample of the round), and
turns the difference into segments queued at the bottleneck:

    diff = (cwnd / BaseRTT - cwnd / RTT) * BaseRTT        (segments)

It keeps diff between alpha = 2 and beta = 4 segments in congestion
avoidance (one segment more or less per round), and leaves slow start, which
doubles cwnd every other round, when diff exceeds gamma = 1. (Linux computes
``cwnd * (RTT - BaseRTT) / BaseRTT``, the same queue measured over RTT
instead of BaseRTT; this module follows the paper.) Losses are handled as
NewReno does (the paper's own retransmission changes are not taken, as in
Linux).

With two or fewer RTT samples in a round (no ``needs_samples`` measurement,
e.g. one RFC 6298 sample per round) Vegas cannot judge the queue: the next
round follows Reno (RFC 5681), as Linux does.
"""

from __future__ import annotations

import math

from .base import AckSample
from .newreno import NewReno

ALPHA = 2
"""Fewest segments Vegas keeps queued (Linux ``alpha``)."""
BETA = 4
"""Most segments Vegas keeps queued (Linux ``beta``)."""
GAMMA = 1
"""Queued segments that end slow start (Linux ``gamma``)."""
MIN_SAMPLES = 3
"""RTT samples a round needs for the Vegas rules (Linux: ``cntRTT <= 2`` means Reno)."""


class Vegas(NewReno):
    """Vegas congestion avoidance over NewReno's loss recovery.

    Attributes:
        base_rtt: BaseRTT, the smallest RTT seen, seconds (``math.inf`` before any).
        min_rtt: the smallest RTT of the current round, seconds (``math.inf``: none yet).
        rtt_count: RTT samples in the current round.
        diff: the last round's diff, segments (None before one was computed).
    """

    __slots__ = ("_grow_round", "_reno", "base_rtt", "diff", "min_rtt", "rtt_count")

    name = "vegas"
    needs_samples = True

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.base_rtt = math.inf
        self.min_rtt = math.inf
        self.rtt_count = 0
        self.diff: float | None = None
        self._grow_round = True  # slow start grows in every other round
        self._reno = False  # the last round had too few samples: behave as Reno

    def on_ack(self, sample: AckSample) -> None:
        rtt = sample.rtt
        if rtt is not None and rtt > 0:
            self.base_rtt = min(self.base_rtt, rtt)
            self.min_rtt = min(self.min_rtt, rtt)
            self.rtt_count += 1
        if sample.acked <= 0 or sample.in_recovery:
            return  # recovery: NewReno's rules (RFC 6582)
        if sample.round_start:
            self._end_round()
        if self._reno:
            super().on_ack(sample)  # RFC 5681 slow start / congestion avoidance
        elif self.in_slow_start and self._grow_round and not sample.ece:
            # Slow start, in growth rounds: RFC 5681 §3.1 (2) (L = 1 SMSS);
            # not on an ECN-Echo ACK (RFC 3168 §6.1.2).
            self.cwnd += min(sample.acked, self.mss)

    def _end_round(self) -> None:
        """The once-per-RTT decision (Brakmo & Peterson §3.2-3.3; Linux tcp_vegas_cong_avoid)."""
        count, rtt = self.rtt_count, self.min_rtt
        self.rtt_count = 0
        self.min_rtt = math.inf
        self._reno = count < MIN_SAMPLES
        if self._reno:
            return
        mss = self.mss
        cwnd_seg = self.cwnd / mss
        # diff = (Expected - Actual) * BaseRTT, Expected = cwnd/BaseRTT, Actual = cwnd/RTT.
        diff = (cwnd_seg / self.base_rtt - cwnd_seg / rtt) * self.base_rtt
        self.diff = diff
        if self.in_slow_start:
            if diff > GAMMA:
                # Leave slow start: cwnd = min(cwnd, target + 1) with target =
                # cwnd * BaseRTT / RTT (the window that queues nothing), and
                # ssthresh just below it (Linux tcp_vegas_ssthresh: cwnd - 1).
                target_seg = cwnd_seg * self.base_rtt / rtt
                self.cwnd = max(min(self.cwnd, int((target_seg + 1) * mss)), 2 * mss)
                self.ssthresh = min(self.ssthresh, self.cwnd - mss)
            else:
                self._grow_round = not self._grow_round  # double every other round
            return
        if diff > BETA:
            # Too much queued: one segment less; stay out of slow start.
            self.cwnd = max(self.cwnd - mss, 2 * mss)
            self.ssthresh = min(self.ssthresh, self.cwnd - mss)
        elif diff < ALPHA:
            self.cwnd += mss  # too little queued: one segment more
        # alpha <= diff <= beta: hold cwnd.

    def on_enter_recovery(self, flight_size: int, *, sack: bool) -> None:
        # Loss: Reno's halving (RFC 5681 §3.2); this round's samples are void.
        super().on_enter_recovery(flight_size, sack=sack)
        self._restart_round()

    def on_timeout(self, flight_size: int) -> None:
        super().on_timeout(flight_size)
        self._restart_round()

    def _restart_round(self) -> None:
        self.rtt_count = 0
        self.min_rtt = math.inf
        self._grow_round = True


__all__ = ["ALPHA", "BETA", "GAMMA", "Vegas"]
