"""tcpstack.tools.pcap: classic pcap and pcapng of raw IP, checked against tshark and scapy."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tcpstack.tools.pcap import (
    LINKTYPE_RAW,
    SNAPLEN,
    CapturedPacket,
    read_packets,
    read_pcap,
    write_pcap,
    write_pcapng,
)

# -- hand-built IPv4/TCP packets ---------------------------------------------


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


_FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10}


def _ipv4_tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: list[str],
    payload: bytes = b"",
    options: bytes = b"",
) -> bytes:
    """A valid IPv4 packet carrying one TCP segment, both checksums correct."""
    saddr = bytes(int(x) for x in src.split("."))
    daddr = bytes(int(x) for x in dst.split("."))
    assert len(options) % 4 == 0
    offset = (20 + len(options)) // 4
    bits = sum(_FLAG_BITS[f] for f in flags)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, bits, 65535, 0, 0)
    tcp += options + payload
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 6, len(tcp))
    csum = _checksum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    total = 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, saddr, daddr)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + tcp


def _handshake() -> list[tuple[float, bytes]]:
    mss = struct.pack("!BBH", 2, 4, 1460)
    c, s = ("192.0.2.1", 40000), ("192.0.2.2", 80)
    return [
        (0.0, _ipv4_tcp(c[0], s[0], c[1], s[1], 1000, 0, ["SYN"], options=mss)),
        (0.010, _ipv4_tcp(s[0], c[0], s[1], c[1], 5000, 1001, ["SYN", "ACK"], options=mss)),
        (0.020, _ipv4_tcp(c[0], s[0], c[1], s[1], 1001, 5001, ["PSH", "ACK"], b"hello")),
    ]


def test_checksum_helper_verifies_to_zero() -> None:
    pkt = _handshake()[2][1]
    assert _checksum(pkt[:20]) == 0


# -- format --------------------------------------------------------------------


def test_round_trip_through_a_path(tmp_path: Path) -> None:
    packets = [(0.0, b"\x45abc"), (1.5, b""), (240.000001, bytes(range(256)) * 3)]
    path = tmp_path / "t.pcap"
    assert write_pcap(path, packets) == 3
    got = read_pcap(path)
    assert [p for _, p in got] == [p for _, p in packets]
    for (t_got, _), (t_want, _) in zip(got, packets, strict=True):
        assert t_got == pytest.approx(t_want, abs=1e-6)


def test_round_trip_through_a_file_object_and_str_path(tmp_path: Path) -> None:
    buf = io.BytesIO()
    assert write_pcap(buf, iter([(0.25, b"x")])) == 1
    buf.seek(0)
    assert read_pcap(buf) == [(0.25, b"x")]
    path = str(tmp_path / "s.pcap")
    write_pcap(path, [])
    assert read_pcap(path) == []


def test_global_header_is_classic_microsecond_raw() -> None:
    buf = io.BytesIO()
    write_pcap(buf, [(3.000002, b"\x45\x00")])
    raw = buf.getvalue()
    magic, major, minor, zone, sigfigs, snaplen, link = struct.unpack_from("<IHHiIII", raw)
    assert (magic, major, minor, zone, sigfigs) == (0xA1B2C3D4, 2, 4, 0, 0)
    assert snaplen == SNAPLEN == 262144
    assert link == LINKTYPE_RAW == 101
    sec, usec, incl, orig = struct.unpack_from("<IIII", raw, 24)
    assert (sec, usec, incl, orig) == (3, 2, 2, 2)


def test_microsecond_rounding_carries_into_seconds() -> None:
    buf = io.BytesIO()
    write_pcap(buf, [(1.9999999, b"")])
    sec, usec = struct.unpack_from("<II", buf.getvalue(), 24)
    assert (sec, usec) == (2, 0)


def test_reads_big_endian_and_nanosecond_files() -> None:
    hdr = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101)
    rec = struct.pack(">IIII", 7, 500_000_000, 3, 3) + b"abc"
    assert read_pcap(io.BytesIO(hdr + rec)) == [(7.5, b"abc")]


def test_negative_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="time"):
        write_pcap(io.BytesIO(), [(-1.0, b"")])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than"),
        (b"\x0a\x0d\x0d\x0a" + bytes(28), "byte-order magic"),
        (b"GIF89a" + bytes(30), "magic"),
    ],
)
def test_bad_files_raise_clear_value_errors(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_pcap(io.BytesIO(data))


def test_truncated_record_raises() -> None:
    buf = io.BytesIO()
    write_pcap(buf, [(0.0, b"0123456789")])
    with pytest.raises(ValueError, match="truncated"):
        read_pcap(io.BytesIO(buf.getvalue()[:-3]))
    with pytest.raises(ValueError, match="truncated"):
        read_pcap(io.BytesIO(buf.getvalue()[:30]))


# -- tshark agrees -----------------------------------------------------------------


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_parses_packets_with_good_checksums(tmp_path: Path) -> None:
    path = tmp_path / "hs.pcap"
    assert write_pcap(path, _handshake()) == 3
    proc = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(path),
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.relative_sequence_numbers:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "tcp.flags.str",
            "-e",
            "tcp.checksum.status",
            "-e",
            "ip.checksum.status",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.len",
            "-e",
            "frame.time_relative",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip()]
    assert len(rows) == 3, proc.stdout
    flags = [r[0] for r in rows]
    assert "S" in flags[0] and "A" not in flags[0]
    assert "S" in flags[1] and "A" in flags[1]
    assert "P" in flags[2] and "A" in flags[2] and "S" not in flags[2]
    # Field output prints the enum: 0 Bad, 1 Good, 2 Unverified (tshark 4.0; -V says "Good").
    assert [r[1] for r in rows] == ["1", "1", "1"], proc.stdout
    assert [r[2] for r in rows] == ["1", "1", "1"], proc.stdout
    assert [r[3] for r in rows] == ["0", "0", "1"]
    assert rows[2][4] == "5"
    assert float(rows[1][5]) == pytest.approx(0.010, abs=1e-6)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_flags_a_bad_checksum(tmp_path: Path) -> None:
    t, pkt = _handshake()[0]
    bad = bytearray(pkt)
    bad[36] ^= 0xFF  # corrupt the TCP checksum field (IP header 20 + offset 16)
    path = tmp_path / "bad.pcap"
    write_pcap(path, [(t, bytes(bad))])
    proc = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(path),
            "-o",
            "tcp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "tcp.checksum.status",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"  # Bad


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_verbose_output_says_good(tmp_path: Path) -> None:
    path = tmp_path / "hs.pcap"
    write_pcap(path, _handshake())
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-V"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("[Checksum Status: Good]") == 3


# -- pcapng ------------------------------------------------------------------------


def _blocks(raw: bytes) -> list[tuple[int, bytes]]:
    """``(type, body)`` of each block of a little-endian pcapng file, lengths checked."""
    out = []
    pos = 0
    while pos < len(raw):
        kind, length = struct.unpack_from("<II", raw, pos)
        assert length % 4 == 0 and struct.unpack_from("<I", raw, pos + length - 4)[0] == length
        out.append((kind, raw[pos + 8 : pos + length - 4]))
        pos += length
    assert pos == len(raw)
    return out


def _options(body: bytes) -> list[tuple[int, bytes]]:
    opts = []
    pos = 0
    while pos < len(body):
        code, length = struct.unpack_from("<HH", body, pos)
        if code == 0:
            break
        opts.append((code, body[pos + 4 : pos + 4 + length]))
        pos += 4 + length + (-length % 4)
    return opts


def test_pcapng_blocks_name_the_tool_and_carry_comments() -> None:
    buf = io.BytesIO()
    n = write_pcapng(buf, [(1.5, b"\x45abc"), (240.000000001, b"\x45")], ["lost; 丢失", None],
                     section_comment="a run", interface="sim", description="the simulator")
    assert n == 2
    blocks = _blocks(buf.getvalue())
    assert [kind for kind, _ in blocks] == [0x0A0D0D0A, 1, 6, 6]
    shb = blocks[0][1]
    assert struct.unpack_from("<IHHq", shb) == (0x1A2B3C4D, 1, 0, -1)
    assert _options(shb[16:]) == [(1, b"a run"), (4, b"tcpstack 0.2.0")]
    idb = blocks[1][1]
    assert struct.unpack_from("<HHI", idb) == (LINKTYPE_RAW, 0, SNAPLEN)
    assert _options(idb[8:]) == [(2, b"sim"), (3, b"the simulator"), (9, b"\x09")]
    first, second = blocks[2][1], blocks[3][1]
    iface, hi, lo, incl, orig = struct.unpack_from("<IIIII", first)
    assert (iface, (hi << 32) | lo, incl, orig) == (0, 1_500_000_000, 4, 4)
    assert first[20:24] == b"\x45abc"
    assert _options(first[24:]) == [(1, "lost; 丢失".encode())]
    _, hi, lo, incl, _ = struct.unpack_from("<IIIII", second)
    assert ((hi << 32) | lo, incl) == (240_000_000_001, 1)
    assert second[20:24] == b"\x45\0\0\0" and _options(second[24:]) == []


def test_pcapng_round_trip_with_comments(tmp_path: Path) -> None:
    packets = [(0.0, b"\x45abc"), (1.25, b""), (3.000000007, bytes(range(256)) * 3)]
    path = tmp_path / "t.pcapng"
    assert write_pcapng(path, packets, ["", "zero bytes", "x" * 70_000]) == 3
    got = read_packets(path)
    assert [(p.time, p.data) for p in got] == packets
    assert [p.comments for p in got] == [(), ("zero bytes",), ("x" * 65535,)]
    assert read_pcap(path) == packets
    assert all(p.linktype == LINKTYPE_RAW for p in got)


def test_pcapng_cuts_long_packets_and_keeps_their_length() -> None:
    buf = io.BytesIO()
    write_pcapng(buf, [(0.0, bytes(SNAPLEN + 10))])
    (_, body) = _blocks(buf.getvalue())[2]
    assert struct.unpack_from("<II", body, 12) == (SNAPLEN, SNAPLEN + 10)
    assert len(read_pcap(io.BytesIO(buf.getvalue()))[0][1]) == SNAPLEN


def _be_block(kind: int, body: bytes) -> bytes:
    return struct.pack(">II", kind, 12 + len(body)) + body + struct.pack(">I", 12 + len(body))


def test_reads_big_endian_pcapng_with_microseconds_and_offset() -> None:
    shb = _be_block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
    # No if_tsresol: microseconds; if_tsoffset 100 s; an unknown block in between is skipped.
    idb = _be_block(1, struct.pack(">HHI", 101, 0, 0) + struct.pack(">HHq", 14, 8, 100)
                    + struct.pack(">HH", 0, 0))
    nrb = _be_block(4, struct.pack(">HH", 0, 0))
    epb = _be_block(6, struct.pack(">IIIII", 0, 0, 2_500_000, 3, 3) + b"abc\0"
                    + struct.pack(">HH", 1, 2) + b"hi\0\0" + struct.pack(">HH", 0, 0))
    spb = _be_block(3, struct.pack(">I", 2) + b"xy\0\0")
    got = read_packets(io.BytesIO(shb + idb + nrb + epb + spb))
    assert got == [CapturedPacket(102.5, b"abc", ("hi",)), CapturedPacket(0.0, b"xy")]


@pytest.mark.parametrize(
    ("cut", "message"),
    [(lambda raw: raw[:-2], "truncated"), (lambda raw: raw[:-4] + b"\xff\0\0\0", "lengths")],
)
def test_bad_pcapng_raises_clear_value_errors(cut: object, message: str) -> None:
    buf = io.BytesIO()
    write_pcapng(buf, [(0.0, b"0123456789")], ["c"])
    raw = cut(buf.getvalue())  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        read_packets(io.BytesIO(raw))


def test_pcapng_rejects_a_packet_of_an_undescribed_interface() -> None:
    buf = io.BytesIO()
    write_pcapng(buf, [(0.0, b"x")])
    blocks = _blocks(buf.getvalue())
    shb = buf.getvalue()[: 12 + len(blocks[0][1])]
    epb = buf.getvalue()[-(12 + len(blocks[2][1])) :]
    with pytest.raises(ValueError, match="interface"):
        read_packets(io.BytesIO(shb + epb))


def test_pcapng_negative_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="time"):
        write_pcapng(io.BytesIO(), [(float("nan"), b"")])


def _tshark(path: Path, *fields: str) -> list[list[str]]:
    args = ["tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE",
            "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [line.split("|") for line in proc.stdout.splitlines()]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_pcapng_comments_and_checksums(tmp_path: Path) -> None:
    path = tmp_path / "hs.pcapng"
    write_pcapng(path, _handshake(), [None, "lost in the network [lost-in-network]", "中文 ok"])
    rows = _tshark(path, "frame.comment", "tcp.checksum.status", "frame.time_relative")
    assert [r[0] for r in rows] == ["", "lost in the network [lost-in-network]", "中文 ok"]
    assert [r[1] for r in rows] == ["1", "1", "1"]
    assert float(rows[1][2]) == pytest.approx(0.010, abs=1e-9)
    if shutil.which("capinfos"):  # Debian's tshark brings it
        info = subprocess.run(["capinfos", str(path)], capture_output=True, text=True,
                              timeout=60, check=True).stdout
        assert "pcapng" in info and "Capture application: tcpstack" in info


def test_scapy_reads_pcapng_packets_and_comments(tmp_path: Path) -> None:
    from scapy.all import TCP, rdpcap

    path = tmp_path / "hs.pcapng"
    write_pcapng(path, _handshake(), ["first", None, "third"])
    packets = rdpcap(str(path))
    assert len(packets) == 3 and all(TCP in p for p in packets)
    assert [p.comment for p in packets] == [b"first", None, b"third"]
    assert [int(p[TCP].seq) for p in packets] == [1000, 5000, 1001]
