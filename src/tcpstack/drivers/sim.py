"""A discrete-event network simulator in virtual time.

Hosts (each a :class:`~tcpstack.stack.Stack` plus an optional application)
are joined by links with one-way delay, jitter, seeded loss, duplication and
reordering, plus scripted faults ("drop the 3rd packet", "drop the first
packet matching a predicate"). Time is virtual: two minutes of TIME-WAIT pass
as fast as the events can be processed. A run is reproducible from its seed.

Example::

    net = Network(seed=1)
    client = net.add_host("client", "192.0.2.1")
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, delay=0.010)
    server.stack.listen(7)
    conn = client.stack.connect("192.0.2.2", 7, now=net.now)
    net.run(until=10.0)
"""

from __future__ import annotations

import heapq
import ipaddress
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import TcpConfig
from ..connection import Connection, segment_record
from ..errors import MalformedPacket
from ..events import Connected, Event
from ..stack import Stack
from ..state import State
from ..trace import Trace
from ..wire import IPAddress, IPHeader, Segment, decode_packet


class Application(Protocol):
    """What a simulated host runs: it is told about every event of its connections."""

    def on_event(self, conn: Connection, event: Event) -> None:
        """React to ``event`` on ``conn`` (may call conn.send/read/close...)."""


EventHandler = Callable[[Connection, Event], None]


@dataclass(frozen=True)
class PacketInfo:
    """A packet as it is put on a link, given to fault predicates.

    Attributes:
        index: 1-based number of the packet among all packets sent in the run.
        time: send time, virtual seconds.
        src: sending host's name; dst: receiving host's name.
        ip: parsed IP header; segment: parsed TCP segment.
        sender_state: the sending connection's state just after sending, or None.
    """

    index: int
    time: float
    src: str
    dst: str
    ip: IPHeader
    segment: Segment
    sender_state: State | None


Predicate = Callable[[PacketInfo], bool]


@dataclass
class Fault:
    """A scripted fault: drop (or delay) packets matching ``match``, at most ``count`` times.

    Attributes:
        match: predicate on the packet.
        count: how many matching packets to drop (then the fault is spent).
        reason: reason written in the trace's ``segment_dropped`` record.
    """

    match: Predicate
    count: int = 1
    reason: str = "scripted-drop"
    delay: float | None = None
    """If set, matching packets are held back this many seconds instead of dropped."""
    hits: int = 0

    @property
    def spent(self) -> bool:
        """True once ``count`` packets were dropped."""
        return self.hits >= self.count


