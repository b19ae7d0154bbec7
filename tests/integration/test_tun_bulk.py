"""Bulk transfers between tcpstack (on a TUN device) and the Linux TCP, with slow readers.

Each test moves ``TCPSTACK_BULK_MIB`` MiB (default 64) in one direction or
both, byte-exact by SHA-256 and with a clean close, while one side reads
slowly so that a receive window closes and reopens many times:

* the kernel is a slow reader (small ``SO_RCVBUF``, long pauses between
  ``recv`` calls): its window closes (Linux never shrinks a window it has
  offered, so it advertises what its full buffer leaves, less than one MSS,
  or zero), and our stack must wait for its window update or probe;
* our stack is a slow reader (``--read-rate``: the application reads only
  every 10 ms): our window closes and the kernel must wait or probe.

The same transfers run again with seeded fault injection in both
directions (5 % loss, 3 % reordering, 2 % duplication, and 1 % corruption
for the echo), so both TCPs' loss recovery meet the other's; our stack
then uses Linux's timer profile and a 256 KiB window.

Every test runs in a namespace of its own (only ``lo`` and the TUN device,
no route out, removed afterwards); every wait is bounded. Elapsed times are
printed (``pytest -s``), never asserted on. Skipped like the other TUN
tests without root, /dev/net/tun or ``ip`` (``TCPSTACK_REQUIRE_TUN=1``
fails them instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tun_helpers import (
    IFNAME,
    KERNEL,
    OURS,
    PEER,
    Netns,
    wait_for,
)

pytestmark = pytest.mark.tun

MIB = 1 << 20
SIZE_MIB = int(os.environ.get("TCPSTACK_BULK_MIB", "64"))
"""MiB moved per direction by the clean transfers, and by the lossy one where the kernel
sends (``TCPSTACK_BULK_MIB``, default 64)."""
SIZE = SIZE_MIB * MIB

LOSSY_MIB = int(os.environ.get("TCPSTACK_BULK_LOSSY_MIB", str(SIZE_MIB)))
"""MiB moved by the lossy transfers where our stack sends (``TCPSTACK_BULK_LOSSY_MIB``,
default: the same as ``TCPSTACK_BULK_MIB``)."""
LOSSY = LOSSY_MIB * MIB

ECHO_LOSSY = min(LOSSY, 16 * MIB)
"""The lossy echo (both directions at once, plus 1 % corruption) moves 16 MiB each way:
the one-way lossy tests already move the full size in each direction, and the echo's
64 MiB took 90 s alone."""

TIME_LIMIT = 300.0
"""Upper bound (seconds) of one transfer: the stack's --timeout, the scripts' deadline."""

SLOW_RCVBUF = 64 * 1024
"""The kernel as a slow reader: its SO_RCVBUF (bytes) ..."""
SLOW_PAUSES = 16
SLOW_PAUSE = 0.1
"""... and it pauses SLOW_PAUSE seconds after every 1/SLOW_PAUSES of the data. The pause
outlasts the kernel's delayed ACK, so the kernel advertises the window its full buffer
leaves (less than one MSS) before the reader wakes up and reopens it."""

OUR_READ_RATE = "16M"
"""Our stack as a slow reader (``--read-rate``): every 10 ms at most 160 KiB."""

FAULTS = ["--loss", "0.05", "--reorder", "0.03", "--reorder-delay", "0.004", "--duplicate", "0.02"]
TUNED = ["--profile", "linux", "--recv-buffer", "262144"]
"""Our stack's settings for the lossy runs: Linux's timer profile (RTO 200 ms .. 120 s,
as the kernel on the other end uses) and a 256 KiB window."""
"""Fault injection of the lossy runs, both directions (add ``--seed``)."""


def common_args(*extra: str) -> list[str]:
    return [
        "--ifname",
        IFNAME,
        "--address",
        OURS,
        "--peer",
        PEER,
        "--timeout",
        str(TIME_LIMIT),
        "-v",
        "--no-offload",  # the plain path (MTU-sized packets); test_tun_offload.py has offload
        *extra,
    ]


def slow_kernel_args(size: int) -> list[str]:
    """RCVBUF PAUSE_EVERY PAUSE of the slow kernel readers."""
    return [str(SLOW_RCVBUF), str(max(size // SLOW_PAUSES, 64 * 1024)), str(SLOW_PAUSE)]


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; return their SHA-256 (hex)."""
    h = hashlib.sha256()
    with path.open("wb") as fp:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MIB))
            h.update(chunk)
            fp.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


