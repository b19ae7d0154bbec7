"""What leaves a connection now, and how its segments are built.

The :class:`Sender` is the output half of a connection. On every
``packets_to_send`` it decides which segments go out: control segments
queued by event processing (RSTs, challenge ACKs, probes, duplicate ACKs),
the SYN or SYN,ACK, retransmissions chosen by loss recovery, new data and the
FIN as far as the windows allow, and a pure ACK when one is due. It owns:

* the send policy: usable window (RFC 5681 §2), Nagle (RFC 9293 §3.7.4,
  SHLD-7), sender SWS avoidance and its override timer (§3.8.6.2.1,
  MUST-38), the persist timer and zero-window probes (§3.8.6.1, MUST-35/36),
  restart after idle (RFC 5681 §4.1);
* when ACKs are sent: delayed ACKs (§3.8.6.3, SHLD-18/19, MUST-40), and the
  rate limits on ACKs that answer invalid segments (RFC 5961 §7 for
  challenge ACKs; like Linux's ``tcp_invalid_ratelimit`` for the rest);
* the bookkeeping of transmissions: SND.NXT/SND.MAX advance, the RTO timer
  (RFC 6298 §5.1), R1/R2 counting (RFC 9293 §3.8.3), Last.ACK.sent (RFC 7323 §4.3);
* segment building: our window (SHLD-14, MUST-39, RFC 7323 §2), the
  timestamps option (RFC 7323 §3) and SACK blocks (RFC 2018 §4).

The TCB variables themselves stay on the :class:`~tcpstack.connection.Connection`;
the sender reads and advances them. Times are seconds, sizes bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from . import events as ev
from .ecn import EcnState
from .negotiation import TS_OPTION_SPACE, ecn_syn_flags, syn_options
from .paws import ts_clock
from .recovery import Phase
from .rtt import RttSampler
from .seq import seq_add, seq_diff, seq_gt, seq_le, seq_lt, seq_min
from .state import S
from .timers import Timer
from .wire import FLAGS_BY_VALUE, NOP, Flags, Sack, Segment, TcpOption, Timestamps
from .wire.ecn import ECT_0

if TYPE_CHECKING:
    from .connection import Connection

# Timer and Phase members the per-packet paths read, as module globals (5 ns
# against 73 through the Enum class's attribute hook, see state.S).
_RTO, _TLP, _PERSIST, _DELAYED_ACK = Timer.RTO, Timer.TLP, Timer.PERSIST, Timer.DELAYED_ACK
_PHASE_OPEN, _PHASE_RECOVERY = Phase.OPEN, Phase.RECOVERY

NO_FLAGS = Flags(0)
_ACK, _SYN, _RST = int(Flags.ACK), int(Flags.SYN), int(Flags.RST)
_ECE = int(Flags.ECE)
_ACK_ONLY = Flags.ACK
_ACK_PSH = Flags.ACK | Flags.PSH
MAX_UNSCALED_WINDOW = 65535
PACING_BURST = 2
"""Full segments the pacer lets leave back to back after an idle spell (Linux's
tcp_min_tso_segs default); also the least a paced super-segment carries."""
RESOURCE_PROBE_INTERVAL = 0.5
"""Seconds between tries while the device refuses packets (``Stack.local_congestion``):
Linux's TCP_RESOURCE_PROBE_INTERVAL, with no backoff ("let senders fight for local
resources conservatively", tcp_send_probe0, tcp_retransmit_timer)."""
TSO_MAX_BYTES = 65536 - 1 - 320
"""Most data bytes one segment carries with segmentation offload
(``TcpConfig.tso``): Linux's GSO_MAX_SIZE less one and MAX_TCP_HEADER
(tcp_xmit_size_goal); the segment itself is a multiple of the segment size."""


