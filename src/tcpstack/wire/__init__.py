"""The TCP/IP wire format: strict parsing and encoding of segments and packets.

Layers, bottom up:

* :mod:`~tcpstack.wire.checksum`: the Internet checksum (RFC 1071) and
  pseudo-headers (RFC 9293 §3.1, RFC 8200 §8.1);
* :mod:`~tcpstack.wire.options`: TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018);
* :mod:`~tcpstack.wire.segment`: the TCP header and :class:`Segment` (RFC 9293 §3.1);
* :mod:`~tcpstack.wire.ip`: IPv4 (RFC 791) and IPv6 (RFC 8200) headers and
  whole packets.

Parsers raise only :class:`~tcpstack.errors.MalformedPacket` (with a short
``reason``) for any input bytes; encoders raise ``ValueError`` for values
that do not fit their fields.
"""

from __future__ import annotations

from tcpstack.wire.checksum import internet_checksum, ones_sum, pseudo_header_sum
from tcpstack.wire.ip import (
    IPV6_EXTENSION_HEADERS,
    IPHeader,
    IPv4Header,
    IPv6Header,
    PacketEncoder,
    PartialChecksumEncoder,
    build_ip,
    decode_packet,
    decode_tcp_packet,
    encode_packet,
    parse_ip,
)
from tcpstack.wire.options import (
    MAX_OPTIONS_LENGTH,
    NOP,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    encode_options,
    option_size,
    options_length,
    parse_options,
)
from tcpstack.wire.segment import (
    FLAGS_BY_VALUE,
    HEADER_LENGTH,
    PROTO_TCP,
    Flags,
    IPAddress,
    Segment,
)

__all__ = [
    "FLAGS_BY_VALUE",
    "HEADER_LENGTH",
    "IPV6_EXTENSION_HEADERS",
    "MAX_OPTIONS_LENGTH",
    "NOP",
    "PROTO_TCP",
    "Flags",
    "IPAddress",
    "IPHeader",
    "IPv4Header",
    "IPv6Header",
    "Mss",
    "Nop",
    "PacketEncoder",
    "PartialChecksumEncoder",
    "Sack",
    "SackPermitted",
    "Segment",
    "TcpOption",
    "Timestamps",
    "UnknownOption",
    "WindowScale",
    "build_ip",
    "decode_packet",
    "decode_tcp_packet",
    "encode_options",
    "encode_packet",
    "internet_checksum",
    "ones_sum",
    "option_size",
    "options_length",
    "parse_ip",
    "parse_options",
    "pseudo_header_sum",
]