# --- kernel-side scripts (run with ip netns exec; every wait bounded) ----------------

SLOW_ECHO_CLIENT = r"""
import hashlib, json, os, socket, sys, threading, time
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rcvbuf, pause_every, pause = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
limit = float(sys.argv[7])
end = time.monotonic() + limit
result = {"error": None}
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: small window
s.settimeout(30)
s.connect((host, port))
result["local"] = "%s:%d" % s.getsockname()
sent = hashlib.sha256()
def writer():
    try:
        left = size
        while left and time.monotonic() < end:
            chunk = os.urandom(min(left, 1 << 20))
            sent.update(chunk)
            s.sendall(chunk)
            left -= len(chunk)
        s.shutdown(socket.SHUT_WR)
    except OSError as exc:
        result["error"] = "writer: " + repr(exc)
th = threading.Thread(target=writer, daemon=True)
t0 = time.monotonic()
th.start()
got = hashlib.sha256()
n = 0
next_pause = pause_every
try:
    while time.monotonic() < end:
        chunk = s.recv(65536)
        if not chunk:
            result["eof"] = True
            break
        got.update(chunk)
        n += len(chunk)
        if n >= next_pause:  # a slow reader: the kernel's window closes meanwhile
            time.sleep(pause)
            next_pause += pause_every
except OSError as exc:
    result["error"] = result["error"] or "reader: " + repr(exc)
th.join(max(0.0, end - time.monotonic()))
result["elapsed"] = time.monotonic() - t0
s.close()
result.update(sent_sha=sent.hexdigest(), got_sha=got.hexdigest(), got=n)
print(json.dumps(result))
"""

SLOW_SINK_SERVER = r"""
import hashlib, json, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
rcvbuf, pause_every, pause = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
limit = float(sys.argv[6])
end = time.monotonic() + limit
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # inherited by the accepted socket
srv.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND: the address appears with the TUN
srv.bind((host, port))
srv.listen(1)
srv.settimeout(30)
result = {"error": None}
h = hashlib.sha256()
n = 0
next_pause = pause_every
try:
    conn, peer = srv.accept()
    conn.settimeout(30)
    t0 = time.monotonic()
    while time.monotonic() < end:
        chunk = conn.recv(65536)
        if not chunk:
            result["eof"] = True
            break
        h.update(chunk)
        n += len(chunk)
        if n >= next_pause:
            time.sleep(pause)
            next_pause += pause_every
    result["elapsed"] = time.monotonic() - t0
    conn.sendall(h.hexdigest().encode())  # the reply: what arrived, as we saw it
    conn.close()
except OSError as exc:
    result["error"] = repr(exc)
result.update(got=n, got_sha=h.hexdigest())
print(json.dumps(result))
"""

SOURCE_SERVER = r"""
import hashlib, json, random, socket, sys, time
host, port, size, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(int(sys.argv[5]))  # the data is repeatable: a failure can be located
end = time.monotonic() + limit
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
srv.bind((host, port))
srv.listen(1)
srv.settimeout(30)
result = {"error": None}
h = hashlib.sha256()
left = size
try:
    conn, peer = srv.accept()
    conn.settimeout(30)
    t0 = time.monotonic()
    while left and time.monotonic() < end:
        chunk = rng.randbytes(min(left, 1 << 20))
        h.update(chunk)
        conn.sendall(chunk)
        left -= len(chunk)
    result["elapsed"] = time.monotonic() - t0
    result["peer_eof"] = conn.recv(16) == b""  # the client half-closed at once
    conn.close()
except OSError as exc:
    result["error"] = repr(exc)
result.update(sent_sha=h.hexdigest(), left=left)
print(json.dumps(result))
"""

SOURCE_SEED = 20250
"""Seed of the kernel source's data (``random.Random(seed).randbytes``, 1 MiB at a time)."""


