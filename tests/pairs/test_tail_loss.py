"""Tail losses: repaired by a probe (RFC 8985 §7) or early retransmit (RFC 5827), not the RTO."""

from __future__ import annotations

import pytest

from tcpstack.config import TcpConfig
from tcpstack.drivers.sim import Network, PacketInfo
from tcpstack.events import Connected


def run(total: int, lost_index: int, config: TcpConfig) -> Network:
    net = Network(seed=1)
    got = bytearray()
    data_seqs: list[int] = []

    def nth_data(p: PacketInfo) -> bool:
        if p.src != "client" or not p.segment.payload:
            return False
        if p.segment.seq not in data_seqs:
            data_seqs.append(p.segment.seq)
        return data_seqs.index(p.segment.seq) == lost_index

    def client_app(conn, event):  # type: ignore[no-untyped-def]
        if isinstance(event, Connected):
            conn.set_nodelay()
            conn.send(bytes(total))

    client = net.add_host("client", "192.0.2.1", app=client_app, config=config)
    server = net.add_host("server", "192.0.2.2", app=lambda c, e: got.extend(c.read()),
                          config=config)
    net.link(client, server, delay=0.01)
    net.drop_first(nth_data)
    server.stack.listen(9)
    net.at(0.0, lambda: client.stack.connect("192.0.2.2", 9, now=net.now))
    net.run(until=30.0)
    assert len(got) == total
    return net


def fired(net: Network, timer: str) -> list[float]:
    return [r.time for r in net.trace
            if r.host == "client" and r.event == "timer_fired" and r.data["timer"] == timer]


def test_lost_last_segment_is_probed_not_timed_out() -> None:
    net = run(3 * 1448, lost_index=2, config=TcpConfig())
    assert fired(net, "rto") == []
    (probe,) = fired(net, "tlp")
    # 2 x SRTT + 0.2 s delayed-ACK allowance (one segment in flight) after the
    # last ACK at 0.04 s, well before the 1 s RTO.
    assert probe == pytest.approx(0.04 + 2 * 0.02 + 0.2, abs=0.005)


def test_without_the_probe_the_rto_repairs_it() -> None:
    net = run(3 * 1448, lost_index=2, config=TcpConfig(tail_loss_probe=False))
    assert fired(net, "tlp") == []
    assert fired(net, "rto") == [pytest.approx(1.03, abs=0.05)]


def test_early_retransmit_with_three_segments_outstanding() -> None:
    # The first of three segments is lost: two duplicate ACKs follow and,
    # with nothing new to send, they suffice (RFC 5827: threshold 3 - 1).
    net = run(3 * 1448, lost_index=0, config=TcpConfig(tail_loss_probe=False))
    assert fired(net, "rto") == []
