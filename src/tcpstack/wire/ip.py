"""IPv4 (RFC 791) and IPv6 (RFC 8200) headers, just enough to carry TCP.

Parsing is strict and never trusts a length field. Fragments are rejected
(this stack does not reassemble), and so are IPv6 extension headers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, ClassVar

from tcpstack.errors import MalformedPacket
from tcpstack.wire.checksum import folded_sum, internet_checksum, ones_sum, pseudo_header_sum
from tcpstack.wire.ecn import ECN_MASK
from tcpstack.wire.options import NOP, TcpOption, Timestamps
from tcpstack.wire.segment import FLAGS_BY_VALUE, HEADER_LENGTH, PROTO_TCP, IPAddress, Segment

__all__ = [
    "IPV6_EXTENSION_HEADERS",
    "IPHeader",
    "IPv4Header",
    "IPv6Header",
    "PacketEncoder",
    "PartialChecksumEncoder",
    "build_ip",
    "decode_packet",
    "decode_tcp_packet",
    "encode_packet",
    "parse_ip",
]

_V4 = struct.Struct("!BBHHHBBH4s4s")
_V6 = struct.Struct("!IHBB16s16s")
_V4_MIN = 20
_V6_LEN = 40
_DF = 0x4000
_MF = 0x2000
_OFFSET_MASK = 0x1FFF

_V4_TCP = struct.Struct("!BBHHHBBH4s4sHHIIBBHHH")
"""An IPv4 header without options, then a TCP header without options."""
_V4_TCP_TS = struct.Struct("!BBHHHBBH4s4sHHIIBBHHHIII")
"""The same, then NOP, NOP, Timestamps (RFC 7323 Appendix A)."""
_TS_HEAD = 0x0101080A
"""NOP, NOP, kind 8, length 10: the first word of that option area."""
_TS_OPTION = struct.Struct("!III")
"""That option area: its first word, TSval, TSecr."""
_TS_WORDS = 0x0101 + 0x080A
"""That word's two 16-bit halves, summed (for the checksum)."""


IPV6_EXTENSION_HEADERS = frozenset({0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254})
"""Next Header values that are IPv6 extension headers (RFC 8200 §4, IANA registry)."""


@dataclass(frozen=True, slots=True)
class IPv4Header:
    """An IPv4 header (RFC 791 §3.1), without the fields computed on output.

    Total length, IHL and header checksum are not fields: :func:`build_ip`
    computes them and :func:`parse_ip` checks them. Fragmented packets are
    never represented (offset 0, MF clear).

    Attributes:
        src, dst: addresses.
        protocol: the upper-layer protocol number, 0..255 (6 = TCP).
        ttl: time to live, 0..255 (hops).
        tos: the type-of-service byte (DSCP + ECN, RFC 2474 / RFC 3168), 0..255.
        identification: the 16-bit identification field.
        dont_fragment: the DF flag.
        options: the IP options verbatim, a multiple of 4 bytes, at most 40.
    """

    src: IPv4Address
    dst: IPv4Address
    protocol: int = PROTO_TCP
    ttl: int = 64
    tos: int = 0
    identification: int = 0
    dont_fragment: bool = True
    options: bytes = b""


@dataclass(frozen=True, slots=True)
class IPv6Header:
    """An IPv6 fixed header (RFC 8200 §3), without the payload length.

    Attributes:
        src, dst: addresses.
        next_header: the upper-layer protocol number, 0..255 (6 = TCP).
        hop_limit: 0..255 (hops).
        traffic_class: 0..255 (DSCP + ECN).
        flow_label: 0..2**20-1.
    """

    src: IPv6Address
    dst: IPv6Address
    next_header: int = PROTO_TCP
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0


IPHeader = IPv4Header | IPv6Header
"""An IPv4 or IPv6 header."""