def source_data(size: int) -> Iterator[bytes]:
    """The bytes SOURCE_SERVER sends, 1 MiB at a time."""
    rng = random.Random(SOURCE_SEED)
    left = size
    while left:
        chunk = rng.randbytes(min(left, MIB))
        left -= len(chunk)
        yield chunk


def first_difference(path: Path, size: int) -> str:
    """Where the file first differs from the source's data (for the failure message)."""
    offset = 0
    with path.open("rb") as fp:
        for chunk in source_data(size):
            got = fp.read(len(chunk))
            if got != chunk:
                i = next(
                    (k for k, (a, b) in enumerate(zip(got, chunk, strict=False)) if a != b),
                    min(len(got), len(chunk)),
                )
                return f"first difference at byte {offset + i} of {size}"
            offset += len(chunk)
        extra = len(fp.read())
    return f"{extra} extra bytes at the end" if extra else "identical"


# --- checks --------------------------------------------------------------------------


def source_delivered(ns: Netns, server: subprocess.Popen[bytes], out: Path,
                     size: int) -> dict[str, Any]:
    """The kernel source ``server`` ended cleanly and ``out`` holds exactly the ``size``
    bytes it sent (then ``out`` is removed: tens of MiB need not stay in pytest's tmp
    dirs); returns the source's report."""
    assert ns.wait_exit(server, timeout=30) == 0
    result: dict[str, Any] = json.loads(ns.output("server")[0])
    assert result["error"] is None and result.get("peer_eof") is True, result
    if file_sha256(out) != result["sent_sha"]:
        pytest.fail(f"received {out.stat().st_size} bytes of {size}, not the data sent: "
                    f"{first_difference(out, size)}")
    out.unlink()
    return result


def assert_clean_kernel(ns: Netns, *, lossy: bool, allow: tuple[str, ...] = ()) -> dict[str, int]:
    """No connection of the kernel was reset, and none is left toward our stack
    (except in the states ``allow``, e.g. TIME-WAIT where the kernel closed first).

    ``OutRsts`` is not checked: a RST the kernel sends to a segment of a connection it
    has already closed is normal at the end (say its FIN went twice, a duplicate or a
    tail-loss probe, so our TIME-WAIT acknowledged it twice and the second ACK found the
    kernel's socket CLOSED). A reset during the transfer shows as ``EstabResets``.
    """
    wait_for(
        "the kernel's sockets toward tcpstack to close",
        lambda: [s for s in ns.tcp_sockets() if s[2].startswith(OURS) and s[0] not in allow] == [],
        timeout=15,
    )
    counters = ns.tcp_counters()
    assert counters["EstabResets"] == 0
    if not lossy:
        assert counters["InCsumErrors"] == 0
    return counters


def report(
    ns: Netns, what: str, size: int, elapsed: float, stats: dict[str, Any], ext: dict[str, int]
) -> None:
    """Print what happened (``pytest -s``): time, windows, retransmissions, faults."""
    faults = {d: {k: v for k, v in f.items() if v} for d, f in stats["faults"].items()}
    print(
        f"\n{what}: {size / MIB:g} MiB in {elapsed:.2f} s; tcpstack: windows closed "
        f"kernel's {stats['windows_closed_in']} / ours {stats['windows_closed_out']}, zero "
        f"windows in {stats['zero_windows_in']} / out {stats['zero_windows_out']}; kernel: "
        f"ToZeroWindowAdv {ext['TCPToZeroWindowAdv']}, WantZeroWindowAdv "
        f"{ext['TCPWantZeroWindowAdv']}, retransmits fast {ext['TCPFastRetrans']} / "
        f"timeouts {ext['TCPTimeouts']} / loss probes {ext['TCPLossProbes']}, RSTs sent "
        f"{ns.tcp_counters()['OutRsts']}; faults {json.dumps(faults)}"
    )


def kernel_window_closed(ext: dict[str, int]) -> bool:
    """The kernel's receive window closed: it advertised zero, or wanted to but could
    not shrink the window it had offered (RFC 9293 §3.8.6.2.2), so it offered what was left."""
    return ext["TCPToZeroWindowAdv"] + ext["TCPWantZeroWindowAdv"] > 0


