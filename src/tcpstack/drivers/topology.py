"""The dumbbell: several flows through one shared bottleneck, in virtual time.

Each flow has its own sender host and receiver host. Every sender -> receiver
direction crosses one shared :class:`~tcpstack.drivers.sim.Bottleneck` (the
spec's bandwidth, buffer and queue discipline), then a propagation delay of
``rtt / 2`` and the spec's random loss; the acknowledgements come back over
an uncongested direction with the other ``rtt / 2``. So every flow has the
same base round-trip time ``rtt`` (plus the serialization of its packets).

::

    s1 --\\                         /--> r1
    s2 ----> [queue | bandwidth] --+---> r2      (ACKs: r_i -> s_i, delay rtt/2)
    s3 --/                         \\--> r3

A flow's sender connects at ``start`` and offers bulk data (``nbytes``, or
without end) as fast as its send buffer takes it; at ``stop`` it stops
offering and half-closes (what it already buffered still goes). The
receiver reads everything as it arrives. :func:`run_dumbbell` runs one
spec and returns measurements; the same spec gives the same result in any
process (every random choice is seeded from ``seed``), and specs and
results pickle, for process pools and Dask.

Example::

    spec = DumbbellSpec(flows=(FlowSpec("newreno"), FlowSpec("newreno", start=5.0)),
                        bandwidth=10e6, rtt=0.05, buffer_bdp=1.0, duration=30.0)
    result = run_dumbbell(spec)
    print(result.utilisation, [f.goodput_bps for f in result.flows])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ..config import TcpConfig
from ..congestion import ALGORITHMS
from ..connection import Connection
from ..events import Connected, DataReceived, Event, PeerClosed, SendBufferAvailable
from ..state import State
from ..trace import Trace
from .queues import QUEUES, make_queue
from .sim import Bottleneck, LinkConfig, Network, bdp_bytes

__all__ = ["DumbbellResult", "DumbbellSpec", "FlowResult", "FlowSpec", "run_dumbbell"]

PORT = 5001
"""The receivers' listening port."""
MAX_FLOWS = 254
"""Flows a dumbbell takes at most (one sender and one receiver address each
in 192.0.2.0/24 and 198.51.100.0/24)."""
_CHUNK = bytes(65536)  # what a bulk sender offers per send() call


@dataclass(frozen=True)
class FlowSpec:
    """One flow of a dumbbell.

    Attributes:
        algorithm: congestion control, a name in
            :data:`tcpstack.congestion.ALGORITHMS`.
        start: virtual seconds when the sender connects.
        stop: virtual seconds when the sender stops offering data (and
            half-closes); None: until the run ends.
        nbytes: bytes to send, then half-close; None: unlimited bulk.
        config: base configuration of both ends (``congestion_control`` is
            replaced by ``algorithm``, ``mss`` by the spec's ``mss``). None:
            the defaults, with send and receive buffers of twice the path's
            BDP plus the bottleneck buffer (so that neither limits the flow)
            and, when the spec's queue marks CE, ECN on (if the TCP has the
            ``TcpConfig.ecn`` switch).
    """

    algorithm: str = "newreno"
    start: float = 0.0
    stop: float | None = None
    nbytes: int | None = None
    config: TcpConfig | None = None


@dataclass(frozen=True)
class DumbbellSpec:
    """A dumbbell experiment (see the module docstring).

    Attributes:
        flows: the flows, at least one, at most :data:`MAX_FLOWS`.
        bandwidth: bottleneck rate, bit/s.
        rtt: base (propagation) round-trip time, seconds.
        buffer_bdp: bottleneck buffer in multiples of the BDP
            (``bandwidth * rtt / 8`` bytes) ...
        buffer_bytes: ... or in bytes: exactly one of the two is set.
        queue: ``"droptail"``, ``"red"`` or ``"codel"`` (see
            :func:`~tcpstack.drivers.queues.make_queue` for their parameters;
            the buffer is the hard limit).
        ecn_marking: the queue marks CE on ECT packets instead of dropping
            them (``"red"`` and ``"codel"`` only).
        loss: random loss probability on the bottleneck direction, after the
            queue.
        duration: virtual seconds the run lasts.
        warmup: seconds at the start excluded from utilisation, goodput and
            queue statistics.
        sample_interval: seconds per goodput sample in
            :attr:`FlowResult.series`.
        seed: seeds every random choice.
        mss: the senders' (and receivers') MSS, bytes.
        trace: keep the trace; the records are in the result.
    """

    flows: tuple[FlowSpec, ...]
    bandwidth: float = 10e6
    rtt: float = 0.05
    buffer_bdp: float | None = 1.0
    buffer_bytes: int | None = None
    queue: str = "droptail"
    ecn_marking: bool = False
    loss: float = 0.0
    duration: float = 60.0
    warmup: float = 0.0
    sample_interval: float = 1.0
    seed: int = 1
    mss: int = 1460
    trace: bool = False

    @property
    def buffer(self) -> int:
        """The bottleneck buffer, bytes."""
        if self.buffer_bytes is not None:
            return self.buffer_bytes
        assert self.buffer_bdp is not None
        return round(self.buffer_bdp * bdp_bytes(self.bandwidth, self.rtt))


