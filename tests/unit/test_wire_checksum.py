"""Internet checksum (RFC 1071) and pseudo-headers (RFC 9293 §3.1, RFC 8200 §8.1)."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import ipv4_addresses, ipv6_addresses

from tcpstack.wire import internet_checksum, ones_sum, pseudo_header_sum


def naive_checksum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 §1 literally: 16-bit big-endian words, end-around carry, complement."""
    if len(data) % 2:
        data += b"\x00"
    total = initial
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def naive_pseudo_header(
    src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address, protocol: int, length: int
) -> bytes:
    if isinstance(src, IPv4Address):
        return src.packed + dst.packed + struct.pack("!BBH", 0, protocol, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, protocol)


# --------------------------------------------------------------- known vectors


def test_rfc1071_numerical_example() -> None:
    # RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (one's complement).
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert internet_checksum(data) == 0xFFFF - 0xDDF2 == 0x220D


def test_ipv4_header_known_checksum() -> None:
    # A classic IPv4 header (192.168.0.1 -> 192.168.0.199, UDP) with checksum 0xb861.
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    filled = header[:10] + b"\xb8\x61" + header[12:]
    assert internet_checksum(filled) == 0


def test_empty_and_zero_data() -> None:
    assert internet_checksum(b"") == 0xFFFF
    assert internet_checksum(bytes(7)) == 0xFFFF
    assert ones_sum(b"") == 0


def test_all_ones_is_negative_zero() -> None:
    # Sum 0xFFFF ("negative zero") complements to 0, as the naive version does.
    assert internet_checksum(b"\xff\xff") == 0 == naive_checksum(b"\xff\xff")
    assert internet_checksum(b"\xff\xff" * 1000) == 0


@pytest.mark.parametrize("data", [b"\x01", b"\xab\xcd\xef", b"\x00\x01\x02", b"\xff"])
def test_odd_lengths_pad_on_the_right(data: bytes) -> None:
    assert internet_checksum(data) == naive_checksum(data)
    assert internet_checksum(data) == internet_checksum(data + b"\x00")


def test_accepts_bytearray_and_memoryview() -> None:
    data = bytes(range(256)) * 3 + b"\x07"
    expected = naive_checksum(data)
    assert internet_checksum(bytearray(data)) == expected
    assert internet_checksum(memoryview(data)) == expected
    assert internet_checksum(memoryview(b"xx" + data)[2:]) == expected


# ------------------------------------------------------------------- property


@settings(max_examples=400)
@given(st.binary(max_size=2000), st.integers(0, 2**20))
def test_equals_naive_reference(data: bytes, initial: int) -> None:
    assert internet_checksum(data, initial) == naive_checksum(data, initial)


@settings(max_examples=200)
@given(st.binary(max_size=600).filter(lambda b: len(b) % 2 == 0), st.binary(max_size=600))
def test_partial_sums_add(head: bytes, tail: bytes) -> None:
    # RFC 1071 §2(C): sums of even-length parts can be added.
    assert internet_checksum(tail, ones_sum(head)) == naive_checksum(head + tail)


@settings(max_examples=200)
@given(st.binary(min_size=2, max_size=600).filter(lambda b: len(b) % 2 == 0))
def test_buffer_with_its_checksum_sums_to_zero(data: bytes) -> None:
    checksum = internet_checksum(data)
    assert internet_checksum(data + checksum.to_bytes(2, "big")) == 0


# -------------------------------------------------------------- pseudo-header


@settings(max_examples=200)
@given(
    ipv4_addresses,
    ipv4_addresses,
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.binary(max_size=64),
)
def test_ipv4_pseudo_header(
    src: IPv4Address, dst: IPv4Address, proto: int, length: int, data: bytes
) -> None:
    pseudo = naive_pseudo_header(src, dst, proto, length)
    assert len(pseudo) == 12
    assert internet_checksum(data, pseudo_header_sum(src, dst, proto, length)) == naive_checksum(
        pseudo + data
    )


@settings(max_examples=200)
@given(
    ipv6_addresses,
    ipv6_addresses,
    st.integers(0, 255),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=64),
)
def test_ipv6_pseudo_header(
    src: IPv6Address, dst: IPv6Address, proto: int, length: int, data: bytes
) -> None:
    pseudo = naive_pseudo_header(src, dst, proto, length)
    assert len(pseudo) == 40
    assert internet_checksum(data, pseudo_header_sum(src, dst, proto, length)) == naive_checksum(
        pseudo + data
    )


def test_pseudo_header_is_plain_word_sum() -> None:
    src, dst = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.2")
    assert pseudo_header_sum(src, dst, 6, 40) == 0xC000 + 0x0201 + 0xC633 + 0x6402 + 6 + 40


@pytest.mark.parametrize(
    ("src", "dst", "proto", "length"),
    [
        ("192.0.2.1", "2001:db8::1", 6, 20),
        ("2001:db8::1", "192.0.2.1", 6, 20),
        ("192.0.2.1", "192.0.2.2", 256, 20),
        ("192.0.2.1", "192.0.2.2", -1, 20),
        ("192.0.2.1", "192.0.2.2", 6, 65536),
        ("2001:db8::1", "2001:db8::2", 6, 2**32),
        ("2001:db8::1", "2001:db8::2", 6, -1),
    ],
)
def test_pseudo_header_rejects_bad_arguments(src: str, dst: str, proto: int, length: int) -> None:
    with pytest.raises(ValueError):
        pseudo_header_sum(ip_address(src), ip_address(dst), proto, length)
