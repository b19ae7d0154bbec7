"""The transmission control block: a connection's variables and its read-only view.

RFC 9293 §3.3.1 names the variables of a TCB: the send sequence variables
(SND.UNA, SND.NXT, SND.WND, SND.WL1, SND.WL2, ISS), the receive sequence
variables (RCV.NXT, RCV.WND, IRS), and the state. :class:`Tcb` holds them
(RCV.NXT and RCV.WND live in the receive buffer, next to the data they
describe) together with the objects that own the mechanism: timers, RTT
estimation, loss recovery, the buffers. Everything is readable from outside
through properties; nothing is writable: only the event processing of
:class:`~tcpstack.connection.Connection` changes a TCB.

This module also defines the :class:`Endpoint` of a connection and the
:class:`Owner` protocol through which a TCB talks to the host that holds it.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from . import events as ev
from .buffers import ReceiveBuffer, SendBuffer
from .config import TcpConfig
from .congestion import CongestionControl
from .counters import Stats
from .negotiation import Negotiated
from .paws import TsRecent
from .recovery import _PHASE_NAMES, LossRecovery, Phase
from .rtt import RttEstimator, RttSampler
from .sender import Sender
from .seq import SEQ_HALF, SEQ_MASK, SEQ_MOD, seq_add, seq_diff, seq_gt
from .state import S, State
from .timers import TIMER_NAMES, Timer, Timers
from .trace import Trace, fields_tag
from .wire import Flags, IPAddress, Segment

if TYPE_CHECKING:
    from .connection import Connection
    from .keepalive import KeepAlive

_OPEN = Phase.OPEN
_SYN = int(Flags.SYN)
_CLASSIC_PHASE = CongestionControl.phase

EventSink = Callable[["Connection", ev.Event], None]
"""Where the events of a connection without a stack go."""


TRACED_TCB = ("cwnd", "ssthresh", "srtt", "rto", "snd_wnd", "snd_una", "snd_nxt",
              "rcv_nxt", "rcv_wnd", "in_flight", "pacing_rate", "delivery_rate", "phase",
              "congestion_control")
"""The fields of a ``metrics_updated`` trace record: bytes, except ``srtt`` and
``rto`` in seconds (``srtt`` None before the first sample); sequence numbers
are absolute. Then the congestion control's view (docs/trace.md):
``in_flight`` (FlightSize, bytes), ``pacing_rate`` and ``delivery_rate``
(bytes/s, or None), ``phase`` (``"slow_start"``, ``"avoidance"``,
``"recovery"``, ``"loss"`` or the algorithm's own) and ``congestion_control``
(the algorithm's name)."""

class Endpoint(NamedTuple):
    """An (address, port) pair; ``str()`` gives ``192.0.2.1:80`` or ``[2001:db8::1]:80``."""

    address: IPAddress
    port: int

    def __str__(self) -> str:
        if isinstance(self.address, ipaddress.IPv6Address):
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


class Owner(Protocol):
    """What a connection tells the host that owns it (:class:`~tcpstack.stack.Stack`).

    Attributes:
        name: the host's name in trace records.
        trace: where trace records go, or None.
        stats: the host's counters (:class:`~tcpstack.counters.Stats`).
        local_congestion: the host's device refuses packets now (see
            :attr:`Stack.local_congestion <tcpstack.stack.Stack.local_congestion>`).
    """

    name: str
    trace: Trace | None
    stats: Stats
    local_congestion: bool

    def clock(self) -> float | None:
        """The host's current time (seconds), for user calls made without ``now``."""

    def on_event(self, conn: Connection, event: ev.Event) -> None:
        """``conn`` reports ``event`` to its application."""

    def wake(self, conn: Connection) -> None:
        """``conn`` may have segments to send."""

    def timer_moved(self, conn: Connection) -> None:
        """``conn``'s earliest timer deadline moved earlier (or was set)."""

    def state_changed(self, conn: Connection, old: State, new: State) -> None:
        """``conn`` moved from ``old`` to ``new`` (CLOSED: its TCB is gone)."""

    def count(self, what: str, n: int = 1) -> None:
        """Count ``n`` occurrences of ``what`` (a :data:`~tcpstack.counters.COUNTERS` key)."""


class _Standalone:
    """The owner of a connection created without a stack (unit tests, embedding)."""

    __slots__ = ("_clock", "_sink", "events", "name", "stats", "trace")
    local_congestion = False  # no device of its own: the caller transmits

    def __init__(self, host: str, trace: Trace | None, sink: EventSink | None,
                 clock: Callable[[], float] | None) -> None:
        self.name = host
        self.trace = trace
        self._sink = sink
        self._clock = clock
        self.events: deque[ev.Event] = deque()
        self.stats = Stats()

    def clock(self) -> float | None:
        return self._clock() if self._clock is not None else None

    def on_event(self, conn: Connection, event: ev.Event) -> None:
        if self._sink is not None:
            self._sink(conn, event)
        else:
            self.events.append(event)

    def wake(self, conn: Connection) -> None:
        pass

    def timer_moved(self, conn: Connection) -> None:
        pass

    def state_changed(self, conn: Connection, old: State, new: State) -> None:
        pass

    def count(self, what: str, n: int = 1) -> None:
        self.stats[what] += n


class Tcb:
    """The transmission control block of one connection (RFC 9293 §3.3.1): its data.

    :class:`~tcpstack.connection.Connection` adds the event processing; use
    that class.

    Connections are normally created by :class:`tcpstack.stack.Stack`
    (``connect()`` or a SYN to a listener); creating one directly is useful in
    unit tests. After construction call :meth:`open_active` or feed the SYN
    of a passive open to :meth:`receive`.

    The state and the TCB variables are read-only properties; only the
    connection's own event processing changes them.

    Args:
        local: our address and port.
        remote: the peer's address and port.
        iss: initial send sequence number (RFC 6528; chosen by the stack).
        config: connection parameters.
        now: current time, seconds (for the trace).
        passive: True if created by a passive OPEN (starts in LISTEN; MUST-11).
        trace: where trace records go, or None (ignored with ``owner``).
        host: host name used in trace records (ignored with ``owner``).
        event_sink: if given, events go there instead of this connection's
            own queue (ignored with ``owner``).
        clock: gives the current time for user calls made without ``now``;
            otherwise the last time seen is used (ignored with ``owner``).
        owner: the host that owns this connection (the stack passes itself).
    """

    __slots__ = (
        "_config",
        "_counts",
        "_irs",
        "_iss",
        "_keepalive",
        "_local",
        "_max_snd_wnd",
        "_name",
        "_negotiated",
        "_now",
        "_orphaned",
        "_owner",
        "_passive",
        "_peer_syn",
        "_rcvbuf",
        "_recovery",
        "_remote",
        "_rtt",
        "_sender",
        "_serial",
        "_snd_max",
        "_snd_mss",
        "_snd_nxt",
        "_snd_una",
        "_snd_wl1",
        "_snd_wl2",
        "_snd_wnd",
        "_sndbuf",
        "_state",
        "_timers",
        "_timing",
        "_traced_tcb",
        "_ts",
    )

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
        owner: Owner | None = None,
        serial: int = 0,
    ) -> None:
        self._owner: Owner = owner if owner is not None else _Standalone(
            host, trace, event_sink, clock
        )
        self._serial = serial  # creation order within the owner
        self._config = config or TcpConfig()
        self._local = local
        self._remote = remote
        self._name: str | None = None  # made when first asked for (Tcb.name)
        self._now = now
        self._state = S.LISTEN if passive else S.CLOSED
        self._passive = passive
        self._orphaned = False
        self._counts: Counter[str] | None = None  # made by the first _count (Tcb.stats)
        # --- Send sequence variables (RFC 9293 §3.3.1) ---
        self._iss = iss % (1 << 32)
        self._snd_una = self._iss
        self._snd_nxt = self._iss
        self._snd_max = self._iss  # highest sequence number sent + 1 (BSD snd_max)
        self._snd_wnd = 0
        self._snd_wl1 = 0
        self._snd_wl2 = 0
        self._max_snd_wnd = 0
        # --- Receive side: IRS; RCV.NXT and RCV.WND live in the receive buffer ---
        self._irs = 0
        self._rcvbuf: ReceiveBuffer | None = None
        self._sndbuf = SendBuffer(seq_add(self._iss, 1))
        # --- MSS (§3.7.1) and options negotiated on the SYN (RFC 7323, RFC 2018) ---
        self._snd_mss = self._config.default_peer_mss
        self._negotiated = _NO_OPTIONS
        self._peer_syn: Segment | None = None  # kept until our SYN is acknowledged
        # TS.Recent and PAWS (RFC 7323 §4.3, §5), once timestamps are in use.
        self._ts: TsRecent | None = None
        # --- Mechanisms ---
        self._timers = Timers(self)
        cfg = self._config
        self._rtt = RttEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max,
                                 minimum_on_variance=cfg.rto_min_on_variance)
        self._timing: RttSampler | None = None  # the segment being timed, if any
        self._recovery = LossRecovery(cfg.congestion_control, self._snd_mss,
                                      cwnd_validation=cfg.cwnd_validation)
        self._keepalive: KeepAlive | None = None  # only while keep-alive is on
        self._traced_tcb: tuple[Any, ...] | None = None  # last metrics_updated values
        # The output procedure (RFC 9293 §3.8, §3.9.1.2): made here, last, so that a
        # Connection needs no constructor of its own (mypyc would mis-forward one's
        # **kwargs, mypyc/mypyc#1162).
        self._sender = Sender(cast("Connection", self))

    # ------------------------------------------------------------------
    # The read-only view: state and TCB variables
    # ------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The RFC 9293 §3.3.2 state."""
        return self._state

    @property
    def config(self) -> TcpConfig:
        """This connection's configuration (change it with :meth:`reconfigure`)."""
        return self._config

    @property
    def local(self) -> Endpoint:
        """Our address and port."""
        return self._local

    @property
    def remote(self) -> Endpoint:
        """The peer's address and port."""
        return self._remote

    @property
    def name(self) -> str:
        """``local-remote``, as in trace records (``192.0.2.1:40000-192.0.2.2:80``)."""
        name = self._name
        if name is None:
            # Made once: every trace record carries it, and formatting two
            # addresses costs more than the rest of a record.
            name = self._name = f"{self._local}-{self._remote}"
        return name

    @property
    def host(self) -> str:
        """The owning host's name, as in trace records."""
        return self._owner.name

    @property
    def serial(self) -> int:
        """Creation order within the owning stack (1, 2, ...; 0 without a stack)."""
        return self._serial

    @property
    def passive(self) -> bool:
        """True if this TCB came from a passive OPEN (MUST-11)."""
        return self._passive

    @property
    def orphaned(self) -> bool:
        """True after :meth:`close`: the application will read no more."""
        return self._orphaned

    @property
    def was_established(self) -> bool:
        """True once the handshake has completed: ESTABLISHED now, or our SYN acknowledged."""
        return self._state is S.ESTABLISHED or seq_gt(self._snd_una, self._iss)

    @property
    def retransmissions(self) -> int:
        """Retransmission timeouts since SND.UNA last advanced (the RTO backoff
        count; for a half-open passive TCB, its SYN,ACK retransmissions)."""
        return self._sender.retransmissions

    @property
    def probes_out(self) -> int:
        """Zero-window probes (or, while the device refuses packets, device probes)
        sent since the peer last acknowledged anything: the unanswered ones
        (RFC 9293 §3.8.6.1; Linux ``icsk_probes_out``, ``tcpi_probes``)."""
        return self._sender.probes_out

    @property
    def iss(self) -> int:
        """ISS: initial send sequence number."""
        return self._iss

    @property
    def irs(self) -> int:
        """IRS: the peer's initial sequence number (0 before its SYN)."""
        return self._irs

    @property
    def snd_una(self) -> int:
        """SND.UNA: oldest unacknowledged sequence number."""
        return self._snd_una

    @property
    def snd_nxt(self) -> int:
        """SND.NXT: next sequence number to send (rolled back to resend after a timeout)."""
        return self._snd_nxt

    @property
    def snd_max(self) -> int:
        """The highest sequence number sent, plus one (BSD ``snd_max``)."""
        return self._snd_max

    @property
    def snd_wnd(self) -> int:
        """SND.WND: the peer's window, bytes (scaled)."""
        return self._snd_wnd

    @property
    def snd_wl1(self) -> int:
        """SND.WL1: segment sequence number used for the last window update."""
        return self._snd_wl1

    @property
    def snd_wl2(self) -> int:
        """SND.WL2: segment acknowledgment number used for the last window update."""
        return self._snd_wl2

    @property
    def max_snd_wnd(self) -> int:
        """MAX.SND.WND: the largest window the peer ever offered, bytes (RFC 5961 §5)."""
        return self._max_snd_wnd

    @property
    def rcv_nxt(self) -> int:
        """RCV.NXT: next sequence number expected (0 before the peer's SYN)."""
        return self._rcvbuf.rcv_nxt if self._rcvbuf is not None else 0

    @property
    def rcv_wnd(self) -> int:
        """RCV.WND: the window we last advertised, bytes (RFC 9293 §3.3.1)."""
        return self._rcvbuf.rcv_wnd if self._rcvbuf is not None else 0

    @property
    def snd_mss(self) -> int:
        """The MSS we send with: the peer's, clamped (§3.7.1, MUST-15/16), bytes."""
        return self._snd_mss

    @property
    def rcv_mss(self) -> int:
        """The MSS we advertise: over IPv6 the IP header is 20 bytes longer (MUST-67)."""
        mss = self._config.mss
        address = self._local.address
        # (An IPv4 address, the common case, is told by its exact type without
        # isinstance's call: 3 times per packet of a bulk transfer.)
        if type(address) is ipaddress.IPv4Address:
            return mss
        return mss - 20 if isinstance(address, ipaddress.IPv6Address) else mss

    @property
    def negotiated(self) -> Negotiated:
        """The options both SYNs agreed on (window scale, timestamps, SACK)."""
        return self._negotiated

    @property
    def ts_recent(self) -> int:
        """TS.Recent: the peer's timestamp we echo (RFC 7323 §4.3)."""
        return self._ts.value if self._ts is not None else 0

    @property
    def fin_received(self) -> bool:
        """True once RCV.NXT has passed the peer's FIN."""
        return self._rcvbuf is not None and self._rcvbuf.fin_received

    @property
    def cwnd(self) -> int:
        """Congestion window, bytes (RFC 5681)."""
        return self._recovery.cc.cwnd

    @property
    def ssthresh(self) -> int:
        """Slow-start threshold, bytes (RFC 5681)."""
        return self._recovery.cc.ssthresh

    @property
    def srtt(self) -> float | None:
        """Smoothed RTT in seconds, or None before the first sample (RFC 6298)."""
        return self._rtt.srtt

    @property
    def rto(self) -> float:
        """Current retransmission timeout in seconds, backoff included (RFC 6298)."""
        return self._rtt.rto

    @property
    def rtt(self) -> RttEstimator:
        """The RFC 6298 estimator (SRTT, RTTVAR, RTO) of this connection."""
        return self._rtt

    @property
    def in_recovery(self) -> bool:
        """True during fast recovery / SACK loss recovery (RFC 5681 §3.2, RFC 6675 §5)."""
        return self._recovery.in_recovery

    @property
    def dupacks(self) -> int:
        """Duplicate ACKs in a row (RFC 5681 §2)."""
        return self._recovery.dupacks

    @property
    def recovery(self) -> LossRecovery:
        """The loss recovery object (phase, congestion controller, scoreboard)."""
        return self._recovery

    @property
    def readable(self) -> int:
        """Bytes ready for :meth:`read`."""
        return self._rcvbuf.readable if self._rcvbuf is not None else 0

    @property
    def at_eof(self) -> bool:
        """True when the peer's FIN has been received and every byte read."""
        return self._rcvbuf is not None and self._rcvbuf.at_eof

    @property
    def send_space(self) -> int:
        """Bytes :meth:`send` would accept now."""
        return self._sndbuf.space(self._config.send_buffer)

    @property
    def unsent(self) -> int:
        """Bytes in the send buffer not yet sent."""
        return self._sndbuf.unsent(self._snd_nxt)

    @property
    def in_flight(self) -> int:
        """Sequence space sent but not acknowledged, bytes."""
        return seq_diff(self._snd_max, self._snd_una)

    @property
    def urgent_pending(self) -> int:
        """Unread bytes that are urgent data, 0 if none (§3.8.5, MUST-33)."""
        return self._rcvbuf.urgent_pending if self._rcvbuf is not None else 0

    @property
    def stats(self) -> Mapping[str, int]:
        """This connection's counters (read-only): key -> count, the keys of
        :data:`tcpstack.counters.COUNTERS` (drops ``dropped:<reason>``, challenge
        ACKs, retransmissions, timeouts...); a key never counted reads 0. The
        stack's :attr:`~tcpstack.stack.Stack.stats` counts them too."""
        counts = self._counts
        return MappingProxyType(counts) if counts is not None else _NO_COUNTS

    def next_timer(self) -> float | None:
        """The earliest armed timer deadline in seconds, or None."""
        return self._timers.next_at

    def timer(self, name: str | Timer) -> float | None:
        """Deadline of a timer (a :class:`~tcpstack.timers.Timer` or its name), or None."""
        return self._timers.at(name if isinstance(name, Timer) else Timer(name))

    def next_event(self) -> ev.Event | None:
        """Pop the oldest pending event, or None.

        Only a connection without a stack or ``event_sink`` keeps its events;
        otherwise they go to :meth:`tcpstack.stack.Stack.next_event`.
        """
        owner = self._owner
        if isinstance(owner, _Standalone) and owner.events:
            return owner.events.popleft()
        return None


    def _peer_window(self, seg: Segment) -> int:
        """SEG.WND in bytes: scaled, except on a SYN (RFC 7323 §2.2)."""
        if int(seg.flags) & _SYN:  # (as an int: Flags' & is a Python call)
            return seg.window
        return seg.window << self._negotiated.snd_wscale

    def _acceptable(self, seq: int, length: int) -> bool:
        """The segment acceptability test (§3.10.7.4 first step, its four cases):
        does a segment of ``length`` sequence numbers at ``seq`` fall in RCV.WND?"""
        wnd = self.rcv_wnd
        rcv_nxt = self.rcv_nxt
        if length == 0:
            if wnd == 0:
                return seq == rcv_nxt
            return 0 <= seq_diff(seq, rcv_nxt) < wnd
        if wnd == 0:
            # MUST-66: with a zero window, still process RST/ACK of a segment
            # at RCV.NXT (its text is trimmed away later).
            return seq == rcv_nxt
        last = seq_add(seq, length - 1)
        return 0 <= seq_diff(seq, rcv_nxt) < wnd or 0 <= seq_diff(last, rcv_nxt) < wnd

    def sws_step(self) -> int:
        """Receiver SWS avoidance step: min(buffer/2, RCV.MSS) bytes (MUST-39)."""
        half = self._config.recv_buffer // 2
        mss = self.rcv_mss
        return half if half < mss else mss  # (min(), without its call: twice per packet)
    # ------------------------------------------------------------------
    # Plumbing: time, events, trace, counters
    # ------------------------------------------------------------------

    def _touch(self, now: float | None) -> None:
        if now is not None:
            self._now = now
        else:
            t = self._owner.clock()
            if t is not None and t > self._now:
                self._now = t

    # A Tcb is always a Connection's: the two calls below hand ``self`` over as
    # one without typing.cast's call (a function call at run time: 16 per churn
    # lifecycle), which only mypy needs.

    def _timer_moved(self) -> None:
        self._owner.timer_moved(self)  # type: ignore[arg-type]  # (a Connection)

    def _emit(self, event: ev.Event) -> None:
        self._owner.on_event(self, event)  # type: ignore[arg-type]  # (a Connection)

    def _count(self, what: str, n: int = 1) -> None:
        """Count ``n`` of ``what`` (a :data:`~tcpstack.counters.COUNTERS` key) on
        this connection and on its owner."""
        counts = self._counts
        if counts is None:
            # Allocated on the first count: a connection that counts nothing
            # costs one slot. The owner keeps it for listing (Stats.connections).
            counts = self._counts = self._owner.stats.track(self.name)
        counts[what] += n
        self._owner.count(what, n)

    def _tcb_values(self) -> tuple[Any, ...]:
        """The TCB variables ``metrics_updated`` carries, in :data:`TRACED_TCB` order."""
        # It runs at the end of every event of a traced connection (2.7 times per
        # packet of a traced bulk transfer), so it reads the variables from the
        # objects that hold them rather than through properties (srtt, rto,
        # in_flight), and does the arithmetic of three more itself: the two
        # sequence distances (seq_diff), RCV.WND (ReceiveBuffer.rcv_wnd) and the
        # phase's name (LossRecovery.phase_name, CongestionControl.phase). 7 calls
        # fewer per record.
        rcv = self._rcvbuf
        rec = self._recovery
        cc = rec.cc
        rtt = self._rtt
        ext = rec.ext
        rate = ext.rate if ext is not None else None
        latest = rate.latest if rate is not None else None
        una = self._snd_una
        if rcv is None:
            rcv_nxt = rcv_wnd = 0
        else:
            rcv_nxt = rcv.rcv_nxt
            # max(0, seq_diff(RCV.ADV, RCV.NXT)): a distance "behind" is 0.
            rcv_wnd = (rcv.rcv_adv - rcv_nxt) & SEQ_MASK
            if rcv_wnd >= SEQ_HALF:
                rcv_wnd = 0
        in_flight = (self._snd_max - una) & SEQ_MASK  # seq_diff(SND.MAX, SND.UNA)
        if in_flight >= SEQ_HALF:
            in_flight -= SEQ_MOD
        phase = rec.phase
        cwnd, ssthresh = cc.cwnd, cc.ssthresh
        if phase is not _OPEN:
            phase_name = _PHASE_NAMES[phase]
        elif type(cc).phase is _CLASSIC_PHASE:
            # CongestionControl.phase (RFC 5681 §3.1) without its property call:
            # every algorithm but BBR keeps it.
            phase_name = "slow_start" if cwnd < ssthresh else "avoidance"
        else:
            phase_name = cc.phase
        return (cwnd, ssthresh, rtt.srtt, rtt.rto, self._snd_wnd, una, self._snd_nxt,
                rcv_nxt, rcv_wnd, in_flight, cc.pacing_rate,
                latest.delivery_rate if latest is not None else None, phase_name, cc.name)

    # The tracing plumbing runs for every record of a kept trace, about eight per
    # packet of a bulk transfer. Each method asks the tracer itself (no
    # _tracing call), reads Trace.active as the attribute it is, and takes the
    # connection's name from its slot once it is made (``self._name or
    # self.name``: no property call): about 2 calls fewer per record, where a
    # record cost 6 to 12 calls before.

    def _metrics(self) -> None:
        """Trace the TCB variables now (congestion or RTT state changed)."""
        owner = self._owner
        tracer = owner.trace
        if tracer is not None and tracer.active:
            values = self._traced_tcb = self._tcb_values()
            tracer.emit_tagged(self._now, owner.name, self._name or self.name,
                               "metrics_updated", _METRICS_TAG, values)

    def _metrics_if_changed(self) -> None:
        """Trace the TCB variables if any changed since they were last traced: the end
        of every event (a segment, a timer, a user call), so a trace holds the TCB
        after each step."""
        owner = self._owner
        tracer = owner.trace
        if tracer is not None and tracer.active:
            values = self._tcb_values()
            if values != self._traced_tcb:
                self._traced_tcb = values
                tracer.emit_tagged(self._now, owner.name, self._name or self.name,
                                   "metrics_updated", _METRICS_TAG, values)

    def _app(self, call: str, **data: Any) -> None:
        owner = self._owner
        tracer = owner.trace
        if tracer is not None and tracer.active:  # the record only when a trace keeps it
            if len(data) == 1 and "bytes" in data:
                # read and send of n bytes (1.6 records per packet of a bulk
                # transfer): through emit_fields under shared keys, without the
                # merged dict and emit's flattening of it.
                tracer.emit_tagged(self._now, owner.name, self._name or self.name, "app",
                                   _APP_BYTES_TAG, (call, data["bytes"]))
            else:
                tracer.emit(self._now, owner.name, self._name or self.name, "app",
                            {"call": call, **data})

    def _trace_delivered(self, n: int) -> None:
        """Trace the ``app`` record of ``n`` bytes delivered (``{"delivered": n}``),
        through emit_fields under shared keys (no dict per record), if a trace is
        kept."""
        owner = self._owner
        tracer = owner.trace
        if tracer is not None and tracer.active:
            tracer.emit_tagged(self._now, owner.name, self._name or self.name, "app",
                               _DELIVERED_TAG, (n,))

    def _drop(self, seg: Segment, reason: str) -> None:
        self._count(f"dropped:{reason}")
        self._drop_trace(seg, reason)

    def _drop_trace(self, seg: Segment, reason: str) -> None:
        if self._tracing():
            self._trace("segment_dropped", {"reason": reason, "seq": seg.seq, "ack": seg.ack,
                                            "flags": seg.flags.names(), "len": len(seg.payload)})

    def _tracing(self) -> bool:
        tracer = self._owner.trace
        return tracer is not None and tracer.active

    def _trace(self, event: str, data: dict[str, Any]) -> None:
        # No ``tracer.active`` check: the callers asked _tracing() before
        # building ``data``, and an inactive trace's emit keeps nothing.
        owner = self._owner
        tracer = owner.trace
        if tracer is not None:
            tracer.emit(self._now, owner.name, self._name or self.name, event, data)

    def _trace_timer(self, event: str, timer: Timer, at: float | None) -> None:
        # Timers' records (timer_set 1.7, timer_cancelled 0.3 per packet of a bulk
        # transfer): asked and built here in one call where Timers made three
        # (_tracing, _trace, emit) and a dict per record; kept through emit_fields
        # under shared keys, the same record as emit of {"timer": ..., "at": ...}.
        owner = self._owner
        tracer = owner.trace
        if tracer is not None and tracer.active:
            if at is None:
                tracer.emit_tagged(self._now, owner.name, self._name or self.name, event,
                                   _TIMER_TAG, (TIMER_NAMES[timer],))
            else:
                tracer.emit_tagged(self._now, owner.name, self._name or self.name, event,
                                   _TIMER_SET_TAG, (TIMER_NAMES[timer], at))

    def _trace_segment(self, event: str, seg: Segment) -> None:
        # The record is built inside emit_segment, only if the trace keeps it.
        owner = self._owner
        tracer = owner.trace
        if tracer is not None:
            tracer.emit_segment(self._now, owner.name, self._name or self.name, event, seg)

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self._state}>"


# The data keys of the records emitted through Trace.emit_tagged, by their tags
# (fields_tag, asked once here rather than by emit_fields per record).
_METRICS_TAG = fields_tag(TRACED_TCB)
_TIMER_TAG = fields_tag(("timer",))  # timer_cancelled and timer_fired
# (``at`` rounded to the nanosecond when the record is read: 290 ns, 1.7 per packet)
_TIMER_SET_TAG = fields_tag(("timer", "at"), rounded=("at",))
_APP_BYTES_TAG = fields_tag(("call", "bytes"))  # the app records of read and send
_DELIVERED_TAG = fields_tag(("delivered",))
_NO_OPTIONS = Negotiated()
_NO_COUNTS: Mapping[str, int] = MappingProxyType(Counter())
