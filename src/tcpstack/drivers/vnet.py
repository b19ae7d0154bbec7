"""The virtio-net header of a TUN device opened with ``IFF_VNET_HDR`` (offload).

With ``IFF_VNET_HDR`` every read from and write to a TUN device starts with a
``struct virtio_net_hdr`` (Linux ``include/uapi/linux/virtio_net.h``; virtio
1.x §5.1.6), little-endian here (``TUNSETVNETLE``), 10 bytes::

    u8 flags         NEEDS_CSUM (1): the checksum is partial; DATA_VALID (2):
                     the kernel already checked it
    u8 gso_type      NONE (0), TCPV4 (1), UDP (3), TCPV6 (4); | ECN (0x80)
    le16 hdr_len     bytes of IP + TCP header of a GSO packet
    le16 gso_size    payload bytes of each segment the packet stands for (MSS)
    le16 csum_start  where the checksummed part starts (the TCP header)
    le16 csum_offset where, from csum_start, the checksum field is (16 for TCP)

(12 bytes with the ``num_buffers`` of ``virtio_net_hdr_mrg_rxbuf``, which a
TUN device leaves zero.) Once ``TUNSETOFFLOAD`` allows checksum and
segmentation offload (``TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6``), the kernel
hands us TCP segments of up to 64 KiB that stand for many MSS-sized ones,
their checksum left partial (only the pseudo-header sum is in the field,
``NEEDS_CSUM``), and takes such segments from us, cutting them itself into
MSS-sized packets when they leave by a real link.

This module is the codec and the per-byte work around it, with no I/O:
:class:`VnetHeader` (encode, decode), :func:`complete_checksum` (inbound:
make the TCP checksum of a packet the kernel handed us whole, so that the
stack, which verifies every checksum, accepts it), :func:`gso_header`
(outbound: the header of a super-segment), and :func:`segment` (software
segmentation, what the kernel does with a GSO packet when no device takes it:
the driver's fallback when the kernel refuses the offload).

Sources: Linux ``virtio_net_hdr_to_skb`` / ``virtio_net_hdr_from_skb``
(``include/linux/virtio_net.h``), ``tcp_gso_segment`` (``net/ipv4/tcp_offload.c``);
the Internet checksum of RFC 1071 and the TCP pseudo-header of RFC 9293
§3.1 (IPv4) and RFC 8200 §8.1 (IPv6).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..wire.checksum import folded_sum, internet_checksum, ones_sum

__all__ = [
    "F_DATA_VALID",
    "F_NEEDS_CSUM",
    "GSO_ECN",
    "GSO_NONE",
    "GSO_TCPV4",
    "GSO_TCPV6",
    "GSO_UDP",
    "PLAIN",
    "TUN_F_CSUM",
    "TUN_F_TSO4",
    "TUN_F_TSO6",
    "VNET_HDR_LEN",
    "CheckedPacket",
    "VnetError",
    "VnetHeader",
    "complete_checksum",
    "gso_header",
    "partial_header",
    "plain_header_bytes",
    "segment",
    "tcp_checksum",
]

VNET_HDR_LEN = 10
"""``sizeof(struct virtio_net_hdr)``: the header size this package uses (bytes)."""

F_NEEDS_CSUM = 1
"""``VIRTIO_NET_HDR_F_NEEDS_CSUM``: the checksum at ``csum_start + csum_offset``
holds only the pseudo-header sum; the rest is to be summed from ``csum_start``."""
F_DATA_VALID = 2
"""``VIRTIO_NET_HDR_F_DATA_VALID``: the kernel has checked the checksum (inbound only)."""

GSO_NONE = 0
"""``VIRTIO_NET_HDR_GSO_NONE``: an ordinary packet."""
GSO_TCPV4 = 1
"""``VIRTIO_NET_HDR_GSO_TCPV4``: a TCP/IPv4 segment standing for many of ``gso_size``."""
GSO_UDP = 3
"""``VIRTIO_NET_HDR_GSO_UDP`` (UFO; never asked for here)."""
GSO_TCPV6 = 4
"""``VIRTIO_NET_HDR_GSO_TCPV6``: a TCP/IPv6 segment standing for many of ``gso_size``."""
GSO_ECN = 0x80
"""``VIRTIO_NET_HDR_GSO_ECN``: the segment carries CWR (needs ``TUN_F_TSO_ECN``)."""

TUN_F_CSUM = 0x01
"""``TUNSETOFFLOAD`` bit: we accept packets with a partial checksum."""
TUN_F_TSO4 = 0x02
"""``TUNSETOFFLOAD`` bit: we accept TCP/IPv4 GSO packets (needs ``TUN_F_CSUM``)."""
TUN_F_TSO6 = 0x04
"""``TUNSETOFFLOAD`` bit: we accept TCP/IPv6 GSO packets (needs ``TUN_F_CSUM``)."""

_HDR = struct.Struct("<BBHHHH")
_TCP_CHECK = 16  # offsetof(struct tcphdr, check)
_PROTO_TCP = 6


class VnetError(ValueError):
    """A virtio-net header, or the packet behind it, that cannot be used as it says."""


@dataclass(frozen=True, slots=True)
class VnetHeader:
    """One ``struct virtio_net_hdr`` (see the module docstring).

    Attributes:
        flags: ``F_NEEDS_CSUM`` and/or ``F_DATA_VALID``, 0..255.
        gso_type: ``GSO_NONE``, ``GSO_TCPV4``, ``GSO_TCPV6`` ... (| ``GSO_ECN``), 0..255.
        hdr_len: IP + TCP header bytes of a GSO packet, 0..65535.
        gso_size: payload bytes per segment of a GSO packet (the MSS), 0..65535.
        csum_start: offset of the checksummed part (the TCP header), bytes.
        csum_offset: offset of the checksum field from ``csum_start`` (16 for TCP), bytes.
    """

    flags: int = 0
    gso_type: int = GSO_NONE
    hdr_len: int = 0
    gso_size: int = 0
    csum_start: int = 0
    csum_offset: int = 0

    def encode(self, size: int = VNET_HDR_LEN) -> bytes:
        """The header as ``size`` bytes (10, or 12 with a zero ``num_buffers``).

        Raises:
            struct.error: a field out of range.
            ValueError: ``size`` below 10.
        """
        if size < VNET_HDR_LEN:
            raise ValueError(f"a virtio-net header has at least {VNET_HDR_LEN} bytes, not {size}")
        head = _HDR.pack(self.flags, self.gso_type, self.hdr_len, self.gso_size,
                         self.csum_start, self.csum_offset)
        return head + bytes(size - VNET_HDR_LEN)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> VnetHeader:
        """The header at the start of ``data`` (its first 10 bytes are read).

        Raises:
            VnetError: fewer than 10 bytes.
        """
        if len(data) < VNET_HDR_LEN:
            raise VnetError(f"{len(data)} bytes, a virtio-net header needs {VNET_HDR_LEN}")
        return cls(*_HDR.unpack_from(data))

    @property
    def is_gso(self) -> bool:
        """True if the packet stands for several segments (a GSO type other than NONE)."""
        return self.gso_type & ~GSO_ECN != GSO_NONE


PLAIN = VnetHeader()
"""The header of an ordinary packet whose checksum is complete (all fields zero)."""
_PLAIN_BYTES = PLAIN.encode()


def _tcp_offset(packet: bytes | bytearray | memoryview) -> int:
    """Offset of the TCP header in an IPv4 or IPv6 packet carrying TCP.

    Raises:
        VnetError: not IPv4/IPv6, not TCP, or too short for the TCP header.
    """
    n = len(packet)
    version = packet[0] >> 4 if n else 0
    if version == 4 and n >= 20:
        off = (packet[0] & 0x0F) * 4
        proto = packet[9]
    elif version == 6 and n >= 40:
        off, proto = 40, packet[6]
    else:
        raise VnetError(f"not an IPv4 or IPv6 packet ({n} bytes, version {version})")
    if proto != _PROTO_TCP:
        raise VnetError(f"not TCP (protocol {proto})")
    if off < 20 or n < off + 20:
        raise VnetError(f"no room for a TCP header at {off} in {n} bytes")
    return off


def _headers(packet: bytes | bytearray | memoryview) -> tuple[int, int]:
    """``(tcp_offset, ip_and_tcp_header_length)`` of an IP packet carrying TCP.

    Raises:
        VnetError: see :func:`_tcp_offset`, or a TCP data offset that does not fit.
    """
    off = _tcp_offset(packet)
    thl = (packet[off + 12] >> 4) * 4
    if thl < 20 or off + thl > len(packet):
        raise VnetError(f"TCP header of {thl} bytes at {off} in a {len(packet)}-byte packet")
    return off, off + thl


def _pseudo_sum(packet: bytes | bytearray | memoryview, tcp_len: int) -> int:
    """Unfolded sum of the TCP pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) of ``packet``."""
    if packet[0] >> 4 == 4:
        return ones_sum(packet[12:20]) + _PROTO_TCP + tcp_len
    return ones_sum(packet[8:40]) + _PROTO_TCP + (tcp_len >> 16) + (tcp_len & 0xFFFF)


def _put16(packet: bytes | bytearray | memoryview, pos: int, value: int) -> bytes:
    return bytes(packet[:pos]) + value.to_bytes(2, "big") + bytes(packet[pos + 2:])


def tcp_checksum(packet: bytes | bytearray | memoryview) -> bytes:
    """``packet`` (IPv4 or IPv6 carrying TCP) with its TCP checksum computed in full.

    Whatever the checksum field held is replaced (RFC 9293 §3.1).

    Raises:
        VnetError: not an IP packet carrying a whole TCP header.
    """
    off = _tcp_offset(packet)
    view = memoryview(packet)
    tcp_len = len(packet) - off
    zeroed = ones_sum(view[off:off + _TCP_CHECK]) + ones_sum(view[off + _TCP_CHECK + 2:])
    check = internet_checksum(b"", _pseudo_sum(packet, tcp_len) + zeroed)
    return _put16(packet, off + _TCP_CHECK, check)


class CheckedPacket(bytes):
    """A packet read from the device whose TCP checksum the kernel vouched for:
    ``F_NEEDS_CSUM`` (made by the local kernel, its sum completed here) or
    ``F_DATA_VALID`` on a coalesced packet (its segments checked on arrival).
    The driver passes it to ``Stack.receive(..., checksum_verified=True)`` so
    that the stack does not sum it again. Any change to the bytes (a fault injector's corruption)
    makes a plain ``bytes`` object, which is verified as usual.
    """

    __slots__ = ()


def complete_checksum(header: VnetHeader, packet: bytes) -> bytes:
    """``packet`` as read after ``header``, with a TCP checksum the stack can verify.

    - ``F_NEEDS_CSUM``: the field at ``csum_start + csum_offset`` holds the
      pseudo-header sum; the one's complement sum from ``csum_start`` to the
      end (that field included) is folded, complemented and stored there
      (the kernel's ``skb_checksum_help``).
    - ``F_DATA_VALID`` on a GSO packet: the kernel checked the segments it
      coalesced, but the field may still be the first segment's, so the
      checksum is computed afresh.
    - otherwise (a plain packet, or ``F_DATA_VALID`` alone): unchanged, the
      field is the one that was sent (and checked, with ``F_DATA_VALID``).

    The first two come back as :class:`CheckedPacket`; the third as it came
    (verified again by the stack: one pass over at most an MTU).

    Raises:
        VnetError: ``csum_start`` / ``csum_offset`` outside the packet, or a
            GSO packet that is not TCP over IP.
    """
    if header.flags & F_NEEDS_CSUM:
        start = header.csum_start
        pos = start + header.csum_offset
        if pos + 2 > len(packet):
            raise VnetError(
                f"checksum at {start}+{header.csum_offset} outside a {len(packet)}-byte packet"
            )
        return CheckedPacket(_put16(packet, pos, internet_checksum(memoryview(packet)[start:])))
    if header.flags & F_DATA_VALID and header.is_gso:
        return CheckedPacket(tcp_checksum(packet))
    return packet


def gso_header(packet: bytes | bytearray | memoryview, gso_size: int, *,
               partial: bool = False) -> tuple[VnetHeader, bytes]:
    """The header for sending ``packet`` (IPv4 or IPv6 carrying TCP) through the device.

    A payload longer than ``gso_size`` makes a GSO packet (``GSO_TCPV4`` or
    ``GSO_TCPV6``, ``hdr_len`` the IP + TCP headers) that the kernel cuts
    into segments of ``gso_size`` payload bytes where it has to (a real
    link); otherwise the header is :data:`PLAIN`.

    Args:
        packet: a packet with a complete, correct TCP checksum.
        gso_size: payload bytes per segment (the connection's segment size), > 0.
        partial: leave the checksum to the kernel (``F_NEEDS_CSUM``): the
            field is replaced by the pseudo-header sum. False keeps the
            complete checksum, which the kernel then verifies (so that a
            packet corrupted on purpose after the stack built it is caught).

    Returns:
        ``(header, packet)``: the packet is ``packet`` itself unless ``partial``.

    Raises:
        VnetError: not an IP packet carrying a whole TCP header; ``gso_size`` <= 0.
    """
    if gso_size <= 0:
        raise VnetError(f"gso_size must be > 0, got {gso_size}")
    off, hdr_len = _headers(packet)
    out = bytes(packet)
    if partial:
        # What the kernel's own stack leaves in the field (tcp_v4_send_check):
        # the folded pseudo-header sum, not complemented.
        out = _put16(packet, off + _TCP_CHECK, folded_sum(_pseudo_sum(packet, len(packet) - off)))
    return _offload_header(out, gso_size, off, hdr_len, partial=partial), out


def partial_header(packet: bytes | bytearray | memoryview, gso_size: int = 0) -> VnetHeader:
    """The header for sending ``packet`` whose TCP checksum field already holds the
    pseudo-header sum (:class:`~tcpstack.wire.ip.PartialChecksumEncoder`): the
    kernel completes it (``F_NEEDS_CSUM``, ``csum_start`` the TCP header,
    ``csum_offset`` 16). With a payload longer than ``gso_size`` > 0, also a
    GSO packet as in :func:`gso_header`.

    Raises:
        VnetError: not an IP packet carrying a whole TCP header.
    """
    off, hdr_len = _headers(packet)
    return _offload_header(packet, gso_size, off, hdr_len, partial=True)


def _offload_header(packet: bytes | bytearray | memoryview, gso_size: int, off: int,
                    hdr_len: int, *, partial: bool) -> VnetHeader:
    """The header of :func:`gso_header` and :func:`partial_header` for ``packet``,
    whose TCP header is at ``off`` and whose payload starts at ``hdr_len``."""
    gso = 0 < gso_size < len(packet) - hdr_len
    if not gso and not partial:
        return PLAIN
    gso_type = (GSO_TCPV4 if packet[0] >> 4 == 4 else GSO_TCPV6) if gso else GSO_NONE
    return VnetHeader(F_NEEDS_CSUM if partial else 0, gso_type, hdr_len if gso else 0,
                      gso_size if gso else 0, off if partial else 0,
                      _TCP_CHECK if partial else 0)


_FIN, _PSH, _CWR = 0x01, 0x08, 0x80


def segment(packet: bytes | bytearray | memoryview, gso_size: int) -> list[bytes]:
    """Cut a TCP/IPv4 super-segment into packets of ``gso_size`` payload bytes.

    What the kernel does with a GSO packet no device takes (``tcp_gso_segment``,
    ``inet_gso_segment``): every packet gets the headers (options included),
    its sequence number, an IPv4 identification one above the previous one,
    its total length and both checksums; FIN and PSH stay on the last packet
    only, CWR on the first only. A packet whose payload fits is returned as
    it is.

    Raises:
        VnetError: not an IPv4 packet carrying a whole TCP header; ``gso_size`` <= 0.
    """
    if gso_size <= 0:
        raise VnetError(f"gso_size must be > 0, got {gso_size}")
    off, hdr_len = _headers(packet)
    if packet[0] >> 4 != 4:
        raise VnetError("software segmentation is for IPv4 packets")
    if len(packet) - hdr_len <= gso_size:
        return [bytes(packet)]
    head = bytearray(packet[:hdr_len])
    data = memoryview(packet)[hdr_len:]
    ident = int.from_bytes(head[4:6], "big")
    seq = int.from_bytes(head[off + 4:off + 8], "big")
    flags = head[off + 13]
    out: list[bytes] = []
    for start in range(0, len(data), gso_size):
        chunk = data[start:start + gso_size]
        last = start + gso_size >= len(data)
        head[2:4] = (hdr_len + len(chunk)).to_bytes(2, "big")
        head[4:6] = ((ident + len(out)) & 0xFFFF).to_bytes(2, "big")
        head[10:12] = b"\0\0"
        head[10:12] = internet_checksum(head[:off]).to_bytes(2, "big")
        head[off + 4:off + 8] = ((seq + start) & 0xFFFFFFFF).to_bytes(4, "big")
        keep = ~0 if last else ~(_FIN | _PSH)
        head[off + 13] = flags & keep & (~_CWR if out else ~0) & 0xFF
        head[off + 16:off + 18] = b"\0\0"
        tcp_sum = ones_sum(head[off:]) + ones_sum(chunk)  # the TCP header has an even length
        check = internet_checksum(b"", _pseudo_sum(head, len(head) - off + len(chunk)) + tcp_sum)
        head[off + 16:off + 18] = check.to_bytes(2, "big")
        out.append(bytes(head) + chunk)
    return out


def plain_header_bytes(size: int = VNET_HDR_LEN) -> bytes:
    """The encoded :data:`PLAIN` header of ``size`` bytes (precomputed for 10)."""
    return _PLAIN_BYTES if size == VNET_HDR_LEN else PLAIN.encode(size)
