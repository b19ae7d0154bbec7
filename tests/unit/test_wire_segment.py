"""The TCP segment (RFC 9293 §3.1): known vectors, round trips, strict decoding."""

from __future__ import annotations

import dataclasses
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import address_pairs, segments

from tcpstack.errors import MalformedPacket
from tcpstack.wire import (
    Flags,
    IPAddress,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    Segment,
    Timestamps,
    UnknownOption,
    WindowScale,
    internet_checksum,
    parse_ip,
    pseudo_header_sum,
)

V4_SRC, V4_DST = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
V6_SRC, V6_DST = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")

# Real packets (IPv4 header + TCP) with the checksums their kernels computed.
# Linux 2.6 SYN, 192.168.1.140:56760 -> 192.168.1.194:23, TCP checksum 0x7110.
LINUX_26_SYN = bytes.fromhex(
    "4510003c41304000400674ddc0a8018cc0a801c2ddb80017dacf21d500000000a00216d0"
    "71100000020405b40402080a002760e50000000001030307"
)
# Linux 2.6 SYN-ACK, 140.99.93.175:80 -> 10.255.228.169:3884, TCP checksum 0xf3dc.
LINUX_26_SYN_ACK = bytes.fromhex(
    "450000340000400033066e098c635daf0affe4a900500f2cff15564ebabd6b49801216d0"
    "f3dc0000020405640101040201030309"
)
# Modern Linux SYN (window 64240), 172.31.0.1:44380 -> 172.31.0.2:443, TCP checksum 0x1591.
LINUX_SYN_64240 = bytes.fromhex(
    "4500003cdb59400040060721ac1f0001ac1f0002ad5c01bbf73d949e00000000a002faf0"
    "15910000020405b40402080a9b7708d10000000001030307"
)
# Captured on a Linux bridge with checksum offload: the TCP checksum field holds only
# the folded pseudo-header sum (0x5854), the NIC would have finished it.
OFFLOADED_SYN = bytes.fromhex(
    "4500003cc18940004006210dac110001ac110002d8201f90801a62b600000000a0027210"
    "58540000020405b40402080ad3b3c17a0000000001030307"
)


def tcp_part(packet: bytes) -> tuple[bytes, IPAddress, IPAddress]:
    header, payload = parse_ip(packet)
    return payload, header.src, header.dst