def parse_ip(packet: bytes | bytearray | memoryview) -> tuple[IPHeader, bytes]:
    """Parse an IPv4 (RFC 791 §3.1) or IPv6 (RFC 8200 §3) packet.

    Args:
        packet: the packet bytes starting at the IP version nibble. Bytes past
            the IP total length (IPv4) or 40 + payload length (IPv6), such as
            link-layer padding, are dropped.

    Returns:
        ``(header, payload)``: the header and the upper-layer bytes. Non-TCP
        protocols are not rejected here: check ``header.protocol`` (IPv4) or
        ``header.next_header`` (IPv6).

    Raises:
        MalformedPacket: with reason

            * ``"truncated-ip"``: shorter than the fixed header (20 / 40 bytes);
            * ``"bad-ip-version"``: version is neither 4 nor 6;
            * ``"bad-ihl"``: IPv4 IHL below 5 words or longer than the packet;
            * ``"bad-ip-length"``: total length below the header length or
              beyond the packet (IPv6: 40 + payload length beyond the packet);
            * ``"bad-ip-checksum"``: the IPv4 header checksum does not verify;
            * ``"ip-fragment"``: IPv4 MF set or fragment offset not zero;
            * ``"ipv6-extension"``: IPv6 next header is an extension header
              (:data:`IPV6_EXTENSION_HEADERS`), which this stack does not walk.

        Nothing else is raised for any input.
    """
    packet, n, version = _version_of(packet)
    if version == 4:
        return _parse_v4(packet, n)
    if version == 6:
        return _parse_v6(packet, n)
    raise MalformedPacket("bad-ip-version", f"version {version}")


def _version_of(
    packet: bytes | bytearray | memoryview,
) -> tuple[bytes | bytearray | memoryview, int, int]:
    """``(packet, length, IP version)``, the packet as a flat byte buffer."""
    if isinstance(packet, memoryview) and (
        packet.format != "B" or packet.ndim != 1 or not packet.c_contiguous
    ):
        packet = packet.tobytes()
    n = len(packet)
    if n == 0:
        raise MalformedPacket("truncated-ip", "empty packet")
    return packet, n, packet[0] >> 4


def _check_v4(packet: bytes | bytearray | memoryview, n: int) -> tuple[Any, ...]:
    """Validate an IPv4 header; returns its unpacked fields, the IHL and total length (bytes)."""
    if n < _V4_MIN:
        raise MalformedPacket("truncated-ip", f"{n} bytes, an IPv4 header needs 20")
    fields = _V4.unpack_from(packet)
    ver_ihl, total, frag = fields[0], fields[2], fields[4]
    ihl = (ver_ihl & 0x0F) * 4
    if ihl < _V4_MIN:
        raise MalformedPacket("bad-ihl", f"IHL {ihl // 4} words is below 5")
    if ihl > n:
        raise MalformedPacket("bad-ihl", f"header of {ihl} bytes in a {n}-byte packet")
    if total < ihl or total > n:
        raise MalformedPacket(
            "bad-ip-length", f"total length {total} with a {ihl}-byte header in {n} bytes"
        )
    if internet_checksum(packet[:ihl]) != 0:
        raise MalformedPacket("bad-ip-checksum",
                              f"header checksum 0x{fields[7]:04x} does not verify")
    if frag & (_MF | _OFFSET_MASK):
        raise MalformedPacket(
            "ip-fragment", f"MF={int(bool(frag & _MF))} offset={(frag & _OFFSET_MASK) * 8}"
        )
    return fields, ihl, total


def _parse_v4(packet: bytes | bytearray | memoryview, n: int) -> tuple[IPHeader, bytes]:
    (_, tos, _, ident, frag, ttl, proto, _, src, dst), ihl, total = _check_v4(packet, n)
    header = IPv4Header(
        src=IPv4Address(src),
        dst=IPv4Address(dst),
        protocol=proto,
        ttl=ttl,
        tos=tos,
        identification=ident,
        dont_fragment=bool(frag & _DF),
        options=bytes(packet[_V4_MIN:ihl]),
    )
    return header, bytes(packet[ihl:total])


