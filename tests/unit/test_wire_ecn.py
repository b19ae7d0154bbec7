"""The IP ECN field (RFC 3168 §5): reading it and marking CE with the IPv4 checksum kept valid."""

from __future__ import annotations

import ipaddress

import pytest

from tcpstack.wire import Flags, Segment, encode_packet, parse_ip
from tcpstack.wire.checksum import internet_checksum
from tcpstack.wire.ecn import CE, ECT_0, ECT_1, NOT_ECT, ecn_codepoint, mark_ce

V4 = (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2"))
V6 = (ipaddress.ip_address("2001:db8::1"), ipaddress.ip_address("2001:db8::2"))


def packet(addrs: tuple[object, object], tos: int) -> bytes:
    src, dst = addrs
    seg = Segment(src_port=1, dst_port=2, seq=7, ack=0, flags=Flags.ACK, window=100, payload=b"x")
    return encode_packet(src, dst, seg, tos=tos)  # type: ignore[arg-type]


@pytest.mark.parametrize("addrs", [V4, V6])
@pytest.mark.parametrize("codepoint", [NOT_ECT, ECT_1, ECT_0, CE])
def test_codepoint_read_from_tos_or_traffic_class(addrs: tuple[object, object],
                                                  codepoint: int) -> None:
    assert ecn_codepoint(packet(addrs, 0xB8 | codepoint)) == codepoint  # DSCP EF kept apart


@pytest.mark.parametrize("addrs", [V4, V6])
def test_mark_ce_sets_only_the_ecn_bits(addrs: tuple[object, object]) -> None:
    before = packet(addrs, 0xB8 | ECT_0)
    after = mark_ce(before)
    assert ecn_codepoint(after) == CE
    header, _ = parse_ip(after)
    tos = header.tos if hasattr(header, "tos") else header.traffic_class  # type: ignore[union-attr]
    assert tos == 0xB8 | CE
    assert len(after) == len(before)
    assert sum(a != b for a, b in zip(after, before, strict=True)) <= 3  # TOS (+ checksum)


@pytest.mark.parametrize("tos", range(0, 256, 1))
def test_mark_ce_keeps_the_ipv4_header_checksum_valid(tos: int) -> None:
    marked = mark_ce(packet(V4, tos))
    assert internet_checksum(marked[:20]) == 0


@pytest.mark.parametrize("codepoint", [NOT_ECT, CE])
def test_not_ect_and_ce_packets_are_left_alone(codepoint: int) -> None:
    p = packet(V4, codepoint)
    assert mark_ce(p) is p


def test_short_or_foreign_packets() -> None:
    assert ecn_codepoint(b"") == NOT_ECT
    assert ecn_codepoint(b"\x50\xff") == NOT_ECT
    assert mark_ce(b"\x45\x02") == b"\x45\x02"
