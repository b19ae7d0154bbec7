"""A discrete-event network simulator in virtual time.

Hosts (each a :class:`~tcpstack.stack.Stack` plus an optional application)
are joined by links. Each direction of a link (a :class:`LinkConfig`) is a
stream of the shared fault model (:mod:`tcpstack.drivers.faults`, the same
model the TUN driver's fault injector applies): a one-way propagation delay
(the model's ``delay``), jitter, seeded random and Gilbert-Elliott burst
loss, bit corruption, duplication and reordering. The link itself adds a
bottleneck (bandwidth and a drop-tail queue), ``up`` and outages, and on
top of that come scripted faults ("drop the 3rd packet", "drop the first
packet matching a predicate"). Time is virtual: two minutes of TIME-WAIT
pass as fast as the events can be processed. A run is reproducible from its
seed: each direction draws from its own generator derived from the seed
(:func:`~tcpstack.drivers.faults.stream_rng` of ``"src->dst"``), so the
traffic and settings of one direction never shift the random decisions of
another.

What happens to a packet put on the src -> dst direction, in this order:

1. the direction is down (``up`` is False, or an :meth:`Network.outage`
   window covers the send time): lost, reason ``"link-down"``;
2. a scripted :class:`Fault` matches: lost (its ``reason``), or held back
   (delivered after the propagation delay plus its ``delay``, with no
   further impairment; later packets may overtake it);
3. the bottleneck, when ``bandwidth`` is set: the packet joins a FIFO queue
   behind the packets not yet serialized; if the queue is full it is lost,
   reason ``"queue-overflow"`` (drop-tail). Otherwise it is serialized
   (``size * 8 / bandwidth`` seconds) once the packets ahead are. With a
   queue discipline (``queue``: RED, CoDel, see :mod:`.queues`) the
   discipline decides instead, and may drop (``"red-drop"``,
   ``"codel-drop"``) or mark CE; a shared :class:`Bottleneck`
   (``bottleneck``) is one such queue and rate that the packets of several
   directions join, in arrival order;
4. the fault model, from the time the packet leaves the bottleneck (see
   :mod:`tcpstack.drivers.faults` for its draws and details): burst loss
   (``"burst-loss"``) then random loss (``"lost-in-network"``), so a lost
   packet still used its share of the bandwidth; corruption (the receiving
   stack drops the packet, its trace says ``bad-checksum``, unless several
   flipped bits cancel out in the checksum); duplication (the copy uses no
   bandwidth); then delivery after the propagation delay plus jitter, or
   ``reorder_delay`` later for a reordered packet. Unless
   ``jitter_reorders`` is set, only reordered (and scripted-delay) packets
   are ever overtaken.

A packet is routed by the destination address in its IP header, read as
bytes (the host with that address, over the direction from the sender to
it); one no host has, or with no link to it, is lost, reason
``"no-route"``. A packet a host sends to its own address takes its
loopback: a direction from the host to itself with no delay and no faults,
unless ``link(host, host, ...)`` configured one. A hand-made packet
(:meth:`Network.inject`) that is not an IP packet carrying a TCP header is
lost before any link, counted as ``"unparseable"`` (not traced).

Example::

    net = Network(seed=1)
    client = net.add_host("client", "192.0.2.1")
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, delay=0.010, bandwidth=10e6, queue_limit=50)
    server.stack.listen(7)
    conn = client.stack.connect("192.0.2.2", 7, now=net.now)
    net.run(until=10.0)
"""

from __future__ import annotations

import copy
import heapq
import ipaddress
import math
import random
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import partial
from operator import attrgetter
from types import FunctionType, MethodType
from typing import Any, Protocol

from ..config import TcpConfig
from ..connection import Connection, segment_record
from ..errors import MalformedPacket
from ..events import Connected, Event
from ..stack import Stack
from ..state import State
from ..trace import Trace
from ..wire import (
    PROTO_TCP,
    IPAddress,
    IPHeader,
    IPv4Header,
    Segment,
    parse_ip,
)
from ..wire.ecn import ECT_0, ECT_1, ecn_codepoint, mark_ce
from .apps import App
from .faults import NO_FAULTS, FaultConfig, FaultModel, GilbertElliott, stream_rng
from .queues import ACCEPT, MARK, QueueDiscipline, make_queue

__all__ = [
    "Application",
    "Bottleneck",
    "BottleneckStats",
    "Fault",
    "GilbertElliott",
    "Host",
    "LinkConfig",
    "LinkStats",
    "Network",
    "NetworkStats",
    "PacketInfo",
    "bdp_bytes",
]


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


_FAULT_FIELDS = tuple(f.name for f in fields(FaultConfig))


