"""A host's TCP: demultiplexing, listeners, ports, ISNs and resets (RFC 9293 §3.10.7.1-2).

A :class:`Stack` owns every connection of one IP address. Packets enter as
raw IP bytes (:meth:`Stack.receive`) and leave the same way
(:meth:`Stack.packets_to_send`); time is supplied by the caller. A packet
never makes it raise: malformed input is counted in :attr:`Stack.stats` and
traced as ``segment_dropped``.
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from . import events as ev
from .config import TcpConfig
from .connection import Connection, Endpoint, segment_record
from .errors import AddressInUse, LocalProtocolError, MalformedPacket
from .isn import IsnGenerator
from .seq import seq_add, seq_gt
from .state import State
from .trace import Trace
from .wire import Flags, IPAddress, Segment, decode_packet, encode_packet

EPHEMERAL_PORTS = range(49152, 65536)
"""Dynamic port range used for active opens (RFC 6335 §6, RFC 6056)."""


@dataclass
class Listener:
    """A passive OPEN on one port (RFC 9293 §3.10.1).

    Attributes:
        port: the local port.
        backlog: most connections that may be half-open or waiting in the
            accept queue at once; further SYNs are dropped.
        accept_queue: ESTABLISHED connections not yet taken by ``accept()``.
    """

    port: int
    backlog: int
    accept_queue: deque[Connection] = field(default_factory=deque)
    config: TcpConfig | None = None


class Stack:
    """The TCP of one host address.

    Args:
        address: our IPv4 or IPv6 address.
        config: default configuration of new connections.
        name: host name used in the trace.
        trace: trace collector shared with other hosts, or None.
        isn_key: secret of the RFC 6528 ISN hash; default derived from ``rng``.
        rng: randomness for ephemeral ports and the default ISN key; default
            ``random.Random(0)`` so simulations are reproducible. Drivers that
            face a real network pass a key from ``os.urandom``.

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
    ) -> None:
        self.address: IPAddress = ipaddress.ip_address(address)
        self.config = config or TcpConfig()
        self.name = name
        self.trace = trace
        self._rng = rng or random.Random(0)
        self._isn = IsnGenerator(isn_key or self._rng.randbytes(16))
        self._conns: dict[tuple[int, IPAddress, int], Connection] = {}
        self._listeners: dict[int, Listener] = {}
        self._events: deque[tuple[Connection, ev.Event]] = deque()
        self._outbox: list[tuple[IPAddress, Segment, str]] = []
        self._closed: list[Connection] = []
        self._now = 0.0
        #: Counters: packets in/out, drops by reason, resets sent, ...
        self.stats: Counter[str] = Counter()

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
        self._listeners[port] = Listener(port, backlog, config=config)
        self._trace("app", f"{_fmt(self.address, port)}-*", {"call": "listen", "port": port,
                                                             "backlog": backlog})

    def unlisten(self, port: int) -> None:
        """Stop listening on ``port``; connections already accepted or queued stay."""
        self._listeners.pop(port, None)

    def accept(self, port: int) -> Connection | None:
        """Take the oldest ESTABLISHED connection from the listener's queue, or None.

        Raises:
            LocalProtocolError: nobody listens on ``port``.
        """
        listener = self._listeners.get(port)
        if listener is None:
            raise LocalProtocolError(f"accept: not listening on port {port}")
        while listener.accept_queue:
            conn = listener.accept_queue.popleft()
            if conn.state is not State.CLOSED:
                conn._app("accept")
                return conn
        return None

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
        """
        self._now = now
        remote = ipaddress.ip_address(remote_address)
        _check_port(remote_port)
        if remote.version != self.address.version:
            raise ValueError(f"cannot reach {remote} from {self.address}")
        if _invalid_peer(remote):
            raise ValueError(f"refusing to open a connection to {remote} (MUST-46)")
        if local_port is None:
            local_port = self._ephemeral_port(remote, remote_port)
        else:
            _check_port(local_port)
            if (local_port, remote, remote_port) in self._conns:
                raise AddressInUse(f"{_fmt(self.address, local_port)} -> "
                                   f"{_fmt(remote, remote_port)} exists")
        conn = self._new_connection(local_port, remote, remote_port, now, passive=False,
                                    config=config)
        conn.open_active(now)
        return conn

    # ------------------------------------------------------------------
    # Packets and time
    # ------------------------------------------------------------------

    def receive(self, packet: bytes, now: float) -> None:
        """Process one raw IP packet that arrived at ``now`` (seconds). Never raises."""
        self._now = now
        self.stats["packets_in"] += 1
        try:
            ip, seg = decode_packet(packet)
        except MalformedPacket as exc:
            self._drop("", exc.reason, {"detail": exc.detail, "bytes": len(packet)})
            return
        src, dst = ip.src, ip.dst
        name = f"{_fmt(dst, seg.dst_port)}-{_fmt(src, seg.src_port)}"
        if dst != self.address:
            self._drop(name, "not-our-address", segment_record(seg))
            return
        if _invalid_peer(src) or seg.src_port == 0 or seg.dst_port == 0:
            # MUST-57/63: segments from or to broadcast/multicast, or port 0, are dropped.
            self._drop(name, "invalid-address", segment_record(seg))
            return
        key = (seg.dst_port, src, seg.src_port)
        conn = self._conns.get(key)
        if conn is not None and conn.state is State.TIME_WAIT and self._may_reopen(conn, seg):
            # MAY-2 (§3.6.1): a new SYN with a higher sequence number than the
            # old connection's end may reopen it: drop the TIME-WAIT TCB.
            self._trace("segment_dropped", conn.name, {"reason": "time-wait-reopened"})
            conn._enter_closed(ev.ConnectionClosed())
            del self._conns[key]
            conn = None
        if conn is not None:
            conn.receive(seg, now)
            return
        listener = self._listeners.get(seg.dst_port)
        if listener is not None and seg.flags & (Flags.SYN | Flags.RST | Flags.ACK) == Flags.SYN:
            self._receive_listen(listener, src, seg, now, name)  # the new TCB traces it
            return
        self._trace("segment_received", name, segment_record(seg))
        if listener is not None:
            self._receive_listen(listener, src, seg, now, name)
        else:
            self._receive_closed(src, seg, name)

    def _receive_listen(
        self, listener: Listener, src: IPAddress, seg: Segment, now: float, name: str
    ) -> None:
        """RFC 9293 §3.10.7.2, LISTEN."""
        # First: "An incoming RST segment could not be valid ... It should be ignored."
        if seg.has(Flags.RST):
            self._drop(name, "rst-in-listen", {})
            return
        # Second: "Any acknowledgment is bad if it arrives on a connection
        # still in the LISTEN state. An acceptable reset segment should be
        # formed for any arriving ACK-bearing segment: <SEQ=SEG.ACK><CTL=RST>"
        if seg.has(Flags.ACK):
            self._send_reset(src, seg, name)
            return
        # Third: SYN: a new TCB in SYN-RECEIVED, if the backlog has room.
        if seg.has(Flags.SYN):
            pending = sum(
                1 for c in self._conns.values()
                if c.passive and c.local.port == listener.port and c.state is State.SYN_RECEIVED
            )
            if pending + len(listener.accept_queue) >= listener.backlog:
                self._drop(name, "backlog-full", {})
                return
            conn = self._new_connection(seg.dst_port, src, seg.src_port, now, passive=True,
                                        config=listener.config)
            conn.receive(seg, now)
            return
        # Fourth: "Any other control or text-bearing segment ... drop it and return."
        self._drop(name, "no-syn-in-listen", {})

    def _receive_closed(self, src: IPAddress, seg: Segment, name: str) -> None:
        """RFC 9293 §3.10.7.1, CLOSED: no TCB. Answer everything but RST with RST."""
        if seg.has(Flags.RST):
            # "An incoming segment containing a RST is discarded."
            self._drop(name, "rst-to-closed-port", {})
            return
        self._send_reset(src, seg, name)

    def _send_reset(self, dst: IPAddress, seg: Segment, name: str) -> None:
        """The RST of §3.10.7.1: <SEQ=SEG.ACK><CTL=RST> if ACK is on, else
        <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>."""
        if seg.has(Flags.ACK):
            rst = Segment(seg.dst_port, seg.src_port, seq=seg.ack, ack=0, flags=Flags.RST,
                          window=0)
        else:
            rst = Segment(seg.dst_port, seg.src_port, seq=0,
                          ack=seq_add(seg.seq, seg.seg_len), flags=Flags.RST | Flags.ACK,
                          window=0)
        self.stats["resets_sent"] += 1
        self._outbox.append((dst, rst, name))

    def packets_to_send(self, now: float) -> list[bytes]:
        """Raw IP packets to transmit now, oldest first."""
        self._now = now
        out: list[bytes] = []
        ttl = self.config.ttl
        for dst, seg, name in self._outbox:
            self._trace("segment_sent", name, segment_record(seg))
            out.append(encode_packet(self.address, dst, seg, ttl=ttl))
        self._outbox.clear()
        for conn in list(self._conns.values()):
            for seg in conn.packets_to_send(now):
                out.append(encode_packet(self.address, conn.remote.address, seg, ttl=ttl))
        self._reap()
        self.stats["packets_out"] += len(out)
        return out

    def tick(self, now: float) -> None:
        """Tell the stack the time (seconds) without other input, so that user
        calls made next (``send``, ``close``...) are traced at ``now``."""
        self._now = now

    def next_timer(self) -> float | None:
        """The earliest timer deadline of any connection (seconds), or None."""
        deadlines = [t for c in self._conns.values() if (t := c.next_timer()) is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now`` (seconds)."""
        self._now = now
        for conn in list(self._conns.values()):
            t = conn.next_timer()
            if t is not None and t <= now:
                conn.handle_timer(now)

    def next_event(self) -> tuple[Connection, ev.Event] | None:
        """Pop the oldest ``(connection, event)`` pair of any connection, or None."""
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------

    @property
    def connections(self) -> list[Connection]:
        """Every connection with a TCB (including TIME-WAIT), in creation order."""
        return list(self._conns.values())

    def find(self, local_port: int, remote_address: str | IPAddress, remote_port: int
             ) -> Connection | None:
        """The connection with this 4-tuple, or None."""
        return self._conns.get((local_port, ipaddress.ip_address(remote_address), remote_port))

    def listening(self, port: int) -> bool:
        """True if a listener exists on ``port``."""
        return port in self._listeners

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
    ) -> Connection:
        iss = self._isn.isn(str(self.address), local_port, str(remote), remote_port, now)
        conn = Connection(
            Endpoint(self.address, local_port),
            Endpoint(remote, remote_port),
            iss=iss,
            config=config or self.config,
            now=now,
            passive=passive,
            trace=self.trace,
            host=self.name,
            event_sink=self._on_event,
            clock=lambda: self._now,
        )
        self._conns[(local_port, remote, remote_port)] = conn
        return conn

    def _on_event(self, conn: Connection, event: ev.Event) -> None:
        if conn.passive and not conn.was_established:
            # A half-open passive TCB the application never saw (§3.10.7.2):
            # its events stay in the trace only.
            return
        if isinstance(event, ev.Connected) and conn.passive:
            listener = self._listeners.get(conn.local.port)
            if listener is not None:
                listener.accept_queue.append(conn)
        self._events.append((conn, event))

    def _reap(self) -> None:
        """Delete TCBs that reached CLOSED, or returned to LISTEN (passive, reset)."""
        for key, conn in list(self._conns.items()):
            if conn.state in (State.CLOSED, State.LISTEN):
                del self._conns[key]

    def _may_reopen(self, conn: Connection, seg: Segment) -> bool:
        return (
            seg.has(Flags.SYN)
            and not seg.has(Flags.ACK)
            and not seg.has(Flags.RST)
            and seq_gt(seg.seq, conn.rcv_nxt)
            and conn.local.port in self._listeners
        )

    def _ephemeral_port(self, remote: IPAddress, remote_port: int) -> int:
        """A free local port (RFC 6056 §3.3.1: random start, linear probe)."""
        n = len(EPHEMERAL_PORTS)
        start = self._rng.randrange(n)
        for i in range(n):
            port = EPHEMERAL_PORTS[(start + i) % n]
            if (port, remote, remote_port) not in self._conns and port not in self._listeners:
                return port
        raise AddressInUse("no free ephemeral port")

    def _drop(self, conn: str, reason: str, data: dict[str, Any]) -> None:
        self.stats[f"dropped:{reason}"] += 1
        self._trace("segment_dropped", conn, {"reason": reason, **data})

    def _trace(self, event: str, conn: str, data: dict[str, Any]) -> None:
        if self.trace is not None and self.trace.active:
            self.trace.emit(self._now, self.name, conn, event, data)


def _fmt(address: IPAddress, port: int) -> str:
    return str(Endpoint(address, port))


def _check_port(port: int) -> None:
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port!r}")


def _invalid_peer(address: IPAddress) -> bool:
    """Broadcast, multicast, unspecified addresses are never TCP peers (MUST-46/57/63)."""
    if address.is_multicast or address.is_unspecified:
        return True
    return isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address(
        "255.255.255.255"
    )
