"""ICMP messages of drill scripts: type and code names, and the packet injected.

packetdrill writes an inbound ICMP error as ``< icmp TYPE [CODE] [mtu N] [id N]
[[start:end(len)]]`` (its ``icmp_packet.c``). The names are those of its
tables: ICMPv4 types and "destination unreachable" codes (RFC 792, RFC 1812
§5.2.7.1), ICMPv6 types and codes (RFC 4443), and the names FreeBSD's port
gives the codes of an ICMPv4 "time exceeded"; ``type_N`` and ``code_N`` give
a number directly. Which table applies follows the wire: ICMPv4 for IPv4
(also ``--ip_version=ipv4-mapped-ipv6``), ICMPv6 for ``--ip_version=ipv6``.

The message quotes the start of a segment the TCP under test sent, as a
router would (RFC 792: the IP header and the first 8 bytes of its data;
RFC 4443 §3: as much as fits, here the same 8 bytes): an IP header from the
TCP under test to the peer, then the TCP source and destination ports and the
sequence number, which is the script's (relative to the TCP's ISN, 0 when the
script writes no segment) made absolute, so that the kernel matches the error
to the connection (Linux ignores an ICMP error whose sequence number is
outside the unacknowledged data).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

from ...wire.checksum import internet_checksum, pseudo_header_sum
from ...wire.ip import IPv4Header, IPv6Header, build_ip
from .model import IcmpSpec

__all__ = ["ICMPV4_TYPES", "ICMPV6_TYPES", "build_icmp", "icmp_numbers", "icmp_text"]

PROTO_ICMP = 1
PROTO_ICMPV6 = 58
_PROTO_TCP = 6

_V4_UNREACHABLE = {
    "net_unreachable": 0, "host_unreachable": 1, "protocol_unreachable": 2,
    "port_unreachable": 3, "frag_needed": 4, "source_route_failed": 5, "net_unknown": 6,
    "host_unknown": 7, "source_host_isolated": 8, "net_prohibited": 9,
    "host_prohibited": 10, "net_unreachable_for_tos": 11, "host_unreachable_for_tos": 12,
    "packet_filtered": 13, "precedence_violation": 14, "precedence_cutoff": 15,
}

ICMPV4_TYPES: dict[str, tuple[int, dict[str, int]]] = {
    "echo_reply": (0, {}), "unreachable": (3, _V4_UNREACHABLE), "source_quench": (4, {}),
    "redirect": (5, {}), "echo_request": (8, {}),
    # FreeBSD's packetdrill names the two codes of RFC 792's Time Exceeded.
    "time_exceeded": (11, {"ttl_exceeded_in_transit": 0, "frag_reass_exceeded": 1}),
    "parameter_problem": (12, {}), "timestamp_request": (13, {}),
    "timestamp_reply": (14, {}), "information_request": (15, {}),
    "information_reply": (16, {}), "address_mask_request": (17, {}),
    "address_mask_reply": (18, {}),
}
"""ICMPv4 type names -> (type, {code name: code}), as packetdrill names them."""

ICMPV6_TYPES: dict[str, tuple[int, dict[str, int]]] = {
    "unreachable": (1, {"net_unreachable": 0, "no_route": 0, "admin_prohibited": 1,
                        "not_neighbour": 2, "address_unreachable": 3,
                        "port_unreachable": 4}),
    "packet_too_big": (2, {}),
    "time_exceeded": (3, {"exceeded_hop_limit": 0, "exceeded_frag_time": 1}),
    "parameter_problem": (4, {"header_field": 0, "unknown_next_header": 1,
                              "unknown_option": 2}),
    "echo_request": (128, {}), "echo_reply": (129, {}),
}
"""ICMPv6 type names -> (type, {code name: code}) (RFC 4443)."""

_FRAG_NEEDED = (3, 4)
_PACKET_TOO_BIG = (2, 0)


def _number(name: str, prefix: str) -> int | None:
    if name.startswith(prefix) and name[len(prefix):].isdigit():
        value = int(name[len(prefix):])
        return value if value < 256 else None
    return None


def icmp_numbers(spec: IcmpSpec, ipv6: bool) -> tuple[int, int]:
    """(type, code) of ``spec`` on an IPv4 (``ipv6`` False) or IPv6 wire.

    Raises:
        ValueError: a type or code name that table does not have (``"bad ICMP
            type packet_too_big for ICMPv4"``), or ``mtu`` on a message that has
            no MTU field.
    """
    table = ICMPV6_TYPES if ipv6 else ICMPV4_TYPES
    version = "ICMPv6" if ipv6 else "ICMPv4"
    icmp_type = _number(spec.icmp_type, "type_")
    codes: dict[str, int] = {}
    if icmp_type is None:
        if spec.icmp_type not in table:
            raise ValueError(f"bad ICMP type {spec.icmp_type} for {version}")
        icmp_type, codes = table[spec.icmp_type]
    code = 0
    if spec.code is not None:
        number = _number(spec.code, "code_")
        if number is None and spec.code not in codes:
            raise ValueError(f"bad ICMP code {spec.code} for {version} type {spec.icmp_type}")
        code = number if number is not None else codes[spec.code]
    if spec.mtu is not None:
        if ipv6 and (icmp_type, code) != _PACKET_TOO_BIG:
            raise ValueError("ICMPv6 MTU is only valid for packet_too_big")
        if not ipv6 and (icmp_type, code) != _FRAG_NEEDED:
            raise ValueError("ICMPv4 MTU is only valid for unreachable frag_needed")
        if not ipv6 and spec.mtu > 0xFFFF:
            raise ValueError("ICMPv4 MTU out of 16-bit range")
    return icmp_type, code


def build_icmp(
    spec: IcmpSpec,
    *,
    local: IPv4Address | IPv6Address,
    remote: IPv4Address | IPv6Address,
    local_port: int,
    remote_port: int,
    local_isn: int,
    tos: int = 0,
) -> bytes:
    """The IP packet carrying ``spec`` from the peer (``remote``) to the TCP under test.

    Args:
        spec: the parsed ICMP line.
        local, remote: the addresses of the TCP under test and of the peer (both
            IPv4: ICMPv4; both IPv6: ICMPv6).
        local_port, remote_port: the ports of the quoted segment (it went from
            local to remote).
        local_isn: the ISN of the TCP under test; the quoted sequence number is
            ``local_isn + spec.seq`` (mod 2**32).
        tos: the outer IP header's TOS byte / traffic class (the ECN bits).

    Raises:
        ValueError: as :func:`icmp_numbers`.
    """
    ipv6 = isinstance(local, IPv6Address)
    icmp_type, code = icmp_numbers(spec, ipv6)
    seq = (local_isn + spec.seq) & 0xFFFFFFFF
    quoted_tcp = struct.pack("!HHI", local_port, remote_port, seq)
    # The quoted IP header gives the length of the segment that was sent: a TCP
    # header of 20 bytes and the payload the script writes.
    sent_length = 20 + spec.length
    rest = 0
    if spec.mtu is not None:
        rest = spec.mtu if ipv6 else spec.mtu & 0xFFFF
    if spec.echo_id:
        rest |= spec.echo_id << 16
    if isinstance(local, IPv6Address) and isinstance(remote, IPv6Address):
        quoted_ip = build_ip(IPv6Header(local, remote, next_header=_PROTO_TCP), b"")
        quoted_ip = quoted_ip[:4] + struct.pack("!H", sent_length) + quoted_ip[6:]
        body = struct.pack("!BBHI", icmp_type, code, 0, rest) + quoted_ip + quoted_tcp
        initial = pseudo_header_sum(remote, local, PROTO_ICMPV6, len(body))
        checksum = internet_checksum(body, initial)
        body = body[:2] + struct.pack("!H", checksum) + body[4:]
        return build_ip(IPv6Header(remote, local, next_header=PROTO_ICMPV6,
                                   traffic_class=tos), body)
    if isinstance(local, IPv4Address) and isinstance(remote, IPv4Address):
        quoted = bytearray(build_ip(IPv4Header(local, remote, protocol=_PROTO_TCP), b""))
        struct.pack_into("!H", quoted, 2, 20 + sent_length)
        struct.pack_into("!H", quoted, 10, 0)
        struct.pack_into("!H", quoted, 10, internet_checksum(bytes(quoted)))
        body = struct.pack("!BBHI", icmp_type, code, 0, rest) + bytes(quoted) + quoted_tcp
        checksum = internet_checksum(body)
        body = body[:2] + struct.pack("!H", checksum) + body[4:]
        return build_ip(IPv4Header(remote, local, protocol=PROTO_ICMP, tos=tos,
                                   dont_fragment=False), body)
    raise ValueError("local and remote addresses of different IP versions")


def icmp_text(spec: IcmpSpec) -> str:
    """``spec`` as a script writes it, for messages: ``icmp unreachable frag_needed mtu
    1200 [1:1461(1460)]``."""
    words = ["icmp", spec.icmp_type]
    if spec.code is not None:
        words.append(spec.code)
    if spec.mtu is not None:
        words.append(f"mtu {spec.mtu}")
    if spec.echo_id:
        words.append(f"id {spec.echo_id}")
    words.append(f"[{spec.seq}:{spec.end}({spec.length})]")
    return " ".join(words)


RUN_ALL_DEFINES: dict[str, str] = {"CODE": "host_unreachable"}
"""The ICMP code names packetdrill's ``run_all.py`` defines for every run (``-D
CODE=host_unreachable``); a script's own ``--define`` or ``-D`` overrides them."""


def resolve_code(spec: IcmpSpec, defined: Mapping[str, str]) -> IcmpSpec:
    """``spec`` with a CODE written as a defined name (``CODE``) replaced by its value:
    from ``defined`` (the script's ``--define``/``-D``), else :data:`RUN_ALL_DEFINES`.

    Raises:
        ValueError: the name is defined nowhere.
    """
    code = spec.code
    if code is None or not code.isupper():
        return spec
    value = defined.get(code, RUN_ALL_DEFINES.get(code))
    if value is None:
        raise ValueError(f"ICMP code {code} is not defined (-D {code}=NAME)")
    return replace(spec, code=value)