@dataclass
class LinkConfig:
    """One direction of a link: the fault model's impairments plus the link's own.

    Mutable: change a field mid-run (for example from :meth:`Network.at`)
    and the next packet sees it. The impairment fields are those of
    :class:`~tcpstack.drivers.faults.FaultConfig`, with the same meaning and
    defaults, except ``delay`` (10 ms by default); :attr:`faults` gives them
    as one frozen ``FaultConfig``, which is what the simulator applies.

    Attributes:
        delay: one-way propagation delay (seconds).
        jitter: extra delay drawn uniformly from [0, jitter] per packet
            (seconds). It never reorders packets unless ``jitter_reorders``.
        loss: probability that a packet is lost.
        duplicate: probability that a packet is delivered twice (the copy is
            made after the bottleneck: it does not use bandwidth).
        reorder: probability that a packet is held back by ``reorder_delay``
            (explicit reordering: such a packet may always be overtaken).
        reorder_delay: extra delay of a reordered packet (seconds).
        bandwidth: bottleneck rate in bits per second; None means infinite
            (no serialization delay, no queue). A packet of ``n`` bytes (the
            whole IP packet) takes ``n * 8 / bandwidth`` seconds to send and
            waits, FIFO, for the packets ahead of it.
        queue_limit: most packets that may wait for the bottleneck, not
            counting the one being serialized; None means unlimited. A
            packet arriving at a full queue is dropped (``"queue-overflow"``).
            Only used when ``bandwidth`` is set.
        queue_bytes: most bytes that may wait for the bottleneck (IP packet
            sizes, not counting the packet being serialized); None means
            unlimited. Combined with ``queue_limit``, whichever is hit first.
        jitter_reorders: when True, jittered packets may overtake each
            other; when False (the default), a packet is not delivered
            before the packets sent before it on this direction (it is held
            until they are). Packets held back by ``reorder`` or a scripted
            delay are exempt.
        corrupt: probability that a delivered packet has bits flipped in its
            TCP header or payload (never in the IP header nor the data
            offset).
        corrupt_bits: a corrupted packet has between 1 and this many
            distinct bits flipped (uniformly). One flipped bit is always
            caught by the TCP checksum; several may, rarely, cancel out.
        burst_loss: Gilbert-Elliott burst loss, or None.
        up: False takes the direction down: every packet sent while it is
            down is lost (``"link-down"``); packets already on the wire
            still arrive. Flipped from :meth:`Network.at`, it applies from
            that event on (packets sent at the same instant by earlier
            events are not affected); :meth:`Network.outage` windows are
            exact.
        corrupt_escapes: when False, a corrupted packet always fails its
            TCP checksum (flips that cancel out are replaced by one).
        queue: a queue discipline for this direction's own bottleneck (a
            :class:`~tcpstack.drivers.queues.QueueDiscipline`, or a name of
            :data:`~tcpstack.drivers.queues.QUEUES` made with its defaults
            and ``queue_limit`` / ``queue_bytes`` as its hard limit); needs
            ``bandwidth``. None: the plain drop-tail of ``queue_limit`` /
            ``queue_bytes``.
        bottleneck: a :class:`Bottleneck` shared with other directions
            (:meth:`Network.bottleneck`): this direction's packets join its
            queue and are serialized at its rate, in arrival order with the
            other directions' packets, before this direction's own delay and
            impairments. Excludes ``bandwidth`` and ``queue``.

    Raises:
        ValueError: a bad impairment (as ``FaultConfig``), a bandwidth that
            is not > 0, a negative queue limit, ``queue`` without
            ``bandwidth``, or ``bottleneck`` with ``bandwidth`` or ``queue``;
            assigning a bad impairment later raises too, and leaves the field
            unchanged.
    """

    delay: float = 0.010
    jitter: float = NO_FAULTS.jitter
    loss: float = NO_FAULTS.loss
    duplicate: float = NO_FAULTS.duplicate
    reorder: float = NO_FAULTS.reorder
    reorder_delay: float = NO_FAULTS.reorder_delay
    bandwidth: float | None = None
    queue_limit: int | None = None
    queue_bytes: int | None = None
    jitter_reorders: bool = NO_FAULTS.jitter_reorders
    corrupt: float = NO_FAULTS.corrupt
    corrupt_bits: int = NO_FAULTS.corrupt_bits
    burst_loss: GilbertElliott | None = NO_FAULTS.burst_loss
    up: bool = True
    corrupt_escapes: bool = NO_FAULTS.corrupt_escapes
    queue: QueueDiscipline | str | None = None
    bottleneck: Bottleneck | None = None
    _faults: FaultConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._faults = FaultConfig(**{name: getattr(self, name) for name in _FAULT_FIELDS})
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be > 0 bit/s or None, got {self.bandwidth}")
        for name in ("queue_limit", "queue_bytes"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {v}")
        if self.queue is not None and self.bandwidth is None:
            raise ValueError("a link's queue discipline needs its bandwidth")
        if self.bottleneck is not None and (self.bandwidth is not None or self.queue is not None):
            raise ValueError("a link on a shared bottleneck takes its rate and queue from it: "
                             "no bandwidth or queue of its own")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FAULT_FIELDS and "_faults" in self.__dict__:  # after __init__
            self._faults = replace(self._faults, **{name: value})  # checks it first
        super().__setattr__(name, value)

    @property
    def faults(self) -> FaultConfig:
        """The impairment fields as the fault model's frozen configuration."""
        return self._faults

    def serialization_time(self, size: int) -> float:
        """Seconds the bottleneck takes to send ``size`` bytes (0 without bandwidth)."""
        return 0.0 if self.bandwidth is None else size * 8 / self.bandwidth


@dataclass
class LinkStats:
    """Counters of one link direction (or, in :class:`NetworkStats`, of all).

    Attributes:
        sent: packets put on the direction.
        delivered: packets handed to the receiving stack (each copy of a
            duplicated packet counts).
        lost: packets lost, by reason (``"link-down"``, ``"queue-overflow"``,
            ``"burst-loss"``, ``"lost-in-network"``, scripted reasons...).
        duplicated: extra copies made.
        reordered: deliveries of a packet after one sent later on the same
            direction had already been delivered.
        corrupted: packets delivered with flipped bits.
        corrupted_undetected: of those, the ones whose TCP checksum still
            verifies (the receiving stack accepts them).
        queue_drops: packets dropped at the bottleneck queue (full, or by its
            discipline: RED, CoDel).
        ce_marked: packets the bottleneck's queue marked CE (RFC 3168 §5).
        max_queue_packets: most packets ever waiting for the bottleneck.
        max_queue_bytes: most bytes ever waiting for the bottleneck.
            (Both for the plain ``queue_limit`` / ``queue_bytes`` queue; a
            :class:`Bottleneck` keeps its own in its :attr:`~Bottleneck.stats`.)
    """

    sent: int = 0
    delivered: int = 0
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    corrupted_undetected: int = 0
    queue_drops: int = 0
    max_queue_packets: int = 0
    max_queue_bytes: int = 0
    ce_marked: int = 0

    @property
    def lost_total(self) -> int:
        """All packets lost, whatever the reason."""
        return sum(self.lost.values())

    def to_dict(self) -> dict[str, Any]:
        """The counters as a JSON-serialisable dict."""
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), dict) else v)
                for f in fields(LinkStats)}