def _check_v6(packet: bytes | bytearray | memoryview, n: int) -> tuple[Any, ...]:
    """Validate an IPv6 fixed header; returns its unpacked fields and the packet's end (bytes)."""
    if n < _V6_LEN:
        raise MalformedPacket("truncated-ip", f"{n} bytes, an IPv6 header needs 40")
    fields = _V6.unpack_from(packet)
    plen, next_header = fields[1], fields[2]
    end = _V6_LEN + plen
    if end > n:
        raise MalformedPacket(
            "bad-ip-length", f"payload length {plen} with only {n - _V6_LEN} bytes after the header"
        )
    if next_header in IPV6_EXTENSION_HEADERS:
        raise MalformedPacket("ipv6-extension", f"next header {next_header} is not supported")
    return fields, end


def _parse_v6(packet: bytes | bytearray | memoryview, n: int) -> tuple[IPHeader, bytes]:
    (first, _, next_header, hop_limit, src, dst), end = _check_v6(packet, n)
    header = IPv6Header(
        src=IPv6Address(src),
        dst=IPv6Address(dst),
        next_header=next_header,
        hop_limit=hop_limit,
        traffic_class=(first >> 20) & 0xFF,
        flow_label=first & 0xFFFFF,
    )
    return header, bytes(packet[_V6_LEN:end])


def _check(value: int, bits: int, what: str) -> None:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value} out of range 0..{(1 << bits) - 1}")


