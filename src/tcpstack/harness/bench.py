"""Benchmarks (``tcpstack bench``): numbers measured in the simulator and on
wired stacks, printed as one JSON object.

Speed is measured here, never asserted in tests. Wall-clock figures depend on
the machine; virtual-time figures depend only on the stack and the seed.
The figures of connection scaling live in :mod:`~tcpstack.harness.scaling`;
``docs/performance.md`` says how each is measured.
"""

from __future__ import annotations

import gc
import hashlib
import ipaddress
import math
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..connection import Connection
from ..drivers.apps import DiscardApp, SendClient
from ..drivers.sim import Host, Network
from ..events import Connected, Event, PeerClosed
from ..trace import Trace
from .aio_time import aio_virtual_time
from .figures import Ratios, Sample, Stopwatch, Target, require_positive
from .population import BULK_PORT, idle_endpoint, listener_ports
from .scaling import accept_scaling, conn_memory_bytes, idle_connection_ends, scaling_ratio

SIM_STEP_TARGET = Target("<=", 1.10)
"""Cost per simulator step with idle hosts and connections over the cost alone."""
IDLE_NETWORK = ipaddress.ip_address("198.18.0.0")
"""Addresses of idle simulated hosts: the benchmarking range 198.18.0.0/15 (RFC 2544)."""
MAX_IDLE_HOSTS = 2**17 - 2
"""Most idle simulated hosts: the addresses of 198.18.0.0/15 after its first."""


@dataclass
class _SimBulk:
    """One bulk transfer in the simulator; times in seconds, sizes in bytes."""

    delivered: int
    sha256_ok: bool
    virtual_seconds: float
    sample: Sample
    """Wall and CPU seconds of the run, and the packets put on links in it."""


def bulk_transfer(size: int, *, loss: float = 0.0, seed: int = 1,
                  delay: float = 0.005) -> dict[str, Any]:
    """Send ``size`` bytes client -> server over a simulated link; measure it.

    Returns a dict: bytes sent and delivered, SHA-256 match, loss rate,
    virtual seconds until the server saw the FIN, wall and CPU seconds of the
    run, packets put on the link, goodput in Mbit/s of virtual time, bytes
    and packets processed per wall-clock second.
    """
    run = _sim_bulk(size, loss=loss, seed=seed, delay=delay)
    wall, done_at, packets = run.sample.cost.wall, run.virtual_seconds, run.sample.count
    return {
        "bytes": size,
        "delivered": run.delivered,
        "sha256_ok": run.sha256_ok,
        "loss": loss,
        "virtual_seconds": round(done_at, 6),
        "wall_seconds": round(wall, 4),
        "cpu_seconds": round(run.sample.cost.cpu, 4),
        "packets": packets,
        "goodput_mbit_per_virtual_s": round(size * 8 / done_at / 1e6, 3) if done_at else None,
        "bytes_per_wall_s": round(size / wall) if wall else None,
        "packets_per_wall_s": round(packets / wall) if wall else None,
    }


def _sim_bulk(size: int, *, loss: float = 0.0, seed: int = 1, delay: float = 0.005,
              idle_hosts: int = 0, idle_connections: int = 0) -> _SimBulk:
    """A bulk transfer of ``size`` bytes in the simulator, after an idle crowd
    (:func:`_add_idle`) was built, untimed, when ``idle_hosts`` > 0.

    Timed: the :meth:`~tcpstack.drivers.sim.Network.run` of the transfer,
    from the SYN to the end of TIME-WAIT (a single timer step in virtual time).
    """
    payload = bytes((i * 7 + seed) % 256 for i in range(min(size, 1 << 16))) * (
        size // (1 << 16) + 1
    )
    payload = payload[:size]
    net = Network(seed=seed, trace=Trace(keep=False), keep_packets=False)
    sink = hashlib.sha256()
    received = 0

    class Sink(DiscardApp):
        def poll(self, conn: Any) -> None:
            nonlocal received
            while chunk := conn.read(65536):
                sink.update(chunk)
                received += len(chunk)
            if conn.at_eof and not self.finished:
                self.finished = True
                conn.close()

    client = net.add_host("client", "192.0.2.1", app=SendClient(payload))
    server = net.add_host("server", "192.0.2.2", app=Sink())
    net.link(client, server, delay=delay, loss=loss)
    server.stack.listen(BULK_PORT)
    if idle_hosts:
        _add_idle(net, server, idle_hosts, idle_connections, delay=delay)
    start, first = net.now, net.packets_sent
    net.at(start, lambda: client.stack.connect(server.address, BULK_PORT, now=net.now))
    gc.collect()
    with Stopwatch() as cost:
        net.run()
    done_at = max((t for t, _, e in server.events if isinstance(e, PeerClosed)), default=net.now)
    return _SimBulk(delivered=received,
                    sha256_ok=sink.hexdigest() == hashlib.sha256(payload).hexdigest(),
                    virtual_seconds=done_at - start,
                    sample=Sample(cost, net.packets_sent - first))