def capture(ns: Netns, size: int, label: str = "stack") -> list[str]:
    """``--pcap`` for runs small enough to keep every packet in memory (for diagnosis)."""
    return ["--pcap", str(ns.tmp / f"{label}.pcap")] if size <= 8 * MIB else []


def check_faults(stats: dict[str, Any]) -> None:
    """Every kind of fault asked for happened, in both directions."""
    for direction in ("to-kernel", "from-kernel"):
        f = stats["faults"][direction]
        assert f["dropped"] > 0 and f["reordered"] > 0 and f["duplicated"] > 0, f
    assert stats["lost"] > 0


# --- the transfers -------------------------------------------------------------------


def kernel_client_to_echo(ns: Netns, size: int, *faults: str) -> None:
    stack = ns.start_stack(
        "serve",
        *common_args("--app", "echo", "--port", "7", "--count", "1", *faults, *capture(ns, size)),
    )
    t0 = time.monotonic()
    out = ns.python(
        SLOW_ECHO_CLIENT,
        OURS,
        "7",
        str(size),
        *slow_kernel_args(size),
        str(TIME_LIMIT),
        timeout=TIME_LIMIT + 30,
    )
    elapsed = time.monotonic() - t0
    assert out["error"] is None, out
    assert out.get("eof") is True  # recv() returned b"": our FIN after the last byte
    assert out["got"] == size
    assert out["got_sha"] == out["sent_sha"]
    assert ns.wait_exit(stack, timeout=30) == 0, ns.output("stack")[1][-3000:]
    stats = ns.stack_stats()
    assert stats["finished"] == 1 and stats["aborted"] == 0
    # The kernel client half-closed first, so its end waits in TIME-WAIT. With faults, a
    # stray copy (duplicated or reordered) of its last ACK can reach our stack after the
    # connection is CLOSED and draw a RST, which ends TIME-WAIT early (Linux applies
    # RFC 1337's hazard H1 unless tcp_rfc1337 is set): then the socket is simply gone.
    kernel_end = [s for s in ns.tcp_sockets() if s[1] == out["local"]]
    assert kernel_end == [("TIME-WAIT", out["local"], f"{OURS}:7")] or (faults and not kernel_end)
    counters = assert_clean_kernel(ns, lossy=bool(faults), allow=("TIME-WAIT",))
    ext = ns.tcp_ext_counters()
    report(ns, "kernel client -> tcpstack echo, kernel reads slowly", size, elapsed, stats, ext)
    if not faults:
        # Both windows closed and reopened: the kernel's (it reads slowly), then ours (the
        # echo app stops reading while its send buffer is full). With faults our sending
        # may be too slow to fill the kernel's buffer: then it is only reported.
        assert kernel_window_closed(ext)
        assert stats["windows_closed_in"] > 0
        assert stats["windows_closed_out"] > 0
    else:
        check_faults(stats)
        assert counters["RetransSegs"] > 0
        if "--corrupt" in faults:
            assert counters["InCsumErrors"] > 0


def stack_client(ns: Netns, tmp: Path, *extra: str, timeout: float) -> tuple[float, int]:
    t0 = time.monotonic()
    try:
        res = ns.run(
            [sys.executable, "-m", "tcpstack.cli.tun", "connect", *common_args(*extra)],
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"tcpstack connect did not exit within {timeout} s")
    elapsed = time.monotonic() - t0
    (tmp / "stack.out").write_text(res.stdout)
    (tmp / "stack.err").write_text(res.stderr)
    return elapsed, res.returncode


