"""Figures of speed in the simulator: what a byte, a packet and a connection cost
in wall-clock time (``tcpstack bench``, issue "Fast").

Every figure here runs two stacks over :class:`~tcpstack.drivers.sim.Network`
(virtual time: the wall-clock time measured is the stacks' and the
simulator's work, never a wait) and returns a figure of
:func:`~tcpstack.harness.figures.figure`:

* :func:`sim_bulk_figures`: ``sim_bulk_mbps`` (10^6 bytes of goodput per
  wall second), ``per_packet_us`` (wall microseconds per packet put on the
  link) and, when asked, ``trace_cost`` (the speed with a trace kept over
  the speed without);
* :func:`sim_bulk_lossy`: ``sim_bulk_lossy_mbps``, the same with loss;
* :func:`sim_churn`: ``sim_churn_cps``, complete connection lifecycles per
  wall second;
* :func:`calls_per_packet`: Python function calls per packet, from one
  cProfile run, with the functions that take the most self time
  (:func:`profile_table`).

Checksums are computed by the sender and verified by the receiver as always
(the simulator has no offload), and every transfer is checked byte for byte
(SHA-256) after its timed part: a run that does not deliver exactly what was
sent raises instead of printing a figure.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import hashlib
import ipaddress
import math
import pstats
import random
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..connection import Connection
from ..drivers.apps import App, AppConnection, SendClient
from ..drivers.sim import Host, Network
from ..events import Connected, ConnectionClosed, DataReceived, Event, PeerClosed
from ..trace import Trace
from .figures import Sample, Stopwatch, Target, figure, require_positive, spread
from .population import BULK_PORT, idle_endpoint, listener_ports

MIB = 1 << 20
"""Bytes in a mebibyte."""

SIM_BULK_TARGET = Target(">=", 50)
"""10^6 bytes of goodput per wall second, one bulk transfer in the simulator."""
PER_PACKET_TARGET = Target("<=", 25)
"""Wall microseconds per packet put on the link in that transfer."""
CHURN_TARGET = Target(">=", 10_000)
"""Complete connection lifecycles per wall second in the simulator."""
TRACE_COST_TARGET = Target(">=", 0.90)
"""Speed with a trace kept over the speed without: keeping a trace costs <= 10 %."""

BULK_DELAY = 0.005
"""One-way delay of the bulk transfers' link (virtual seconds)."""
CHURN_DELAY = 0.001
"""One-way delay of the churn's link (virtual seconds)."""
CHURN_BYTES = 100
"""Bytes each way of one churn connection."""
CHURN_PORT = 80
"""The churn's server port."""
CHURN_BATCH = 100
"""Churn connections opened together (concurrently) at one instant of virtual time."""
CHURN_GAP = 0.010
"""Virtual seconds between two churn batches (a lifecycle takes about 3 round trips)."""
MAX_CHURN = 10_000
"""Most churn connections per run: every one stays in TIME-WAIT (2 MSL, 240 virtual
seconds) until the end of the run, each on an ephemeral port of the one client address,
and there are 16,384 of those (RFC 6335)."""
IDLE_NETWORK = ipaddress.ip_address("198.18.0.0")
"""Addresses of idle simulated hosts: the benchmarking range 198.18.0.0/15 (RFC 2544)."""
MAX_IDLE_HOSTS = 2**17 - 2
"""Most idle simulated hosts: the addresses of 198.18.0.0/15 after its first."""


def payload(size: int, seed: int) -> bytes:
    """``size`` pseudo-random bytes from ``seed``: the same on every machine and in
    every process (the kernel-side programs of the references make it too)."""
    return random.Random(seed).randbytes(size)


def untraced() -> Trace:
    """The trace of an untraced run: nothing kept, no sink, so that the stacks build
    no trace record at all (:attr:`~tcpstack.trace.Trace.active` is false)."""
    return Trace(keep=False)


