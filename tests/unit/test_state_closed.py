"""CLOSED (no TCB): RFC 9293 §3.10.7.1, driven through a Stack.

Conformance lines (reference/conformance-scenarios.md, "CLOSED"):

* Any segment but RST -> RST; with ACK ``<SEQ=SEG.ACK><CTL=RST>``, else
  ``<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>``.
* An RST is never answered.
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from tcp_script import (
    PEER,
    PEER_ADDR,
    US_ADDR,
    Out,
    describe,
    make_established,
    packet,
    peer_seg,
    stack_segments,
    stack_sent,
)

from tcpstack.connection import Connection
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.wire import Mss


def rst_of(stack: Stack, at: float) -> list[Out]:
    got = stack_segments(stack, at=at)
    expected = [Out("R", 0)] * len(got)
    return describe(got, expected, (0, 0))


@pytest.mark.parametrize(
    ("letters", "seq", "data", "seg_len"),
    [
        ("S", 5000, b"", 1),  # connection attempt to a closed port: "refused"
        ("", 5000, b"", 0),  # no flags at all
        ("F", 5000, b"", 1),
        ("P", 5000, b"hello", 5),
        ("SF", 5000, b"xyz", 5),  # SEG.LEN counts SYN, FIN and the text
        ("S", 2**32 - 1, b"", 1),  # SEG.SEQ + SEG.LEN wraps to 0
        ("P", 2**32 - 2, b"abcd", 4),
    ],
)
def test_segment_without_ack_draws_rst_ack(
    closed_stack: Stack, letters: str, seq: int, data: bytes, seg_len: int
) -> None:
    # §3.10.7.1: "If the ACK bit is off, sequence number zero is used,
    # <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
    closed_stack.receive(packet(peer_seg(letters, seq=seq, ack=123, data=data)), 1.0)
    [(ip, rst)] = stack_sent(closed_stack, at=1.0)
    assert (ip.src, ip.dst) == (US_ADDR, PEER_ADDR)
    assert (rst.src_port, rst.dst_port) == (80, PEER.port)
    assert describe([rst], [Out("RA", 0, 0)], (0, 0)) == [
        Out("RA", seq=0, ack=(seq + seg_len) % 2**32)
    ]
    assert rst.payload == b""
    assert closed_stack.connections == []
    assert closed_stack.stats["resets_sent"] == 1


@pytest.mark.parametrize("letters", ["A", "PA", "FA", "SA", "SFA", "UA"])
def test_segment_with_ack_draws_rst_seq_seg_ack(closed_stack: Stack, letters: str) -> None:
    # §3.10.7.1: "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>"
    seg = peer_seg(letters, seq=5000, ack=0xFFFF_FFF0, data=b"data" if "P" in letters else b"")
    closed_stack.receive(packet(seg), 1.0)
    assert rst_of(closed_stack, 1.0) == [Out("R", seq=0xFFFF_FFF0)]


@pytest.mark.parametrize("letters", ["R", "RA", "RS", "RF", "RPA", "RSAF"])
def test_rst_is_never_answered(closed_stack: Stack, letters: str) -> None:
    # §3.10.7.1: "An incoming segment containing a RST is discarded."
    seg = peer_seg(letters, seq=5000, ack=77, data=b"x" if "P" in letters else b"")
    closed_stack.receive(packet(seg), 1.0)
    assert stack_segments(closed_stack, at=1.0) == []
    assert closed_stack.stats["resets_sent"] == 0
    assert closed_stack.stats["dropped:rst-to-closed-port"] == 1


def test_closed_answer_over_ipv6() -> None:
    stack = Stack(IPv6Address("2001:db8::1"), isn_key=b"k" * 16)
    peer = IPv6Address("2001:db8::2")
    seg = peer_seg("S", seq=41, options=(Mss(1440),))
    stack.receive(packet(seg, src=peer, dst=IPv6Address("2001:db8::1")), 0.5)
    [(ip, rst)] = stack_sent(stack, at=0.5)
    assert ip.dst == peer
    assert describe([rst], [Out("RA", 0, 0)], (0, 0)) == [Out("RA", seq=0, ack=42)]


def test_port_without_listener_while_other_port_listens(closed_stack: Stack) -> None:
    closed_stack.listen(443)
    closed_stack.receive(packet(peer_seg("S", seq=10, dport=80)), 1.0)
    assert rst_of(closed_stack, 1.0) == [Out("RA", seq=0, ack=11)]


def test_segment_for_a_deleted_tcb_draws_rst() -> None:
    """After a connection reaches CLOSED its TCB is deleted: the 4-tuple is CLOSED again."""
    stack = Stack(US_ADDR, isn_key=b"k" * 16)
    conn = stack.connect(PEER_ADDR, 80, now=0.0, local_port=40000)
    [(_, syn)] = stack_sent(stack, at=0.0)
    conn.abort(now=0.5)  # SYN-SENT: no RST is sent, TCB deleted (§3.10.5)
    assert stack_segments(stack, at=0.5) == []
    assert stack.connections == []
    late_syn_ack = peer_seg("SA", seq=900, ack=syn.seq + 1, sport=80, dport=40000)
    stack.receive(packet(late_syn_ack), 0.6)
    assert rst_of(stack, 0.6) == [Out("R", seq=syn.seq + 1)]


def test_closed_connection_object_sends_nothing() -> None:
    """A bare Connection in CLOSED drops what it gets: answering is the Stack's job."""
    s = make_established()
    s.conn.abort(now=1.0)
    s.expect([Out("R", seq=1)], at=1.0)
    assert s.state is State.CLOSED
    for letters in ("A", "S", "R", "FA", ""):
        s.rx(letters, seq=1, ack=1, at=2.0)
    s.expect_nothing(at=2.0)
    assert s.conn.next_timer() is None


def test_unopened_connection_is_closed() -> None:
    conn = Connection(PEER, PEER, iss=0)
    assert conn.state is State.CLOSED
    assert conn.packets_to_send(0.0) == []