@dataclass
class NetworkStats(LinkStats):
    """Counters of the whole network: totals, plus one :class:`LinkStats` per direction.

    The totals also count packets that found no link (``lost["no-route"]``).
    ``max_queue_*`` are the largest of any direction.

    Attributes:
        directions: per direction, keyed by ``(src name, dst name)``.
    """

    directions: dict[tuple[str, str], LinkStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The counters as a JSON-serialisable dict (directions keyed ``"a->b"``)."""
        out = super().to_dict()
        out["directions"] = {f"{a}->{b}": s.to_dict() for (a, b), s in self.directions.items()}
        return out


def bdp_bytes(bandwidth_bps: float, rtt_s: float) -> int:
    """The bandwidth-delay product: bytes in flight that fill a path of
    ``bandwidth_bps`` bit/s and round-trip time ``rtt_s`` seconds,
    ``round(bandwidth_bps * rtt_s / 8)``.

    Raises:
        ValueError: a bandwidth not > 0 or a negative RTT.
    """
    if not bandwidth_bps > 0 or not rtt_s >= 0:
        raise ValueError(f"BDP needs bandwidth > 0 and rtt >= 0, got {bandwidth_bps}, {rtt_s}")
    return round(bandwidth_bps * rtt_s / 8)


@dataclass
class BottleneckStats:
    """Counters of one :class:`Bottleneck`.

    Attributes:
        offered: packets that arrived at the queue.
        sent: packets serialized onto the link (accepted and not dropped at
            dequeue).
        sent_bytes: their bytes (IP packet sizes).
        drops: packets dropped by the queue, by reason (``"queue-overflow"``,
            ``"red-drop"``, ``"codel-drop"``).
        ce_marked: packets marked CE.
        max_queue_packets, max_queue_bytes: the largest backlog seen
            (packets waiting, not counting the one being serialized).
    """

    offered: int = 0
    sent: int = 0
    sent_bytes: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    ce_marked: int = 0
    max_queue_packets: int = 0
    max_queue_bytes: int = 0

    @property
    def drops_total(self) -> int:
        """Packets dropped by the queue, whatever the reason."""
        return sum(self.drops.values())


_ECT = (ECT_0, ECT_1)


class Bottleneck:
    """A link's rate and its queue, which several link directions may share.

    Make one with :meth:`Network.bottleneck` and pass it to
    :meth:`Network.link` (``bottleneck=b``) for each direction that crosses
    it: their packets join one FIFO, judged by the queue discipline, and are
    serialized at ``bandwidth`` in arrival order; each then goes on with its
    own direction's propagation delay and impairments (random loss there is
    loss after the queue).

    A discipline that only judges arrivals (drop-tail, RED) costs its
    arithmetic per packet: a packet's departure is known when it arrives.
    One that acts at the head of the queue (CoDel) is served packet by
    packet, one simulator event per packet.

    Args:
        bandwidth: bit/s (> 0).
        queue: the discipline, or its name (made by
            :func:`~tcpstack.drivers.queues.make_queue` with ``limit_bytes``,
            ``limit_packets`` and ``ecn``). A discipline serves one
            bottleneck.
        name: names the bottleneck's random stream (RED's draws).

    Attributes:
        stats: the counters.
        arrivals, sojourns: per packet sent, its arrival time and its
            sojourn time in the queue (seconds from arrival to the start of
            its serialization), in the order sent.

    Raises:
        ValueError: a bandwidth not > 0, an unknown queue name, a discipline
            already serving a bottleneck.
    """

    def __init__(self, bandwidth: float, queue: QueueDiscipline | str = "droptail", *,
                 limit_bytes: int | None = None, limit_packets: int | None = None,
                 ecn: bool = False, name: str = "bottleneck") -> None:
        if not bandwidth > 0:
            raise ValueError(f"bottleneck bandwidth must be > 0 bit/s, got {bandwidth}")
        if isinstance(queue, str):
            queue = make_queue(queue, limit_bytes=limit_bytes, limit_packets=limit_packets,
                               ecn=ecn)
        if getattr(queue, "_bottleneck", None) is not None:
            raise ValueError("a queue discipline serves one bottleneck; make one per bottleneck")
        queue._bottleneck = self  # type: ignore[attr-defined]
        self.bandwidth = bandwidth
        self.queue = queue
        self.name = name
        self.stats = BottleneckStats()
        self.arrivals: array[float] = array("d")
        self.sojourns: array[float] = array("d")
        self.busy_until = 0.0  # when the link finishes the last packet it started
        self._busy_total = 0.0  # seconds of serialization started so far
        # Arrival-time disciplines: (serialized at, bytes) of packets not yet sent.
        self._pipe: deque[tuple[float, int]] = deque()
        self._pipe_bytes = 0
        # Dequeue-time disciplines: (arrival, bytes, packet, marked at arrival,
        # continuation) waiting.
        self._waiting: deque[tuple[float, int, bytes, bool, _Leave]] = deque()
        self._waiting_bytes = 0
        self._serve_due = False  # a serve event is scheduled
        self._schedule: Callable[[float, Callable[[], None]], None] | None = None
        self._clock: Callable[[], float] | None = None
        queue.attach(bandwidth, random.Random(0))

    def bind(self, seed: int, schedule: Callable[[float, Callable[[], None]], None],
             clock: Callable[[], float]) -> None:
        """Join a network (done by :meth:`Network.bottleneck` and
        :meth:`Network.link`): its seed, event scheduler and clock."""
        if self._schedule is None:
            self._schedule = schedule
            self._clock = clock
            self.queue.attach(self.bandwidth, stream_rng(seed, f"bottleneck:{self.name}"))

    def busy_time(self, until: float) -> float:
        """Seconds the link spent serializing packets from 0 to ``until`` (not
        before the last packet's arrival: the network's current time)."""
        return self._busy_total - max(0.0, self.busy_until - until)

    def queue_delays(self, start: float = 0.0, end: float = math.inf) -> tuple[float, float,
                                                                              float, int]:
        """``(mean, p95, max, n)`` of the sojourn times (seconds) of the ``n``
        packets sent that arrived in ``[start, end)``; zeros if none. p95 is
        the nearest-rank 95th percentile."""
        values = sorted(q for t, q in zip(self.arrivals, self.sojourns, strict=True)
                        if start <= t < end)
        if not values:
            return 0.0, 0.0, 0.0, 0
        n = len(values)
        return sum(values) / n, values[max(math.ceil(0.95 * n) - 1, 0)], values[-1], n

    def offer(self, packet: bytes, now: float) -> tuple[float, bytes] | str:
        """A packet arrives (arrival-time disciplines): ``(departure time,
        packet)``, the packet marked CE if the queue marked it, or the drop
        reason."""
        size = len(packet)
        pipe, stats, queue = self._pipe, self.stats, self.queue
        stats.offered += 1
        while pipe and pipe[0][0] <= now:
            self._pipe_bytes -= pipe.popleft()[1]
        # The head of ``pipe`` is being serialized; the others wait.
        if pipe:
            waiting, waiting_bytes, idle_since = (len(pipe) - 1, self._pipe_bytes - pipe[0][1],
                                                  None)
        else:
            waiting, waiting_bytes, idle_since = 0, 0, self.busy_until
        ect = queue.ecn and ecn_codepoint(packet) in _ECT
        verdict = queue.enqueue(size, now, waiting, waiting_bytes, idle_since, ect)
        if verdict != ACCEPT:
            if verdict != MARK:
                stats.drops[verdict] = stats.drops.get(verdict, 0) + 1
                return verdict
            packet = mark_ce(packet)
            stats.ce_marked += 1
        start = self.busy_until if self.busy_until > now else now
        serialization = size * 8 / self.bandwidth
        departs = self.busy_until = start + serialization
        self._busy_total += serialization
        behind = bool(pipe)  # it waits behind the packet being serialized
        pipe.append((departs, size))
        self._pipe_bytes += size
        if behind:
            self._sent(now, start - now, size, waiting + 1, waiting_bytes + size)
        else:
            self._sent(now, start - now, size, 0, 0)
        return departs, packet

    def _sent(self, arrival: float, sojourn: float, size: int, backlog: int,
              backlog_bytes: int) -> None:
        """Count a packet serialized after ``sojourn`` seconds; ``backlog``:
        the packets waiting once it joined."""
        stats = self.stats
        stats.sent += 1
        stats.sent_bytes += size
        self.arrivals.append(arrival)
        self.sojourns.append(sojourn)
        if backlog > stats.max_queue_packets:
            stats.max_queue_packets = backlog
        if backlog_bytes > stats.max_queue_bytes:
            stats.max_queue_bytes = backlog_bytes

    def hold(self, packet: bytes, now: float, leave: _Leave) -> str | None:
        """A packet arrives (dequeue-time disciplines): it waits, and ``leave``
        is called when it leaves the queue (its continuation, see
        :data:`_Leave`). Returns the drop reason if it was refused at arrival."""
        size = len(packet)
        stats, queue = self.stats, self.queue
        stats.offered += 1
        busy = self.busy_until > now or self._serve_due
        idle_since = None if busy or self._waiting else self.busy_until
        ect = queue.ecn and ecn_codepoint(packet) in _ECT
        verdict = queue.enqueue(size, now, len(self._waiting), self._waiting_bytes, idle_since,
                                ect)
        if verdict != ACCEPT:
            if verdict != MARK:
                stats.drops[verdict] = stats.drops.get(verdict, 0) + 1
                return verdict
            packet = mark_ce(packet)
            stats.ce_marked += 1
        self._waiting.append((now, size, packet, verdict == MARK, leave))
        self._waiting_bytes += size
        if len(self._waiting) > stats.max_queue_packets:
            stats.max_queue_packets = len(self._waiting)
        if self._waiting_bytes > stats.max_queue_bytes:
            stats.max_queue_bytes = self._waiting_bytes
        if not busy:
            self._serve()  # the link is free: this packet leaves now
        elif not self._serve_due:
            # The link is finishing the packet that left the queue empty: serve
            # the queue again when it is done.
            assert self._schedule is not None
            self._serve_due = True
            self._schedule(self.busy_until, self._serve)
        return None

    def _serve(self) -> None:
        """The link is free: dequeue heads until one is sent (the discipline
        may drop some), and come back when it is serialized."""
        assert self._clock is not None and self._schedule is not None
        now = self._clock()
        self._serve_due = False
        waiting, queue, stats = self._waiting, self.queue, self.stats
        dropped = False
        while waiting:
            arrival, size, packet, marked, leave = waiting.popleft()
            self._waiting_bytes -= size
            ect = queue.ecn and ecn_codepoint(packet) in _ECT
            verdict = queue.dequeue(size, now, now - arrival, self._waiting_bytes, ect)
            if verdict != ACCEPT and verdict != MARK:
                stats.drops[verdict] = stats.drops.get(verdict, 0) + 1
                leave(packet, None, verdict)
                dropped = True
                continue
            if verdict == MARK and not marked:
                packet = mark_ce(packet)
                stats.ce_marked += 1
                marked = True
            serialization = size * 8 / self.bandwidth
            departs = self.busy_until = now + serialization
            self._busy_total += serialization
            self._sent(arrival, now - arrival, size, 0, 0)
            if waiting:
                self._serve_due = True
                self._schedule(departs, self._serve)
            leave(packet, departs, MARK if marked else None)
            return
        if dropped:
            queue.on_empty(now)


_Leave = Callable[[bytes, float | None, str | None], None]
"""A held packet's continuation: ``(packet, departure time, None)`` when it
is sent, ``(packet, departure time, MARK)`` when sent marked CE, and
``(packet, None, reason)`` when the queue dropped it at dequeue."""


class _Direction:
    """Run-time state of one link direction (its config is mutable and separate)."""

    __slots__ = (
        "busy_until",
        "bytes_waiting",
        "config",
        "key",
        "max_delivered",
        "model",
        "next_seq",
        "outages",
        "own",
        "own_queue",
        "pipe",
        "stats",
    )

    def __init__(
        self, key: tuple[str, str], config: LinkConfig, stats: LinkStats, rng: random.Random
    ) -> None:
        self.key = key
        self.config = config
        self.stats = stats
        self.busy_until = 0.0  # when the bottleneck finishes the last accepted packet
        self.pipe: deque[tuple[float, int]] = deque()  # (serialized at, bytes), FIFO
        self.bytes_waiting = 0  # bytes in ``pipe``
        self.model = FaultModel(rng)  # its generator and state (burst chain, FIFO floor)
        self.next_seq = 0  # per-direction packet number
        self.max_delivered = -1  # highest packet number delivered so far
        self.outages: list[tuple[float, float]] = []  # [start, end) windows
        self.own: Bottleneck | None = None  # the bottleneck of ``config.queue``, when set
        self.own_queue: QueueDiscipline | str | None = None  # the queue ``own`` was made for

    def enqueue(self, size: int, now: float, bandwidth: float, total: LinkStats) -> float | None:
        """Put a packet of ``size`` bytes in the bottleneck at ``now``: a FIFO
        drained at ``bandwidth`` (bit/s), drop-tail. Returns when the packet
        is serialized (seconds), or None if the queue is full (counted in
        ``queue_drops``, of the direction and of ``total``)."""
        link, stats, pipe = self.config, self.stats, self.pipe
        while pipe and pipe[0][0] <= now:
            self.bytes_waiting -= pipe.popleft()[1]
        # The head of ``pipe`` is being serialized; the others wait.
        waiting = len(pipe) - 1 if pipe else 0
        waiting_bytes = self.bytes_waiting - pipe[0][1] if pipe else 0
        if (link.queue_limit is not None and pipe and waiting >= link.queue_limit) or (
            link.queue_bytes is not None and pipe
            and waiting_bytes + size > link.queue_bytes
        ):
            stats.queue_drops += 1
            total.queue_drops += 1
            return None
        departs = max(now, self.busy_until) + size * 8 / bandwidth
        self.busy_until = departs
        pipe.append((departs, size))
        self.bytes_waiting += size
        if len(pipe) > 1:
            waiting, waiting_bytes = len(pipe) - 1, self.bytes_waiting - pipe[0][1]
            if waiting > stats.max_queue_packets:
                stats.max_queue_packets = waiting
                total.max_queue_packets = max(total.max_queue_packets, waiting)
            if waiting_bytes > stats.max_queue_bytes:
                stats.max_queue_bytes = waiting_bytes
                total.max_queue_bytes = max(total.max_queue_bytes, waiting_bytes)
        return departs

    def down_at(self, now: float) -> bool:
        if not self.config.up:
            return True
        if not self.outages:
            return False
        if any(end <= now for _, end in self.outages):
            self.outages = [w for w in self.outages if w[1] > now]  # time only moves on
        return any(start <= now for start, _ in self.outages)


_NOW = attrgetter("now")
"""A network's virtual clock, read without a Python frame (:meth:`Network._new_stack`)."""

