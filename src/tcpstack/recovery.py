"""Loss recovery: one object, an explicit phase, and the congestion controller it drives.

:class:`LossRecovery` decides *when* the sender suspects loss and what it
resends; the congestion controller it owns (:mod:`tcpstack.congestion`)
decides *how much* may be in flight and is the only writer of ``cwnd`` and
``ssthresh``. Sources:

* RFC 5681 §2-3: duplicate acknowledgments, fast retransmit and recovery;
* RFC 6582: NewReno's partial acknowledgments and ``recover``;
* RFC 6675: SACK-based recovery (with :class:`~tcpstack.sack.Scoreboard`);
* RFC 3042: limited transmit; RFC 5827: early retransmit;
* RFC 8985 §7: tail loss probe; §6.2 (idea): lost retransmissions.

The phase follows Linux's ``TCP_CA_*`` states:

=============  ==============================================================
``OPEN``       no loss suspected; duplicate ACKs are counted
``RECOVERY``   fast retransmit/recovery until ``recover`` is acknowledged
``LOSS``       after a retransmission timeout, until everything outstanding
               then is acknowledged; no fast recovery meanwhile (RFC 6582
               §3.2 step 4, RFC 6675 §5.1)
=============  ==============================================================

Positions are stream offsets of the send direction (ints that never wrap,
:mod:`tcpstack.buffers`); sizes are bytes; times are seconds.
"""

from __future__ import annotations

import enum

from . import congestion
from .congestion import AckSample, CongestionControl
from .sack import Scoreboard

WORST_CASE_DELAYED_ACK = 0.2
"""WCDelAckT of RFC 8985 §7.2: the peer may hold the ACK of a lone segment this long."""


class Phase(enum.Enum):
    """The loss recovery phase (cf. Linux ``TCP_CA_Open``/``Recovery``/``Loss``)."""

    OPEN = "open"
    RECOVERY = "recovery"
    LOSS = "loss"


