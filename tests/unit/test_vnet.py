"""The virtio-net header codec and its checksum work (drivers/vnet.py), checked
against scapy's own checksums and an independent pseudo-header sum."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpstack.drivers import vnet
from tcpstack.drivers.vnet import (
    F_DATA_VALID,
    F_NEEDS_CSUM,
    GSO_TCPV4,
    GSO_TCPV6,
    PLAIN,
    VnetError,
    VnetHeader,
    complete_checksum,
    gso_header,
    segment,
    tcp_checksum,
)

pytest.importorskip("scapy")
inet = pytest.importorskip("scapy.layers.inet")
inet6 = pytest.importorskip("scapy.layers.inet6")
IP, TCP, IPv6 = inet.IP, inet.TCP, inet6.IPv6

SRC, DST = "192.0.2.1", "192.0.2.2"
TS_OPTIONS = [("NOP", None), ("NOP", None), ("Timestamp", (12345, 678))]


def scapy_packet(payload: bytes, *, v6: bool = False, flags: str = "PA",
                 options: list[Any] | None = None) -> bytes:
    """A TCP packet built by scapy, checksums computed by scapy."""
    ip = IPv6(src="2001:db8::1", dst="2001:db8::2") if v6 else IP(src=SRC, dst=DST, id=100)
    tcp = TCP(sport=40000, dport=9000, seq=4_000_000_000, ack=77, flags=flags, window=500,
              options=options or [])
    return bytes(ip / tcp / payload)


def fold(x: int) -> int:
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def kernel_partial(packet: bytes) -> bytes:
    """``packet`` as Linux hands it over with NEEDS_CSUM: the TCP checksum field holds
    the folded pseudo-header sum (tcp_v4_send_check), computed here word by word."""
    if packet[0] >> 4 == 4:
        off = (packet[0] & 15) * 4
        words = struct.unpack("!4H", packet[12:20])
        pseudo = sum(words) + 6 + len(packet) - off
    else:
        off = 40
        words = struct.unpack("!16H", packet[8:40])
        length = len(packet) - off
        pseudo = sum(words) + 6 + (length >> 16) + (length & 0xFFFF)
    return packet[:off + 16] + struct.pack("!H", fold(pseudo)) + packet[off + 18:]


def scapy_verifies(packet: bytes) -> bool:
    """scapy recomputes both checksums of ``packet`` and finds the stored ones."""
    if packet[0] >> 4 == 4:
        p = IP(packet)
        fresh = p.copy()
        del fresh.chksum
        del fresh[TCP].chksum
        again = IP(bytes(fresh))
        return bool(p.chksum == again.chksum and p[TCP].chksum == again[TCP].chksum)
    p6 = IPv6(packet)
    fresh6 = p6.copy()
    del fresh6[TCP].chksum
    return bool(p6[TCP].chksum == IPv6(bytes(fresh6))[TCP].chksum)


# --- the header ------------------------------------------------------------------------


@given(
    st.integers(0, 255), st.integers(0, 255), st.integers(0, 65535), st.integers(0, 65535),
    st.integers(0, 65535), st.integers(0, 65535), st.sampled_from([10, 12]),
)
def test_encode_decode_round_trip(flags: int, gso_type: int, hdr_len: int, gso_size: int,
                                  start: int, offset: int, size: int) -> None:
    header = VnetHeader(flags, gso_type, hdr_len, gso_size, start, offset)
    data = header.encode(size)
    assert len(data) == size
    assert data[10:] == bytes(size - 10)  # num_buffers, which TUN leaves zero
    assert VnetHeader.decode(data + b"packet") == header


def test_layout_is_the_kernels_little_endian_struct() -> None:
    data = VnetHeader(F_NEEDS_CSUM, GSO_TCPV4, 52, 1448, 20, 16).encode()
    assert data == bytes([1, 1, 52, 0, 0xA8, 0x05, 20, 0, 16, 0])
    assert PLAIN.encode() == bytes(10) and vnet.plain_header_bytes(12) == bytes(12)


def test_short_header_and_bad_size_are_refused() -> None:
    with pytest.raises(VnetError, match="needs 10"):
        VnetHeader.decode(bytes(9))
    with pytest.raises(ValueError, match="at least 10"):
        PLAIN.encode(8)


# --- inbound: checksum completion -----------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1448, 30001, 65000])
@pytest.mark.parametrize("v6", [False, True])
def test_needs_csum_is_completed_as_scapy_computes_it(size: int, v6: bool) -> None:
    payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
    expected = scapy_packet(payload, v6=v6, options=TS_OPTIONS)
    partial = kernel_partial(expected)
    off = 40 if v6 else 20
    assert partial != expected or size == 0
    header = VnetHeader(F_NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, off + 32, 1448, off, 16)
    done = complete_checksum(header, partial)
    assert done == expected
    assert scapy_verifies(done)


def test_data_valid_plain_packet_is_left_alone() -> None:
    packet = scapy_packet(b"x" * 100)
    assert complete_checksum(VnetHeader(F_DATA_VALID), packet) is packet
    assert complete_checksum(PLAIN, packet) is packet


def test_data_valid_gso_packet_gets_a_fresh_checksum() -> None:
    # Coalesced by the kernel: the field may be the first segment's.
    expected = scapy_packet(b"y" * 5000)
    stale = expected[:36] + b"\x12\x34" + expected[38:]
    header = VnetHeader(F_DATA_VALID, GSO_TCPV4, 40, 1460)
    assert complete_checksum(header, stale) == expected


def test_tcp_checksum_replaces_any_field() -> None:
    expected = scapy_packet(b"z" * 999, options=TS_OPTIONS)
    assert tcp_checksum(expected[:36] + b"\xff\xff" + expected[38:]) == expected


def test_checksum_outside_the_packet_is_refused() -> None:
    packet = scapy_packet(b"abc")
    with pytest.raises(VnetError, match="outside"):
        complete_checksum(VnetHeader(F_NEEDS_CSUM, 0, 0, 0, 20, len(packet)), packet)
    with pytest.raises(VnetError, match="not TCP"):
        tcp_checksum(bytes(IP(src=SRC, dst=DST, proto=17) / b"12345678"))


# --- outbound: the GSO header ---------------------------------------------------------


def test_super_segment_gets_a_tcpv4_gso_header_and_keeps_its_checksum() -> None:
    packet = scapy_packet(b"d" * (1448 * 40), options=TS_OPTIONS)
    header, out = gso_header(packet, 1448)
    assert out == packet
    assert header == VnetHeader(0, GSO_TCPV4, 20 + 32, 1448, 0, 0)
    assert header.is_gso


def test_one_segment_is_plain() -> None:
    packet = scapy_packet(b"d" * 1448, options=TS_OPTIONS)
    assert gso_header(packet, 1448) == (PLAIN, packet)


@pytest.mark.parametrize("v6", [False, True])
def test_partial_checksum_is_the_pseudo_header_sum_and_completes_back(v6: bool) -> None:
    packet = scapy_packet(b"e" * 20001, v6=v6)
    header, out = gso_header(packet, 1000, partial=True)
    off = 40 if v6 else 20
    assert header == VnetHeader(F_NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, off + 20, 1000,
                                off, 16)
    assert out == kernel_partial(packet)
    assert complete_checksum(header, out) == packet


def test_gso_header_refuses_what_is_not_tcp() -> None:
    with pytest.raises(VnetError):
        gso_header(b"\x45" + bytes(30), 1000)
    with pytest.raises(VnetError, match="gso_size"):
        gso_header(scapy_packet(b"x"), 0)


# --- software segmentation -------------------------------------------------------------


@pytest.mark.parametrize(("size", "mss"), [(10_000, 1448), (1448 * 5, 1448), (3, 1)])
def test_segment_cuts_like_the_kernel(size: int, mss: int) -> None:
    payload = bytes((i * 13) & 0xFF for i in range(size))
    packet = scapy_packet(payload, flags="FPAC", options=TS_OPTIONS)
    parts = segment(packet, mss)
    assert len(parts) == -(-size // mss)
    seen = b""
    for i, part in enumerate(parts):
        assert scapy_verifies(part)
        ip = IP(part)
        assert ip.len == len(part) and ip.id == 100 + i
        assert ip[TCP].seq == (4_000_000_000 + i * mss) & 0xFFFFFFFF
        assert ip[TCP].options == IP(packet)[TCP].options
        last = i == len(parts) - 1
        assert str(ip[TCP].flags) == ("FPA" if last else "A") + ("" if i else "C")
        seen += bytes(ip[TCP].payload)
        assert len(bytes(ip[TCP].payload)) == (size - i * mss if last else mss)
    assert seen == payload


def test_segment_leaves_a_small_packet_whole() -> None:
    packet = scapy_packet(b"q" * 100)
    assert segment(packet, 1460) == [packet]
    with pytest.raises(VnetError, match="IPv4"):
        segment(scapy_packet(b"q" * 100, v6=True), 10)


# --- the device's framing (TunDevice over a datagram socket pair, no TUN needed) --------


@pytest.fixture
def device() -> Iterator[tuple[Any, socket.socket]]:
    """A TunDevice whose fd is one end of a SOCK_SEQPACKET pair (frames keep their
    boundaries, as on a TUN fd); the other end plays the kernel."""
    from tcpstack.drivers.tun import TunDevice

    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    dev = object.__new__(TunDevice)
    dev.ifname, dev.fd, dev.vnet_hdr, dev.offload = "tun0", ours.fileno(), 10, True
    yield dev, kernel
    ours.close()
    kernel.close()


def test_device_reads_packets_with_their_checksums_completed(
    device: tuple[Any, socket.socket],
) -> None:
    dev, kernel = device
    big = scapy_packet(b"r" * 30000, options=TS_OPTIONS)
    small = scapy_packet(b"s" * 10)
    kernel.send(VnetHeader(F_NEEDS_CSUM, GSO_TCPV4, 52, 1448, 20, 16).encode()
                + kernel_partial(big))
    kernel.send(PLAIN.encode() + small)
    kernel.send(b"\x01\x00\x00")  # too short for a header: dropped, counted
    assert dev.read_packets() == [big, small]
    assert dev.bad_frames == 1


def test_device_writes_a_super_segment_as_one_gso_frame(
    device: tuple[Any, socket.socket],
) -> None:
    dev, kernel = device
    big = scapy_packet(b"w" * 20000, options=TS_OPTIONS)
    assert dev.write(big, 1448)
    frame = kernel.recv(70000)
    assert VnetHeader.decode(frame) == VnetHeader(0, GSO_TCPV4, 52, 1448, 0, 0)
    assert frame[10:] == big
    assert dev.write(scapy_packet(b"ack"))
    assert kernel.recv(70000)[:10] == PLAIN.encode()


@pytest.mark.parametrize("vnet_hdr", [10, 0])
def test_device_without_offload_cuts_super_segments(
    device: tuple[Any, socket.socket], vnet_hdr: int,
) -> None:
    dev, kernel = device
    dev.offload, dev.vnet_hdr = False, vnet_hdr
    big = scapy_packet(b"c" * 5000)
    assert dev.write(big, 1460)
    frames = [kernel.recv(70000) for _ in range(4)]
    assert [f[:vnet_hdr] for f in frames] == [PLAIN.encode()[:vnet_hdr]] * 4
    assert [f[vnet_hdr:] for f in frames] == segment(big, 1460)


# --- inbound: what the kernel checked is not checked again ----------------------------


def test_completed_and_coalesced_packets_are_marked_checked() -> None:
    expected = scapy_packet(b"q" * 3000, options=TS_OPTIONS)
    done = complete_checksum(VnetHeader(F_NEEDS_CSUM, GSO_TCPV4, 52, 1448, 20, 16),
                             kernel_partial(expected))
    assert isinstance(done, vnet.CheckedPacket) and done == expected
    coalesced = complete_checksum(VnetHeader(F_DATA_VALID, GSO_TCPV4, 40, 1460), expected)
    assert isinstance(coalesced, vnet.CheckedPacket)
    assert type(complete_checksum(PLAIN, expected)) is bytes  # verified by the stack
    # The fault injector's corruption makes new, unmarked bytes: verified again.
    import random

    from tcpstack.drivers.faults import corrupt_packet
    hit = corrupt_packet(done, 3, random.Random(1))
    assert hit is not None and type(hit[0]) is bytes


def test_stack_skips_the_sum_only_when_told() -> None:
    """A SYN with a wrong checksum: dropped as bad-checksum, unless the caller says the
    checksum was verified (then answered: the stack did not sum it again)."""
    from tcpstack.stack import Stack

    syn = bytearray(scapy_packet(b"", flags="S"))
    syn[36] ^= 0xFF  # TCP checksum field
    for verified, answers in ((False, 0), (True, 1)):
        stack = Stack(DST, isn_key=bytes(16))
        stack.listen(9000)
        stack.receive(bytes(syn), 0.0, checksum_verified=verified)
        assert len(stack.packets_to_send(0.0)) == answers
        assert stack.stats["dropped:bad-checksum"] == 1 - answers


def test_device_hands_on_kernel_made_packets_unsummed_when_told(
    device: tuple[Any, socket.socket],
) -> None:
    """complete_checksums off (no pcap, no faults): a NEEDS_CSUM packet comes as a
    CheckedPacket with the kernel's partial field, and the stack accepts it as verified."""
    from tcpstack.stack import Stack

    dev, kernel = device
    dev.complete_checksums = False
    syn = scapy_packet(b"", flags="S", options=TS_OPTIONS)
    partial = kernel_partial(syn)
    kernel.send(VnetHeader(F_NEEDS_CSUM, GSO_TCPV4, 52, 0, 20, 16).encode() + partial)
    (got,) = dev.read_packets()
    assert isinstance(got, vnet.CheckedPacket) and got == partial and partial != syn
    stack = Stack(DST, isn_key=bytes(16))
    stack.listen(9000)
    stack.receive(got, 0.0, checksum_verified=isinstance(got, vnet.CheckedPacket))
    assert len(stack.packets_to_send(0.0)) == 1  # the SYN,ACK
