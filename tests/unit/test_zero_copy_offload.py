"""The sending side of TUN offload without needless work: checksums left to the
device (PartialChecksumEncoder, vnet.partial_header, TunDevice.write(partial=True)),
the checksum of large buffers summed in parts, and a send buffer that drops
acknowledged bytes lazily. Each is checked against an independent computation."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from tcpstack.buffers import SendBuffer
from tcpstack.drivers.vnet import (
    F_NEEDS_CSUM,
    GSO_NONE,
    GSO_TCPV4,
    GSO_TCPV6,
    PLAIN,
    VNET_HDR_LEN,
    VnetHeader,
    complete_checksum,
    partial_header,
)
from tcpstack.wire import (
    NOP,
    Flags,
    PacketEncoder,
    PartialChecksumEncoder,
    Segment,
    Timestamps,
    decode_packet,
    ones_sum,
    pseudo_header_sum,
)
from tcpstack.wire.checksum import folded_sum

V4 = (IPv4Address("192.0.2.2"), IPv4Address("192.0.2.1"))
V6 = (IPv6Address("2001:db8::2"), IPv6Address("2001:db8::1"))


def whole_sum(data: bytes) -> int:
    """RFC 1071's sum of 16-bit words, word by word, end-around carry folded."""
    if len(data) & 1:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@pytest.mark.parametrize("size", [4095, 4096, 4097, 4098, 8191, 8192, 8193, 20001, 65483])
@pytest.mark.parametrize("fill", ["random", "zero", "ones"])
def test_ones_sum_of_large_buffers_in_parts_is_the_word_sum(size: int, fill: str) -> None:
    data = {"random": random.Random(size).randbytes(size), "zero": bytes(size),
            "ones": b"\xff" * size}[fill]
    expected = whole_sum(data)
    for form in (data, bytearray(data), memoryview(data)):
        got = ones_sum(form)
        assert got % 0xFFFF == expected % 0xFFFF
        assert (got == 0) == (not any(data))  # zero only for all-zero bytes


@pytest.mark.parametrize("total", [0, 1, 0xFFFE, 0xFFFF, 0x10000, 2 * 0xFFFF, 123456789])
def test_folded_sum_is_the_end_around_carry_fold(total: int) -> None:
    x = total
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    assert folded_sum(total) == x


def data_segment(size: int, ecn: int = 0) -> Segment:
    payload = random.Random(size).randbytes(size)
    return Segment(40000, 5001, 4_000_000_000, 77, Flags.ACK | Flags.PSH, 500,
                   options=(NOP, NOP, Timestamps(1, 2)), payload=payload, ecn=ecn)


@pytest.mark.parametrize("addrs", [V4, V6], ids=["v4", "v6"])
@pytest.mark.parametrize("size", [0, 1, 1448, 30001, 65000])
def test_partial_packet_completed_by_the_device_is_the_complete_one(
    addrs: tuple[Any, Any], size: int
) -> None:
    """What the kernel does with NEEDS_CSUM (sum from csum_start, store the
    complement) turns the partial packet into the packet PacketEncoder makes."""
    seg = data_segment(size, ecn=2 if size else 0)
    complete = PacketEncoder(*addrs).encode(seg)
    partial = PartialChecksumEncoder(*addrs).encode(seg)
    assert len(partial) == len(complete)
    ip_len = 20 if addrs is V4 else 40
    # Only the TCP checksum differs: the IP header (and its checksum) is complete.
    assert partial[:ip_len + 16] == complete[:ip_len + 16]
    assert partial[ip_len + 18:] == complete[ip_len + 18:]
    tcp_len = len(complete) - ip_len
    field = int.from_bytes(partial[ip_len + 16:ip_len + 18], "big")
    assert field == folded_sum(pseudo_header_sum(*addrs, 6, tcp_len))
    header = partial_header(partial)
    assert (header.flags, header.csum_start, header.csum_offset) == (F_NEEDS_CSUM, ip_len, 16)
    assert complete_checksum(header, partial) == complete
    decode_packet(complete)  # verifies both checksums


