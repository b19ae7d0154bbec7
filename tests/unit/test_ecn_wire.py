"""The ECN codepoint between the IP header and the connection (RFC 3168 §5-§6.1).

The encoder writes a segment's codepoint into the TOS byte / traffic class
(the IPv4 checksum stays valid), the decoders read it back into
``Segment.ecn``, the trace names it, and a whole :class:`~tcpstack.stack.Stack`
carries it both ways: an ECN-setup SYN in, ECE out after a CE mark, ECT(0) on
its data. SYN cookies keep no ECN.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from tcp_script import IRS, PEER_ADDR, PEER_MSS, US_ADDR, packet, peer_seg

from tcpstack.config import TcpConfig
from tcpstack.stack import Stack
from tcpstack.trace import segment_record
from tcpstack.wire import (
    Flags,
    Mss,
    PacketEncoder,
    Segment,
    decode_packet,
    decode_tcp_packet,
    encode_packet,
)
from tcpstack.wire.checksum import internet_checksum
from tcpstack.wire.ecn import CE, ECT_0, ECT_1, NOT_ECT, ecn_codepoint, mark_ce

V4 = (IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"))
V6 = (IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2"))
SEG_FIELDS = (1, 2, 3, 4, Flags.ACK, 100, 0, (), b"data")
SEG = Segment(*SEG_FIELDS)


@pytest.mark.parametrize("addrs", [V4, V6])
@pytest.mark.parametrize("tos", [0x00, 0xB8, 0xBB, 0x01])
@pytest.mark.parametrize("codepoint", [ECT_1, ECT_0, CE])
def test_the_encoder_writes_the_segments_codepoint(
        addrs: tuple[IPv4Address, IPv4Address], tos: int, codepoint: int) -> None:
    raw = PacketEncoder(*addrs, tos=tos).encode(Segment(*SEG_FIELDS, ecn=codepoint))
    assert ecn_codepoint(raw) == codepoint
    ip, seg = decode_packet(raw)  # the IPv4 header checksum verifies
    dscp = ip.tos if hasattr(ip, "tos") else ip.traffic_class  # type: ignore[union-attr]
    assert dscp == (tos & ~3) | codepoint  # the DSCP bits are kept
    assert seg.ecn == codepoint
    assert decode_tcp_packet(raw)[2].ecn == codepoint
    if addrs is V4:
        assert internet_checksum(raw[:20]) == 0


@pytest.mark.parametrize("addrs", [V4, V6])
def test_not_ect_keeps_the_configured_tos(addrs: tuple[IPv4Address, IPv4Address]) -> None:
    plain = PacketEncoder(*addrs, tos=0xB9).encode(SEG)
    assert ecn_codepoint(plain) == ECT_1  # what the encoder was given, untouched
    assert decode_tcp_packet(plain)[2].ecn == ECT_1


def test_a_codepoint_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"ECN codepoint 4 out of range 0\.\.3"):
        PacketEncoder(*V4).encode(Segment(*SEG_FIELDS, ecn=4))


def test_segments_that_differ_only_in_ecn_are_equal() -> None:
    assert Segment(*SEG_FIELDS, ecn=CE) == SEG and SEG.ecn == NOT_ECT


def test_the_trace_names_the_codepoint() -> None:
    assert "ecn" not in segment_record(SEG)
    names = [segment_record(Segment(*SEG_FIELDS, ecn=c))["ecn"] for c in (ECT_1, ECT_0, CE)]
    assert names == ["ECT(1)", "ECT(0)", "CE"]


# ---------------------------------------------------------------- a whole stack


def sent(stack: Stack, at: float) -> list[tuple[int, Segment]]:
    """``(IP codepoint, segment)`` of everything ``stack`` transmits at ``at``."""
    out = []
    for raw in stack.packets_to_send(at):
        _, seg = decode_packet(raw)
        out.append((ecn_codepoint(raw), seg))
    return out


def test_a_stack_carries_the_codepoint_both_ways() -> None:
    stack = Stack(US_ADDR, config=TcpConfig(ecn="passive"))
    stack.listen(80)
    stack.receive(packet(peer_seg("SEC", seq=IRS, options=(Mss(PEER_MSS),))), 0.0)
    [(codepoint, synack)] = sent(stack, 0.0)
    assert synack.flags == Flags.SYN | Flags.ACK | Flags.ECE and codepoint == NOT_ECT
    iss = synack.seq
    stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=iss + 1)), 0.1)
    assert sent(stack, 0.1) == []
    data = peer_seg("PA", seq=IRS + 1, ack=iss + 1, data=b"x" * 100)
    stack.receive(mark_ce(encode_packet(PEER_ADDR, US_ADDR, data, tos=ECT_0)), 0.2)
    [(codepoint, ack)] = sent(stack, 0.2)  # at once, with ECE, Not-ECT
    assert ack.flags == Flags.ACK | Flags.ECE and codepoint == NOT_ECT
    assert ack.ack == IRS + 101
    [conn] = stack.connections
    conn.send(b"y" * 10, now=0.3)
    [(codepoint, reply)] = sent(stack, 0.3)
    assert codepoint == ECT_0 and reply.payload == b"y" * 10
    assert stack.stats["ecn_ce_received"] == 1 and stack.stats["ecn_negotiated"] == 1


def test_syn_cookies_keep_no_ecn() -> None:
    stack = Stack(US_ADDR, config=TcpConfig(ecn="passive", syncookies="always"))
    stack.listen(80)
    stack.receive(packet(peer_seg("SEC", seq=IRS, options=(Mss(PEER_MSS),))), 0.0)
    [(_, synack)] = sent(stack, 0.0)
    assert synack.flags == Flags.SYN | Flags.ACK  # no ECE: the cookie cannot recall it
    stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=synack.seq + 1)), 0.1)
    [conn] = stack.connections
    assert not conn.negotiated.ecn
    assert stack.stats["ecn_negotiated"] == 0

