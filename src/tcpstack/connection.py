"""One TCP connection: the TCB and RFC 9293 §3.10 event processing, sans-I/O.

A :class:`Connection` never touches the network or a clock. Its inputs are
parsed segments (:meth:`Connection.receive`), timer expiries
(:meth:`Connection.handle_timer`) and the user calls of RFC 9293 §3.10
(:meth:`send`, :meth:`read`, :meth:`shutdown`, :meth:`close`, :meth:`abort`).
Its outputs are pulled: :meth:`packets_to_send`, :meth:`next_timer`,
:meth:`next_event`. Time is a float in seconds supplied by the caller.

Theory of operation. The TCB variables (RFC 9293 §3.3.1) live in the base
class :class:`~tcpstack.tcb.Tcb`; this class runs the event processing of
§3.10: the user calls, SEGMENT ARRIVES (for SYN-RECEIVED and the synchronized
states as the RFC's eight steps, one method each, in order) and the timeouts.
Mechanism lives in objects that own their state, each with its RFC:

* :class:`~tcpstack.timers.Timers`: every deadline (RFC 9293 §3.8, §3.10.8);
* :class:`~tcpstack.rtt.RttEstimator`, :class:`~tcpstack.rtt.RttSampler`:
  the RTO and its samples (RFC 6298, RFC 7323 §4);
* :class:`~tcpstack.recovery.LossRecovery`: loss detection and recovery and the
  congestion controller (RFC 5681, 6582, 6675, 3042, 5827, 8985);
* :class:`~tcpstack.sender.Sender`: what leaves now and how segments are built;
* :class:`~tcpstack.buffers.SendBuffer`, :class:`~tcpstack.buffers.ReceiveBuffer`:
  the data, RCV.NXT and the advertised window;
* :class:`~tcpstack.paws.TsRecent`: TS.Recent and PAWS (RFC 7323);
* :class:`~tcpstack.keepalive.KeepAlive`: keep-alive probes (§3.8.4).

Every state change goes through :meth:`Connection._set_state` with its cause,
checked against :data:`tcpstack.state.RULES`; the entry actions of
ESTABLISHED, FIN-WAIT-2, TIME-WAIT, CLOSED (and a passive TCB's return to
LISTEN) live there and nowhere else.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import replace
from typing import Any, ClassVar

from . import events as ev
from .buffers import ReceiveBuffer
from .counters import CAUSE_COUNTERS, lifecycle_counter
from .ecn import EcnState
from .errors import LocalProtocolError
from .halfopen import HalfOpen
from .keepalive import KEEPALIVE_STATES, KeepAlive
from .negotiation import negotiate, send_mss
from .paws import TsRecent
from .recovery import Phase
from .seq import SEQ_HALF, SEQ_MASK, seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt
from .state import SYNCHRONIZED, Cause, S, State, check_transition
from .tcb import Endpoint, EventSink, Owner, Tcb
from .timers import Timer
from .trace import segment_record
from .wire import Flags, Segment, Timestamps
from .wire.ecn import CE

__all__ = ["Connection", "Endpoint", "EventSink", "ListenVerdict", "Owner", "listen_verdict",
           "segment_record"]

# S: the states as plain class attributes (state.S: cheaper to read than State's).
_PHASE_OPEN = Phase.OPEN  # (a global: see state.S)

TIMERS = tuple(t.value for t in Timer)
"""Timer names, as they appear in ``timer_set``/``timer_fired`` trace records."""

_CONTROL_BITS = int(Flags.SYN | Flags.RST | Flags.FIN | Flags.URG)
"""The bits that send a segment through the full §3.10.7.4 steps."""

_ACK = int(Flags.ACK)
# The control bits as plain ints: the steps of §3.10.7 test ``int(seg.flags) & _RST``
# rather than ``seg.flags & Flags.RST``, whose ``&`` is a Python-level method of
# Flags (about 50 calls per churn connection, 3 % of sim_churn's time).
_FIN = int(Flags.FIN)
_SYN = int(Flags.SYN)
_RST = int(Flags.RST)
_URG = int(Flags.URG)
_SYN_ACK = int(Flags.SYN | Flags.ACK)
_PREDICT_MASK = int(Flags.SYN | Flags.RST | Flags.FIN | Flags.URG | Flags.ACK | Flags.ECE
                    | Flags.CWR)
"""Header prediction: of these bits only ACK may be set (PSH may be too)."""

_ECE = int(Flags.ECE)
_ECE_NOT_SYN = int(Flags.ECE | Flags.SYN)
"""ECE on a segment without SYN is an echo of congestion (on a SYN it negotiates
ECN: RFC 3168 §6.1.1)."""

TEXT_STATES = frozenset({S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2})
"""States whose segment text goes to the application (§3.10.7.4 seventh step)."""

SEND_STATES = frozenset({S.SYN_SENT, S.SYN_RECEIVED, S.ESTABLISHED, S.CLOSE_WAIT})
"""States in which SEND queues data (§3.10.2)."""

RESET_ON_ABORT = frozenset({S.SYN_RECEIVED, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2,
                            S.CLOSE_WAIT})
"""States in which ABORT sends <SEQ=SND.NXT><CTL=RST> (§3.10.5)."""


class ListenVerdict(enum.Enum):
    """What LISTEN does with an arriving segment (RFC 9293 §3.10.7.2); the value
    is the drop reason where the segment is dropped."""

    IGNORE_RST = "rst-in-listen"
    RESET = "ack-in-listen"
    OPEN = "syn"
    DROP = "no-syn-in-listen"


def listen_verdict(seg: Segment) -> ListenVerdict:
    """RFC 9293 §3.10.7.2, SEGMENT ARRIVES in LISTEN: the rule, once.

    It serves a host's listener (:class:`~tcpstack.stack.Stack`, before any TCB
    exists) and a TCB in LISTEN alike; each acts on the verdict.
    """
    flags = int(seg.flags)
    # First: "check for a RST. An incoming RST should be ignored. Return."
    if flags & _RST:
        return ListenVerdict.IGNORE_RST
    # Second: "check for an ACK. Any acknowledgment is bad if it arrives on a
    # connection still in the LISTEN state. An acceptable reset segment should
    # be formed for any arriving ACK-bearing segment: <SEQ=SEG.ACK><CTL=RST>"
    if flags & _ACK:
        return ListenVerdict.RESET
    # Third: "check for a SYN": a connection opens (SYN-RECEIVED).
    if flags & _SYN:
        return ListenVerdict.OPEN
    # Fourth: "other data or control: ... drop the segment and return."
    return ListenVerdict.DROP


class Connection(Tcb):
    """One TCP connection: its TCB (:class:`~tcpstack.tcb.Tcb`) and the event
    processing of RFC 9293 §3.10.

    Connections are normally created by :class:`tcpstack.stack.Stack`
    (``connect()`` or a SYN to a listener); creating one directly is useful in
    unit tests. After construction call :meth:`open_active` (or
    :meth:`open_passive`) or feed the SYN of a passive open to :meth:`receive`.
    The arguments are those of :class:`~tcpstack.tcb.Tcb`.

    The state and the TCB variables are read-only properties; only the
    connection's own event processing changes them.
    """

    __slots__ = ()

    header_prediction: ClassVar[bool] = True
    """Take the fast path of :meth:`_header_predicted` for the common segments.

    A class attribute, not a slot (it costs a connection nothing): a subclass
    that sets it False sends every segment through the eight steps, which must
    give the same result (tests compare the two)."""

    # ------------------------------------------------------------------
    # User calls (RFC 9293 §3.10.1 - §3.10.6)
    # ------------------------------------------------------------------

    def open_active(self, now: float | None = None) -> None:
        """Active OPEN (§3.10.1): go to SYN-SENT; the SYN leaves on the next ``packets_to_send``.

        Raises:
            LocalProtocolError: the connection is not CLOSED.
        """
        self._touch(now)
        if self._state is not S.CLOSED:
            raise LocalProtocolError(f"connect: connection already {self._state}")
        if self._tracing():  # str(remote) only for a trace that keeps it
            self._app("connect", remote=str(self._remote))
        self._set_state(S.SYN_SENT, Cause.OPEN)
        self._owner.wake(self)

    def open_passive(self, now: float | None = None) -> None:
        """Passive OPEN (§3.10.1): go to LISTEN and wait for a SYN from :attr:`remote`.

        (A stack listens with :meth:`~tcpstack.stack.Stack.listen`, for any
        remote, and makes one TCB per SYN; this is the RFC's fully specified
        passive OPEN on a single TCB. ``Connection(..., passive=True)`` creates
        a TCB already in LISTEN.)

        Raises:
            LocalProtocolError: the connection is not CLOSED.
        """
        self._touch(now)
        if self._state is not S.CLOSED:
            raise LocalProtocolError(f"listen: connection already {self._state}")
        if self._tracing():  # str(remote) only for a trace that keeps it
            self._app("listen", remote=str(self._remote))
        self._passive = True
        self._set_state(S.LISTEN, Cause.OPEN_PASSIVE)

    def send(self, data: bytes, now: float | None = None, *, urgent: bool = False,
             push: bool = True) -> int:
        """SEND (§3.10.2): queue ``data``; return how many bytes were accepted.

        ``push``: the PUSH flag (§3.9.1.2, MAY-15): the segment that carries the
        last byte accepted gets PSH (and so does the last segment the windows let
        go while pushed data waits). Without it (Linux ``MSG_MORE``) the data
        goes out when segments fill or later data is pushed.

        Fewer than ``len(data)`` bytes are accepted when the send buffer is
        full; a :class:`~tcpstack.events.SendBufferAvailable` event follows
        when acknowledgements free room. With ``urgent``, the accepted bytes
        are urgent data: segments carry URG and an urgent pointer to the
        octet after them until they are acknowledged (§3.8.5, MUST-30/31/62).

        In LISTEN (a TCB whose remote is known) SEND opens the connection
        actively: SYN-SENT, with the data queued (§3.10.2).

        Raises:
            LocalProtocolError: the connection is closed or closing (§3.10.2).
        """
        self._touch(now)
        if self._state is S.CLOSED:
            raise LocalProtocolError("send: connection does not exist")
        if self._state is S.LISTEN:
            # §3.10.2, LISTEN: "If the remote socket is specified, then change
            # the connection from passive to active, select an ISS. Send a SYN
            # segment ... Enter SYN-SENT state. Data associated with SEND may be
            # sent with SYN segment or queued for transmission after entering
            # ESTABLISHED state." (Here it is queued.) The remote is always
            # specified on a TCB of this class.
            self._passive = False
            self._set_state(S.SYN_SENT, Cause.SEND)
        buf = self._sndbuf
        if buf.fin_queued or self._state not in SEND_STATES:
            raise LocalProtocolError("send: connection closing")
        n = buf.append(data, self._config.send_buffer)
        if n:
            if push:
                buf.mark_push()
            tracer = self._owner.trace
            if tracer is not None and tracer.active:  # (no call or dict untraced)
                self._app("send", bytes=n, **({"urgent": True} if urgent else {}))
            if urgent:
                buf.up_off = buf.end_off  # SND.UP: the first non-urgent octet (MUST-62)
            self._owner.wake(self)
        return n

    def read(self, max_bytes: int = -1) -> bytes:
        """RECEIVE (§3.10.3): take up to ``max_bytes`` (all if negative) buffered bytes.

        Returns b"" when nothing is buffered (check :attr:`at_eof`). Reading
        opens the receive window; an ACK announcing it goes out when the
        window grew by at least min(buffer/2, MSS) (receiver SWS avoidance,
        MUST-39).
        """
        rcv = self._rcvbuf
        if rcv is None:
            return b""
        # The buffer is read first: with nothing buffered it returns b"" at once,
        # and without a FIN there is nothing else to do, not even to read the
        # clock (an application that polls after every event pays one call here:
        # in sim_bulk, every other read). Reading the clock after the buffer
        # changes nothing: the buffer does not use it. (b"" from a non-empty
        # buffer only for max_bytes == 0, which reads the clock, as it did.)
        data = rcv.read(max_bytes)
        if not data and not rcv.fin_received and (max_bytes or not rcv.readable):
            return data
        self._touch(None)
        if data:
            # (The trace asked here and SYNCHRONIZED read directly: two calls fewer
            # per read, once per data segment of a bulk transfer.)
            tracer = self._owner.trace
            if tracer is not None and tracer.active:
                self._app("read", bytes=len(data))
            if self._state in SYNCHRONIZED and self._sender.window_update_due():
                self._owner.wake(self)
        elif rcv.at_eof and not rcv.eof_read:
            rcv.eof_read = True  # "recv() returns 0": traced once
            self._app("read", bytes=0, eof=True)
        return data

    def reconfigure(self, **changes: Any) -> None:
        """Change this connection's configuration (any :class:`TcpConfig` field).

        The per-connection switches RFC 9293 asks for: ``nagle`` (MUST-17),
        ``r2`` including None for "never give up" (MUST-21), ``keepalive``
        and its times (MUST-24, MUST-27). Takes effect from now on.

        Raises:
            ValueError: unknown field or invalid value.
        """
        self._config = replace(self._config, **changes)
        if "keepalive" in changes or "keepalive_idle" in changes:
            self._keepalive_restart()
        self._owner.wake(self)  # e.g. Nagle switched off: held data may go now

    def set_congestion_control(self, name: str) -> None:
        """Change the congestion control algorithm (see :mod:`tcpstack.congestion`), as
        Linux's TCP_CONGESTION socket option: allowed in any state; the new
        algorithm starts from the current cwnd and ssthresh (bytes) and sees the
        events from the next one on. ``TcpConfig.congestion_control`` follows.

        Raises:
            ValueError: unknown name; the message lists the known ones.
        """
        self._recovery.set_algorithm(name)
        self._config = replace(self._config, congestion_control=name)
        self._app("set_congestion_control", name=name)
        self._metrics_if_changed()
        self._owner.wake(self)  # a pacing rate may have gone: held data may leave

    def set_keepalive(
        self,
        enabled: bool,
        *,
        idle: float | None = None,
        interval: float | None = None,
        count: int | None = None,
    ) -> None:
        """Switch keep-alive on or off for this connection (MUST-24), in seconds.

        Raises:
            ValueError: a time is not positive or count < 1.
        """
        changes: dict[str, Any] = {"keepalive": enabled}
        if idle is not None:
            changes["keepalive_idle"] = idle
        if interval is not None:
            changes["keepalive_interval"] = interval
        if count is not None:
            changes["keepalive_count"] = count
        self.reconfigure(**changes)

    def set_nodelay(self, nodelay: bool = True) -> None:
        """Switch Nagle's algorithm off (True) or on (False) (MUST-17, TCP_NODELAY)."""
        self.reconfigure(nagle=not nodelay)

    def shutdown(self, now: float | None = None) -> None:
        """CLOSE (§3.10.4): no more data to send; FIN follows the queued data.

        The connection can still receive (half-close). Closing twice is a
        no-op. In SYN-SENT the TCB is deleted and nothing is sent. In
        CLOSE-WAIT the state stays CLOSE-WAIT until the FIN leaves, then
        becomes LAST-ACK, as §3.10.4 says (Linux enters LAST-ACK at once).
        """
        self._touch(now)
        buf = self._sndbuf
        if buf.fin_queued or self._state in (S.CLOSED, S.TIME_WAIT, S.CLOSING, S.LAST_ACK):
            return
        self._app("shutdown")
        match self._state:
            case S.SYN_SENT | S.LISTEN:
                # SYN-SENT: "Delete the TCB and return 'error: closing' responses
                # to any queued SENDs, or RECEIVEs." LISTEN: likewise (§3.10.4).
                self._close(Cause.CLOSE, ev.ConnectionClosed())
                return
            case S.SYN_RECEIVED | S.ESTABLISHED:
                # "Queue this until all preceding SENDs have been segmentized,
                # then form a FIN segment and send it. In any case, enter
                # FIN-WAIT-1 state."
                buf.fin_queued = True
                self._set_state(S.FIN_WAIT_1, Cause.CLOSE)
            case S.CLOSE_WAIT:
                # "Queue this request until all preceding SENDs have been
                # segmentized; then send a FIN segment, enter LAST-ACK state."
                # The sender makes that change when the FIN leaves.
                buf.fin_queued = True
        self._owner.wake(self)

    def close(self, now: float | None = None) -> None:
        """Full close: like :meth:`shutdown`, and the application will read no more.

        If received data is still unread, the connection is reset instead
        (RFC 9293 §3.6.1, SHLD-3), as Linux does. An orphaned connection in
        FIN-WAIT-2 gives up after ``config.fin_wait_2_timeout``; one still
        sending gives up after ``config.orphan_retries`` retransmission
        timeouts or zero-window probes (Linux tcp_orphan_retries).
        """
        self._touch(now)
        if self._orphaned:
            return
        self._app("close")
        self._orphaned = True
        rcv = self._rcvbuf
        if rcv is not None and rcv.readable and self._state in (S.ESTABLISHED, S.CLOSE_WAIT):
            # SHLD-3: closing with unread data resets the connection.
            rcv.discard()
            self._abort(Cause.CLOSE_UNREAD)
            return
        self.shutdown()
        if self._state is S.FIN_WAIT_2:
            self._arm_fin_wait_2()

    def abort(self, now: float | None = None) -> None:
        """ABORT (§3.10.5): send RST where the peer holds a TCB, go to CLOSED."""
        self._touch(now)
        if self._state is S.CLOSED:
            return
        self._app("abort")
        self._abort(Cause.ABORT)

    def _abort(self, cause: Cause) -> None:
        if self._state in RESET_ON_ABORT:
            # §3.10.5: "send a reset segment: <SEQ=SND.NXT><CTL=RST>" (SND.MAX,
            # the highest SND.NXT, while a retransmission is under way)
            self._sender.send_rst(self._snd_max)
        self._close(cause, ev.ConnectionAborted())
        self._owner.wake(self)

    def accept_reopen(self, seg: Segment, now: float) -> bool:
        """TIME-WAIT: may a new SYN reopen this connection (MAY-2, §3.6.1; RFC 6191)?

        A SYN (no ACK, no RST) may, as RFC 6191 §2 says, when

        * the old incarnation used timestamps and the SYN carries one (timestamps
          would be on for the new incarnation): its TSval is newer than TS.Recent,
          or equal to it with SEG.SEQ > RCV.NXT; an older TSval is refused
          whatever the sequence number;
        * the SYN carries no timestamps (or ours are off): SEG.SEQ > RCV.NXT, the
          old connection's receive sequence space is behind it (RFC 1122
          §4.2.2.13);
        * the old incarnation did not use timestamps and the new one will: the
          new incarnation's PAWS drops the old one's segments (RFC 7323 §3.2),
          so it is accepted.

        If so, this TCB gives way: it enters CLOSED (cause "new SYN reopens"),
        counts ``time_wait_reused`` and returns True; the host then opens the new
        incarnation. Otherwise it counts ``time_wait_reuse_refused`` and returns
        False, and nothing changes: the caller hands the SYN to :meth:`receive`,
        which treats it as TIME-WAIT does (an ACK, rate-limited, §3.10.7.4).
        Any other segment returns False uncounted.
        """
        if (
            self._state is not S.TIME_WAIT
            or seg.flags & (Flags.SYN | Flags.ACK | Flags.RST) != Flags.SYN
        ):
            return False
        self._touch(now)
        if not self._reuse_allowed(seg):
            self._count("time_wait_reuse_refused")
            return False
        self._count("time_wait_reused")
        self._drop_trace(seg, "time-wait-reopened")
        self._close(Cause.REOPEN, ev.ConnectionClosed())
        return True

    def _reuse_allowed(self, seg: Segment) -> bool:
        """RFC 6191 §2 for a SYN arriving in TIME-WAIT (see :meth:`accept_reopen`)."""
        higher_seq = seq_gt(seg.seq, self.rcv_nxt)
        ts = seg.timestamps if self._config.timestamps else None
        if ts is None:
            return higher_seq
        recent = self._ts if self._negotiated.timestamps else None
        if recent is None:
            return True
        order = recent.order(ts.tsval, self._now)
        if order is None:  # TS.Recent no longer valid: the sequence number decides
            return higher_seq
        return order > 0 or (order == 0 and higher_seq)

    def give_up(self, cause: Cause, now: float) -> None:
        """The host ends this TCB without a word to the peer (no RST): CLOSED with
        ``cause``. For the host's limits: a half-open passive TCB recycled for
        a new SYN (RFC 4987 §3.4), a TIME-WAIT TCB over the TIME-WAIT limit.

        Raises:
            ValueError: the transition is not in :data:`tcpstack.state.RULES`.
        """
        self._touch(now)
        self._close(cause, ev.ConnectionTimedOut("syn") if self._state is S.SYN_RECEIVED
                    else ev.ConnectionClosed())

    def open_from_cookie(self, syn: Segment, seg: Segment, now: float) -> None:
        """A passive TCB (in LISTEN) made from a valid SYN cookie (RFC 4987 §3.6).

        ``syn`` is the peer's SYN as the cookie recalls it (MSS from the table;
        window scale, SACK-permitted and timestamps from TSecr), ``seg`` the final
        ACK that returned the cookie (our ISS is the cookie). The SYN is taken
        as §3.10.7.2 takes it and our SYN,ACK counts as sent; the TCB goes to
        ESTABLISHED (cause "rcv ACK with a valid SYN cookie") and ``seg`` is
        processed there (§3.10.7.4: the ACK of our SYN, then its text or FIN).
        Never raises for a hostile ``seg``. Then call :meth:`packets_to_send`.
        """
        self._touch(now)
        self._trace_segment("segment_received", seg)
        self._take_syn(syn)
        self._update_window(syn, force=True)
        self._snd_nxt = self._snd_max = seq_add(self._iss, 1)  # the cookie SYN,ACK
        self._set_state(S.ESTABLISHED, Cause.SYN_COOKIE)
        self._segment_arrives(seg)
        self._metrics_if_changed()
        self._owner.wake(self)

    # --- Half-open records (tcpstack.halfopen; RFC 4987 §3.5 "SYN cache") ---

    @classmethod
    def from_half_open(cls, record: HalfOpen, local: Endpoint, remote: Endpoint,
                       owner: Owner, quiet: Owner) -> Connection:
        """The TCB a :class:`~tcpstack.halfopen.HalfOpen` record stands for.

        Replays the record's inputs into a new passive TCB (``local``,
        ``remote``) owned by ``quiet``, which traces, counts and reports nothing:
        the SYN at its arrival time (§3.10.7.2), the SYN,ACK's output, and for
        each retransmission the timeout (RFC 6298 §5.4-5.6) and the output
        again. The result is, field for field, the TCB the host would hold had
        it never let it go; it is then handed to ``owner`` with the record's own
        counters. The caller puts it in its tables and timer heap. Never raises
        for a hostile SYN (it was processed once already).
        """
        times = record.times
        conn = cls(local, remote, iss=record.iss, config=record.config, now=times[0],
                   passive=True, owner=quiet, serial=record.serial)
        conn.receive(record.syn, times[0])
        conn.packets_to_send(times[1])
        for i in range(2, len(times) - 1, 2):
            conn.handle_timer(times[i])
            conn.packets_to_send(times[i + 1])
        conn._owner = owner
        conn._counts = record.counts
        return conn

    def to_half_open(self, key: int, syn: Segment, times: tuple[float, ...]) -> HalfOpen:
        """This passive TCB in SYN-RECEIVED as a :class:`~tcpstack.halfopen.HalfOpen`
        record (``key``: :func:`~tcpstack.halfopen.peer_key` of the remote):
        ``syn`` is the SYN it took and ``times`` (seconds) the inputs it had since
        (see the record). The caller drops this TCB and keeps the record.

        Raises:
            ValueError: the TCB is not a passive one in SYN-RECEIVED.
        """
        if not self._passive or self._state is not S.SYN_RECEIVED:
            raise ValueError(f"to_half_open: {self.name} is {self._state}, "
                             f"not a passive SYN-RECEIVED TCB")
        return HalfOpen(key, self._serial, self._config, HalfOpen.pack(self._iss, times, syn),
                        self.next_timer(), self._counts)

    # ------------------------------------------------------------------
    # SEGMENT ARRIVES (RFC 9293 §3.10.7)
    # ------------------------------------------------------------------

    def receive(self, seg: Segment, now: float) -> None:
        """Process one arriving segment (§3.10.7.2 - §3.10.7.4). Never raises.

        Args:
            seg: the parsed segment (its checksum already verified).
            now: arrival time, seconds.

        Then call :meth:`packets_to_send` (or the stack's).
        """
        self._now = now  # (_touch, inlined: a time is given)
        tracer = self._owner.trace
        if tracer is not None and tracer.active:
            # Asked here, not in _trace_segment: an untraced run skips building
            # the connection's name (two address strings) for every segment,
            # 7 per churn connection (sim_churn: about 2 % of its time).
            self._trace_segment("segment_received", seg)
        match self._state:
            case S.CLOSED:
                self._drop(seg, "connection-closed")
            case S.LISTEN:
                self._receive_listen(seg)
            case S.SYN_SENT:
                self._receive_syn_sent(seg)
            case _:
                self._segment_arrives(seg)
        tracer = self._owner.trace
        if tracer is not None and tracer.active:  # (no call per segment untraced)
            self._metrics_if_changed()
        self._owner.wake(self)

    def _receive_listen(self, seg: Segment) -> None:
        """§3.10.7.2, LISTEN, for this TCB (:func:`listen_verdict` holds the rule)."""
        match listen_verdict(seg):
            case ListenVerdict.IGNORE_RST | ListenVerdict.DROP as verdict:
                self._drop(seg, verdict.value)
            case ListenVerdict.RESET:
                self._sender.send_rst(seg.ack)  # <SEQ=SEG.ACK><CTL=RST>
                self._drop(seg, "ack-in-listen")
            case ListenVerdict.OPEN:
                # "Set RCV.NXT to SEG.SEQ+1, IRS is set to SEG.SEQ ... <SEQ=ISS>
                # <ACK=RCV.NXT><CTL=SYN,ACK> should be sent"; "any other control
                # or text should be queued for processing later": the SYN,ACK
                # acknowledges the SYN only; text (or a FIN) on the SYN is kept
                # with it and processed once ESTABLISHED (_take_syn_text).
                self._take_syn(seg)
                self._update_window(seg, force=True)
                self._set_state(S.SYN_RECEIVED, Cause.RCV_SYN)

    def _receive_syn_sent(self, seg: Segment) -> None:
        """§3.10.7.3, SYN-SENT."""
        flags = int(seg.flags)
        # First: check the ACK bit.
        if flags & _ACK and (
            seq_le(seg.ack, self._iss) or seq_gt(seg.ack, self._snd_max)
        ):
            # "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless
            # the RST bit is set, if so drop the segment and return)
            # <SEQ=SEG.ACK><CTL=RST>"
            if not flags & _RST:
                self._sender.send_rst(seg.ack)
            self._drop(seg, "bad-ack-in-syn-sent")
            return
        # Second: check the RST bit. Acceptable only with an acceptable ACK
        # (RFC 5961 §3.2 keeps this rule for SYN-SENT).
        if flags & _RST:
            if flags & _ACK:
                # "the user should be signalled 'error: connection reset'",
                # reported as refused (§3.10.7.3).
                self._close(Cause.RCV_RST, ev.ConnectionReset(refused=True))
            else:
                self._drop(seg, "rst-without-ack-in-syn-sent")
            return
        # Third: security (see _segment_arrives). Fourth: check the SYN bit.
        if not flags & _SYN:
            # Fifth: "If neither of the SYN or RST bits is set, then drop".
            self._drop(seg, "no-syn-in-syn-sent")
            return
        self._take_syn(seg)
        if flags & _ACK:
            # "SND.UNA should be advanced to equal SEG.ACK ... If SND.UNA >
            # ISS (our SYN has been ACKed), change the connection state to
            # ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"
            self._ack_advanced(seg.ack, seg)
            self._update_window(seg, force=True)
            self._metrics()
            self._set_state(S.ESTABLISHED, Cause.RCV_SYN_ACK)
            self._sender.ack_now = True
            # "If there are other controls or text in the segment, then
            # continue processing at the sixth step ... where the URG bit is checked"
            self._text_steps(seg)
        else:
            # Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment
            # <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it." The SYN is
            # retransmitted as a SYN,ACK from now on.
            # "If there are other controls or text in the segment, queue them for
            # processing after the ESTABLISHED state has been reached" (_take_syn_text).
            self._update_window(seg, force=True)
            self._snd_nxt = self._snd_una  # resend our SYN, now with ACK
            self._set_state(S.SYN_RECEIVED, Cause.RCV_SYN)

    def _segment_arrives(self, seg: Segment) -> None:
        """§3.10.7.4: SYN-RECEIVED and the synchronized states, the eight steps in order."""
        rcv = self._rcvbuf
        if (
            self._state is S.ESTABLISHED
            and not int(seg.flags) & _CONTROL_BITS
            and rcv is not None
            and rcv.fin_off is None
        ):
            # Header prediction first (BSD tcp_input, Linux tcp_rcv_established):
            # the in-order data segment and the pure ACK that advances SND.UNA,
            # each in one short routine (_header_predicted).
            if self.header_prediction and self._header_predicted(seg, rcv):
                return
            # The common case: ESTABLISHED, no SYN, RST, FIN or URG, no FIN
            # held beyond a hole. The second, fourth, sixth and eighth steps
            # act only on those bits or on a held FIN: the other four steps,
            # in order, are the whole of the rule here.
            if self._first_check_sequence(seg) and self._fifth_check_ack(seg):
                self._seventh_process_text(seg)
            return
        if not self._first_check_sequence(seg):
            return
        if not self._second_check_rst(seg):
            return
        self._third_check_security(seg)
        if not self._fourth_check_syn(seg):
            return
        if not self._fifth_check_ack(seg):
            return
        self._text_steps(seg)

    # --- Header prediction (RFC 9293 §3.10.7.4's common case, as BSD and Linux have it) ---

    def _header_predicted(self, seg: Segment, rcv: ReceiveBuffer) -> bool:
        """Header prediction: if ``seg`` (ESTABLISHED, no SYN, RST, FIN or URG, no
        FIN held: checked by the caller) is one of the two segments a bulk
        transfer is made of, process it in one short routine and return True;
        otherwise return False having changed nothing, and the eight steps of
        §3.10.7.4 follow (BSD tcp_input's "header prediction", Linux
        tcp_rcv_established's fast path; Van Jacobson's 1990 idea).

        The prediction: only ACK (and maybe PSH) among the control bits (no
        ECN-Echo, no CWR); SEG.SEQ = RCV.NXT (the segment is in order: the
        acceptability test of the first step passes); the window unchanged
        (SEG.WND scaled = SND.WND); no SACK blocks; if timestamps are in use,
        a timestamps option that PAWS accepts (RFC 7323 §5.3 R1). Then either

        * a pure ACK (no data) with SND.UNA < SEG.ACK =< SND.MAX, outside loss
          recovery (:meth:`_predicted_ack`), or
        * in-order data with SEG.ACK = SND.UNA, no hole in the receive
          queue, no FIN received, room for all of it in RCV.WND, and an
          application that still reads (:meth:`_predicted_data`).

        Each routine does exactly what the steps do for such a segment, in
        the same order, with the same trace records, events and timers (a
        property test compares the two paths, tests/unit/test_fastpath_*.py);
        what it saves is the steps' tests for everything else. Measured with
        ``tcpstack bench --profile`` (``sim_bulk``, 2 MiB, 96 % of segments
        predicted): :meth:`receive` went from 33 % of the run to 24 % (its own
        time down 37 %), ``calls_per_packet`` from 393 to 331 with the other
        changes of docs/performance.md "Header prediction".
        """
        flags = int(seg.flags)
        if (
            flags & _PREDICT_MASK != _ACK
            or seg.seq != rcv.rcv_nxt
            or seg.window << self._negotiated.snd_wscale != self._snd_wnd
            or seg.sack_blocks
        ):
            return False
        ts = None
        if self._negotiated.timestamps:
            # RFC 7323 §3.2: a segment without TSopt is dropped (the first
            # step); §5.3 R1 (PAWS): one with a TSval older than TS.Recent is
            # an old duplicate. Both are left to the first step.
            ts = seg.timestamps
            if ts is None:
                return False
            recent = self._ts
            if recent is not None and recent.rejects(ts.tsval, self._now):
                return False
        ack = seg.ack
        payload = seg.payload
        if payload:
            if (
                ack != self._snd_una
                or rcv.has_holes
                or rcv.fin_received
                or len(payload) > rcv.rcv_wnd
                or self._orphaned
            ):
                return False
            self._predicted_data(seg, payload, ts, rcv)
        else:
            if (
                not (seq_lt(self._snd_una, ack) and seq_le(ack, self._snd_max))
                or self._recovery.phase is not _PHASE_OPEN
            ):
                return False
            self._predicted_ack(seg, ack, ts)
        return True

    def _predicted_accept(self, seg: Segment, ts: Timestamps | None) -> None:
        """What the first and fifth steps do for a predicted segment before its ACK:
        the peer is alive (keep-alive restarts, §3.8.4); the segment is
        accepted, so its TSval may become TS.Recent (RFC 7323 §4.3 (2))."""
        # (Only a KeepAlive arms its timer, and none exists while keep-alive is
        # off: asked first, it spares the call per segment then.)
        if self._keepalive is not None and self._timers.armed(Timer.KEEPALIVE):
            self._keepalive_restart()
        recent = self._ts
        if ts is not None and recent is not None:
            recent.update(ts.tsval, seg.seq, self._sender.last_ack_sent, self._now)

    def _predicted_ack(self, seg: Segment, ack: int, ts: Timestamps | None) -> None:
        """Header prediction's pure ACK for new data (BSD tcp_input's "pure ACK for
        outstanding data"): the fifth step of §3.10.7.4 alone, without its tests
        for the cases the prediction excluded (duplicate ACK, ECN-Echo, SACK
        blocks, recovery, a window change).

        Saves, per pure ACK, the first step's acceptability test, the fifth
        step's ACK range checks and _process_ack's duplicate-ACK, SACK and
        ECN branches (see :meth:`_header_predicted` for the figures); then the
        steps' own calls for what the prediction fixes: the scoreboard asked for
        directly, the flight and HighData from the offsets at hand, and cwnd
        grown through :meth:`LossRecovery.on_predicted_ack` (8 calls fewer per
        pure ACK, docs/performance.md "The pure ACK and the output it triggers").
        """
        self._predicted_accept(seg, ts)
        rec = self._recovery
        buf = self._sndbuf
        if rec.scoreboard is not None:  # (uses_sack: none is made without SACK)
            rec.on_cumulative_ack(buf.off(ack))  # RFC 6675 Update(): no blocks
        # "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK": the
        # acknowledged data is released, the RTT sampled (RFC 6298 §3, RFC 7323
        # §4.1), the retransmission timer restarted (RFC 6298 §5.3).
        acked, rtt = self._ack_advanced(ack, seg)
        # cwnd grows by the algorithm's rule (RFC 5681 §3.1: slow start or
        # congestion avoidance; not in recovery, which the prediction excluded).
        una_off = buf.off(ack)
        flight = seq_diff(self._snd_max, self._snd_una)  # (in_flight)
        # HighData (Sender.high_data_off): SND.MAX's offset, at most the data's end.
        rec.on_predicted_ack(acked, una_off, flight, self._now,
                             min(una_off + flight, buf.end_off), rtt, self._rtt.srtt)
        self._predicted_window(seg)

    def _predicted_data(self, seg: Segment, payload: bytes | memoryview, ts: Timestamps | None,
                        rcv: ReceiveBuffer) -> None:
        """Header prediction's in-order data segment that acknowledges nothing new
        (BSD tcp_input's "pure, in-sequence data packet"): the fifth step's
        window bookkeeping, then the seventh step: the text goes to the receive
        buffer, the ACK is scheduled (delayed ACK, §3.8.6.3).

        Saves, per data segment, the first step's acceptability test, the
        fifth step's ACK checks, _process_ack's branches and the seventh step's
        trimming and out-of-order handling.
        """
        self._predicted_accept(seg, ts)
        rec = self._recovery
        if rec.scoreboard is not None:  # (uses_sack: none is made without SACK)
            rec.on_cumulative_ack(self._sndbuf.off(seg.ack))  # RFC 6675 Update(): no blocks
        self._predicted_window(seg)
        sender = self._sender
        if sender.ecn is not None:
            self._ecn_data_received(seg)
        # Seventh step: "move the segment text into user RECEIVE buffers".
        self._delivered(rcv.deliver(payload))
        sender.schedule_ack(len(payload))

    def _predicted_window(self, seg: Segment) -> None:
        """The end of the fifth step for a predicted segment: an ACK at or above
        SND.UNA answers our zero-window probes (MUST-26); "If SND.UNA =< SEG.ACK
        =< SND.NXT, the send window should be updated" (SND.WL1, SND.WL2: the
        window itself is unchanged, so :meth:`_update_window`'s work on it is
        skipped); the TCB is traced."""
        sender = self._sender
        if sender.probes_out:
            sender.probe_answered()
        seq, ack = seg.seq, seg.ack
        if self._window_news(seq, ack):
            # SND.WND <- SEG.WND (the same), SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK.
            self._snd_wl1 = seq
            self._snd_wl2 = ack
        tracer = self._owner.trace
        if tracer is not None and tracer.active:  # (no call per segment untraced)
            self._metrics()

    def _text_steps(self, seg: Segment) -> None:
        """§3.10.7.4 sixth to eighth steps, and the end of the fifth step's FIN-WAIT-1 rule."""
        self._sixth_check_urg(seg)
        if not self._seventh_process_text(seg):
            return
        self._eighth_check_fin(seg)
        self._fin_wait_1_acked()

    def _fin_wait_1_acked(self) -> None:
        """Fifth step, FIN-WAIT-1: "if the FIN segment is now acknowledged, then
        enter FIN-WAIT-2".

        Applied once the segment is processed, after the eighth step, whose
        FIN-WAIT-1 rule takes a FIN in this same segment straight to TIME-WAIT
        ("If our FIN has been ACKed (perhaps in this segment)"); text is
        processed alike in both states.
        """
        if self._state is S.FIN_WAIT_1 and self._sender.fin_acked():
            self._set_state(S.FIN_WAIT_2, Cause.RCV_ACK_OF_FIN)

    def _first_check_sequence(self, seg: Segment) -> bool:
        """First: check the sequence number (PAWS, RFC 7323 §5; acceptability test)."""
        state = self._state
        flags = int(seg.flags)
        if state is S.SYN_RECEIVED and seg.seq == self._irs and not flags & _RST:
            if flags & _SYN_ACK == _SYN:
                # The peer retransmitted its SYN: our SYN,ACK was lost. Answer
                # with the SYN,ACK again (as Linux does) rather than the bare ACK
                # the acceptability test would give, so the handshake recovers
                # at the peer's pace.
                self._snd_nxt = self._snd_una
                self._drop(seg, "retransmitted-syn")
                return False
            if (
                flags & _SYN
                and not self._passive
                and seq_lt(self._snd_una, seg.ack)
                and seq_le(seg.ack, self._snd_max)
            ):
                # Simultaneous open, RFC 9293 §3.5 Figure 8 line 6: the peer's
                # SYN,ACK acknowledges our SYN. Its SYN was already counted
                # (SEG.SEQ = IRS fails the acceptability test), so go on with
                # the fifth step, as Linux does ("simultaneous open SYN-ACK").
                self._enter_established(seg, Cause.RCV_SYN_ACK)
                if self._fifth_check_ack(seg, update_ts=False):
                    self._text_steps(seg)
                return False
        if self._negotiated.timestamps and not flags & _RST:
            ts = seg.timestamps
            if ts is None:
                # RFC 7323 §3.2: once negotiated, "a non-<RST> segment received
                # without a TSopt SHOULD be silently dropped".
                self._drop(seg, "missing-timestamps")
                return False
            recent = self._ts
            if recent is not None and recent.rejects(ts.tsval, self._now) and not (
                # A pure duplicate ACK overtaken by a newer segment (reordering)
                # keeps its SACK blocks and duplicate-ACK count (Linux
                # tcp_disordered_ack): at RCV.NXT, acking SND.UNA, same window.
                recent.disordered_ack(seg, ts.tsval, rto=self.rto)
                and seg.seq == self.rcv_nxt
                and seg.ack == self._snd_una
                and self._peer_window(seg) == self._snd_wnd
            ):
                # PAWS (RFC 7323 §5.3 R1): an old duplicate from an earlier
                # wrap of the sequence space. Not acceptable: ACK and drop.
                self._sender.answer_invalid(seg)
                self._drop(seg, "paws")
                return False
        if self._acceptable(seg.seq, seg.seg_len):
            # The peer is alive: the keep-alive idle time starts again (§3.8.4).
            if self._timers.armed(Timer.KEEPALIVE):
                self._keepalive_restart()
            return True
        if state is S.TIME_WAIT and flags & _FIN and not flags & _RST and (
            seq_add(seg.seq, seg.seg_len) == self.rcv_nxt
        ):
            # The one segment TIME-WAIT expects (fifth step): a retransmission
            # of the peer's FIN, whose ACK was lost.
            self._time_wait_fin()
            self._drop(seg, "retransmitted-fin")
            return False
        # "If an incoming segment is not acceptable, an acknowledgment should
        # be sent in reply (unless the RST bit is set, if so drop the segment
        # and return)" -- rate-limited (Sender.answer_invalid).
        if not flags & _RST:
            self._sender.answer_invalid(seg)
            if (
                self.rcv_wnd == 0
                and flags & _ACK
                and state.synchronized
                and self._fifth_check_ack(seg, update_ts=False)
            ):
                # "If the RCV.WND is zero, no segments will be acceptable,
                # but special allowance should be made to accept valid
                # ACKs" (§3.10.7.4): the peer's window probes carry the
                # acknowledgment of our data; don't throw it away.
                self._fin_wait_1_acked()
        self._drop(seg, "rst-out-of-window" if flags & _RST else "out-of-window")
        return False

    def _second_check_rst(self, seg: Segment) -> bool:
        """Second: check the RST bit (RFC 5961 §3.2 refinement)."""
        if not int(seg.flags) & _RST:
            return True
        if seg.seq != self.rcv_nxt:
            # In the window but not exact: challenge ACK (RFC 5961 §3.2).
            self._sender.challenge_ack()
            self._drop(seg, "rst-challenged")
            return False
        match self._state:
            case S.SYN_RECEIVED if self._passive:
                # "If this connection was initiated with a passive OPEN ...,
                # then return this connection to LISTEN state" (MUST-11).
                self._set_state(S.LISTEN, Cause.RCV_RST)
                self._emit(ev.ConnectionReset(refused=False))
            case S.SYN_RECEIVED:
                # "If this connection was initiated with an active OPEN ...
                # the connection was refused"
                self._close(Cause.RCV_RST, ev.ConnectionReset(refused=True))
            case S.TIME_WAIT if self._config.rfc1337:
                # RFC 1337 "TIME-WAIT assassination" fix F1: ignore RST in
                # TIME-WAIT (Linux tcp_rfc1337=1).
                self._count("rfc1337_rst_ignored")
                self._drop_trace(seg, "rst-in-time-wait-rfc1337")
            case S.TIME_WAIT:
                # TIME-WAIT: "enter the CLOSED state, delete the TCB, and return".
                # Both directions were closed and acknowledged: no user signal,
                # the connection simply ends (RFC 1337 explains the hazard).
                self._close(Cause.RCV_RST, ev.ConnectionClosed())
            case _:
                # ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT: "any outstanding RECEIVEs
                # and SEND should receive 'reset' responses ... enter the CLOSED
                # state". CLOSING, LAST-ACK: "enter the CLOSED state"; our FIN
                # was not acknowledged, so the application is told it was a
                # reset (MUST-12).
                self._close(Cause.RCV_RST, ev.ConnectionReset(refused=False))
        return False

    def _third_check_security(self, seg: Segment) -> None:
        """Third: check security. "If the security/compartment in the segment does
        not exactly match the security/compartment in the TCB, then send a reset."

        This TCP neither sends nor honours IP security options (RFC 1108, made
        historic): every TCB and every segment carry the same (none), so every
        segment matches and there is nothing to do.
        """

    def _fourth_check_syn(self, seg: Segment) -> bool:
        """Fourth: check the SYN bit."""
        if not int(seg.flags) & _SYN:
            return True
        if self._state is S.SYN_RECEIVED and self._passive:
            # "If the connection was initiated with a passive OPEN, then
            # return this connection to the LISTEN state and return."
            self._set_state(S.LISTEN, Cause.RCV_SYN)
            self._drop(seg, "syn-in-syn-received")
            return False
        # Synchronized states: challenge ACK (RFC 5961 §4.2).
        self._sender.challenge_ack()
        self._drop(seg, "syn-challenged")
        return False

    def _fifth_check_ack(self, seg: Segment, *, update_ts: bool = True) -> bool:
        """Fifth: check the ACK field. False if the segment ends here."""
        if not int(seg.flags) & _ACK:
            # "if the ACK bit is off, drop the segment and return"
            self._drop(seg, "no-ack")
            return False
        ack = seg.ack
        syn_received = self._state is S.SYN_RECEIVED
        if syn_received:
            if not (seq_lt(self._snd_una, ack) and seq_le(ack, self._snd_max)):
                # "If the segment acknowledgment is not acceptable, form a
                # reset segment <SEQ=SEG.ACK><CTL=RST>"
                self._sender.send_rst(ack)
                self._drop(seg, "bad-ack-in-syn-received")
                return False
        # RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT];
        # others are discarded with an ACK sent back (rate-limited).
        elif seq_gt(ack, self._snd_max):
            # "If the ACK acks something not yet sent (SEG.ACK > SND.NXT),
            # then send an ACK, drop the segment, and return."
            self._sender.answer_invalid(seg)
            self._drop(seg, "ack-above-snd-nxt")
            return False
        elif seq_lt(ack, seq_add(self._snd_una, -max(self._max_snd_wnd, 1))):
            self._sender.answer_invalid(seg)
            self._drop(seg, "ack-too-old")
            return False
        # The segment is accepted: only now may its timestamp become TS.Recent.
        if update_ts:
            self._update_ts_recent(seg)
        if syn_received:
            # "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state
            # and continue processing with the variables SND.WND <- SEG.WND,
            # SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK"
            self._enter_established(seg, Cause.RCV_ACK_OF_SYN)
        self._process_ack(seg)
        match self._state:
            case S.CLOSING:
                # "if the ACK acknowledges our FIN, then enter the TIME-WAIT
                # state; otherwise, ignore the segment."
                if self._sender.fin_acked():
                    self._set_state(S.TIME_WAIT, Cause.RCV_ACK_OF_FIN)
                    return True
                self._drop(seg, "closing-no-fin-ack")
                return False
            case S.LAST_ACK:
                # "The only thing that can arrive in this state is an
                # acknowledgment of our FIN. If our FIN is now acknowledged,
                # delete the TCB, enter the CLOSED state, and return."
                if self._sender.fin_acked():
                    self._close(Cause.RCV_ACK_OF_FIN, ev.ConnectionClosed())
                return False
        # FIN-WAIT-1: see _text_steps. FIN-WAIT-2: "if the retransmission queue
        # is empty, the user's CLOSE can be acknowledged". TIME-WAIT: the
        # retransmitted FIN is handled with the first step; the rest goes on.
        return True

    def _process_ack(self, seg: Segment) -> None:
        """The fifth step for an acceptable ACK: SND.UNA, loss recovery, the send window."""
        ack = seg.ack
        rec = self._recovery
        prev_wnd = self._snd_wnd
        newly_sacked = 0
        if rec.uses_sack and seq_le(self._snd_una, ack):
            buf = self._sndbuf
            blocks = [(buf.off(left), buf.off(right)) for left, right in seg.sack_blocks]
            newly_sacked = rec.on_sack(buf.off(ack), blocks, self._now)
        # ECN-Echo counts only on a connection that negotiated ECN (RFC 3168 §6.1.1).
        ece = int(seg.flags) & _ECE_NOT_SYN == _ECE and self._sender.ecn is not None
        advanced = seq_gt(ack, self._snd_una)
        if advanced:
            # "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK."
            acked, rtt = self._ack_advanced(ack, seg)
            rec.on_new_ack(acked=acked, una_off=self._sndbuf.off(self._snd_una),
                           in_flight=self.in_flight, now=self._now,
                           high_data_off=self._sender.high_data_off(),
                           sacked=newly_sacked, rtt=rtt, srtt=self._rtt.srtt, ece=ece)
        elif newly_sacked:
            # Only SACKed new data: algorithms that take samples hear of it.
            rec.on_sack_only(sacked=newly_sacked, una_off=self._sndbuf.off(ack),
                             in_flight=self.in_flight, now=self._now,
                             high_data_off=self._sender.high_data_off())
        if (
            # RFC 6675 §5: an ACK that SACKs new data is a duplicate ACK
            # "regardless of its status as a cumulative acknowledgment", so one
            # that advances SND.UNA can also find IsLost(HighACK + 1) (step 2)
            # and begin recovery (outside recovery only).
            (ack == self._snd_una and not advanced)
            or (advanced and bool(seg.sack_blocks) and rec.phase is _PHASE_OPEN)
        ) and rec.is_duplicate_ack(
            in_flight=self.in_flight,
            carries_more=bool(seg.payload or seg.flags & (Flags.SYN | Flags.FIN)),
            has_sack=bool(seg.sack_blocks),
            newly_sacked=newly_sacked,
            same_window=self._peer_window(seg) == prev_wnd,
        ) and rec.on_duplicate_ack(
            una_off=self._sndbuf.off(self._snd_una),
            high_data_off=self._sender.high_data_off(),
            in_flight=self.in_flight,
            unsent=self.unsent,
            mss=self._snd_mss,
            dupthresh=self._config.dupthresh,
            cumulative=advanced,
        ):
            self._metrics()  # fast retransmit: cwnd and ssthresh changed
        if ece:
            self._ecn_echo_received(ack)
        # "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
        # updated"; "If the ACK is a duplicate (SEG.ACK < SND.UNA), it can be ignored."
        if seq_ge(ack, self._snd_una):
            # Any such ACK answers our zero-window probes, whatever its window
            # (RFC 9293 §3.8.6.1, MUST-26; Linux tcp_ack).
            if self._sender.probes_out:
                self._sender.probe_answered()
            self._update_window(seg)
            self._metrics()

    def _ecn_data_received(self, seg: Segment) -> None:
        """A data segment arrived on an ECN connection: CE starts the echo, CWR ends
        it (RFC 3168 §6.1.3, :meth:`EcnState.on_data`)."""
        ecn = self._sender.ecn
        assert ecn is not None
        if seg.ecn == CE:
            self._count("ecn_ce_received")
        if ecn.on_data(bool(seg.flags & Flags.CWR), seg.ecn):
            # The first ECE leaves at once, not with a delayed ACK (as Linux's
            # quick-ACK mode on CE), so the sender reduces an RTT sooner.
            self._sender.ack_now = True

    def _ecn_echo_received(self, ack: int) -> None:
        """An acceptable ACK at ``ack`` carried ECE: congestion on the path to the
        peer (RFC 3168 §6.1.2), answered as a loss is, without retransmitting."""
        ecn = self._sender.ecn
        assert ecn is not None
        self._count("ecn_ece_received")
        if not ecn.may_reduce(ack):
            # "at most once per window of data": this echo is of the congestion
            # already answered (the receiver echoes until our CWR reaches it).
            return
        if self._recovery.on_ecn_echo(una_off=self._sndbuf.off(self._snd_una),
                                      flight_size=self.in_flight):
            self._count("ecn_reductions")
        # Either way CWR tells the receiver that we reduced.
        ecn.reduced(self._snd_max)

    def _sixth_check_urg(self, seg: Segment) -> None:
        """Sixth: check the URG bit (§3.8.5)."""
        rcv = self._rcvbuf
        if int(seg.flags) & _URG and rcv is not None and self._state in TEXT_STATES:
            # "RCV.UP <- max(RCV.UP,SEG.UP), and signal the user that the
            # remote side has urgent data if the urgent pointer (RCV.UP) is in
            # advance of the data consumed" -- once per urgent sequence.
            rcv.up_off = max(rcv.up_off, rcv.off(seq_add(seg.seq, seg.urgent)))
            if rcv.urgent_pending and not rcv.urgent_signaled:
                rcv.urgent_signaled = True
                self._emit(ev.UrgentDataReceived(rcv.urgent_pending))

    def _seventh_process_text(self, seg: Segment) -> bool:
        """Seventh: process the segment text. False if the connection ended here."""
        rcv = self._rcvbuf
        assert rcv is not None
        sender = self._sender
        payload = seg.payload
        if rcv.fin_received:
            # CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur
            # since a FIN has been received from the remote side. Ignore the
            # segment text." Text or a FIN at or beyond RCV.NXT after the
            # peer's FIN is ignored alike, and answered with an ACK that shows
            # where the peer's stream ended (the eighth step adds nothing).
            if payload or int(seg.flags) & _FIN:
                sender.ack_now = True
            return True
        if payload and self._orphaned:
            # Data for an application that closed: reset (SHLD-3, §3.6.1). The
            # RST carries SEG.ACK, the peer's RCV.NXT, which a peer checking
            # RSTs strictly (RFC 5961 §3.2) accepts at once even while our FIN
            # is outstanding (as a reset for a closed connection does,
            # §3.10.7.1; Linux alike).
            sender.send_rst(seg.ack)
            self._close(Cause.DATA_AFTER_CLOSE, ev.ConnectionAborted())
            return False
        if payload and sender.ecn is not None:
            self._ecn_data_received(seg)
        fin = bool(int(seg.flags) & _FIN)
        data_seq = seq_add(seg.seq, 1) if int(seg.flags) & _SYN else seg.seq
        # Trim to [RCV.NXT, RCV.NXT + RCV.WND) (§3.10.7.4 first step note).
        off = seq_diff(data_seq, rcv.rcv_nxt)
        if off < 0:
            payload = payload[-off:]
            off = 0
        room = rcv.rcv_wnd - off
        if len(payload) > room:
            payload = payload[: max(room, 0)]
            fin = False  # the FIN lies beyond the window
        if fin and rcv.fin_off is None:
            rcv.fin_off = rcv.rcv_off + off + len(payload)
        if payload:
            if off == 0:
                # "move the segment text into user RECEIVE buffers"
                self._delivered(rcv.deliver(payload))
                if rcv.has_holes:
                    # A hole was filled: ACK at once (RFC 5681 §4.2).
                    self._delivered(rcv.deliver(rcv.join()))
                    sender.ack_now = True
                else:
                    sender.schedule_ack(len(payload))
            else:
                # Out of order: keep it (SHLD-31) and send a duplicate ACK at
                # once, one per segment even when several arrive together, so
                # the sender can count them (RFC 5681 §4.2, §3.2).
                held = rcv.hold(rcv.rcv_off + off, payload, sack=self._negotiated.sack,
                                max_ranges=self._config.ofo_max_ranges)
                if held.kept:
                    self._count("ofo_queued")
                    if held.merged:
                        self._count("ofo_merged")
                else:
                    self._count("ofo_dropped")  # the range limit: Linux TCPOFODrop
                if held.pruned:
                    self._count("ofo_pruned", held.pruned)
                sender.queue(sender.make(seq=self._snd_max))
        elif seg.payload or (seg.seg_len and not fin):
            sender.ack_now = True  # old duplicate data: re-ACK
        elif fin and off > 0:
            # A FIN beyond a hole is an out-of-order segment: duplicate ACK at
            # once (RFC 5681 §4.2); the FIN waits for the hole (eighth step).
            sender.ack_now = True
        return True

    def _eighth_check_fin(self, seg: Segment) -> None:
        """Eighth: check the FIN bit -- honoured once everything before it arrived."""
        rcv = self._rcvbuf
        assert rcv is not None
        if rcv.fin_received:
            if int(seg.flags) & _FIN and self._state is S.TIME_WAIT:
                # "TIME-WAIT STATE: Remain in the TIME-WAIT state. Restart the
                # 2 MSL time-wait timeout."
                self._time_wait_fin()
            return
        if rcv.fin_off is None or rcv.fin_off != rcv.rcv_off:
            return
        # "If the FIN bit is set, signal the user 'connection closing' ...,
        # advance RCV.NXT over the FIN, and send an acknowledgment for the FIN."
        rcv.pass_fin()
        self._sender.ack_now = True
        self._emit(ev.PeerClosed())
        match self._state:
            case S.ESTABLISHED:
                # "SYN-RECEIVED STATE, ESTABLISHED STATE: Enter the CLOSE-WAIT state."
                self._set_state(S.CLOSE_WAIT, Cause.RCV_FIN)
            case S.FIN_WAIT_1 if self._sender.fin_acked():
                # "If our FIN has been ACKed (perhaps in this segment), then enter
                # TIME-WAIT, start the time-wait timer, turn off the other timers"
                self._set_state(S.TIME_WAIT, Cause.RCV_FIN)
            case S.FIN_WAIT_1:
                # "otherwise, enter the CLOSING state."
                self._set_state(S.CLOSING, Cause.RCV_FIN)
            case S.FIN_WAIT_2:
                # "Enter the TIME-WAIT state. Start the time-wait timer, turn off
                # the other timers."
                self._set_state(S.TIME_WAIT, Cause.RCV_FIN)

    def _time_wait_fin(self) -> None:
        """TIME-WAIT, the peer's FIN again: "Acknowledge it, and restart the 2 MSL
        timeout" (§3.10.7.4 fifth and eighth steps; §3.6.1)."""
        self._sender.ack_now = True
        self._timers.arm(Timer.TIME_WAIT, self._now + 2 * self._config.msl)

    # ------------------------------------------------------------------
    # Timeouts (RFC 9293 §3.10.8, RFC 6298)
    # ------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        """Fire every timer whose deadline is at or before ``now`` (seconds).

        Then call :meth:`packets_to_send` (or the stack's).
        """
        self._touch(now)
        for timer in self._timers.due(now):
            if self._state is S.CLOSED:
                break
            match timer:
                case Timer.TLP:
                    self._sender.on_tlp()
                case Timer.RTO:
                    self._on_rto()
                case Timer.PERSIST:
                    if self._sender.on_persist():
                        # Zero-window probes unanswered for R2 / the user timeout
                        # (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17), or an orphan's
                        # probes used up: give up, as Linux tcp_probe_timer does
                        # (tcp_write_err: no RST).
                        orphan = self._orphan_exhausted(self._sender.window_probes)
                        self._count("orphan_retries_exceeded" if orphan else "persist_timeout")
                        local = self._owner.local_congestion
                        self._close(Cause.R2_TIMEOUT, ev.ConnectionTimedOut(
                            "local-congestion" if local else "zero-window"))
                case Timer.PACING:
                    pass  # the pacer releases new data: packets_to_send sends it
                case Timer.DELAYED_ACK:
                    # §3.8.6.3: the delayed ACK is due now.
                    self._sender.on_delayed_ack()
                case Timer.KEEPALIVE if self._keepalive is not None:
                    if self._keepalive.on_timer():
                        # The probes went unanswered: the peer is gone (§3.8.4).
                        # Like Linux, tell it with a RST in case it is only
                        # unreachable.
                        self._sender.send_rst(self._snd_max)
                        self._close(Cause.KEEPALIVE_TIMEOUT, ev.ConnectionTimedOut("keepalive"))
                case Timer.TIME_WAIT:
                    # "If the time-wait timeout expires on a connection, delete
                    # the TCB, enter the CLOSED state, and return." (§3.10.8)
                    self._close(Cause.TIME_WAIT_TIMEOUT, ev.ConnectionClosed())
                case Timer.FIN_WAIT_2:
                    # An orphan waited long enough for the peer's FIN (Linux
                    # tcp_fin_timeout).
                    if self._state is S.FIN_WAIT_2:
                        self._close(Cause.FIN_WAIT_2_TIMEOUT,
                                    ev.ConnectionTimedOut("fin-wait-2"))
        self._metrics_if_changed()
        self._owner.wake(self)

    def _on_rto(self) -> None:
        """Retransmission timeout (§3.10.8, §3.8.3, RFC 6298 §5.4-5.6)."""
        sender = self._sender
        if self.in_flight <= 0 and not sender.syn_pending():
            return
        syn = self._state in (S.SYN_SENT, S.SYN_RECEIVED)
        if (self._passive and self._state is S.SYN_RECEIVED
                and sender.retransmissions >= self._config.synack_retries):
            # A half-open entry whose SYN,ACK went synack_retries times is given
            # up silently, no RST: its source was likely spoofed (RFC 4987 §3.4;
            # Linux tcp_synack_retries). Before R2 (r2_syn), which is longer.
            self._count("synack_retries_exceeded")
            self._close(Cause.SYNACK_RETRIES, ev.ConnectionTimedOut("syn"))
            return
        r2_deadline = sender.r2_deadline()
        orphan = self._orphan_exhausted(sender.retransmissions)
        if orphan or (r2_deadline is not None and self._now >= r2_deadline):
            # R2 exceeded: "close the connection" (§3.8.3, MUST-20); or an
            # orphan retransmitted orphan_retries times (Linux tcp_write_timeout
            # with tcp_orphan_retries; tcp_write_err sends no RST).
            if orphan:
                self._count("orphan_retries_exceeded")
            buf = self._sndbuf
            fin_only = buf.fin_queued and self._snd_una == buf.fin_seq
            reason = "syn" if syn else ("fin" if fin_only else "data")
            self._close(Cause.R2_TIMEOUT, ev.ConnectionTimedOut(reason))
            return
        sender.retransmissions += 1
        if sender.retransmissions == max(self._config.r1, 1):
            # R1 reached: advise the application (§3.8.3, SHLD-9), once.
            self._emit(ev.SoftError(sender.retransmissions))
        if syn:
            sender.syn_retransmitted = True
        # Loss recovery restarts (RFC 5681 §3.1, RFC 6582 §3.2, RFC 6675 §5.1).
        self._recovery.on_rto(una_off=self._sndbuf.off(self._snd_una),
                              high_data_off=sender.high_data_off(), in_flight=self.in_flight)
        # RFC 6298 §5.5: back off; §5.4: retransmit the earliest segment
        # (go back: SND.NXT returns to SND.UNA; SACKed data is skipped). Not
        # while the device refuses packets: nothing was lost in the network,
        # the retransmission is tried again in RESOURCE_PROBE_INTERVAL (Linux
        # tcp_retransmit_timer on a local error; Stack.local_congestion).
        if not self._owner.local_congestion:
            self._rtt.backoff()
        self._count("rto_timeouts")
        self._snd_nxt = self._snd_una
        self._metrics()

    def _orphan_exhausted(self, tries: int) -> bool:
        """True if this connection is an orphan (the application closed it) that
        has made ``tries`` >= ``TcpConfig.orphan_retries`` retransmissions or
        zero-window probes: it is given up (Linux tcp_orphan_retries)."""
        return self._orphaned and tries >= self._config.orphan_retries

    def _keepalive_restart(self) -> None:
        """Start the keep-alive idle period again (the peer was heard from, the
        switch or the state changed); hold a :class:`KeepAlive` only while it is on."""
        if self._config.keepalive and self._state in KEEPALIVE_STATES:
            if self._keepalive is None:
                self._keepalive = KeepAlive(self)
            self._keepalive.restart()
        else:
            self._keepalive = None
            self._timers.cancel(Timer.KEEPALIVE)

    def _arm_fin_wait_2(self) -> None:
        if self._config.fin_wait_2_timeout is not None:
            self._timers.arm(Timer.FIN_WAIT_2, self._now + self._config.fin_wait_2_timeout)

    # ------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------

    def packets_to_send(self, now: float) -> list[Segment]:
        """Segments to transmit now, in order (RFC 9293 §3.8, §3.9.1.2).

        Includes control segments (RSTs, challenge ACKs, probes), the SYN or
        SYN,ACK, data and FIN allowed by the windows, and a pure ACK when one
        is due. Arms the timers the sent segments need.
        """
        self._now = now  # (_touch, inlined: a time is given)
        sender = self._sender
        out = sender.output()
        tracer = self._owner.trace
        # (_tracing inlined; the metrics record is only ever traced: no call without a trace)
        tracing = tracer is not None and tracer.active
        if tracer is not None and tracing and out:
            # (_trace_segment's work, once per output rather than per segment: one
            # emit_segments call, and the name from its slot once made)
            tracer.emit_segments(now, self._owner.name, self._name or self.name,
                                 "segment_sent", out)
        if self._state is S.CLOSE_WAIT and sender.fin_sent():
            # §3.10.4, CLOSE in CLOSE-WAIT: "Queue this request until all
            # preceding SENDs have been segmentized; then send a FIN segment,
            # enter LAST-ACK state." The FIN has just left.
            self._set_state(S.LAST_ACK, Cause.FIN_SENT)
        if out and tracing:
            self._metrics_if_changed()
        return out

    # ------------------------------------------------------------------
    # State changes: the one place (h11-style), with entry actions
    # ------------------------------------------------------------------

    def _set_state(self, new: State, cause: Cause) -> None:
        """Change the state, checked against the transition table, traced with its cause.

        Entry actions live here: ESTABLISHED reports Connected and starts
        keep-alive; FIN-WAIT-2 starts keep-alive and, for an orphan, its
        timeout; TIME-WAIT turns off the other timers and starts 2 MSL;
        CLOSED (and a passive TCB back in LISTEN) turns off every timer and
        lets the owner delete the TCB.

        Raises:
            ValueError: the transition is not in the table (a bug, never a peer).
        """
        old = self._state
        check_transition(old, new, cause)
        self._state = new
        if (key := CAUSE_COUNTERS.get(cause)) is not None:
            self._count(key)  # resets, timeouts, aborts: the connection's too
        if (key := lifecycle_counter(old, new, cause, passive=self._passive)) is not None:
            self._owner.count(key)  # opens, failures, TIME-WAIT ends: the stack's only
        owner = self._owner
        tracer = owner.trace
        if tracer is not None and tracer.active:  # the record only when a trace keeps it
            self._trace("state_updated",
                        {"old": str(old), "new": str(new), "cause": cause.value})
        # The owner told directly (Tcb._emit, without its call and cast): 10
        # state changes per churn connection.
        owner.on_event(self, ev.StateChanged(old, new))
        match new:
            case S.ESTABLISHED:
                owner.on_event(self, ev.Connected())
                self._keepalive_restart()
            case S.FIN_WAIT_2:
                self._keepalive_restart()
                if self._orphaned:
                    self._arm_fin_wait_2()
            case S.TIME_WAIT:
                # "Start the time-wait timer, turn off the other timers" (MUST-13).
                self._timers.cancel_all()
                self._timers.arm(Timer.TIME_WAIT, self._now + 2 * self._config.msl)
            case S.CLOSED | S.LISTEN:
                self._timers.cancel_all()
        owner.state_changed(self, old, new)

    def _close(self, cause: Cause, event: ev.Event) -> None:
        """Enter CLOSED ("delete the TCB") and report why to the application."""
        self._set_state(S.CLOSED, cause)
        self._emit(event)

    def _enter_established(self, seg: Segment, cause: Cause) -> None:
        """SYN-RECEIVED -> ESTABLISHED: the window from this segment, then the text
        or FIN the peer's SYN carried (queued "for processing later", §3.10.7.2-3)."""
        self._set_state(S.ESTABLISHED, cause)
        self._update_window(seg, force=True)
        self._take_syn_text()

    # ------------------------------------------------------------------
    # Helpers of the event processing
    # ------------------------------------------------------------------

    def _take_syn(self, seg: Segment) -> None:
        """The peer's SYN: IRS, RCV.NXT, options in use, MSS (§3.10.7.2-3, RFC 7323, RFC 2018)."""
        self._irs = seg.seq
        rcv = ReceiveBuffer(seq_add(seg.seq, 1))
        self._rcvbuf = rcv
        self._peer_syn = seg
        self._negotiated = negotiate(self._config, seg, ecn_ok=self._ecn_ok())
        # A fresh ECN state for the SYN taken now (a TCB back in LISTEN may take another).
        self._sender.ecn = EcnState() if self._negotiated.ecn else None
        if self._negotiated.ecn:
            self._count("ecn_negotiated")
        # Our SYN's window is never scaled: at most 65535 (RFC 7323 §2.2).
        rcv.open_window(self._config.recv_buffer)
        ts = seg.timestamps
        if self._negotiated.timestamps and ts is not None:
            self._ts = TsRecent(ts.tsval, self._now)  # RFC 7323 §4.3 (1)
        self._take_peer_mss(seg)
        if self._negotiated.sack:
            self._recovery.use_sack(self._sender.seg_size(), self._config.dupthresh,
                                    self._config.sack_max_ranges)

    def _ecn_ok(self) -> bool:
        """We may use ECN if the peer's SYN (or SYN,ACK) agrees (RFC 3168 §6.1.1):
        a passive open with ``ecn`` "on" or "passive"; an active (or simultaneous)
        open that sent only ECN-setup SYNs ("a host MUST NOT set ECT on data
        packets unless ... has sent no non-ECN-setup SYN")."""
        config = self._config
        if self._state is S.LISTEN:
            return config.ecn != "off"
        return config.ecn == "on" and not (config.ecn_fallback and self._sender.syn_retransmitted)

    def _take_syn_text(self) -> None:
        """SYN-RECEIVED -> ESTABLISHED: process the text or FIN the peer's SYN carried.

        RFC 9293 §3.10.7.2 (LISTEN, third: "any other control or text should be
        queued for processing later") and §3.10.7.3 (SYN-SENT, fourth, a bare
        SYN: "queue them for processing after the ESTABLISHED state has been
        reached"); §3.5: data on a SYN is legitimate once it is clear it is
        valid, i.e. once the handshake completed.
        """
        syn = self._peer_syn
        if (
            syn is not None
            and (syn.payload or syn.flags & Flags.FIN)
            and self.rcv_nxt == seq_add(self._irs, 1)
        ):
            self._text_steps(syn)

    def _take_peer_mss(self, seg: Segment) -> None:
        """Effective send MSS (§3.7.1, MUST-15/16), and the initial window for it."""
        ipv6 = isinstance(self._remote.address, ipaddress.IPv6Address)
        self._snd_mss = send_mss(self._config, seg, self.rcv_mss, ipv6=ipv6)
        # RFC 5681 §3.1 (or RFC 6928's larger IW when configured)
        self._recovery.cc.set_mss(self._snd_mss, self._config.initial_window)

    def _window_news(self, seq: int, ack: int) -> bool:
        """Is a segment at ``seq`` acknowledging ``ack`` newer than the one that last
        set the send window? "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and
        SND.WL2 =< SEG.ACK)" (§3.10.7.4 fifth step)."""
        wl1 = self._snd_wl1
        # seq_lt(wl1, seq) or (wl1 == seq and seq_le(SND.WL2, ack)), their sign
        # tests written inline (seq.py): two calls fewer per segment received.
        return (((wl1 - seq) & SEQ_MASK) >= SEQ_HALF
                or (wl1 == seq and not 0 < ((self._snd_wl2 - ack) & SEQ_MASK) < SEQ_HALF))

    def _update_window(self, seg: Segment, *, force: bool = False) -> None:
        """Send-window update (§3.10.7.4 fifth step): only from newer segments (SND.WL1/WL2)."""
        if force or self._window_news(seg.seq, seg.ack):
            window = self._peer_window(seg)
            opened = window > self._snd_wnd
            sender = self._sender
            if opened and self._snd_wnd == 0 and sender.first_sent_at is not None:
                # SHLD-17 (RFC 9293 §3.8.6): data held beyond a closed window
                # must not time the connection out: R2 counts from the reopening.
                sender.first_sent_at = self._now
            self._snd_wnd = window
            self._snd_wl1 = seg.seq
            self._snd_wl2 = seg.ack
            if window > self._max_snd_wnd:
                self._max_snd_wnd = window
            if opened and window > 0:
                self._timers.cancel(Timer.PERSIST)

    def _update_ts_recent(self, seg: Segment) -> None:
        """RFC 7323 §4.3 (2), for a segment that passed the fifth step's checks."""
        ts = seg.timestamps
        if ts is not None and self._ts is not None:
            self._ts.update(ts.tsval, seg.seq, self._sender.last_ack_sent, self._now)

    def _ack_advanced(self, ack: int, seg: Segment | None = None) -> tuple[int, float | None]:
        """Fifth step: "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK."

        Once our SYN is acknowledged, a lost SYN leaves its marks (RFC 6298
        §5.7, RFC 5681 §3.1); the sender then releases the acknowledged data and
        restarts its timers. Returns the number of data bytes newly acknowledged
        and the RTT sample it gave (seconds, or None).
        """
        if seq_le(self._snd_una, self._iss) and seq_gt(ack, self._iss):
            self._peer_syn = None  # our SYN is acknowledged: no more SYN,ACKs to build
            if self._sender.syn_retransmitted:
                # RFC 6298 §5.7: RTO of at least 3 s once data transmission begins.
                self._rtt.set_floor(self._config.rto_syn_after_retry)
                # RFC 5681 §3.1: "If the SYN or SYN/ACK is lost, the initial
                # window used by a sender after a correctly transmitted SYN MUST
                # be one segment".
                self._recovery.cc.on_lost_handshake()
        self._snd_una = ack
        if seq_lt(self._snd_nxt, ack):
            self._snd_nxt = ack
        return self._sender.acknowledged(ack, seg)

    def _delivered(self, n: int) -> None:
        if n:
            # The owner told directly (Tcb._emit without its call and cast: two
            # calls fewer per data segment delivered).
            self._owner.on_event(self, ev.DataReceived(n))
            tracer = self._owner.trace
            if tracer is not None and tracer.active:  # the record only when a trace keeps it
                self._trace_delivered(n)
