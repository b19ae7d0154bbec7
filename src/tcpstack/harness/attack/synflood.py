"""``syn-flood``: spoofed SYNs at a listener while legitimate clients connect (RFC 4987).

A server listens on port 80 (default configuration, backlog 128). For
``seconds`` of virtual time it receives ``rate`` SYNs per second, each from a
random address in 10.0.0.0/8 and a random port (so every SYN opens a new
4-tuple), with a random ISN and a Linux client's options (MSS 1460,
SACK-permitted, timestamps with a random TSval, window scale 7). Those
addresses belong to no host: the SYN-ACKs sent to them are lost and nothing
ever answers, which is what a flood of spoofed SYNs looks like. The SYNs
arrive in batches of ``rate / 1000`` every millisecond.

Meanwhile ``clients`` legitimate connections are opened from 192.0.2.1, at
times drawn uniformly over the flood, over a link with 10 ms one-way delay. A
client that is not connected ``connect_timeout`` seconds after its connect
gives up (aborts); one that connects closes at once, and the server's
application closes its side when it sees the FIN.

Measured: the fraction of clients connected and their connect times
(percentiles), the listener's SYN queue / SYN cookie counters
(``Stack.stats``), and the memory the server's stack holds, walked every
:data:`MEMORY_SAMPLE` seconds of virtual time (:func:`~.common.stack_memory`),
its peak judged against ``memory_bound``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from ...config import TcpConfig
from ...connection import Connection
from ...drivers.sim import Network
from ...events import Connected, Event, PeerClosed
from ...state import State
from ...trace import Trace
from .common import (
    CLIENT_ADDRESS,
    SERVER_ADDRESS,
    AttackResult,
    Injector,
    Progress,
    ipv4_segment,
    no_progress,
    stack_counters,
    stack_memory,
    syn_options,
)

CONNECTED_FRACTION = 0.99
"""Done means: at least 99 % of the legitimate clients connect."""

MEMORY_BOUND = 32 * 1024 * 1024
"""Default bound of the server stack's peak memory (bytes): a SYN queue of a
few thousand small half-open records plus the clients' connections fit in a
fraction of it; a stack that keeps a full TCB per spoofed SYN does not."""

MEMORY_SAMPLE = 0.5
"""Virtual seconds between two walks of the server stack's memory."""

CLIENTS_ADDRESS = CLIENT_ADDRESS
PORT = 80
SPOOFED_NET = 0x0A000000  # 10.0.0.0/8: no host of the network lives there

def syn_packet(src: int, sport: int, dst: bytes, dport: int, seq: int, tsval: int) -> bytes:
    """A spoofed IPv4 SYN from address ``src`` (an int) with a Linux client's options."""
    return ipv4_segment(src.to_bytes(4, "big"), dst, sport, dport, seq, 0, 0x02, 64240,
                        syn_options(tsval))


@dataclass
class _Client:
    started: float
    conn: Connection | None = None
    connected_at: float | None = None