def raw_segment(
    options: bytes = b"",
    payload: bytes = b"",
    *,
    offset_words: int | None = None,
    src: IPAddress = V4_SRC,
    dst: IPAddress = V4_DST,
) -> bytes:
    """A hand-built segment with arbitrary option bytes and a valid checksum."""
    words = offset_words if offset_words is not None else (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", 1234, 80, 1, 2, words << 4, 0x10, 1000, 0, 0)
    data = bytearray(header + options + payload)
    checksum = internet_checksum(data, pseudo_header_sum(src, dst, 6, len(data)))
    data[16:18] = checksum.to_bytes(2, "big")
    return bytes(data)


# --------------------------------------------------------------- known vectors


def test_linux_26_syn() -> None:
    data, src, dst = tcp_part(LINUX_26_SYN)
    seg = Segment.decode(data, src, dst)
    assert seg == Segment(
        src_port=56760,
        dst_port=23,
        seq=3671007701,
        ack=0,
        flags=Flags.SYN,
        window=5840,
        options=(Mss(1460), SackPermitted(), Timestamps(2580709, 0), Nop(), WindowScale(7)),
    )
    assert seg.encode(src, dst) == data
    assert data[16:18] == b"\x71\x10"


def test_linux_26_syn_ack() -> None:
    data, src, dst = tcp_part(LINUX_26_SYN_ACK)
    seg = Segment.decode(data, src, dst)
    assert seg.flags == Flags.SYN | Flags.ACK
    assert (seg.seq, seg.ack, seg.window) == (4279588430, 3132975945, 5840)
    assert seg.options == (Mss(1380), Nop(), Nop(), SackPermitted(), Nop(), WindowScale(9))
    assert (seg.mss, seg.wscale, seg.sack_permitted, seg.timestamps) == (1380, 9, True, None)
    assert seg.encode(src, dst) == data


def test_linux_modern_syn() -> None:
    data, src, dst = tcp_part(LINUX_SYN_64240)
    seg = Segment.decode(data, src, dst)
    assert (seg.src_port, seg.dst_port, seg.window) == (44380, 443, 64240)
    assert seg.timestamps == Timestamps(2608269521, 0)
    assert seg.header_length == 40
    assert seg.encode(src, dst) == data
    assert seg.summary() == (
        "Flags [S], seq 4148008094, win 64240, "
        "options [mss 1460,sackOK,TS val 2608269521 ecr 0,nop,wscale 7], length 0"
    )


def test_offloaded_checksum_rejected_unless_unverified() -> None:
    data, src, dst = tcp_part(OFFLOADED_SYN)
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(data, src, dst)
    assert info.value.reason == "bad-checksum"
    seg = Segment.decode(data, src, dst, verify_checksum=False)
    assert (seg.src_port, seg.dst_port, seg.flags, seg.mss) == (55328, 8080, Flags.SYN, 1460)
    # The field held the folded pseudo-header sum: completing it gives our checksum.
    fixed = seg.encode(src, dst)
    assert fixed[16:18] != data[16:18]
    assert Segment.decode(fixed, src, dst) == seg


# ------------------------------------------------------------------ round trip


@settings(max_examples=400)
@given(segments(), address_pairs())
def test_round_trip(seg: Segment, addrs: tuple[IPAddress, IPAddress]) -> None:
    src, dst = addrs
    data = seg.encode(src, dst)
    assert len(data) == seg.header_length + len(seg.payload)
    assert internet_checksum(data, pseudo_header_sum(src, dst, 6, len(data))) == 0
    assert Segment.decode(data, src, dst) == seg
    assert Segment.decode(memoryview(data), src, dst) == seg
    assert Segment.decode(bytearray(data), src, dst) == seg


@pytest.mark.parametrize("seq", [0xFFFFFFFF, 0xFFFFFFFE, 0x80000000, 0x7FFFFFFF, 0])
@pytest.mark.parametrize(("src", "dst"), [(V4_SRC, V4_DST), (V6_SRC, V6_DST)])
def test_sequence_wrap_round_trip(seq: int, src: IPAddress, dst: IPAddress) -> None:
    seg = Segment(
        1,
        2,
        seq,
        0xFFFFFFFF - seq,
        Flags.ACK | Flags.FIN,
        65535,
        options=(Sack(((0xFFFFFFF0, 5),)),),
        payload=b"wrap",
    )
    assert Segment.decode(seg.encode(src, dst), src, dst) == seg


def test_checksum_depends_on_addresses() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5, payload=b"x")
    data = seg.encode(V4_SRC, V4_DST)
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(data, V4_DST, IPv4Address("192.0.2.3"))
    assert info.value.reason == "bad-checksum"
    assert seg.encode(V6_SRC, V6_DST)[16:18] != data[16:18]


def test_reserved_bits_ignored() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5)
    data = bytearray(seg.encode(V4_SRC, V4_DST))
    data[12] |= 0x0F  # the four reserved bits (RFC 9293 §3.1)
    data[16:18] = b"\x00\x00"
    checksum = internet_checksum(data, pseudo_header_sum(V4_SRC, V4_DST, 6, len(data)))
    data[16:18] = checksum.to_bytes(2, "big")
    assert Segment.decode(bytes(data), V4_SRC, V4_DST) == seg


def test_strided_memoryview_is_accepted() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5, payload=b"abc")
    data = seg.encode(V4_SRC, V4_DST)
    doubled = bytes(b for byte in data for b in (byte, 0))
    assert Segment.decode(memoryview(doubled)[::2], V4_SRC, V4_DST) == seg


# ------------------------------------------------------------------ malformed


def test_truncated() -> None:
    data = Segment(1, 2, 3, 4, Flags.SYN, 5).encode(V4_SRC, V4_DST)
    for n in range(20):
        with pytest.raises(MalformedPacket) as info:
            Segment.decode(data[:n], V4_SRC, V4_DST)
        assert info.value.reason == "truncated-tcp"


@pytest.mark.parametrize("words", [0, 1, 4])
def test_data_offset_too_small(words: int) -> None:
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(raw_segment(b"", b"payload!", offset_words=words), V4_SRC, V4_DST)
    assert info.value.reason == "bad-data-offset"


def test_header_longer_than_data() -> None:
    data = raw_segment(b"", bytes(19), offset_words=10)  # 39 bytes, header says 40
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(data, V4_SRC, V4_DST)
    assert info.value.reason == "bad-data-offset"
    # 40 bytes is fine: an option area of zeros (EOL) and no payload.
    seg = Segment.decode(raw_segment(b"", bytes(20), offset_words=10), V4_SRC, V4_DST)
    assert (seg.options, seg.payload) == ((), b"")