class Collector(App):
    """Receive to end of stream, keeping every byte; close after the peer's FIN.

    Serves the simulator's bulk transfers and the TUN references. The bytes
    are checked after the timed part (:meth:`sha256`), so that hashing costs
    the transfer nothing.

    Attributes:
        received: bytes read so far.
        started, ended: ``clock()`` when a passive open completed and when
            end of stream was read (None until then); seconds.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.received = 0
        self._clock = clock
        self.started: float | None = None
        self.ended: float | None = None

    def on_accept(self, conn: AppConnection) -> None:
        """Start the clock: the handshake is done."""
        if self._clock is not None:
            self.started = self._clock()
        self.poll(conn)

    def poll(self, conn: AppConnection) -> None:
        """Read everything buffered; at end of stream stop the clock and close."""
        if self.finished:
            return
        while chunk := conn.read(65536):
            self.chunks.append(chunk)
            self.received += len(chunk)
        if conn.at_eof:
            if self._clock is not None:
                self.ended = self._clock()
            self.finished = True
            conn.close()

    def sha256(self) -> str:
        """SHA-256 (hex) of the bytes received."""
        digest = hashlib.sha256()
        for chunk in self.chunks:
            digest.update(chunk)
        return digest.hexdigest()


@dataclass
class SimBulk:
    """One bulk transfer in the simulator; times in seconds, sizes in bytes."""

    size: int
    delivered: int
    exact: bool
    """Every byte delivered, in order, none more (SHA-256 of both ends)."""
    virtual_seconds: float
    sample: Sample
    """Wall and CPU seconds of the run, and the packets put on links in it."""

    @property
    def mbps(self) -> float:
        """10^6 bytes of goodput per wall second."""
        return self.size / self.sample.cost.wall / 1e6

    @property
    def cpu_mbps(self) -> float:
        """10^6 bytes of goodput per CPU second."""
        return self.size / self.sample.cost.cpu / 1e6 if self.sample.cost.cpu else math.inf

    def check(self) -> SimBulk:
        """Raise RuntimeError unless the transfer was exact; return self."""
        if not self.exact:
            raise RuntimeError(f"bulk transfer not exact: {self.delivered} of {self.size} "
                               "bytes delivered, or the SHA-256 differs")
        return self


def sim_bulk(size: int, *, loss: float = 0.0, seed: int = 1, delay: float = BULK_DELAY,
             traced: bool = False, profiler: cProfile.Profile | None = None,
             idle_hosts: int = 0, idle_connections: int = 0) -> SimBulk:
    """Send ``size`` bytes client -> server over a simulated link and time it.

    MSS 1460 (the stacks' default over the simulator's 1500-byte path),
    checksums computed and verified. Timed: the
    :meth:`~tcpstack.drivers.sim.Network.run` of the transfer, from the SYN
    to the end of TIME-WAIT (one timer step in virtual time), after a
    ``gc.collect()``; the SHA-256 check comes after.

    Args:
        size: bytes to send.
        loss: probability that a packet is lost (both directions).
        seed: seed of the network, the stacks and the payload.
        delay: one-way delay of the link, virtual seconds.
        traced: keep a trace of every event (the simulator's default); else
            none is built (:func:`untraced`).
        profiler: run the transfer under this profiler.
        idle_hosts, idle_connections: an idle crowd (:func:`add_idle`),
            built untimed before the transfer, when ``idle_hosts`` > 0.
    """
    data = payload(size, seed)
    net = Network(seed=seed, trace=Trace() if traced else untraced(), keep_packets=False)
    sink = Collector()
    client = net.add_host("client", "192.0.2.1", app=SendClient(data))
    server = net.add_host("server", "192.0.2.2", app=sink)
    net.link(client, server, delay=delay, loss=loss)
    server.stack.listen(BULK_PORT)
    if idle_hosts:
        add_idle(net, server, idle_hosts, idle_connections, delay=delay)
    start, first = net.now, net.packets_sent
    net.at(start, lambda: client.stack.connect(server.address, BULK_PORT, now=net.now))
    gc.collect()
    with Stopwatch() as cost:
        if profiler is not None:
            profiler.runcall(net.run)
        else:
            net.run()
    done_at = max((t for t, _, e in server.events if isinstance(e, PeerClosed)), default=net.now)
    exact = sink.received == size and sink.sha256() == hashlib.sha256(data).hexdigest()
    return SimBulk(size=size, delivered=sink.received, exact=exact,
                   virtual_seconds=done_at - start,
                   sample=Sample(cost, net.packets_sent - first))


def add_idle(net: Network, server: Host, hosts: int, connections: int, *,
             delay: float) -> None:
    """Add ``hosts`` idle hosts, each linked to ``server``, and open ``connections``
    idle connections from them (round robin) to ``server``; run until all is quiet.

    Raises:
        ValueError: more hosts than :data:`IDLE_NETWORK` has addresses.
        RuntimeError: a connection did not come up, or something is left to do.
    """
    if not 1 <= hosts <= MAX_IDLE_HOSTS:
        raise ValueError(f"idle hosts must be in 1..{MAX_IDLE_HOSTS}, got {hosts}")
    idle = [net.add_host(f"idle{i}", str(IDLE_NETWORK + 1 + i)) for i in range(hosts)]
    for host in idle:
        net.link(host, server, delay=delay)
    for port in listener_ports(math.ceil(connections / hosts)):
        server.stack.listen(port, backlog=max(1, connections))

    def open_all() -> None:
        for j in range(connections):
            local, port = idle_endpoint(j // hosts)
            idle[j % hosts].stack.connect(server.address, port, now=net.now, local_port=local)

    first = len(server.events)
    net.at(net.now, open_all)
    net.run()
    opened = sum(isinstance(e, Connected) for _, _, e in server.events[first:])
    if opened != connections or server.stack.next_timer() is not None:
        raise RuntimeError(f"{opened} of {connections} idle connections came up idle")


def sim_bulk_figures(size: int = 16 * MIB, *, runs: int = 5, seed: int = 1,
                     trace_cost: bool = True) -> dict[str, dict[str, Any]]:
    """``sim_bulk_mbps`` and ``per_packet_us`` of ``runs`` untraced transfers of
    ``size`` bytes (:func:`sim_bulk`, no loss), and ``trace_cost`` when asked.

    With ``trace_cost`` each run is a pair: the untraced transfer, then the
    same one with a trace kept; the figure is the traced speed over the
    untraced one, per pair (pairs, so that a slow spell of the machine hits
    both sides alike).

    Returns:
        ``{"sim_bulk_mbps": ..., "per_packet_us": ...[, "trace_cost": ...]}``,
        figures with ``cpu`` (the spread of the same figure in CPU time),
        ``bytes`` and ``packets`` (of one transfer); ``trace_cost`` also has
        ``cost_percent`` (100 x (1 - median)) and ``traced_mbps``.

    Raises:
        ValueError: ``size`` or ``runs`` below 1.
        RuntimeError: a transfer was not exact.
    """
    require_positive(size=size, runs=runs)
    plain: list[SimBulk] = []
    traced: list[SimBulk] = []
    with Stopwatch() as cost:
        for _ in range(runs):
            plain.append(sim_bulk(size, seed=seed).check())
            if trace_cost:
                traced.append(sim_bulk(size, seed=seed, traced=True).check())
    packets = plain[-1].sample.count
    out = {
        "sim_bulk_mbps": figure(
            [r.mbps for r in plain], unit="10^6 bytes of goodput per wall second",
            target=SIM_BULK_TARGET, cost=cost, digits=3,
            cpu=spread([r.cpu_mbps for r in plain], 3), bytes=size, packets=packets,
            mss=1460, checksums="computed and verified", trace="off"),
        "per_packet_us": figure(
            [r.sample.wall_us for r in plain],
            unit="wall microseconds per packet put on the link (sim_bulk, untraced)",
            target=PER_PACKET_TARGET, cost=cost, digits=2,
            cpu=spread([r.sample.cpu_us for r in plain], 2), bytes=size, packets=packets),
    }
    if trace_cost:
        ratios = [t.mbps / p.mbps for p, t in zip(plain, traced, strict=True)]
        fig = figure(ratios, unit="traced / untraced sim_bulk speed (wall)",
                     target=TRACE_COST_TARGET, cost=cost, digits=4,
                     traced_mbps=spread([t.mbps for t in traced], 3), bytes=size)
        fig["cost_percent"] = round(100 * (1 - fig["median"]), 2)
        out["trace_cost"] = fig
    return out


def sim_bulk_lossy(size: int = 16 * MIB, *, loss: float = 0.01, runs: int = 5,
                   seed: int = 1) -> dict[str, Any]:
    """``sim_bulk_lossy_mbps``: :func:`sim_bulk_figures`'s transfer with ``loss``
    (each packet, both directions), ``runs`` times (no trace).

    Returns:
        The figure (10^6 bytes of goodput per wall second, target >= 50, as
        the clean one) with ``cpu``, ``loss``, ``bytes``, ``packets`` and
        ``virtual_seconds`` (the spread of the transfers' virtual time:
        recovery takes round trips, never wall time).

    Raises:
        ValueError: ``size`` or ``runs`` below 1.
        RuntimeError: a transfer was not exact.
    """
    require_positive(size=size, runs=runs)
    with Stopwatch() as cost:
        done = [sim_bulk(size, loss=loss, seed=seed).check() for _ in range(runs)]
    return figure([r.mbps for r in done], unit="10^6 bytes of goodput per wall second",
                  target=SIM_BULK_TARGET, cost=cost, digits=3,
                  cpu=spread([r.cpu_mbps for r in done], 3), loss=loss, bytes=size,
                  packets=done[-1].sample.count,
                  virtual_seconds=spread([r.virtual_seconds for r in done], 3))


class _Churn:
    """The two applications of a churn run, and what they saw.

    The client sends :data:`CHURN_BYTES` once connected and closes once the
    reply is read; the server replies once the request is read and closes
    after the client's FIN. The client passes through TIME-WAIT.
    """

    def __init__(self, seed: int) -> None:
        self.request = payload(CHURN_BYTES, seed)
        self.reply = payload(CHURN_BYTES, seed + 1)
        self.got: dict[Connection, bytes] = {}
        self.closed = {"client": 0, "server": 0}
        self.wrong = 0

    def _read(self, conn: Connection, expect: bytes) -> bool:
        """Add what ``conn`` has to read; True once it holds ``expect`` (counted if not)."""
        got = self.got.get(conn, b"") + conn.read()
        if len(got) < len(expect):
            self.got[conn] = got
            return False
        self.got.pop(conn, None)
        self.wrong += got != expect
        return True

    def client(self, conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            conn.send(self.request)
        elif isinstance(event, DataReceived) and self._read(conn, self.reply):
            conn.close()
        elif isinstance(event, ConnectionClosed):
            self.closed["client"] += 1

    def server(self, conn: Connection, event: Event) -> None:
        if isinstance(event, DataReceived) and self._read(conn, self.request):
            conn.send(self.reply)
        elif isinstance(event, PeerClosed):
            conn.close()
        elif isinstance(event, ConnectionClosed):
            self.closed["server"] += 1


def _churn_run(connections: int, *, batch: int, seed: int,
               profiler: cProfile.Profile | None = None) -> tuple[Sample, float]:
    """One churn run; returns its cost per connection and the virtual seconds it
    took. ``profiler``: run it under this profiler (its time is then the profiled one)."""
    net = Network(seed=seed, trace=untraced(), keep_packets=False)
    apps = _Churn(seed)
    client = net.add_host("client", "192.0.2.1", app=apps.client)
    server = net.add_host("server", "192.0.2.2", app=apps.server)
    net.link(client, server, delay=CHURN_DELAY)
    server.stack.listen(CHURN_PORT, backlog=batch)

    def open_batch(count: int) -> None:
        for _ in range(count):
            client.stack.connect(server.address, CHURN_PORT, now=net.now)

    for first in range(0, connections, batch):
        count = min(batch, connections - first)
        net.at(first // batch * CHURN_GAP, functools.partial(open_batch, count))
    gc.collect()
    with Stopwatch() as cost:
        if profiler is not None:
            profiler.runcall(net.run)
        else:
            net.run()
    left = len(client.stack.connections) + len(server.stack.connections)
    if apps.closed != {"client": connections, "server": connections} or apps.wrong or left:
        raise RuntimeError(f"churn: {apps.closed} of {connections} closed, {apps.wrong} "
                           f"wrong replies, {left} connections left")
    return Sample(cost, connections), net.now


def _check_churn(connections: int, **sizes: int) -> None:
    """Raise ValueError for a size below 1 or more than :data:`MAX_CHURN` connections."""
    require_positive(connections=connections, **sizes)
    if connections > MAX_CHURN:
        raise ValueError(f"connections must be <= {MAX_CHURN}, got {connections}")


def sim_churn(connections: int = 2000, *, runs: int = 5, batch: int = CHURN_BATCH,
              seed: int = 1) -> dict[str, Any]:
    """``sim_churn_cps``: complete connection lifecycles per wall second.

    Each run makes a fresh network and opens ``connections`` connections
    from one client to one server, ``batch`` at a time (a batch every
    :data:`CHURN_GAP` virtual seconds, so that the live connections, and
    the cost per connection, do not grow with ``connections``). A lifecycle:
    three-way handshake, :data:`CHURN_BYTES` bytes each way (checked), the
    client's close, the server's close, and TIME-WAIT reaped (the run
    continues in virtual time past 2 MSL until no connection is left on
    either stack). Timed: the whole ``Network.run``.

    Returns:
        The figure (connections per wall second, target >= 10,000) with
        ``cpu`` (per CPU second), ``connections``, ``batch``,
        ``per_connection_us`` (wall) and ``virtual_seconds`` (of a run).

    Raises:
        ValueError: a size below 1, or more than :data:`MAX_CHURN` connections.
        RuntimeError: a lifecycle did not complete, or a reply was wrong.
    """
    _check_churn(connections, runs=runs, batch=batch)
    samples: list[Sample] = []
    with Stopwatch() as cost:
        for _ in range(runs):
            sample, virtual = _churn_run(connections, batch=batch, seed=seed)
            samples.append(sample)
    return figure([1e6 / s.wall_us for s in samples],
                  unit="complete connection lifecycles per wall second",
                  target=CHURN_TARGET, cost=cost, digits=1,
                  cpu=spread([1e6 / s.cpu_us for s in samples], 1),
                  per_connection_us=spread([s.wall_us for s in samples], 2),
                  connections=connections, batch=batch, virtual_seconds=round(virtual, 3))


def profile_table(stats: pstats.Stats, *, top: int = 15) -> list[dict[str, Any]]:
    """The ``top`` functions of ``stats`` by self time, largest first.

    Each row: ``function`` (``path:line(name)``, the path from the package
    directory, e.g. ``tcpstack/stack.py:245(receive)``, or from the standard
    library's, e.g. ``stdlib/enum.py:1515(__and__)``; built-ins as cProfile
    names them), ``self_s`` and ``cumulative_s`` (seconds under the
    profiler), ``self_percent`` (of the run's total) and ``calls``.
    """
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in raw.values()) or 1.0
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return [{"function": _function_name(*key), "self_s": round(tt, 4),
             "self_percent": round(100 * tt / total, 2), "cumulative_s": round(ct, 4),
             "calls": nc}
            for key, (_, nc, tt, ct, _) in rows]


def _function_name(path: str, line: int, name: str) -> str:
    """cProfile's key of a function as ``path:line(name)``, the path shortened."""
    if path == "~" and line == 0:
        return name  # a built-in: "<built-in method ...>", "{method ...}"
    parts = Path(path).parts
    if "tcpstack" in parts:
        path = "/".join(parts[len(parts) - 1 - parts[::-1].index("tcpstack"):])
    elif path.startswith(_STDLIB):
        path = "stdlib/" + Path(path).relative_to(_STDLIB).as_posix()
    elif packages := [i for i, part in enumerate(parts) if part in _PACKAGE_DIRS]:
        # Another installed package (e.g. a gc callback hypothesis left behind).
        path = "/".join(parts[packages[-1] + 1:])
    return f"{path}:{line}({name})"


_STDLIB = sysconfig.get_paths()["stdlib"]
_PACKAGE_DIRS = ("site-packages", "dist-packages")


def _profiled(size: int, seed: int) -> tuple[SimBulk, pstats.Stats, Stopwatch]:
    """One untraced, clean :func:`sim_bulk` of ``size`` bytes under cProfile."""
    require_positive(size=size)
    profiler = cProfile.Profile()
    with Stopwatch() as cost:
        run = sim_bulk(size, seed=seed, profiler=profiler).check()
        stats = pstats.Stats(profiler)
    return run, stats, cost


def profile_run(size: int = 2 * MIB, *, seed: int = 1, top: int = 20) -> list[dict[str, Any]]:
    """Where the time of a :func:`sim_bulk` of ``size`` bytes goes: the ``top``
    functions by self time under cProfile (:func:`profile_table`).

    Raises:
        ValueError: ``size`` below 1.
        RuntimeError: the transfer was not exact.
    """
    return profile_table(_profiled(size, seed)[1], top=top)


def churn_profile(connections: int = 2000, *, batch: int = CHURN_BATCH, seed: int = 1,
                  top: int = 20) -> dict[str, Any]:
    """Where the time of one :func:`sim_churn` run goes: Python calls per
    lifecycle and the ``top`` functions by self time under cProfile
    (:func:`profile_table`). Measures only: ``sim_churn_cps`` stays the
    unprofiled figure.

    Returns:
        ``connections``, ``calls`` (all calls of the run), ``calls_per_lifecycle``,
        ``packets_per_lifecycle`` (packets put on the link per connection) and ``top``.

    Raises:
        ValueError: a size below 1, or more than :data:`MAX_CHURN` connections.
        RuntimeError: a lifecycle did not complete, or a reply was wrong.
    """
    _check_churn(connections, batch=batch, top=top)
    profiler = cProfile.Profile()
    _churn_run(connections, batch=batch, seed=seed, profiler=profiler)
    stats = pstats.Stats(profiler)
    calls: int = stats.total_calls  # type: ignore[attr-defined]
    packets = sum(nc for (path, _, name), (_, nc, *_rest) in stats.stats.items()  # type: ignore[attr-defined]
                  if name == "_transmit" and path.endswith("sim.py"))
    return {"connections": connections, "calls": calls,
            "calls_per_lifecycle": round(calls / connections, 1),
            "packets_per_lifecycle": round(packets / connections, 2),
            "top": profile_table(stats, top=top)}


def calls_per_packet(size: int = 2 * MIB, *, seed: int = 1, top: int = 15) -> dict[str, Any]:
    """``calls_per_packet``: Python function calls per packet put on the link in
    one untraced, clean :func:`sim_bulk` of ``size`` bytes run under cProfile.

    One run: the count of calls does not depend on the machine's speed (the
    same seed makes the same packets). The same profile gives where the time
    goes: ``top`` functions by self time (:func:`profile_table`).

    Returns:
        The figure (calls per packet, one run, no target in the issue) with
        ``calls`` (all calls), ``packets``, ``bytes``, ``profiled_mbps``
        (the speed under the profiler, which slows it) and ``top``.

    Raises:
        ValueError: ``size`` below 1.
        RuntimeError: the transfer was not exact.
    """
    run, stats, cost = _profiled(size, seed)
    calls: int = stats.total_calls  # type: ignore[attr-defined]
    return figure([calls / run.sample.count], unit="Python function calls per packet "
                  "(cProfile of sim_bulk)", target=None, cost=cost, digits=1, calls=calls,
                  packets=run.sample.count, bytes=size, profiled_mbps=round(run.mbps, 3),
                  top=profile_table(stats, top=top))