class _Clients:
    """The legitimate clients' application: note when each connects, then close."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.by_conn: dict[Connection, _Client] = {}

    def on_event(self, conn: Connection, event: Event) -> None:
        client = self.by_conn.get(conn)
        if client is None:
            return
        if isinstance(event, Connected) and client.connected_at is None:
            client.connected_at = self.net.now
            conn.close()


def _server_app(conn: Connection, event: Event) -> None:
    """Close when the client did (so no connection stays in CLOSE-WAIT)."""
    if isinstance(event, PeerClosed) or conn.at_eof:
        conn.read()
        if conn.state.synchronized:
            conn.close()


def run_syn_flood(*, seed: int = 1, rate: int = 100_000, seconds: float = 10.0,
                  clients: int = 1000, connect_timeout: float = 3.0,
                  memory_bound: int = MEMORY_BOUND, config: TcpConfig | None = None,
                  settle: float | None = None,
                  progress: Progress = no_progress) -> AttackResult:
    """``syn-flood`` (module docstring).

    Args:
        seed: seeds the network, the clients' times and the attacker.
        rate: spoofed SYNs per second of virtual time.
        seconds: how long the flood lasts (virtual).
        clients: legitimate connections opened during the flood.
        connect_timeout: seconds a client waits for its connection.
        memory_bound: bytes the server stack's peak memory is judged against.
        config: the server's configuration (default :class:`TcpConfig`).
        settle: virtual seconds the run goes on after the flood (default
            ``connect_timeout + 1``): long enough for the spoofed half-open
            entries to give up (63 s with ``synack_retries`` 5) when the
            counters should show it.
        progress: told (SYNs fed, SYNs in all).

    Raises:
        ValueError: a negative rate or client count, or a duration or
            timeout that is not > 0.
    """
    if rate < 0 or clients < 0:
        raise ValueError("rate and clients must be >= 0")
    if not seconds > 0 or not connect_timeout > 0:
        raise ValueError("seconds and connect_timeout must be > 0")
    started = time.perf_counter()
    net = Network(seed=seed, trace=Trace(keep=False), keep_packets=False)
    app = _Clients(net)
    server = net.add_host("server", SERVER_ADDRESS, config=config, app=_server_app)
    client_host = net.add_host("clients", CLIENTS_ADDRESS, config=config, app=app)
    net.link(client_host, server, delay=0.010)
    server.stack.listen(PORT)
    rng = random.Random(f"attack/{seed}/syn-flood")
    starts = sorted(rng.uniform(0.0, seconds) for _ in range(clients))
    records: list[_Client] = []

    def open_client(client: _Client) -> None:
        conn = client_host.stack.connect(SERVER_ADDRESS, PORT, now=net.now)
        client.conn = conn
        app.by_conn[conn] = client
        net.at(net.now + connect_timeout, lambda: give_up(client))

    def give_up(client: _Client) -> None:
        conn = client.conn
        if client.connected_at is None and conn is not None and conn.state is not State.CLOSED:
            conn.abort()

    for t in starts:
        record = _Client(t)
        records.append(record)
        net.at(t, lambda c=record: open_client(c))  # type: ignore[misc]

    total = int(rate * seconds)
    dst = server.address.packed
    getrandbits, randrange = rng.getrandbits, rng.randrange

    def build(n: int) -> list[bytes]:
        return [syn_packet(SPOOFED_NET | getrandbits(24), randrange(1024, 65536), dst, PORT,
                           getrandbits(32), getrandbits(32)) for _ in range(n)]

    injector = Injector(net, server, build, count=total, start=0.0,
                        stop=seconds - 0.001, progress=progress)
    peak = [0, 0.0]
    listener = server.stack.listener(PORT)
    half_open_peak = 0

    def sample() -> None:
        nonlocal half_open_peak
        size = stack_memory(server, net)
        if size > peak[0]:
            peak[0], peak[1] = size, net.now
        if listener is not None:
            half_open_peak = max(half_open_peak, len(listener.half_open))
        if net.now + MEMORY_SAMPLE <= seconds + connect_timeout:
            net.at(net.now + MEMORY_SAMPLE, sample)

    net.at(0.0, sample)
    end = seconds + (connect_timeout + 1.0 if settle is None else settle)
    net.run(until=end, max_steps=100_000_000)

    times = sorted(c.connected_at - c.started for c in records
                   if c.connected_at is not None and c.connected_at - c.started <= connect_timeout)
    connected = len(times)
    fraction = connected / clients if clients else 1.0
    result = AttackResult(
        "syn-flood", seed,
        {"rate": rate, "seconds": seconds, "clients": clients,
         "connect_timeout": connect_timeout, "memory_bound": memory_bound},
        f">= {CONNECTED_FRACTION:.0%} of the clients connect within connect_timeout; the "
        "server stack's peak memory stays under memory_bound")
    result.add("syns", "spoofed SYNs fed", injector.fed)
    result.add("clients", "legitimate clients", clients)
    result.add("connected", "clients connected", connected)
    result.add("connected_fraction", "fraction connected (done means >= 99 %)",
               round(fraction, 4))
    for q in (50, 90, 99):
        result.add(f"connect_p{q}", f"connect time p{q}", _percentile(times, q), "s")
    result.add("connect_max", "connect time max", round(times[-1], 6) if times else None, "s")
    result.add("synacks_sent", "SYN-ACKs and other replies sent", injector.replies.other)
    result.add("half_open_peak", "half-open connections, most at once (SYN queue)",
               half_open_peak)
    result.add("memory_peak", "server stack memory, peak", peak[0], "bytes")
    result.add("memory_peak_at", "peak memory at", round(peak[1], 3), "s")
    result.add("memory_bound", "memory bound", memory_bound, "bytes")
    result.add("connections_left", "server TCBs at the end", len(server.stack.connections))
    result.counters = stack_counters(
        server.stack.stats,
        prefixes=("syn", "cookie", "backlog", "queue", "listen", "overflow", "recycl",
                  "dropped:", "resets"))
    result.check("clients connected >= 99 %", fraction >= CONNECTED_FRACTION,
                 f"{connected} of {clients} ({fraction:.1%})")
    result.check("peak memory under the bound", peak[0] <= memory_bound,
                 f"{peak[0]:,} <= {memory_bound:,} bytes")
    result.wall_seconds = time.perf_counter() - started
    return result


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank) of ``sorted_values``, None if empty."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return round(sorted_values[int(rank) - 1], 6)


__all__ = ["CONNECTED_FRACTION", "MEMORY_BOUND", "run_syn_flood", "syn_packet"]
