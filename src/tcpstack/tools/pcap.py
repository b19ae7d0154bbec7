"""Capture files of raw IP packets that Wireshark, tcpdump, tshark and scapy read.

- :func:`write_pcapng` writes **pcapng** (the format Wireshark saves by
  default): a Section Header Block naming the tool, one Interface
  Description Block with ``LINKTYPE_RAW`` (101) and nanosecond timestamps,
  and one Enhanced Packet Block per packet, with an optional comment
  (``opt_comment``) that Wireshark shows in the packet list and tshark
  prints as ``frame.comment``. ``tcpstack demo --pcap`` uses it to say which
  packets were lost in the network or dropped by TCP, and why
  (:mod:`tcpstack.tools.fates`).
- :func:`write_pcap` writes the classic libpcap format (magic ``0xa1b2c3d4``,
  microsecond timestamps, snaplen 262144, ``LINKTYPE_RAW``), for drivers
  whose packets carry no comments (the TUN and asyncio drivers).
- :func:`read_packets` reads both formats back, comments included;
  :func:`read_pcap` returns only ``(time, packet)`` pairs.

Formats: the classic format of pcap-savefile(5) and pcapng,
draft-ietf-opsawg-pcapng (sections 4.1 SHB, 4.2 IDB, 4.3 EPB, 4.4 SPB).
Every record is one IPv4 or IPv6 packet, no link-layer header.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from tcpstack import __version__

__all__ = [
    "LINKTYPE_RAW",
    "SNAPLEN",
    "CapturedPacket",
    "read_packets",
    "read_pcap",
    "write_pcap",
    "write_pcapng",
]

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
LINKTYPE_RAW = 101
SNAPLEN = 262144
_GLOBAL = struct.Struct("<IHHiIII")  # magic, major, minor, thiszone, sigfigs, snaplen, linktype
_RECORD = "IIII"  # ts_sec, ts_frac, incl_len, orig_len

# pcapng block types and option codes.
SHB = 0x0A0D0D0A
IDB = 0x00000001
SPB = 0x00000003
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_USERAPPL = 4
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
IF_TSOFFSET = 14

PathOrFile = str | os.PathLike[str] | IO[bytes]


@dataclass(frozen=True)
class CapturedPacket:
    """One packet read from a capture file.

    Attributes:
        time: seconds (the file's timestamp, any interface offset added).
        data: the captured bytes (the link-layer header too if the file has one).
        comments: the packet's ``opt_comment`` strings (pcapng), in file order.
        linktype: the link type of the packet's interface (101: raw IP).
    """

    time: float
    data: bytes
    comments: tuple[str, ...] = ()
    linktype: int = LINKTYPE_RAW


@contextmanager
def _open(target: PathOrFile, mode: str) -> Iterator[IO[bytes]]:
    if isinstance(target, (str, os.PathLike)):
        with open(target, mode) as fp:
            yield fp
    else:
        yield target


def _check_time(count: int, time: float) -> None:
    if not (math.isfinite(time) and time >= 0):
        raise ValueError(f"packet {count}: bad time {time!r} (need seconds >= 0)")


def write_pcap(fp_or_path: PathOrFile, packets: Iterable[tuple[float, bytes]]) -> int:
    """Write ``packets`` to a classic pcap file with link type RAW (101).

    Args:
        fp_or_path: a path, or a binary file object open for writing.
        packets: ``(time, ip_packet)`` pairs; ``time`` in seconds (>= 0, e.g.
            the simulator's virtual time), ``ip_packet`` the raw IPv4/IPv6
            bytes. Packets longer than the snaplen (262144 bytes) are cut,
            their original length kept.

    Returns:
        The number of packets written.

    Raises:
        ValueError: a time is negative or not finite, or too large for the format.
    """
    count = 0
    with _open(fp_or_path, "wb") as fp:
        fp.write(_GLOBAL.pack(MAGIC_USEC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW))
        for time, packet in packets:
            _check_time(count, time)
            usec_total = round(time * 1_000_000)
            sec, usec = divmod(usec_total, 1_000_000)
            if sec > 0xFFFFFFFF:
                raise ValueError(f"packet {count}: time {time!r} s does not fit in pcap")
            data = bytes(packet)
            incl = data[:SNAPLEN]
            fp.write(struct.pack("<" + _RECORD, sec, usec, len(incl), len(data)))
            fp.write(incl)
            count += 1
    return count


# -- pcapng --------------------------------------------------------------------


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"pcapng option {code}: {len(value)} bytes, more than 65535")
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(items: Iterable[tuple[int, bytes]]) -> bytes:
    body = b"".join(_option(code, value) for code, value in items)
    return body + struct.pack("<HH", OPT_ENDOFOPT, 0) if body else b""


def _text(value: str) -> bytes:
    """A UTF-8 option value, cut (on a character boundary) to fit 65535 bytes."""
    data = value.encode("utf-8")
    if len(data) > 0xFFFF:
        data = data[:0xFFFF].decode("utf-8", "ignore").encode("utf-8")
    return data


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def write_pcapng(
    fp_or_path: PathOrFile,
    packets: Iterable[tuple[float, bytes]],
    comments: Sequence[str | None] = (),
    *,
    section_comment: str | None = None,
    interface: str = "tcpstack",
    description: str | None = None,
) -> int:
    """Write ``packets`` to a pcapng file: raw IP, nanosecond timestamps, packet comments.

    Args:
        fp_or_path: a path, or a binary file object open for writing.
        packets: ``(time, ip_packet)`` pairs; ``time`` in seconds (>= 0),
            ``ip_packet`` the raw IPv4/IPv6 bytes (cut at the snaplen,
            262144 bytes, their original length kept).
        comments: the comment of each packet, by position (``None`` or ``""``:
            none; shorter than ``packets``: the rest have none). Wireshark
            shows it; tshark prints it as ``frame.comment``.
        section_comment: a comment on the whole file (the Section Header).
        interface: the interface's name (``if_name``).
        description: the interface's description (``if_description``).

    Returns:
        The number of packets written.

    Raises:
        ValueError: a time is negative, not finite or beyond the year 2554.
    """
    shb_opts = [(SHB_USERAPPL, _text(f"tcpstack {__version__}"))]
    if section_comment:
        shb_opts.insert(0, (OPT_COMMENT, _text(section_comment)))
    idb_opts = [(IF_NAME, _text(interface))]
    if description:
        idb_opts.append((IF_DESCRIPTION, _text(description)))
    idb_opts.append((IF_TSRESOL, b"\x09"))  # 10^-9 s
    count = 0
    with _open(fp_or_path, "wb") as fp:
        # Section length -1: not given (the file may be written as a stream).
        fp.write(_block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
                        + _options(shb_opts)))
        fp.write(_block(IDB, struct.pack("<HHI", LINKTYPE_RAW, 0, SNAPLEN) + _options(idb_opts)))
        for time, packet in packets:
            _check_time(count, time)
            nsec = round(time * 1_000_000_000)
            if nsec >= 1 << 64:
                raise ValueError(f"packet {count}: time {time!r} s does not fit in pcapng")
            data = bytes(packet)
            incl = data[:SNAPLEN]
            comment = comments[count] if count < len(comments) else None
            opts = _options([(OPT_COMMENT, _text(comment))] if comment else [])
            head = struct.pack("<IIIII", 0, nsec >> 32, nsec & 0xFFFFFFFF, len(incl), len(data))
            fp.write(_block(EPB, head + _pad(incl) + opts))
            count += 1
    return count


# -- reading -------------------------------------------------------------------


def read_pcap(fp_or_path: PathOrFile) -> list[tuple[float, bytes]]:
    """Every packet of a classic pcap or a pcapng file, as ``(time, packet)`` pairs.

    See :func:`read_packets` (same arguments and errors).
    """
    return [(p.time, p.data) for p in read_packets(fp_or_path)]


def read_packets(fp_or_path: PathOrFile) -> list[CapturedPacket]:
    """Every packet of a classic pcap or a pcapng file, with its comments.

    Args:
        fp_or_path: a path, or a binary file object open for reading.

    Returns:
        The packets in file order; times in seconds.

    Raises:
        ValueError: neither format, or the file is truncated or a length is
            impossible (the message says where).
    """
    with _open(fp_or_path, "rb") as fp:
        data = fp.read()
    if len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == SHB:
        return _read_pcapng(data)
    return _read_classic(data)


def _read_classic(data: bytes) -> list[CapturedPacket]:
    if len(data) < _GLOBAL.size:
        raise ValueError(f"not a pcap file: {len(data)} bytes, shorter than the 24-byte header")
    (magic_le,) = struct.unpack_from("<I", data, 0)
    (magic_be,) = struct.unpack_from(">I", data, 0)
    if magic_le in (MAGIC_USEC, MAGIC_NSEC):
        endian, magic = "<", magic_le
    elif magic_be in (MAGIC_USEC, MAGIC_NSEC):
        endian, magic = ">", magic_be
    else:
        raise ValueError(f"not a pcap or pcapng file: bad magic number 0x{magic_le:08x}")
    divisor = 1e9 if magic == MAGIC_NSEC else 1e6
    _, _, _, _, _, snaplen, linktype = struct.unpack_from(endian + "IHHiIII", data, 0)
    limit = max(snaplen, SNAPLEN) if snaplen else 0xFFFFFFFF
    out: list[CapturedPacket] = []
    rec = struct.Struct(endian + _RECORD)
    pos = _GLOBAL.size
    while pos < len(data):
        n = len(out)
        if pos + rec.size > len(data):
            raise ValueError(f"truncated pcap: record {n} header cut at byte {pos}")
        sec, frac, incl, _orig = rec.unpack_from(data, pos)
        pos += rec.size
        if incl > limit:
            raise ValueError(f"bad pcap: record {n} claims {incl} bytes (snaplen {snaplen})")
        if pos + incl > len(data):
            left = len(data) - pos
            raise ValueError(f"truncated pcap: record {n} needs {incl} bytes, {left} left")
        out.append(CapturedPacket(sec + frac / divisor, data[pos : pos + incl],
                                  linktype=linktype & 0x0FFFFFFF))
        pos += incl
    return out


@dataclass
class _Interface:
    linktype: int
    units: float = 1e6  # timestamp units per second (if_tsresol; default microseconds)
    offset: float = 0.0  # seconds (if_tsoffset)


def _read_options(data: bytes, pos: int, end: int, endian: str) -> Iterator[tuple[int, bytes]]:
    """The ``(code, value)`` options of a block between ``pos`` and ``end``."""
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", data, pos)
        pos += 4
        if code == OPT_ENDOFOPT:
            return
        if pos + length > end:
            raise ValueError(f"bad pcapng: option {code} at byte {pos - 4} overruns its block")
        yield code, data[pos : pos + length]
        pos += length + (-length % 4)


def _read_pcapng(data: bytes) -> list[CapturedPacket]:
    out: list[CapturedPacket] = []
    interfaces: list[_Interface] = []
    endian = "<"
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"truncated pcapng: block header cut at byte {pos}")
        (kind,) = struct.unpack_from(endian + "I", data, pos)
        if kind == SHB:
            (bom,) = struct.unpack_from("<I", data, pos + 8)
            if bom == BYTE_ORDER_MAGIC:
                endian = "<"
            elif bom == struct.unpack(">I", struct.pack("<I", BYTE_ORDER_MAGIC))[0]:
                endian = ">"
            else:
                raise ValueError(f"bad pcapng: byte-order magic 0x{bom:08x} at byte {pos + 8}")
            interfaces = []  # a new section starts its own interfaces
        (length,) = struct.unpack_from(endian + "I", data, pos + 4)
        if length < 12 or length % 4 or pos + length > len(data):
            raise ValueError(f"bad or truncated pcapng: block at byte {pos} claims {length} bytes")
        (trailer,) = struct.unpack_from(endian + "I", data, pos + length - 4)
        if trailer != length:
            raise ValueError(f"bad pcapng: block at byte {pos}: lengths {length} and {trailer}")
        body, end = pos + 8, pos + length - 4
        if kind == IDB:
            interfaces.append(_read_interface(data, body, end, endian))
        elif kind == EPB:
            out.append(_read_epb(data, body, end, endian, interfaces, pos))
        elif kind == SPB:
            if not interfaces:
                raise ValueError(f"bad pcapng: packet at byte {pos} before any interface")
            (orig,) = struct.unpack_from(endian + "I", data, body)
            incl = min(orig, end - body - 4)
            out.append(CapturedPacket(0.0, data[body + 4 : body + 4 + incl],
                                      linktype=interfaces[0].linktype))
        pos += length
    return out


def _read_interface(data: bytes, body: int, end: int, endian: str) -> _Interface:
    linktype, _, _ = struct.unpack_from(endian + "HHI", data, body)
    iface = _Interface(linktype)
    for code, value in _read_options(data, body + 8, end, endian):
        if code == IF_TSRESOL and value:
            r = value[0]
            iface.units = float(2 ** (r & 0x7F)) if r & 0x80 else float(10**r)
        elif code == IF_TSOFFSET and len(value) == 8:
            iface.offset = float(struct.unpack(endian + "q", value)[0])
    return iface


def _read_epb(
    data: bytes, body: int, end: int, endian: str, interfaces: list[_Interface], pos: int
) -> CapturedPacket:
    if body + 20 > end:
        raise ValueError(f"bad pcapng: packet block at byte {pos} is too short")
    iface_id, hi, lo, incl, _orig = struct.unpack_from(endian + "IIIII", data, body)
    if iface_id >= len(interfaces):
        raise ValueError(f"bad pcapng: packet at byte {pos} names interface {iface_id}, "
                         f"{len(interfaces)} described")
    start = body + 20
    if start + incl > end:
        raise ValueError(f"bad pcapng: packet at byte {pos} claims {incl} bytes")
    iface = interfaces[iface_id]
    comments = tuple(
        value.decode("utf-8", "replace")
        for code, value in _read_options(data, start + incl + (-incl % 4), end, endian)
        if code == OPT_COMMENT
    )
    time = ((hi << 32) | lo) / iface.units + iface.offset
    return CapturedPacket(time, data[start : start + incl], comments, iface.linktype)