_HANDLER_TYPES = (FunctionType, MethodType)
"""Applications that are a plain event handler (:meth:`Host.dispatch`)."""


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
        app = self.app
        if isinstance(app, _HANDLER_TYPES):
            # A function or bound method is the handler itself: no getattr for an
            # ``on_event`` it does not have (a failed getattr raises and catches
            # an AttributeError inside: about 1.5 % of sim_churn, 17 events per
            # connection).
            app(conn, event)
            return
        if app is None:
            return
        handler = getattr(app, "on_event", None)
        if handler is not None:
            handler(conn, event)
        elif callable(self.app):
            self.app(conn, event)


class Network:
    """Hosts, links and a virtual clock.

    Args:
        seed: seeds every random choice (loss, jitter, corruption, ISN keys, ports).
        trace: trace shared by every host; a new one by default.
        keep_packets: keep every packet in :attr:`packets` (for pcap); turn
            off for long runs that do not need them.

    Attributes:
        packets: every packet put on a link, as ``(send time, raw IP bytes)``;
            ``packets[n - 1]`` is packet number ``n`` (:attr:`PacketInfo.index`,
            and the ``packet`` field of a network loss's ``segment_dropped``
            trace record).
        packets_sent: how many packets were put on links.
        corrupted: every corrupted packet as ``(packet index, send time)``
            (the index is :attr:`PacketInfo.index`).
        stats: counters of the whole network and of each direction.
    """

    def __init__(
        self, *, seed: int = 0, trace: Trace | None = None, keep_packets: bool = True
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.trace = trace if trace is not None else Trace()
        self.now = 0.0
        self.hosts: dict[str, Host] = {}
        # Hosts by their address as it appears in an IP header (4 or 16
        # bytes, ``IPv4Address.packed``): routing reads the destination bytes
        # of a packet and looks them up here, without parsing the packet.
        self._by_dst: dict[bytes, Host] = {}
        self._dirs: dict[tuple[str, str], _Direction] = {}
        # Route cache: per sending host's name, destination bytes -> (host,
        # direction), filled on a packet's first trip and cleared whenever
        # a direction is (re)made. Saves, per packet, the lookup by address
        # then by the (src, dst) names.
        self._routes: dict[str, dict[bytes, tuple[Host, _Direction]]] = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = 0
        # The hosts with work (their stacks woke us up), by name, and the
        # hosts' timer deadlines as a heap of (deadline, host index, name) with
        # the deadline last pushed per host: a step costs the same whatever the
        # number of idle hosts and connections.
        self._dirty: dict[str, None] = {}
        self._index: dict[str, int] = {}
        self._timer_heap: list[tuple[float, int, str]] = []
        self._timer_at: dict[str, float] = {}
        self.faults: list[Fault] = []
        self.keep_packets = keep_packets
        self.packets: list[tuple[float, bytes]] = []
        self.packets_sent = 0
        self.corrupted: list[tuple[int, float]] = []
        self.stats = NetworkStats()
        self._bottlenecks = 0  # made by bottleneck(), for default names

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
        if addr.packed in self._by_dst:
            raise ValueError(f"address {addr} is taken")
        stack = self._new_stack(name, addr, config, random.Random(f"{self.seed}/{name}"))
        host = Host(name, stack, app)
        self._index[name] = len(self.hosts)
        self.hosts[name] = host
        self._by_dst[addr.packed] = host
        self._routes[name] = {}
        return host

    def _new_stack(self, name: str, address: IPAddress, config: TcpConfig | None,
                   rng: random.Random) -> Stack:
        """A host's stack on the network's clock, waking the network when it has work."""
        return Stack(
            address,
            config=config,
            name=name,
            trace=self.trace,
            rng=rng,
            # self.now read by C callables (no frame): a stack reads the clock at
            # each user call (9 per churn lifecycle, one per sim_bulk packet).
            clock=partial(_NOW, self),
            # dirty[name] = None, as a partial of the dict's method: a stack wakes
            # the network a few times per packet, and this call makes no frame.
            wakeup=partial(self._dirty.__setitem__, name, None),
        )

    def _clock(self) -> float:
        return self.now

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

        A queue discipline instance given in ``kw`` serves a -> b; b -> a gets
        a copy of it (a discipline serves one bottleneck) unless ``reverse``
        is given.

        An asymmetric link, e.g. a slow uplink::

            net.link(client, server, delay=0.02, bandwidth=1e6,
                     reverse=LinkConfig(delay=0.02, bandwidth=20e6))

        Returns the a -> b direction's config (mutable: change it mid-run).
        Linking the same pair again replaces both directions (and their
        queues, outages and counters).
        """
        an, bn = self._name(a), self._name(b)
        fwd = LinkConfig(delay=delay, **kw)
        self._set_direction(an, bn, fwd)
        if reverse is None and isinstance(kw.get("queue"), QueueDiscipline):
            kw = {**kw, "queue": copy.deepcopy(kw["queue"])}
        back = reverse if reverse is not None else LinkConfig(delay=delay, **kw)
        self._set_direction(bn, an, back)
        return fwd

    def bottleneck(
        self,
        bandwidth: float,
        queue: QueueDiscipline | str = "droptail",
        *,
        limit_bytes: int | None = None,
        limit_packets: int | None = None,
        ecn: bool = False,
        name: str | None = None,
    ) -> Bottleneck:
        """A :class:`Bottleneck` (its arguments) on this network, to share
        between directions: ``net.link(a, b, bottleneck=shared)`` puts a -> b
        through it (and b -> a too unless ``reverse`` says otherwise).

        Example, two senders through one 10 Mbit/s, 100-packet queue,
        acknowledgements back uncongested::

            shared = net.bottleneck(10e6, limit_packets=100)
            for s, r in ((s1, r1), (s2, r2)):
                net.link(s, r, delay=0.025, bottleneck=shared,
                         reverse=LinkConfig(delay=0.025))

        Raises:
            ValueError: as :class:`Bottleneck`.
        """
        b = Bottleneck(bandwidth, queue, limit_bytes=limit_bytes, limit_packets=limit_packets,
                       ecn=ecn, name=name if name is not None else f"bottleneck{self._bottlenecks}")
        self._bottlenecks += 1
        b.bind(self.seed, self._schedule, self._clock)
        return b

    def direction(self, src: Host | str, dst: Host | str) -> LinkConfig:
        """The config of the src -> dst direction.

        Raises:
            KeyError: no link joins them.
        """
        return self._dirs[(self._name(src), self._name(dst))].config

    def link_stats(self, src: Host | str, dst: Host | str) -> LinkStats:
        """The counters of the src -> dst direction.

        Raises:
            KeyError: no link joins them.
        """
        return self._dirs[(self._name(src), self._name(dst))].stats

    def outage(
        self,
        a: Host | str,
        b: Host | str,
        start: float,
        end: float,
        *,
        both_directions: bool = True,
    ) -> None:
        """Take the a -> b direction (and b -> a, by default) down from ``start`` to ``end``.

        Every packet sent on it at a virtual time in ``[start, end)`` seconds
        is lost (``"link-down"``); packets already on the wire at ``start``
        still arrive. Windows may overlap.

        Raises:
            KeyError: no link joins them.
            ValueError: ``end`` is not after ``start``.
        """
        if not end > start:
            raise ValueError(f"outage must end after it starts ({start} .. {end})")
        an, bn = self._name(a), self._name(b)
        keys = [(an, bn), (bn, an)] if both_directions else [(an, bn)]
        for key in keys:
            self._dirs[key].outages.append((start, end))

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
        enter a scenario. Its TCP checksum need not be right (the receiving
        stack judges it), but it must parse as an IP packet carrying a TCP
        header: otherwise it is lost, counted in ``stats.lost["unparseable"]``.
        """
        host = self.hosts[self._name(src)]
        self._schedule(time, lambda: self._transmit(host, packet, from_stack=False))

    def restart(self, host: Host | str) -> Host:
        """Crash and reboot ``host``: all its TCBs and listeners are lost.

        Returns the host, whose ``stack`` is now a fresh :class:`Stack`
        with the same address and configuration (listen again if needed).
        """
        h = self.hosts[self._name(host)]
        old = h.stack
        h.stack = self._new_stack(h.name, old.address, old.config,
                                  random.Random(f"{self.seed}/{h.name}/restart"))
        self.trace.emit(self.now, h.name, "", "app", {"call": "restart"})
        return h

    def at(self, time: float, action: Callable[[], object]) -> None:
        """Run ``action()`` at virtual ``time`` (seconds); then every host it gave
        work (segments, events, timers) is serviced. User calls in ``action``
        read the network's clock."""

        def run() -> None:
            action()

        self._schedule(time, run)

    # --- running ----------------------------------------------------------

    def run(self, until: float | None = None, *, max_steps: int = 5_000_000) -> float:
        """Process events until none are left or virtual time would pass ``until``.

        Returns the virtual time reached. Bounded by ``max_steps`` events.

        Raises:
            RuntimeError: ``max_steps`` was exceeded (a livelock).
        """
        self.restart_run()
        limit = math.inf if until is None else until
        if self._steps(limit, max_steps) < max_steps:
            if until is not None:
                self.now = max(self.now, until)
            return self.now
        raise RuntimeError(f"simulation did not settle within {max_steps} steps")

    def restart_run(self) -> None:
        """Service every host and note every deadline: whatever happened since the
        last step (user calls, hosts added) is taken into account. ``run`` does
        this first; a driver stepping the network itself calls it once."""
        for host in self.hosts.values():
            self._service(host)
            self._timer_at.pop(host.name, None)
            self._track_timer(host)
        self.flush()

    def next_time(self) -> float:
        """When the next event happens (a packet arrives, an action or a host's
        timer is due), virtual seconds; ``math.inf`` if nothing is pending."""
        t_queue = self._queue[0][0] if self._queue else math.inf
        return min(t_queue, self._next_timer()[0])

    def step(self) -> bool:
        """Process the next event, advancing the clock to it, then service the hosts
        it gave work. Returns False if nothing was pending."""
        return self._steps(math.inf, 1) == 1

    def _steps(self, limit: float, count: int) -> int:
        """Up to ``count`` steps (:meth:`step`), stopping before an event later
        than ``limit`` (virtual seconds) or when none is left; returns how many
        were taken (fewer than ``count``: nothing happens at the step that
        stopped). Saves :meth:`run` finding the next event twice
        (:meth:`next_time`, then :meth:`step`).

        :meth:`run` takes all its steps in one call: a Python call less per
        event (packet delivery, timer, action), and the queues read once
        (sim_churn: 7 per lifecycle).
        """
        queue = self._queue
        heap = self._timer_heap
        dirty = self._dirty
        pop = heapq.heappop
        for taken in range(count):
            t_queue = queue[0][0] if queue else math.inf
            if heap and (heap[0][0] <= t_queue or dirty):
                t_timer, timer_host = self._next_timer()
            else:
                # No deadline comes before the queue's next event: a host's
                # deadline moves earlier only with a wakeup (the host is dirty
                # until serviced, which tracks it), so none is before its
                # earliest entry in the heap. Saves asking a stack for its
                # deadline at (nearly) every packet.
                t_timer, timer_host = math.inf, None
            t = t_queue if t_queue < t_timer else t_timer
            if t == math.inf or t > limit:
                return taken
            if t > self.now:
                self.now = t
            if timer_host is not None and t_timer <= t_queue:
                timer_host.stack.handle_timer(self.now)
                self._service(timer_host)
            else:
                pop(queue)[2]()
            if dirty:  # most steps leave no other host with work: no flush() call
                self.flush()
        return count

    def _next_timer(self) -> tuple[float, Host | None]:
        """The earliest deadline of any host, and the host (inf, None if none)."""
        heap = self._timer_heap
        while heap:
            at, _, name = heap[0]
            host = self.hosts[name]
            real = host.stack.next_timer()
            if real == at:
                return at, host
            heapq.heappop(heap)  # stale: the host's deadline moved or is gone
            if self._timer_at.get(name) == at:
                del self._timer_at[name]
                self._track_timer(host)
        return math.inf, None

    def _track_timer(self, host: Host) -> None:
        """Put a lower bound of the host's earliest deadline in the heap (once).

        The bound (:meth:`Stack.timer_bound`) is the top of the stack's own
        timer heap, unchecked: :meth:`_next_timer` checks it against the exact
        deadline only when it is the earliest of all, and tracks the host
        again if it was stale. Asking for the exact deadline here, after every
        service, cost a check of the stack's heap top, and of each stale entry
        on it, per packet (sim_churn: about 17 deadline reads and 9 heap pops
        and pushes per connection, 6 % of its time). Timers fire at the same
        instants either way: no host's deadline is earlier than its bound.
        """
        at = host.stack.timer_bound()
        if at is not None and self._timer_at.get(host.name) != at:
            self._timer_at[host.name] = at
            heapq.heappush(self._timer_heap, (at, self._index[host.name], host.name))

    def flush(self) -> None:
        """Service every host whose stack has work (segments to send, events to
        report, an earlier deadline), in the order hosts were added."""
        dirty = self._dirty
        for _ in range(1000):  # bounded: applications may keep waking each other
            if not dirty:
                return
            names = sorted(dirty, key=self._index.__getitem__) if len(dirty) > 1 else list(dirty)
            dirty.clear()
            for name in names:
                self._service(self.hosts[name])

    # --- internals --------------------------------------------------------

    def _name(self, h: Host | str) -> str:
        name = h.name if isinstance(h, Host) else h
        if name not in self.hosts:
            raise KeyError(f"no host {name!r}")
        return name

    def _loopback(self, host: Host) -> _Direction:
        """The host's path to itself, made when first used: no delay, no faults
        (``link(host, host, ...)`` configures it like any other link)."""
        self._set_direction(host.name, host.name, LinkConfig(delay=0.0))
        return self._dirs[(host.name, host.name)]

    def _set_direction(self, src: str, dst: str, config: LinkConfig) -> None:
        stats = LinkStats()
        self.stats.directions[(src, dst)] = stats
        rng = stream_rng(self.seed, f"{src}->{dst}")
        self._dirs[(src, dst)] = _Direction((src, dst), config, stats, rng)
        if config.bottleneck is not None:
            config.bottleneck.bind(self.seed, self._schedule, self._clock)
        for routes in self._routes.values():
            routes.clear()  # they may hold the direction this one replaces

    def _find_route(self, src: Host, dst_bytes: bytes) -> tuple[Host, _Direction] | None:
        """The route from ``src`` to the host whose address is ``dst_bytes`` (as
        in an IP header): that host and the direction to it, now cached in
        ``_routes``; None if no host has the address or no link leads there."""
        dst = self._by_dst.get(dst_bytes)
        if dst is None:
            return None
        d = self._dirs.get((src.name, dst.name))
        if d is None:
            if dst is not src:
                return None
            d = self._loopback(src)
        route = self._routes[src.name][dst_bytes] = (dst, d)
        return route

    def _schedule(self, time: float, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._queue, (time, self._order, action))

    def _service(self, host: Host) -> None:
        """Deliver the host's events to its application, then send its packets;
        then track its next timer. Work it causes on other hosts waits for
        :meth:`flush`."""
        stack = host.stack
        now = self.now
        log = host.events
        # The events pending, taken as one batch (Stack.take_events) rather than
        # one next_event call each, and the next batch what dispatching raised:
        # the same order. Saves a call per event and per service (sim_churn: 17
        # events and 7 services per connection, about 1 %).
        for _ in range(100_000):
            batch = stack.take_events()
            if not batch:
                break
            for conn, event in batch:
                log.append((now, conn, event))
                if (
                    isinstance(event, Connected)
                    and conn.passive
                    and host.auto_accept
                    and stack.listening(conn.local.port)
                ):
                    stack.accept(conn.local.port)  # the application takes it at once
                app = host.app
                if isinstance(app, _HANDLER_TYPES):
                    app(conn, event)  # (Host.dispatch's first case: a call less per event)
                elif isinstance(app, App):
                    # (Host.dispatch's on_event case for the drivers' own applications:
                    # a call less per event, e.g. sim_bulk: one per packet)
                    app.on_event(conn, event)
                else:
                    host.dispatch(conn, event)
        for packet in stack.packets_to_send(now):
            self._transmit(host, packet)
        # What this service woke up on this host is done (events raised while
        # sending wait for the host's next service, as before).
        name = host.name
        self._dirty.pop(name, None)
        # (_track_timer, inlined: a call less per service, i.e. per packet)
        at = stack.timer_bound()
        if at is not None and self._timer_at.get(name) != at:
            self._timer_at[name] = at
            heapq.heappush(self._timer_heap, (at, self._index[name], name))

    def _transmit(self, src: Host, packet: bytes, *, from_stack: bool = True) -> None:
        """Put one packet on the link from ``src``: the pipeline of the module docstring.

        The packet is routed by its destination address bytes, not parsed:
        it is decoded only for what needs its fields (a scripted fault's
        predicate, the trace record of a loss). ``from_stack``: the packet
        was built by a stack's encoder, hence well-formed; a hand-made one
        (:meth:`inject`) is checked first, as the receiving stack would.
        """
        now = self.now
        self.packets_sent += 1
        index = self.packets_sent
        total = self.stats
        total.sent += 1
        if self.keep_packets:
            self.packets.append((now, packet))
        # The destination of a stack's IPv4 packet read here (_destination's
        # first case, inlined: a call less per packet).
        if from_stack and packet[0] == 0x45:
            dst_bytes: bytes | None = packet[16:20]
        else:
            dst_bytes = _destination(packet)
        if dst_bytes is None or not (from_stack or _decodes(packet)):
            _count(total, None, "unparseable")
            return
        route = self._routes[src.name].get(dst_bytes) or self._find_route(src, dst_bytes)
        if route is None:
            dst = self._by_dst.get(dst_bytes)
            to = dst.name if dst is not None else str(ipaddress.ip_address(dst_bytes))
            self._lost(index, src, packet, "no-route", to, None)
            return
        dst, d = route
        link = d.config
        stats = d.stats
        stats.sent += 1
        to = dst.name
        if (d.outages or not link.up) and d.down_at(now):  # no call while always up
            self._lost(index, src, packet, "link-down", to, d)
            return
        held: float | None = None  # extra delay of a scripted delay fault
        if self.faults:
            info: PacketInfo | None = None
            for fault in self.faults:
                if fault.spent:
                    continue
                if info is None:
                    ip, seg = _decode(packet)
                    conn = src.stack.find(seg.src_port, ip.dst, seg.dst_port)
                    info = PacketInfo(index, now, src.name, to, ip, seg,
                                      conn.state if conn is not None else None)
                if fault.match(info):
                    fault.hits += 1
                    if fault.delay is None:
                        self._lost(index, src, packet, fault.reason, to, d)
                        return
                    held = fault.delay
                    break
        departs = now
        b = link.bottleneck
        if b is None and link.queue is not None:
            b = self._own_bottleneck(d, link)
        if b is not None:
            if b.queue.acts_at_dequeue:
                refused = b.hold(packet, now, partial(self._leave_queue, index, src, dst, d, held))
                if refused is not None:
                    self._queue_drop(index, src, packet, refused, to, d)
                return
            out = b.offer(packet, now)
            if isinstance(out, str):
                self._queue_drop(index, src, packet, out, to, d)
                return
            departs, marked = out
            if marked is not packet:
                packet = marked
                self._count_marked(d)
        elif link.bandwidth is not None:
            serialized = d.enqueue(len(packet), now, link.bandwidth, total)
            if serialized is None:
                self._lost(index, src, packet, "queue-overflow", to, d)
                return
            departs = serialized
        self._propagate(index, src, dst, d, held, packet, departs)

    def _own_bottleneck(self, d: _Direction, link: LinkConfig) -> Bottleneck:
        """The bottleneck of a direction with its own ``queue`` (made on first use)."""
        assert link.bandwidth is not None  # LinkConfig checks it
        b = d.own
        if b is None or d.own_queue != link.queue:  # first use, or a new queue assigned
            queue = link.queue if link.queue is not None else "droptail"
            b = d.own = Bottleneck(link.bandwidth, queue, limit_bytes=link.queue_bytes,
                                   limit_packets=link.queue_limit,
                                   name=f"{d.key[0]}->{d.key[1]}")
            d.own_queue = link.queue
            b.bind(self.seed, self._schedule, self._clock)
        b.bandwidth = link.bandwidth
        return b

    def _queue_drop(self, index: int, src: Host, packet: bytes, reason: str, to: str,
                    d: _Direction) -> None:
        """Count and trace a packet the bottleneck's queue dropped."""
        d.stats.queue_drops += 1
        self.stats.queue_drops += 1
        self._lost(index, src, packet, reason, to, d)

    def _count_marked(self, d: _Direction) -> None:
        d.stats.ce_marked += 1
        self.stats.ce_marked += 1

    def _leave_queue(self, index: int, src: Host, dst: Host, d: _Direction, held: float | None,
                     packet: bytes, departs: float | None, reason: str | None) -> None:
        """A packet leaves a dequeue-time bottleneck (:data:`_Leave`): on its way,
        or dropped."""
        if departs is None:
            self._queue_drop(index, src, packet, reason or "queue-drop", dst.name, d)
            return
        if reason == MARK:
            self._count_marked(d)
        self._propagate(index, src, dst, d, held, packet, departs)

    def _propagate(self, index: int, src: Host, dst: Host, d: _Direction, held: float | None,
                   packet: bytes, departs: float) -> None:
        """A packet leaves the bottleneck at ``departs`` (seconds): the fault
        model, then delivery (steps 4.. of the module docstring)."""
        stats = d.stats
        total = self.stats
        seq = d.next_seq
        d.next_seq += 1
        faults = d.config._faults  # (the faults property's field: a call less per packet)
        if held is not None:  # scripted delay: no impairment, may be overtaken
            self._schedule(departs + faults.delay + held,
                           partial(self._deliver, dst, packet, d, seq))
            return
        queue = self._queue
        if not faults.randomized:
            # The plain case (no loss, jitter, reordering, duplication or
            # corruption: at most a fixed delay): one call for the due time, no
            # decide() and its Decision (sim_bulk, sim_churn: two calls a packet).
            self._order += 1
            arrives: Callable[[], None] = partial(self._deliver, dst, packet, d, seq)
            heapq.heappush(queue, (d.model.fifo_due(faults, departs), self._order, arrives))
            return
        fate = d.model.decide(faults, packet, departs)
        if fate.lost is not None:
            self._lost(index, src, packet, fate.lost, dst.name, d)
            return
        if fate.corrupted:
            self._count_corrupted(index, d, fate.undetected)
        if fate.copies > 1:
            stats.duplicated += 1
            total.duplicated += 1
        # A partial of _deliver, not a closure made by a method: no Python call
        # to make it (one per packet).
        deliver: Callable[[], None] = partial(self._deliver, dst, fate.packet, d, seq)
        for _ in range(fate.copies):
            self._order += 1  # (_schedule, inlined: a call less per packet)
            heapq.heappush(queue, (fate.due, self._order, deliver))

    def _count_corrupted(self, index: int, d: _Direction, undetected: bool) -> None:
        """Count a packet the fault model corrupted (``undetected``: its checksum verifies)."""
        self.corrupted.append((index, self.now))
        for stats in (d.stats, self.stats):
            stats.corrupted += 1
            stats.corrupted_undetected += undetected

    def _deliver(self, dst: Host, packet: bytes, d: _Direction, seq: int) -> None:
        """``packet``, number ``seq`` of direction ``d``, arrives at ``dst`` now:
        counted, received, and ``dst`` serviced."""
        d.stats.delivered += 1
        self.stats.delivered += 1
        if seq < d.max_delivered:
            d.stats.reordered += 1
            self.stats.reordered += 1
        else:
            d.max_delivered = seq
        dst.stack.receive(packet, self.now)
        self._service(dst)

    def _lost(
        self, index: int, src: Host, packet: bytes, reason: str, to: str, d: _Direction | None
    ) -> None:
        """Count the loss of ``packet``, number ``index`` (:attr:`PacketInfo.index`),
        and trace it when a trace is kept (only then is the packet decoded)."""
        _count(self.stats, d.stats if d is not None else None, reason)
        if not self.trace.active:
            return
        ip, seg = _decode(packet)
        conn = src.stack.find(seg.src_port, ip.dst, seg.dst_port)
        self.trace.emit(
            self.now,
            src.name,
            conn.name if conn is not None else "",
            "segment_dropped",
            {"reason": reason, "to": to, "packet": index, **segment_record(seg)},
        )


def _destination(packet: bytes) -> bytes | None:
    """The destination address of an IP packet as its header holds it: IPv4
    bytes 16..20 (RFC 791 §3.1), IPv6 bytes 24..40 (RFC 8200 §3); None if the
    packet is too short for its version's fixed header or has no IP version.

    What routing needs, read without parsing: saves building the header and
    segment objects (and their ``ipaddress`` objects) for every packet.
    """
    if packet:
        version = packet[0] >> 4
        if version == 4 and len(packet) >= 20:
            return packet[16:20]
        if version == 6 and len(packet) >= 40:
            return packet[24:40]
    return None


def _decode(packet: bytes) -> tuple[IPHeader, Segment]:
    """Parse a packet into its IP header and TCP segment, without checking the
    TCP checksum (the receiving stack checks it, and drops a corrupted or
    forged packet itself, with its own trace record).

    Raises:
        MalformedPacket: not an IP packet carrying a parseable TCP header.
    """
    ip, tcp = parse_ip(packet)
    proto = ip.protocol if isinstance(ip, IPv4Header) else ip.next_header
    if proto != PROTO_TCP:
        raise MalformedPacket("not-tcp", f"protocol {proto}")
    return ip, Segment.decode(tcp, ip.src, ip.dst, verify_checksum=False,
                              ecn=ecn_codepoint(packet))  # for the trace (RFC 3168 §5)


def _decodes(packet: bytes) -> bool:
    """Whether :func:`_decode` accepts ``packet``."""
    try:
        _decode(packet)
    except MalformedPacket:
        return False
    return True


def _count(total: LinkStats, stats: LinkStats | None, reason: str) -> None:
    """Count one lost packet in the totals and in its direction's counters."""
    total.lost[reason] = total.lost.get(reason, 0) + 1
    if stats is not None:
        stats.lost[reason] = stats.lost.get(reason, 0) + 1