@dataclass
class LinkConfig:
    """One direction of a link. Times in seconds, probabilities in [0, 1].

    Attributes:
        delay: one-way propagation delay.
        jitter: extra delay drawn uniformly from [0, jitter] per packet
            (packets may overtake each other).
        loss: probability that a packet is lost.
        duplicate: probability that a packet is delivered twice.
        reorder: probability that a packet is held back by ``reorder_delay``.
        reorder_delay: extra delay of a reordered packet.
    """

    delay: float = 0.010
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.005

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        for name in ("delay", "jitter", "reorder_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass
class Host:
    """A simulated host: a name, a stack and an optional application."""

    name: str
    stack: Stack
    app: Application | EventHandler | None = None
    auto_accept: bool = True
    events: list[tuple[float, Connection, Event]] = field(default_factory=list)

    @property
    def address(self) -> IPAddress:
        """The host's IP address."""
        return self.stack.address

    def dispatch(self, conn: Connection, event: Event) -> None:
        """Hand one event to the application."""
        if self.app is None:
            return
        handler = getattr(self.app, "on_event", None)
        if handler is not None:
            handler(conn, event)
        elif callable(self.app):
            self.app(conn, event)


class Network:
    """Hosts, links and a virtual clock.

    Args:
        seed: seeds every random choice (loss, jitter, ISN keys, ports).
        trace: trace shared by every host; a new one by default.
    """

    def __init__(self, *, seed: int = 0, trace: Trace | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.trace = trace if trace is not None else Trace()
        self.now = 0.0
        self.hosts: dict[str, Host] = {}
        self._by_address: dict[IPAddress, Host] = {}
        self._links: dict[tuple[str, str], LinkConfig] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = 0
        self.faults: list[Fault] = []
        #: Every packet put on a link, as ``(send time, raw IP bytes)`` (for pcap).
        self.packets: list[tuple[float, bytes]] = []
        self.packets_sent = 0

    # --- building ---------------------------------------------------------

    def add_host(
        self,
        name: str,
        address: str,
        *,
        config: TcpConfig | None = None,
        app: Application | EventHandler | None = None,
    ) -> Host:
        """Add a host with its own stack.

        Raises:
            ValueError: the name or address is taken, or the address is invalid.
        """
        if name in self.hosts:
            raise ValueError(f"host {name!r} exists")
        addr = ipaddress.ip_address(address)
        if addr in self._by_address:
            raise ValueError(f"address {addr} is taken")
        stack = Stack(
            addr,
            config=config,
            name=name,
            trace=self.trace,
            rng=random.Random(f"{self.seed}/{name}"),
        )
        host = Host(name, stack, app)
        self.hosts[name] = host
        self._by_address[addr] = host
        return host

    def link(
        self,
        a: Host | str,
        b: Host | str,
        *,
        delay: float = 0.010,
        reverse: LinkConfig | None = None,
        **kw: Any,
    ) -> LinkConfig:
        """Join two hosts. ``kw`` are :class:`LinkConfig` fields for a -> b;
        ``reverse`` configures b -> a separately (default: the same values).

        Returns the a -> b direction's config (mutable: change it mid-run).
        """
        an, bn = self._name(a), self._name(b)
        fwd = LinkConfig(delay=delay, **kw)
        self._links[(an, bn)] = fwd
        self._links[(bn, an)] = reverse if reverse is not None else LinkConfig(delay=delay, **kw)
        return fwd

    def direction(self, src: Host | str, dst: Host | str) -> LinkConfig:
        """The config of the src -> dst direction.

        Raises:
            KeyError: no link joins them.
        """
        return self._links[(self._name(src), self._name(dst))]

    def drop_nth(self, n: int, *, reason: str = "scripted-drop") -> Fault:
        """Drop the ``n``-th packet (1-based) sent in the whole run."""
        return self.add_fault(Fault(lambda p: p.index == n, reason=reason))

    def drop_first(
        self, predicate: Predicate, *, count: int = 1, reason: str = "scripted-drop"
    ) -> Fault:
        """Drop the first ``count`` packets matching ``predicate``."""
        return self.add_fault(Fault(predicate, count=count, reason=reason))

    def add_fault(self, fault: Fault) -> Fault:
        """Install a scripted fault; returns it (``fault.hits`` counts its drops)."""
        self.faults.append(fault)
        return fault

    def delay_first(self, predicate: Predicate, delay: float, *, count: int = 1) -> Fault:
        """Hold back the first ``count`` packets matching ``predicate`` by ``delay`` seconds."""
        return self.add_fault(Fault(predicate, count=count, reason="scripted-delay", delay=delay))

    def inject(self, time: float, src: Host | str, packet: bytes) -> None:
        """Put a hand-made raw IP ``packet`` on the link from ``src`` at ``time``.

        It travels like any packet ``src`` sends (delay, loss, faults), which
        is how stale or forged segments (an old duplicate SYN, a blind RST)
        enter a scenario.
        """
        host = self.hosts[self._name(src)]
        self._schedule(time, lambda: self._transmit(host, packet))

    def restart(self, host: Host | str) -> Host:
        """Crash and reboot ``host``: all its TCBs and listeners are lost.

        Returns the host, whose ``stack`` is now a fresh :class:`Stack`
        with the same address and configuration (listen again if needed).
        """
        h = self.hosts[self._name(host)]
        old = h.stack
        h.stack = Stack(
            old.address,
            config=old.config,
            name=h.name,
            trace=self.trace,
            rng=random.Random(f"{self.seed}/{h.name}/restart"),
        )
        self.trace.emit(self.now, h.name, "", "app", {"call": "restart"})
        return h

    def at(self, time: float, action: Callable[[], object]) -> None:
        """Run ``action()`` at virtual ``time`` (seconds); then every host is serviced."""

        def run() -> None:
            for host in self.hosts.values():
                host.stack.tick(self.now)
            action()
            for host in self.hosts.values():
                self._service(host)

        self._schedule(time, run)

    # --- running ----------------------------------------------------------

    def run(self, until: float | None = None, *, max_steps: int = 5_000_000) -> float:
        """Process events until none are left or virtual time would pass ``until``.

        Returns the virtual time reached. Bounded by ``max_steps`` events.

        Raises:
            RuntimeError: ``max_steps`` was exceeded (a livelock).
        """
        for host in self.hosts.values():
            self._service(host)
        limit = math.inf if until is None else until
        for _ in range(max_steps):
            t_queue = self._queue[0][0] if self._queue else math.inf
            t_timer, timer_host = math.inf, None
            for host in self.hosts.values():
                t = host.stack.next_timer()
                if t is not None and t < t_timer:
                    t_timer, timer_host = t, host
            t = min(t_queue, t_timer)
            if t == math.inf or t > limit:
                if until is not None:
                    self.now = max(self.now, until)
                return self.now
            self.now = max(self.now, t)
            if timer_host is not None and t_timer <= t_queue:
                timer_host.stack.handle_timer(self.now)
                self._service(timer_host)
            else:
                _, _, action = heapq.heappop(self._queue)
                action()
        raise RuntimeError(f"simulation did not settle within {max_steps} steps")

    # --- internals --------------------------------------------------------

    def _name(self, h: Host | str) -> str:
        name = h.name if isinstance(h, Host) else h
        if name not in self.hosts:
            raise KeyError(f"no host {name!r}")
        return name

    def _schedule(self, time: float, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._queue, (time, self._order, action))

    def _service(self, host: Host) -> None:
        """Deliver the host's events to its application, then send its packets."""
        for _ in range(100_000):
            item = host.stack.next_event()
            if item is None:
                break
            conn, event = item
            host.events.append((self.now, conn, event))
            if (
                isinstance(event, Connected)
                and conn.passive
                and host.auto_accept
                and host.stack.listening(conn.local.port)
            ):
                host.stack.accept(conn.local.port)  # the application takes it at once
            host.dispatch(conn, event)
        for packet in host.stack.packets_to_send(self.now):
            self._transmit(host, packet)

    def _transmit(self, src: Host, packet: bytes) -> None:
        self.packets_sent += 1
        self.packets.append((self.now, packet))
        try:
            ip, seg = decode_packet(packet)
        except MalformedPacket:  # pragma: no cover - our own packets always parse
            return
        dst = self._by_address.get(ip.dst)
        conn = src.stack.find(seg.src_port, ip.dst, seg.dst_port)
        conn_name = conn.name if conn is not None else ""
        if dst is None or (src.name, dst.name) not in self._links:
            self._lost(src, conn_name, seg, "no-route", dst.name if dst else str(ip.dst))
            return
        info = PacketInfo(
            self.packets_sent,
            self.now,
            src.name,
            dst.name,
            ip,
            seg,
            conn.state if conn is not None else None,
        )
        link = self._links[(src.name, dst.name)]
        for fault in self.faults:
            if not fault.spent and fault.match(info):
                fault.hits += 1
                if fault.delay is None:
                    self._lost(src, conn_name, seg, fault.reason, dst.name)
                else:
                    self._schedule(
                        self.now + link.delay + fault.delay, self._deliverer(dst, packet)
                    )
                return
        if link.loss and self.rng.random() < link.loss:
            self._lost(src, conn_name, seg, "lost-in-network", dst.name)
            return
        copies = 2 if link.duplicate and self.rng.random() < link.duplicate else 1
        for _ in range(copies):
            delay = link.delay
            if link.jitter:
                delay += self.rng.uniform(0, link.jitter)
            if link.reorder and self.rng.random() < link.reorder:
                delay += link.reorder_delay
            self._schedule(self.now + delay, self._deliverer(dst, packet))

    def _deliverer(self, dst: Host, packet: bytes) -> Callable[[], None]:
        def deliver() -> None:
            dst.stack.receive(packet, self.now)
            self._service(dst)

        return deliver

    def _lost(self, src: Host, conn: str, seg: Segment, reason: str, to: str) -> None:
        self.trace.emit(
            self.now,
            src.name,
            conn,
            "segment_dropped",
            {"reason": reason, "to": to, **segment_record(seg)},
        )