def stack_sends_to_slow_kernel(ns: Netns, tmp: Path, size: int, *faults: str) -> None:
    sha = random_file(tmp / "in.bin", size)
    server = ns.start(
        [
            sys.executable,
            "-c",
            SLOW_SINK_SERVER,
            KERNEL,
            "9000",
            *slow_kernel_args(size),
            str(TIME_LIMIT),
        ],
        "server",
    )
    wait_for(
        "kernel server listening",
        lambda: any(s[0] == "LISTEN" and s[1] == f"{KERNEL}:9000" for s in ns.tcp_sockets()),
    )
    elapsed, rc = stack_client(
        ns,
        tmp,
        "--to",
        f"{KERNEL}:9000",
        "--file",
        str(tmp / "in.bin"),
        "--output",
        str(tmp / "reply.txt"),
        *faults,
        *capture(ns, size),
        timeout=TIME_LIMIT + 30,
    )
    assert rc == 0, ns.output("stack")[1][-3000:]
    assert ns.wait_exit(server, timeout=30) == 0
    result = json.loads(ns.output("server")[0])
    assert result["error"] is None and result.get("eof") is True, result
    assert result["got"] == size
    assert result["got_sha"] == sha
    assert (tmp / "reply.txt").read_text() == sha  # the kernel's reply, read back by us
    (tmp / "in.bin").unlink()  # verified: do not keep tens of MiB in pytest's tmp dirs
    stats = ns.stack_stats()
    assert_clean_kernel(ns, lossy=bool(faults))
    ext = ns.tcp_ext_counters()
    report(ns, "tcpstack connect -> slow kernel server", size, elapsed, stats, ext)
    if not faults:  # with faults our sending may be too slow to fill the kernel's buffer
        assert kernel_window_closed(ext)
        assert stats["windows_closed_in"] > 0
    else:
        check_faults(stats)  # (the kernel sent only ACKs and its reply: maybe no retransmits)


def kernel_sends_to_slow_stack(ns: Netns, tmp: Path, size: int, *faults: str) -> None:
    server = ns.start(
        [
            sys.executable,
            "-c",
            SOURCE_SERVER,
            KERNEL,
            "9000",
            str(size),
            str(TIME_LIMIT),
            str(SOURCE_SEED),
        ],
        "server",
    )
    wait_for(
        "kernel server listening",
        lambda: any(s[0] == "LISTEN" and s[1] == f"{KERNEL}:9000" for s in ns.tcp_sockets()),
    )
    elapsed, rc = stack_client(
        ns,
        tmp,
        "--to",
        f"{KERNEL}:9000",
        "--file",
        "/dev/null",
        "--output",
        str(tmp / "out.bin"),
        "--read-rate",
        OUR_READ_RATE,
        *faults,
        *capture(ns, size),
        timeout=TIME_LIMIT + 30,
    )
    assert rc == 0, ns.output("stack")[1][-3000:]
    source_delivered(ns, server, tmp / "out.bin", size)
    stats = ns.stack_stats()
    counters = assert_clean_kernel(ns, lossy=bool(faults))
    ext = ns.tcp_ext_counters()
    report(ns, "kernel server -> tcpstack connect reading slowly", size, elapsed, stats, ext)
    assert stats["windows_closed_out"] > 0
    assert stats["throttled_reads"] > 0
    if faults:
        check_faults(stats)
        assert counters["RetransSegs"] > 0


# --- tests ---------------------------------------------------------------------------


def test_kernel_client_to_echo_with_slow_kernel_reader(ns: Netns) -> None:
    kernel_client_to_echo(ns, SIZE)


def test_stack_sends_to_slow_kernel_reader(ns: Netns, tmp_path: Path) -> None:
    stack_sends_to_slow_kernel(ns, tmp_path, SIZE)


def test_kernel_sends_to_slow_stack_reader(ns: Netns, tmp_path: Path) -> None:
    kernel_sends_to_slow_stack(ns, tmp_path, SIZE)


def test_kernel_client_to_echo_with_faults(ns: Netns) -> None:
    kernel_client_to_echo(ns, ECHO_LOSSY, *FAULTS, *TUNED, "--corrupt", "0.01", "--seed", "1")


def test_stack_sends_to_slow_kernel_with_faults(ns: Netns, tmp_path: Path) -> None:
    stack_sends_to_slow_kernel(ns, tmp_path, LOSSY, *FAULTS, *TUNED, "--seed", "2")


def test_kernel_sends_to_slow_stack_with_faults(ns: Netns, tmp_path: Path) -> None:
    kernel_sends_to_slow_stack(ns, tmp_path, SIZE, *FAULTS, *TUNED, "--seed", "3")
