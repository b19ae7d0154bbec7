"""Retransmission timeout computation (RFC 6298).

All values are seconds.
"""

from __future__ import annotations

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

    def __init__(self, initial: float = 1.0, minimum: float = 1.0, maximum: float = 60.0) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("need 0 < minimum <= maximum")
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
        self._base_rto = self._clamp(self.srtt + max(CLOCK_GRANULARITY, K * self.rttvar))
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
