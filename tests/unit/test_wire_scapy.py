"""Cross-check the wire format against scapy, in both directions."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import KNOWN_KINDS, address_pairs, segments

from tcpstack.wire import (
    IPAddress,
    IPv4Header,
    IPv6Header,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    Segment,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    decode_packet,
    encode_packet,
)

pytest.importorskip("scapy")
inet = pytest.importorskip("scapy.layers.inet")
inet6 = pytest.importorskip("scapy.layers.inet6")
IP, TCP, IPv6 = inet.IP, inet.TCP, inet6.IPv6

# Kinds scapy decodes with its own formats (MD5, TFO, ...): keep unknown options
# to kinds scapy also treats as opaque bytes, so the two views compare directly.
SCAPY_KINDS = frozenset(inet.TCPOptions[0])


def scapy_friendly(seg: Segment) -> bool:
    return all(not isinstance(o, UnknownOption) or o.kind not in SCAPY_KINDS for o in seg.options)


scapy_segments = segments(max_payload=300).filter(scapy_friendly)


def to_scapy(option: TcpOption) -> tuple[Any, Any]:
    if isinstance(option, Nop):
        return ("NOP", None)
    if isinstance(option, Mss):
        return ("MSS", option.value)
    if isinstance(option, WindowScale):
        return ("WScale", option.shift)
    if isinstance(option, SackPermitted):
        return ("SAckOK", b"")
    if isinstance(option, Sack):
        return ("SAck", tuple(edge for block in option.blocks for edge in block))
    if isinstance(option, Timestamps):
        return ("Timestamp", (option.tsval, option.tsecr))
    assert option.kind not in KNOWN_KINDS
    return (option.kind, option.data)


def scapy_options(pkt: Any) -> list[tuple[Any, Any]]:
    options = list(pkt[TCP].options)
    while options and options[-1][0] == "EOL":  # our padding, as scapy shows it
        options.pop()
    return options


def scapy_parse(raw: bytes, src: IPAddress) -> Any:
    return IP(raw) if isinstance(src, IPv4Address) else IPv6(raw)


@settings(max_examples=150, deadline=None)
@given(scapy_segments, address_pairs(), st.integers(0, 255), st.integers(0, 255))
def test_scapy_reads_our_packets(
    seg: Segment, addrs: tuple[IPAddress, IPAddress], ttl: int, tos: int
) -> None:
    src, dst = addrs
    raw = encode_packet(src, dst, seg, ttl=ttl, tos=tos, identification=0x1234)
    pkt = scapy_parse(raw, src)
    tcp = pkt[TCP]
    assert (ip_address(pkt.src), ip_address(pkt.dst)) == (src, dst)
    if isinstance(src, IPv4Address):
        assert (pkt.version, pkt.ihl, pkt.len, pkt.proto) == (4, 5, len(raw), 6)
        assert (pkt.ttl, pkt.tos, pkt.id, pkt.frag, str(pkt.flags)) == (ttl, tos, 0x1234, 0, "DF")
    else:
        assert (pkt.version, pkt.plen, pkt.nh, pkt.hlim, pkt.tc) == (6, len(raw) - 40, 6, ttl, tos)
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack) == (
        seg.src_port,
        seg.dst_port,
        seg.seq,
        seg.ack,
    )
    assert (int(tcp.flags), tcp.window, tcp.urgptr, tcp.reserved) == (
        int(seg.flags),
        seg.window,
        seg.urgent,
        0,
    )
    assert tcp.dataofs * 4 == seg.header_length
    assert scapy_options(pkt) == [to_scapy(o) for o in seg.options]
    assert bytes(tcp.payload) == seg.payload

    # Checksums: scapy recomputes them when the fields are deleted.
    fresh = scapy_parse(raw, src)
    del fresh[TCP].chksum
    if isinstance(src, IPv4Address):
        del fresh.chksum
    rebuilt = scapy_parse(bytes(fresh), src)
    assert rebuilt[TCP].chksum == tcp.chksum
    if isinstance(src, IPv4Address):
        assert rebuilt.chksum == pkt.chksum
    assert bytes(rebuilt) == raw


@settings(max_examples=150, deadline=None)
@given(scapy_segments, address_pairs(), st.integers(0, 255), st.integers(0, 255))
def test_we_read_scapy_packets(
    seg: Segment, addrs: tuple[IPAddress, IPAddress], ttl: int, tos: int
) -> None:
    src, dst = addrs
    tcp = TCP(
        sport=seg.src_port,
        dport=seg.dst_port,
        seq=seg.seq,
        ack=seg.ack,
        flags=int(seg.flags),
        window=seg.window,
        urgptr=seg.urgent,
        options=[to_scapy(o) for o in seg.options],
    )
    expected_ip: IPv4Header | IPv6Header
    if isinstance(src, IPv4Address):
        layer = IP(src=str(src), dst=str(dst), ttl=ttl, tos=tos, id=7, flags="DF")
        expected_ip = IPv4Header(src, dst, ttl=ttl, tos=tos, identification=7)  # type: ignore[arg-type]
    else:
        layer = IPv6(src=str(src), dst=str(dst), hlim=ttl, tc=tos)
        expected_ip = IPv6Header(src, dst, hop_limit=ttl, traffic_class=tos)  # type: ignore[arg-type]
    raw = bytes(layer / tcp / seg.payload)
    assert decode_packet(raw) == (expected_ip, seg)
    # Byte for byte what we would have sent.
    assert raw == encode_packet(src, dst, seg, ttl=ttl, tos=tos, identification=7)


@pytest.mark.parametrize(
    "hexdump",
    [
        # Linux 2.6 SYN and SYN-ACK, as captured.
        "4510003c41304000400674ddc0a8018cc0a801c2ddb80017dacf21d500000000a00216d0"
        "71100000020405b40402080a002760e50000000001030307",
        "450000340000400033066e098c635daf0affe4a900500f2cff15564ebabd6b49801216d0"
        "f3dc0000020405640101040201030309",
    ],
)
def test_real_packets_agree(hexdump: str) -> None:
    raw = bytes.fromhex(hexdump)
    ip, seg = decode_packet(raw)
    pkt = IP(raw)
    assert (pkt[TCP].seq, pkt[TCP].ack, int(pkt[TCP].flags)) == (seg.seq, seg.ack, int(seg.flags))
    assert scapy_options(pkt) == [to_scapy(o) for o in seg.options]
    fresh = IP(raw)
    del fresh.chksum
    del fresh[TCP].chksum
    assert (
        bytes(fresh)
        == raw
        == encode_packet(ip.src, ip.dst, seg, ttl=pkt.ttl, tos=pkt.tos, identification=pkt.id)
    )
