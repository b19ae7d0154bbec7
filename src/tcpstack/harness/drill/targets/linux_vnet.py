"""The ``virtio_net_hdr`` of a TUN device opened with ``IFF_VNET_HDR`` (as packetdrill does).

packetdrill creates its Linux TUN device with ``IFF_TUN | IFF_NO_PI |
IFF_VNET_HDR`` and turns on ``TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 |
TUN_F_TSO_ECN`` (``TUNSETOFFLOAD``), so the kernel hands it one large TCP
segment per TSO burst (``> P. 1:5841(5840)``) with a partial checksum, and it
injects segments larger than ``--mss`` as GSO packets of that size. Every
read and write then starts with this 10-byte header (``linux/virtio_net.h``,
host byte order for a legacy, non-``TUNSETVNETLE`` device)::

    u8 flags; u8 gso_type; u16 hdr_len; u16 gso_size; u16 csum_start; u16 csum_offset

:func:`split_outbound` strips it from a packet the kernel sent and completes a
partial checksum (``VIRTIO_NET_HDR_F_NEEDS_CSUM``: the checksum field holds
the pseudo-header sum; the one's complement sum from ``csum_start`` to the end
is stored at ``csum_start + csum_offset``), so the runner sees a packet as it
would be on a wire, only larger than the MTU. :func:`inbound_header` builds
the header of an injected packet.
"""

from __future__ import annotations

import struct

__all__ = [
    "GSO_NONE",
    "GSO_TCPV4",
    "GSO_TCPV6",
    "NEEDS_CSUM",
    "TUN_F_CSUM",
    "TUN_F_TSO4",
    "TUN_F_TSO6",
    "TUN_F_TSO_ECN",
    "VNET_HDR",
    "inbound_header",
    "split_outbound",
    "with_tcp_checksum",
]

VNET_HDR = struct.Struct("=BBHHHH")
"""``struct virtio_net_hdr`` (10 bytes)."""

NEEDS_CSUM = 1
"""``VIRTIO_NET_HDR_F_NEEDS_CSUM``."""
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_TCPV6 = 4
"""``VIRTIO_NET_HDR_GSO_*`` types."""

TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
"""``TUNSETOFFLOAD`` flags (``linux/if_tun.h``)."""


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return _fold(sum(struct.unpack(f"!{len(data) // 2}H", data)))


def split_outbound(frame: bytes) -> tuple[bytes, int]:
    """The IP packet of a frame read from the device, checksummed, and its GSO size.

    Returns ``(packet, gso_size)``: ``gso_size`` is the MSS the kernel asked the
    device to cut the segment into (0: not a GSO packet). A frame shorter than
    the header, or whose checksum position lies outside the packet, is
    returned without the header and unchanged.
    """
    if len(frame) < VNET_HDR.size:
        return frame, 0
    flags, gso_type, _hdr_len, gso_size, csum_start, csum_offset = VNET_HDR.unpack_from(frame)
    packet = frame[VNET_HDR.size:]
    where = csum_start + csum_offset
    if flags & NEEDS_CSUM and where + 2 <= len(packet):
        fixed = bytearray(packet)
        value = 0xFFFF & ~_ones_sum(bytes(packet[csum_start:]))
        struct.pack_into("!H", fixed, where, value)
        packet = bytes(fixed)
    return packet, (gso_size if gso_type & 0x7F != GSO_NONE else 0)


def inbound_header(packet: bytes, mss: int | None) -> bytes:
    """The header to put before an injected IP ``packet`` (full checksum already in it).

    With ``mss`` (packetdrill's ``--mss``) and a TCP packet whose payload is
    larger, the packet is marked GSO (``VIRTIO_NET_HDR_GSO_TCPV4``/``TCPV6``,
    ``gso_size`` = ``mss``), so the kernel receives it as several segments of
    ``mss`` bytes, as with packetdrill. Otherwise the header is all zeros.
    """
    if not mss or len(packet) < 20:
        return bytes(VNET_HDR.size)
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        proto, ip_len, gso = packet[9], ihl, GSO_TCPV4
    elif version == 6 and len(packet) >= 40:
        proto, ip_len, gso = packet[6], 40, GSO_TCPV6
    else:
        return bytes(VNET_HDR.size)
    if proto != 6 or len(packet) < ip_len + 20:
        return bytes(VNET_HDR.size)
    tcp_len = (packet[ip_len + 12] >> 4) * 4
    payload = len(packet) - ip_len - tcp_len
    if payload <= mss:
        return bytes(VNET_HDR.size)
    return VNET_HDR.pack(0, gso, 0, mss, 0, 0)


def with_tcp_checksum(packet: bytes) -> bytes:
    """``packet`` with its TCP checksum computed afresh (IPv4 or IPv6, TCP as the first
    next header); anything else unchanged.

    A packet captured on its way out (``AF_PACKET``) before the device may carry
    only the pseudo-header sum (``CHECKSUM_PARTIAL``: the device was to finish
    it); computing the whole checksum gives what the wire would carry.
    """
    if len(packet) >= 20 and packet[0] >> 4 == 4 and packet[9] == 6:
        start = (packet[0] & 0x0F) * 4
        pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(packet) - start)
    elif len(packet) >= 40 and packet[0] >> 4 == 6 and packet[6] == 6:
        start = 40
        pseudo = packet[8:40] + struct.pack("!IxxxB", len(packet) - start, 6)
    else:
        return packet
    if len(packet) < start + 20:
        return packet
    fixed = bytearray(packet)
    fixed[start + 16:start + 18] = b"\0\0"
    value = 0xFFFF & ~_fold(_ones_sum(bytes(pseudo)) + _ones_sum(bytes(fixed[start:])))
    struct.pack_into("!H", fixed, start + 16, value)
    return bytes(fixed)
