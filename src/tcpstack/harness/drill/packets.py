"""Parsing a packet line: ``< S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 7>``.

packetdrill's grammar (``tcp_packet_spec``): direction, optional IP
information in brackets (``[ect0]``, ``(tos 0x10)``), flags, ``start:end(length)``,
then ``ack N``, ``win N``, ``urg N`` in this order, each optional, then the
options in ``<...>``. Tokens may be spaced freely (``1:1001 (1000)``,
``< mss 1460 , nop >``). drill adds ``*`` wildcards on outbound packets.

An inbound ICMP error (``< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]``)
is read by :func:`parse_icmp` into an
:class:`~tcpstack.harness.drill.model.IcmpSpec`.

Constructs drill does not run raise
:class:`~tcpstack.harness.drill.model.DrillUnsupported` with a stable name:
UDP, outbound ICMP and encapsulated packets, IP header fields other than ECN
(``(tos 0x10)``, ``flowlabel``, ``ttl``), explicit ports,
AccECN and MD5 (``md5``) options, packet fuzzing ``{...}``.

TCP Fast Open options (RFC 7413) are parsed as packetdrill writes them:
``FO`` (a cookie request: kind 34, length 2), ``FO abcd1234`` (a cookie in
hex: length 2 + its bytes), ``FOEXP`` / ``FOEXP abcd1234`` (the experimental
form: kind 254, length 4 + the cookie's bytes, magic 0xF989 first) and a
cookie written as a name (``FO TFO_COOKIE``), resolved at run time. As in
packetdrill, a cookie needs an even number of hex digits and may be of any
length that fits in the option space (scripts send invalid ones on purpose);
a name counts as :data:`NAMED_COOKIE_BYTES` bytes when the option space is
checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from .icmp import ICMPV4_TYPES, ICMPV6_TYPES
from .model import DrillSyntaxError, IcmpSpec, PacketSpec, TcpOptionSpec

__all__ = ["FASTOPEN_EXP_MAGIC", "NAMED_COOKIE_BYTES", "options_length", "parse_icmp",
           "parse_packet"]

Fail = Callable[[str], DrillSyntaxError]
"""``fail(message)``: a DrillSyntaxError for the line being parsed."""
Unsupported = Callable[[str, str], DrillSyntaxError]
"""``unsupported(construct, detail)``: a DrillUnsupported for the line being parsed."""

_OPTION_SIZE = {"mss": 4, "sackOK": 2, "nop": 1, "eol": 1, "wscale": 3, "TS": 10}
_FLAG_LETTERS = "FSRP.UEW"
_FO_BASE = {"FO": 2, "FOEXP": 4}
"""Bytes of a Fast Open option without its cookie: kind and length (and the magic)."""
FASTOPEN_EXP_MAGIC = 0xF989
"""The magic number after kind 254 and the length in an ``FOEXP`` option (RFC 6994)."""
NAMED_COOKIE_BYTES = 8
"""Size assumed for a cookie written as a name (``FO TFO_COOKIE``): Linux's cookies
are 8 bytes (``TCP_FASTOPEN_COOKIE_SIZE``)."""
_MAX_OPTION_BYTES = 40
_U32 = 1 << 32

_NOT_TCP = {
    "udp": "UDP packets", "icmp": "ICMP packets", "ipv4": "IP encapsulation",
    "ipv6": "IP encapsulation", "gre": "GRE encapsulation", "grev0": "GRE encapsulation",
    "mpls": "MPLS encapsulation", "raw": "raw IP packets", "encap": "PSP encapsulation",
}
_SEQ = re.compile(r"(\*|\d+)\s*:\s*(\*|\d+)\s*\(\s*(\*|\d+)\s*\)|\*(?=\s|$)")
_KEYWORD = re.compile(r"(ack|win|urg)\s+(\*|\d+)(?=\s|<|$)")
_ECN_WORDS = {"ect0", "ect1", "ect01", "ce", "noecn"}


def parse_packet(text: str, fail: Fail, unsupported: Unsupported) -> PacketSpec:
    """Parse the packet part of a line (from ``<`` or ``>``).

    Raises:
        DrillUnsupported: valid packetdrill drill does not run (see the module).
        DrillSyntaxError: not a valid packet line.
    """
    direction: Literal["<", ">"] = "<" if text[0] == "<" else ">"
    rest = text[1:].lstrip()
    first = rest.split(None, 1)[0] if rest else ""
    word = first.rstrip(":,").lower()
    if word in _NOT_TCP:
        raise unsupported(_NOT_TCP[word], first)
    ecn: Literal["noecn", "ect0", "ect1", "ce", "ect01"] | None = None
    if first[:1] in "[(":
        close = rest.find("]" if first[0] == "[" else ")")
        if close < 0:
            raise fail(f"missing '{']' if first[0] == '[' else ')'}' after {first!r}")
        inside = rest[1:close].strip()
        if inside in _ECN_WORDS:
            ecn = inside  # type: ignore[assignment]
            if inside == "ect01" and direction == "<":
                raise fail("[ect01] can only be used with outbound packets")
        else:
            raise unsupported("IP header fields", rest[:close + 1])
        rest = rest[close + 1:].lstrip()
        first = rest.split(None, 1)[0] if rest else ""
    if re.match(r"\d+\s*>\s*\d+", rest):
        raise unsupported("explicit ports", rest.split(None, 1)[0])
    match = re.match(r"(-|[A-Za-z]*\.?)(?=\s|$)", rest)
    if match is None or not match.group(1):
        if re.match(r"[A-Za-z]*\.\d|[A-Za-z]+\d", rest):
            raise unsupported("AccECN", first)
        raise fail(f"expected TCP flags after '{direction}', got {first!r}")
    flags = "" if match.group(1) == "-" else match.group(1)
    for letter in flags:
        if letter not in _FLAG_LETTERS:
            if letter == "A":
                raise unsupported("AccECN", f"flag {letter!r}")
            raise fail(f"invalid TCP flag {letter!r} (known: {' '.join(_FLAG_LETTERS)})")
    rest = rest[match.end():].lstrip()

    seq_match = _SEQ.match(rest)
    if seq_match is None:
        raise fail(f"expected 'start:end(length)' after the flags, got {rest[:20]!r}")
    seq = end = length = None
    if seq_match.group(0) != "*":
        seq = _int_or_star(seq_match.group(1), 32, "start sequence number", fail)
        end = _int_or_star(seq_match.group(2), 32, "end sequence number", fail)
        length = _int_or_star(seq_match.group(3), 16, "payload length", fail)
        if seq is not None and end is not None and length is not None and (
            end != (seq + length) % _U32
        ):
            raise fail(f"inconsistent sequence numbers and payload size: {seq}:{end}({length})")
        if seq is not None and end is not None and length is None:
            length = (end - seq) % _U32
            if length > 0xFFFF:
                raise fail("payload length out of range")
    rest = rest[seq_match.end():].lstrip()

    values: dict[str, int | None] = {}
    wildcards: set[str] = set()
    order = ["ack", "win", "urg"]
    while (kw := _KEYWORD.match(rest)) is not None:
        name, raw = kw.group(1), kw.group(2)
        if name in values or name in wildcards:
            raise fail(f"'{name}' given twice")
        if any(k in values or k in wildcards for k in order[order.index(name) + 1:]):
            raise fail("write 'ack', 'win' and 'urg' in this order")
        if raw == "*":
            if name == "urg":
                raise fail("'urg *' is not supported")
            wildcards.add(name)
        else:
            values[name] = _int_or_star(raw, 32 if name == "ack" else 16, name, fail)
        rest = rest[kw.end():].lstrip()

    options: tuple[TcpOptionSpec, ...] | None = None
    options_wildcard = False
    if rest.startswith("<"):
        close = rest.find(">")
        if close < 0:
            raise fail("TCP options: missing '>'")
        body = rest[1:close].strip()
        rest = rest[close + 1:].strip()
        if body == "...":
            options_wildcard = True
        else:
            options = _parse_options(body, fail, unsupported)
    else:
        options = ()
    if rest:
        if rest.startswith("{"):
            raise unsupported("packet fuzzing", rest)
        word = rest.split(None, 1)[0]
        raise fail(f"unexpected {word!r} in a packet line")

    if direction == "<":
        if options_wildcard:
            raise fail("<...> for TCP options can only be used with outbound packets")
        if seq is None or end is None or length is None or wildcards:
            raise fail("'*' wildcards can only be used in outbound packets")
        if "win" not in values:
            raise fail("window must be specified for inbound packets")
    if options is not None:
        size = options_length(options)
        if size > _MAX_OPTION_BYTES:
            raise fail(f"TCP options too long: {size} bytes (at most {_MAX_OPTION_BYTES})")
        if size % 4:
            raise fail(f"TCP options are not padded to a multiple of 4 bytes ({size} bytes); "
                       "add nop or eol")
    return PacketSpec(
        direction=direction, flags=flags, seq=seq, end=end, length=length,
        ack=values.get("ack"), win=values.get("win"), urg=values.get("urg"),
        options=options, options_wildcard=options_wildcard, ecn=ecn,
    )


_ICMP_LINE = re.compile(r"[<>]\s*(?:\[\s*(\w+)\s*\]\s*)?icmp(?=\s|$)", re.IGNORECASE)
_ICMP_FIELDS = re.compile(
    r"(?P<type>[A-Za-z_]\w*)(?:\s+(?!mtu\b|id\b)(?P<code>[A-Za-z_]\w*))?"
    r"(?:\s+mtu\s+(?P<mtu>\d+))?(?:\s+id\s+(?P<id>\d+))?"
    r"(?:\s*\[\s*(?P<quoted>[^\]]*)\])?\s*$"
)


def parse_icmp(text: str, fail: Fail, unsupported: Unsupported) -> IcmpSpec | None:
    """Parse an ICMP packet line (from ``<``), or None when ``text`` is not one.

    packetdrill's ``icmp_packet_spec``: ``< [ect0] icmp TYPE [CODE] [mtu N] [id N]
    [[start:end(len)]]``. TYPE and CODE are names of packetdrill's tables (see
    :mod:`~tcpstack.harness.drill.icmp`) or ``type_N``/``code_N``; which table
    applies depends on the IP version, known when the script runs, so a name is
    accepted here when either table has it. A CODE in capitals (``CODE``) is a name
    the run defines (``-D CODE=host_unreachable``), resolved when the script runs.

    Raises:
        DrillUnsupported: an outbound ICMP packet, or one quoting a UDP or raw
            packet (``[udp (100)]``, ``[raw (100)]``): drill injects ICMP errors
            about its TCP connection only.
        DrillSyntaxError: a malformed ICMP line, an unknown type or code name, an
            out-of-range value.
    """
    head = _ICMP_LINE.match(text)
    if head is None:
        return None
    if text[0] == ">":
        raise unsupported("outbound ICMP packets", text[head.start():head.end()].strip())
    ecn = head.group(1)
    if ecn is not None and ecn not in _ECN_WORDS:
        raise unsupported("IP header fields", f"[{ecn}]")
    if ecn == "ect01":
        raise fail("[ect01] can only be used with outbound packets")
    rest = text[head.end():].strip()
    fields = _ICMP_FIELDS.match(rest)
    if fields is None:
        raise fail(f"expected 'icmp TYPE [CODE] [mtu N] [id N] [[start:end(len)]]', "
                   f"got {('icmp ' + rest).strip()!r}")
    icmp_type, code = fields.group("type"), fields.group("code")
    tables = [t for t in (ICMPV4_TYPES, ICMPV6_TYPES) if icmp_type in t]
    if not tables and not re.fullmatch(r"type_\d+", icmp_type):
        raise fail(f"bad ICMP type {icmp_type!r} (known: "
                   f"{', '.join(sorted(set(ICMPV4_TYPES) | set(ICMPV6_TYPES)))}, type_N)")
    if code is not None and not re.fullmatch(r"code_\d+|[A-Z][A-Z0-9_]*", code) and not any(
        code in table[icmp_type][1] for table in tables
    ):
        known = sorted({c for table in tables for c in table[icmp_type][1]})
        raise fail(f"bad ICMP code {code!r} for type {icmp_type}"
                   + (f" (known: {', '.join(known)}, code_N)" if known else " (code_N)"))
    for what, prefix, name in (("type", "type_", icmp_type), ("code", "code_", code)):
        if name is not None and name.startswith(prefix) and name[len(prefix):].isdigit() \
                and int(name[len(prefix):]) > 255:
            raise fail(f"bad ICMP {what} {name}: at most 255")
    mtu = None if fields.group("mtu") is None else _ranged(fields.group("mtu"), 32, "MTU",
                                                            fail)
    echo_id = 0 if fields.group("id") is None else _ranged(fields.group("id"), 16, "ICMP id",
                                                          fail)
    seq = end = length = 0
    quoted = fields.group("quoted")
    if quoted is not None:
        if re.match(r"(udp|raw)\b", quoted.strip(), re.IGNORECASE):
            raise unsupported("ICMP quoting UDP or raw data", f"[{quoted.strip()}]")
        seq_match = _SEQ.fullmatch(quoted.strip())
        if seq_match is None or "*" in quoted:
            raise fail(f"expected '[start:end(length)]' in the ICMP packet, got [{quoted}]")
        seq = _ranged(seq_match.group(1), 32, "start sequence number", fail)
        end = _ranged(seq_match.group(2), 32, "end sequence number", fail)
        length = _ranged(seq_match.group(3), 16, "payload length", fail)
        if end != (seq + length) % _U32:
            raise fail(f"inconsistent sequence numbers and payload size: {seq}:{end}({length})")
    return IcmpSpec(direction="<", icmp_type=icmp_type, code=code, mtu=mtu, echo_id=echo_id,
                    seq=seq, end=end, length=length,
                    ecn=ecn)  # type: ignore[arg-type]


def _int_or_star(raw: str, bits: int, what: str, fail: Fail) -> int | None:
    if raw == "*":
        return None
    return _ranged(raw, bits, what, fail)


def _ranged(raw: str, bits: int, what: str, fail: Fail) -> int:
    value = int(raw)
    if value >= 1 << bits:
        raise fail(f"{what} {value} out of range (at most {(1 << bits) - 1})")
    return value


_UNSUPPORTED_OPTIONS = {"md5": "TCP MD5 option", "ECN": "AccECN"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX = re.compile(r"[0-9A-Fa-f]*")


def _fast_open_option(name: str, args: list[str], fail: Fail) -> TcpOptionSpec:
    """``FO``, ``FO abcd1234``, ``FOEXP``, ``FOEXP TFO_COOKIE`` (packetdrill's
    ``new_tcp_fast_open_option``)."""
    kind: Literal["FO", "FOEXP"] = "FO" if name == "FO" else "FOEXP"
    if not args:
        return TcpOptionSpec(kind)
    if len(args) > 1:
        raise fail(f"TCP option {name}: expected one cookie, got {' '.join(args)!r}")
    cookie = args[0]
    if _HEX.fullmatch(cookie):
        if len(cookie) % 2:
            raise fail(f"TCP fast open cookie {cookie!r} has an odd number of digits")
        most = _MAX_OPTION_BYTES - _FO_BASE[kind]
        if len(cookie) // 2 > most:
            raise fail(f"TCP fast open cookie of {len(cookie) // 2} bytes exceeds the maximum "
                       f"of {most} bytes")
        return TcpOptionSpec(kind, tuple(bytes.fromhex(cookie)))
    if _NAME.fullmatch(cookie):
        return TcpOptionSpec(kind, name=cookie)
    raise fail(f"TCP fast open cookie {cookie!r} is not a valid hex string")


def _parse_options(body: str, fail: Fail, unsupported: Unsupported
                   ) -> tuple[TcpOptionSpec, ...]:
    if not body:
        raise fail("empty TCP option list '<>'")
    result: list[TcpOptionSpec] = []
    for item in body.split(","):
        words = item.split()
        if not words:
            raise fail("empty TCP option in the list")
        name, args = words[0], words[1:]
        if name in _UNSUPPORTED_OPTIONS:
            raise unsupported(_UNSUPPORTED_OPTIONS[name], f"option {item.strip()!r}")
        if name in _FO_BASE:
            result.append(_fast_open_option(name, args, fail))
        elif name in ("nop", "eol", "sackOK") and not args:
            result.append(TcpOptionSpec(name))  # type: ignore[arg-type]
        elif name == "mss" and len(args) == 1 and args[0].isdigit():
            result.append(TcpOptionSpec("mss", (_ranged(args[0], 16, "mss", fail),)))
        elif name == "wscale" and len(args) == 1 and args[0].isdigit():
            result.append(TcpOptionSpec("wscale", (_ranged(args[0], 8, "wscale", fail),)))
        elif (
            name == "TS" and len(args) == 4 and args[0] == "val" and args[2] == "ecr"
            and args[1].isdigit() and args[3].isdigit()
        ):
            val = _ranged(args[1], 32, "TS val", fail)
            ecr = _ranged(args[3], 32, "TS ecr", fail)
            result.append(TcpOptionSpec("TS", (val, ecr)))
        elif name == "sack" and args:
            edges: list[int] = []
            for block in re.findall(r"\S+\s*:\s*\S+|\S+", " ".join(args)):
                m = re.fullmatch(r"(\d+)\s*:\s*(\d+)", block)
                if m is None:
                    raise fail(f"SACK block {block!r}: expected 'left:right'")
                edges += [_ranged(m.group(1), 32, "SACK edge", fail),
                          _ranged(m.group(2), 32, "SACK edge", fail)]
            if len(edges) > 8:
                raise fail("at most 4 SACK blocks fit in the option space")
            result.append(TcpOptionSpec("sack", tuple(edges)))
        elif name in ("nop", "eol", "sackOK", "mss", "wscale", "TS", "sack"):
            raise fail(f"TCP option {item.strip()!r}: bad arguments")
        else:
            raise fail(f"unknown TCP option {name!r} (packetdrill knows nop, eol, mss, "
                       "wscale, sackOK, sack, TS, md5, FO, FOEXP, ECN)")
    return tuple(result)


def options_length(options: tuple[TcpOptionSpec, ...]) -> int:
    """Bytes the options take on the wire (without padding); a Fast Open cookie
    written as a name counts :data:`NAMED_COOKIE_BYTES`."""
    return sum(_option_length(o) for o in options)


def _option_length(option: TcpOptionSpec) -> int:
    if option.kind == "sack":
        return 2 + 4 * len(option.values)
    if option.kind in _FO_BASE:
        cookie = NAMED_COOKIE_BYTES if option.name is not None else len(option.values)
        return _FO_BASE[option.kind] + cookie
    return _OPTION_SIZE[option.kind]
