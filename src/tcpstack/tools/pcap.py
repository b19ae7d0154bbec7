"""Classic libpcap files of raw IP packets (Wireshark, tcpdump and tshark read them).

:func:`write_pcap` writes the classic format (magic ``0xa1b2c3d4``,
microsecond timestamps, snaplen 262144) with ``LINKTYPE_RAW`` (101): each
record is one IPv4 or IPv6 packet, no link-layer header. :func:`read_pcap`
reads such files back (either byte order, micro- or nanosecond magic).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO

__all__ = ["LINKTYPE_RAW", "SNAPLEN", "read_pcap", "write_pcap"]

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
LINKTYPE_RAW = 101
SNAPLEN = 262144
_GLOBAL = struct.Struct("<IHHiIII")  # magic, major, minor, thiszone, sigfigs, snaplen, linktype
_RECORD = "IIII"  # ts_sec, ts_frac, incl_len, orig_len

PathOrFile = str | os.PathLike[str] | IO[bytes]


@contextmanager
def _open(target: PathOrFile, mode: str) -> Iterator[IO[bytes]]:
    if isinstance(target, (str, os.PathLike)):
        with open(target, mode) as fp:
            yield fp
    else:
        yield target


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
        ValueError: a time is negative or not finite.
    """
    count = 0
    with _open(fp_or_path, "wb") as fp:
        fp.write(_GLOBAL.pack(MAGIC_USEC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW))
        for time, packet in packets:
            if not (math.isfinite(time) and time >= 0):
                raise ValueError(f"packet {count}: bad time {time!r} (need seconds >= 0)")
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


def read_pcap(fp_or_path: PathOrFile) -> list[tuple[float, bytes]]:
    """Read every packet of a classic pcap file.

    Args:
        fp_or_path: a path, or a binary file object open for reading.

    Returns:
        ``(time, packet)`` pairs; ``time`` in seconds, ``packet`` the
        captured bytes (link-layer header included if the file has one).

    Raises:
        ValueError: not a classic pcap file (pcapng or other magic), or the
            file is truncated or a record length is impossible.
    """
    with _open(fp_or_path, "rb") as fp:
        data = fp.read()
    if len(data) < _GLOBAL.size:
        raise ValueError(f"not a pcap file: {len(data)} bytes, shorter than the 24-byte header")
    (magic_le,) = struct.unpack_from("<I", data, 0)
    (magic_be,) = struct.unpack_from(">I", data, 0)
    if magic_le in (MAGIC_USEC, MAGIC_NSEC):
        endian, magic = "<", magic_le
    elif magic_be in (MAGIC_USEC, MAGIC_NSEC):
        endian, magic = ">", magic_be
    elif magic_le == 0x0A0D0D0A:
        raise ValueError("pcapng files are not supported: only classic pcap")
    else:
        raise ValueError(f"not a pcap file: bad magic number 0x{magic_le:08x}")
    divisor = 1e9 if magic == MAGIC_NSEC else 1e6
    _, _, _, _, _, snaplen, _ = struct.unpack_from(endian + "IHHiIII", data, 0)
    limit = max(snaplen, SNAPLEN) if snaplen else 0xFFFFFFFF
    out: list[tuple[float, bytes]] = []
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
        out.append((sec + frac / divisor, data[pos : pos + incl]))
        pos += incl
    return out
