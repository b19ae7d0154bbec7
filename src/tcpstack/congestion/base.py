"""The interface every congestion control algorithm implements (RFC 5681 vocabulary)."""

from __future__ import annotations

from abc import ABC, abstractmethod

INFINITE_SSTHRESH = 1 << 30
"""Initial ssthresh: "arbitrarily high" (RFC 5681 §3.1)."""


def initial_window(mss: int, segments: int | None = None) -> int:
    """IW in bytes for a sender MSS of ``mss`` bytes (RFC 5681 §3.1, equation 1),
    or ``segments`` full segments when given (RFC 6928's IW10, as Linux)."""
    if segments is not None:
        return segments * mss
    if mss > 2190:
        return 2 * mss
    if mss > 1095:
        return 3 * mss
    return 4 * mss


class CongestionControl(ABC):
    """cwnd and ssthresh of one connection, in bytes.

    Args:
        mss: sender maximum segment size (SMSS), bytes.
    """

    __slots__ = ("cwnd", "iw_segments", "mss", "ssthresh")

    name = "base"

    def __init__(self, mss: int) -> None:
        self.mss = mss
        self.iw_segments: int | None = None
        self.cwnd = initial_window(mss)
        self.ssthresh = INFINITE_SSTHRESH

    def set_mss(self, mss: int, iw_segments: int | None = None) -> None:
        """SMSS became known (after the handshake): recompute the initial window
        (``iw_segments``: see :func:`initial_window`)."""
        self.mss = mss
        self.iw_segments = iw_segments
        self.cwnd = initial_window(mss, iw_segments)

    @property
    def in_slow_start(self) -> bool:
        """cwnd < ssthresh (RFC 5681 §3.1)."""
        return self.cwnd < self.ssthresh

    @abstractmethod
    def on_ack(self, acked: int, flight_size: int) -> None:
        """``acked`` new bytes were cumulatively acknowledged outside loss recovery."""

    @abstractmethod
    def on_enter_recovery(self, flight_size: int, *, sack: bool) -> None:
        """Loss detected by duplicate ACKs or SACK: fast retransmit begins."""

    @abstractmethod
    def on_recovery_dupack(self) -> None:
        """A further duplicate ACK arrived during (non-SACK) fast recovery."""

    @abstractmethod
    def on_partial_ack(self, acked: int) -> None:
        """An ACK advanced SND.UNA during recovery but not past the recovery point."""

    @abstractmethod
    def on_exit_recovery(self, flight_size: int) -> None:
        """A full ACK ended loss recovery."""

    @abstractmethod
    def on_timeout(self, flight_size: int) -> None:
        """The retransmission timer expired (RFC 5681 §3.1, equation 4)."""

    def on_lost_handshake(self) -> None:
        """Our SYN or SYN,ACK had to be retransmitted: the initial window after the
        handshake is one segment (RFC 5681 §3.1: "If the SYN or SYN/ACK is lost,
        the initial window used by a sender after a correctly transmitted SYN
        MUST be one segment")."""
        self.cwnd = min(self.cwnd, self.mss)

    def on_idle(self) -> None:
        """The connection was idle for more than an RTO (RFC 5681 §4.1): restart window."""
        self.cwnd = min(self.cwnd, initial_window(self.mss, self.iw_segments))
