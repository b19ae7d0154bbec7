"""Benchmarks (``tcpstack bench``): numbers measured in the simulator, printed as JSON.

Speed is measured here, never asserted in tests. Wall-clock figures depend on
the machine; virtual-time figures depend only on the stack and the seed.
"""

from __future__ import annotations

import hashlib
import platform
import time
from typing import Any

from .. import __version__
from ..connection import Connection
from ..drivers.apps import DiscardApp, SendClient
from ..drivers.sim import Network
from ..events import Connected, Event, PeerClosed
from ..trace import Trace


def bulk_transfer(size: int, *, loss: float = 0.0, seed: int = 1,
                  delay: float = 0.005) -> dict[str, Any]:
    """Send ``size`` bytes client -> server over a simulated link; measure it.

    Returns a dict: bytes delivered, SHA-256 match, virtual seconds, wall
    seconds, packets, retransmission-related counts, goodput in Mbit/s of
    virtual time and bytes processed per wall-clock second.
    """
    payload = bytes((i * 7 + seed) % 256 for i in range(min(size, 1 << 16))) * (
        size // (1 << 16) + 1
    )
    payload = payload[:size]
    net = Network(seed=seed, trace=Trace(keep=False))
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
    server.stack.listen(9)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 9, now=net.now))
    start = time.perf_counter()
    net.run()
    wall = time.perf_counter() - start
    done_at = max((t for t, _, e in server.events if isinstance(e, PeerClosed)), default=net.now)
    return {
        "bytes": size,
        "delivered": received,
        "sha256_ok": sink.hexdigest() == hashlib.sha256(payload).hexdigest(),
        "loss": loss,
        "virtual_seconds": round(done_at, 6),
        "wall_seconds": round(wall, 4),
        "packets": net.packets_sent,
        "goodput_mbit_per_virtual_s": round(size * 8 / done_at / 1e6, 3) if done_at else None,
        "bytes_per_wall_s": round(size / wall) if wall else None,
        "packets_per_wall_s": round(net.packets_sent / wall) if wall else None,
    }


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


def run_bench(*, size: int = 2_000_000, loss: float = 0.01, seed: int = 1,
              connections: int = 200) -> dict[str, Any]:
    """All benchmarks, as one JSON-serialisable dict."""
    return {
        "tcpstack": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "bulk_clean": bulk_transfer(size, loss=0.0, seed=seed),
        "bulk_lossy": bulk_transfer(size, loss=loss, seed=seed),
        "handshakes": handshakes(connections, seed=seed),
    }
