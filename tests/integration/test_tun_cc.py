"""Every congestion control algorithm against the Linux TCP over TUN, through a lossy, slow path.

Issue 13's check: "Over TUN against the kernel, a bulk transfer with 20 ms delay
and 1 % loss from the fault injector completes byte-exact with each algorithm."
For each algorithm ``tcpstack tun connect --cc NAME`` sends a file to a kernel
sink through the TUN driver's fault injector (20 ms each way, 1 % loss in both
directions, seeded), the kernel hashes what it read and sends the hash back;
the transfer must be byte-exact, the close clean, retransmissions must have
happened, and the trace must show the algorithm at work (its name in
every ``metrics_updated`` record).

Each run is in a namespace of its own (no route out, removed afterwards); every
wait is bounded; elapsed times are printed, never asserted on.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from test_tun_bulk import SLOW_SINK_SERVER
from tun_helpers import IFNAME, KERNEL, OURS, PEER, Netns, wait_for

from tcpstack.congestion import ALGORITHMS

pytestmark = pytest.mark.tun

SIZE = 2 << 20
"""Bytes per transfer: 2 MiB, about 1,400 segments, so 1 % loss costs about 14 of them
each way, enough to exercise every algorithm's loss response several times."""

TIME_LIMIT = 120.0
"""Seconds one transfer may take at most (the stack's --timeout, the sink's deadline)."""

ALGORITHM_NAMES = sorted({cls.name for cls in ALGORITHMS.values()})
"""Each algorithm once, by its own name (aliases such as ``reno`` left out)."""



@pytest.mark.parametrize("algorithm", ALGORITHM_NAMES)
def test_bulk_transfer_with_delay_and_loss_is_byte_exact(
    ns: Netns, tmp_path: Path, algorithm: str
) -> None:
    data = os.urandom(SIZE)
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "in.bin").write_bytes(data)
    # The bulk tests' kernel sink, as a fast reader: a 1 MiB buffer, no pauses.
    server = ns.start([sys.executable, "-c", SLOW_SINK_SERVER, KERNEL, "9000", str(1 << 20),
                       str(2 * SIZE), "0", str(TIME_LIMIT)], "server")
    wait_for(
        "kernel sink listening",
        lambda: any(s[0] == "LISTEN" and s[1] == f"{KERNEL}:9000" for s in ns.tcp_sockets()),
    )
    trace = tmp_path / "trace.jsonl"
    res = ns.run(
        [
            sys.executable, "-m", "tcpstack.cli.tun", "connect",
            "--ifname", IFNAME, "--address", OURS, "--peer", PEER,
            "--timeout", str(TIME_LIMIT), "-v", "--no-offload",
            "--profile", "linux", "--recv-buffer", "262144",
            "--cc", algorithm,
            "--delay", "0.02", "--loss", "0.01", "--seed", "13",
            "--to", f"{KERNEL}:9000",
            "--file", str(tmp_path / "in.bin"),
            "--output", str(tmp_path / "reply.txt"),
            "--trace", str(trace),
        ],
        timeout=TIME_LIMIT + 30,
    )
    (tmp_path / "stack.err").write_text(res.stderr)
    assert res.returncode == 0, res.stderr[-3000:]
    assert ns.wait_exit(server, timeout=30) == 0
    result = json.loads(ns.output("server")[0])
    assert result["error"] is None and result.get("eof") is True, result
    assert result["got"] == SIZE
    assert result["got_sha"] == sha
    assert (tmp_path / "reply.txt").read_text() == sha  # the kernel's hash, read back by us

    records = [json.loads(line) for line in trace.read_text().splitlines()]
    ours = [r for r in records if r["conn"].startswith(f"{OURS}:")]
    sent = [r for r in ours if r["event"] == "segment_sent" and r["data"]["len"] > 0]
    seqs = [r["data"]["seq"] for r in sent]
    retransmitted = len(seqs) - len(set(seqs))
    assert retransmitted > 0, "1 % loss each way but no data segment was sent twice"
    metrics = [r["data"] for r in ours if r["event"] == "metrics_updated"]
    assert metrics, "no metrics_updated records"
    names = {m.get("congestion_control") for m in metrics}
    assert names == {ALGORITHMS[algorithm].name}, names
    print(f"\n{algorithm}: {SIZE >> 20} MiB over 20 ms each way with 1 % loss in "
          f"{result['elapsed']:.2f} s, {retransmitted} data segments retransmitted, "
          f"{len(metrics)} metrics_updated records")
