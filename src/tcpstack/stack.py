"""A host's TCP: demultiplexing, listeners, ports, ISNs and resets (RFC 9293 §3.10.7.1-2).

A :class:`Stack` owns every connection of one IP address. Packets enter as
raw IP bytes (:meth:`Stack.receive`) and leave the same way
(:meth:`Stack.packets_to_send`); time is supplied by the caller. A packet
never makes it raise: malformed input is counted in :attr:`Stack.stats` and
traced as ``segment_dropped``.

Costs do not grow with the number of connections: the stack keeps the
connections that may have something to send (:meth:`packets_to_send` visits
only those), a heap of timer deadlines (:meth:`next_timer` and
:meth:`handle_timer` look at the due ones only), per-listener counts of
half-open and queued connections, and deletes a TCB the moment it reaches
CLOSED. An idle connection costs memory and nothing else.

Under attack (RFC 4987; docs/security.md): each listener keeps its half-open
connections in a bounded SYN queue apart from its accept queue
(:mod:`tcpstack.synqueue`), answers SYNs with SYN cookies when the queue is
full (:mod:`tcpstack.syncookies`), keeps a half-open connection whose SYN,ACK
has left as a small record instead of a TCB (:mod:`tcpstack.halfopen`), lets
half-open connections give up after
``synack_retries`` SYN,ACK retransmissions (their own retransmission timeout
decides, :class:`~tcpstack.connection.Connection`), and holds its TCBs,
orphans and TIME-WAIT TCBs to the limits of its configuration.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from . import events as ev
from .config import TcpConfig
from .connection import Connection, Endpoint, ListenVerdict, listen_verdict, segment_record
from .counters import Stats
from .errors import AddressInUse, LocalProtocolError, MalformedPacket
from .halfopen import MAX_TIMES, HalfOpen, QuietOwner, peer_key
from .isn import IsnGenerator
from .negotiation import syn_options
from .paws import ts_clock
from .seq import seq_add, seq_le, seq_lt
from .state import Cause, S, State
from .syncookies import (
    COOKIE_AGE,
    COOKIE_PERIOD,
    CookieOptions,
    SynCookies,
    decode_ts_options,
    encode_ts_options,
    mss_index,
    mss_table,
    recalled_syn,
)
from .synqueue import Admission, Listener
from .trace import Trace
from .wire import (
    Flags,
    IPAddress,
    PacketEncoder,
    PartialChecksumEncoder,
    Segment,
    decode_tcp_packet,
)

EPHEMERAL_PORTS = range(49152, 65536)
"""Dynamic port range used for active opens (RFC 6335 §6, RFC 6056)."""
LOCAL_CONGESTION = "local-congestion"
"""``segment_dropped`` reason of a segment the device refused (:attr:`Stack.local_congestion`)."""

_IPV4_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)
_CACHE_MAX = 4096  # peers and packet encoders remembered, per stack, before starting afresh
_HEAP_MIN = 1024  # timer heap size below which pushes never rebuild it
_COMPACT_CLOSES = 32  # closes that may leave stale heap entries before a rebuild
_COOKIE_LIFE = (COOKIE_AGE + 1) * COOKIE_PERIOD  # seconds a cookie may stay valid
_ACK_ONLY = int(Flags.ACK)
_SYN_RST_ACK = int(Flags.SYN | Flags.RST | Flags.ACK)
# The states as state.S's plain class attributes, and these two as globals, for
# the checks made per packet and per state change: in Python 3.11 reading a
# member from its Enum class goes through EnumType's __getattr__ hook (80-150
# ns against about 15; state_changed reads 5, 10 times per churn lifecycle).
_GONE = (S.CLOSED, S.LISTEN, S.TIME_WAIT)  # an orphan no more (a tuple: no Enum hash)
_OPEN = ListenVerdict.OPEN


class Stack:
    """The TCP of one host address.

    Args:
        address: our IPv4 or IPv6 address.
        config: default configuration of new connections.
        name: host name used in the trace.
        trace: trace collector shared with other hosts, or None.
        isn_key: secret of the RFC 6528 ISN hash, and (hashed apart) of the
            SYN cookies. Default: drawn from ``rng``
            when one is given (so a seeded run is reproducible), else a fresh
            random secret for this stack (RFC 6528 §3: outsiders must not be
            able to compute it).
        rng: randomness for ephemeral ports (RFC 6056) and the default ISN
            key. Default: seeded from the operating system, so two stacks
            never share a port sequence. The simulator passes a seeded one.
        clock: the driver's clock (seconds), read when a user call comes
            without ``now``; default: the last time the stack was given.
        wakeup: called (no arguments) whenever the stack gains work for its
            driver: segments to send, events to report, or a timer deadline
            earlier than before. A driver that polls after every input does
            not need it; one that must not scan idle stacks (the simulator,
            an event loop) uses it to know which stacks to service.

    Attributes:
        clock_source: the ``clock`` argument (settable).
        wakeup: the ``wakeup`` argument (settable).
        local_congestion: the driver sets it True while its device refuses
            packets (a full or zero-length transmit queue, ``ENOBUFS``; the
            drill target sets it for ``tc qdisc ... pfifo limit 0``) and False
            when the device takes them again; default False. Meanwhile every
            segment the stack would send is dropped here, counted and traced
            as ``segment_dropped`` with reason ``"local-congestion"``, and the
            connections keep their data and FIN unsent (Linux tcp_write_xmit
            stops at a failed transmission): with nothing in flight they probe
            the device after one RTO and then every 0.5 s without backing off
            (:data:`~tcpstack.sender.RESOURCE_PROBE_INTERVAL`, Linux
            tcp_send_probe0), a retransmission timeout retries every 0.5 s
            without doubling the RTO (tcp_retransmit_timer), and the user
            timeout or R2 gives a connection up as for unanswered zero-window
            probes (RFC 9293 §3.8.6.1, RFC 5482 §3). Control segments (ACKs,
            RSTs, the SYN) count as sent and lost, as with Linux. Taking the
            congestion away wakes nobody: the next probe or timeout sends.
        checksum_offload: the driver sets it True while its device completes
            the TCP checksum of every packet it takes (a TUN device with
            offload: virtio-net ``NEEDS_CSUM``); packets are then encoded by
            :class:`~tcpstack.wire.PartialChecksumEncoder` (the field holds
            only the pseudo-header sum: no pass over the payload). Default False.

    Raises:
        ValueError: ``address`` is not an IP address.
    """

    def __init__(
        self,
        address: str | IPAddress,
        *,
        config: TcpConfig | None = None,
        name: str = "host",
        trace: Trace | None = None,
        isn_key: bytes | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        wakeup: Callable[[], None] | None = None,
    ) -> None:
        self.address: IPAddress = ipaddress.ip_address(address)
        self._packed = self.address.packed
        self._address_text = str(self.address)  # the ISN's input, formatted once
        # Per-packet work spared (both bounded by _CACHE_MAX entries): a peer's
        # address object by its raw bytes (None for an address that is never a
        # peer), and the packet encoder of each (peer, TTL, TOS).
        self._peers: dict[bytes, IPAddress | None] = {}
        self._encoders: dict[tuple[IPAddress, int, int], PacketEncoder] = {}
        self._last_encoder: PacketEncoder | None = None
        self.clock_source = clock
        self.wakeup = wakeup
        self.local_congestion = False
        self._checksum_offload = False
        self.config = config or TcpConfig()
        self.name = name
        self.trace = trace
        if rng is None:
            rng = random.Random(secrets.randbits(128))
        self._rng = rng
        key = isn_key or rng.randbytes(16)
        self._isn = IsnGenerator(key)
        self._cookies = SynCookies(key)
        # Demultiplexing: local port -> the peer's (address, port) -> TCB. The inner
        # key is the connection's own ``remote`` endpoint (a tuple), so a TCB adds
        # no key object of its own; a lookup uses a plain (address, port) tuple.
        # Half-open records (tcpstack.halfopen) are not here: only in their
        # listener's SYN queue (Listener.half_open), which the lookup tries next.
        self._conns: dict[int, dict[tuple[IPAddress, int], Connection]] = {}
        self._endpoints: dict[int, Endpoint] = {}  # our endpoint per local port, shared
        self._listeners: dict[int, Listener] = {}
        self._events: deque[tuple[Connection, ev.Event]] = deque()
        # Segments no TCB sends (RSTs, cookie SYN,ACKs): destination, segment,
        # trace name, extra trace data.
        self._outbox: list[tuple[IPAddress, Segment, str, dict[str, Any] | None]] = []
        # Host limits (TcpConfig.max_connections, max_orphans, max_time_wait):
        # TCBs held, TIME-WAIT TCBs, orphans oldest first, and the TIME-WAIT
        # TCBs over the limit, closed at the next packets_to_send.
        self._tcb_count = 0
        self._time_wait_count = 0
        self._orphans: dict[Connection, None] = {}
        self._over_limit: list[Connection] = []
        # Connections that may have segments to send (an ordered set).
        self._active: dict[Connection, None] = {}
        # (deadline, serial, connection or half-open record); stale entries are
        # skipped lazily, and the heap is rebuilt from its live entries once it
        # doubles (so a TCB that closed with a far deadline is not held until then).
        self._timers: list[tuple[float, int, Connection | HalfOpen]] = []
        self._timers_compact_at = _HEAP_MIN
        self._closed_since_compact = 0
        self._serial = 0
        self._now = 0.0
        # Half-open TCBs that become HalfOpen records once their SYN,ACK has left
        # (_collect): the key of each in its SYN queue (the same int object), the
        # SYN it took and the times of its inputs so far. They stay out of the
        # timer heap meanwhile (their record goes in).
        self._reviving: dict[Connection, tuple[int, Segment, tuple[float, ...]]] = {}
        # Half-open TCBs left whole while their listener is lightly loaded
        # (Listener.light_load), the same inputs kept: a record at their first
        # retransmission timeout. They are in the timer heap.
        self._deferred: dict[Connection, tuple[int, Segment, tuple[float, ...]]] = {}
        self._quiet: dict[bool, QuietOwner] = {}  # replay owners, by trace activity
        #: Counters (a ``Counter``; keys and their Linux ``nstat`` names in
        #: :data:`tcpstack.counters.COUNTERS`): packets in/out, drops by reason
        #: (``dropped:<reason>``), resets, defences; the connections' counts
        #: included. ``stats.nstat()`` gives them by Linux name,
        #: ``stats.per_connection()`` per connection.
        self.stats = Stats()

    # ------------------------------------------------------------------
    # User calls
    # ------------------------------------------------------------------

    def listen(
        self,
        port: int,
        backlog: int = 128,
        *,
        config: TcpConfig | None = None,
        now: float | None = None,
    ) -> None:
        """Passive OPEN on ``port`` (RFC 9293 §3.10.1).

        Existing connections on the port are not disturbed (MUST-41/42).
        ``now`` (seconds) timestamps the trace record; default: the last time seen.

        Raises:
            ValueError: port outside 1..65535 or backlog < 1.
            AddressInUse: a listener already exists on the port.
        """
        _check_port(port)
        if backlog < 1:
            raise ValueError(f"backlog must be >= 1, got {backlog}")
        if port in self._listeners:
            raise AddressInUse(f"already listening on port {port}")
        if now is not None:
            self._now = now
        else:
            self.clock()
        self._listeners[port] = Listener(port, backlog, config)
        self._trace("app", f"{_fmt(self.address, port)}-*", {"call": "listen", "port": port,
                                                             "backlog": backlog})

    def unlisten(self, port: int) -> None:
        """Stop listening on ``port``; connections already accepted or queued stay."""
        listener = self._listeners.get(port)
        if listener is not None:
            for entry in list(listener.half_open.values()):
                self._pin(entry)  # half-open records stay, as TCBs
            del self._listeners[port]

    def accept(self, port: int) -> Connection | None:
        """Take the oldest connection from the listener's accept queue, or None.

        Raises:
            LocalProtocolError: nobody listens on ``port``.
        """
        listener = self._listeners.get(port)
        if listener is None:
            raise LocalProtocolError(f"accept: not listening on port {port}")
        queue = listener.accept_queue
        if not queue:
            return None
        conn = next(iter(queue))
        del queue[conn]
        self.clock()
        if self.trace is not None and self.trace.active:  # conn.name only then
            self._trace("app", conn.name, {"call": "accept"})
        return conn

    def connect(
        self,
        remote_address: str | IPAddress,
        remote_port: int,
        *,
        now: float,
        local_port: int | None = None,
        config: TcpConfig | None = None,
    ) -> Connection:
        """Active OPEN (RFC 9293 §3.10.1): create a TCB in SYN-SENT.

        The SYN leaves on the next :meth:`packets_to_send`.

        Raises:
            ValueError: bad address or port, or a broadcast/multicast remote (MUST-46).
            AddressInUse: the 4-tuple is taken, or no ephemeral port is free.
            LocalProtocolError: the stack holds ``TcpConfig.max_connections`` TCBs.
        """
        self._now = now
        if self._tcb_count >= self.config.max_connections:
            raise LocalProtocolError(f"connect: connection limit reached "
                                     f"({self.config.max_connections} TCBs, "
                                     f"TcpConfig.max_connections)")
        # An address object is taken as it is (ip_address would format and parse
        # it again), its validity from the peers' cache: about 5 % of a churn
        # connection's set-up (connect itself: 2 % of sim_churn).
        remote = (remote_address if isinstance(remote_address, _ADDRESS_TYPES)
                  else ipaddress.ip_address(remote_address))
        _check_port(remote_port)
        if remote.version != self.address.version:
            raise ValueError(f"cannot reach {remote} from {self.address}")
        if self._peer(remote.packed) is None:
            raise ValueError(f"refusing to open a connection to {remote} (MUST-46)")
        if local_port is None:
            local_port = self._ephemeral_port(remote, remote_port)
        else:
            _check_port(local_port)
            if self._entry(local_port, remote, remote_port) is not None:
                raise AddressInUse(f"{_fmt(self.address, local_port)} -> "
                                   f"{_fmt(remote, remote_port)} exists")
        conn = self._new_connection(local_port, remote, remote_port, now, passive=False,
                                    config=config)
        conn.open_active(now)
        return conn

    # ------------------------------------------------------------------
    # Packets and time
    # ------------------------------------------------------------------

    def receive(self, packet: bytes, now: float, *, checksum_verified: bool = False) -> None:
        """Process one raw IP packet that arrived at ``now`` (seconds). Never raises.

        ``checksum_verified``: the TCP checksum was already checked where the
        packet came from (checksum offload: the kernel marks it so on a TUN
        device with ``IFF_VNET_HDR``), so it is not summed again. Malformed
        packets are dropped, counted and traced with their reason
        (RFC 9293 §3.1: a segment whose checksum fails is discarded).

        Then call :meth:`packets_to_send`.
        """
        self._now = now
        self.stats["packets_in"] += 1
        try:
            src_raw, dst_raw, seg = decode_tcp_packet(packet,
                                                      verify_checksum=not checksum_verified)
        except MalformedPacket as exc:
            self._drop("", exc.reason, {"detail": exc.detail, "bytes": len(packet)})
            return
        if dst_raw != self._packed:
            dst = ipaddress.ip_address(dst_raw)
            self._drop(_name(dst, ipaddress.ip_address(src_raw), seg), "not-our-address",
                       segment_record(seg))
            return
        try:  # the peers' cache read here (_peer's first case, inlined: once per packet)
            src = self._peers[src_raw]
        except KeyError:
            src = self._peer(src_raw)
        if src is None or seg.src_port == 0 or seg.dst_port == 0:
            # MUST-57/63: segments from or to broadcast/multicast, or port 0, are dropped.
            self._drop(_name(self.address, ipaddress.ip_address(src_raw), seg),
                       "invalid-address", segment_record(seg))
            return
        listener = self._listeners.get(seg.dst_port)
        peers = self._conns.get(seg.dst_port)  # (_lookup, inlined: once per packet)
        conn = peers.get((src, seg.src_port)) if peers is not None else None
        if (
            conn is not None
            and listener is not None
            and conn.state is S.TIME_WAIT
            and conn.accept_reopen(seg, now)
        ):
            # MAY-2 (§3.6.1): the TIME-WAIT TCB gave way to a new incarnation.
            conn = None
        entry: Connection | HalfOpen | None = conn
        if entry is None and listener is not None and listener.half_open:
            # A half-open record (tcpstack.halfopen) stands in for its TCB.
            entry = listener.half_open.get(peer_key(src, seg.src_port))
        if entry is not None:
            if (
                listener is not None
                and entry.state is S.SYN_RECEIVED
                and listener.accept_full
                and _completes_handshake(entry, seg)
            ):
                # The accept queue is full: drop the completing ACK, as Linux
                # does (tcp_check_req); our SYN,ACK's retransmission asks again.
                # (A half-open record stays one.)
                name = _name(self.address, src, seg)
                self._trace("segment_received", name, segment_record(seg))
                self._refuse(name, Admission.BACKLOG_FULL)
                return
            # Any segment to a half-open record rebuilds its TCB, for good, and
            # the TCB processes it as §3.10.7.4 says (tcpstack.halfopen).
            if isinstance(entry, HalfOpen) or self._reviving or self._deferred:
                entry = self._pin(entry)
            entry.receive(seg, now)
            return
        if listener is not None and listen_verdict(seg) is _OPEN:
            # (_receive_listen's OPEN case, taken directly: no second verdict)
            self._receive_syn(listener, src, seg, now)  # the new TCB traces it
            return
        bad_cookie = False
        if (
            listener is not None
            and int(seg.flags) & _SYN_RST_ACK == _ACK_ONLY
            and self._cookies_live(listener, now)
        ):
            if self._receive_cookie(listener, src, seg, now):
                return
            bad_cookie = True
        name = _name(self.address, src, seg)
        self._trace("segment_received", name, segment_record(seg))
        if listener is not None:
            if bad_cookie:
                self._drop(name, "bad-syncookie", {})  # then the RST of §3.10.7.2
            self._receive_listen(listener, src, seg, now)
        else:
            self._receive_closed(src, seg, name)

    def _receive_listen(self, listener: Listener, src: IPAddress, seg: Segment, now: float) -> None:
        """RFC 9293 §3.10.7.2, LISTEN, before a TCB exists (:func:`listen_verdict`)."""
        match listen_verdict(seg):
            case ListenVerdict.IGNORE_RST | ListenVerdict.DROP as verdict:
                self._drop(_name(self.address, src, seg), verdict.value, {})
            case ListenVerdict.RESET:
                self._send_reset(src, seg, _name(self.address, src, seg))  # <SEQ=SEG.ACK>
            case ListenVerdict.OPEN:
                self._receive_syn(listener, src, seg, now)

    def _receive_syn(self, listener: Listener, src: IPAddress, seg: Segment, now: float) -> None:
        """A SYN for a listener, no TCB yet: queue, cookie, recycle or drop
        (:meth:`Listener.admit`, RFC 4987 §3)."""
        if self._tcb_count >= self.config.max_connections:
            self._drop(_name(self.address, src, seg), "max-connections", {})
            return
        admission, victim, overflow = listener.admit(listener.config or self.config)
        if overflow:
            self.count("syn_queue_overflow")
        match admission:
            case Admission.COOKIE:
                self._send_cookie(listener, src, seg, now)
                return
            case Admission.RECYCLE if victim is not None:
                self.count("syn_recycled")
                if isinstance(victim, HalfOpen):
                    victim = self._revive(victim)
                victim.give_up(Cause.RECYCLED, now)
            case Admission.BACKLOG_FULL | Admission.SYN_QUEUE_FULL:
                self._refuse(_name(self.address, src, seg), admission)
                return
        # A new TCB in LISTEN for this peer; the SYN moves it to SYN-RECEIVED.
        # Once its SYN,ACK has left it becomes a HalfOpen record (_collect).
        conn = self._new_connection(seg.dst_port, src, seg.src_port, now,
                                    passive=True, config=listener.config)
        key = peer_key(src, seg.src_port)
        listener.half_open[key] = conn
        self._reviving[conn] = (key, seg, (now,))
        conn.receive(seg, now)

    def _refuse(self, name: str, admission: Admission) -> None:
        """Drop a SYN or completing ACK the listener's queues have no room for."""
        if admission is Admission.BACKLOG_FULL:
            self.count("backlog_overflow")
        self._drop(name, admission.value, {})

    # ------------------------------------------------------------------
    # SYN cookies (RFC 4987 §3.6; tcpstack.syncookies)
    # ------------------------------------------------------------------

    def _send_cookie(self, listener: Listener, src: IPAddress, seg: Segment, now: float) -> None:
        """Answer ``seg`` (a SYN) with a SYN,ACK whose ISS is a cookie; keep nothing."""
        config = listener.config or self.config
        name = _name(self.address, src, seg)
        self._trace("segment_received", name, segment_record(seg))
        table = mss_table(self.address)
        peer_mss = seg.mss if seg.mss is not None else config.default_peer_mss
        index = mss_index(table, peer_mss)
        iss = self._cookies.make(self.address, seg.dst_port, src, seg.src_port, seg.seq,
                                 index, now)
        ts = seg.timestamps
        options = None
        if ts is not None and config.timestamps:
            wscale = seg.wscale
            options = CookieOptions(None if wscale is None else min(wscale, 14),
                                    seg.sack_permitted)
        # The SYN as the cookie will recall it: what the SYN,ACK answers.
        syn = recalled_syn(seg, seg.seq, table[index], options,
                          ts.tsval if ts is not None and options is not None else 0)
        tsval = encode_ts_options(ts_clock(iss, now), options) if options is not None else 0
        rcv_mss = config.mss - 20 if self.address.version == 6 else config.mss
        synack = Segment(seg.dst_port, seg.src_port, iss, seq_add(seg.seq, 1),
                         Flags.SYN | Flags.ACK, min(config.recv_buffer, 65535),
                         options=syn_options(config, mss=rcv_mss, tsval=tsval, peer_syn=syn))
        listener.cookie_sent_at = now
        self.count("syncookies_sent")
        self._outbox.append((src, synack, name, {"syncookie": True}))
        self._notify()

    def _cookies_live(self, listener: Listener, now: float) -> bool:
        """May an ACK to ``listener`` carry a cookie? With ``syncookies = "always"``,
        or while a cookie it sent may be valid (Linux tcp_synq_no_recent_overflow):
        otherwise an ACK to a listener is answered as §3.10.7.2 says, unchecked."""
        mode = (listener.config or self.config).syncookies
        if mode == "always":
            return True
        sent = listener.cookie_sent_at
        return mode != "off" and sent is not None and now - sent <= _COOKIE_LIFE

    def _receive_cookie(self, listener: Listener, src: IPAddress, seg: Segment,
                        now: float) -> bool:
        """The final ACK of a cookie handshake (``seg``: ACK, no SYN or RST, no TCB).

        A valid cookie makes the connection, ESTABLISHED, in the accept queue,
        ``seg`` processed (True). An invalid one is counted and False returned:
        the caller traces the drop and answers with the RST of §3.10.7.2. True
        too when the cookie is valid but the accept queue or the connection
        limit has no room (dropped).
        """
        config = listener.config or self.config
        irs = seq_add(seg.seq, -1)
        index = self._cookies.check(self.address, seg.dst_port, src, seg.src_port, irs,
                                    seq_add(seg.ack, -1), now)
        ts = seg.timestamps
        options = None
        if index is not None and ts is not None:
            options = decode_ts_options(ts.tsecr)
            if options is None or not config.timestamps or (
                options.wscale is not None and not config.window_scaling
            ) or (options.sack and not config.sack):
                index = None  # bits the SYN,ACK could not have carried (Linux does so)
        if index is None:
            self.count("syncookies_failed")
            return False
        name = _name(self.address, src, seg)
        if listener.accept_full or self._tcb_count >= self.config.max_connections:
            self._trace("segment_received", name, segment_record(seg))
            if listener.accept_full:
                self._refuse(name, Admission.BACKLOG_FULL)
            else:
                self._drop(name, "max-connections", {})
            return True
        self.count("syncookies_validated")
        syn = recalled_syn(seg, irs, mss_table(self.address)[index], options,
                          ts.tsval if ts is not None and options is not None else 0)
        conn = self._new_connection(seg.dst_port, src, seg.src_port, now, passive=True,
                                    config=listener.config, iss=seq_add(seg.ack, -1))
        conn.open_from_cookie(syn, seg, now)
        return True

    def _receive_closed(self, src: IPAddress, seg: Segment, name: str) -> None:
        """RFC 9293 §3.10.7.1, CLOSED: no TCB. Answer everything but RST with RST."""
        if seg.flags & Flags.RST:
            # "An incoming segment containing a RST is discarded."
            self._drop(name, "rst-to-closed-port", {})
            return
        self._send_reset(src, seg, name)

    def _send_reset(self, dst: IPAddress, seg: Segment, name: str) -> None:
        """The RST of §3.10.7.1: <SEQ=SEG.ACK><CTL=RST> if ACK is on, else
        <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>."""
        if seg.flags & Flags.ACK:
            rst = Segment(seg.dst_port, seg.src_port, seq=seg.ack, ack=0, flags=Flags.RST,
                          window=0)
        else:
            rst = Segment(seg.dst_port, seg.src_port, seq=0,
                          ack=seq_add(seg.seq, seg.seg_len), flags=Flags.RST | Flags.ACK,
                          window=0)
        self.stats["resets_sent"] += 1
        self._outbox.append((dst, rst, name, None))
        self._notify()

    def packets_to_send(self, now: float) -> list[bytes]:
        """Raw IP packets to transmit now, oldest first.

        Visits only the connections that may have something to send: those
        that received a segment, fired a timer or were called since the last
        time.
        """
        self._now = now
        out: list[bytes] = []
        self._collect(now, out)
        if self._over_limit:
            # Host limits, once this round's segments are out (a TIME-WAIT TCB
            # over the limit has sent its ACK of the FIN): the RSTs they cause
            # leave now too.
            self._enforce_limits(now)
            self._collect(now, out)
        self.stats["packets_out"] += len(out)
        return out

    def _collect(self, now: float, out: list[bytes]) -> None:
        """Append to ``out`` the segments of the outbox and of the active connections."""
        ttl = self.config.ttl
        refused = self.local_congestion
        if self._outbox:
            for dst, seg, name, extra in self._outbox:
                record = segment_record(seg)
                if extra:
                    record.update(extra)
                self._trace("segment_sent", name, record)
                if refused:
                    self._drop(name, LOCAL_CONGESTION, record)
                else:
                    out.append(self._encoder(dst, ttl, 0).encode(seg))
            self._outbox.clear()
        active = self._active
        if active:
            self._active = {}
            conns = list(active) if len(active) == 1 else sorted(active, key=_serial_of)
            reviving = self._reviving
            for conn in conns:
                segments = conn.packets_to_send(now)
                if segments and refused:
                    # The device refuses them (local_congestion): sent and lost.
                    for seg in segments:
                        self._drop(conn.name, LOCAL_CONGESTION, segment_record(seg))
                elif segments:
                    # MUST-48: the application's Diffserv field (TOS).
                    encode = self._encoder(conn.remote.address, ttl, conn.config.tos).encode
                    for seg in segments:  # (a loop: a list comprehension is a call more)
                        out.append(encode(seg))
                if reviving and conn in reviving:
                    self._to_record(conn, now)

    def tick(self, now: float) -> None:
        """Tell the stack the time (seconds) without other input, so that user
        calls made next (``send``, ``close``...) are traced at ``now``."""
        self._now = now

    def next_timer(self) -> float | None:
        """The earliest timer deadline of any connection (seconds), or None."""
        heap = self._timers
        while heap:
            at, serial, conn = heap[0]
            real = conn.next_timer()
            if real == at:
                return at
            heapq.heappop(heap)  # stale: the deadline moved or is gone
            if real is not None and real > at:
                heapq.heappush(heap, (real, serial, conn))
        return None

    def timer_bound(self) -> float | None:
        """A lower bound of :meth:`next_timer` (seconds), at no cost: the earliest
        entry of the timer heap, which may be stale (its deadline moved later or
        is gone), but no deadline is earlier. None if the heap is empty (then
        no timer is armed). A driver that keeps hosts in a heap of its own may
        file a host under this bound and ask :meth:`next_timer` only when it
        comes first (the simulator does)."""
        heap = self._timers
        return heap[0][0] if heap else None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now`` (seconds), connection by connection in
        creation order. Then call :meth:`packets_to_send`."""
        self._now = now
        heap = self._timers
        due: dict[Connection | HalfOpen, None] = {}
        while heap and heap[0][0] <= now:
            at, serial, entry = heapq.heappop(heap)
            real = entry.next_timer()
            if real is None:
                continue
            if real <= now:
                due[entry] = None
            elif real > at:
                heapq.heappush(heap, (real, serial, entry))
        for entry in sorted(due, key=_serial_of) if len(due) > 1 else due:
            if isinstance(entry, HalfOpen):
                # Its retransmission timeout: the TCB again, until the SYN,ACK
                # has left (_collect) or it gives up (tcpstack.halfopen).
                conn = self._revive(entry)
                self._reviving[conn] = (entry.key, entry.syn, (*entry.times, now))
            else:
                conn = entry
                if self._deferred and conn in self._deferred:
                    # A half-open TCB left whole: a record after this retransmission.
                    key, syn, times = self._deferred.pop(conn)
                    self._reviving[conn] = (key, syn, (*times, now))
            conn.handle_timer(now)
            if conn in self._reviving:
                continue  # its record goes into the heap
            nxt = conn.next_timer()
            if nxt is not None:
                heapq.heappush(heap, (nxt, conn.serial, conn))

    def next_event(self) -> tuple[Connection, ev.Event] | None:
        """Pop the oldest ``(connection, event)`` pair of any connection, or None."""
        return self._events.popleft() if self._events else None

    def take_events(self) -> deque[tuple[Connection, ev.Event]] | tuple[()]:
        """Every pending ``(connection, event)`` pair, oldest first, taken at once
        (empty if none): what :meth:`next_event` would return, call by call, up
        to its None. Events raised after the call wait for the next one.

        For a driver that hands events out in a loop: one call per batch
        instead of one per event (the simulator's service).
        """
        events = self._events
        if not events:
            return ()
        self._events = deque()
        return events

    # ------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------

    @property
    def connections(self) -> list[Connection]:
        """Every connection with a TCB (including TIME-WAIT), in creation order.

        Half-open connections kept as records (:mod:`tcpstack.halfopen`) are
        rebuilt into TCBs, for good, so that the caller may act on them.
        """
        conns = [c for peers in self._conns.values() for c in peers.values()]
        if self._reviving or self._deferred:
            for conn in conns:
                self._pin(conn)  # about to become records: TCBs they stay
        conns += [self._pin(e) for listener in list(self._listeners.values())
                  for e in list(listener.half_open.values()) if isinstance(e, HalfOpen)]
        return sorted(conns, key=_serial_of)

    def find(self, local_port: int, remote_address: str | IPAddress, remote_port: int
             ) -> Connection | None:
        """The connection with this 4-tuple, or None (a half-open record is
        rebuilt into its TCB, for good, as with :attr:`connections`)."""
        entry = self._entry(local_port, ipaddress.ip_address(remote_address), remote_port)
        return self._pin(entry) if entry is not None else None

    def listening(self, port: int) -> bool:
        """True if a listener exists on ``port``."""
        return port in self._listeners

    def listener(self, port: int) -> Listener | None:
        """The listener on ``port`` (its backlog and queues), or None."""
        return self._listeners.get(port)

    # ------------------------------------------------------------------
    # What connections tell their owner (connection.Owner)
    # ------------------------------------------------------------------

    def clock(self) -> float:
        """The current time (seconds): the driver's clock if given, else the last time seen."""
        source = self.clock_source
        if source is not None:
            t = source()
            if t > self._now:
                self._now = t
        return self._now

    def on_event(self, conn: Connection, event: ev.Event) -> None:
        """Queue ``event`` of ``conn`` for :meth:`next_event`; join the accept queue."""
        if conn.passive:
            if not conn.was_established:
                # A half-open passive TCB the application never saw (§3.10.7.2):
                # its events stay in the trace only.
                return
            if isinstance(event, ev.Connected):
                listener = self._listeners.get(conn.local.port)
                if listener is not None:
                    listener.accept_queue[conn] = None
        self._events.append((conn, event))
        wakeup = self.wakeup  # (_notify, inlined: 9 events per churn connection)
        if wakeup is not None:
            wakeup()

    def wake(self, conn: Connection) -> None:
        """``conn`` may have segments to send at the next :meth:`packets_to_send`."""
        self._active[conn] = None
        wakeup = self.wakeup  # (_notify, inlined: once per segment and user call)
        if wakeup is not None:
            wakeup()

    def timer_moved(self, conn: Connection) -> None:
        """``conn``'s earliest deadline moved earlier: put it in the heap."""
        if self._reviving and conn in self._reviving:
            return  # its record goes into the heap instead (_to_record)
        self._push_timer(conn)

    def _push_timer(self, entry: Connection | HalfOpen) -> None:
        at = entry.next_timer()
        if at is not None:
            heap = self._timers
            heapq.heappush(heap, (at, entry.serial, entry))
            if len(heap) >= self._timers_compact_at:
                self._compact_timers()
            wakeup = self.wakeup  # (_notify, inlined: 8 pushes per churn connection)
            if wakeup is not None:
                wakeup()

    def state_changed(self, conn: Connection, old: State, new: State) -> None:
        """Keep the listener queues, the host limits' counts and the demultiplexing
        table in step with ``conn``."""
        deleted = new is S.CLOSED or new is S.LISTEN
        if deleted or old is S.SYN_RECEIVED:
            if self._reviving:
                self._reviving.pop(conn, None)  # no record for it: it moved on
            if self._deferred:
                self._undefer(conn)
            listener = self._listeners.get(conn.local.port)
            if listener is not None:
                half_open = listener.half_open
                if half_open:
                    key = peer_key(*conn.remote)
                    if half_open.get(key) is conn:
                        del half_open[key]
                if deleted:
                    listener.accept_queue.pop(conn, None)  # dead entries leave the queue
        if deleted:
            # The TCB is deleted (a passive one that went back to LISTEN too:
            # the listener is the stack's). Its last segments still go out.
            peers = self._conns.get(conn.local.port)
            if peers is not None and peers.get(conn.remote) is conn:
                del peers[conn.remote]
                self._tcb_count -= 1
                if not peers:
                    del self._conns[conn.local.port]
            self._active[conn] = None
            # Its heap entries are stale now: rebuild once such closes may be half
            # the heap, so closed TCBs waiting there for an old deadline stay
            # fewer than the live ones (and than _COMPACT_CLOSES).
            self._closed_since_compact += 1
            closed = self._closed_since_compact
            if closed >= _COMPACT_CLOSES and 2 * closed > len(self._timers):
                self._compact_timers()
        if old is S.TIME_WAIT:
            self._time_wait_count -= 1
        elif new is S.TIME_WAIT:
            self._time_wait_count += 1
            if self._time_wait_count > self.config.max_time_wait:
                self._over_limit.append(conn)  # closed by packets_to_send
        if conn.orphaned:
            self._track_orphan(conn, new)

    def _track_orphan(self, conn: Connection, new: State) -> None:
        """Count orphans (closed by the application, not yet TIME-WAIT or CLOSED),
        oldest first; over ``max_orphans`` the oldest is reset at the next
        :meth:`packets_to_send` (Linux tcp_max_orphans)."""
        orphans = self._orphans
        if new in _GONE:
            orphans.pop(conn, None)
        elif conn not in orphans:
            orphans[conn] = None
            if len(orphans) > self.config.max_orphans:
                self._over_limit.append(conn)

    def _enforce_limits(self, now: float) -> None:
        """Close what the host limits leave no room for: TIME-WAIT TCBs over
        ``max_time_wait`` (at once, silently), the oldest orphans over
        ``max_orphans`` (RST). Deferred from :meth:`state_changed` so that no TCB
        is closed in the middle of its own event processing."""
        pending, self._over_limit = self._over_limit, []
        for conn in pending:
            if conn.state is State.TIME_WAIT:
                self.count("time_wait_overflow")
                conn.give_up(Cause.TIME_WAIT_OVERFLOW, now)
        limit = self.config.max_orphans
        while len(self._orphans) > limit:
            oldest = next(iter(self._orphans))
            self.count("orphans_killed_limit")
            self._orphans.pop(oldest)
            oldest.abort(now)

    def count(self, what: str, n: int = 1) -> None:
        """Count ``n`` of ``what`` (a :data:`~tcpstack.counters.COUNTERS` key) in :attr:`stats`."""
        self.stats[what] += n

    # ------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------

    def _new_connection(
        self,
        local_port: int,
        remote: IPAddress,
        remote_port: int,
        now: float,
        *,
        passive: bool,
        config: TcpConfig | None,
        iss: int | None = None,
    ) -> Connection:
        if iss is None:
            iss = self._isn.isn(self._address_text, local_port, str(remote), remote_port, now)
        self._serial += 1
        local = self._endpoints.get(local_port)
        if local is None:
            local = self._endpoints[local_port] = Endpoint(self.address, local_port)
        conn = Connection(
            local,
            Endpoint(remote, remote_port),
            iss=iss,
            config=config or self.config,
            now=now,
            passive=passive,
            owner=self,
            serial=self._serial,
        )
        peers = self._conns.get(local_port)
        if peers is None:
            peers = self._conns[local_port] = {}
        peers[conn.remote] = conn
        self._tcb_count += 1
        return conn

    def _lookup(self, local_port: int, remote: IPAddress, remote_port: int) -> Connection | None:
        peers = self._conns.get(local_port)
        return peers.get((remote, remote_port)) if peers is not None else None

    def _entry(self, local_port: int, remote: IPAddress, remote_port: int
               ) -> Connection | HalfOpen | None:
        """The TCB or half-open record of this 4-tuple, or None."""
        conn = self._lookup(local_port, remote, remote_port)
        if conn is not None:
            return conn
        listener = self._listeners.get(local_port)
        if listener is None or not listener.half_open:
            return None
        return listener.half_open.get(peer_key(remote, remote_port))

    # ------------------------------------------------------------------
    # Half-open records (tcpstack.halfopen; RFC 4987 §3.5 "SYN cache")
    # ------------------------------------------------------------------

    def _to_record(self, conn: Connection, now: float) -> None:
        """``conn`` (half-open, its SYN,ACK just handed out at ``now``) becomes a
        HalfOpen record: in its listener's SYN queue, in its place, and in the
        timer heap; the TCB leaves the demultiplexing table."""
        reviving = self._reviving
        key, syn, times = reviving.pop(conn)
        if not reviving:
            reviving.clear()  # give back the table a burst of SYNs made it grow to
        remote = conn.remote
        times = (*times, now)
        listener = self._listeners.get(conn.local.port)
        if (listener is None or listener.half_open.get(key) is not conn
                or len(times) > MAX_TIMES):
            # No SYN queue to keep a record in, or more retransmissions than a
            # record keeps: a TCB it stays.
            self._push_timer(conn)
            return
        if len(times) == 2 and len(listener.half_open) <= listener.light_load:
            # A light load and a fresh entry: it stays a TCB, spared a rebuild
            # when its peer answers, until its first retransmission timeout.
            self._deferred[conn] = (key, syn, times)
            self._push_timer(conn)
            return
        record = conn.to_half_open(key, syn, times)
        listener.half_open[key] = record
        peers = self._conns[conn.local.port]
        del peers[remote]
        if not peers:
            del self._conns[conn.local.port]
        self._push_timer(record)

    def _revive(self, record: HalfOpen) -> Connection:
        """The TCB of ``record``, rebuilt (Connection.from_half_open) and put in
        its place; the record's heap entry goes stale. The caller schedules it."""
        trace = self.trace
        tracing = trace is not None and trace.active
        quiet = self._quiet.get(tracing)
        if quiet is None:
            quiet = self._quiet[tracing] = QuietOwner(self.name, tracing=tracing)
        port = record.local_port
        raw = (record.key >> 16).to_bytes(len(self._packed), "big")
        remote = Endpoint(self._peer(raw) or ipaddress.ip_address(raw), record.key & 0xFFFF)
        conn = Connection.from_half_open(record, self._endpoints[port], remote, self, quiet)
        record.deadline = None
        peers = self._conns.get(port)
        if peers is None:
            peers = self._conns[port] = {}
        peers[conn.remote] = conn
        listener = self._listeners.get(port)
        if listener is not None and listener.half_open.get(record.key) is record:
            listener.half_open[record.key] = conn
        return conn

    def _undefer(self, conn: Connection) -> None:
        """``conn`` is no longer a half-open TCB left whole (``_deferred``)."""
        deferred = self._deferred
        if deferred.pop(conn, None) is not None and not deferred:
            deferred.clear()  # give back the table a burst of SYNs made it grow to

    def _pin(self, entry: Connection | HalfOpen) -> Connection:
        """``entry`` as a TCB that stays one: a record is rebuilt, a TCB about to
        become a record stays a TCB; either way its timer is in the heap."""
        if isinstance(entry, HalfOpen):
            conn = self._revive(entry)
        elif self._reviving and entry in self._reviving:
            conn = entry
            del self._reviving[conn]
        else:
            if self._deferred:
                self._undefer(entry)  # in the heap already
            return entry
        self._push_timer(conn)
        return conn

    def _ephemeral_port(self, remote: IPAddress, remote_port: int) -> int:
        """A free local port (RFC 6056 §3.3.1: random start, linear probe)."""
        n = len(EPHEMERAL_PORTS)
        start = self._rng.randrange(n)
        for i in range(n):
            port = EPHEMERAL_PORTS[(start + i) % n]
            if self._entry(port, remote, remote_port) is None and port not in self._listeners:
                return port
        raise AddressInUse("no free ephemeral port")

    def _compact_timers(self) -> None:
        """Rebuild the heap: one entry per connection that has a deadline, at its
        current deadline (an entry is never later than its connection's deadline:
        a deadline that moves earlier is pushed)."""
        live: dict[Connection | HalfOpen, tuple[float, int, Connection | HalfOpen]] = {}
        for _, serial, entry in self._timers:
            if entry not in live and (at := entry.next_timer()) is not None:
                live[entry] = (at, serial, entry)
        self._timers = list(live.values())
        heapq.heapify(self._timers)
        self._timers_compact_at = max(_HEAP_MIN, 2 * len(self._timers))
        self._closed_since_compact = 0

    def _peer(self, raw: bytes) -> IPAddress | None:
        """The address object of a packet's source (raw bytes), or None when it
        is never a peer: broadcast, multicast, unspecified (MUST-46/57/63)."""
        try:
            return self._peers[raw]
        except KeyError:
            pass
        address = ipaddress.ip_address(raw)
        if len(self._peers) >= _CACHE_MAX:
            self._peers.clear()
        peer = self._peers[raw] = None if _invalid_peer(address) else address
        return peer

    @property
    def checksum_offload(self) -> bool:
        """Packets leave with a partial TCP checksum for the device to complete."""
        return self._checksum_offload

    @checksum_offload.setter
    def checksum_offload(self, on: bool) -> None:
        self._checksum_offload = on
        self._encoders.clear()  # built for the other kind of checksum
        self._last_encoder = None

    def _encoder(self, remote: IPAddress, ttl: int, tos: int) -> PacketEncoder:
        """The packet encoder from our address to ``remote`` (built once, reused)."""
        encoder = self._last_encoder
        # The same peer as last time: no dict lookup (hashing an address object
        # is a Python-level call).
        if (encoder is not None and encoder.dst is remote and encoder.ttl == ttl
                and encoder.tos == tos):
            return encoder
        key = (remote, ttl, tos)
        encoder = self._encoders.get(key)
        if encoder is None:
            if len(self._encoders) >= _CACHE_MAX:
                self._encoders.clear()
            kind = PartialChecksumEncoder if self._checksum_offload else PacketEncoder
            encoder = self._encoders[key] = kind(self.address, remote, ttl=ttl, tos=tos)
        self._last_encoder = encoder
        return encoder

    def _notify(self) -> None:
        wakeup = self.wakeup
        if wakeup is not None:
            wakeup()

    def _drop(self, conn: str, reason: str, data: dict[str, Any]) -> None:
        self.stats[f"dropped:{reason}"] += 1
        self._trace("segment_dropped", conn, {"reason": reason, **data})

    def _trace(self, event: str, conn: str, data: dict[str, Any]) -> None:
        if self.trace is not None and self.trace.active:
            self.trace.emit(self._now, self.name, conn, event, data)


def _serial_of(entry: Connection | HalfOpen) -> int:
    return entry.serial


def _completes_handshake(conn: Connection | HalfOpen, seg: Segment) -> bool:
    """Would ``seg`` take ``conn`` (SYN-RECEIVED) to ESTABLISHED? An ACK without
    SYN or RST acknowledging our SYN (§3.10.7.4 fifth step: SND.UNA < SEG.ACK =< SND.NXT)."""
    return (int(seg.flags) & _SYN_RST_ACK == _ACK_ONLY
            and seq_lt(conn.snd_una, seg.ack) and seq_le(seg.ack, conn.snd_max))


def _fmt(address: IPAddress, port: int) -> str:
    return str(Endpoint(address, port))


def _name(local: IPAddress, remote: IPAddress, seg: Segment) -> str:
    """The trace name of the connection ``seg`` (from ``remote``) belongs to."""
    return f"{_fmt(local, seg.dst_port)}-{_fmt(remote, seg.src_port)}"


def _check_port(port: int) -> None:
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port!r}")


def _invalid_peer(address: IPAddress) -> bool:
    """Broadcast, multicast, unspecified addresses are never TCP peers (MUST-46/57/63)."""
    return address.is_multicast or address.is_unspecified or address == _IPV4_BROADCAST