@pytest.mark.parametrize(
    "options",
    [
        b"\x02\x00\x00\x00",  # length 0
        b"\x01\x01\x01\x02",  # kind 2 without a length byte
        b"\xfe\x01\x00\x00",  # length 1
        b"\xfe\x08\x00\x00",  # overruns the option area (the payload is not options)
        b"\x02\x03\x05\x00",  # MSS length 3
        b"\x05\x0b" + bytes(10),  # SACK length 11
    ],
)
def test_bad_option_length(options: bytes) -> None:
    data = raw_segment(options, b"payload bytes")
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(data, V4_SRC, V4_DST)
    assert info.value.reason == "bad-option-length"


def test_crafted_bad_option_through_encode() -> None:
    seg = Segment(1, 2, 3, 4, Flags.SYN, 5, options=(UnknownOption(2, b"\x05"),))
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(seg.encode(V6_SRC, V6_DST), V6_SRC, V6_DST)
    assert info.value.reason == "bad-option-length"


@settings(max_examples=100)
@given(segments(max_payload=64), address_pairs(), st.data())
def test_any_bit_flip_breaks_the_checksum(
    seg: Segment, addrs: tuple[IPAddress, IPAddress], data: st.DataObject
) -> None:
    src, dst = addrs
    encoded = bytearray(seg.encode(src, dst))
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(bytes(encoded), src, dst)
    # A flip in the data offset can be caught before the checksum.
    assert info.value.reason in {"bad-checksum", "bad-data-offset"}


def test_ipv4_segment_longer_than_65535_bytes() -> None:
    data = raw_segment(b"", b"") + bytes(70000)
    with pytest.raises(MalformedPacket) as info:
        Segment.decode(data, V4_SRC, V4_DST)
    assert info.value.reason == "bad-checksum"
    assert len(Segment.decode(data, V4_SRC, V4_DST, verify_checksum=False).payload) == 70000


# --------------------------------------------------------------------- encode


@pytest.mark.parametrize(
    "change",
    [
        {"src_port": 65536},
        {"dst_port": -1},
        {"seq": 2**32},
        {"ack": -1},
        {"window": 65536},
        {"urgent": 65536},
        {"flags": 0x100},
        {"options": (Mss(70000),)},
        {"options": (Timestamps(1, 2),) * 5},
    ],
)
def test_encode_rejects_out_of_range(change: dict[str, object]) -> None:
    seg = dataclasses.replace(Segment(1, 2, 3, 4, Flags.ACK, 5), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        seg.encode(V4_SRC, V4_DST)


def test_encode_rejects_mixed_families_and_huge_ipv4() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5)
    with pytest.raises(ValueError):
        seg.encode(V4_SRC, V6_DST)
    big = dataclasses.replace(seg, payload=bytes(65536 - 20))
    with pytest.raises(ValueError):
        big.encode(V4_SRC, V4_DST)
    assert len(big.encode(V6_SRC, V6_DST)) == 65536


# ------------------------------------------------------------------ accessors


def test_flags_names_order() -> None:
    assert (Flags.SYN | Flags.ACK).names() == ["SYN", "ACK"]
    assert (Flags.ACK | Flags.FIN | Flags.PSH).names() == ["FIN", "PSH", "ACK"]
    assert Flags(0xFF).names() == ["SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]
    assert Flags(0).names() == []
    assert [int(f) for f in Flags] == [1, 2, 4, 8, 16, 32, 64, 128]


def test_flags_letters() -> None:
    assert (Flags.SYN | Flags.ACK).letters() == "S."
    assert (Flags.FIN | Flags.PSH | Flags.ACK).letters() == "FP."
    assert Flags(0xFF).letters() == "FSRP.UEW"
    assert Flags(0).letters() == "none"


def test_seg_len() -> None:
    assert Segment(1, 2, 3, 4, Flags.SYN, 5).seg_len == 1
    assert Segment(1, 2, 3, 4, Flags.SYN | Flags.FIN, 5, payload=b"ab").seg_len == 4
    assert Segment(1, 2, 3, 4, Flags.ACK | Flags.RST, 5, payload=b"abc").seg_len == 3
    assert Segment(1, 2, 3, 4, Flags.ACK, 5).seg_len == 0


def test_has() -> None:
    seg = Segment(1, 2, 3, 4, Flags.SYN | Flags.ACK, 5)
    assert seg.has(Flags.SYN)
    assert seg.has(Flags.SYN | Flags.ACK)
    assert not seg.has(Flags.FIN)
    assert not seg.has(Flags.SYN | Flags.FIN)


def test_option_accessors_default() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5)
    assert (seg.mss, seg.wscale, seg.sack_permitted, seg.timestamps, seg.sack_blocks) == (
        None,
        None,
        False,
        None,
        (),
    )
    assert seg.header_length == 20
    assert seg.options_dict() == {}


