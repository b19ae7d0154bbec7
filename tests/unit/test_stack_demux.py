"""Stack-level behaviours: demultiplexing, addresses, events (RFC 9293 §3.10.7, MUST-12).

Scripted raw packets into one :class:`~tcpstack.stack.Stack`; the
connection-management rules themselves are in ``test_state_*.py``.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from tcp_script import (
    PEER_ADDR,
    US_ADDR,
    Out,
    describe,
    new_stack,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.errors import AddressInUse
from tcpstack.stack import Stack
from tcpstack.state import State


def accept_one(stack: Stack, *, sport: int, irs: int, at: float) -> Connection:
    stack.receive(packet(peer_seg("S", seq=irs, sport=sport)), at)
    syn_ack = next(s for s in stack_segments(stack, at=at) if s.dst_port == sport)
    stack.receive(packet(peer_seg("A", seq=irs + 1, ack=syn_ack.seq + 1, sport=sport)), at)
    conn = stack.accept(80)
    assert conn is not None and conn.remote.port == sport
    return conn


def test_fixed_isn_key_gives_reproducible_isns() -> None:
    a, b = new_stack(), new_stack()
    for stack in (a, b):
        stack.listen(80)
        stack.receive(packet(peer_seg("S", seq=1, sport=1234)), 1.0)
    assert a.connections[0].iss == b.connections[0].iss


def test_segments_are_demultiplexed_by_four_tuple(listen: Stack) -> None:
    one = accept_one(listen, sport=1001, irs=100, at=1.0)
    two = accept_one(listen, sport=1002, irs=900, at=1.0)
    stack_events(listen)
    listen.receive(packet(peer_seg("PA", seq=101, ack=one.iss + 1, sport=1001, data=b"one")), 2.0)
    listen.receive(packet(peer_seg("PA", seq=901, ack=two.iss + 1, sport=1002, data=b"two")), 2.0)
    assert one.read() == b"one"
    assert two.read() == b"two"
    # The same peer port from another address is yet another connection.
    other = IPv4Address("198.51.100.7")
    listen.receive(packet(peer_seg("S", seq=5, sport=1001), src=other), 2.0)
    assert listen.find(80, other, 1001).state is State.SYN_RECEIVED
    assert one.state is two.state is State.ESTABLISHED


def test_packet_for_another_address_is_dropped(listen: Stack) -> None:
    listen.receive(packet(peer_seg("S", seq=1), dst=IPv4Address("192.0.2.99")), 1.0)
    assert stack_segments(listen, at=1.0) == []
    assert listen.stats["dropped:not-our-address"] == 1


@pytest.mark.parametrize("garbage", [b"", b"\x45", b"\x00" * 40, b"\x60" + b"\xff" * 60])
def test_malformed_packets_are_counted_not_raised(listen: Stack, garbage: bytes) -> None:
    listen.receive(garbage, 1.0)
    assert stack_segments(listen, at=1.0) == []
    assert listen.stats["packets_in"] == 1
    assert sum(v for k, v in listen.stats.items() if k.startswith("dropped:")) == 1


def test_bad_checksum_is_dropped(listen: Stack) -> None:
    raw = bytearray(packet(peer_seg("S", seq=1)))
    raw[-1] ^= 0xFF  # the last byte of the TCP header: urgent pointer
    listen.receive(bytes(raw), 1.0)
    assert listen.connections == []
    assert listen.stats["dropped:bad-checksum"] == 1


def test_must_12_stack_reports_peer_closed_vs_reset(listen: Stack) -> None:
    closer = accept_one(listen, sport=1001, irs=100, at=1.0)
    resetter = accept_one(listen, sport=1002, irs=900, at=1.0)
    stack_events(listen)
    listen.receive(packet(peer_seg("FA", seq=101, ack=closer.iss + 1, sport=1001)), 2.0)
    listen.receive(packet(peer_seg("R", seq=901, sport=1002)), 2.0)
    got = [(c, e) for c, e in stack_events(listen) if not isinstance(e, ev.StateChanged)]
    assert got == [(closer, ev.PeerClosed()), (resetter, ev.ConnectionReset(refused=False))]


def test_connection_refused_end_to_end() -> None:
    """A SYN to a closed port: the server's RST makes the client report 'refused'."""
    client = Stack(US_ADDR, isn_key=b"c" * 16)
    server = Stack(PEER_ADDR, isn_key=b"s" * 16)
    conn = client.connect(PEER_ADDR, 80, now=0.0)
    for raw in client.packets_to_send(0.0):
        server.receive(raw, 0.01)
    replies = server.packets_to_send(0.01)
    assert len(replies) == 1
    client.receive(replies[0], 0.02)
    assert conn.state is State.CLOSED
    assert (conn, ev.ConnectionReset(refused=True)) in stack_events(client)
    assert client.packets_to_send(0.02) == []
    assert client.connections == []


def test_listen_twice_raises(listen: Stack) -> None:
    with pytest.raises(AddressInUse):
        listen.listen(80)


def test_connect_to_broadcast_or_multicast_is_refused(closed_stack: Stack) -> None:
    # MUST-46: refuse an OPEN towards a broadcast or multicast address.
    for dst in ("255.255.255.255", "224.0.0.1"):
        with pytest.raises(ValueError):
            closed_stack.connect(dst, 80, now=0.0)
    assert closed_stack.connections == []


def test_connect_uses_distinct_ephemeral_ports(closed_stack: Stack) -> None:
    conns = [closed_stack.connect(PEER_ADDR, 80, now=0.0) for _ in range(5)]
    assert len({c.local.port for c in conns}) == 5
    assert all(49152 <= c.local.port <= 65535 for c in conns)
    syns = stack_segments(closed_stack, at=0.0)
    assert [s.flags for s in syns] == [syns[0].flags] * 5
    assert describe(syns[:1], [Out("S", 0)], (conns[0].iss, 0)) == [Out("S", seq=0)]


def test_the_applications_diffserv_field_is_sent_and_may_change() -> None:
    """MUST-48 / SHLD-21/22 (RFC 9293 §3.9.1.9): the TOS byte the application chose
    goes to IP unchanged, also after it changes during the connection."""
    client = Stack(US_ADDR, isn_key=b"c" * 16)
    conn = client.connect(PEER_ADDR, 80, now=0.0, config=TcpConfig(tos=0x28))
    (syn,) = client.packets_to_send(0.0)
    assert syn[1] == 0x28  # IPv4 header byte 1: TOS
    conn.reconfigure(tos=0x10)
    client.handle_timer(5.0)  # the SYN is retransmitted with the new value
    assert [p[1] for p in client.packets_to_send(5.0)] == [0x10]
    with pytest.raises(ValueError):
        TcpConfig(tos=256)