def _add_idle(net: Network, server: Host, hosts: int, connections: int, *,
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


def sim_step_ratio(*, idle_hosts: int = 1000, idle_connections: int = 10_000,
                   size: int = 2_000_000, runs: int = 5, seed: int = 1) -> dict[str, Any]:
    """The simulator's cost per step of a bulk transfer among ``idle_hosts`` idle
    hosts with ``idle_connections`` idle connections, over the cost alone.

    Each run makes two networks with the same seed: the client and server
    alone, and the same plus the idle crowd (hosts each linked to the
    server, connections from them to the server, spread round robin; built
    before the timing). The same ``size``-byte transfer then runs in each
    (:func:`bulk_transfer`'s, no loss). A step is one event of
    :meth:`~tcpstack.drivers.sim.Network.run`; with no loss each packet is
    one delivery step, and the few timer steps are the same in both, so the
    cost per step is taken as wall seconds per packet.

    Returns:
        The figure (unit: ratio of wall time per step, target <= 1.10) with
        ``cpu`` (the same ratio of CPU time), ``per_packet_us`` (``alone`` and
        ``crowd``), ``idle_hosts``, ``idle_connections``, ``bytes`` and
        ``packets`` (per transfer).
    """
    require_positive(idle_hosts=idle_hosts, size=size, runs=runs)
    if idle_connections < 0:
        raise ValueError(f"idle_connections must be >= 0, got {idle_connections}")
    ratios = Ratios("alone", "crowd")
    with Stopwatch() as cost:
        for _ in range(runs):
            alone = _sim_bulk(size, seed=seed)
            crowd = _sim_bulk(size, seed=seed, idle_hosts=idle_hosts,
                              idle_connections=idle_connections)
            ratios.add(alone.sample, crowd.sample)
    return ratios.figure(per="packet", unit="simulator wall time per step, with idle hosts / "
                         "alone", target=SIM_STEP_TARGET, cost=cost, idle_hosts=idle_hosts,
                         idle_connections=idle_connections, bytes=size,
                         packets=crowd.sample.count)


def handshakes(count: int, *, seed: int = 1) -> dict[str, Any]:
    """Open and close ``count`` connections one after another; measure wall time."""
    net = Network(seed=seed, trace=Trace(keep=False))
    done = 0

    def server_app(conn: Connection, event: Event) -> None:
        if isinstance(event, PeerClosed):
            conn.close()

    def client_app(conn: Connection, event: Event) -> None:
        nonlocal done
        if isinstance(event, Connected):
            conn.close()
            done += 1

    client = net.add_host("client", "192.0.2.1", app=client_app,
                          config=None)
    server = net.add_host("server", "192.0.2.2", app=server_app)
    net.link(client, server, delay=0.001)
    server.stack.listen(80)
    for i in range(count):
        net.at(i * 0.01, lambda: client.stack.connect("192.0.2.2", 80, now=net.now))
    start = time.perf_counter()
    net.run()
    wall = time.perf_counter() - start
    return {
        "connections": count,
        "completed": done,
        "wall_seconds": round(wall, 4),
        "connections_per_wall_s": round(count / wall) if wall else None,
    }


FIGURES: dict[str, tuple[str, ...]] = {
    "bulk": ("bulk_clean", "bulk_lossy"),
    "handshakes": ("handshakes",),
    "conn_memory": ("conn_memory_bytes",),
    "scaling": ("scaling_ratio",),
    "accept": ("accept_scaling",),
    "sim_step": ("sim_step_ratio",),
    "idle_million": ("idle_connection_ends",),
    "aio_time": ("aio_virtual_time",),
}
"""The figures by the name ``tcpstack bench --only`` takes -> the keys they print."""
DEFAULT_FIGURES = tuple(name for name in FIGURES if name != "idle_million")
"""What ``tcpstack bench`` measures unless told otherwise (idle_million is opt-in)."""


def run_bench(*, size: int = 2_000_000, loss: float = 0.01, seed: int = 1,
              connections: int = 200, figures: Iterable[str] = DEFAULT_FIGURES,
              runs: int = 5, heavy_runs: int = 3, scale: int = 100_000,
              memory_connections: int = 2000, idle_hosts: int = 1000,
              sim_connections: int = 10_000, million_connections: int = 500_000,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The chosen benchmarks, as one JSON-serialisable dict.

    Args:
        size: bytes of each bulk transfer (bulk, scaling, sim_step).
        loss: loss probability of the lossy bulk transfer.
        seed: seed of every network and stack.
        connections: open+close cycles of the handshakes figure.
        figures: names of :data:`FIGURES` to measure.
        runs: runs of conn_memory, sim_step and aio_time.
        heavy_runs: runs of scaling and accept (their populations are large).
        scale: idle connections of scaling; the larger size of accept (the
            smaller is ``scale // 10``).
        memory_connections: connections opened by conn_memory.
        idle_hosts, sim_connections: the idle crowd of sim_step.
        million_connections: connections of idle_million (two ends each).
        progress: told the name of each figure as it starts.

    Raises:
        ValueError: an unknown figure name or a size out of range.
    """
    chosen = set(figures)
    if unknown := chosen - set(FIGURES):
        raise ValueError(f"unknown figure {sorted(unknown)[0]!r}")
    measure: dict[str, Callable[[], dict[str, Any]]] = {
        "bulk_clean": lambda: bulk_transfer(size, loss=0.0, seed=seed),
        "bulk_lossy": lambda: bulk_transfer(size, loss=loss, seed=seed),
        "handshakes": lambda: handshakes(connections, seed=seed),
        "conn_memory_bytes": lambda: conn_memory_bytes(connections=memory_connections,
                                                       runs=runs, seed=seed),
        "scaling_ratio": lambda: scaling_ratio(connections=scale, size=size, runs=heavy_runs,
                                               seed=seed),
        "accept_scaling": lambda: accept_scaling(connections=scale, runs=heavy_runs, seed=seed),
        "sim_step_ratio": lambda: sim_step_ratio(idle_hosts=idle_hosts,
                                                 idle_connections=sim_connections, size=size,
                                                 runs=runs, seed=seed),
        "idle_connection_ends": lambda: idle_connection_ends(connections=million_connections,
                                                             seed=seed),
        "aio_virtual_time": lambda: aio_virtual_time(runs=runs),
    }
    # idle_million first, so that the peak resident set it reports is its own.
    order = sorted(chosen, key=lambda name: (name != "idle_million", list(FIGURES).index(name)))
    measured: dict[str, dict[str, Any]] = {}
    with Stopwatch() as total:
        for name in order:
            for key in FIGURES[name]:
                if progress is not None:
                    progress(key)
                measured[key] = measure[key]()
    out: dict[str, Any] = {
        "tcpstack": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "system": system_info(),
    }
    out.update((key, measured[key]) for name in FIGURES for key in FIGURES[name]
               if key in measured)
    out["total_wall_seconds"] = round(total.wall, 3)
    out["total_cpu_seconds"] = round(total.cpu, 3)
    return out


def system_info() -> dict[str, Any]:
    """Where the figures were measured: platform, Python implementation, CPU
    model and count, memory in bytes (None where the platform does not tell)."""
    memory: int | None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "platform": platform.platform(),
        "implementation": platform.python_implementation(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fp:
            for line in fp:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
