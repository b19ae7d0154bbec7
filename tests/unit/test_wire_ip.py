"""IPv4 (RFC 791) / IPv6 (RFC 8200) headers and whole packets."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import address_pairs, ipv4_addresses, ipv6_addresses, segments

from tcpstack.errors import MalformedPacket
from tcpstack.wire import (
    Flags,
    IPAddress,
    IPHeader,
    IPv4Header,
    IPv6Header,
    Mss,
    PacketEncoder,
    Segment,
    build_ip,
    decode_packet,
    decode_tcp_packet,
    encode_packet,
    internet_checksum,
    parse_ip,
)

V4_SRC, V4_DST = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
V6_SRC, V6_DST = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")

# Linux 2.6 SYN, 192.168.1.140 -> 192.168.1.194, TOS 0x10, id 0x4130, DF, TTL 64,
# IP checksum 0x74dd, TCP checksum 0x7110.
LINUX_26_SYN = bytes.fromhex(
    "4510003c41304000400674ddc0a8018cc0a801c2ddb80017dacf21d500000000a00216d0"
    "71100000020405b40402080a002760e50000000001030307"
)


def fix_ip_checksum(packet: bytearray) -> bytes:
    ihl = (packet[0] & 0x0F) * 4
    packet[10:12] = b"\x00\x00"
    packet[10:12] = internet_checksum(packet[:ihl]).to_bytes(2, "big")
    return bytes(packet)


def v4_packet(payload: bytes = b"", **change: object) -> bytearray:
    header = dataclasses.replace(IPv4Header(V4_SRC, V4_DST), **change)  # type: ignore[arg-type]
    return bytearray(build_ip(header, payload))


# --------------------------------------------------------------- known vector


def test_linux_syn_ip_header() -> None:
    header, payload = parse_ip(LINUX_26_SYN)
    assert header == IPv4Header(
        src=IPv4Address("192.168.1.140"),
        dst=IPv4Address("192.168.1.194"),
        protocol=6,
        ttl=64,
        tos=0x10,
        identification=0x4130,
        dont_fragment=True,
    )
    assert len(payload) == 40
    assert build_ip(header, payload) == LINUX_26_SYN
    ip, seg = decode_packet(LINUX_26_SYN)
    assert ip == header
    assert (seg.dst_port, seg.flags, seg.mss) == (23, Flags.SYN, 1460)
    assert encode_packet(ip.src, ip.dst, seg, ttl=64, tos=0x10, identification=0x4130) == (
        LINUX_26_SYN
    )


def test_ipv6_layout() -> None:
    header = IPv6Header(V6_SRC, V6_DST, hop_limit=3, traffic_class=0xB8, flow_label=0xABCDE)
    packet = build_ip(header, b"hello")
    assert packet[:8] == bytes.fromhex("6b8abcde00050603")
    assert packet[8:24] == V6_SRC.packed
    assert packet[24:40] == V6_DST.packed
    assert parse_ip(packet) == (header, b"hello")


def test_ipv4_options_kept() -> None:
    header = IPv4Header(V4_SRC, V4_DST, options=b"\x94\x04\x00\x00")  # router alert
    packet = build_ip(header, b"data")
    assert packet[0] == 0x46
    assert parse_ip(packet) == (header, b"data")


def test_link_padding_dropped() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5)
    for src, dst in ((V4_SRC, V4_DST), (V6_SRC, V6_DST)):
        packet = encode_packet(src, dst, seg)
        _ip, decoded = decode_packet(packet + bytes(6))  # Ethernet minimum-frame padding
        assert decoded == seg
        assert parse_ip(packet + b"\xff" * 6)[1] == parse_ip(packet)[1]


# ------------------------------------------------------------------ round trip


@settings(max_examples=300)
@given(
    segments(max_payload=600),
    address_pairs(),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
)
def test_packet_round_trip(
    seg: Segment, addrs: tuple[IPAddress, IPAddress], ttl: int, tos: int, ident: int
) -> None:
    src, dst = addrs
    packet = encode_packet(src, dst, seg, ttl=ttl, tos=tos, identification=ident)
    ip, decoded = decode_packet(packet)
    assert decoded == seg
    assert (ip.src, ip.dst) == (src, dst)
    if isinstance(ip, IPv4Header):
        assert (ip.protocol, ip.ttl, ip.tos, ip.identification) == (6, ttl, tos, ident)
        assert ip.dont_fragment
        assert len(packet) == 20 + seg.header_length + len(seg.payload)
    else:
        assert (ip.next_header, ip.hop_limit, ip.traffic_class) == (6, ttl, tos)
        assert len(packet) == 40 + seg.header_length + len(seg.payload)


ipv4_headers = st.builds(
    IPv4Header,
    ipv4_addresses,
    ipv4_addresses,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.booleans(),
    st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
)
ipv6_headers = st.builds(
    IPv6Header,
    ipv6_addresses,
    ipv6_addresses,
    st.integers(0, 255).filter(lambda n: n not in {0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254}),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 2**20 - 1),
)


@settings(max_examples=300)
@given(st.one_of(ipv4_headers, ipv6_headers), st.binary(max_size=300))
def test_header_round_trip(header: IPHeader, payload: bytes) -> None:
    assert parse_ip(build_ip(header, payload)) == (header, payload)


# ------------------------------------------------------------------ malformed


def reason(packet: bytes | bytearray) -> str:
    with pytest.raises(MalformedPacket) as info:
        decode_packet(bytes(packet))
    return info.value.reason


def test_truncated_ip() -> None:
    v4 = encode_packet(V4_SRC, V4_DST, Segment(1, 2, 3, 4, Flags.ACK, 5))
    v6 = encode_packet(V6_SRC, V6_DST, Segment(1, 2, 3, 4, Flags.ACK, 5))
    assert reason(b"") == "truncated-ip"
    for n in range(1, 20):
        assert reason(v4[:n]) == "truncated-ip"
    for n in range(1, 40):
        assert reason(v6[:n]) == "truncated-ip"


@pytest.mark.parametrize("version", [0, 1, 5, 7, 15])
def test_bad_version(version: int) -> None:
    packet = v4_packet()
    packet[0] = (version << 4) | 5
    assert reason(packet) == "bad-ip-version"


def test_bad_ihl() -> None:
    for ihl in (0, 4):
        packet = v4_packet(bytes(40))
        packet[0] = 0x40 | ihl
        assert reason(packet) == "bad-ihl"
    packet = v4_packet(bytes(10))  # 30 bytes but IHL 15 = 60 bytes
    packet[0] = 0x4F
    assert reason(packet) == "bad-ihl"


def test_bad_ip_length() -> None:
    packet = v4_packet(bytes(20))
    packet[2:4] = (19).to_bytes(2, "big")  # shorter than the header
    assert reason(fix_ip_checksum(packet)) == "bad-ip-length"
    packet[2:4] = (41).to_bytes(2, "big")  # longer than the packet
    assert reason(fix_ip_checksum(packet)) == "bad-ip-length"
    v6 = bytearray(build_ip(IPv6Header(V6_SRC, V6_DST), bytes(20)))
    v6[4:6] = (21).to_bytes(2, "big")
    assert reason(v6) == "bad-ip-length"


def test_bad_ip_checksum() -> None:
    packet = v4_packet(bytes(20))
    packet[8] ^= 0x01  # TTL
    assert reason(packet) == "bad-ip-checksum"


@pytest.mark.parametrize("frag", [0x2000, 0x0001, 0x1FFF, 0x6001, 0x3000])
def test_fragments_rejected(frag: int) -> None:
    packet = v4_packet(bytes(20))
    packet[6:8] = frag.to_bytes(2, "big")
    assert reason(fix_ip_checksum(packet)) == "ip-fragment"


def test_evil_bit_and_df_clear_accepted() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5)
    packet = bytearray(encode_packet(V4_SRC, V4_DST, seg))
    packet[6:8] = b"\x80\x00"  # reserved flag set, DF clear, offset 0
    ip, decoded = decode_packet(fix_ip_checksum(packet))
    assert isinstance(ip, IPv4Header)
    assert not ip.dont_fragment
    assert decoded == seg


@pytest.mark.parametrize("next_header", [0, 43, 44, 50, 51, 60, 135])
def test_ipv6_extension_headers_rejected(next_header: int) -> None:
    packet = build_ip(IPv6Header(V6_SRC, V6_DST, next_header=next_header), bytes(24))
    with pytest.raises(MalformedPacket) as info:
        parse_ip(packet)
    assert info.value.reason == "ipv6-extension"


def test_not_tcp() -> None:
    udp4 = build_ip(IPv4Header(V4_SRC, V4_DST, protocol=17), bytes(8))
    header, _payload = parse_ip(udp4)  # parse_ip does not judge the protocol
    assert isinstance(header, IPv4Header)
    assert header.protocol == 17
    assert reason(udp4) == "not-tcp"
    icmp6 = build_ip(IPv6Header(V6_SRC, V6_DST, next_header=58), bytes(8))
    assert parse_ip(icmp6)[0] == IPv6Header(V6_SRC, V6_DST, next_header=58)
    assert reason(icmp6) == "not-tcp"
    assert reason(build_ip(IPv6Header(V6_SRC, V6_DST, next_header=59), b"")) == "not-tcp"


def test_tcp_errors_come_through_decode_packet() -> None:
    assert reason(build_ip(IPv4Header(V4_SRC, V4_DST), bytes(10))) == "truncated-tcp"
    packet = bytearray(encode_packet(V6_SRC, V6_DST, Segment(1, 2, 3, 4, Flags.ACK, 5)))
    packet[-1] ^= 0xFF
    assert reason(packet) == "bad-checksum"


# --------------------------------------------------------------------- build


@pytest.mark.parametrize(
    "header",
    [
        IPv4Header(V4_SRC, V4_DST, ttl=256),
        IPv4Header(V4_SRC, V4_DST, tos=-1),
        IPv4Header(V4_SRC, V4_DST, protocol=300),
        IPv4Header(V4_SRC, V4_DST, identification=65536),
        IPv4Header(V4_SRC, V4_DST, options=b"\x01\x01\x01"),
        IPv4Header(V4_SRC, V4_DST, options=bytes(44)),
        IPv4Header(V6_SRC, V6_DST),  # type: ignore[arg-type]
        IPv6Header(V6_SRC, V6_DST, hop_limit=256),
        IPv6Header(V6_SRC, V6_DST, traffic_class=256),
        IPv6Header(V6_SRC, V6_DST, flow_label=2**20),
        IPv6Header(V6_SRC, V6_DST, next_header=-1),
        IPv6Header(V4_SRC, V4_DST),  # type: ignore[arg-type]
    ],
)
def test_build_rejects(header: IPHeader) -> None:
    with pytest.raises(ValueError):
        build_ip(header, b"")


def test_build_rejects_oversize() -> None:
    with pytest.raises(ValueError):
        build_ip(IPv4Header(V4_SRC, V4_DST), bytes(65536 - 20))
    assert len(build_ip(IPv4Header(V4_SRC, V4_DST), bytes(65535 - 20))) == 65535
    with pytest.raises(ValueError):
        build_ip(IPv6Header(V6_SRC, V6_DST), bytes(65536))
    with pytest.raises(TypeError):
        build_ip("not a header", b"")  # type: ignore[arg-type]


def test_encode_packet_rejects() -> None:
    seg = Segment(1, 2, 3, 4, Flags.SYN, 5, options=(Mss(1460),))
    with pytest.raises(ValueError):
        encode_packet(V4_SRC, V6_DST, seg)
    with pytest.raises(ValueError):
        encode_packet(V4_SRC, V4_DST, seg, ttl=256)
    with pytest.raises(ValueError):
        encode_packet(V4_SRC, V4_DST, dataclasses.replace(seg, payload=bytes(65535 - 40)))


# ----------------------------------------------- the stack's fast paths agree


@settings(max_examples=300)
@given(segments(max_payload=600), address_pairs(), st.integers(0, 255), st.integers(0, 255))
def test_packet_encoder_matches_build_ip(
    seg: Segment, addrs: tuple[IPAddress, IPAddress], ttl: int, tos: int
) -> None:
    """One PacketEncoder reused gives, packet after packet, what build_ip gives
    around Segment.encode (IP header and checksum computed from scratch)."""
    src, dst = addrs
    encoder = PacketEncoder(src, dst, ttl=ttl, tos=tos)
    header: IPHeader
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        header = IPv4Header(src, dst, ttl=ttl, tos=tos)
    else:
        assert isinstance(src, IPv6Address) and isinstance(dst, IPv6Address)
        header = IPv6Header(src, dst, hop_limit=ttl, traffic_class=tos)
    expected = build_ip(header, seg.encode(src, dst))
    assert encoder.encode(seg) == expected
    assert encoder.encode(seg) == expected  # nothing of the first packet stays behind


def _outcome(decode: object, packet: bytes) -> object:
    try:
        return decode(packet)  # type: ignore[operator]
    except MalformedPacket as exc:
        return exc.reason


@settings(max_examples=500)
@given(
    segments(max_payload=200),
    address_pairs(),
    st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4),
    st.integers(0, 300),
)
def test_decode_tcp_packet_agrees_with_decode_packet(
    seg: Segment, addrs: tuple[IPAddress, IPAddress],
    flips: list[tuple[int, int]], cut: int,
) -> None:
    """On valid and damaged packets alike: the same segment and addresses, or
    the same reason for rejecting it."""
    src, dst = addrs
    packet = bytearray(encode_packet(src, dst, seg))
    for at, value in flips:
        if at < len(packet):
            packet[at] = value
    data = bytes(packet[: len(packet) - cut] if cut < len(packet) else packet)
    slow = _outcome(decode_packet, data)
    fast = _outcome(decode_tcp_packet, data)
    if isinstance(slow, str):
        assert fast == slow
    else:
        ip, segment = slow  # type: ignore[misc]
        assert fast == (ip.src.packed, ip.dst.packed, segment)


def test_decode_tcp_packet_not_tcp_and_empty() -> None:
    udp = fix_ip_checksum(v4_packet(b"x" * 8, protocol=17))
    assert _outcome(decode_tcp_packet, udp) == "not-tcp"
    assert _outcome(decode_tcp_packet, b"") == "truncated-ip"
    assert _outcome(decode_tcp_packet, b"\x50" + bytes(39)) == "bad-ip-version"
