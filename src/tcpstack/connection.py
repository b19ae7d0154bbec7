"""One TCP connection: the TCB and RFC 9293 §3.10 event processing, sans-I/O.

A :class:`Connection` never touches the network or a clock. Its inputs are
parsed segments (:meth:`Connection.receive`), timer expiries
(:meth:`Connection.handle_timer`) and the user calls of RFC 9293 §3.10
(:meth:`send`, :meth:`read`, :meth:`shutdown`, :meth:`close`, :meth:`abort`).
Its outputs are pulled: :meth:`packets_to_send`, :meth:`next_timer`,
:meth:`next_event`. Time is a float in seconds supplied by the caller.

Every state change goes through :meth:`Connection._set_state`, which checks
it against :data:`tcpstack.state.TRANSITIONS`.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from . import congestion
from . import events as ev
from .config import TcpConfig
from .errors import LocalProtocolError
from .negotiation import TS_OPTION_SPACE, Negotiated, negotiate, syn_options
from .reassembly import ReassemblyQueue
from .rtt import RttEstimator
from .sack import Scoreboard
from .seq import seq_add, seq_diff, seq_ge, seq_gt, seq_le, seq_lt, seq_min
from .state import State, transition_reason
from .trace import Trace
from .wire import Flags, IPAddress, Nop, Sack, Segment, TcpOption, Timestamps

S = State
NO_FLAGS = Flags(0)


class Endpoint(NamedTuple):
    """An (address, port) pair; ``str()`` gives ``192.0.2.1:80`` or ``[2001:db8::1]:80``."""

    address: IPAddress
    port: int

    def __str__(self) -> str:
        if isinstance(self.address, ipaddress.IPv6Address):
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


WORST_CASE_DELAYED_ACK = 0.2
"""WCDelAckT of RFC 8985 §7.2: the peer may hold the ACK of a lone segment this long."""

IPV6_DEFAULT_PEER_MSS = 1220
"""Send MSS assumed when an IPv6 peer's SYN has no MSS option (MUST-15: 1280 - 60)."""

TIMERS = ("tlp", "rto", "persist", "delayed_ack", "keepalive", "time_wait", "fin_wait_2")
"""Timer names, as they appear in ``timer_set``/``timer_fired`` trace records."""

EventSink = Callable[["Connection", ev.Event], None]

PAWS_IDLE = 24 * 86400.0
"""Seconds after which TS.Recent is too old for PAWS (RFC 7323 §5.5: 24 days)."""

KEEPALIVE_STATES = frozenset({S.ESTABLISHED, S.CLOSE_WAIT, S.FIN_WAIT_2})
"""States in which an idle connection is probed: as in Linux, FIN-WAIT-2 too, so a
half-closed connection whose peer vanished does not wait for its FIN forever."""