@dataclass(frozen=True)
class FlowResult:
    """What one flow achieved.

    Attributes:
        algorithm: its congestion control.
        delivered_bytes: bytes the receiving application read in the flow's
            measured period: from ``max(start, warmup)`` to the first of
            ``stop``, the run's end and the moment its ``nbytes`` were all read.
        goodput_bps: ``delivered_bytes * 8`` over that period's length, bit/s
            (0 if the period is empty).
        series: ``(end of interval, goodput in the interval)`` for each
            ``sample_interval`` of the whole run (seconds, bit/s); the last
            interval may be shorter.
        retransmissions: segments the sender retransmitted in the whole run.
        mean_rtt: the mean of the sender's srtt (RFC 6298), read at every
            multiple of the base RTT in the measured period (until its last
            byte was read), seconds; None if it had no RTT sample then.
    """

    algorithm: str
    delivered_bytes: int
    goodput_bps: float
    series: tuple[tuple[float, float], ...]
    retransmissions: int
    mean_rtt: float | None


@dataclass(frozen=True)
class DumbbellResult:
    """What a dumbbell run measured.

    Attributes:
        spec: the spec that was run.
        flows: one result per flow, in the spec's order.
        utilisation: fraction of the measured period (``warmup`` to
            ``duration``) the bottleneck spent serializing packets.
        queue_delay_mean, queue_delay_p95, queue_delay_max: sojourn time in
            the bottleneck queue of the packets that arrived in the measured
            period and were sent, seconds (0 if none).
        drops: packets dropped at the bottleneck in the whole run, by the
            queue and by the random loss after it.
        ce_marks: packets the queue marked CE in the whole run.
        trace_records: the JSON-ready trace records if ``spec.trace``, else None.
    """

    spec: DumbbellSpec
    flows: tuple[FlowResult, ...]
    utilisation: float
    queue_delay_mean: float
    queue_delay_p95: float
    queue_delay_max: float
    drops: int
    ce_marks: int
    trace_records: tuple[dict[str, Any], ...] | None


def check_spec(spec: DumbbellSpec) -> None:
    """Raise ValueError, with one clear line, for a spec that cannot run."""
    if not spec.flows:
        raise ValueError("a dumbbell needs at least one flow")
    if len(spec.flows) > MAX_FLOWS:
        raise ValueError(f"a dumbbell takes at most {MAX_FLOWS} flows, got {len(spec.flows)}")
    if not spec.bandwidth > 0 or math.isinf(spec.bandwidth):
        raise ValueError(f"bandwidth must be a finite number > 0 bit/s, got {spec.bandwidth}")
    if not 0 < spec.rtt < math.inf:
        raise ValueError(f"rtt must be > 0 seconds, got {spec.rtt}")
    if (spec.buffer_bdp is None) == (spec.buffer_bytes is None):
        raise ValueError("give exactly one of buffer_bdp and buffer_bytes")
    if spec.buffer_bdp is not None and not 0 <= spec.buffer_bdp < math.inf:
        raise ValueError(f"buffer_bdp must be >= 0, got {spec.buffer_bdp}")
    if spec.buffer_bytes is not None and spec.buffer_bytes < 0:
        raise ValueError(f"buffer_bytes must be >= 0, got {spec.buffer_bytes}")
    if spec.queue not in QUEUES:
        raise ValueError(f"unknown queue {spec.queue!r}; known: {', '.join(QUEUES)}")
    if spec.ecn_marking and spec.queue == "droptail":
        raise ValueError("ecn_marking needs a queue that signals early: red or codel")
    if spec.queue == "red" and spec.buffer < 2:
        raise ValueError("a RED queue needs a buffer of at least 2 bytes")
    if not 0 <= spec.loss < 1:
        raise ValueError(f"loss must be in [0, 1), got {spec.loss}")
    if not 0 < spec.duration < math.inf:
        raise ValueError(f"duration must be > 0 seconds, got {spec.duration}")
    if not 0 <= spec.warmup < spec.duration:
        raise ValueError(f"warmup must be in [0, duration), got {spec.warmup}")
    if not spec.sample_interval > 0:
        raise ValueError(f"sample_interval must be > 0 seconds, got {spec.sample_interval}")
    if not 1 <= spec.mss <= 65495:
        raise ValueError(f"mss must be in 1..65495 bytes, got {spec.mss}")
    for n, flow in enumerate(spec.flows, 1):
        if flow.algorithm not in ALGORITHMS:
            raise ValueError(f"flow {n}: unknown algorithm {flow.algorithm!r}; known: "
                             f"{', '.join(ALGORITHMS)}")
        if not 0 <= flow.start < spec.duration:
            raise ValueError(f"flow {n}: start must be in [0, duration), got {flow.start}")
        if flow.stop is not None and not flow.stop > flow.start:
            raise ValueError(f"flow {n}: stop must be after start, got {flow.stop}")
        if flow.nbytes is not None and flow.nbytes < 1:
            raise ValueError(f"flow {n}: nbytes must be >= 1 or None, got {flow.nbytes}")