@pytest.mark.parametrize("addrs", [V4, V6], ids=["v4", "v6"])
def test_partial_header_makes_a_gso_packet_only_beyond_one_segment(addrs: tuple[Any, Any]) -> None:
    encoder = PartialChecksumEncoder(*addrs)
    ip_len = 20 if addrs is V4 else 40
    big = encoder.encode(data_segment(3 * 1448 + 1))
    gso = GSO_TCPV4 if addrs is V4 else GSO_TCPV6
    assert partial_header(big, 1448) == VnetHeader(F_NEEDS_CSUM, gso, ip_len + 32, 1448,
                                                   ip_len, 16)
    one = encoder.encode(data_segment(1448))
    for gso_size in (0, 1448):
        assert partial_header(one, gso_size) == VnetHeader(F_NEEDS_CSUM, GSO_NONE, 0, 0,
                                                           ip_len, 16)


@pytest.fixture
def device() -> Iterator[tuple[Any, socket.socket]]:
    """A TunDevice whose fd is one end of a SOCK_SEQPACKET pair (frames keep their
    boundaries, as on a TUN fd); the other end plays the kernel. No TUN needed."""
    from tcpstack.drivers.tun import TunDevice

    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    dev = object.__new__(TunDevice)
    dev.ifname, dev.fd, dev.vnet_hdr, dev.offload = "tun0", ours.fileno(), VNET_HDR_LEN, True
    yield dev, kernel
    ours.close()
    kernel.close()


def test_device_leaves_a_partial_checksum_to_the_kernel(device: tuple[Any, socket.socket]) -> None:
    """With offload: one frame, NEEDS_CSUM (and GSO for a super-segment), the packet
    written as it is (its field still the pseudo-header sum)."""
    dev, kernel = device
    seg = data_segment(20 * 1448)
    partial = PartialChecksumEncoder(*V4).encode(seg)
    assert dev.write(partial, 1448, partial=True)
    frame = kernel.recv(70000)
    header = VnetHeader.decode(frame)
    assert header == VnetHeader(F_NEEDS_CSUM, GSO_TCPV4, 52, 1448, 20, 16)
    assert frame[VNET_HDR_LEN:] == partial
    assert complete_checksum(header, frame[VNET_HDR_LEN:]) == PacketEncoder(*V4).encode(seg)


def test_device_without_offload_completes_a_partial_checksum_itself(
    device: tuple[Any, socket.socket],
) -> None:
    """Without offload the kernel completes nothing: the device writes complete
    checksums, cutting a super-segment into MSS-sized packets as before."""
    dev, kernel = device
    dev.offload = False
    seg = data_segment(3 * 1448)
    encoded = PartialChecksumEncoder(*V4).encode(seg)
    assert dev.write(encoded, 1448, partial=True)
    frames = [kernel.recv(70000) for _ in range(3)]
    payload = b""
    for frame in frames:
        assert frame[:VNET_HDR_LEN] == PLAIN.encode()
        _ip, got = decode_packet(frame[VNET_HDR_LEN:])  # raises on a bad checksum
        payload += got.payload
    assert payload == seg.payload
    one = PartialChecksumEncoder(*V4).encode(data_segment(100))
    assert dev.write(one, partial=True)
    assert kernel.recv(70000)[VNET_HDR_LEN:] == PacketEncoder(*V4).encode(data_segment(100))


def test_send_buffer_keeps_its_bytes_through_lazy_drops() -> None:
    """Random appends, acknowledgments and takes against a plain bytes model: the
    buffer holds exactly the unacknowledged bytes, whatever was dropped lazily."""
    rng = random.Random(7)
    buf = SendBuffer(head_seq=0xFFFF_F000)  # wraps modulo 2**32 on the way
    model = b""
    written = 0
    for _ in range(2000):
        action = rng.random()
        if action < 0.45:
            data = rng.randbytes(rng.choice([1, 100, 1448, 20000, 70000]))
            n = buf.append(data, capacity=300_000)
            assert n == min(len(data), 300_000 - len(model))
            model += data[:n]
            written += n
        elif action < 0.8 and model:
            n = rng.randint(1, len(model))
            assert buf.acknowledge(buf.seq(buf.head_off + n)) == n
            model = model[n:]
        elif model:
            index = rng.randrange(len(model))
            n = rng.randint(1, 70000)
            assert buf.take(index, n) == model[index:index + n]
        assert len(buf) == len(model)
        assert buf.end_off == written
    assert buf.acknowledge(buf.end_seq) == len(model)
    assert len(buf) == 0 and buf.take(0, 10) == b""
