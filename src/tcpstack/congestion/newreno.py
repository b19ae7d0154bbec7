"""Reno congestion control with the NewReno recovery response (RFC 5681, RFC 6582)."""

from __future__ import annotations

from .base import AckSample, CongestionControl


class NewReno(CongestionControl):
    """Slow start, congestion avoidance, fast retransmit and NewReno fast recovery.

    With SACK (RFC 6675 §5) the window is not inflated during recovery: the
    sender limits itself with ``pipe`` instead.
    """

    __slots__ = ("_ca_bytes", "_sack_recovery")

    name = "newreno"

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self._ca_bytes = 0  # bytes acknowledged since the last cwnd increase in CA
        self._sack_recovery = False

    def on_ack(self, sample: AckSample) -> None:
        acked = sample.acked
        if acked <= 0 or sample.in_recovery:
            return  # recovery: on_partial_ack / on_exit_recovery (RFC 6582)
        if sample.ece:
            # RFC 3168 §6.1.2: an ACK carrying ECN-Echo does not grow the
            # congestion window (SHOULD NOT), whether or not it brought a reduction.
            return
        if self.in_slow_start:
            # RFC 5681 §3.1 (2), with appropriate byte counting L = 1 SMSS (RFC 3465).
            self.cwnd += min(acked, self.mss)
        else:
            # RFC 5681 §3.1 (3): about one SMSS per RTT, counted in bytes.
            self._ca_bytes += acked
            if self._ca_bytes >= self.cwnd:
                self._ca_bytes -= self.cwnd
                self.cwnd += self.mss

    def on_enter_recovery(self, flight_size: int, *, sack: bool) -> None:
        # RFC 5681 §3.2 (2): ssthresh = max(FlightSize / 2, 2*SMSS) (equation 4);
        # (3): cwnd = ssthresh + 3*SMSS; RFC 6675 §5 (4.2): cwnd = ssthresh with SACK.
        self.ssthresh = max(flight_size // 2, 2 * self.mss)
        self._sack_recovery = sack
        self.cwnd = self.ssthresh if sack else self.ssthresh + 3 * self.mss
        self._ca_bytes = 0

    def on_recovery_dupack(self) -> None:
        # RFC 5681 §3.2 (4): inflate cwnd by SMSS per additional duplicate ACK.
        if not self._sack_recovery:
            self.cwnd += self.mss

    def on_partial_ack(self, acked: int) -> None:
        # RFC 6582 §3.2 (3), partial acknowledgment: deflate by the amount of new
        # data acknowledged, add back SMSS if that amount was at least SMSS.
        if self._sack_recovery:
            return
        self.cwnd = max(self.cwnd - acked, self.mss)
        if acked >= self.mss:
            self.cwnd += self.mss

    def on_exit_recovery(self, flight_size: int) -> None:
        # RFC 6582 §3.2 (3), full acknowledgment:
        # cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
        self.cwnd = min(self.ssthresh, max(flight_size, self.mss) + self.mss)
        self._sack_recovery = False

    def on_timeout(self, flight_size: int) -> None:
        # RFC 5681 §3.1 (4): ssthresh = max(FlightSize / 2, 2*SMSS); cwnd = LW = 1 SMSS.
        self.ssthresh = max(flight_size // 2, 2 * self.mss)
        self.cwnd = self.mss
        self._ca_bytes = 0
        self._sack_recovery = False