class _Flow:
    """Run-time state of one flow: its sender's and receiver's event handlers."""

    def __init__(self, spec: FlowSpec, dumbbell: DumbbellSpec, net: Network) -> None:
        self.spec = spec
        self.net = net
        self.conn: Connection | None = None  # the sender's connection
        self.offered = 0  # bytes the sender's send() accepted
        self.stopped = False
        self.shut = False
        self.read = 0  # bytes the receiver read
        self.done_at: float | None = None  # when the last of nbytes was read
        self.t0 = max(spec.start, dumbbell.warmup)
        self.t1 = min(dumbbell.duration, spec.stop if spec.stop is not None else math.inf)
        self.measured = 0
        self.interval = dumbbell.sample_interval
        self.bins = [0] * math.ceil(dumbbell.duration / dumbbell.sample_interval)
        self.srtts: list[float] = []

    def sender(self, conn: Connection, event: Event) -> None:
        """The sender's application: offer bulk data while the buffer takes it."""
        if isinstance(event, Connected | SendBufferAvailable):
            self.offer(conn)

    def offer(self, conn: Connection) -> None:
        if self.stopped or self.shut or conn.state not in (State.ESTABLISHED,
                                                             State.CLOSE_WAIT):
            return
        nbytes = self.spec.nbytes
        while nbytes is None or self.offered < nbytes:
            chunk = _CHUNK if nbytes is None or nbytes - self.offered >= len(_CHUNK) else (
                _CHUNK[: nbytes - self.offered])
            n = conn.send(chunk)
            self.offered += n
            if n < len(chunk):
                return  # the send buffer is full: SendBufferAvailable comes back
        self.shut = True
        conn.shutdown()

    def stop(self) -> None:
        """``stop`` came: offer nothing more, half-close."""
        self.stopped = True
        conn = self.conn
        if conn is not None and not self.shut and conn.state in (State.ESTABLISHED,
                                                                 State.CLOSE_WAIT):
            self.shut = True
            conn.shutdown()

    def receiver(self, conn: Connection, event: Event) -> None:
        """The receiver's application: read everything, count it, close at EOF."""
        if isinstance(event, DataReceived):
            data = conn.read()
            n = len(data)
            now = self.net.now
            self.read += n
            k = int(now / self.interval)
            if k < len(self.bins):
                self.bins[k] += n
            if self.t0 <= now <= self.t1:
                self.measured += n
            if self.spec.nbytes is not None and self.read >= self.spec.nbytes:
                self.done_at = now
        elif isinstance(event, PeerClosed):
            conn.close()

    def sample_rtt(self) -> None:
        """Note the sender's srtt (not after its last byte was read)."""
        conn = self.conn
        if conn is not None and conn.rtt.srtt is not None and self.done_at is None:
            self.srtts.append(conn.rtt.srtt)

    def result(self, duration: float) -> FlowResult:
        end = self.t1 if self.done_at is None else min(self.t1, self.done_at)
        active = end - self.t0
        goodput = self.measured * 8 / active if active > 0 else 0.0
        series = []
        for k, n in enumerate(self.bins):
            lo, hi = k * self.interval, min((k + 1) * self.interval, duration)
            series.append((hi, n * 8 / (hi - lo) if hi > lo else 0.0))
        retrans = self.conn.stats["retrans_segs"] if self.conn is not None else 0
        return FlowResult(
            algorithm=self.spec.algorithm,
            delivered_bytes=self.measured,
            goodput_bps=goodput,
            series=tuple(series),
            retransmissions=retrans,
            mean_rtt=sum(self.srtts) / len(self.srtts) if self.srtts else None,
        )


