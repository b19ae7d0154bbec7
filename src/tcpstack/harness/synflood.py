"""A SYN flood in the simulator: spoofed SYNs at a listener while real clients connect.

The setup of ``tests/pairs/test_syn_flood.py`` and of ``tcpstack attack
syn-flood`` (RFC 4987 §2). Three hosts share one :class:`~tcpstack.drivers.sim.Network`:

* ``server`` (192.0.2.2) listens on port 80;
* ``clients`` (192.0.2.1) opens ``clients`` connections, spread evenly over
  the flood, each from its own ephemeral port;
* ``attacker`` (198.51.100.1) puts ``rate`` SYNs per second of virtual time
  on its link to the server, each from a random address of 198.51.100.0/24
  that no host has (so the SYN,ACKs find no route and are never answered),
  a random port and a random sequence number (seeded).

The run goes on after the flood until every client connected or gave up.
Everything is seeded: the same arguments give the same result.
"""

from __future__ import annotations

import ipaddress
import random
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from ..config import TcpConfig
from ..connection import Connection
from ..drivers.sim import Network
from ..events import Connected, Event
from ..trace import Trace
from ..wire import Flags, Mss, Segment, encode_packet

SERVER_ADDRESS = "192.0.2.2"
CLIENT_ADDRESS = "192.0.2.1"
ATTACKER_ADDRESS = "198.51.100.1"
SPOOFED_NETWORK = ipaddress.ip_network("198.51.100.0/24")
PORT = 80
BATCH_SECONDS = 0.001
"""The flood is scheduled in slices of this many virtual seconds (memory stays flat)."""


@dataclass
class SynFloodResult:
    """What a flood did.

    Attributes:
        clients: legitimate clients that tried.
        connected: of them, those that reached ESTABLISHED.
        spoofed: spoofed SYNs sent.
        seconds: flood duration, virtual seconds.
        end: virtual time when the run ended (seconds).
        server_stats: the server stack's counters (``Stack.stats``) at the end.
        max_half_open: most half-open connections the listener held at once
            (sampled every slice).
        peak_memory: tracemalloc's peak over the run, bytes (None unless asked).
        connect_times: per connected client, seconds from ``connect`` to
            ESTABLISHED.
    """

    clients: int
    connected: int
    spoofed: int
    seconds: float
    end: float
    server_stats: dict[str, int]
    max_half_open: int
    peak_memory: int | None = None
    connect_times: list[float] = field(default_factory=list)

    @property
    def connected_fraction(self) -> float:
        """``connected / clients`` (1.0 with no clients)."""
        return self.connected / self.clients if self.clients else 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        times = sorted(self.connect_times)
        return {
            "clients": self.clients, "connected": self.connected,
            "connected_fraction": round(self.connected_fraction, 4),
            "spoofed": self.spoofed, "seconds": self.seconds, "end": self.end,
            "max_half_open": self.max_half_open, "peak_memory": self.peak_memory,
            "connect_time_median": times[len(times) // 2] if times else None,
            "connect_time_max": times[-1] if times else None,
            "server_stats": dict(sorted(self.server_stats.items())),
        }


def spoofed_syn(rng: random.Random, dst: ipaddress.IPv4Address, port: int) -> bytes:
    """One SYN from a random address of :data:`SPOOFED_NETWORK` (never .1, the
    attacker), random source port and sequence number, MSS 1460."""
    src = SPOOFED_NETWORK[rng.randrange(2, 255)]
    seg = Segment(rng.randrange(1024, 65536), port, rng.getrandbits(32), 0, Flags.SYN, 64240,
                  options=(Mss(1460),))
    return encode_packet(src, dst, seg)


def syn_flood(
    *,
    rate: float = 100_000,
    seconds: float = 1.0,
    clients: int = 100,
    seed: int = 1,
    server_config: TcpConfig | None = None,
    backlog: int = 128,
    delay: float = 0.005,
    settle: float = 30.0,
    measure_memory: bool = False,
) -> SynFloodResult:
    """Run a SYN flood of ``rate`` spoofed SYNs per second for ``seconds`` (virtual)
    at a listener (``backlog``, ``server_config``) while ``clients`` clients
    connect, one-way link delay ``delay`` seconds; then up to ``settle`` more
    seconds for the clients' retransmissions.

    Raises:
        ValueError: a negative or zero rate, duration, or negative client count.
    """
    if rate <= 0 or seconds <= 0 or clients < 0:
        raise ValueError("rate and seconds must be > 0, clients >= 0")
    if measure_memory:
        tracemalloc.start()
    net = Network(seed=seed, trace=Trace(keep=False), keep_packets=False)
    server = net.add_host("server", SERVER_ADDRESS, config=server_config)
    client = net.add_host("clients", CLIENT_ADDRESS)
    attacker = net.add_host("attacker", ATTACKER_ADDRESS)
    net.link(client, server, delay=delay)
    net.link(attacker, server, delay=delay)
    server.stack.listen(PORT, backlog)
    started: dict[Connection, float] = {}
    times: list[float] = []

    def on_client(conn: Connection, event: Event) -> None:
        if isinstance(event, Connected) and conn in started:
            times.append(net.now - started.pop(conn))

    def on_server(conn: Connection, event: Event) -> None:
        while server.stack.accept(PORT) is not None:
            pass

    client.app = on_client
    server.app = on_server
    rng = random.Random(f"syn-flood/{seed}")
    dst = ipaddress.IPv4Address(SERVER_ADDRESS)
    spoofed = round(rate * seconds)
    listener = server.stack.listener(PORT)
    max_half = 0
    sent = 0
    t = 0.0
    next_client = 0
    while sent < spoofed or next_client < clients:
        end = t + BATCH_SECONDS
        while sent < spoofed and sent / rate < end:
            net.inject(sent / rate, attacker, spoofed_syn(rng, dst, PORT))
            sent += 1
        while next_client < clients and next_client * seconds / clients < end:
            at = next_client * seconds / clients

            def connect() -> None:
                conn = client.stack.connect(SERVER_ADDRESS, PORT, now=net.now)
                started[conn] = net.now

            net.at(at, connect)
            next_client += 1
        net.run(until=end)
        if listener is not None:
            max_half = max(max_half, len(listener.half_open))
        t = end
    net.run(until=t + settle)
    peak = None
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return SynFloodResult(clients=clients, connected=len(times), spoofed=spoofed,
                          seconds=seconds, end=net.now, server_stats=dict(server.stack.stats),
                          max_half_open=max_half, peak_memory=peak, connect_times=times)