def test_option_accessors_and_dict() -> None:
    seg = Segment(
        1,
        2,
        3,
        4,
        Flags.ACK,
        5,
        options=(
            Mss(1460),
            WindowScale(7),
            SackPermitted(),
            Sack(((10, 20), (30, 40))),
            Timestamps(100, 200),
            UnknownOption(34, b"\xab\xcd"),
            Mss(9),
        ),
    )
    assert (seg.mss, seg.wscale, seg.sack_permitted) == (1460, 7, True)
    assert seg.timestamps == Timestamps(100, 200)
    assert seg.sack_blocks == ((10, 20), (30, 40))
    assert seg.options_dict() == {
        "mss": 1460,
        "wscale": 7,
        "sack_permitted": True,
        "sack": [[10, 20], [30, 40]],
        "ts": [100, 200],
        "unknown": [[34, "abcd"]],
    }


def test_summary_syn_ack_relative() -> None:
    seg = Segment(80, 40000, 5000, 1001, Flags.SYN | Flags.ACK, 65535, options=(Mss(1460),))
    assert seg.summary(relative_to=(5000, 1000)) == (
        "Flags [S.], seq 0, ack 1, win 65535, options [mss 1460], length 0"
    )


def test_summary_data_and_pure_ack() -> None:
    data = Segment(1, 2, 0xFFFFFFFF, 7, Flags.PSH | Flags.ACK, 502, payload=b"x" * 100)
    assert data.summary() == "Flags [P.], seq 4294967295:99, ack 7, win 502, length 100"
    assert data.summary(relative_to=(0xFFFFFFFE, 6)) == (
        "Flags [P.], seq 1:101, ack 1, win 502, length 100"
    )
    ack = Segment(1, 2, 3, 4, Flags.ACK, 5, options=(Nop(), Nop(), Timestamps(1, 2)))
    assert ack.summary() == "Flags [.], ack 4, win 5, options [nop,nop,TS val 1 ecr 2], length 0"


def test_summary_other_options_and_urgent() -> None:
    seg = Segment(
        1,
        2,
        3,
        4,
        Flags.ACK | Flags.URG,
        5,
        urgent=9,
        options=(SackPermitted(), WindowScale(3), Sack(((110, 120),)), UnknownOption(99, b"\x01")),
    )
    assert seg.summary(relative_to=(0, 100)) == (
        "Flags [.U], ack 4294967200, win 5, urg 9, "
        "options [sackOK,wscale 3,sack 1 {10:20},opt-99:01], length 0"
    )
    assert Segment(1, 2, 3, 4, Flags(0), 5).summary() == "Flags [none], win 5, length 0"
    assert Segment(1, 2, 3, 0, Flags.RST, 0).summary() == "Flags [R], seq 3, win 0, length 0"


def test_segment_is_frozen_and_hashable() -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5, options=(Mss(1),), payload=b"x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        seg.seq = 9  # type: ignore[misc]
    assert seg == Segment(1, 2, 3, 4, Flags.ACK, 5, options=(Mss(1),), payload=b"x")
    assert len({seg, dataclasses.replace(seg)}) == 1


def test_flag_operators_agree_with_int_arithmetic() -> None:
    """The table-driven ``&`` and ``|`` give the enum members int arithmetic names."""
    for a in range(256):
        fa = Flags(a)
        for b in (0, 0x01, 0x02, 0x10, 0x12, 0x18, 0xFF, a ^ 0x5A):
            for result, value in ((fa & b, a & b), (fa | b, a | b), (b & fa, a & b),
                                  (b | fa, a | b), (fa & Flags(b), a & b)):
                assert isinstance(result, Flags)
                assert result == value and result is Flags(value)
    assert (Flags.SYN | Flags.ACK).names() == ["SYN", "ACK"]
    assert Flags.ACK & 0x100 == 0
    assert int(Flags.ACK | 0x100) == 0x110  # beyond the byte: enum's own rule