class Sender:
    """The output half of one connection (see the module docstring).

    Args:
        conn: the connection whose segments this sender builds.

    Attributes:
        ack_now: an acknowledgment is due at the next output.
        first_sent_at: when the oldest unacknowledged sequence space was
            (re)sent first: R2 counts from here (RFC 9293 §3.8.3), or None.
        retransmissions: timeouts of the oldest segment in a row (R1, SHLD-10).
        probes_out: zero-window probes sent since the peer last acknowledged
            anything (Linux ``icsk_probes_out``): unanswered probes.
        probe_since: when the first of those unanswered probes left, seconds, or
            None: R2 and the user timeout count from here (RFC 9293 §3.8.6.1).
        window_probes: zero-window probes sent since the window closed, answered
            or not (what an orphan may send: ``TcpConfig.orphan_retries``).
        syn_retransmitted: the SYN (or SYN,ACK) had to be sent again (RFC 6298 §5.7).
        last_ack_sent: Last.ACK.sent of RFC 7323 §4.3: the ACK field of our latest segment.
        ecn: the connection's ECN state once both SYNs agreed on ECN
            (RFC 3168 §6.1, :class:`~tcpstack.ecn.EcnState`), else None.
    """

    __slots__ = (
        "_c",
        "_challenges",
        "_ctl",
        "_force",
        "_last_send_at",
        "_oow_ack_at",
        "_persist_backoff",
        "_pingpong",
        "_quick",
        "_rcv_data_at",
        "_rcv_unacked",
        "_small_end",
        "ack_now",
        "ecn",
        "first_sent_at",
        "last_ack_sent",
        "probe_since",
        "probes_out",
        "retransmissions",
        "syn_retransmitted",
        "window_probes",
    )

    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._ctl: list[Segment] | None = None  # control segments waiting to go out
        self.ack_now = False
        self._rcv_unacked = 0  # bytes received since the last ACK we sent
        self._persist_backoff = 0.0
        self._force = False  # persist timer fired with a usable window: SWS override
        self._last_send_at: float | None = None  # last transmission (RFC 5681 §4.1)
        self.first_sent_at: float | None = None
        self.retransmissions = 0
        self.probes_out = 0
        self.probe_since: float | None = None
        self.window_probes = 0
        self.syn_retransmitted = False
        self.last_ack_sent = 0
        # (second, challenge ACKs sent in it): one slot, a tuple only once attacked
        self._challenges: tuple[int, int] | None = None
        self._oow_ack_at: float | None = None  # last ACK answering an invalid segment
        self._quick = 0  # ACKs still to send at once (config.quick_acks)
        self._pingpong = False  # interactive: we answered data with data within ato
        self._small_end: int | None = None  # end seq of the last partial segment sent
        self._rcv_data_at: float | None = None  # when in-order data last arrived
        self.ecn: EcnState | None = None

    # ------------------------------------------------------------------
    # The output procedure
    # ------------------------------------------------------------------

    def output(self) -> list[Segment]:
        """Every segment to transmit now, in order (RFC 9293 §3.8, §3.9.1.2)."""
        c = self._c
        out = self._ctl or []
        self._ctl = None
        state = c._state
        if state is S.CLOSED:
            return out
        if c._snd_una == c._iss and self.syn_pending():  # (the int test first: cheaper)
            out.append(self._syn_segment())
        elif state not in (S.LISTEN, S.SYN_SENT, S.SYN_RECEIVED):
            # Data waits for ESTABLISHED (§3.10.2: queued in SYN-SENT/SYN-RECEIVED).
            if c._owner.local_congestion:
                self._hold_for_device()
            else:
                self._data_segments(out)
        carries_ack = False  # a segment with ACK and without RST
        for seg in out:
            if int(seg.flags) & (_ACK | _RST) == _ACK:
                carries_ack = True
                break
        if self.ack_now and not carries_ack and c._state not in (S.LISTEN, S.SYN_SENT):
            out.append(self.make(seq=c._snd_max))
            carries_ack = True
        if carries_ack:
            # An ACK leaves: none is due or delayed any more (§3.8.6.3). (Inline:
            # once per output that sends, 0.7 calls per packet.)
            self.ack_now = False
            self._rcv_unacked = 0
            c._timers.cancel(_DELAYED_ACK)
        return out

    def syn_pending(self) -> bool:
        """Our SYN (or SYN,ACK) is due: first send, or resend after a timeout."""
        c = self._c
        return (
            c._state in (S.SYN_SENT, S.SYN_RECEIVED, S.FIN_WAIT_1)
            and c._snd_nxt == c._iss
            and c._snd_una == c._iss
        )

    def _syn_segment(self) -> Segment:
        """The SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED), first or retransmitted."""
        c = self._c
        # MSS always (MUST-14, SHLD-5); window scale, timestamps, SACK-permitted
        # offered on a SYN, and on a SYN,ACK only if the peer's SYN had them.
        answering = c._peer_syn if c._state is not S.SYN_SENT else None
        opts = syn_options(c.config, mss=c.rcv_mss, tsval=self.tsval(), peer_syn=answering)
        retransmission = c._snd_max != c._iss
        if c._state is S.SYN_SENT:
            # RFC 3168 §6.1.1: an ECN-setup SYN carries ECE and CWR.
            flags = Flags.SYN | ecn_syn_flags(c.config, retransmission=retransmission)
            seg = self.make(seq=c._iss, flags=flags, ack_flag=False, options=opts)
        else:
            # RFC 3168 §6.1.1: an ECN-setup SYN,ACK (ECE, not CWR) accepts the
            # peer's ECN-setup SYN; its retransmissions too (as Linux).
            flags = Flags.SYN | Flags.ECE if c._negotiated.ecn else Flags.SYN
            seg = self.make(seq=c._iss, flags=flags, options=opts)
        if retransmission:
            c._count("syn_retrans")  # sent before: a retransmission (RFC 6298 §5.7)
        self._sent(c._iss, 1)
        return seg

    def _data_segments(self, out: list[Segment]) -> None:
        """Append to ``out`` the retransmissions, then data and FIN as the windows,
        Nagle and SWS avoidance allow (§3.7.4, §3.8.6.2.1)."""
        c = self._c
        rec = c._recovery
        buf = c._sndbuf
        # Loss recovery's four take_* calls only when one of them has something
        # (retransmission_due: one call instead of four per output otherwise).
        due = rec.retransmission_due()
        if due:
            if rec.take_head_retransmission() and seq_lt(c._snd_una, c._snd_max):
                # Fast retransmit, or a NewReno partial ACK: resend the first
                # unacknowledged segment (RFC 5681 §3.2 (2), RFC 6582 §3.2 (3)).
                out.append(self._retransmit(buf.off(c._snd_una)))
            tlp_off = rec.take_tlp_retransmission()
            if tlp_off is not None and (tlp_off < self.high_data_off()
                                        or (self.fin_sent() and not self.fin_acked())):
                # Tail loss probe (RFC 8985 §7.3): the last segment sent, which may
                # be the FIN alone.
                out.append(self._retransmit(tlp_off))
            for start in rec.take_lost_retransmissions(buf.off(c._snd_una)):
                out.append(self._retransmit(start))
        if rec.phase is _PHASE_RECOVERY and rec.uses_sack:  # (in_recovery, without its call)
            out.extend(self._sack_recovery())
        # (A probe of new data is taken here, before the test below, as ever.)
        probe = due and rec.take_tlp_new_data()
        force = self._force
        self._force = False
        if buf.beyond(c._snd_nxt) <= 0 and not self.fin_unsent():  # index >= len(buf)
            # Nothing new to send (a receiver's every output): the loop below
            # would stop at its first pass; skip its set-up (saves 12 calls),
            # the segment size included.
            if rec.ext is not None:
                self._check_app_limited(self.seg_size())
            return
        size = self.seg_size()
        probe_room = size if probe else 0
        config = c._config
        tso = config.tso
        burst = self.tso_size() if tso else size
        pacing_rate = rec.cc.pacing_rate
        if pacing_rate is not None and burst > size:
            # Paced offload: super-segments of about 1 ms at the pacing rate, at
            # least PACING_BURST segments (Linux tcp_tso_autosize, tcp_min_tso_segs).
            burst = min(burst, max(PACING_BURST * size, int(pacing_rate * 1e-3) // size * size))
        now = c._now
        if (
            c._snd_max == c._snd_una  # (in_flight == 0, without the property)
            and buf.unsent(c._snd_nxt) > 0
            and self._last_send_at is not None
            and now - self._last_send_at > c._rtt.rto
            and config.slow_start_after_idle
            and rec.cwv is None
        ):
            # RFC 5681 §4.1: after sending nothing for more than an RTO, restart
            # from at most the initial window (the ACK clock has stopped). Not
            # with RFC 7661, which keeps cwnd through the non-validated period.
            rec.cc.on_idle()
        sack = rec.uses_sack
        paced = False  # the pacer held new data back
        # Full-sized new segments may take the short routine (_full_segments):
        # not with offload, pacing, urgent data, ECN marks, the SWS override or
        # a probe's extra room, nor while going back after a timeout.
        full_ok = (not tso and pacing_rate is None and not force and not probe_room
                   and buf.up_off is None and self.ecn is None and c._snd_nxt == c._snd_max
                   and self.full_segments)
        while True:
            snd_nxt = c._snd_nxt
            index = buf.index(snd_nxt)
            if index < 0:  # SYN not yet acknowledged but being resent: _syn_segment
                break
            avail = buf.beyond(snd_nxt)  # len(buf) - index
            usable = self.usable_window() + probe_room  # a TLP may exceed cwnd by one
            if full_ok and avail > size <= usable:
                if self._full_segments(out, index, avail, usable, size):
                    break  # the window holds no full segment more: see _full_segments
                continue
            n = min(avail, usable, burst)
            if sack and n > 0 and seq_lt(c._snd_nxt, c._snd_max):
                # Going back after a timeout: skip what the receiver SACKed
                # (RFC 6675 §5.1) and stop short of the next SACKed block.
                skip, limit = rec.sack_skip(buf.head_off + index)
                if skip:
                    c._snd_nxt = seq_min(seq_add(c._snd_nxt, skip), c._snd_max)
                    continue
                n = min(n, limit)
            # With segmentation offload, the last super-segment the windows let go
            # while pushed data waits behind it carries PSH: the receiver delivers
            # what came (§3.9.1.2; Linux marks its TSO bursts alike). Not a tail
            # loss probe's new data.
            window_cut = tso and n == usable < avail and not probe_room
            if size < n < avail:
                # Segmentation offload: a super-segment cut short by the windows
                # ends on a segment boundary (Linux tcp_mss_split_point).
                n -= n % size
            elif size < n == avail and config.cork and not force and not self.fin_unsent():
                # Corked: the partial segment at the tail waits, the full ones go
                # (Linux tcp_mss_split_point with TCP_NAGLE_CORK).
                n -= n % size
            fin_here = self.fin_unsent() and n == avail
            if n <= 0:
                if fin_here and avail == 0:
                    # The FIN alone (it needs no window space beyond its own octet).
                    out.append(self._emit_data(index, 0, fin=True))
                    continue
                if avail > 0:
                    self._arm_persist()  # zero usable window: probe it (MUST-35/36)
                break
            retransmission = seq_lt(c._snd_nxt, c._snd_max)
            if n < size and not force and not retransmission:
                # (Retransmissions go out as they are: Nagle and SWS apply to new data.)
                in_flight = c.in_flight > 0
                if n == avail:
                    # The tail of the queue: Nagle holds it while data is
                    # unacknowledged (SHLD-7), unless switched off (MUST-17).
                    if config.nagle and not fin_here and self._nagle_holds(in_flight):
                        break
                    if config.cork and not fin_here:
                        # Corked (Linux TCP_CORK / MSG_MORE): the partial
                        # segment waits for more data, uncorking, or at most
                        # the override timer (as the SWS override, §3.8.6.2.1).
                        if not in_flight:
                            self._arm_persist(override=True)
                        break
                elif in_flight or n < c._max_snd_wnd // 2:
                    # Sender SWS avoidance (MUST-38): a small window-limited
                    # segment waits for more window (or the override timer).
                    if not in_flight:
                        self._arm_persist(override=True)
                    break
            if pacing_rate is not None and not retransmission and self._pacing_holds():
                paced = True
                break
            # PSH also on a corked tail the override timer sends out (Linux's
            # cork ceiling pushes it); not on the SWS override's small segment.
            push = (window_cut and buf.pushed_beyond(buf.head_off + index + n)) or (
                force and n == avail and config.cork)
            force = False
            probe_room = 0
            if not retransmission:
                # Limited transmit (RFC 3042): how far beyond cwnd this goes.
                rec.note_new_data(
                    beyond_cwnd=seq_diff(c._snd_nxt, c._snd_una) + n - rec.cc.cwnd
                )
            out.append(self._emit_data(index, n, fin=fin_here, push=push))
        if rec.ext is not None and not paced:
            self._check_app_limited(size)

    full_segments: ClassVar[bool] = True
    """Send full-sized new segments through :meth:`_full_segments` (False: through
    the general loop of :meth:`_data_segments` only; the tests compare the two)."""

    def _full_segments(self, out: list[Segment], index: int, avail: int, usable: int,
                       size: int) -> bool:
        """The common case of :meth:`_data_segments`: append to ``out`` new segments
        of ``size`` bytes from buffer index ``index`` at SND.NXT = SND.MAX while
        more than ``size`` bytes are unsent (``avail``: the FIN cannot ride) and
        the usable window (``usable`` bytes) holds ``size``. No Nagle or SWS test
        applies to a full segment (§3.7.4, §3.8.6.2.1), and the caller has ruled
        out offload, pacing, urgent data and ECN marks.

        The segments, the TCB and the timers (and their trace records) come out
        as from the general loop; what it saves is the per-segment work that
        cannot change within one output: the window we advertise, our TSval
        and the options are computed once (:meth:`_ack_fields`), the usable
        window is counted down instead of recomputed, and the segment is built
        directly rather than through ``_emit_data``, ``_data_segment`` and
        :meth:`make` (about 25 calls per segment; tests/unit/test_sendpath.py
        compares the two).

        Returns True if it stopped with more than a segment unsent because the
        usable window holds less than a segment: the general loop's next pass
        would send nothing then (a window of 0 arms the persist timer only
        without the RTO timer, which these segments started, §3.8.6.1; a partial
        segment with data in flight waits, sender SWS avoidance, MUST-38), so
        the caller stops without it (8 calls fewer per output of a bulk
        sender). False: the caller's loop goes on with the tail.
        """
        c = self._c
        buf = c._sndbuf
        rec = c._recovery
        board = rec.board() if rec.uses_sack else None
        ext = rec.ext
        cancel = c._timers.cancel
        sent = self._sent
        lport = c._local.port
        rport = c._remote.port
        ack, window, options = self._ack_fields()
        self.last_ack_sent = ack
        off = first_off = buf.head_off + index
        # RFC 8985 §7.2 reschedules the probe after each new segment (_sent). Within
        # one output its deadline is the last segment's: the RTO it is capped by
        # stays, the time is the same and the flight only grows. Untraced, the
        # probe is armed once after the loop, not once per segment (about 6
        # calls per segment but one of each output); while a trace is kept,
        # per segment, for its timer_set records.
        tlp_each = c._tracing()
        while avail > size <= usable:
            seq = c._snd_nxt
            if rec.dupacks:
                # Limited transmit (RFC 3042): how far beyond cwnd this goes.
                rec.note_new_data(beyond_cwnd=seq_diff(seq, c._snd_una) + size - rec.cc.cwnd)
            end = off + size
            # §3.9.1.2: PSH on the segment with the last byte of the newest pushed SEND.
            flags = _ACK_PSH if buf.pushes(off, end) else _ACK_ONLY
            out.append(Segment(lport, rport, seq, ack, flags, window, 0, options,
                               buf.take(index, size), 0))
            if ext is not None:
                rec.on_data_sent(off, end, c._now, retransmission=False,
                                 nothing_in_flight=c._snd_una == c._snd_max)
            sent(seq, size, tlp=tlp_each)
            cancel(_PERSIST)
            off = end
            index += size
            avail -= size
            usable -= size
        if board is not None:
            # New data only moves the scoreboard's HighData (RFC 6675 §4; its
            # HighACK too, on the first data sent), which nothing in the loop
            # reads: told once for the whole run of segments, not per segment.
            board.on_sent(first_off, off, retransmission=False)
        if not tlp_each:
            self.arm_tlp()
        return avail > size

    def _hold_for_device(self) -> None:
        """The device refuses packets (``Stack.local_congestion``): data, FIN and
        retransmissions stay queued, as Linux's tcp_write_xmit stops at a failed
        transmission. A timer must bring them out later: with data in flight the
        retransmission timer (re-armed :data:`RESOURCE_PROBE_INTERVAL` from now when
        its timeout found the device refusing: tcp_retransmit_timer), else the
        persist timer, one RTO from now (tcp_check_probe_timer); :meth:`on_persist`
        then probes the device."""
        c = self._c
        self._force = False
        if c.in_flight > 0:
            if not c._timers.armed(_RTO):
                self.arm_rto(RESOURCE_PROBE_INTERVAL)
        elif c._sndbuf.unsent(c._snd_nxt) > 0 or self.fin_unsent():
            self._arm_persist()

    def _check_app_limited(self, size: int) -> None:
        """Delivery-rate estimation: if what stopped the sender was the application
        (less than a segment left to send) or the peer's window, not cwnd, the
        coming samples are application-limited (draft-cheng-iccrg-delivery-rate-
        estimation §3.4, ``CheckIfApplicationLimited``; rwnd-limited as Linux's
        ``tcp_rate_check_app_limited`` callers count it). Not during recovery,
        where retransmissions, not the application, set the pace."""
        c = self._c
        rec = c._recovery
        rate = rec.rate
        if rate is None or rec.phase is not _PHASE_OPEN:
            return
        flight = seq_diff(c._snd_nxt, c._snd_una)
        if rec.cc.cwnd - flight < size:
            return  # cwnd-limited: the network's rate is being measured
        if c._sndbuf.unsent(c._snd_nxt) < size or c._snd_wnd - flight < size:
            rate.mark_app_limited(c.in_flight)

    def _pacing_holds(self) -> bool:
        """New data must wait for the pacer's release time (``cc.pacing_rate`` set):
        if it is still ahead, arm the pacing timer for it and return True.
        Retransmissions are never held (see :meth:`_pace`)."""
        c = self._c
        ext = c._recovery.extras()
        at = ext.pace_at
        if at is not None and at > c._now:
            c._timers.arm(Timer.PACING, at)
            return True
        return False

    def _nagle_holds(self, in_flight: bool) -> bool:
        """Nagle's algorithm (RFC 1122 §4.2.3.4, SHLD-7): a partial segment at the tail
        waits while data is unacknowledged; with ``TcpConfig.nagle_minshall`` only
        while an earlier partial segment is (Minshall's variant, as Linux)."""
        if not self._c.config.nagle_minshall:
            return in_flight
        small = self._small_end
        return small is not None and seq_gt(small, self._c._snd_una)

    def _sack_recovery(self) -> list[Segment]:
        """RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, send what NextSeg() picks."""
        c = self._c
        rec = c._recovery
        sb = rec.board()
        buf = c._sndbuf
        out: list[Segment] = []
        data_end = buf.end_off
        for _ in range(4096):  # bounded: each pass sends one segment
            una, high = buf.off(c._snd_una), self.high_data_off()
            if rec.cc.cwnd - sb.pipe(una, high) < c._snd_mss:
                break
            chosen = sb.next_seg(una, high, unsent=data_end - high, rwnd_end=una + c._snd_wnd)
            if chosen is None:
                break
            start, end = chosen
            if start >= high:  # rule (2): new data, from SND.NXT
                index = start - buf.head_off
                n = min(end - start, len(buf) - index)
                if n <= 0 or c._snd_nxt != c._snd_max:
                    break
                if rec.cc.pacing_rate is not None and self._pacing_holds():
                    # Pacing holds new data in recovery too, as outside it
                    # (Linux tcp_write_xmit's tcp_pacing_check): unheld but
                    # charged, it ran the pacer's release time seconds ahead
                    # and the flow fell silent after recovery (see _pace).
                    break
                out.append(self._emit_data(index, n, fin=buf.fin_queued and index + n == len(buf)))
            else:  # rules (1), (3), (4): a retransmission
                out.append(self._retransmit(start, end))
        return out

    def _emit_data(self, index: int, n: int, *, fin: bool, push: bool = False) -> Segment:
        """The segment at SND.NXT: ``n`` bytes from buffer index ``index``, maybe the FIN;
        ``push`` sets PSH whether or not it ends a pushed SEND."""
        seg = self._data_segment(self._c._snd_nxt, index, n, fin=fin, push=push)
        self._c._timers.cancel(_PERSIST)
        return seg

    def _retransmit(self, start_off: int, end_off: int | None = None) -> Segment:
        """Resend data from stream offset ``start_off`` (up to ``end_off`` or one
        segment), without moving SND.NXT; the FIN rides along if the segment reaches it."""
        c = self._c
        buf = c._sndbuf
        index = start_off - buf.head_off
        sent_end = buf.index(c._snd_max)  # buffer index, FIN included
        n = min(self.seg_size(), len(buf) - index, max(sent_end - index, 0))
        if end_off is not None:
            n = min(n, end_off - start_off)
        c._recovery.note_retransmission(start_off, self.high_data_off(), max(n, 0))
        fin = self.fin_sent() and index + n == len(buf)
        return self._data_segment(seq_add(buf.head_seq, index), index, max(n, 0), fin=fin)

    def _data_segment(self, seq: int, index: int, n: int, *, fin: bool,
                      push: bool = False) -> Segment:
        """Build and account for a data segment at ``seq`` (new or retransmitted)."""
        c = self._c
        buf = c._sndbuf
        flags = Flags.ACK
        off = buf.head_off + index
        retransmission = seq_lt(seq, c._snd_max)
        if n and (push or buf.pushes(off, off + n)):
            # §3.9.1.2: PSH on the segment that carries the last byte of the newest
            # pushed SEND (successive pushes collapse, SHLD-27; every
            # SEND is pushed unless the application says otherwise, so the last
            # buffered segment has it: MUST-61).
            flags |= Flags.PSH
        if fin:
            flags |= Flags.FIN
        # §3.8.5: URG with the pointer to the first non-urgent octet, as an
        # offset from SEG.SEQ (at most 65535; it advances as we go).
        urgent = buf.urgent_pointer(off)
        if urgent:
            flags |= Flags.URG
        ecn = 0
        if self.ecn is not None and n and not retransmission:
            ecn, flags = self._ecn_marks(flags)  # RFC 3168 §6.1.5: new data only
        seg = self.make(seq=seq, flags=flags, payload=buf.take(index, n), urgent=urgent,
                        ecn=ecn)
        if 0 < n < self.seg_size() and not retransmission:
            self._small_end = seq_add(seq, n)  # a partial segment (Minshall's Nagle)
        rec = c._recovery
        if rec.uses_sack and n:
            rec.board().on_sent(off, off + n, retransmission=retransmission)
        if n and rec.ext is not None:  # (nothing to note for NewReno)
            rec.on_data_sent(off, off + n, c._now, retransmission=retransmission,
                             nothing_in_flight=c._snd_una == c._snd_max)
        if n and rec.cc.pacing_rate is not None:
            self._pace(n)
        self._sent(seq, n + (1 if fin else 0))
        return seg

    def _pace(self, n: int) -> None:
        """Pacing (``cc.pacing_rate``, bytes/s): ``n`` data bytes left now; the next
        new segment may leave ``n / pacing_rate`` seconds after this one's release
        time. After an idle spell at most :data:`PACING_BURST` full segments leave
        back to back (the release time never lags ``now`` by more than one segment
        less than that), as Linux's internal pacing spaces a flow (tcp_pacing_check,
        ``sk_pacing_rate``) with bursts of tcp_min_tso_segs = 2.

        Only new data is held, where Linux checks pacing (tcp_write_xmit's
        tcp_pacing_check). Retransmissions are not held back, only charged to the
        pacer: loss repair should not wait behind new data, and RFC 6675's pipe
        already bounds it. Pure ACKs are neither held nor charged (Linux's fq
        qdisc does not pace them either: fq_dequeue skips pacing for
        skb_is_tcp_pure_ack).
        """
        c = self._c
        rate = c._recovery.cc.pacing_rate
        if rate is None or rate <= 0:
            return
        ext = c._recovery.extras()
        now = c._now
        floor = now - (PACING_BURST - 1) * self.seg_size() / rate
        at = ext.pace_at
        ext.pace_at = (at if at is not None and at > floor else floor) + n / rate

    def _sent(self, seq: int, length: int, *, tlp: bool = True) -> None:
        """Account for ``length`` sequence numbers sent at ``seq``: SND.NXT and
        SND.MAX, the RTO timer, RTT timing, R2's clock, the tail loss probe (not
        with ``tlp`` False: the caller arms it after its last segment)."""
        c = self._c
        end = seq_add(seq, length)
        if seq == c._snd_max and length:
            # New sequence space at SND.MAX (every new segment): no retransmission,
            # and SND.NXT (never beyond SND.MAX) and SND.MAX both move to its end.
            # (The comparisons below, without their three calls per segment.)
            retransmission = False
            c._snd_nxt = c._snd_max = end
        else:
            retransmission = seq_lt(seq, c._snd_max)
            if retransmission and length:
                c._count("retrans_segs")
            if seq_gt(end, c._snd_nxt):
                c._snd_nxt = end
            if seq_gt(end, c._snd_max):
                c._snd_max = end
        now = c._now
        self._last_send_at = now
        if self.first_sent_at is None:
            self.first_sent_at = now
        timing = c._timing
        if timing is None:
            c._timing = RttSampler.start(seq, length, retransmission=retransmission, now=now,
                                         tsval=self.tsval())
        elif retransmission:
            # (Only a retransmission concerns a running measurement: Karn's rule,
            # RttSampler.on_send; new data does not, so no call and no clock read.)
            timing.on_send(seq, retransmission=True, tsval=self.tsval())
        if not c._timers.armed(_RTO):
            # RFC 6298 §5.1: start the timer if it is not running.
            self.arm_rto()
        if not retransmission and length:
            if tlp:
                self.arm_tlp()  # RFC 8985 §7.2: (re)schedule after new data
            received = self._rcv_data_at
            if received is not None and now - received < c.config.delayed_ack:
                self._pingpong = True

    def acknowledged(self, ack: int, seg: Segment | None) -> tuple[int, float | None]:
        """SND.UNA moved to ``ack`` (carried by ``seg``): release the acknowledged data,
        take an RTT sample, restart the retransmission timer and the probe.

        Returns the data bytes newly acknowledged and the RTT sample it gave
        (seconds; None if none: RFC 6298 §2, about one per round trip).
        """
        c = self._c
        buf = c._sndbuf
        acked = buf.acknowledge(ack)
        if acked and buf.short and buf.space(c._config.send_buffer) > 0 and not buf.fin_queued:
            buf.short = False
            # (The owner told directly, as Tcb._emit does, without its call and cast.)
            c._owner.on_event(c, ev.SendBufferAvailable(c.send_space))
        # One RTT sample per round trip (RFC 6298 §2; RFC 7323 §4.1). Our TS clock
        # and the ACK's TSecr are read only for the ACK that ends the timing, not
        # for every ACK (saves two calls and an option scan per ACK).
        timing = c._timing
        rtt = None
        if timing is not None and timing.acked_by(ack):
            timestamps = c._negotiated.timestamps
            ts = seg.timestamps if seg is not None and timestamps else None
            done, sample = timing.on_ack(
                ack,
                c._now,
                ts_clock=self.tsval() if timestamps else None,
                tsecr=ts.tsecr if ts is not None else None,
            )
            if done:
                c._timing = None
                if sample is not None:
                    c._rtt.sample(sample)
                    rtt = sample
        self.retransmissions = 0
        # RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
        if seq_diff(c._snd_max, c._snd_una) > 0:  # (in_flight, without the property)
            self.first_sent_at = c._now
            self.arm_rto()
        else:
            self.first_sent_at = None
            c._timers.cancel(_RTO)
        c._recovery.on_ack_advanced()
        self.arm_tlp()  # RFC 8985 §7.2: an ACK for new data reschedules the probe
        return acked, rtt

    # ------------------------------------------------------------------
    # The tail loss probe (RFC 8985 §7)
    # ------------------------------------------------------------------

    def arm_tlp(self) -> None:
        """Schedule a tail loss probe before the RTO (RFC 8985 §7.2), or cancel it."""
        c = self._c
        at = None
        state = c._state
        if (
            c._config.tail_loss_probe
            # While our stream may still be open to the peer, and in FIN-WAIT-1:
            # a FIN that ends our data is a tail like any other (RFC 8985 §7
            # probes "the last segment"; Linux alike). After the peer's FIN
            # (CLOSING, LAST-ACK) the FIN is left to the RTO, the classic
            # close the RFC 9293 figures show (Linux probes there too).
            and (state is S.FIN_WAIT_1
                 or ((state is S.ESTABLISHED or state is S.CLOSE_WAIT)
                     and not (c._sndbuf.fin_queued and self.fin_sent())))
        ):
            timers = c._timers
            at = c._recovery.tlp_deadline(
                c._now,
                in_flight=seq_diff(c._snd_max, c._snd_una),
                mss=c._snd_mss,
                srtt=c._rtt.srtt,
                rto_at=timers.at(_RTO),
            )
        if at is None:
            c._timers.cancel(_TLP)
        else:
            c._timers.arm(_TLP, at)

    def on_tlp(self) -> None:
        """Probe timeout (RFC 8985 §7.3): new data or the last segment, to draw an
        ACK with SACK blocks; then "the sender MUST arm the RTO timer"."""
        c = self._c
        buf = c._sndbuf
        if c._recovery.on_tlp_timeout(
            in_flight=c.in_flight,
            unsent=c.unsent,
            window_left=c._snd_wnd - seq_diff(c._snd_max, c._snd_una),
            seg_size=self.seg_size(),
            una_off=buf.off(c._snd_una),
            high_data_off=self.high_data_off(),
        ):
            c._count("loss_probes")
            self.arm_rto()

    # ------------------------------------------------------------------
    # The retransmission timer and R2
    # ------------------------------------------------------------------

    def give_up_after(self) -> float | None:
        """Seconds without an answer after which the connection is given up:
        ``TcpConfig.user_timeout`` if set, else ``r2`` (``r2_syn`` during the
        handshake); None if R2 is off (RFC 9293 §3.8.3, MUST-21; RFC 5482 §3)."""
        c = self._c
        config = c.config
        if config.user_timeout is not None:
            return config.user_timeout
        return config.r2_syn if c._state in (S.SYN_SENT, S.SYN_RECEIVED) else config.r2

    def r2_deadline(self) -> float | None:
        """When R2 runs out for the oldest unacknowledged sequence space, seconds: its
        first send (or the last ACK that advanced) plus :meth:`give_up_after`; None
        if R2 is off (RFC 9293 §3.8.3, RFC 5482 §3)."""
        r2 = self.give_up_after()
        if r2 is None:
            return None
        started = self.first_sent_at if self.first_sent_at is not None else self._c._now
        return started + r2

    def arm_rto(self, after: float | None = None) -> None:
        """(Re)start the retransmission timer: RTO from now (RFC 6298 §5.1, §5.3),
        or ``after`` seconds from now if given. With a user timeout
        (``TcpConfig.user_timeout``) no later than its deadline, so that the
        connection is given up when it runs out rather than at the next
        backed-off RTO after it (RFC 5482 §3; Linux
        tcp_clamp_rto_to_user_timeout). R2 without a user timeout stays a
        threshold checked when the RTO fires (RFC 9293 §3.8.3)."""
        c = self._c
        at = c._now + (c._rtt.rto if after is None else after)
        if c._config.user_timeout is not None:
            deadline = self.r2_deadline()
            if deadline is not None and deadline < at:
                at = max(deadline, c._now)
        c._timers.arm(_RTO, at)

    # ------------------------------------------------------------------
    # Windows
    # ------------------------------------------------------------------

    def usable_window(self) -> int:
        """Bytes we may send beyond SND.NXT: min(SND.WND, cwnd) from SND.UNA (RFC 5681 §2),
        cwnd extended by limited transmit (RFC 3042)."""
        c = self._c
        cwnd = c._recovery.send_window(
            limited_transmit=c.config.limited_transmit,
            at_snd_max=c._snd_nxt == c._snd_max,
            mss=c._snd_mss,
        )
        return max(0, min(c._snd_wnd, cwnd) - seq_diff(c._snd_nxt, c._snd_una))

    def seg_size(self) -> int:
        """Data bytes per full segment: SMSS less the timestamps option (MUST-16)."""
        c = self._c
        return c._snd_mss - (TS_OPTION_SPACE if c._negotiated.timestamps else 0)

    def tso_size(self) -> int:
        """Largest super-segment with offload (``TcpConfig.tso``): the most full
        segments within :data:`TSO_MAX_BYTES`, bytes."""
        size = self.seg_size()
        return max(size, TSO_MAX_BYTES // size * size)

    def high_data_off(self) -> int:
        """HighData: stream offset one past the highest data byte sent (RFC 6675)."""
        c = self._c
        buf = c._sndbuf
        return min(buf.off(c._snd_max), buf.end_off)

    def fin_sent(self) -> bool:
        """Our FIN has been sent (at least once)."""
        c = self._c
        buf = c._sndbuf
        return buf.fin_queued and seq_gt(c._snd_max, buf.fin_seq)

    def fin_unsent(self) -> bool:
        """Our FIN is queued and SND.NXT has not passed it (first send or resend)."""
        c = self._c
        buf = c._sndbuf
        return buf.fin_queued and seq_le(c._snd_nxt, buf.fin_seq)

    def fin_acked(self) -> bool:
        """Our FIN is sent and acknowledged."""
        c = self._c
        return self.fin_sent() and seq_gt(c._snd_una, c._sndbuf.fin_seq)

    # ------------------------------------------------------------------
    # The persist timer (§3.8.6.1, §3.8.6.2.1)
    # ------------------------------------------------------------------

    def _arm_persist(self, *, override: bool = False) -> None:
        """Arm the persist timer: a zero-window probe after one RTO (SHLD-29), or,
        with ``override``, the sender-SWS override timer, 0.1-1.0 s (§3.8.6.2.1).
        A window that closes anew starts a new count of :attr:`window_probes`."""
        c = self._c
        timers = c._timers
        if not timers.armed(_PERSIST) and not timers.armed(_RTO):
            rto = c._rtt.rto
            self._persist_backoff = min(max(rto, 0.1), 1.0) if override else rto
            self.window_probes = 0
            timers.arm(_PERSIST, c._now + self._persist_backoff)

    def probe_deadline(self) -> float | None:
        """When unanswered zero-window probes give the connection up, seconds: the
        first unanswered probe plus :meth:`give_up_after`; None while no probe is
        unanswered or R2 is off (RFC 9293 §3.8.6.1, MUST-26)."""
        limit = self.give_up_after()
        if self.probe_since is None or limit is None:
            return None
        return self.probe_since + limit

    def on_persist(self) -> bool:
        """Persist timer (§3.8.6.1): probe a zero window, or override sender SWS;
        while the device refuses packets (``Stack.local_congestion``), probe the
        device instead (see :meth:`_hold_for_device`).

        Returns True when the connection must be given up instead: its zero-window
        (or device) probes went unanswered until :meth:`probe_deadline` (R2 or the user timeout;
        RFC 1122 §4.2.2.17 keeps it open only while the peer answers, MUST-26;
        Linux tcp_probe_timer), or it is an orphan that sent
        ``TcpConfig.orphan_retries`` probes (Linux tcp_orphan_retries).
        """
        c = self._c
        if c._sndbuf.unsent(c._snd_nxt) <= 0 and not self.fin_unsent():
            return False
        now = c._now
        refused = c._owner.local_congestion
        if self.usable_window() > 0 and not refused:
            self._force = True  # SWS override timer (§3.8.6.2.1)
        else:
            deadline = self.probe_deadline()
            if (deadline is not None and now >= deadline) or c._orphan_exhausted(
                    self.window_probes):
                return True
            if refused:
                # The device still refuses packets: a failed resource probe, tried
                # again after RESOURCE_PROBE_INTERVAL without backoff; it counts as
                # an unanswered probe (Linux tcp_send_probe0 on a local error).
                self._persist_backoff = RESOURCE_PROBE_INTERVAL
            else:
                # Zero-window probe: <SEQ=SND.UNA-1> draws an ACK with the current window.
                self.queue(self.make(seq=seq_add(c._snd_una, -1)))
                self._persist_backoff = min(self._persist_backoff * 2, c.config.rto_max)
            if self.probe_since is None:
                self.probe_since = now
            self.probes_out += 1
            self.window_probes += 1
        at = now + self._persist_backoff
        deadline = self.probe_deadline()
        if deadline is not None and deadline < at:
            # The last wait ends at the deadline, not after it (Linux
            # tcp_clamp_probe0_to_user_timeout; here for R2 as well).
            at = max(deadline, now)
        c._timers.arm(_PERSIST, at)
        return False

    def probe_answered(self) -> None:
        """An acceptable ACK arrived (any window, even zero): the peer is alive and
        its probes are answered; R2 for probes starts again (RFC 9293 §3.8.6.1,
        MUST-26; Linux tcp_ack clears icsk_probes_out)."""
        self.probes_out = 0
        self.probe_since = None

    # ------------------------------------------------------------------
    # Acknowledgments
    # ------------------------------------------------------------------

    def schedule_ack(self, nbytes: int) -> None:
        """In-order data arrived: delayed ACK (§3.8.6.3): at once for every second
        full-sized segment (SHLD-19), else within ``delayed_ack`` s (MUST-40)."""
        c = self._c
        self._rcv_unacked += nbytes
        # A full-sized segment carries RCV.MSS less the timestamps option.
        full = c.rcv_mss - (TS_OPTION_SPACE if c._negotiated.timestamps else 0)
        config = c._config
        # (Quick-ACK mode asked only when configured: off, _quick_ack is False and
        # changes nothing; one call fewer per data segment.)
        quick = bool(config.quick_acks) and self._quick_ack()
        delay = config.delayed_ack
        if delay <= 0 or self._rcv_unacked >= 2 * full or quick:
            self.ack_now = True
        elif not c._timers.armed(_DELAYED_ACK):
            c._timers.arm(_DELAYED_ACK, c._now + delay)

    def _quick_ack(self) -> bool:
        """Quick-ACK mode (``config.quick_acks``, as Linux): the first data segments
        of a connection, and those after an idle period longer than the RTO, are
        acknowledged at once unless the exchange is interactive (we answered data
        with data within the delayed-ACK time: Linux's "pingpong" mode)."""
        c = self._c
        limit = c._config.quick_acks
        if not limit:
            return False
        now = c._now
        last = self._rcv_data_at
        self._rcv_data_at = now
        if last is None or now - last > c._rtt.rto:
            self._quick = max(self._quick, limit)
        if self._quick > 0 and not self._pingpong:
            self._quick -= 1
            return True
        return False

    def on_delayed_ack(self) -> None:
        """The delayed-ACK timer fired: a delayed ACK ends the interactive mode."""
        self._pingpong = False
        self.ack_now = True

    def window_update_due(self) -> bool:
        """The application read: announce the window now if it is worth it (MUST-39).

        Only while the peer may still send (after its FIN a closed peer would
        answer with a RST), and only when the window grew by an SWS step to at
        least twice what the peer can still use, as Linux does: an application
        that reads promptly must not turn every delayed ACK into an immediate one.
        Returns True (and makes the ACK due) if so.
        """
        c = self._c
        rcv = c._rcvbuf
        if rcv is None or rcv.fin_received:
            return False
        if rcv.window_update_worth(c._config.recv_buffer, c._negotiated.rcv_wscale, c.sws_step()):
            self.ack_now = True
            return True
        return False

    def answer_invalid(self, seg: Segment) -> None:
        """An invalid segment draws an ACK "in reply" (§3.10.7.4 first and fifth steps,
        RFC 7323 §5.3, RFC 5961 §5.2) -- at most one per ``invalid_ack_ratelimit``.

        Like Linux's ``tcp_oow_rate_limited``, only segments without data or
        FIN are limited (a pure ACK, or a SYN): an ACK loop between two TCBs
        that disagree, or a flood of spoofed segments, then draws a bounded
        number of replies, while a retransmission of data the peer thinks is
        lost still draws its duplicate ACK every time.
        """
        c = self._c
        interval = c.config.invalid_ack_ratelimit
        occupies = seg.seg_len and not seg.flags & Flags.SYN
        if interval > 0 and not occupies:
            last = self._oow_ack_at
            if last is not None and 0 <= c._now - last < interval:
                c._count("invalid-ack-rate-limited")
                return
            self._oow_ack_at = c._now
        self.ack_now = True

    def challenge_ack(self) -> None:
        """RFC 5961 §3.2/§4.2 challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>, at most
        ``challenge_ack_limit`` per second per connection (§7)."""
        c = self._c
        second = int(c._now)
        last = self._challenges
        count = last[1] if last is not None and last[0] == second else 0
        if count >= c.config.challenge_ack_limit:
            c._count("challenge-ack-rate-limited")
            return
        self._challenges = (second, count + 1)
        c._count("challenge_acks_sent")
        self.queue(self.make(seq=c._snd_max))

    # ------------------------------------------------------------------
    # Segment building
    # ------------------------------------------------------------------

    def queue(self, seg: Segment) -> None:
        """Send ``seg`` (a control segment) at the next output, before anything else."""
        if self._ctl is None:
            self._ctl = [seg]
        else:
            self._ctl.append(seg)

    def send_rst(self, seq: int) -> None:
        """Queue <SEQ=seq><CTL=RST> (no ACK)."""
        self._c._count("resets_sent")
        self.queue(self.make(seq=seq, flags=Flags.RST, ack_flag=False))

    # Segments without data, SYN or FIN carry SND.MAX, the next unsent octet:
    # after a timeout SND.NXT is rolled back to SND.UNA for retransmission,
    # and a pure ACK with that older number would be unacceptable to a peer
    # that already has those bytes (it would answer with an ACK: an ACK war).
    # This is what BSD does (tcp_output: "use snd_max instead of snd_nxt").

    def make(
        self,
        *,
        seq: int,
        flags: Flags = NO_FLAGS,
        ack_flag: bool = True,
        options: tuple[TcpOption, ...] = (),
        payload: bytes | memoryview = b"",
        urgent: int = 0,
        ecn: int = 0,
    ) -> Segment:
        """Build a segment from our side of the TCB, advertising the current window.

        Adds the timestamps option to every non-RST segment once negotiated
        (RFC 7323 §3.2) and SACK blocks to pure ACKs while data is held out
        of order (RFC 2018 §4). SYN windows are never scaled (RFC 7323 §2.2).
        ECE goes on every ACK but a SYN's while the ECN echo is on (RFC 3168
        §6.1.3); ``ecn`` is the IP ECN codepoint to send it with.
        """
        c = self._c
        # The control bits as a plain int: tested four times here, each an enum
        # operation otherwise.
        bits = int(flags) | (_ACK if ack_flag else 0)
        rcv = c._rcvbuf
        rcv_nxt = rcv.rcv_nxt if rcv is not None else 0
        neg = c._negotiated
        if bits & _RST:
            window = 0
        elif bits & _SYN:
            window = min(self._advertise(), MAX_UNSCALED_WINDOW)
        else:
            _, window, stamps = self._ack_fields()
            if stamps:
                options = (*options, *stamps) if options else stamps
            if neg.sack and bits & _ACK and not payload and rcv is not None \
                    and rcv.has_holes:
                blocks = rcv.sack_blocks(3 if neg.timestamps else 4)
                options = (*options, NOP, NOP, Sack(blocks))
        if bits & _ACK:
            self.last_ack_sent = rcv_nxt
            ecn_state = self.ecn
            if ecn_state is not None and ecn_state.echo and not bits & (_SYN | _RST):
                # RFC 3168 §6.1.3: ECE "in subsequent ACKs until it receives a CWR packet".
                bits |= _ECE
        return Segment(c._local.port, c._remote.port, seq, rcv_nxt if bits & _ACK else 0,
                       FLAGS_BY_VALUE[bits], window, urgent, options, payload, ecn)

    def _ack_fields(self) -> tuple[int, int, tuple[TcpOption, ...]]:
        """The ACK field (RCV.NXT), the window field and the timestamps option of
        a segment sent now that is neither a SYN nor a RST: the window scaled
        (RFC 7323 §2.3) and at most 65535; NOP, NOP, Timestamps once negotiated
        (RFC 7323 §3.2, Appendix A), else no option. The same for every segment
        of one output: :meth:`_advertise` moves the right edge at most once."""
        c = self._c
        rcv = c._rcvbuf
        neg = c._negotiated
        window = min(self._advertise() >> neg.rcv_wscale, MAX_UNSCALED_WINDOW)
        if neg.timestamps:
            ts = c._ts
            # (Our clock read as tsval() reads it, without its call: once per output
            # and per ACK sent.)
            stamps: tuple[TcpOption, ...] = (
                NOP, NOP, Timestamps(ts_clock(c._iss, c._now), ts.value if ts is not None else 0))
        else:
            stamps = ()
        return rcv.rcv_nxt if rcv is not None else 0, window, stamps

    def _ecn_marks(self, flags: Flags) -> tuple[int, Flags]:
        """The IP ECN codepoint and the flags of a new data segment on an ECN
        connection: ECT(0) (RFC 3168 §6.1.2: data packets are ECN-capable;
        retransmissions, pure ACKs and window probes are not, §6.1.4-§6.1.6),
        and CWR on the first one after a window reduction (§6.1.2)."""
        ecn = self.ecn
        assert ecn is not None
        if ecn.take_cwr():
            self._c._count("ecn_cwr_sent")
            flags |= Flags.CWR
        return ECT_0, flags

    def _advertise(self) -> int:
        """The window to offer now, bytes (SHLD-14, MUST-39; the whole buffer before
        the peer's SYN)."""
        c = self._c
        rcv = c._rcvbuf
        if rcv is None:
            return min(c.config.recv_buffer, MAX_UNSCALED_WINDOW)
        return rcv.advertise(c._config.recv_buffer, c._negotiated.rcv_wscale, c.sws_step())

    def tsval(self) -> int:
        """Our timestamp clock: milliseconds plus a per-connection offset (RFC 7323 §5.4)."""
        c = self._c
        return ts_clock(c._iss, c._now)