def build_ip(header: IPHeader, payload: bytes | bytearray | memoryview) -> bytes:
    """Build an IP packet: ``header`` then ``payload`` (RFC 791 §3.1, RFC 8200 §3).

    IPv4: fills IHL, total length and the header checksum; fragment offset 0,
    MF clear. IPv6: fills the payload length; no extension headers.

    Raises:
        ValueError: a field out of range, an address of the wrong family,
            IPv4 options not a multiple of 4 or over 40 bytes, or a packet too
            long (IPv4 total length or IPv6 payload length over 65535; no
            jumbograms).
    """
    if isinstance(header, IPv4Header):
        if not (isinstance(header.src, IPv4Address) and isinstance(header.dst, IPv4Address)):
            raise ValueError("IPv4Header needs IPv4 addresses")
        _check(header.protocol, 8, "protocol")
        _check(header.ttl, 8, "TTL")
        _check(header.tos, 8, "TOS")
        _check(header.identification, 16, "identification")
        if len(header.options) % 4 or len(header.options) > 40:
            raise ValueError(
                f"IPv4 options must be a multiple of 4 bytes, at most 40: {len(header.options)}"
            )
        ihl = _V4_MIN + len(header.options)
        total = ihl + len(payload)
        if total > 0xFFFF:
            raise ValueError(f"IPv4 packet of {total} bytes exceeds 65535")
        buf = bytearray(
            _V4.pack(
                0x40 | (ihl // 4),
                header.tos,
                total,
                header.identification,
                _DF if header.dont_fragment else 0,
                header.ttl,
                header.protocol,
                0,
                header.src.packed,
                header.dst.packed,
            )
        )
        buf += header.options
        checksum = internet_checksum(buf)
        buf[10] = checksum >> 8
        buf[11] = checksum & 0xFF
        buf += payload
        return bytes(buf)
    if isinstance(header, IPv6Header):
        if not (isinstance(header.src, IPv6Address) and isinstance(header.dst, IPv6Address)):
            raise ValueError("IPv6Header needs IPv6 addresses")
        _check(header.next_header, 8, "next header")
        _check(header.hop_limit, 8, "hop limit")
        _check(header.traffic_class, 8, "traffic class")
        _check(header.flow_label, 20, "flow label")
        if len(payload) > 0xFFFF:
            raise ValueError(f"IPv6 payload of {len(payload)} bytes exceeds 65535")
        first = (6 << 28) | (header.traffic_class << 20) | header.flow_label
        fixed = _V6.pack(
            first,
            len(payload),
            header.next_header,
            header.hop_limit,
            header.src.packed,
            header.dst.packed,
        )
        return fixed + bytes(payload)
    raise TypeError(f"not an IP header: {header!r}")


class PacketEncoder:
    """Encodes the segments of one address pair as IP packets (RFC 791 / RFC 8200,
    RFC 9293 §3.1): the path every packet a stack sends takes.

    What does not change from packet to packet is built once: the IP header
    (DF set, no options; IPv6 without extension headers) and its partial
    checksum, and the pseudo-header's sum of addresses and protocol. Each
    packet is then one ``struct`` pack of the TCP header, checksums finished
    from the partial sums, and one join with the payload, its only copy.

    Args:
        src, dst: our address and the peer's, both IPv4 or both IPv6.
        ttl: TTL / hop limit, 0..255.
        tos: TOS byte / traffic class, 0..255.
        identification: IPv4 identification, 0..65535 (ignored for IPv6).

    Raises:
        ValueError: mixed address families, or a value out of range.
    """

    __slots__ = ("_dst", "_ident", "_ip", "_ip_sum", "_pseudo", "_src", "_v4", "dst", "src",
                 "tos", "ttl")

    partial_checksum: ClassVar[bool] = False
    """Leave the TCP checksum to the device (:class:`PartialChecksumEncoder`)."""

    def __init__(self, src: IPAddress, dst: IPAddress, *, ttl: int = 64, tos: int = 0,
                 identification: int = 0) -> None:
        self.src = src
        self.dst = dst
        self.ttl = ttl
        self.tos = tos
        self._src = src.packed
        self._dst = dst.packed
        self._ident = identification
        if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
            _check(ttl, 8, "TTL")
            _check(tos, 8, "TOS")
            _check(identification, 16, "identification")
            self._ip = _V4.pack(0x45, tos, 0, identification, _DF, ttl, PROTO_TCP, 0,
                                src.packed, dst.packed)
            self._v4 = True
        elif isinstance(src, IPv6Address) and isinstance(dst, IPv6Address):
            _check(ttl, 8, "hop limit")
            _check(tos, 8, "traffic class")
            self._ip = _V6.pack((6 << 28) | (tos << 20), 0, PROTO_TCP, ttl,
                                src.packed, dst.packed)
            self._v4 = False
        else:
            raise ValueError(f"mixed address families: {src!r}, {dst!r}")
        self._ip_sum = ones_sum(self._ip)  # IPv4: everything but the total length
        self._pseudo = pseudo_header_sum(src, dst, PROTO_TCP, 0)

    def encode(self, segment: Segment) -> bytes:
        """The IP packet carrying ``segment``, both checksums filled in; a segment
        whose ``ecn`` is not 0 (Not-ECT) carries that codepoint in the low two bits
        of the TOS byte / traffic class (RFC 3168 §5) instead of the encoder's.

        Raises:
            ValueError: a segment field or option out of range (see
                :meth:`Segment.encode`; ``ecn`` beyond 0..3), or a packet over 65535 bytes (IPv4
                total length, IPv6 payload length; no jumbograms).
        """
        if self._v4:
            options = segment.options
            if not options or (len(options) == 3 and options[0] is NOP and options[1] is NOP
                               and type(options[2]) is Timestamps):
                packet = self._encode_v4(segment, options)
                if packet is not None:
                    return packet
        return self._encode_general(segment)

    def _encode_v4(self, segment: Segment, options: tuple[TcpOption, ...]) -> bytes | None:
        """:meth:`encode` of an IPv4 packet whose segment has no options or only
        NOP, NOP, Timestamps (RFC 7323 Appendix A's layout: every segment of an
        established connection that negotiated timestamps, but those with SACK
        blocks), straight from the fields: one ``struct`` pack of the IP header,
        the TCP header and the option, both checksums summed from the fields and
        the payload's one pass (RFC 1071 §2(C)), one join with the payload.
        What it saves against :meth:`_encode_general` (a bytearray grown three
        times, the option area encoded apart, the header summed from its bytes,
        three reductions modulo 0xFFFF): about 2 of 3 µs per 1448-byte segment.
        Returns None when a field is out of range or the packet too long: the
        general path then raises the ValueError that names it.
        """
        payload = segment.payload
        flags = segment.flags
        seq = segment.seq
        ack = segment.ack
        sport = segment.src_port
        dport = segment.dst_port
        window = segment.window
        urgent = segment.urgent
        ecn = segment.ecn
        if not 0 <= ecn <= 3:
            return None
        tos = (self.tos & ~ECN_MASK) | ecn if ecn else self.tos
        size = len(payload)
        if options:
            ts = options[2]
            tsval = ts.tsval  # type: ignore[union-attr]
            tsecr = ts.tsecr  # type: ignore[union-attr]
            tcp_len = 32 + size
            words = ((8 << 12) + _TS_WORDS + (tsval >> 16) + (tsval & 0xFFFF) + (tsecr >> 16)
                     + (tsecr & 0xFFFF))
        else:
            tsval = tsecr = 0
            tcp_len = HEADER_LENGTH + size
            words = 5 << 12
        ip_total = _V4_MIN + tcp_len
        if self.partial_checksum:
            checksum = folded_sum(self._pseudo + tcp_len)
        else:
            # RFC 9293 §3.1: the pseudo-header, the header's words with a zero
            # checksum field, and the payload (the one pass over it).
            # Each checksum field: the one's complement of the fold of an unfolded
            # sum > 0 (internet_checksum of no more data), written inline here
            # and for the IP header below (two calls fewer per packet).
            r = (self._pseudo + tcp_len + words + sport + dport + (seq >> 16) + (seq & 0xFFFF)
                 + (ack >> 16) + (ack & 0xFFFF) + flags + window + urgent
                 + (ones_sum(payload) if size else 0)) % 0xFFFF
            checksum = 0xFFFF - r if r else 0
        r = (self._ip_sum + ip_total + tos - self.tos) % 0xFFFF
        ip_checksum = 0xFFFF - r if r else 0
        try:
            if options:
                header = _V4_TCP_TS.pack(
                    0x45, tos, ip_total, self._ident, _DF, self.ttl, PROTO_TCP, ip_checksum,
                    self._src, self._dst, sport, dport, seq, ack, 8 << 4, flags, window,
                    checksum, urgent, _TS_HEAD, tsval, tsecr)
            else:
                header = _V4_TCP.pack(
                    0x45, tos, ip_total, self._ident, _DF, self.ttl, PROTO_TCP, ip_checksum,
                    self._src, self._dst, sport, dport, seq, ack, 5 << 4, flags, window,
                    checksum, urgent)
        except struct.error:
            return None  # a field out of range, or a total length over 65535
        return header + payload if size else header

    def _encode_general(self, segment: Segment) -> bytes:
        """:meth:`encode` for any segment: the TCP header by :meth:`Segment.encode_header`."""
        ip = self._ip
        packet = segment.encode_header(self._pseudo, ip, partial=self.partial_checksum)
        payload = segment.payload
        tcp_len = len(packet) - len(ip) + len(payload)
        ecn = segment.ecn
        if self._v4:
            total = _V4_MIN + tcp_len
            if total > 0xFFFF:
                raise ValueError(f"IPv4 packet of {total} bytes exceeds 65535")
            packet[2] = total >> 8
            packet[3] = total & 0xFF
            adjust = self._set_ecn(packet, ecn) if ecn else 0
            checksum = internet_checksum(b"", self._ip_sum + total + adjust)
            packet[10] = checksum >> 8
            packet[11] = checksum & 0xFF
        else:
            if tcp_len > 0xFFFF:
                raise ValueError(f"IPv6 payload of {tcp_len} bytes exceeds 65535")
            packet[4] = tcp_len >> 8
            packet[5] = tcp_len & 0xFF
            if ecn:
                self._set_ecn(packet, ecn)
        return b"".join((packet, payload))

    def _set_ecn(self, packet: bytearray, ecn: int) -> int:
        """Put the segment's ECN codepoint (RFC 3168 §5) in the low two bits of the
        TOS byte / traffic class of ``packet``, in place of the configured ones.
        Returns what that adds to the IPv4 header's ones' complement sum (only the
        TOS byte changed, the low byte of the first 16-bit word).

        Raises:
            ValueError: ``ecn`` not in 0..3.
        """
        _check(ecn, 2, "ECN codepoint")
        tos = (self.tos & ~ECN_MASK) | ecn
        if self._v4:
            packet[1] = tos
        else:
            packet[0] = 0x60 | (tos >> 4)
            packet[1] = ((tos & 0x0F) << 4) | (packet[1] & 0x0F)
        return tos - self.tos


class PartialChecksumEncoder(PacketEncoder):
    """A :class:`PacketEncoder` for a device that completes TCP checksums itself
    (checksum offload: a TUN device's virtio-net ``NEEDS_CSUM``, Linux
    ``CHECKSUM_PARTIAL``).

    Every packet's TCP checksum field holds only the pseudo-header sum, folded
    to 16 bits and not complemented (:func:`~tcpstack.wire.checksum.folded_sum`,
    as Linux's ``tcp_v4_send_check`` leaves it); the device sums the rest,
    from the TCP header (``csum_start``) to the end, and stores the
    complement in the field (``csum_start + 16``). The IPv4 header checksum is
    complete. What it saves: the pass over the payload, 61 µs of our CPU time
    for a 64 KiB super-segment, and the kernel's check of it on a TUN device
    (a packet with a partial checksum is trusted). Only for a device that
    says it completes them: anything else would see a wrong checksum.
    """

    __slots__ = ()

    partial_checksum: ClassVar[bool] = True


def encode_packet(
    src: IPAddress,
    dst: IPAddress,
    segment: Segment,
    *,
    ttl: int = 64,
    tos: int = 0,
    identification: int = 0,
) -> bytes:
    """Encode a complete IPv4 or IPv6 packet carrying ``segment``.

    The family follows the addresses. IPv4 gets DF set and no options; for
    IPv6, ``ttl`` is the hop limit, ``tos`` the traffic class, and
    ``identification`` is ignored (IPv6 has no such field). Many packets
    between the same addresses: use one :class:`PacketEncoder`.

    Args:
        src, dst: addresses, both IPv4 or both IPv6.
        segment: the TCP segment; its checksum is computed here.
        ttl: TTL / hop limit, 0..255.
        tos: TOS byte / traffic class, 0..255.
        identification: IPv4 identification, 0..65535.

    Raises:
        ValueError: mixed address families, or any value out of range (see
            :meth:`Segment.encode` and :func:`build_ip`).
    """
    encoder = PacketEncoder(src, dst, ttl=ttl, tos=tos, identification=identification)
    return encoder.encode(segment)


def decode_packet(packet: bytes | bytearray | memoryview) -> tuple[IPHeader, Segment]:
    """Decode an IP packet carrying a TCP segment (RFC 791 / RFC 8200, RFC 9293 §3.1).

    :func:`parse_ip`, then a protocol check, then :meth:`Segment.decode`
    with the checksum verified against the pseudo-header.

    Returns:
        ``(ip_header, segment)``; the segment's ``ecn`` is the packet's ECN
        codepoint (RFC 3168 §5).

    Raises:
        MalformedPacket: any reason from :func:`parse_ip` or
            :meth:`Segment.decode`, or ``"not-tcp"`` when the protocol /
            next header is not 6. Nothing else for any input.
    """
    header, payload = parse_ip(packet)
    if isinstance(header, IPv4Header):
        if header.protocol != PROTO_TCP:
            raise MalformedPacket("not-tcp", f"IP protocol {header.protocol}")
        ecn = header.tos & ECN_MASK
    elif header.next_header != PROTO_TCP:
        raise MalformedPacket("not-tcp", f"IPv6 next header {header.next_header}")
    else:
        ecn = header.traffic_class & ECN_MASK
    return header, Segment.decode(payload, header.src, header.dst, ecn=ecn)


def decode_tcp_packet(packet: bytes | bytearray | memoryview, *,
                      verify_checksum: bool = True) -> tuple[bytes, bytes, Segment]:
    """:func:`decode_packet` for a stack's receive path: ``(src, dst, segment)``
    with the addresses as their raw bytes (4 for IPv4, 16 for IPv6) and the
    packet's ECN codepoint in ``segment.ecn`` (RFC 3168 §5).

    The same checks, in the same order, with the same reasons as
    :func:`decode_packet`; it builds no header or address objects and copies
    the payload once. ``verify_checksum=False`` skips the TCP checksum (only
    for a packet whose checksum was already checked, e.g. by the kernel:
    checksum offload); the IPv4 header checksum is always checked.

    Raises:
        MalformedPacket: as :func:`decode_packet`. Nothing else for any input.
    """
    if type(packet) is bytes and len(packet) >= _V4_TCP.size and packet[0] == 0x45:
        decoded = _decode_v4(packet, verify_checksum)
        if decoded is not None:
            return decoded
    packet, n, version = _version_of(packet)
    if version == 4:
        fields, ihl, total = _check_v4(packet, n)
        if fields[6] != PROTO_TCP:
            raise MalformedPacket("not-tcp", f"IP protocol {fields[6]}")
        start, end, addresses = ihl, total, packet[12:20]
        src, dst = fields[8], fields[9]
        ecn = fields[1] & ECN_MASK  # RFC 3168 §5: the low bits of the TOS byte
    elif version == 6:
        fields, end = _check_v6(packet, n)
        if fields[2] != PROTO_TCP:
            raise MalformedPacket("not-tcp", f"IPv6 next header {fields[2]}")
        start, addresses = _V6_LEN, packet[8:40]
        src, dst = fields[4], fields[5]
        ecn = (fields[0] >> 20) & ECN_MASK  # of the traffic class (RFC 8200 §7)
    else:
        raise MalformedPacket("bad-ip-version", f"version {version}")
    # The pseudo-header without its length: addresses and protocol (RFC 9293 §3.1).
    pseudo = ones_sum(addresses) + PROTO_TCP if verify_checksum else None
    return src, dst, Segment.decode_checked(memoryview(packet)[start:end], pseudo, ecn)


def _decode_v4(packet: bytes, verify_checksum: bool) -> tuple[bytes, bytes, Segment] | None:
    """:func:`decode_tcp_packet` of the common packet, straight from one ``struct``
    unpack: IPv4 without options, not fragmented, exactly as long as its total
    length, carrying a TCP header without options or with NOP, NOP, Timestamps
    (RFC 7323 Appendix A). The IP header's checksum is summed from its bytes;
    the TCP checksum's pseudo-header addresses lie just before the TCP header,
    so one pass sums them, the header and the payload together (RFC 1071
    §2(C)). What it saves against the general path (the IP header parsed and
    summed apart, the addresses summed apart, the TCP header unpacked again,
    the option area parsed): about ten calls per packet.

    Returns None for anything else, or for a packet that fails a check: the
    general path then decodes it, or raises with the reason in its order.
    """
    (_, tos, total, _, frag, _, proto, _, src, dst, sport, dport, seq, ack, offset_byte,
     flag_byte, window, _, urgent) = _V4_TCP.unpack_from(packet)
    n = len(packet)
    if total != n or frag & (_MF | _OFFSET_MASK) or proto != PROTO_TCP:
        return None
    if int.from_bytes(packet[:_V4_MIN], "big") % 0xFFFF:  # RFC 791: sums to 0xFFFF (or 0)
        return None
    data_offset = offset_byte >> 4
    if data_offset == 5:
        options: tuple[TcpOption, ...] = ()
    elif data_offset == 8 and n >= _V4_TCP_TS.size:
        head, tsval, tsecr = _TS_OPTION.unpack_from(packet, _V4_TCP.size)
        if head != _TS_HEAD:
            return None
        options = (NOP, NOP, Timestamps(tsval, tsecr))
    else:
        return None
    if verify_checksum:
        # Addresses (bytes 12-19), TCP header and payload, then the rest of the
        # pseudo-header: the protocol and the TCP length (RFC 9293 §3.1).
        tail = memoryview(packet)[12:]
        covered = int.from_bytes(tail, "big")
        if n & 1:
            covered <<= 8  # an odd last byte is padded with a zero byte
        if (covered + PROTO_TCP + n - _V4_MIN) % 0xFFFF:
            return None
    return src, dst, Segment(sport, dport, seq, ack, FLAGS_BY_VALUE[flag_byte], window, urgent,
                             options, packet[_V4_MIN + data_offset * 4:], tos & ECN_MASK)
