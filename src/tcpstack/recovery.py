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
from .congestion import AckSample, CongestionControl, initial_window
from .rate import DeliveryRate
from .sack import Scoreboard

_NEW_DATA = -1
"""``LossRecovery._tlp_probe``: the tail loss probe sends new data."""

WORST_CASE_DELAYED_ACK = 0.2
"""WCDelAckT of RFC 8985 §7.2: the peer may hold the ACK of a lone segment this long."""


NVP = 300.0
"""The non-validated period of RFC 7661 §4.4 (its §5 recommends five minutes), seconds."""


class Phase(enum.Enum):
    """The loss recovery phase (cf. Linux ``TCP_CA_Open``/``Recovery``/``Loss``)."""

    OPEN = "open"
    RECOVERY = "recovery"
    LOSS = "loss"


_PHASE_NAMES = {phase: phase.value for phase in Phase}

# The phases as module globals, read on every ACK and output: in Python 3.11 a
# member read from its Enum class goes through the metaclass's attribute hook
# (73 ns by timeit, against 5 ns for a global; see state.S).
_OPEN, _RECOVERY, _LOSS = Phase.OPEN, Phase.RECOVERY, Phase.LOSS


class LossRecovery:
    """Loss detection and recovery of one connection's send direction.

    Args:
        algorithm: the congestion control algorithm's name (``TcpConfig.congestion_control``).
        mss: the sender MSS known so far, bytes.
        cwnd_validation: apply RFC 7661 congestion window validation
            (``TcpConfig.cwnd_validation``).

    Attributes:
        cc: the congestion controller: owns ``cwnd`` and ``ssthresh``.
        scoreboard: the RFC 6675 scoreboard, once SACK is in use and data
            has been sent or SACKed; else None (see :attr:`uses_sack`).
        phase: the recovery phase.
        recover_off: ``recover`` of RFC 6582 (RecoveryPoint of RFC 6675) as a
            stream offset: one past the highest byte sent when recovery (or
            the LOSS phase) began. Meaningful outside OPEN only.
        dupacks: duplicate ACKs in a row (RFC 5681 §2).
        ext: what only some connections need (delivery-rate records, the
            pacing clock, RFC 7661 state), or None: see :meth:`extras`.
    """

    __slots__ = (
        "_lost_again",
        "_lt_bytes",
        "_rexmit_head",
        "_rexmit_high",
        "_round_end",
        "_sack",
        "_tlp_probe",
        "_tlp_sent",
        "cc",
        "dupacks",
        "ext",
        "phase",
        "recover_off",
        "scoreboard",
    )

    def __init__(self, algorithm: str, mss: int, *, cwnd_validation: bool = False) -> None:
        self.cc: CongestionControl = congestion.create(algorithm, mss)
        # What only some connections need (delivery-rate records, the pacing
        # clock, RFC 7661 state), made on first use: NewReno pays one slot (the
        # tail loss probe's two pending-probe fields share one to make room).
        self.ext: _Extras | None = None
        if cwnd_validation:
            self.extras().cwv = CwndValidation()
        if self.cc.needs_samples:
            self.extras().rate = DeliveryRate()
        # (segment size, DupThresh, range limit) once negotiated
        self._sack: tuple[int, int, int | None] | None = None
        self.scoreboard: Scoreboard | None = None
        self.phase = _OPEN
        self.recover_off = 0
        self.dupacks = 0
        self._lt_bytes = 0  # sent by limited transmit beyond cwnd since the last new ACK
        self._round_end = 0  # HighData when the current round trip began (AckSample.round_start)
        self._rexmit_head = False  # the segment at SND.UNA is due for retransmission
        # Tail loss probe (RFC 8985 §7): one probe per episode. The probe due:
        # None, _NEW_DATA, or the stream offset of the segment to resend.
        self._tlp_sent = False
        self._tlp_probe: int | None = None
        # Lost-retransmission detection: stream offset of each range
        # retransmitted in SACK recovery -> HighData when it was sent.
        self._rexmit_high: dict[int, int] | None = None
        self._lost_again: list[int] | None = None

    # -- the phase, as the scoreboard sees it (sack.RecoveryPhase) -------------

    @property
    def in_recovery(self) -> bool:
        """True during fast recovery / SACK loss recovery."""
        return self.phase is _RECOVERY

    @property
    def recovery_point(self) -> int | None:
        """RecoveryPoint while RECOVERY or LOSS, else None (RFC 6675 §5, §5.1)."""
        return None if self.phase is _OPEN else self.recover_off

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

    def on_sack(self, una_off: int, blocks: list[tuple[int, int]], now: float = 0.0) -> int:
        """Feed an ACK's cumulative point and SACK blocks (offsets) to the scoreboard
        (and, for algorithms with ``needs_samples``, the ACK's time ``now``, seconds,
        and blocks to the delivery-rate estimator).

        Returns the bytes newly SACKed (0 without SACK). During recovery, a
        retransmission overtaken by SACKed data sent after it is marked lost
        again (RFC 8985 §6.2 idea; Linux ``tcp_mark_lost_retrans``); RFC 6675
        alone would only notice at the RTO.
        """
        if not blocks:
            if self._sack is not None:
                self.on_cumulative_ack(una_off)
            return 0
        ext = self.ext
        if ext is not None and ext.rate is not None:
            # SACKed segments deliver too (draft-cheng-iccrg-delivery-rate-estimation §3.3).
            for left, right in blocks:
                ext.rate.on_sacked(max(left, una_off), right, now)
        if self._sack is None:
            return 0
        sb = self.board()
        newly = sb.on_ack(una_off, blocks)
        if newly and self.phase is _RECOVERY and self._rexmit_high:
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

    def on_cumulative_ack(self, una_off: int) -> None:
        """An ACK without SACK blocks, SACK in use: the scoreboard, if one exists,
        notes the cumulative point ``una_off`` (SND.UNA after the ACK, an offset;
        RFC 6675 §4 Update()); an empty scoreboard would only note it, so none
        is made. (:meth:`on_sack` without blocks; header prediction calls it
        directly.)"""
        sb = self.scoreboard
        if sb is not None:
            sb.on_ack(una_off, ())

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
        if self.phase is _RECOVERY:
            self.cc.on_recovery_dupack()  # RFC 5681 §3.2 (4): inflate (not with SACK)
            return False
        if self.phase is _LOSS:
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
        self.phase = _RECOVERY
        self.recover_off = high_data_off  # RecoveryPoint = HighData
        # RFC 5681 §3.2 (2): "When [RFC3042] is in use, additional data sent in
        # limited transmit MUST NOT be included in this calculation" (FlightSize).
        flight = max(0, in_flight - self._lt_bytes)
        self._lt_bytes = 0
        self.cc.on_enter_recovery(flight, sack=self._sack is not None)
        ext = self.ext
        if ext is not None and ext.cwv is not None:
            ext.cwv.on_enter_recovery(flight)  # RFC 7661 §4.4.1: LossFlightSize
        if self._sack is not None:
            self.board().enter_recovery(high_data_off)
        self._rexmit_head = True

    def on_new_ack(self, *, acked: int, una_off: int, in_flight: int, now: float,
                   high_data_off: int, sacked: int = 0, rtt: float | None = None,
                   srtt: float | None = None, ece: bool = False) -> None:
        """SND.UNA advanced (to ``una_off``) by ``acked`` data bytes at ``now`` (seconds),
        with ``high_data_off`` (HighData) the end of the data sent so far; the same
        ACK SACKed ``sacked`` bytes anew, gave the RFC 6298 RTT sample ``rtt``
        (seconds, or None) and carried ECN-Echo if ``ece``; ``srtt`` is SRTT after it
        (seconds, or None)."""
        self.dupacks = 0
        self._tlp_sent = False
        self._lt_bytes = 0
        if self.phase is _LOSS and una_off >= self.recover_off:
            self.phase = _OPEN  # everything outstanding at the timeout is acknowledged
        round_start = una_off > self._round_end
        if round_start:
            self._round_end = high_data_off  # the next round ends when this is acknowledged
        in_recovery = self.phase is _RECOVERY
        cc = self.cc
        cwnd_before = cc.cwnd
        cc.on_ack(self._sample(now, acked=acked, sacked=sacked, una_off=una_off,
                               in_flight=self._in_flight(in_flight, una_off, high_data_off),
                               rtt=rtt, round_start=round_start, in_recovery=in_recovery,
                               ece=ece))
        ext = self.ext
        if ext is not None and ext.cwv is not None and not in_recovery:
            # RFC 7661: pipeACK, the validated phase, the NVP (no samples in recovery).
            ext.cwv.on_ack(cc, now=now, una_off=una_off, high_data_off=high_data_off,
                           srtt=srtt, cwnd_before=cwnd_before,
                           cwnd_limited=in_flight + acked + cc.mss > cwnd_before)
        if not in_recovery:
            return  # RFC 5681 §3.1: the growth rules, in the algorithm's on_ack
        if una_off >= self.recover_off:
            # Full acknowledgment: recovery is over (RFC 6582 §3.2 (3),
            # RFC 6675 §5 (A)).
            self.phase = _OPEN
            self._rexmit_high = None
            self._lost_again = None
            if self.scoreboard is not None:
                self.scoreboard.exit_recovery()
            cc.on_exit_recovery(in_flight)
            if ext is not None and ext.cwv is not None:
                # RFC 7661 §4.4.1, after a loss in the non-validated phase
                ext.cwv.on_exit_recovery(cc, now=now, srtt=srtt)
            return
        # Partial acknowledgment (RFC 6582 §3.2 (3)): deflate cwnd; without
        # SACK, resend the next hole at once (with SACK, NextSeg finds it).
        cc.on_partial_ack(acked)
        if self._sack is None:
            self._rexmit_head = True

    def on_predicted_ack(self, acked: int, una_off: int, in_flight: int, now: float,
                         high_data_off: int, rtt: float | None, srtt: float | None) -> None:
        """:meth:`on_new_ack` for header prediction's pure ACK (the arguments are
        its own): phase OPEN, no SACK blocks, no ECN-Echo, so the only rule is
        the algorithm's growth (RFC 5681 §3.1, slow start or congestion avoidance).

        An algorithm without delivery-rate samples and without RFC 7661 (no
        :attr:`ext`) gets the same :class:`AckSample` as :meth:`on_new_ack` gives
        it, built here: the phase tests and the ``_in_flight`` and ``_sample``
        calls are left out (two calls and six tests per ACK of a bulk transfer).
        Anything else takes :meth:`on_new_ack`.
        """
        if self.ext is not None:
            self.on_new_ack(acked=acked, una_off=una_off, in_flight=in_flight, now=now,
                            high_data_off=high_data_off, rtt=rtt, srtt=srtt)
            return
        self.dupacks = 0
        self._tlp_sent = False
        self._lt_bytes = 0
        round_start = una_off > self._round_end
        if round_start:
            self._round_end = high_data_off  # the next round ends when this is acknowledged
        sb = self.scoreboard
        delivered = una_off + (sb.sacked_bytes() if sb is not None else 0)
        self.cc.on_ack(AckSample(now, acked, 0, in_flight, rtt, delivered, None, round_start,
                                 False, False))

    def on_ecn_echo(self, *, una_off: int, flight_size: int) -> bool:
        """An ACK (SND.UNA at ``una_off``) echoed congestion, ``flight_size`` bytes out,
        and the once-per-window rule of RFC 3168 §6.1.2 lets it count: reduce as
        for a loss ("the TCP source halves the congestion window "cwnd" and
        reduces the slow start threshold "ssthresh""), through the algorithm's
        :meth:`~CongestionControl.on_ecn`, unless loss recovery is on or the ACK
        does not pass its recovery point (RFC 6582 "recover"): the loss's
        reduction, within the same window, stands for this one ("should not
        decrease ssthresh if it has been decreased within the last round trip
        time"). Returns True if it reduced."""
        if self.phase is not _OPEN or (self.recover_off and una_off <= self.recover_off):
            return False
        self.cc.on_ecn(flight_size)
        return True

    def on_sack_only(self, *, sacked: int, una_off: int, in_flight: int, now: float,
                     high_data_off: int) -> None:
        """An ACK that did not advance SND.UNA SACKed ``sacked`` bytes anew: algorithms
        with ``needs_samples`` hear of it (:meth:`CongestionControl.on_ack` with
        ``acked`` 0), the others not (RFC 5681 counts only cumulative ACKs)."""
        if sacked <= 0 or not self.cc.needs_samples:
            return
        self.cc.on_ack(self._sample(now, acked=0, sacked=sacked, una_off=una_off,
                                    in_flight=self._in_flight(in_flight, una_off, high_data_off),
                                    rtt=None, round_start=False,
                                    in_recovery=self.phase is _RECOVERY, ece=False))

    def _in_flight(self, flight_size: int, una_off: int, high_data_off: int) -> int:
        """:attr:`AckSample.in_flight`: FlightSize, or pipe during SACK recovery
        (RFC 6675 §2, §5)."""
        sb = self.scoreboard
        if self.phase is _RECOVERY and sb is not None:
            return sb.pipe(una_off, high_data_off)
        return flight_size

    def _sample(self, now: float, *, acked: int, sacked: int, una_off: int, in_flight: int,
                rtt: float | None, round_start: bool, in_recovery: bool,
                ece: bool) -> AckSample:
        """The :class:`AckSample` of one ACK. With ``needs_samples`` the delivery-rate
        estimator gives the per-ACK RTT, ``delivered`` and the rate sample;
        otherwise ``delivered`` is counted from SND.UNA and the scoreboard (no
        per-segment records) and ``rtt`` is the RFC 6298 sample."""
        ext = self.ext
        rate = ext.rate if ext is not None else None
        if rate is not None:
            rate.on_cumulative(una_off, now)
            rs, rtt = rate.sample(now, in_flight + acked + sacked)
            return AckSample(now, acked, sacked, in_flight, rtt, rate.delivered, rs,
                             round_start, ece, in_recovery)
        sb = self.scoreboard
        delivered = una_off + (sb.sacked_bytes() if sb is not None else 0)
        return AckSample(now, acked, sacked, in_flight, rtt, delivered, None, round_start,
                         ece, in_recovery)

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
        self.phase = _LOSS if una_off < high_data_off else _OPEN
        self.dupacks = 0
        self._lt_bytes = 0
        self._rexmit_head = False
        self._tlp_sent = False
        self._tlp_probe = None
        self._rexmit_high = None
        self._lost_again = None
        if self.scoreboard is not None:
            self.scoreboard.reset_after_timeout(keep_sacks=True)
        ext = self.ext
        if ext is not None and ext.cwv is not None:
            ext.cwv.reset()  # RFC 7661: pipeACK undefined again after a timeout

    # -- the algorithm and what only some algorithms need -----------------------------------

    def extras(self) -> _Extras:
        """The per-connection state of pacing, delivery-rate estimation and RFC 7661,
        made on first use."""
        ext = self.ext
        if ext is None:
            ext = self.ext = _Extras()
        return ext

    @property
    def rate(self) -> DeliveryRate | None:
        """The delivery-rate estimator (for algorithms with ``needs_samples``), or None."""
        ext = self.ext
        return ext.rate if ext is not None else None

    @property
    def cwv(self) -> CwndValidation | None:
        """The RFC 7661 state (``TcpConfig.cwnd_validation``), or None."""
        ext = self.ext
        return ext.cwv if ext is not None else None

    def set_algorithm(self, name: str) -> None:
        """Change the congestion control algorithm to ``name`` (Linux's TCP_CONGESTION):
        the new one starts from the current cwnd and ssthresh (and SMSS).

        Raises:
            ValueError: unknown name (the message lists the known ones).
        """
        old = self.cc
        new = congestion.create(name, old.mss)
        new.iw_segments = old.iw_segments
        new.cwnd = old.cwnd
        new.ssthresh = old.ssthresh
        self.cc = new
        if new.needs_samples and self.rate is None:
            # Samples start with the next transmission; what is in flight now
            # has no send record and gives none.
            self.extras().rate = DeliveryRate()
        elif not new.needs_samples and self.ext is not None:
            self.ext.rate = None  # an algorithm without samples pays for none

    def on_data_sent(self, start_off: int, end_off: int, now: float, *, retransmission: bool,
                     nothing_in_flight: bool) -> None:
        """Data [start_off, end_off) (stream offsets) left at ``now`` (seconds): its send
        state for the delivery-rate estimator (only with ``needs_samples``)."""
        ext = self.ext
        if ext is not None and ext.rate is not None:
            ext.rate.on_send(start_off, end_off, now, retransmission=retransmission,
                             nothing_in_flight=nothing_in_flight)

    @property
    def phase_name(self) -> str:
        """``metrics_updated``'s ``phase``: ``"recovery"`` or ``"loss"`` from the loss
        recovery phase, otherwise the algorithm's own (:attr:`CongestionControl.phase`)."""
        phase = self.phase
        # (A table, not phase.value: an Enum's value is a descriptor call, and this
        # runs for every metrics_updated record of a kept trace.)
        return self.cc.phase if phase is _OPEN else _PHASE_NAMES[phase]

    # -- what the sender may send -------------------------------------------------------

    def send_window(self, *, limited_transmit: bool, at_snd_max: bool, mss: int) -> int:
        """cwnd, plus one segment per duplicate ACK (up to two) of limited transmit.

        RFC 3042 §2: only "previously unsent data", so not while resending
        after a timeout (SND.NXT below SND.MAX), and not during recovery.
        """
        cwnd = self.cc.cwnd
        if limited_transmit and self.phase is not _RECOVERY and self.dupacks and at_snd_max:
            cwnd += min(self.dupacks, 2) * mss
        return cwnd

    def note_new_data(self, *, beyond_cwnd: int) -> None:
        """New data left on a duplicate ACK; ``beyond_cwnd`` bytes of it beyond cwnd.

        RFC 5681 §3.2 (2): what limited transmit sent is left out of the
        FlightSize of the next fast retransmit.
        """
        if self.dupacks and self.phase is not _RECOVERY:
            self._lt_bytes = max(self._lt_bytes, beyond_cwnd)

    def retransmission_due(self) -> bool:
        """True if any of the four ``take_*`` calls would find something: a head
        retransmission (fast retransmit, a NewReno partial ACK), a tail loss probe
        (RFC 8985 §7.3; new data or a resend), or retransmissions found lost again.

        While it is False those calls would change nothing and return nothing,
        so the sender asks this once per output instead of calling all four
        (every output of a bulk transfer outside recovery: three calls fewer
        per output, about 1 % of ``sim_bulk``'s calls).
        """
        return self._rexmit_head or self._tlp_probe is not None or self._lost_again is not None

    def take_head_retransmission(self) -> bool:
        """True once after fast retransmit or a NewReno partial ACK: resend SND.UNA."""
        due, self._rexmit_head = self._rexmit_head, False
        return due

    def take_lost_retransmissions(self, una_off: int) -> list[int]:
        """Offsets of retransmissions found lost again, still unacknowledged, to resend."""
        lost, self._lost_again = self._lost_again, None
        if not lost or self.phase is not _RECOVERY:
            return []
        return [start for start in lost if start >= una_off]

    def note_retransmission(self, start_off: int, high_data_off: int, nbytes: int = 0) -> None:
        """``nbytes`` from ``start_off`` were resent while HighData was ``high_data_off``."""
        ext = self.ext
        if ext is not None and ext.cwv is not None:
            ext.cwv.retransmitted += nbytes  # R of RFC 7661 §4.4.1
        if self.phase is _RECOVERY and self._sack is not None:
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
            or self.phase is _RECOVERY
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
        if self.phase is _RECOVERY or in_flight <= 0 or self._tlp_sent:
            return False
        self._tlp_sent = True
        if unsent > 0 and window_left >= min(seg_size, unsent):
            self._tlp_probe = _NEW_DATA
        else:
            self._tlp_probe = max(una_off, high_data_off - seg_size)
        return True

    def take_tlp_retransmission(self) -> int | None:
        """The offset the probe resends, once, or None."""
        off = self._tlp_probe
        if off is None or off == _NEW_DATA:
            return None
        self._tlp_probe = None
        return off

    def take_tlp_new_data(self) -> bool:
        """True once if the probe is new data (it may exceed cwnd by one segment)."""
        if self._tlp_probe == _NEW_DATA:
            self._tlp_probe = None
            return True
        return False


