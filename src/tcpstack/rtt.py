"""Round-trip time: the RFC 6298 estimator and the sampler that feeds it.

* :class:`RttEstimator` turns samples into SRTT, RTTVAR and the RTO, and
  backs the RTO off after a timeout (RFC 6298 §2, §5).
* :class:`RttSampler` decides which acknowledgments are samples: one timed
  segment per round trip, never a retransmitted one (Karn's rule, RFC 6298
  §3), or, with timestamps, the echo of the latest transmission (RFC 7323
  §4.1).

All times are seconds; sequence numbers are modulo 2**32 (:mod:`tcpstack.seq`).
"""

from __future__ import annotations

from .seq import seq_add, seq_ge, seq_lt

ALPHA = 1 / 8
"""Gain of SRTT (RFC 6298 §2.3)."""
BETA = 1 / 4
"""Gain of RTTVAR (RFC 6298 §2.3)."""
K = 4
"""RTTVAR multiplier (RFC 6298 §2.2)."""
CLOCK_GRANULARITY = 0.001
"""G, the clock granularity in seconds (RFC 6298 §2)."""


class RttEstimator:
    """SRTT, RTTVAR and RTO of one connection (RFC 6298 §2, §5).

    Args:
        initial: RTO before the first sample, seconds (§2.1: 1 s).
        minimum: lower bound of the RTO, seconds (§2.4: 1 s).
        maximum: upper bound of the RTO and of its backoff, seconds (§2.5: >= 60 s).
    """

    __slots__ = ("_base_rto", "_max", "_min", "_min_on_var", "backoffs", "rto", "rttvar", "srtt")

    def __init__(self, initial: float = 1.0, minimum: float = 1.0, maximum: float = 60.0,
                 *, minimum_on_variance: bool = False) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("need 0 < minimum <= maximum")
        self._min_on_var = minimum_on_variance  # Linux: RTO = SRTT + max(4 * RTTVAR, minimum)
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self._min = minimum
        self._max = maximum
        self._base_rto = min(max(initial, minimum), maximum)
        self.rto = self._base_rto
        self.backoffs = 0

    def sample(self, rtt: float) -> None:
        """Take one RTT measurement in seconds (§2.2, §2.3) and reset the backoff.

        Callers follow Karn's rule (§3): never sample a retransmitted segment.
        """
        rtt = max(rtt, 0.0)
        if self.srtt is None or self.rttvar is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
            self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt
        variance = max(CLOCK_GRANULARITY, K * self.rttvar)
        if self._min_on_var:
            # Linux's tcp_set_rto: the minimum bounds the variance term, not the RTO.
            variance = max(variance, self._min)
        self._base_rto = self._clamp(self.srtt + variance)
        self.backoffs = 0
        self.rto = self._base_rto

    def backoff(self) -> None:
        """Double the RTO after a timeout, bounded by the maximum (§5.5)."""
        self.backoffs += 1
        self.rto = self._clamp(self.rto * 2)

    def reset_backoff(self) -> None:
        """Return to the un-backed-off RTO (new data acknowledged)."""
        self.backoffs = 0
        self.rto = self._base_rto

    def set_floor(self, rto: float) -> None:
        """Raise the base RTO to at least ``rto`` seconds (§5.7: 3 s after a lost SYN)."""
        if self.srtt is None:
            self._base_rto = self._clamp(max(self._base_rto, rto))
            self.rto = self._base_rto

    def _clamp(self, rto: float) -> float:
        return min(max(rto, self._min), self._max)


class RttSampler:
    """The one segment being timed, and which acknowledgment measures it
    (RFC 6298 §3, RFC 7323 §4.1).

    One segment at a time is timed: the first new data sent while none is
    timed (:meth:`start`). Its acknowledgment gives a sample unless it was
    retransmitted in between (Karn's rule). With timestamps, the sample is
    our clock minus the echoed TSecr, and only an echo of the timed data's
    latest transmission (or a newer one) counts: an older echo would measure
    the loss episode. A connection holds a sampler only while it times a
    segment; the samples go to its :class:`RttEstimator`.
    """

    __slots__ = ("_end", "_retransmitted", "_sent_at", "_tsval")

    def __init__(self, end: int, now: float, tsval: int) -> None:
        self._end = end  # an ACK of this sequence number ends the timed segment
        self._sent_at = now
        self._tsval = tsval  # our TSval on the timed segment's latest transmission
        self._retransmitted = False

    @classmethod
    def start(cls, seq: int, length: int, *, retransmission: bool, now: float,
              tsval: int) -> RttSampler | None:
        """Time the ``length`` sequence numbers sent at ``seq`` at ``now`` with our
        TSval ``tsval``, if they can be timed: new data, never a retransmission."""
        if length and not retransmission:
            return cls(seq_add(seq, length), now, tsval)
        return None

    def on_send(self, seq: int, *, retransmission: bool, tsval: int) -> None:
        """Something was sent at ``seq`` while this segment is timed.

        A retransmission of (or before) the timed segment spoils its sample
        from our own clock (Karn's rule, RFC 6298 §3). With timestamps, only
        an echo of this latest transmission (or newer) measures a round trip:
        an echo of an earlier one would include the timeout (the ACK for the
        first copy was lost).
        """
        if retransmission and seq_lt(seq, self._end):
            self._retransmitted = True
            self._tsval = tsval

    def acked_by(self, ack: int) -> bool:
        """True if an ACK of ``ack`` covers the timed segment: only such an ACK ends
        the timing (:meth:`on_ack`), so the caller needs our clock and the ACK's
        TSecr only then."""
        return seq_ge(ack, self._end)

    def on_ack(self, ack: int, now: float, *, ts_clock: int | None = None,
               tsecr: int | None = None) -> tuple[bool, float | None]:
        """SND.UNA advanced to ``ack`` at ``now``.

        Args:
            ts_clock: our timestamp clock now if timestamps are in use, else None.
            tsecr: the acknowledgment's TSecr, if it carried a timestamps option.

        Returns:
            ``(done, sample)``: whether timing of this segment ended, and the
            RTT sample in seconds, or None (Karn's rule, or an old echo: a
            backed-off RTO then stays until a valid sample, RFC 6298 §3 and the
            note after §5.7).
        """
        if not self.acked_by(ack):
            return False, None
        if ts_clock is not None:
            if tsecr and seq_ge(tsecr, self._tsval):
                # The echo is at least as new as the last transmission of the
                # timed data (RFC 7323 §4.1). An older echo comes from an ACK
                # for a duplicate (TS.Recent is only updated by accepted
                # segments, §4.3) and would measure the whole loss episode.
                return True, ((ts_clock - tsecr) & 0xFFFFFFFF) / 1000
            return True, None
        if self._retransmitted:
            return True, None
        return True, now - self._sent_at