class LossRecovery:
    """Loss detection and recovery of one connection's send direction.

    Args:
        algorithm: the congestion control algorithm's name (``TcpConfig.congestion_control``).
        mss: the sender MSS known so far, bytes.

    Attributes:
        cc: the congestion controller: owns ``cwnd`` and ``ssthresh``.
        scoreboard: the RFC 6675 scoreboard, once SACK is in use and data
            has been sent or SACKed; else None (see :attr:`uses_sack`).
        phase: the recovery phase.
        recover_off: ``recover`` of RFC 6582 (RecoveryPoint of RFC 6675) as a
            stream offset: one past the highest byte sent when recovery (or
            the LOSS phase) began. Meaningful outside OPEN only.
        dupacks: duplicate ACKs in a row (RFC 5681 §2).
    """

    __slots__ = (
        "_lost_again",
        "_lt_bytes",
        "_rexmit_head",
        "_rexmit_high",
        "_round_end",
        "_sack",
        "_tlp_new_data",
        "_tlp_rexmit_off",
        "_tlp_sent",
        "cc",
        "dupacks",
        "phase",
        "recover_off",
        "scoreboard",
    )

    def __init__(self, algorithm: str, mss: int) -> None:
        self.cc: CongestionControl = congestion.create(algorithm, mss)
        # (segment size, DupThresh, range limit) once negotiated
        self._sack: tuple[int, int, int | None] | None = None
        self.scoreboard: Scoreboard | None = None
        self.phase = Phase.OPEN
        self.recover_off = 0
        self.dupacks = 0
        self._lt_bytes = 0  # sent by limited transmit beyond cwnd since the last new ACK
        self._round_end = 0  # HighData when the current round trip began (AckSample.round_start)
        self._rexmit_head = False  # the segment at SND.UNA is due for retransmission
        # Tail loss probe (RFC 8985 §7): one probe per episode.
        self._tlp_sent = False
        self._tlp_new_data = False
        self._tlp_rexmit_off: int | None = None
        # Lost-retransmission detection: stream offset of each range
        # retransmitted in SACK recovery -> HighData when it was sent.
        self._rexmit_high: dict[int, int] | None = None
        self._lost_again: list[int] | None = None

    # -- the phase, as the scoreboard sees it (sack.RecoveryPhase) -------------

    @property
    def in_recovery(self) -> bool:
        """True during fast recovery / SACK loss recovery."""
        return self.phase is Phase.RECOVERY

    @property
    def recovery_point(self) -> int | None:
        """RecoveryPoint while RECOVERY or LOSS, else None (RFC 6675 §5, §5.1)."""
        return None if self.phase is Phase.OPEN else self.recover_off

    def use_sack(self, seg_size: int, dupthresh: int, max_ranges: int | None = None) -> None:
        """SACK was negotiated (RFC 2018 §2): keep a scoreboard of ``seg_size`` segments,
        from the first data sent or SACKed on (an idle connection holds none), of at
        most ``max_ranges`` SACKed ranges (see :class:`~tcpstack.sack.Scoreboard`)."""
        self._sack = (seg_size, dupthresh, max_ranges)

    @property
    def uses_sack(self) -> bool:
        """True if SACK was negotiated: recovery follows RFC 6675."""
        return self._sack is not None

    def board(self) -> Scoreboard:
        """The scoreboard, created on first use.

        Raises:
            AssertionError: SACK is not in use (a bug).
        """
        sb = self.scoreboard
        if sb is None:
            assert self._sack is not None
            seg_size, dupthresh, max_ranges = self._sack
            sb = self.scoreboard = Scoreboard(seg_size, dupthresh, phase=self,
                                              max_ranges=max_ranges)
        return sb

    # -- acknowledgments --------------------------------------------------------

    def on_sack(self, una_off: int, blocks: list[tuple[int, int]]) -> int:
        """Feed an ACK's cumulative point and SACK blocks (offsets) to the scoreboard.

        Returns the bytes newly SACKed (0 without SACK). During recovery, a
        retransmission overtaken by SACKed data sent after it is marked lost
        again (RFC 8985 §6.2 idea; Linux ``tcp_mark_lost_retrans``); RFC 6675
        alone would only notice at the RTO.
        """
        if self._sack is None or (self.scoreboard is None and not blocks):
            return 0  # (an empty scoreboard would only note the cumulative ACK)
        sb = self.board()
        newly = sb.on_ack(una_off, blocks)
        if newly and self.phase is Phase.RECOVERY and self._rexmit_high:
            top = max((right for _, right in sb.blocks()), default=una_off)
            lost = self._lost_again if self._lost_again is not None else []
            for start, high in list(self._rexmit_high.items()):
                if start < una_off or sb.is_sacked(start):
                    del self._rexmit_high[start]
                elif top > high and start not in lost:
                    lost.append(start)
                    del self._rexmit_high[start]
            self._lost_again = lost or None
        return newly

    def is_duplicate_ack(self, *, in_flight: int, carries_more: bool, has_sack: bool,
                         newly_sacked: int, same_window: bool) -> bool:
        """RFC 5681 §2 "duplicate acknowledgment", for an ACK equal to SND.UNA.

        Args:
            in_flight: sequence space outstanding, bytes (must be > 0).
            carries_more: the segment has data, SYN or FIN (then it is not one).
            has_sack: it carries SACK blocks. With SACK in use it counts only
                if it SACKs new data (RFC 6675 §2 "DupAck"): a receiver that
                holds out-of-order data reports it in every duplicate ACK
                (RFC 2018 §4), so an ACK without blocks is no sign of loss but
                the answer to an old or out-of-window segment, possibly
                spoofed (RFC 5961 §10), and must not start a fast retransmit.
            newly_sacked: bytes it SACKed anew.
            same_window: it advertises the window we already had.
        """
        if in_flight <= 0 or carries_more:
            return False
        if self._sack is not None:
            return has_sack and newly_sacked > 0
        return same_window

    def on_duplicate_ack(self, *, una_off: int, high_data_off: int, in_flight: int,
                         unsent: int, mss: int, dupthresh: int,
                         cumulative: bool = False) -> bool:
        """Count a duplicate ACK; at DupThresh (or IsLost with SACK) begin recovery.

        ``cumulative``: the ACK also advanced SND.UNA (a SACK duplicate ACK "regardless
        of its status as a cumulative acknowledgment", RFC 6675 §5): only IsLost
        (HighACK + 1) begins recovery then, not the count (which restarts at it).

        Returns True if recovery began (fast retransmit of SND.UNA is due).
        """
        self.dupacks += 1
        if self.phase is Phase.RECOVERY:
            self.cc.on_recovery_dupack()  # RFC 5681 §3.2 (4): inflate (not with SACK)
            return False
        if self.phase is Phase.LOSS:
            # RFC 6582 §3.2 (4), RFC 6675 §5.1: no new recovery until
            # everything outstanding at the timeout is acknowledged.
            return False
        sb = self.scoreboard
        lost = sb is not None and sb.is_lost(una_off)  # RFC 6675 §5 (3)(b)
        # Early retransmit (RFC 5827 §3.1): with two or three segments
        # outstanding and nothing new to send, DupThresh duplicate ACKs can
        # never arrive; wait for one fewer than the segments in flight. (With
        # one segment, no later segment can draw a duplicate ACK at all.)
        threshold = dupthresh
        segments = -(-in_flight // mss)
        if 2 <= segments < 4 and unsent == 0:
            threshold = min(threshold, segments - 1)
        if (self.dupacks >= threshold and not cumulative) or lost:
            self._enter_recovery(high_data_off, in_flight)
            return True
        return False

    def _enter_recovery(self, high_data_off: int, in_flight: int) -> None:
        """Fast retransmit (RFC 5681 §3.2 (2)-(3), RFC 6582, RFC 6675 §5 (4))."""
        self.phase = Phase.RECOVERY
        self.recover_off = high_data_off  # RecoveryPoint = HighData
        # RFC 5681 §3.2 (2): "When [RFC3042] is in use, additional data sent in
        # limited transmit MUST NOT be included in this calculation" (FlightSize).
        flight = max(0, in_flight - self._lt_bytes)
        self._lt_bytes = 0
        self.cc.on_enter_recovery(flight, sack=self._sack is not None)
        if self._sack is not None:
            self.board().enter_recovery(high_data_off)
        self._rexmit_head = True

    def on_new_ack(self, *, acked: int, una_off: int, in_flight: int, now: float,
                   high_data_off: int) -> None:
        """SND.UNA advanced (to ``una_off``) by ``acked`` data bytes at ``now`` (seconds),
        with ``high_data_off`` (HighData) the end of the data sent so far."""
        self.dupacks = 0
        self._tlp_sent = False
        self._lt_bytes = 0
        if self.phase is Phase.LOSS and una_off >= self.recover_off:
            self.phase = Phase.OPEN  # everything outstanding at the timeout is acknowledged
        round_start = una_off >= self._round_end
        if round_start:
            self._round_end = high_data_off  # the next round ends when this is acknowledged
        in_recovery = self.phase is Phase.RECOVERY
        self.cc.on_ack(AckSample(now, acked, in_flight=in_flight, round_start=round_start,
                                 in_recovery=in_recovery))
        if not in_recovery:
            return  # RFC 5681 §3.1: the growth rules, in the algorithm's on_ack
        if una_off >= self.recover_off:
            # Full acknowledgment: recovery is over (RFC 6582 §3.2 (3),
            # RFC 6675 §5 (A)).
            self.phase = Phase.OPEN
            self._rexmit_high = None
            self._lost_again = None
            if self.scoreboard is not None:
                self.scoreboard.exit_recovery()
            self.cc.on_exit_recovery(in_flight)
            return
        # Partial acknowledgment (RFC 6582 §3.2 (3)): deflate cwnd; without
        # SACK, resend the next hole at once (with SACK, NextSeg finds it).
        self.cc.on_partial_ack(acked)
        if self._sack is None:
            self._rexmit_head = True

    def on_ack_advanced(self) -> None:
        """Any new cumulative ACK ends the tail loss probe episode (RFC 8985 §7.2)."""
        self._tlp_sent = False

    # -- the retransmission timeout --------------------------------------------------

    def on_rto(self, *, una_off: int, high_data_off: int, in_flight: int) -> None:
        """The retransmission timer expired (RFC 5681 §3.1, RFC 6582 §3.2 (4), RFC 6675 §5.1).

        Everything about recovery restarts here: the phase becomes LOSS (OPEN
        when nothing data-bearing is outstanding), ``recover_off`` is HighData,
        counters and pending retransmissions are forgotten, the controller
        collapses cwnd, the scoreboard forgets its marks (keeping SACKs).
        """
        # RFC 5681 §3.1 (4): ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1 SMSS.
        self.cc.on_timeout(in_flight)
        self.recover_off = high_data_off
        self.phase = Phase.LOSS if una_off < high_data_off else Phase.OPEN
        self.dupacks = 0
        self._lt_bytes = 0
        self._rexmit_head = False
        self._tlp_sent = False
        self._tlp_rexmit_off = None
        self._tlp_new_data = False
        self._rexmit_high = None
        self._lost_again = None
        if self.scoreboard is not None:
            self.scoreboard.reset_after_timeout(keep_sacks=True)

    # -- what the sender may send -------------------------------------------------------

    def send_window(self, *, limited_transmit: bool, at_snd_max: bool, mss: int) -> int:
        """cwnd, plus one segment per duplicate ACK (up to two) of limited transmit.

        RFC 3042 §2: only "previously unsent data", so not while resending
        after a timeout (SND.NXT below SND.MAX), and not during recovery.
        """
        cwnd = self.cc.cwnd
        if limited_transmit and self.phase is not Phase.RECOVERY and self.dupacks and at_snd_max:
            cwnd += min(self.dupacks, 2) * mss
        return cwnd

    def note_new_data(self, *, beyond_cwnd: int) -> None:
        """New data left on a duplicate ACK; ``beyond_cwnd`` bytes of it beyond cwnd.

        RFC 5681 §3.2 (2): what limited transmit sent is left out of the
        FlightSize of the next fast retransmit.
        """
        if self.dupacks and self.phase is not Phase.RECOVERY:
            self._lt_bytes = max(self._lt_bytes, beyond_cwnd)

    def take_head_retransmission(self) -> bool:
        """True once after fast retransmit or a NewReno partial ACK: resend SND.UNA."""
        due, self._rexmit_head = self._rexmit_head, False
        return due

    def take_lost_retransmissions(self, una_off: int) -> list[int]:
        """Offsets of retransmissions found lost again, still unacknowledged, to resend."""
        lost, self._lost_again = self._lost_again, None
        if not lost or self.phase is not Phase.RECOVERY:
            return []
        return [start for start in lost if start >= una_off]

    def note_retransmission(self, start_off: int, high_data_off: int) -> None:
        """A range starting at ``start_off`` was resent while HighData was ``high_data_off``."""
        if self.phase is Phase.RECOVERY and self._sack is not None:
            if self._rexmit_high is None:
                self._rexmit_high = {}
            self._rexmit_high[start_off] = high_data_off

    def sack_skip(self, start_off: int) -> tuple[int, int]:
        """For a resend from ``start_off`` after a timeout (RFC 6675 §5.1): bytes to
        skip because they are SACKed (0 if none), and how far the resend may go
        before the next SACKed block."""
        sb = self.scoreboard
        for left, right in sb.blocks() if sb is not None else ():
            if left <= start_off < right:
                return right - start_off, 0
            if left > start_off:
                return 0, left - start_off
        return 0, 1 << 62

    # -- tail loss probe (RFC 8985 §7) --------------------------------------------------

    def tlp_deadline(self, now: float, *, in_flight: int, mss: int, srtt: float | None,
                     rto_at: float | None) -> float | None:
        """When to send a tail loss probe, or None (RFC 8985 §7.2).

        PTO = 2 * SRTT (1 s before any sample), plus WCDelAckT when a single
        segment is in flight; only with SACK, outside recovery, once per
        episode. "If the RTO timer ... would fire before the PTO", the probe takes
        the RTO's place: PTO = min(PTO, RTO expiration) (§7.2; Linux
        tcp_schedule_loss_probe likewise), so the first timeout of a tail sends a
        probe and the RTO is armed afresh from it, without backoff.
        """
        if (
            self._sack is None
            or self.phase is Phase.RECOVERY
            or self._tlp_sent
            or in_flight <= 0
        ):
            return None
        pto = 2 * srtt if srtt is not None else 1.0
        if in_flight <= mss:
            pto += WORST_CASE_DELAYED_ACK
        at = now + pto
        return at if rto_at is None else min(at, rto_at)

    def on_tlp_timeout(self, *, in_flight: int, unsent: int, window_left: int,
                       seg_size: int, una_off: int, high_data_off: int) -> bool:
        """The probe timer fired (RFC 8985 §7.3): plan new data if the peer's
        window allows, else the last segment again. Returns False if no probe is due."""
        if self.phase is Phase.RECOVERY or in_flight <= 0 or self._tlp_sent:
            return False
        self._tlp_sent = True
        if unsent > 0 and window_left >= min(seg_size, unsent):
            self._tlp_new_data = True
        else:
            self._tlp_rexmit_off = max(una_off, high_data_off - seg_size)
        return True

    def take_tlp_retransmission(self) -> int | None:
        """The offset the probe resends, once, or None."""
        off, self._tlp_rexmit_off = self._tlp_rexmit_off, None
        return off

    def take_tlp_new_data(self) -> bool:
        """True once if the probe is new data (it may exceed cwnd by one segment)."""
        due, self._tlp_new_data = self._tlp_new_data, False
        return due