class _Extras:
    """What only some connections need, made on first use (:meth:`LossRecovery.extras`).

    Attributes:
        rate: the delivery-rate estimator, for algorithms with ``needs_samples``.
        pace_at: when the pacer lets the next new segment leave, seconds, or
            None before the first paced segment (see :mod:`tcpstack.sender`).
        cwv: RFC 7661 state, with ``TcpConfig.cwnd_validation``.
    """

    __slots__ = ("cwv", "pace_at", "rate")

    def __init__(self) -> None:
        self.rate: DeliveryRate | None = None
        self.pace_at: float | None = None
        self.cwv: CwndValidation | None = None


class CwndValidation:
    """RFC 7661 congestion window validation ("new CWV") of one connection.

    A cwnd the sender has not been using says nothing about the path now.
    pipeACK (§4.1) is the most data acknowledged within one round trip over
    the pipeACK Sampling Period, max(3 * SRTT, 1 s); it is undefined until the
    first sample and again after a loss recovery or a timeout. While pipeACK
    >= cwnd / 2 (or undefined) the cwnd is *validated* (§4.3); otherwise the
    connection is in the *non-validated phase* (§4.4), in which:

    * cwnd does not grow unless the sender is cwnd-limited (§4.4: the
      algorithm's growth is undone when the ACKed flight did not fill cwnd);
    * when the phase has lasted the non-validated period :data:`NVP` (five
      minutes), ssthresh = max(ssthresh, 3/4 cwnd) and cwnd = max(cwnd / 2, IW)
      (§4.4.2), once per NVP;
    * a loss detected in it ends its recovery with cwnd = (max(pipeACK,
      LossFlightSize) - R) / 2, at least one segment, and ssthresh = cwnd,
      where R is the data retransmitted during that recovery (§4.4.1).

    RFC 5681's restart after idle (§4.1) is replaced by this: the sender
    keeps its cwnd through an idle spell (see :mod:`tcpstack.sender`).

    Attributes:
        valid_since: when the cwnd was last found validated, seconds (the NVP
            counts from here); None before the first ACK.
        non_validated: the latest ACK found the non-validated phase.
        retransmitted: bytes retransmitted since the loss that began recovery.
    """

    __slots__ = ("_loss_flight", "_round", "_samples", "non_validated", "retransmitted",
                 "valid_since")

    def __init__(self) -> None:
        self.non_validated = False  # as found by the latest ACK
        self._samples: list[tuple[float, int]] | None = None  # (time, bytes); None: undefined
        self._round: tuple[int, int] | None = None  # (SND.UNA, HighData) when the round began
        self.valid_since: float | None = None
        self._loss_flight: int | None = None
        self.retransmitted = 0

    def pipe_ack(self, now: float, srtt: float | None) -> int | None:
        """pipeACK in bytes at ``now``, or None while undefined (§4.1): the largest
        sample of the last max(3 * SRTT, 1 s)."""
        samples = self._samples
        if samples is None:
            return None
        period = max(3 * srtt, 1.0) if srtt is not None else 1.0
        return max((n for at, n in samples if now - at < period), default=0)

    def validated(self, now: float, srtt: float | None, cwnd: int) -> bool:
        """The validated phase (§4.3): pipeACK undefined or >= cwnd / 2."""
        pipe_ack = self.pipe_ack(now, srtt)
        return pipe_ack is None or 2 * pipe_ack >= cwnd

    def on_ack(self, cc: CongestionControl, *, now: float, una_off: int, high_data_off: int,
               srtt: float | None, cwnd_before: int, cwnd_limited: bool) -> None:
        """An ACK advanced SND.UNA to ``una_off`` outside recovery, after the algorithm
        saw it (``cwnd_before``: cwnd before that); ``cwnd_limited``: the flight it
        acknowledged filled cwnd."""
        # §4.1: a pipeACK sample per round trip: what was acknowledged since the
        # last sample, once SND.UNA passes the HighData of then.
        start = self._round
        if start is None:
            self._round = (una_off, high_data_off)
        elif una_off >= start[1]:
            period = max(3 * srtt, 1.0) if srtt is not None else 1.0
            kept = [(at, n) for at, n in self._samples or () if now - at < period]
            kept.append((now, una_off - start[0]))
            self._samples = kept
            self._round = (una_off, high_data_off)
        if self.valid_since is None or self.validated(now, srtt, cwnd_before):
            self.valid_since = now  # §4.3: validated: standard congestion control
            self.non_validated = False
            return
        self.non_validated = True
        # §4.4: non-validated phase. No growth unless cwnd-limited.
        if not cwnd_limited and cc.cwnd > cwnd_before:
            cc.cwnd = cwnd_before
        # §4.4.2: the NVP ran out: reduce, once per NVP.
        iw = initial_window(cc.mss, cc.iw_segments)
        while now - self.valid_since > NVP:
            cc.ssthresh = max(cc.ssthresh, 3 * cc.cwnd // 4)
            cc.cwnd = max(cc.cwnd // 2, iw)
            self.valid_since += NVP

    def on_enter_recovery(self, flight_size: int) -> None:
        """Loss detected (fast retransmit): remember LossFlightSize (``flight_size``,
        bytes) if it came in the non-validated phase (§4.4.1)."""
        self._loss_flight = flight_size if self.non_validated else None
        self.retransmitted = 0

    def on_exit_recovery(self, cc: CongestionControl, *, now: float,
                         srtt: float | None) -> None:
        """Recovery ended at ``now``: §4.4.1's cwnd if the loss came in the
        non-validated phase; pipeACK becomes undefined either way."""
        loss_flight, self._loss_flight = self._loss_flight, None
        pipe_ack = self.pipe_ack(now, srtt) or 0
        if loss_flight is not None:
            # cwnd = (max(pipeACK, LossFlightSize) - R) / 2 (§4.4.1)
            cc.cwnd = max((max(pipe_ack, loss_flight) - self.retransmitted) // 2, cc.mss)
            cc.ssthresh = cc.cwnd
        self.reset()

    def reset(self) -> None:
        """pipeACK undefined again (after recovery or a timeout)."""
        self._samples = None
        self._round = None
        self._loss_flight = None
        self.retransmitted = 0
        self.non_validated = False
