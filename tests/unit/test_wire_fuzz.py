"""Hostile input: parsers raise MalformedPacket and nothing else (DESIGN.md rule 4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import address_pairs, segments

from tcpstack.errors import MalformedPacket
from tcpstack.wire import (
    MAX_OPTIONS_LENGTH,
    IPAddress,
    Segment,
    decode_packet,
    encode_packet,
    parse_ip,
    parse_options,
)

REASONS = {
    "truncated-ip",
    "bad-ip-version",
    "bad-ihl",
    "bad-ip-length",
    "bad-ip-checksum",
    "ip-fragment",
    "ipv6-extension",
    "not-tcp",
    "truncated-tcp",
    "bad-data-offset",
    "bad-option-length",
    "bad-checksum",
}


def survives(parse: Callable[[], object]) -> object | None:
    """Run a parser: it returns a value or raises MalformedPacket with a known reason."""
    try:
        return parse()
    except MalformedPacket as exc:
        assert exc.reason in REASONS, exc.reason
        return None


def check_decoded(result: object | None) -> None:
    """Anything that decodes re-encodes to an equal value (no un-encodable values)."""
    if result is None:
        return
    assert isinstance(result, tuple)
    ip, seg = result
    assert isinstance(seg, Segment)
    assert decode_packet(encode_packet(ip.src, ip.dst, seg))[1] == seg


# Packets that start like IPv4 or IPv6 get past the version check more often.
packet_prefixes = st.sampled_from([b"", b"\x45", b"\x46\x00", b"\x60", b"\x4f"])


@settings(max_examples=500)
@given(packet_prefixes, st.binary(max_size=120))
def test_random_bytes(prefix: bytes, data: bytes) -> None:
    packet = prefix + data
    check_decoded(survives(lambda: decode_packet(packet)))
    survives(lambda: parse_ip(packet))
    survives(lambda: parse_ip(memoryview(packet)))


@settings(max_examples=300)
@given(st.binary(max_size=100), address_pairs(), st.booleans())
def test_random_segments(data: bytes, addrs: tuple[IPAddress, IPAddress], verify: bool) -> None:
    src, dst = addrs
    seg = survives(lambda: Segment.decode(data, src, dst, verify_checksum=verify))
    if isinstance(seg, Segment) and seg.header_length - 20 <= MAX_OPTIONS_LENGTH:
        assert Segment.decode(seg.encode(src, dst), src, dst) == seg


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_random_options(data: bytes) -> None:
    survives(lambda: parse_options(data))


mutations = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.integers(0, 2**16), min_size=1, max_size=4)),
    st.tuples(st.just("set"), st.tuples(st.integers(0, 2**16), st.integers(0, 255))),
    st.tuples(st.just("truncate"), st.integers(0, 2**16)),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=40)),
    st.tuples(
        st.just("insert"), st.tuples(st.integers(0, 2**16), st.binary(min_size=1, max_size=8))
    ),
    st.tuples(st.just("delete"), st.tuples(st.integers(0, 2**16), st.integers(1, 8))),
)


def mutate(packet: bytes, how: tuple[str, object]) -> bytes:
    kind, arg = how
    buf = bytearray(packet)
    n = len(buf)
    if n == 0:
        return bytes(arg) if isinstance(arg, bytes) else b""
    if kind == "flip":
        assert isinstance(arg, list)
        for bit in arg:
            buf[(bit // 8) % n] ^= 1 << (bit % 8)
    elif kind == "set":
        assert isinstance(arg, tuple)
        buf[arg[0] % n] = arg[1]
    elif kind == "truncate":
        assert isinstance(arg, int)
        del buf[arg % n :]
    elif kind == "extend":
        assert isinstance(arg, bytes)
        buf += arg
    elif kind == "insert":
        assert isinstance(arg, tuple)
        buf[arg[0] % n : arg[0] % n] = arg[1]
    else:
        assert isinstance(arg, tuple)
        del buf[arg[0] % n : arg[0] % n + arg[1]]
    return bytes(buf)


@settings(max_examples=500)
@given(segments(max_payload=64), address_pairs(), st.lists(mutations, min_size=1, max_size=3))
def test_mutated_packets(
    seg: Segment, addrs: tuple[IPAddress, IPAddress], hows: list[tuple[str, object]]
) -> None:
    src, dst = addrs
    packet = encode_packet(src, dst, seg)
    tcp = seg.encode(src, dst)
    for how in hows:
        packet = mutate(packet, how)
        tcp = mutate(tcp, how)
    check_decoded(survives(lambda: decode_packet(packet)))
    survives(lambda: decode_packet(memoryview(packet)))
    survives(lambda: Segment.decode(tcp, src, dst))
    survives(lambda: Segment.decode(tcp, src, dst, verify_checksum=False))


@pytest.mark.parametrize("size", [0, 1, 19, 20, 39, 40, 60, 1500, 65535, 70000])
def test_zero_filled_buffers(size: int) -> None:
    packet = bytes(size)
    survives(lambda: decode_packet(packet))
    survives(lambda: decode_packet(b"\x45" + packet))
    survives(lambda: decode_packet(b"\x60" + packet))
    survives(lambda: decode_packet(b"\xff" * size))
