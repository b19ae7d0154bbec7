"""Pair tests: two stacks over the simulator, seeded impairments, byte-exact transfers."""

from __future__ import annotations

import hashlib
import random

import pytest

from tcpstack.config import TcpConfig
from tcpstack.drivers.apps import EchoApp, SendClient
from tcpstack.drivers.sim import Network
from tcpstack.events import ConnectionClosed, ConnectionReset, ConnectionTimedOut
from tcpstack.state import State


def echo_run(data: bytes, *, seed: int, **link: float) -> tuple[Network, SendClient]:
    net = Network(seed=seed)
    client_app = SendClient(data)
    client = net.add_host("client", "192.0.2.1", app=client_app)
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    net.link(client, server, **link)  # type: ignore[arg-type]
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))
    net.run(until=10_000.0)
    return net, client_app


def assert_clean_close(net: Network) -> None:
    for host in net.hosts.values():
        assert host.stack.connections == [], host.name
        kinds = [type(e) for _, _, e in host.events]
        assert ConnectionReset not in kinds and ConnectionTimedOut not in kinds, host.name


@pytest.mark.parametrize("size", [0, 1, 1460, 1461, 100_000])
def test_echo_clean_link(size: int) -> None:
    data = random.Random(size).randbytes(size)
    net, app = echo_run(data, seed=1, delay=0.01)
    assert bytes(app.received) == data
    assert_clean_close(net)


@pytest.mark.parametrize("seed", range(25))
def test_echo_over_impaired_link(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.choice([0, 10, 3000, 40_000, 150_000]))
    net, app = echo_run(data, seed=seed, delay=rng.uniform(0.001, 0.05), loss=rng.uniform(0, 0.2),
                        duplicate=rng.uniform(0, 0.1), reorder=rng.uniform(0, 0.2),
                        jitter=rng.uniform(0, 0.01))
    assert hashlib.sha256(app.received).digest() == hashlib.sha256(data).digest()
    assert_clean_close(net)


def test_megabytes_over_half_closed_connection() -> None:
    """The side in CLOSE-WAIT keeps sending megabytes, then closes (conformance: half-close)."""
    net = Network(seed=5)
    payload = random.Random(1).randbytes(3 * 1024 * 1024)
    got = bytearray()
    client = net.add_host("client", "192.0.2.1", app=SendClient(b"go", sink=got.extend))

    class Sender(EchoApp):
        def on_event(self, conn, event):  # type: ignore[no-untyped-def]
            from tcpstack.events import PeerClosed, SendBufferAvailable

            if isinstance(event, PeerClosed | SendBufferAvailable):
                while self.left and (n := conn.send(self.left[:65536])):
                    self.left = self.left[n:]
                if not self.left:
                    conn.read()
                    conn.close()

    sender = Sender()
    sender.left = payload  # type: ignore[attr-defined]
    server = net.add_host("server", "192.0.2.2", app=sender)
    net.link(client, server, delay=0.02, loss=0.01)
    server.stack.listen(9)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 9, now=net.now))
    net.run()
    assert bytes(got) == payload
    states = [e.new for _, _, e in client.events if hasattr(e, "new")]
    assert State.FIN_WAIT_2 in states and states[-1] is State.CLOSED
    assert_clean_close(net)


def test_dead_peer_times_out_after_r2() -> None:
    net = Network(seed=1)
    client = net.add_host("client", "192.0.2.1", app=SendClient(b"x" * 5000),
                          config=TcpConfig(r2=100.0))
    server = net.add_host("server", "192.0.2.2", app=EchoApp())
    link = net.link(client, server, delay=0.01)
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 7, now=net.now))

    def cut() -> None:
        link.loss = 1.0
        net.direction(server, client).loss = 1.0

    net.at(0.05, cut)
    net.run()
    ends = [(t, e) for t, _, e in client.events if isinstance(e, ConnectionTimedOut)]
    assert len(ends) == 1
    t, event = ends[0]
    assert event.reason == "data"
    assert 100.0 <= t <= 100.0 + 60.0 + 1.0  # gives up at the first timeout past R2


def test_syn_to_dead_host_times_out_after_three_minutes() -> None:
    net = Network(seed=1)
    client = net.add_host("client", "192.0.2.1")
    server = net.add_host("server", "192.0.2.2")
    net.link(client, server, delay=0.01, loss=1.0)
    conn = client.stack.connect("192.0.2.2", 7, now=0.0)
    net.run()
    syn_times = [r.time for r in net.trace if r.event == "segment_sent"]
    assert syn_times[:6] == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]  # RFC 6298 backoff
    end = [t for t, _, e in client.events if isinstance(e, ConnectionTimedOut)]
    assert len(end) == 1 and end[0] >= 180.0  # MUST-23
    assert conn.state is State.CLOSED
    assert ConnectionClosed not in [type(e) for _, _, e in client.events]


def test_echo_over_ipv6() -> None:
    net = Network(seed=2)
    data = random.Random(2).randbytes(50_000)
    app = SendClient(data)
    client = net.add_host("client", "2001:db8::1", app=app)
    server = net.add_host("server", "2001:db8::2", app=EchoApp())
    net.link(client, server, delay=0.01, loss=0.05)
    server.stack.listen(7)
    net.at(0.0, lambda: client.stack.connect("2001:db8::2", 7, now=net.now))
    net.run()
    assert bytes(app.received) == data
    syn = next(r for r in net.trace if r.event == "segment_sent")
    assert syn.data["options"]["mss"] == 1440  # 1500 - 40 (IPv6) - 20 (TCP)
    assert_clean_close(net)
