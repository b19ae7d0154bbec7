"""RFC 5681 §4.1: after an idle period longer than the RTO, at most the initial window is sent."""

from __future__ import annotations

from tcpstack.drivers.sim import Network
from tcpstack.events import Connected


def test_restart_window_after_idle() -> None:
    net = Network(seed=1)
    conns = []
    client = net.add_host("client", "192.0.2.1",
                          app=lambda c, e: conns.append(c) if isinstance(e, Connected) else None)
    server = net.add_host("server", "192.0.2.2", app=lambda c, e: c.read())
    net.link(client, server, delay=0.01)
    server.stack.listen(9)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 9, now=net.now))
    net.at(0.1, lambda: conns[0].send(bytes(200_000)))  # grows cwnd well past IW
    net.run(until=5.0)
    grown = conns[0].cwnd
    assert grown > 10 * 1460
    net.at(20.0, lambda: conns[0].send(bytes(100_000)))  # after 15 s of silence
    net.run(until=20.001)
    burst = [r for r in net.trace if r.host == "client" and r.event == "segment_sent"
             and r.time == 20.0 and r.data["len"]]
    assert len(burst) == 3  # IW for SMSS 1460 (RFC 5681 §3.1): 3 segments, not cwnd's worth
