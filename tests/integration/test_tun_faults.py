"""The TUN driver's fault injection against the real kernel: delay, corruption, one direction.

Small transfers (well under a second of data), each in a namespace of its own (no route
out, removed afterwards); every wait is bounded. The bulk transfers with loss,
reordering and duplication are in test_tun_bulk.py.
"""

from __future__ import annotations

import statistics
import subprocess

import pytest
from test_tun import ECHO_CLIENT
from tun_helpers import (
    IFNAME,
    OURS,
    PEER,
    Netns,
)

pytestmark = pytest.mark.tun

KIB = 1024


def echo_server(ns: Netns, *faults: str) -> subprocess.Popen[bytes]:
    return ns.start_stack(
        "serve",
        "--ifname",
        IFNAME,
        "--address",
        OURS,
        "--peer",
        PEER,
        "--timeout",
        "60",
        "--app",
        "echo",
        "--port",
        "7",
        "--count",
        "1",
        "-v",
        "--no-offload",  # faults counted per MTU-sized packet; test_tun_offload.py has offload
        *faults,
    )


PING_PONG = r"""
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], 7), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for i in range(int(sys.argv[2])):
    t0 = time.monotonic()
    s.sendall(b"%03d" % i)
    got = b""
    while len(got) < 3:
        chunk = s.recv(3 - len(got))
        if not chunk:
            break
        got += chunk
    rtts.append(time.monotonic() - t0)
    assert got == b"%03d" % i, got
s.shutdown(socket.SHUT_WR)
eof = s.recv(10) == b""
s.close()
print(json.dumps({"rtts": rtts, "eof": eof}))
"""


def test_delay_and_jitter_hold_packets_both_ways(ns: Netns) -> None:
    """20 ms +- 5 ms each way: every round trip takes at least 40 ms, nothing is lost,
    nothing is reordered (jitter never reorders), and the connection closes cleanly."""
    stack = echo_server(ns, "--delay", "0.02", "--jitter", "0.005", "--seed", "4")
    out = ns.python(PING_PONG, OURS, "20", timeout=60)
    rtts = out["rtts"]
    print(f"round trips with 20 ms (+ up to 5 ms) each way: median {statistics.median(rtts):.4f} s")
    assert out["eof"] is True
    assert len(rtts) == 20
    assert min(rtts) >= 0.040
    assert ns.wait_exit(stack, timeout=30) == 0
    stats = ns.stack_stats()
    for direction in ("to-kernel", "from-kernel"):
        f = stats["faults"][direction]
        assert f["delayed"] > 0 and f["dropped"] == f["reordered"] == f["corrupted"] == 0
        assert f["delivered"] == f["offered"]  # held packets were all released
    counters = ns.tcp_counters()
    assert counters["RetransSegs"] == 0 and counters["EstabResets"] == 0


def test_corruption_is_caught_by_both_checksums(ns: Netns) -> None:
    """5 % of packets get 1-3 flipped bits: the kernel counts checksum errors, our stack
    drops them too, both retransmit, and the echo is still byte-exact."""
    stack = echo_server(ns, "--corrupt", "0.05", "--seed", "5")
    out = ns.python(ECHO_CLIENT, OURS, "7", str(256 * KIB), timeout=90)
    assert out["error"] is None and out.get("eof") is True
    assert out["got_sha"] == out["sent_sha"]
    assert ns.wait_exit(stack, timeout=60) == 0
    stats = ns.stack_stats()
    corrupted = {d: f["corrupted"] for d, f in stats["faults"].items()}
    print(f"corrupted packets: {corrupted}")
    assert corrupted["to-kernel"] > 0 and corrupted["from-kernel"] > 0
    counters = ns.tcp_counters()
    assert counters["InCsumErrors"] == corrupted["to-kernel"]
    assert counters["RetransSegs"] > 0
    assert counters["EstabResets"] == 0


def test_one_direction_only(ns: Netns) -> None:
    """--to-kernel SPEC alone: only our packets suffer; the kernel's arrive untouched."""
    stack = echo_server(ns, "--to-kernel", "loss=0.05,duplicate=0.05", "--seed", "6")
    out = ns.python(ECHO_CLIENT, OURS, "7", str(128 * KIB), timeout=90)
    assert out["error"] is None and out.get("eof") is True
    assert out["got_sha"] == out["sent_sha"]
    assert ns.wait_exit(stack, timeout=60) == 0
    stats = ns.stack_stats()
    assert set(stats["faults"]) == {"to-kernel"}
    f = stats["faults"]["to-kernel"]
    assert f["dropped"] > 0 and f["duplicated"] > 0
    assert stats["lost"] == f["dropped"]
    assert "faults to-kernel (loss=0.05,duplicate=0.05, seed 6)" in ns.output("stack")[1]