class Connection:
    """The transmission control block of one connection and its event processing.

    Connections are normally created by :class:`tcpstack.stack.Stack`
    (``connect()`` or a SYN to a listener); creating one directly is useful in
    unit tests. After construction call :meth:`open_active` or feed the SYN
    of a passive open to :meth:`receive`.

    Args:
        local: our address and port.
        remote: the peer's address and port.
        iss: initial send sequence number (RFC 6528; chosen by the stack).
        config: connection parameters.
        now: current time, seconds (for the trace).
        passive: True if created by a passive OPEN (starts in LISTEN; MUST-11).
        trace: where trace records go, or None.
        host: host name used in trace records.
        event_sink: if given, events go there instead of this connection's
            own queue (the stack uses this to merge events of all connections).
        clock: gives the current time for user calls made without ``now``
            (the stack passes its own); otherwise the last time seen is used.
    """

    def __init__(
        self,
        local: Endpoint,
        remote: Endpoint,
        *,
        iss: int,
        config: TcpConfig | None = None,
        now: float = 0.0,
        passive: bool = False,
        trace: Trace | None = None,
        host: str = "host",
        event_sink: EventSink | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config or TcpConfig()
        self.local = local
        self.remote = remote
        self.name = f"{local}-{remote}"
        self.host = host
        self._tracer = trace
        self._event_sink = event_sink
        self._events: deque[ev.Event] = deque()
        self._now = now
        self._clock = clock
        #: RFC 9293 §3.3.2 state. Change only through ``_set_state``.
        self.state = S.LISTEN if passive else S.CLOSED
        #: True if this TCB came from a passive OPEN (MUST-11).
        self.passive = passive
        #: True once the connection has been ESTABLISHED (the handshake completed).
        self.was_established = False
        #: True after :meth:`close`: the application will read no more.
        self.orphaned = False

        # --- Send sequence variables (RFC 9293 §3.3.1) ---
        self.iss = iss % (1 << 32)
        self.snd_una = self.iss
        self.snd_nxt = self.iss
        self.snd_max = self.iss  # highest sequence number sent + 1 (BSD snd_max)
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.max_snd_wnd = 0
        # --- Receive sequence variables ---
        self.irs = 0
        self.rcv_nxt = 0
        self._rcv_adv = 0  # right edge of the window we last advertised

        # --- MSS (RFC 9293 §3.7.1) ---
        self.snd_mss = self.config.default_peer_mss
        #: MSS we advertise: over IPv6 the IP header is 20 bytes longer (MUST-67).
        self.rcv_mss = (
            self.config.mss - 20
            if isinstance(local.address, ipaddress.IPv6Address)
            else self.config.mss
        )

        # --- Buffers ---
        self._sndbuf = bytearray()  # unacknowledged + unsent data
        self._sndbuf_seq = seq_add(self.iss, 1)  # sequence number of _sndbuf[0]
        self._fin_queued = False  # the user has CLOSEd: FIN follows the data
        self._send_short = False  # a send() was cut short: report SendBufferAvailable
        self._rcvbuf = bytearray()  # in-order data not yet read
        self._ooo = ReassemblyQueue()
        self._rcv_offset = 0  # stream offset of rcv_nxt (bytes delivered in order)
        # Stream offsets inside the SACK blocks to report first, most recent
        # first: the newest arrival, then the blocks last reported (RFC 2018 §4).
        self._sack_recent: list[int] = []
        # Urgent data (§3.8.5): RCV.UP and SND.UP as stream offsets of the first
        # non-urgent octet; whether the application was told of the current one.
        self._rcv_up = 0
        self._urgent_signaled = False
        self._snd_up: int | None = None
        self._peer_fin_offset: int | None = None  # stream offset of the peer's FIN, once seen
        self.fin_received = False

        # --- Options negotiated on the SYN (RFC 7323, RFC 2018) ---
        self.negotiated = Negotiated()
        self._peer_syn: Segment | None = None
        #: TS.Recent (RFC 7323 §4.3) and whether it holds a value yet.
        self.ts_recent = 0
        self._ts_recent_valid = False
        self._ts_recent_at = 0.0  # when TS.Recent was last set (RFC 7323 §5.5)
        self._last_ack_sent = 0  # Last.ACK.sent (RFC 7323 §4.3)
        # Per-connection offset of our timestamp clock (RFC 7323 §5.4), from the ISN.
        self._ts_offset = (self.iss * 2654435761) & 0xFFFFFFFF

        # --- Retransmission (RFC 6298) ---
        self.rtt = RttEstimator(self.config.rto_initial, self.config.rto_min, self.config.rto_max)
        self._rtt_seq: int | None = None  # ACK of this seq ends the timed segment
        self._rtt_sent_at = 0.0
        self._rtt_tsval = 0  # our TSval on the timed segment
        self._rtt_retransmitted = False  # the timed segment was sent again
        self._retransmits = 0  # consecutive timeouts of the oldest segment
        self._first_sent_at: float | None = None  # first transmission of the oldest segment
        self._last_send_at: float | None = None  # last transmission of anything (RFC 5681 §4.1)
        self._syn_retransmitted = False
        self._soft_error_reported = False

        # --- Congestion control and loss recovery (RFC 5681, 6582, 3042, 6675) ---
        #: The congestion control algorithm: owns cwnd and ssthresh.
        self.cc = congestion.create(self.config.congestion_control, self.snd_mss)
        #: Duplicate ACKs in a row (RFC 5681 §2 definition).
        self.dupacks = 0
        #: True during fast recovery / SACK loss recovery.
        self.in_recovery = False
        self._recover = 0  # RFC 6582 "recover" as a stream offset, exclusive end
        self._lt_bytes = 0  # sent by limited transmit beyond cwnd (RFC 3042) since the last new ACK
        self._fast_rexmit = False  # the segment at SND.UNA is due for retransmission
        # Tail loss probe (RFC 8985 §7): one probe per episode, new data or the last segment.
        self._tlp_pending = False
        self._tlp_new_data = False
        self._tlp_rexmit: int | None = None
        # Lost-retransmission detection in SACK recovery: stream offset of each
        # range retransmitted -> HighData when it was sent (RFC 8985 §6.2 idea).
        self._rexmit_high: dict[int, int] = {}
        self._lost_again: list[int] = []
        self._scoreboard: Scoreboard | None = None  # RFC 6675, once SACK is negotiated
        self._sndbuf_off = 0  # stream offset of _sndbuf[0] (data acknowledged so far)

        # --- Keep-alive (RFC 9293 §3.8.4) ---
        self._keepalive_probes = 0

        # --- ACK generation (RFC 9293 §3.8.6.3) ---
        self._ack_now = False
        self._rcv_unacked = 0  # bytes received since the last ACK we sent

        # --- Control segments waiting to go out (RSTs, challenge ACKs) ---
        self._ctl_out: list[Segment] = []
        self._challenge_window = -1.0
        self._challenge_count = 0

        # --- Timers: name -> deadline (seconds) ---
        self._timers: dict[str, float] = {}
        self._persist_backoff = 0.0
        self._force_send = False  # persist timer fired with a usable window: SWS override

    # ------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------

    @property
    def rcv_wnd(self) -> int:
        """RCV.WND: the window we last advertised, bytes (RFC 9293 §3.3.1)."""
        return max(0, seq_diff(self._rcv_adv, self.rcv_nxt))

    @property
    def cwnd(self) -> int:
        """Congestion window, bytes (RFC 5681)."""
        return self.cc.cwnd

    @property
    def ssthresh(self) -> int:
        """Slow-start threshold, bytes (RFC 5681)."""
        return self.cc.ssthresh

    @property
    def srtt(self) -> float | None:
        """Smoothed RTT in seconds, or None before the first sample (RFC 6298)."""
        return self.rtt.srtt

    @property
    def rto(self) -> float:
        """Current retransmission timeout in seconds, backoff included (RFC 6298)."""
        return self.rtt.rto

    @property
    def readable(self) -> int:
        """Bytes ready for :meth:`read`."""
        return len(self._rcvbuf)

    @property
    def at_eof(self) -> bool:
        """True when the peer's FIN has been received and every byte read."""
        return self.fin_received and not self._rcvbuf

    @property
    def send_space(self) -> int:
        """Bytes :meth:`send` would accept now."""
        return max(0, self.config.send_buffer - len(self._sndbuf))

    @property
    def unsent(self) -> int:
        """Bytes in the send buffer not yet sent."""
        sent = seq_diff(self.snd_nxt, self._sndbuf_seq)
        return len(self._sndbuf) - max(0, min(sent, len(self._sndbuf)))

    @property
    def in_flight(self) -> int:
        """Sequence space sent but not acknowledged, bytes."""
        return seq_diff(self.snd_max, self.snd_una)

    def next_timer(self) -> float | None:
        """The earliest armed timer deadline in seconds, or None."""
        return min(self._timers.values()) if self._timers else None

    def timer(self, name: str) -> float | None:
        """Deadline of timer ``name`` (one of :data:`TIMERS`), or None if not armed."""
        return self._timers.get(name)

    def next_event(self) -> ev.Event | None:
        """Pop the oldest pending event, or None (only without an ``event_sink``)."""
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------
    # User calls (RFC 9293 §3.10.1 - §3.10.6)
    # ------------------------------------------------------------------

    def open_active(self, now: float | None = None) -> None:
        """Active OPEN (§3.10.1): go to SYN-SENT; the SYN leaves on the next ``packets_to_send``.

        Raises:
            LocalProtocolError: the connection is not CLOSED.
        """
        self._touch(now)
        if self.state is not S.CLOSED:
            raise LocalProtocolError(f"connect: connection already {self.state}")
        self._app("connect", remote=str(self.remote))
        self._set_state(S.SYN_SENT)

    def send(self, data: bytes, now: float | None = None, *, urgent: bool = False) -> int:
        """SEND (§3.10.2): queue ``data``; return how many bytes were accepted.

        Fewer than ``len(data)`` bytes are accepted when the send buffer is
        full; a :class:`~tcpstack.events.SendBufferAvailable` event follows
        when acknowledgements free room. With ``urgent``, the accepted bytes
        are urgent data: segments carry URG and an urgent pointer to the
        octet after them until they are acknowledged (§3.8.5, MUST-30/31/62).

        Raises:
            LocalProtocolError: the connection is closed or closing (§3.10.2).
        """
        self._touch(now)
        if self.state in (S.CLOSED, S.LISTEN):
            raise LocalProtocolError("send: connection does not exist")
        if self._fin_queued or self.state not in (
            S.SYN_SENT,
            S.SYN_RECEIVED,
            S.ESTABLISHED,
            S.CLOSE_WAIT,
        ):
            raise LocalProtocolError("send: connection closing")
        n = min(len(data), self.send_space)
        if n < len(data):
            self._send_short = True
        if n:
            self._sndbuf += data[:n]
            self._app("send", bytes=n, **({"urgent": True} if urgent else {}))
            if urgent:
                # SND.UP: the first non-urgent octet (MUST-62), as a stream offset.
                self._snd_up = self._sndbuf_off + len(self._sndbuf)
        return n

    @property
    def urgent_pending(self) -> int:
        """Unread bytes that are urgent data, 0 if none (§3.8.5, MUST-33)."""
        consumed = self._rcv_offset - len(self._rcvbuf)
        return max(0, self._rcv_up - consumed)

    def read(self, max_bytes: int = -1) -> bytes:
        """RECEIVE (§3.10.3): take up to ``max_bytes`` (all if negative) buffered bytes.

        Returns b"" when nothing is buffered (check :attr:`at_eof`). Reading
        opens the receive window; an ACK announcing it goes out when the
        window grew by at least min(buffer/2, MSS) (receiver SWS avoidance,
        MUST-39).
        """
        if max_bytes < 0 or max_bytes >= len(self._rcvbuf):
            data = bytes(self._rcvbuf)
            self._rcvbuf.clear()
        else:
            data = bytes(self._rcvbuf[:max_bytes])
            del self._rcvbuf[:max_bytes]
        if data:
            self._app("read", bytes=len(data))
            if not self.urgent_pending:
                self._urgent_signaled = False  # the urgent sequence has been read
            # A window update is only worth sending while the peer may still
            # send (after its FIN a closed peer would answer it with a RST),
            # and only when the window grew by an SWS step (MUST-39) to at
            # least twice what the peer can still use, as Linux does: an
            # application that reads promptly must not turn every delayed
            # ACK into an immediate one.
            grown = seq_diff(self._window_edge(), self._rcv_adv)
            if (
                self.state.synchronized
                and not self.fin_received
                and grown >= self._sws_threshold()
                and grown >= self.rcv_wnd
            ):
                self._ack_now = True  # window update
        return data

    def reconfigure(self, **changes: Any) -> None:
        """Change this connection's configuration (any :class:`TcpConfig` field).

        The per-connection switches RFC 9293 asks for: ``nagle`` (MUST-17),
        ``r2`` including None for "never give up" (MUST-21), ``keepalive``
        and its times (MUST-24, MUST-27). Takes effect from now on.

        Raises:
            ValueError: unknown field or invalid value.
        """
        from dataclasses import replace

        self.config = replace(self.config, **changes)
        if "keepalive" in changes or "keepalive_idle" in changes:
            self._keepalive_restart()

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
        no-op. In SYN-SENT the TCB is deleted and nothing is sent.
        """
        self._touch(now)
        if self._fin_queued or self.state in (S.CLOSED, S.TIME_WAIT, S.CLOSING, S.LAST_ACK):
            return
        self._app("shutdown")
        if self.state is S.SYN_SENT:
            # SYN-SENT: "Delete the TCB and return 'error: closing' responses
            # to any queued SENDs, or RECEIVEs." (§3.10.4)
            self._enter_closed(ev.ConnectionClosed())
            return
        if self.state is S.LISTEN:
            self._enter_closed(ev.ConnectionClosed())
            return
        self._fin_queued = True
        if self.state in (S.SYN_RECEIVED, S.ESTABLISHED):
            # §3.10.4: queue the FIN after pending data, enter FIN-WAIT-1.
            self._set_state(S.FIN_WAIT_1)
        elif self.state is S.CLOSE_WAIT:
            # §3.10.4: "Queue this request until all preceding SENDs have
            # been segmentized; then send a FIN segment, enter LAST-ACK state."
            self._set_state(S.LAST_ACK)

    def close(self, now: float | None = None) -> None:
        """Full close: like :meth:`shutdown`, and the application will read no more.

        If received data is still unread, the connection is reset instead
        (RFC 9293 §3.6.1, SHLD-3), as Linux does. An orphaned connection in
        FIN-WAIT-2 gives up after ``config.fin_wait_2_timeout``.
        """
        self._touch(now)
        if self.orphaned:
            return
        self._app("close")
        self.orphaned = True
        if self._rcvbuf and self.state in (S.ESTABLISHED, S.CLOSE_WAIT, S.SYN_RECEIVED):
            self._rcvbuf.clear()
            self.abort()
            return
        self.shutdown()
        if self.state is S.FIN_WAIT_2:
            self._arm_fin_wait_2()

    def abort(self, now: float | None = None) -> None:
        """ABORT (§3.10.5): send RST where the peer holds a TCB, go to CLOSED."""
        self._touch(now)
        if self.state is S.CLOSED:
            return
        self._app("abort")
        if self.state in (S.SYN_RECEIVED, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT):
            # §3.10.5: "send a reset segment: <SEQ=SND.NXT><CTL=RST>" (SND.MAX,
            # the highest SND.NXT, while a retransmission is under way)
            self._ctl_out.append(self._make(seq=self.snd_max, flags=Flags.RST, ack_flag=False))
        self._enter_closed(ev.ConnectionAborted())

    # ------------------------------------------------------------------
    # Segment arrival (RFC 9293 §3.10.7)
    # ------------------------------------------------------------------

    def receive(self, seg: Segment, now: float) -> None:
        """Process one arriving segment (§3.10.7.2 - §3.10.7.4). Never raises.

        Args:
            seg: the parsed segment (its checksum already verified).
            now: arrival time, seconds.
        """
        self._touch(now)
        self._trace_segment("segment_received", seg)
        if self.state is S.CLOSED:
            self._drop(seg, "connection-closed")
        elif self.state is S.LISTEN:
            self._receive_listen(seg)
        elif self.state is S.SYN_SENT:
            self._receive_syn_sent(seg)
        else:
            self._receive_otherwise(seg)

    def _receive_listen(self, seg: Segment) -> None:
        """§3.10.7.2, LISTEN (the stack has already answered RST and ACK)."""
        # First: an incoming RST should be ignored.
        if seg.has(Flags.RST):
            self._drop(seg, "rst-in-listen")
            return
        # Second: any acknowledgment is bad: <SEQ=SEG.ACK><CTL=RST>.
        if seg.has(Flags.ACK):
            self._send_rst(seq=seg.ack)
            self._drop(seg, "ack-in-listen")
            return
        # Third: SYN. RCV.NXT = SEG.SEQ+1, IRS = SEG.SEQ, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
        # "any other control or text should be queued for processing later": the
        # SYN-ACK acknowledges the SYN only; text (or a FIN) on the SYN is kept
        # with the SYN (_peer_syn) and processed once ESTABLISHED (_take_syn_text).
        if seg.has(Flags.SYN):
            self._take_syn(seg)
            self._update_window(seg, force=True)
            self._set_state(S.SYN_RECEIVED)
            return
        # Fourth: other text or control: drop.
        self._drop(seg, "no-syn-in-listen")

    def _receive_syn_sent(self, seg: Segment) -> None:
        """§3.10.7.3, SYN-SENT."""
        # First: check the ACK bit.
        if seg.has(Flags.ACK) and (
            seq_le(seg.ack, self.iss) or seq_gt(seg.ack, self.snd_max)
        ):
            # "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless
            # the RST bit is set, if so drop the segment and return)
            # <SEQ=SEG.ACK><CTL=RST>"
            if not seg.has(Flags.RST):
                self._send_rst(seq=seg.ack)
            self._drop(seg, "bad-ack-in-syn-sent")
            return
        # Second: check the RST bit. Acceptable only with an acceptable ACK
        # (RFC 5961 §3.2 keeps this rule for SYN-SENT).
        if seg.has(Flags.RST):
            if seg.has(Flags.ACK):
                # "the user should be signalled 'error: connection reset'",
                # reported as refused (§3.10.7.3).
                self._enter_closed(ev.ConnectionReset(refused=True))
            else:
                self._drop(seg, "rst-without-ack-in-syn-sent")
            return
        # Fourth: check the SYN bit.
        if not seg.has(Flags.SYN):
            # Fifth: "If neither of the SYN or RST bits is set, then drop".
            self._drop(seg, "no-syn-in-syn-sent")
            return
        self._take_syn(seg)
        if seg.has(Flags.ACK):
            # "SND.UNA should be advanced to equal SEG.ACK ... If SND.UNA >
            # ISS (our SYN has been ACKed), change the connection state to
            # ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"
            self._ack_advanced(seg.ack, seg)
            self._update_window(seg, force=True)
            self._metrics()
            self._set_state(S.ESTABLISHED)
            self._emit(ev.Connected())
            self._ack_now = True
            # "If there are other controls or text in the segment, then
            # continue processing at the sixth step ... where the URG bit is checked"
            self._process_text_and_fin(seg)
        else:
            # Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment
            # <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it." The SYN is
            # retransmitted as a SYN,ACK from now on.
            # "If there are other controls or text in the segment, queue them for
            # processing after the ESTABLISHED state has been reached" (_take_syn_text).
            self._update_window(seg, force=True)
            self.snd_nxt = self.snd_una  # resend our SYN, now with ACK
            self._set_state(S.SYN_RECEIVED)

    def _receive_otherwise(self, seg: Segment) -> None:
        """§3.10.7.4: SYN-RECEIVED and the synchronized states."""
        # First: check the sequence number.
        if (
            self.state is S.SYN_RECEIVED
            and seg.has(Flags.SYN)
            and not seg.has(Flags.ACK)
            and not seg.has(Flags.RST)
            and seg.seq == self.irs
        ):
            # The peer retransmitted its SYN: our SYN,ACK was lost. Answer
            # with the SYN,ACK again (as Linux does) rather than the bare ACK
            # the acceptability test would give, so the handshake recovers
            # at the peer's pace.
            self.snd_nxt = self.snd_una
            self._drop(seg, "retransmitted-syn")
            return
        if (
            self.state is S.SYN_RECEIVED
            and not self.passive
            and seg.has(Flags.SYN | Flags.ACK)
            and not seg.has(Flags.RST)
            and seg.seq == self.irs
            and seq_lt(self.snd_una, seg.ack)
            and seq_le(seg.ack, self.snd_max)
        ):
            # Simultaneous open, RFC 9293 §3.5 Figure 8 line 6: the peer's
            # SYN,ACK acknowledges our SYN -> ESTABLISHED. Its SYN was already
            # counted (SEG.SEQ = IRS fails the acceptability test), so go on
            # with the fifth step, as Linux does ("simultaneous open SYN-ACK").
            self._set_state(S.ESTABLISHED)
            self._emit(ev.Connected())
            self._update_window(seg, force=True)
            self._take_syn_text()
            if self._process_ack(seg):
                self._process_text_and_fin(seg)
            return
        if self.negotiated.timestamps and not seg.has(Flags.RST):
            ts = seg.timestamps
            if ts is None:
                # RFC 7323 §3.2: once negotiated, "a non-<RST> segment received
                # without a TSopt SHOULD be silently dropped".
                self._drop(seg, "missing-timestamps")
                return
            if self._ts_recent_valid and self._now - self._ts_recent_at > PAWS_IDLE:
                # RFC 7323 §5.5: after more than 24 days idle the peer's clock
                # may have advanced by 2**31 or more: TS.Recent is invalid.
                self._ts_recent_valid = False
            if (
                self._ts_recent_valid
                and seq_lt(ts.tsval, self.ts_recent)
                and not self._disordered_ack(seg, ts)
            ):
                # PAWS (RFC 7323 §5.3 R1): an old duplicate from an earlier
                # wrap of the sequence space. Not acceptable: ACK and drop.
                self._ack_now = True
                self._drop(seg, "paws")
                return
        if not self._acceptable(seg):
            if self.state is S.TIME_WAIT and seg.has(Flags.FIN) and not seg.has(Flags.RST) and (
                seq_add(seg.seq, seg.seg_len) == self.rcv_nxt
            ):
                # A retransmission of the peer's FIN: its ACK was lost. ACK
                # again and restart the 2 MSL timeout (§3.10.7.4, eighth step,
                # TIME-WAIT; §3.6.1).
                self._ack_now = True
                self._arm("time_wait", self._now + 2 * self.config.msl)
                self._drop(seg, "retransmitted-fin")
                return
            # "If an incoming segment is not acceptable, an acknowledgment
            # should be sent in reply (unless the RST bit is set ...)"
            if not seg.has(Flags.RST):
                self._ack_now = True
                if self.rcv_wnd == 0 and seg.has(Flags.ACK) and self.state.synchronized:
                    # "If the RCV.WND is zero, no segments will be acceptable,
                    # but special allowance should be made to accept valid
                    # ACKs" (§3.10.7.4): the peer's window probes carry the
                    # acknowledgment of our data; don't throw it away.
                    self._process_ack(seg)
            self._drop(seg, "rst-out-of-window" if seg.has(Flags.RST) else "out-of-window")
            return

        # RFC 7323 §4.3 (2): remember the peer's timestamp to echo it, if the
        # segment is not newer than what we acknowledged (SEG.SEQ =< Last.ACK.sent).
        ts = seg.timestamps
        if (
            self.negotiated.timestamps
            and ts is not None
            and (not self._ts_recent_valid or seq_ge(ts.tsval, self.ts_recent))
            and seq_le(seg.seq, self._last_ack_sent)
        ):
            self.ts_recent = ts.tsval
            self._ts_recent_valid = True
            self._ts_recent_at = self._now
        # The peer is alive: the keep-alive idle time starts again (§3.8.4).
        if "keepalive" in self._timers:
            self._keepalive_restart()

        # Second: check the RST bit (RFC 5961 §3.2 refinement).
        if seg.has(Flags.RST):
            if seg.seq != self.rcv_nxt:
                # In the window but not exact: challenge ACK (RFC 5961 §3.2).
                self._challenge_ack()
                self._drop(seg, "rst-challenged")
                return
            self._receive_rst()
            return

        # Fourth: check the SYN bit.
        if seg.has(Flags.SYN):
            if self.state is S.SYN_RECEIVED and self.passive:
                # "If the connection was initiated with a passive OPEN, then
                # return this connection to the LISTEN state and return."
                self._set_state(S.LISTEN)
                self._drop(seg, "syn-in-syn-received")
                return
            # Synchronized states: challenge ACK (RFC 5961 §4.2).
            self._challenge_ack()
            self._drop(seg, "syn-challenged")
            return

        # Fifth: check the ACK field. "if the ACK bit is off, drop the segment".
        if not seg.has(Flags.ACK):
            self._drop(seg, "no-ack")
            return
        if self.state is S.SYN_RECEIVED:
            if seq_lt(self.snd_una, seg.ack) and seq_le(seg.ack, self.snd_max):
                # "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED
                # state and continue processing with the variables
                # SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK"
                self._set_state(S.ESTABLISHED)
                self._emit(ev.Connected())
                self._update_window(seg, force=True)
                self._take_syn_text()
            else:
                # "If the segment acknowledgment is not acceptable, form a
                # reset segment <SEQ=SEG.ACK><CTL=RST>"
                self._send_rst(seq=seg.ack)
                self._drop(seg, "bad-ack-in-syn-received")
                return
        if not self._process_ack(seg):
            return

        # Sixth/seventh: URG and segment text; eighth: FIN.
        self._process_text_and_fin(seg)

    def _receive_rst(self) -> None:
        """§3.10.7.4 second step, an acceptable RST (SEQ = RCV.NXT)."""
        if self.state is S.SYN_RECEIVED:
            if self.passive:
                # "If this connection was initiated with a passive OPEN ...,
                # then return this connection to LISTEN state"
                self._set_state(S.LISTEN)
                self._emit(ev.ConnectionReset(refused=False))
            else:
                # "If this connection was initiated with an active OPEN ...
                # the connection was refused"
                self._enter_closed(ev.ConnectionReset(refused=True))
            return
        if self.state is S.TIME_WAIT and self.config.rfc1337:
            # RFC 1337 "TIME-WAIT assassination" fix: ignore RST in TIME-WAIT.
            self._trace("segment_dropped", {"reason": "rst-in-time-wait-rfc1337"})
            return
        if self.state is S.TIME_WAIT:
            # TIME-WAIT: "enter the CLOSED state, delete the TCB, and return".
            # Both directions were closed and acknowledged: no user signal,
            # the connection simply ends (RFC 1337 explains the hazard).
            self._enter_closed(ev.ConnectionClosed())
            return
        # ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT: "any outstanding RECEIVEs and
        # SEND should receive 'reset' responses ... enter the CLOSED state".
        # CLOSING, LAST-ACK: "enter the CLOSED state"; our FIN was not
        # acknowledged, so the application is told it was a reset (MUST-12).
        self._enter_closed(ev.ConnectionReset(refused=False))

    def _process_ack(self, seg: Segment) -> bool:
        """§3.10.7.4 fifth step, ESTABLISHED and later. False if the segment ends here."""
        ack = seg.ack
        # RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT];
        # others are discarded with an ACK sent back.
        if seq_gt(ack, self.snd_max):
            # "If the ACK acks something not yet sent (SEG.ACK > SND.NXT),
            # then send an ACK, drop the segment, and return."
            self._ack_now = True
            self._drop(seg, "ack-above-snd-nxt")
            return False
        if seq_lt(ack, seq_add(self.snd_una, -max(self.max_snd_wnd, 1))):
            self._ack_now = True
            self._drop(seg, "ack-too-old")
            return False
        prev_wnd = self.snd_wnd
        newly_sacked = self._sack_update(seg)
        if newly_sacked and self.in_recovery:
            self._detect_lost_retransmissions()
        if seq_gt(ack, self.snd_una):
            # "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK."
            self._on_new_ack(self._ack_advanced(ack, seg))
        elif ack == self.snd_una and self._is_duplicate_ack(seg, prev_wnd, newly_sacked):
            self._on_duplicate_ack()
        # "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be
        # updated"; "If the ACK is a duplicate (SEG.ACK < SND.UNA), it can be ignored."
        if seq_ge(ack, self.snd_una):
            self._update_window(seg)
            self._metrics()

        fin_acked = self._fin_sent and seq_ge(self.snd_una, self._fin_seq_end)
        if self.state is S.FIN_WAIT_1 and fin_acked:
            # "if the FIN segment is now acknowledged, then enter FIN-WAIT-2".
            # When this segment also carries the peer's FIN in order, the
            # eighth step's FIN-WAIT-1 rule applies instead ("If our FIN has
            # been ACKed (perhaps in this segment), then enter TIME-WAIT"):
            # the three-segment close goes straight to TIME-WAIT.
            if not (seg.has(Flags.FIN) and seq_le(seg.seq, self.rcv_nxt)):
                self._enter_fin_wait_2()
        elif self.state is S.CLOSING:
            # "if the ACK acknowledges our FIN, then enter the TIME-WAIT
            # state; otherwise, ignore the segment."
            if fin_acked:
                self._enter_time_wait()
            else:
                self._drop(seg, "closing-no-fin-ack")
            return False
        elif self.state is S.LAST_ACK:
            # "The only thing that can arrive in this state is an
            # acknowledgment of our FIN. If our FIN is now acknowledged,
            # delete the TCB, enter the CLOSED state, and return."
            if fin_acked:
                self._enter_closed(ev.ConnectionClosed())
            return False
        elif self.state is S.TIME_WAIT:
            # "The only thing that can arrive in this state is a
            # retransmission of the remote FIN. Acknowledge it, and restart
            # the 2 MSL timeout." (handled with the FIN below)
            if seg.has(Flags.FIN):
                self._ack_now = True
                self._arm("time_wait", self._now + 2 * self.config.msl)
            return False
        return True

    def _process_text_and_fin(self, seg: Segment) -> None:
        """§3.10.7.4 sixth (URG), seventh (text) and eighth (FIN) steps."""
        payload = seg.payload
        fin = seg.has(Flags.FIN)
        data_seq = seq_add(seg.seq, 1) if seg.has(Flags.SYN) else seg.seq
        if seg.has(Flags.URG) and self.state in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2):
            # Sixth: "RCV.UP <- max(RCV.UP,SEG.UP), and signal the user that the
            # remote side has urgent data if the urgent pointer (RCV.UP) is in
            # advance of the data consumed" -- once per urgent sequence.
            up = self._rcv_offset + seq_diff(seq_add(seg.seq, seg.urgent), self.rcv_nxt)
            self._rcv_up = max(self._rcv_up, up)
            if self.urgent_pending and not self._urgent_signaled:
                self._urgent_signaled = True
                self._emit(ev.UrgentDataReceived(self.urgent_pending))
        # Seventh: "In ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 states ... move
        # the segment text into user RECEIVE buffers". Other states: ignore text.
        if payload and self.state not in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2):
            payload = b""
        if payload and self.orphaned:
            # Data for an application that closed: reset (SHLD-3, §3.6.1).
            self._ctl_out.append(self._make(seq=self.snd_max, flags=Flags.RST, ack_flag=False))
            self._enter_closed(ev.ConnectionAborted())
            return
        # Trim to [RCV.NXT, RCV.NXT + RCV.WND) (§3.10.7.4 first step note).
        off = seq_diff(data_seq, self.rcv_nxt)
        if off < 0:
            payload = payload[-off:]
            off = 0
        room = self.rcv_wnd - off
        if len(payload) > room:
            payload = payload[: max(room, 0)]
            fin = False  # the FIN lies beyond the window
        if fin and self._peer_fin_offset is None and not self.fin_received:
            self._peer_fin_offset = self._rcv_offset + off + len(payload)
        if payload:
            if off == 0:
                self._deliver(payload)
                if self._ooo:
                    # A hole was filled: ACK at once (RFC 5681 §4.2).
                    self._deliver(self._ooo.pop_contiguous(self._rcv_offset))
                    self._ack_now = True
                else:
                    self._schedule_ack(len(payload))
            else:
                # Out of order: keep it (SHLD-31) and send a duplicate ACK at
                # once, one per segment even when several arrive together, so
                # the sender can count them (RFC 5681 §4.2, §3.2).
                self._ooo.add(self._rcv_offset + off, payload)
                if self.negotiated.sack:
                    self._sack_recent.insert(0, self._rcv_offset + off)
                self._ctl_out.append(self._make(seq=self.snd_max))
        elif seg.payload or (seg.seg_len and not fin):
            self._ack_now = True  # old duplicate data: re-ACK
        elif fin and off > 0:
            # A FIN beyond a hole is an out-of-order segment: duplicate ACK at
            # once (RFC 5681 §4.2); the FIN waits for the hole (eighth step).
            self._ack_now = True
        # Eighth: the FIN, honoured only once everything before it arrived.
        if self._peer_fin_offset is not None and self._peer_fin_offset == self._rcv_offset:
            self._receive_fin()
        elif self.state is S.FIN_WAIT_1 and self._fin_sent and seq_ge(
            self.snd_una, self._fin_seq_end
        ):
            self._enter_fin_wait_2()  # our FIN is acknowledged; the peer's FIN was not usable

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
            and (syn.payload or syn.has(Flags.FIN))
            and self.rcv_nxt == seq_add(self.irs, 1)
        ):
            self._process_text_and_fin(syn)

    def _receive_fin(self) -> None:
        """§3.10.7.4 eighth step: the FIN is in order."""
        self._peer_fin_offset = None
        self.fin_received = True
        # "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN"
        self.rcv_nxt = seq_add(self.rcv_nxt, 1)
        if seq_lt(self._rcv_adv, self.rcv_nxt):
            self._rcv_adv = self.rcv_nxt
        self._ack_now = True
        self._emit(ev.PeerClosed())
        if self.state in (S.SYN_RECEIVED, S.ESTABLISHED):
            self._set_state(S.CLOSE_WAIT)
        elif self.state is S.FIN_WAIT_1:
            if self._fin_sent and seq_ge(self.snd_una, self._fin_seq_end):
                # "If our FIN has been ACKed ... enter TIME-WAIT"
                self._enter_time_wait()
            else:
                # "otherwise, enter the CLOSING state"
                self._set_state(S.CLOSING)
        elif self.state is S.FIN_WAIT_2:
            # "Enter the TIME-WAIT state. Start the time-wait timer, turn off
            # the other timers."
            self._enter_time_wait()
        # CLOSE-WAIT, CLOSING, LAST-ACK: remain. TIME-WAIT: handled in step 5.

    # ------------------------------------------------------------------
    # Timers (RFC 9293 §3.10.8, RFC 6298)
    # ------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        """Fire every timer whose deadline is at or before ``now`` (seconds)."""
        self._touch(now)
        for name in TIMERS:
            at = self._timers.get(name)
            if at is None or at > now or self.state is S.CLOSED:
                continue
            del self._timers[name]
            self._trace("timer_fired", {"timer": name})
            getattr(self, f"_on_{name}")()

    def _on_rto(self) -> None:
        """Retransmission timeout (§3.10.8, RFC 6298 §5.4-5.6)."""
        if self.in_flight <= 0 and not self._syn_pending():
            return
        syn = self.state in (S.SYN_SENT, S.SYN_RECEIVED)
        r2 = self.config.r2_syn if syn else self.config.r2
        started = self._first_sent_at if self._first_sent_at is not None else self._now
        if r2 is not None and self._now - started >= r2:
            # R2 exceeded: "close the connection" (§3.8.3, MUST-20).
            fin_only = self._fin_queued and self.snd_una == self._fin_seq
            reason = "syn" if syn else ("fin" if fin_only else "data")
            self._enter_closed(ev.ConnectionTimedOut(reason))
            return
        self._retransmits += 1
        if self._retransmits >= self.config.r1 and not self._soft_error_reported:
            # R1 reached: advise the application (§3.8.3, SHLD-9).
            self._soft_error_reported = True
            self._emit(ev.SoftError(self._retransmits))
        if syn:
            self._syn_retransmitted = True
        # RFC 5681 §3.1 (4): ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1 SMSS.
        self.cc.on_timeout(self.in_flight)
        # RFC 6582 §3.2 (5) / RFC 6675 §5.1: leave recovery; no new recovery
        # until everything sent so far is acknowledged.
        self._recover = self._high_data()
        self.in_recovery = False
        self.dupacks = 0
        self._lt_bytes = 0
        self._fast_rexmit = False
        self._tlp_pending = False
        self._tlp_rexmit = None
        self._tlp_new_data = False
        self._rexmit_high.clear()
        self._lost_again.clear()
        if self._scoreboard is not None:
            self._scoreboard.reset_after_timeout(keep_sacks=True)
        # RFC 6298 §5.5: back off; §5.4: retransmit the earliest segment
        # (go back: snd_nxt returns to snd_una; SACKed data is skipped).
        # Karn: stop timing (timestamps make samples unambiguous, RFC 7323 §4).
        self.rtt.backoff()
        self.snd_nxt = self.snd_una
        self._metrics()

    def _on_persist(self) -> None:
        """Persist timer (§3.8.6.1): probe a zero window, or override sender SWS."""
        if self.unsent <= 0 and not self._fin_unsent():
            return
        if self._usable_window() > 0:
            self._force_send = True  # SWS override timer (§3.8.6.2.1)
        else:
            # Zero-window probe: <SEQ=SND.UNA-1> draws an ACK with the current window.
            self._ctl_out.append(self._make(seq=seq_add(self.snd_una, -1)))
            self._persist_backoff = min(self._persist_backoff * 2, self.config.rto_max)
        self._arm("persist", self._now + self._persist_backoff)

    def _on_keepalive(self) -> None:
        """Keep-alive timer (§3.8.4): probe an idle connection, or give up."""
        if not self.config.keepalive or self.state not in KEEPALIVE_STATES:
            return
        if self.in_flight > 0 or self.unsent > 0:
            # MUST-26: only an idle connection is probed; the retransmission
            # and persist timers watch this one.
            self._arm("keepalive", self._now + self.config.keepalive_idle)
            return
        if self._keepalive_probes >= self.config.keepalive_count:
            # keepalive_count probes went unanswered: the peer is gone. Like
            # Linux, tell it with a RST in case it is only unreachable.
            self._ctl_out.append(self._make(seq=self.snd_max, flags=Flags.RST, ack_flag=False))
            self._enter_closed(ev.ConnectionTimedOut("keepalive"))
            return
        # The probe: <SEQ=SND.NXT-1><ACK=RCV.NXT>, no data (SHLD-12). Its
        # sequence number is old, so a live peer must answer with an ACK.
        self._ctl_out.append(self._make(seq=seq_add(self.snd_max, -1)))
        self._keepalive_probes += 1
        self._arm("keepalive", self._now + self.config.keepalive_interval)

    def _keepalive_restart(self) -> None:
        """Start the idle period again (after traffic from the peer, or a switch)."""
        self._keepalive_probes = 0
        if self.config.keepalive and self.state in KEEPALIVE_STATES:
            self._arm("keepalive", self._now + self.config.keepalive_idle)
        else:
            self._timers.pop("keepalive", None)

    def _on_delayed_ack(self) -> None:
        """Delayed-ACK timer (§3.8.6.3): the ACK is due now."""
        self._ack_now = True

    def _on_time_wait(self) -> None:
        """2 MSL elapsed in TIME-WAIT (§3.10.8): delete the TCB."""
        if self.state is S.TIME_WAIT:
            self._enter_closed(ev.ConnectionClosed())

    def _on_fin_wait_2(self) -> None:
        """An orphaned connection waited long enough for the peer's FIN (Linux tcp_fin_timeout)."""
        if self.state is S.FIN_WAIT_2:
            self._enter_closed(ev.ConnectionTimedOut("fin-wait-2"))

    # ------------------------------------------------------------------
    # Output
    # ------------------------------------------------------------------

    def packets_to_send(self, now: float) -> list[Segment]:
        """Segments to transmit now, in order (RFC 9293 §3.8, §3.9.1.2).

        Includes control segments (RSTs, challenge ACKs, probes), the SYN or
        SYN,ACK, data and FIN allowed by the windows, and a pure ACK when one
        is due. Arms the timers the sent segments need.
        """
        self._touch(now)
        out = self._ctl_out
        self._ctl_out = []
        if self.state is S.CLOSED:
            for seg in out:
                self._trace_segment("segment_sent", seg)
            return out
        if self._syn_pending():
            out.append(self._syn_segment())
        elif self.state not in (S.LISTEN, S.SYN_SENT, S.SYN_RECEIVED):
            # Data waits for ESTABLISHED (§3.10.2: queued in SYN-SENT/SYN-RECEIVED).
            out.extend(self._data_segments())
        carries_ack = any(s.has(Flags.ACK) and not s.has(Flags.RST) for s in out)
        if self._ack_now and not carries_ack and self.state not in (S.LISTEN, S.SYN_SENT):
            out.append(self._make(seq=self.snd_max))
        if any(s.has(Flags.ACK) for s in out if not s.has(Flags.RST)):
            self._ack_sent()
        for seg in out:
            self._trace_segment("segment_sent", seg)
        return out

    def _syn_pending(self) -> bool:
        """Our SYN (or SYN,ACK) is due: first send, or resend after a timeout."""
        return (
            self.state in (S.SYN_SENT, S.SYN_RECEIVED, S.FIN_WAIT_1)
            and self.snd_nxt == self.iss
            and self.snd_una == self.iss
        )

    def _syn_segment(self) -> Segment:
        """The SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED), first or retransmitted."""
        # MSS always (MUST-14, SHLD-5); window scale, timestamps, SACK-permitted
        # offered on a SYN, and on a SYN,ACK only if the peer's SYN had them.
        answering = self._peer_syn if self.state is not S.SYN_SENT else None
        opts = syn_options(self.config, mss=self.rcv_mss, tsval=self._tsval(), peer_syn=answering)
        if self.state is S.SYN_SENT:
            seg = self._make(seq=self.iss, flags=Flags.SYN, ack_flag=False, options=opts)
        else:
            seg = self._make(seq=self.iss, flags=Flags.SYN, options=opts)
        self._sent_seq_space(self.iss, 1)
        return seg

    def _data_segments(self) -> list[Segment]:
        """Data and FIN segments the windows, Nagle and SWS avoidance allow (§3.7.4, §3.8.6.2.1)."""
        out: list[Segment] = []
        if self._fast_rexmit:
            # Fast retransmit, or a NewReno partial ACK: resend the first
            # unacknowledged segment (RFC 5681 §3.2 (2), RFC 6582 §3.2 (3)).
            self._fast_rexmit = False
            if seq_lt(self.snd_una, self.snd_max):
                out.append(self._retransmit(self._off(self.snd_una)))
        if self._tlp_rexmit is not None:
            # Tail loss probe: the last segment again (RFC 8985 §7.3).
            start, self._tlp_rexmit = self._tlp_rexmit, None
            if start < self._high_data():
                out.append(self._retransmit(start))
        while self._lost_again and self.in_recovery:
            start = self._lost_again.pop(0)
            if start >= self._off(self.snd_una):
                out.append(self._retransmit(start))
        if self.in_recovery and self._scoreboard is not None:
            out.extend(self._sack_recovery())
        probe_room = self._seg_size() if self._tlp_new_data else 0
        self._tlp_new_data = False
        force = self._force_send
        self._force_send = False
        size = self._seg_size()
        if (
            self.in_flight == 0
            and self.unsent > 0
            and self._last_send_at is not None
            and self._now - self._last_send_at > self.rtt.rto
        ):
            # RFC 5681 §4.1: after sending nothing for more than an RTO, restart
            # from at most the initial window (the ACK clock has stopped).
            self.cc.on_idle()
        sb = self._scoreboard
        while True:
            offset = seq_diff(self.snd_nxt, self._sndbuf_seq)
            if offset < 0:  # SYN not yet acknowledged but being resent: handled by _syn_segment
                break
            avail = len(self._sndbuf) - offset
            usable = self._usable_window() + probe_room  # a TLP may exceed cwnd by one
            n = min(avail, usable, size)
            if sb is not None and n > 0 and seq_lt(self.snd_nxt, self.snd_max):
                # Going back after a timeout: skip what the receiver SACKed
                # (RFC 6675 §5.1) and stop short of the next SACKed block.
                skip, limit = self._sack_skip(self._sndbuf_off + offset)
                if skip:
                    self.snd_nxt = seq_min(seq_add(self.snd_nxt, skip), self.snd_max)
                    continue
                n = min(n, limit)
            fin_here = self._fin_unsent() and n == avail
            if n <= 0:
                if fin_here and avail == 0:
                    # The FIN alone (it needs no window space beyond its own octet).
                    out.append(self._emit_data(offset, 0, fin=True))
                    continue
                if avail > 0:
                    self._arm_persist()  # zero usable window: probe it (MUST-35/36)
                break
            retransmission = seq_lt(self.snd_nxt, self.snd_max)
            if n < size and not force and not retransmission:
                # (Retransmissions go out as they are: Nagle and SWS apply to new data.)
                in_flight = self.in_flight > 0
                if n == avail:
                    # The tail of the queue: Nagle holds it while data is
                    # unacknowledged (SHLD-7), unless switched off (MUST-17).
                    if in_flight and self.config.nagle and not fin_here:
                        break
                elif in_flight or n < self.max_snd_wnd // 2:
                    # Sender SWS avoidance (MUST-38): a small window-limited
                    # segment waits for more window (or the override timer).
                    if not in_flight:
                        self._arm_persist(override=True)
                    break
            force = False
            probe_room = 0
            if not retransmission and self.dupacks and not self.in_recovery:
                # Limited transmit (RFC 3042): note how far beyond cwnd this
                # goes, to leave it out of FlightSize (RFC 5681 §3.2 (2)).
                beyond = seq_diff(self.snd_nxt, self.snd_una) + n - self.cc.cwnd
                self._lt_bytes = max(self._lt_bytes, beyond)
            out.append(self._emit_data(offset, n, fin=fin_here))
        return out

    def _emit_data(self, offset: int, n: int, *, fin: bool) -> Segment:
        """The segment at SND.NXT: ``n`` bytes from buffer index ``offset``, maybe the FIN."""
        seq = self.snd_nxt
        seg = self._data_segment(seq, offset, n, fin=fin)
        self._timers.pop("persist", None)
        return seg

    def _data_segment(self, seq: int, offset: int, n: int, *, fin: bool) -> Segment:
        """Build and account for a data segment at ``seq`` (new or retransmitted)."""
        payload = bytes(self._sndbuf[offset : offset + n])
        flags = Flags.ACK
        if n and offset + n == len(self._sndbuf):
            flags |= Flags.PSH  # MUST-61: PSH on the last buffered segment
        if fin:
            flags |= Flags.FIN
        urgent = 0
        if self._snd_up is not None and self._sndbuf_off + offset < self._snd_up:
            # §3.8.5: URG with the pointer to the first non-urgent octet, as an
            # offset from SEG.SEQ (at most 65535; it advances as we go).
            flags |= Flags.URG
            urgent = min(self._snd_up - (self._sndbuf_off + offset), 0xFFFF)
        seg = self._make(seq=seq, flags=flags, payload=payload, urgent=urgent)
        if self._scoreboard is not None and n:
            start = self._sndbuf_off + offset
            self._scoreboard.on_sent(start, start + n, retransmission=seq_lt(seq, self.snd_max))
        self._sent_seq_space(seq, n + (1 if fin else 0))
        return seg

    def _retransmit(self, start: int, end: int | None = None) -> Segment:
        """Resend data from stream offset ``start`` (up to ``end`` or one segment), without
        moving SND.NXT; the FIN rides along if the segment reaches it."""
        if self.in_recovery and self._scoreboard is not None:
            self._rexmit_high[start] = self._high_data()
        offset = start - self._sndbuf_off
        sent_end = seq_diff(self.snd_max, self._sndbuf_seq)  # buffer index, FIN included
        n = min(self._seg_size(), len(self._sndbuf) - offset, max(sent_end - offset, 0))
        if end is not None:
            n = min(n, end - start)
        fin = self._fin_sent and offset + n == len(self._sndbuf)
        return self._data_segment(seq_add(self._sndbuf_seq, offset), offset, max(n, 0), fin=fin)

    def _sack_recovery(self) -> list[Segment]:
        """RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, send what NextSeg() picks."""
        sb = self._scoreboard
        assert sb is not None
        out: list[Segment] = []
        data_end = self._sndbuf_off + len(self._sndbuf)
        for _ in range(4096):  # bounded: each pass sends one segment
            una, high = self._off(self.snd_una), self._high_data()
            if self.cc.cwnd - sb.pipe(una, high) < self.snd_mss:
                break
            chosen = sb.next_seg(una, high, unsent=data_end - high, rwnd_end=una + self.snd_wnd)
            if chosen is None:
                break
            start, end = chosen
            if start >= high:  # rule (2): new data, from SND.NXT
                offset = start - self._sndbuf_off
                n = min(end - start, len(self._sndbuf) - offset)
                if n <= 0 or self.snd_nxt != self.snd_max:
                    break
                out.append(self._emit_data(offset, n, fin=self._fin_queued and
                                           offset + n == len(self._sndbuf)))
            else:  # rules (1), (3), (4): a retransmission
                out.append(self._retransmit(start, end))
        return out

    def _sack_skip(self, start: int) -> tuple[int, int]:
        """For a resend from stream offset ``start``: bytes to skip because they are
        SACKed (0 if none), and how far we may send before the next SACKed block."""
        assert self._scoreboard is not None
        for left, right in self._scoreboard.blocks():
            if left <= start < right:
                return right - start, 0
            if left > start:
                return 0, left - start
        return 0, 1 << 62

    def _sent_seq_space(self, seq: int, length: int) -> None:
        """Account for ``length`` sequence numbers sent at ``seq``: SND.NXT, timers, RTT timing."""
        end = seq_add(seq, length)
        retransmission = seq_lt(seq, self.snd_max)
        if seq_gt(end, self.snd_nxt):
            self.snd_nxt = end
        if seq_gt(end, self.snd_max):
            self.snd_max = end
        self._last_send_at = self._now
        if self._first_sent_at is None:
            self._first_sent_at = self._now
        if retransmission and self._rtt_seq is not None and seq_lt(seq, self._rtt_seq):
            # Karn's rule (RFC 6298 §3): no sample from our own clock now. With
            # timestamps, only an echo of this latest transmission (or newer)
            # measures a round trip: an echo of an earlier one would include
            # the timeout (the ACK for the first copy was lost).
            self._rtt_retransmitted = True
            self._rtt_tsval = self._tsval()
        elif self._rtt_seq is None and length and not retransmission:
            self._rtt_seq = end
            self._rtt_sent_at = self._now
            self._rtt_tsval = self._tsval()
            self._rtt_retransmitted = False
        if "rto" not in self._timers:
            # RFC 6298 §5.1: start the timer if it is not running.
            self._arm("rto", self._now + self.rtt.rto)
        if not retransmission and length:
            self._arm_tlp()  # RFC 8985 §7.2: (re)schedule after new data

    # Segments without data, SYN or FIN carry SND.MAX, the next unsent octet:
    # after a timeout SND.NXT is rolled back to SND.UNA for retransmission,
    # and a pure ACK with that older number would be unacceptable to a peer
    # that already has those bytes (it would answer with an ACK: an ACK war).
    # This is what BSD does (tcp_output: "use snd_max instead of snd_nxt").

    def _make(
        self,
        *,
        seq: int,
        flags: Flags = NO_FLAGS,
        ack_flag: bool = True,
        options: tuple[TcpOption, ...] = (),
        payload: bytes = b"",
        urgent: int = 0,
    ) -> Segment:
        """Build a segment from our side of the TCB, advertising the current window.

        Adds the timestamps option to every non-RST segment once negotiated
        (RFC 7323 §3.2) and SACK blocks to pure ACKs while data is held out
        of order (RFC 2018 §4). SYN windows are never scaled (RFC 7323 §2.2).
        """
        if ack_flag:
            flags |= Flags.ACK
        ack = self.rcv_nxt if flags & Flags.ACK else 0
        if flags & Flags.RST:
            window = 0
        elif flags & Flags.SYN:
            window = min(self._advertise(), 65535)
        else:
            window = min(self._advertise() >> self.negotiated.rcv_wscale, 65535)
            extra: list[TcpOption] = []
            if self.negotiated.timestamps:
                extra += [Nop(), Nop(), Timestamps(self._tsval(), self.ts_recent)]
            if self.negotiated.sack and flags & Flags.ACK and not payload and self._ooo:
                blocks = self._sack_blocks(3 if self.negotiated.timestamps else 4)
                extra += [Nop(), Nop(), Sack(blocks)]
            options = (*options, *extra)
        if flags & Flags.ACK:
            self._last_ack_sent = self.rcv_nxt
        return Segment(
            src_port=self.local.port,
            dst_port=self.remote.port,
            seq=seq,
            ack=ack,
            flags=flags,
            window=window,
            urgent=urgent,
            options=options,
            payload=payload,
        )

    def _send_rst(self, *, seq: int) -> None:
        """Queue <SEQ=seq><CTL=RST> (no ACK)."""
        self._ctl_out.append(self._make(seq=seq, flags=Flags.RST, ack_flag=False))

    def _challenge_ack(self) -> None:
        """RFC 5961 §3.2/§4.2 challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>, rate-limited (§7)."""
        second = float(int(self._now))
        if second != self._challenge_window:
            self._challenge_window = second
            self._challenge_count = 0
        if self._challenge_count >= self.config.challenge_ack_limit:
            return
        self._challenge_count += 1
        self._ctl_out.append(self._make(seq=self.snd_max))

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    @property
    def _fin_seq(self) -> int:
        """Sequence number of our FIN (valid once queued)."""
        return seq_add(self._sndbuf_seq, len(self._sndbuf))

    @property
    def _fin_seq_end(self) -> int:
        return seq_add(self._fin_seq, 1)

    @property
    def _fin_sent(self) -> bool:
        return self._fin_queued and seq_gt(self.snd_max, self._fin_seq)

    def _fin_unsent(self) -> bool:
        return self._fin_queued and seq_le(self.snd_nxt, self._fin_seq)

    def _usable_window(self) -> int:
        """Bytes we may send beyond SND.NXT: min(SND.WND, cwnd) from SND.UNA (RFC 5681 §2).

        On the first DupThresh-1 duplicate ACKs, limited transmit lets one
        more segment out per duplicate ACK (RFC 3042).
        """
        cwnd = self.cc.cwnd
        # RFC 3042 §2: limited transmit sends "previously unsent data" only; after
        # a timeout (SND.NXT rolled back below SND.MAX) dup ACKs release nothing.
        if (
            self.config.limited_transmit
            and not self.in_recovery
            and self.dupacks
            and self.snd_nxt == self.snd_max
        ):
            cwnd += min(self.dupacks, 2) * self.snd_mss
        return max(0, min(self.snd_wnd, cwnd) - seq_diff(self.snd_nxt, self.snd_una))

    def _arm_persist(self, *, override: bool = False) -> None:
        """Arm the persist timer: a zero-window probe after one RTO (SHLD-29), or,
        with ``override``, the sender-SWS override timer, 0.1-1.0 s (§3.8.6.2.1)."""
        if "persist" not in self._timers and "rto" not in self._timers:
            rto = self.rtt.rto
            self._persist_backoff = min(max(rto, 0.1), 1.0) if override else rto
            self._arm("persist", self._now + self._persist_backoff)

    def _arm_fin_wait_2(self) -> None:
        if self.config.fin_wait_2_timeout is not None:
            self._arm("fin_wait_2", self._now + self.config.fin_wait_2_timeout)

    def _ack_advanced(self, ack: int, seg: Segment | None = None) -> int:
        """SND.UNA moves to ``ack``: free the buffer, sample RTT, manage the RTO timer.

        Returns the number of data bytes newly acknowledged.
        """
        syn_acked = seq_le(self.snd_una, self.iss) and seq_gt(ack, self.iss)
        if syn_acked and self._syn_retransmitted:
            # RFC 6298 §5.7: RTO of at least 3 s once data transmission begins.
            self.rtt.set_floor(self.config.rto_syn_after_retry)
            # RFC 5681 §3.1: "If the SYN or SYN/ACK is lost, the initial window
            # used by a sender after a correctly transmitted SYN MUST be one
            # segment" (taking the peer's MSS reset cwnd to the full IW).
            self.cc.cwnd = min(self.cc.cwnd, self.snd_mss)
        self.snd_una = ack
        if seq_lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        data_acked = max(0, min(seq_diff(ack, self._sndbuf_seq), len(self._sndbuf)))
        if data_acked:
            del self._sndbuf[:data_acked]
            self._sndbuf_seq = seq_add(self._sndbuf_seq, data_acked)
            self._sndbuf_off += data_acked
            if self._snd_up is not None and self._sndbuf_off >= self._snd_up:
                self._snd_up = None  # the urgent data is acknowledged: urgent mode ends
            if self._send_short and self.send_space > 0 and not self._fin_queued:
                self._send_short = False
                self._emit(ev.SendBufferAvailable(self.send_space))
        # One RTT sample per round trip (RFC 6298 §2): from the echoed
        # timestamp when negotiated (RFC 7323 §4.1), else from our own clock
        # for a segment never retransmitted (Karn's rule, RFC 6298 §3).
        if self._rtt_seq is not None and seq_ge(ack, self._rtt_seq):
            ts = seg.timestamps if seg is not None and self.negotiated.timestamps else None
            if self.negotiated.timestamps:
                if ts is not None and ts.tsecr and seq_ge(ts.tsecr, self._rtt_tsval):
                    # The echo is at least as new as the last transmission of the
                    # timed data (RFC 7323 §4.1). An older echo comes from an ACK
                    # for a duplicate (TS.Recent is only updated by in-window
                    # segments, §4.3) and would measure the whole loss episode;
                    # such samples are skipped.
                    self.rtt.sample(((self._tsval() - ts.tsecr) & 0xFFFFFFFF) / 1000)
            elif not self._rtt_retransmitted:
                self.rtt.sample(self._now - self._rtt_sent_at)
            self._rtt_seq = None
        # Otherwise no sample: a backed-off RTO stays until a valid RTT sample
        # (Karn's algorithm, RFC 6298 §3 and the note after §5.7: only a new
        # measurement may "collapse" the RTO after rule 5.5 doubled it).
        self._retransmits = 0
        self._soft_error_reported = False
        # RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
        self._timers.pop("rto", None)
        if self.in_flight > 0:
            self._first_sent_at = self._now
            self._arm("rto", self._now + self.rtt.rto)
        else:
            self._first_sent_at = None
        self._tlp_pending = False
        self._arm_tlp()  # RFC 8985 §7.2: an ACK for new data reschedules the probe
        return data_acked

    def _on_new_ack(self, acked: int) -> None:
        """SND.UNA advanced by ``acked`` data bytes: grow cwnd, or go on with recovery."""
        self.dupacks = 0
        self._tlp_pending = False
        self._lt_bytes = 0
        if not self.in_recovery:
            self.cc.on_ack(acked, self.in_flight)  # RFC 5681 §3.1
            return
        if self._off(self.snd_una) >= self._recover:
            # Full acknowledgment: recovery is over (RFC 6582 §3.2 (3),
            # RFC 6675 §5 (A)).
            self.in_recovery = False
            self._rexmit_high.clear()
            self._lost_again.clear()
            if self._scoreboard is not None:
                self._scoreboard.exit_recovery()
            self.cc.on_exit_recovery(self.in_flight)
            return
        # Partial acknowledgment (RFC 6582 §3.2 (3)): deflate cwnd; without
        # SACK, resend the next hole at once (with SACK, NextSeg finds it).
        self.cc.on_partial_ack(acked)
        if self._scoreboard is None:
            self._fast_rexmit = True

    def _is_duplicate_ack(self, seg: Segment, prev_wnd: int, newly_sacked: int) -> bool:
        """RFC 5681 §2 "duplicate acknowledgment" (SEG.ACK = SND.UNA already checked).

        Outstanding data, no data or SYN/FIN in the ACK, and the same window;
        with SACK, an ACK that SACKs new data counts instead (RFC 6675 §2).
        """
        if self.in_flight <= 0 or seg.payload or seg.has(Flags.SYN) or seg.has(Flags.FIN):
            return False
        if self._scoreboard is not None and seg.sack_blocks:
            return newly_sacked > 0
        return self._peer_window(seg) == prev_wnd

    def _on_duplicate_ack(self) -> None:
        """Count a duplicate ACK; at DupThresh (or IsLost with SACK) start recovery."""
        self.dupacks += 1
        if self.in_recovery:
            self.cc.on_recovery_dupack()  # RFC 5681 §3.2 (4): inflate (not with SACK)
            return
        una = self._off(self.snd_una)
        sb = self._scoreboard
        lost = sb is not None and sb.is_lost(una)  # RFC 6675 §5 (3)(b)
        # Early retransmit (RFC 5827 §3.1): with two or three segments
        # outstanding and nothing new to send, DupThresh duplicate ACKs can
        # never arrive; wait for one fewer than the segments in flight. (With
        # one segment, no later segment can draw a duplicate ACK at all.)
        threshold = self.config.dupthresh
        segments = -(-self.in_flight // self.snd_mss)
        if 2 <= segments < 4 and self.unsent == 0:
            threshold = min(threshold, segments - 1)
        # RFC 6582 §3.2 (2): no new recovery until "recover" is acknowledged.
        if (self.dupacks >= threshold or lost) and una >= self._recover:
            self._enter_recovery()

    def _enter_recovery(self) -> None:
        """Fast retransmit (RFC 5681 §3.2 (2)-(3), RFC 6582, RFC 6675 §5 (4))."""
        self.in_recovery = True
        self._recover = self._high_data()  # RecoveryPoint = HighData
        # RFC 5681 §3.2 (2): "When [RFC3042] is in use, additional data sent in
        # limited transmit MUST NOT be included in this calculation" (FlightSize).
        flight = max(0, self.in_flight - self._lt_bytes)
        self._lt_bytes = 0
        self.cc.on_enter_recovery(flight, sack=self._scoreboard is not None)
        if self._scoreboard is not None:
            self._scoreboard.enter_recovery(self._recover)
        self._fast_rexmit = True
        self._metrics()

    def _disordered_ack(self, seg: Segment, ts: Timestamps) -> bool:
        """A pure duplicate ACK overtaken by a newer segment, exempt from PAWS.

        Reordering makes such ACKs arrive with a TSval older than TS.Recent;
        dropping them would lose the SACK information and duplicate-ACK count
        loss recovery needs. Like Linux (tcp_disordered_ack): no data, at
        RCV.NXT, acknowledging exactly SND.UNA, not changing the window, and
        at most one RTO older than TS.Recent.
        """
        return (
            not seg.payload
            and seg.flags & (Flags.SYN | Flags.FIN | Flags.RST) == 0
            and seg.has(Flags.ACK)
            and seg.seq == self.rcv_nxt
            and seg.ack == self.snd_una
            and self._peer_window(seg) == self.snd_wnd
            and seq_diff(self.ts_recent, ts.tsval) <= int(self.rtt.rto * 1000)
        )

    def _arm_tlp(self) -> None:
        """Schedule a tail loss probe (RFC 8985 §7.2) before the RTO would fire.

        PTO = 2 * SRTT (plus a delayed-ACK allowance when one segment is in
        flight); only with SACK, outside recovery, one probe per episode.
        """
        self._timers.pop("tlp", None)
        if (
            not self.config.tail_loss_probe
            or self._scoreboard is None
            or self.in_recovery
            or self._tlp_pending
            or self.in_flight <= 0
            or self.state not in (S.ESTABLISHED, S.CLOSE_WAIT)
        ):
            return
        srtt = self.rtt.srtt
        pto = 2 * srtt if srtt is not None else 1.0
        if self.in_flight <= self.snd_mss:
            pto += WORST_CASE_DELAYED_ACK
        at = self._now + pto
        rto_at = self._timers.get("rto")
        if rto_at is None or at < rto_at:
            self._arm("tlp", at)

    def _on_tlp(self) -> None:
        """Probe timeout (RFC 8985 §7.3): send new data if the window allows,
        else retransmit the last segment, to draw an ACK with SACK blocks."""
        if self.in_recovery or self.in_flight <= 0 or self._tlp_pending:
            return
        self._tlp_pending = True
        window_left = self.snd_wnd - seq_diff(self.snd_max, self.snd_una)
        if self.unsent > 0 and window_left >= min(self._seg_size(), self.unsent):
            self._tlp_new_data = True
        else:
            high = self._high_data()
            self._tlp_rexmit = max(self._off(self.snd_una), high - self._seg_size())
        # "After sending a TLP, the sender MUST arm the RTO timer."
        self._timers.pop("rto", None)
        self._arm("rto", self._now + self.rtt.rto)

    def _detect_lost_retransmissions(self) -> None:
        """A retransmission is lost if data sent after it is SACKed while it is not.

        RFC 6675 alone only notices this at the RTO; RACK (RFC 8985 §6.2)
        and Linux's tcp_mark_lost_retrans resend it at once instead.
        """
        sb = self._scoreboard
        if sb is None:
            return
        una = self._off(self.snd_una)
        top = max((right for _, right in sb.blocks()), default=una)
        for start, high in list(self._rexmit_high.items()):
            if start < una or sb.is_sacked(start):
                del self._rexmit_high[start]
            elif top > high and start not in self._lost_again:
                self._lost_again.append(start)
                del self._rexmit_high[start]

    def _sack_update(self, seg: Segment) -> int:
        """Feed the ACK's SACK blocks to the scoreboard; returns newly SACKed bytes."""
        sb = self._scoreboard
        if sb is None or not seq_le(self.snd_una, seg.ack):
            return 0
        blocks = [(self._off(left), self._off(right)) for left, right in seg.sack_blocks]
        return sb.on_ack(self._off(seg.ack), blocks)

    def _sack_blocks(self, limit: int) -> tuple[tuple[int, int], ...]:
        """SACK blocks for an ACK (RFC 2018 §4): the block holding the newest
        segment first, then "the most recently reported SACK blocks", then the
        highest other blocks held."""
        held = self._ooo.blocks()
        starts = [a for a, _ in held]
        chosen: list[tuple[int, int]] = []
        for off in self._sack_recent:
            i = bisect_right(starts, off) - 1
            if len(chosen) < limit and i >= 0 and off < held[i][1] and held[i] not in chosen:
                chosen.append(held[i])
        for block in reversed(held):
            if len(chosen) >= limit:
                break
            if block not in chosen:
                chosen.append(block)
        self._sack_recent = [a for a, _ in chosen]  # what this ACK reports, in order
        base = self._rcv_offset
        return tuple(
            (seq_add(self.rcv_nxt, a - base), seq_add(self.rcv_nxt, b - base))
            for a, b in chosen
        )

    def _off(self, seq: int) -> int:
        """Stream offset of send sequence number ``seq`` (data byte 0 is ISS+1)."""
        return self._sndbuf_off + seq_diff(seq, self._sndbuf_seq)

    def _high_data(self) -> int:
        """HighData: stream offset one past the highest data byte sent (RFC 6675)."""
        return min(self._off(self.snd_max), self._sndbuf_off + len(self._sndbuf))

    def _seg_size(self) -> int:
        """Data bytes per full segment: SMSS less the timestamps option (MUST-16)."""
        return self.snd_mss - (TS_OPTION_SPACE if self.negotiated.timestamps else 0)

    def _tsval(self) -> int:
        """Our timestamp clock: milliseconds plus a per-connection offset (RFC 7323 §5.4)."""
        return (int(self._now * 1000) + self._ts_offset) & 0xFFFFFFFF

    def _peer_window(self, seg: Segment) -> int:
        """SEG.WND in bytes: scaled, except on a SYN (RFC 7323 §2.2)."""
        return seg.window if seg.has(Flags.SYN) else seg.window << self.negotiated.snd_wscale

    def _take_syn(self, seg: Segment) -> None:
        """The peer's SYN: IRS, RCV.NXT, options in use, MSS (§3.10.7.2-3, RFC 7323, RFC 2018)."""
        self.irs = seg.seq
        self.rcv_nxt = seq_add(seg.seq, 1)
        self._peer_syn = seg
        self.negotiated = negotiate(self.config, seg)
        # Our SYN's window is never scaled: at most 65535 (RFC 7323 §2.2).
        free = max(0, self.config.recv_buffer - len(self._rcvbuf))
        self._rcv_adv = seq_add(self.rcv_nxt, min(free, 65535))
        ts = seg.timestamps
        if self.negotiated.timestamps and ts is not None:
            self.ts_recent = ts.tsval  # RFC 7323 §4.3 (1)
            self._ts_recent_valid = True
            self._ts_recent_at = self._now
        self._take_peer_mss(seg)
        if self.negotiated.sack:
            self._scoreboard = Scoreboard(self._seg_size(), self.config.dupthresh)

    def _update_window(self, seg: Segment, *, force: bool = False) -> None:
        """Send-window update (§3.10.7.4 fifth step): only from newer segments (SND.WL1/WL2)."""
        if force or seq_lt(self.snd_wl1, seg.seq) or (
            self.snd_wl1 == seg.seq and seq_le(self.snd_wl2, seg.ack)
        ):
            window = self._peer_window(seg)
            opened = window > self.snd_wnd
            if opened and self.snd_wnd == 0 and self._first_sent_at is not None:
                # SHLD-17 (RFC 9293 §3.8.6): data held beyond a closed window
                # must not time the connection out: R2 counts from the reopening.
                self._first_sent_at = self._now
            self.snd_wnd = window
            self.snd_wl1 = seg.seq
            self.snd_wl2 = seg.ack
            self.max_snd_wnd = max(self.max_snd_wnd, window)
            if opened and window > 0:
                self._timers.pop("persist", None)

    def _take_peer_mss(self, seg: Segment) -> None:
        """Effective send MSS (§3.7.1, MUST-15/16): peer MSS, clamped, capped by ours."""
        if seg.mss is not None:
            peer = seg.mss
        elif isinstance(self.remote.address, ipaddress.IPv6Address):
            # MUST-15 (§3.7.1): without an MSS option assume 1220 over IPv6
            # (1280 - 60); config.default_peer_mss is the IPv4 value (536).
            peer = IPV6_DEFAULT_PEER_MSS
        else:
            peer = self.config.default_peer_mss
        self.snd_mss = max(self.config.min_peer_mss, min(peer, self.rcv_mss))
        self.cc.set_mss(self.snd_mss)  # and the initial window for it (RFC 5681 §3.1)

    def _acceptable(self, seg: Segment) -> bool:
        """Segment acceptability test (§3.10.7.4 first step, the four cases)."""
        wnd = self.rcv_wnd
        seq = seg.seq
        length = seg.seg_len
        if length == 0:
            if wnd == 0:
                return seq == self.rcv_nxt
            return 0 <= seq_diff(seq, self.rcv_nxt) < wnd
        if wnd == 0:
            # MUST-66: with a zero window, still process RST/ACK of a segment
            # at RCV.NXT (its text is trimmed away later).
            return seq == self.rcv_nxt
        last = seq_add(seq, length - 1)
        return 0 <= seq_diff(seq, self.rcv_nxt) < wnd or 0 <= seq_diff(last, self.rcv_nxt) < wnd

    def _deliver(self, data: bytes) -> None:
        if not data:
            return
        self._rcvbuf += data
        self._rcv_offset += len(data)
        self.rcv_nxt = seq_add(self.rcv_nxt, len(data))
        self._emit(ev.DataReceived(len(data)))
        self._trace("app", {"delivered": len(data)})

    def _schedule_ack(self, nbytes: int) -> None:
        """Delayed ACK (§3.8.6.3): every 2nd full segment (SHLD-19), else after delayed_ack s."""
        self._rcv_unacked += nbytes
        # A full-sized segment carries RCV.MSS less the timestamps option.
        full = self.rcv_mss - (TS_OPTION_SPACE if self.negotiated.timestamps else 0)
        if self.config.delayed_ack <= 0 or self._rcv_unacked >= 2 * full:
            self._ack_now = True
        elif "delayed_ack" not in self._timers:
            self._arm("delayed_ack", self._now + self.config.delayed_ack)

    def _ack_sent(self) -> None:
        self._ack_now = False
        self._rcv_unacked = 0
        self._timers.pop("delayed_ack", None)

    def _window_edge(self) -> int:
        """RCV.NXT + free buffer space: the right edge the buffer could support."""
        free = max(0, self.config.recv_buffer - len(self._rcvbuf))
        return seq_add(self.rcv_nxt, min(free, 65535 << self.negotiated.rcv_wscale))

    def _sws_threshold(self) -> int:
        return min(self.config.recv_buffer // 2, self.rcv_mss)

    def _advertise(self) -> int:
        """Window to put in a segment: no shrinking (SHLD-14), opened in SWS steps (MUST-39)."""
        edge = self._window_edge()
        step = self._sws_threshold()
        grows_enough = seq_diff(edge, self._rcv_adv) >= step or (
            seq_le(self._rcv_adv, self.rcv_nxt) and seq_diff(edge, self.rcv_nxt) >= step
        )
        if seq_gt(edge, self._rcv_adv) and grows_enough:
            self._rcv_adv = edge
        if seq_lt(self._rcv_adv, self.rcv_nxt):
            self._rcv_adv = self.rcv_nxt
        return seq_diff(self._rcv_adv, self.rcv_nxt)

    def _enter_fin_wait_2(self) -> None:
        """Our FIN is acknowledged (§3.10.7.4 fifth step, FIN-WAIT-1)."""
        self._set_state(S.FIN_WAIT_2)
        if self.orphaned:
            self._arm_fin_wait_2()

    def _enter_time_wait(self) -> None:
        """Enter TIME-WAIT: stop other timers, start 2 MSL (§3.10.7.4 eighth, MUST-13)."""
        self._set_state(S.TIME_WAIT)
        self._timers.clear()
        self._arm("time_wait", self._now + 2 * self.config.msl)

    def _enter_closed(self, event: ev.Event) -> None:
        """Enter CLOSED, delete the TCB's timers and report why."""
        self._timers.clear()
        if self.state is not S.CLOSED:
            self._set_state(S.CLOSED)
        self._emit(event)

    def _set_state(self, new: State) -> None:
        """The one place the state changes: checked against the transition table, traced."""
        old = self.state
        if old is new:
            return
        transition_reason(old, new)  # raises ValueError on an illegal transition
        self.state = new
        if new is S.ESTABLISHED:
            self.was_established = True
        self._trace("state_updated", {"old": str(old), "new": str(new)})
        self._emit(ev.StateChanged(old, new))
        if new in (S.ESTABLISHED, S.FIN_WAIT_2) and self.config.keepalive:
            self._keepalive_restart()

    def _arm(self, name: str, at: float) -> None:
        self._timers[name] = at
        self._trace("timer_set", {"timer": name, "at": round(at, 9)})

    def _drop(self, seg: Segment, reason: str) -> None:
        self._trace("segment_dropped", {"reason": reason, "seq": seg.seq, "ack": seg.ack,
                                        "flags": seg.flags.names(), "len": len(seg.payload)})

    def _emit(self, event: ev.Event) -> None:
        if self._event_sink is not None:
            self._event_sink(self, event)
        else:
            self._events.append(event)

    def _touch(self, now: float | None) -> None:
        if now is not None:
            self._now = now
        elif self._clock is not None:
            self._now = max(self._now, self._clock())

    def _metrics(self) -> None:
        self._trace(
            "metrics_updated",
            {
                "cwnd": self.cwnd,
                "ssthresh": self.ssthresh,
                "srtt": self.rtt.srtt,
                "rto": self.rtt.rto,
                "snd_wnd": self.snd_wnd,
            },
        )

    def _app(self, call: str, **data: Any) -> None:
        self._trace("app", {"call": call, **data})

    def _trace(self, event: str, data: dict[str, Any]) -> None:
        if self._tracer is not None and self._tracer.active:
            self._tracer.emit(self._now, self.host, self.name, event, data)

    def _trace_segment(self, event: str, seg: Segment) -> None:
        if self._tracer is not None and self._tracer.active:
            self._tracer.emit(self._now, self.host, self.name, event, segment_record(seg))

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self.state}>"


def segment_record(seg: Segment) -> dict[str, Any]:
    """The ``data`` of a ``segment_sent``/``segment_received`` trace record."""
    return {
        "seq": seg.seq,
        "ack": seg.ack,
        "flags": seg.flags.names(),
        "len": len(seg.payload),
        "window": seg.window,
        "options": seg.options_dict(),
    }