def flow_config(flow: FlowSpec, spec: DumbbellSpec) -> TcpConfig:
    """The configuration of a flow's two ends (see :attr:`FlowSpec.config`)."""
    if flow.config is not None:
        return replace(flow.config, congestion_control=flow.algorithm, mss=spec.mss)
    window = 2 * (bdp_bytes(spec.bandwidth, spec.rtt) + spec.buffer)
    base = TcpConfig()
    changes: dict[str, Any] = {
        "congestion_control": flow.algorithm,
        "mss": spec.mss,
        "recv_buffer": min(max(base.recv_buffer, window), 1 << 30),
        "send_buffer": max(base.send_buffer, window),
    }
    if spec.ecn_marking:
        changes["ecn"] = "on"  # the queue marks instead of dropping: the flows ask for ECN
    return replace(base, **changes)


def run_dumbbell(spec: DumbbellSpec) -> DumbbellResult:
    """Run ``spec`` in virtual time and measure it (see the module docstring).

    Raises:
        ValueError: a bad spec (one clear line: an unknown algorithm or
            queue, both or neither buffer given, negative times...).
    """
    check_spec(spec)
    net = Network(seed=spec.seed, trace=Trace(keep=spec.trace), keep_packets=False)
    queue = make_queue(spec.queue, limit_bytes=spec.buffer, ecn=spec.ecn_marking)
    shared: Bottleneck = net.bottleneck(spec.bandwidth, queue, name="dumbbell")
    flows = [_Flow(f, spec, net) for f in spec.flows]
    one_way = spec.rtt / 2
    for i, flow in enumerate(flows):
        cfg = flow_config(flow.spec, spec)
        sender = net.add_host(f"s{i + 1}", f"192.0.2.{i + 1}", config=cfg, app=flow.sender)
        receiver = net.add_host(f"r{i + 1}", f"198.51.100.{i + 1}", config=cfg,
                                app=flow.receiver)
        net.link(sender, receiver, delay=one_way, bottleneck=shared, loss=spec.loss,
                 reverse=LinkConfig(delay=one_way))
        receiver.stack.listen(PORT)

        def connect(flow: _Flow = flow, sender_name: str = sender.name,
                    address: str = str(receiver.address)) -> None:
            flow.conn = net.hosts[sender_name].stack.connect(address, PORT, now=net.now)

        net.at(flow.spec.start, connect)
        if flow.spec.stop is not None and flow.spec.stop < spec.duration:
            net.at(flow.spec.stop, flow.stop)

    def sample_rtts(k: int = 0) -> None:
        """Every base RTT: each flow in its measured period reads its sender's srtt."""
        now = net.now
        for flow in flows:
            if flow.t0 <= now <= flow.t1:
                flow.sample_rtt()
        if (k + 1) * spec.rtt <= spec.duration:
            net.at((k + 1) * spec.rtt, partial(sample_rtts, k + 1))

    net.at(0.0, sample_rtts)
    busy_at_warmup = 0.0
    if spec.warmup > 0:
        net.run(until=spec.warmup)
        busy_at_warmup = shared.busy_time(spec.warmup)
    net.run(until=spec.duration)
    measured = spec.duration - spec.warmup
    utilisation = (shared.busy_time(spec.duration) - busy_at_warmup) / measured
    mean, p95, worst, _ = shared.queue_delays(spec.warmup, spec.duration)
    random_loss = sum(net.link_stats(f"s{i + 1}", f"r{i + 1}").lost.get("lost-in-network", 0)
                      for i in range(len(flows)))
    return DumbbellResult(
        spec=spec,
        flows=tuple(f.result(spec.duration) for f in flows),
        utilisation=utilisation,
        queue_delay_mean=mean,
        queue_delay_p95=p95,
        queue_delay_max=worst,
        drops=shared.stats.drops_total + random_loss,
        ce_marks=shared.stats.ce_marked,
        trace_records=tuple(r.to_dict() for r in net.trace) if spec.trace else None,
    )
