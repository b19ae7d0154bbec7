"""The interface every congestion control algorithm implements (RFC 5681 vocabulary).

The sender tells the algorithm what it saw through the ``on_*`` hooks; the
algorithm answers through three attributes the sender reads before every
transmission: ``cwnd`` (bytes that may be in flight), ``ssthresh`` (bytes)
and ``pacing_rate`` (bytes per second, or None for no pacing).

What the sender reports per acknowledgment is one :class:`AckSample`; the
delivery-rate part of it (:class:`RateSample`, draft-cheng-iccrg-delivery-
rate-estimation) and the per-ACK RTT are only measured for algorithms that
set :attr:`CongestionControl.needs_samples` (they cost per-segment records).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

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


@dataclass(frozen=True, slots=True)
class RateSample:
    """One delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation §3.3).

    Attributes:
        delivery_rate: bytes per second delivered over ``interval``.
        delivered: bytes delivered (cumulatively or by SACK) over ``interval``.
        interval: seconds: the longer of the send and the ACK interval.
        rtt: seconds from the sending of the most recently delivered segment
            to this ACK (that segment was never retransmitted).
        prior_in_flight: bytes in flight when this ACK arrived.
        app_limited: the sample was taken while the application, not the
            network, limited sending: it may underestimate the path's rate.
    """

    delivery_rate: float
    delivered: int
    interval: float
    rtt: float
    prior_in_flight: int
    app_limited: bool


@dataclass(frozen=True, slots=True)
class AckSample:
    """What one acknowledgment told the sender (built per ACK, read by the algorithm).

    Attributes:
        now: the time the ACK arrived, seconds.
        acked: data bytes newly acknowledged cumulatively (SND.UNA advanced).
        sacked: data bytes newly SACKed by it (0 without SACK).
        in_flight: bytes in flight after it (FlightSize, or pipe in SACK
            recovery: RFC 6675 §2).
        rtt: an RTT sample from it, seconds, or None. For algorithms with
            ``needs_samples`` one per ACK that delivered a never-retransmitted
            segment; otherwise the RFC 6298 sample (about one per round trip).
        delivered: all data bytes delivered to the peer so far (cumulatively
            acknowledged or SACKed), a counter that never goes back.
        rate: the delivery-rate sample, or None (no ``needs_samples``, or
            no segment it delivered could give one).
        round_start: this ACK ends a round trip: it acknowledged data sent
            after the previous round's end (BBR's round counting; HyStart++'s
            rounds, RFC 9406 §4.2).
        ece: it carried ECN-Echo (RFC 3168 §6.1.2); the reduction itself is
            reported apart, by :meth:`CongestionControl.on_ecn`.
        in_recovery: it arrived during fast recovery (before a full ACK
            ends it, that ACK included).
    """

    now: float
    acked: int
    sacked: int = 0
    in_flight: int = 0
    rtt: float | None = None
    delivered: int = 0
    rate: RateSample | None = None
    round_start: bool = False
    ece: bool = False
    in_recovery: bool = False


class CongestionControl(ABC):
    """cwnd, ssthresh and the pacing rate of one connection.

    Subclasses set :attr:`name` (the name :mod:`tcpstack.congestion` registers
    them under) and implement the abstract hooks. The hooks are called by
    :class:`~tcpstack.recovery.LossRecovery` and the sender, never by users.

    Args:
        mss: sender maximum segment size (SMSS), bytes.

    Attributes:
        cwnd: congestion window, bytes (RFC 5681 §2).
        ssthresh: slow start threshold, bytes; :data:`INFINITE_SSTHRESH`
            until the first congestion event (RFC 5681 §3.1).
        pacing_rate: bytes per second at which the sender spaces its
            segments, or None: send as the windows allow (no pacing). A
            class-level None here: an algorithm that paces declares its own
            ``pacing_rate`` slot (a slot per connection that most algorithms
            would never use costs 16 bytes, a whole allocation step).
        mss: SMSS, bytes.
        iw_segments: the configured initial window in segments, or None for
            RFC 5681's rule (see :func:`initial_window`).
    """

    __slots__ = ("cwnd", "iw_segments", "mss", "ssthresh")

    pacing_rate: float | None = None

    name: ClassVar[str] = "base"
    needs_samples: ClassVar[bool] = False
    """True: the sender measures a per-ACK RTT and delivery rate for this
    algorithm (:attr:`AckSample.rtt`, :attr:`AckSample.rate`)."""

    paces: ClassVar[bool] = False
    """True: the algorithm sets :attr:`pacing_rate` (for listings such as
    ``tcpstack cc list``; the sender reads only :attr:`pacing_rate` itself)."""

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

    @property
    def phase(self) -> str:
        """The algorithm's own phase for ``metrics_updated``: ``"slow_start"`` or
        ``"avoidance"`` (RFC 5681 §3.1); algorithms with other states (BBR's
        ``"startup"``, ``"drain"``, ``"probe_bw"``, ``"probe_rtt"``) override it.
        Loss recovery is reported by the sender, not here."""
        return "slow_start" if self.cwnd < self.ssthresh else "avoidance"  # in_slow_start

    @abstractmethod
    def on_ack(self, sample: AckSample) -> None:
        """An ACK acknowledged new data (``sample.acked`` > 0, or, for algorithms
        with :attr:`needs_samples`, ``sample.sacked`` > 0), in any phase.

        During fast recovery (``sample.in_recovery``) the recovery hooks below
        are called after this one; window-growth rules (RFC 5681 §3.1) apply
        outside recovery only.
        """

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

    def on_ecn(self, flight_size: int) -> None:
        """The peer echoed congestion (ECE, RFC 3168 §6.1.2), at most once per
        window of data: reduce as for a loss, without retransmitting.

        The default is RFC 5681's reduction (equation 4) with cwnd set to the
        new ssthresh, as RFC 3168 §6.1.2 asks ("the same as ... a dropped
        packet"); algorithms with another multiplicative decrease override it.
        ``flight_size``: bytes outstanding, as for :meth:`on_enter_recovery`.
        """
        self.ssthresh = max(flight_size // 2, 2 * self.mss)
        self.cwnd = max(self.ssthresh, self.mss)

    def on_lost_handshake(self) -> None:
        """Our SYN or SYN,ACK had to be retransmitted: the initial window after the
        handshake is one segment (RFC 5681 §3.1: "If the SYN or SYN/ACK is lost,
        the initial window used by a sender after a correctly transmitted SYN
        MUST be one segment")."""
        self.cwnd = min(self.cwnd, self.mss)

    def on_idle(self) -> None:
        """The connection was idle for more than an RTO (RFC 5681 §4.1): restart window."""
        self.cwnd = min(self.cwnd, initial_window(self.mss, self.iw_segments))
