"""Segmentation offload on the TUN device against the Linux TCP: bulk both ways, byte-exact.

``tcpstack tun`` opens its device with a virtio-net header and checksum and
segmentation offload by default (``--no-offload`` keeps plain packets): the
kernel hands our stack coalesced segments of up to 64 KiB with a partial
checksum, and our stack (``TcpConfig(tso=True)``) sends super-segments the
kernel takes whole. Each transfer here moves seeded or random data one way,
checked by SHA-256 on the other side, with a clean close:

* tcpstack -> kernel: ``tcpstack tun connect --file`` to a kernel sink that
  answers with the SHA-256 of what it read;
* kernel -> tcpstack: a kernel source sends ``random.Random(seed)`` bytes to
  ``tcpstack tun connect --output``, whose file is hashed.

Both directions run with and without offload, and with and without the fault
injector (1 % loss and 0.2 % corruption each way, seeded): 256 MiB per
transfer each time (``TCPSTACK_OFFLOAD_MIB`` and ``TCPSTACK_PLAIN_MIB`` change
the sizes with and without offload). On a 2-core machine the whole file takes
about 85 s serially, the plain transfers 13-19 s each. Offload is checked to
be in effect (or off) from the stack's counters: super-segments read and
written, none with ``--no-offload``. Two smaller tests show the pcap holding
the packets as they crossed the device (super-segments) and the driver's
fallback when the kernel refuses the offload ioctls (software segmentation,
byte-exact too).

Every test runs in a namespace of its own (only ``lo`` and the TUN device,
no route out, removed afterwards); every wait is bounded. Elapsed times and
MB/s are printed (``pytest -s``), never asserted on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_tun import ECHO_CLIENT
from test_tun_bulk import (
    MIB,
    SLOW_SINK_SERVER,
    SOURCE_SEED,
    SOURCE_SERVER,
    random_file,
    source_delivered,
)
from tun_helpers import IFNAME, KERNEL, OURS, PEER, Netns, wait_for

pytestmark = pytest.mark.tun

OFFLOAD_MIB = int(os.environ.get("TCPSTACK_OFFLOAD_MIB", "256"))
"""MiB per transfer with offload, with and without faults (``TCPSTACK_OFFLOAD_MIB``)."""
PLAIN_MIB = int(os.environ.get("TCPSTACK_PLAIN_MIB", "256"))
"""MiB per transfer without offload, with and without faults (``TCPSTACK_PLAIN_MIB``)."""
PLAIN_FAULTS_MIB = PLAIN_MIB

TIME_LIMIT = 300.0
"""Upper bound (seconds) of one transfer: the stack's --timeout, the scripts' deadline."""

FAULTS = ["--loss", "0.01", "--corrupt", "0.002"]
"""The fault injector of the lossy runs, both directions (plus ``--seed``)."""
TUNED = ["--profile", "linux", "--recv-buffer", str(4 * MIB)]
"""Our stack's settings: Linux's timer profile (RTO 200 ms, as the kernel on the other
end) and a 4 MiB window (so the kernel can keep many 64 KiB segments in flight)."""

SINK_RCVBUF = 4 * MIB
"""SO_RCVBUF of the kernel sink (bytes; Linux caps it at twice net.core.rmem_max): a
window of hundreds of KiB, never a slow reader."""


def sink_args(size: int) -> list[str]:
    """test_tun_bulk's SLOW_SINK_SERVER as a fast reader: no pause before the end."""
    return [KERNEL, "9000", str(SINK_RCVBUF), str(size + 1), "0", str(TIME_LIMIT)]


def stack_connect(ns: Netns, *args: str) -> tuple[float, dict[str, Any]]:
    """Run ``tcpstack tun connect ARGS`` (bounded); return (seconds, its -v counters)."""
    argv = [sys.executable, "-m", "tcpstack.cli.tun", "connect", "--ifname", IFNAME,
            "--address", OURS, "--peer", PEER, "--to", f"{KERNEL}:9000",
            "--timeout", str(TIME_LIMIT), "-v", *TUNED, *args]
    t0 = time.monotonic()
    try:
        res = ns.run(argv, timeout=TIME_LIMIT + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tcpstack connect did not exit within {TIME_LIMIT + 30} s")
    elapsed = time.monotonic() - t0
    (ns.tmp / "stack.out").write_text("")
    (ns.tmp / "stack.err").write_text(res.stderr)
    assert res.returncode == 0, res.stderr[-3000:]
    return elapsed, ns.stack_stats()


def start_kernel(ns: Netns, script: str, *args: str) -> subprocess.Popen[bytes]:
    """Start a kernel-side server script and wait (bounded) until it listens."""
    proc = ns.start([sys.executable, "-c", script, *args], "server")
    wait_for(
        "kernel server listening",
        lambda: any(s[0] == "LISTEN" and s[1] == f"{KERNEL}:9000" for s in ns.tcp_sockets()),
    )
    return proc


def check_run(ns: Netns, stats: dict[str, Any], *, offload: bool, sends: bool,
              faults: bool) -> dict[str, int]:
    """Offload was (not) used as asked; the kernel saw no reset; faults happened."""
    assert stats["offload"] is offload
    assert stats["write_errors"] == 0
    if offload:
        # Our super-segments went out whole, and the kernel's came in whole.
        assert (stats["gso_out"] if sends else stats["gso_in"]) > 0, stats
        assert stats["segmented_out"] == 0
    else:
        assert stats["gso_in"] == stats["gso_out"] == stats["segmented_out"] == 0
    counters = ns.tcp_counters()
    assert counters["EstabResets"] == 0
    if faults:
        for direction in ("to-kernel", "from-kernel"):
            assert stats["faults"][direction]["dropped"] > 0, stats["faults"]
        assert stats["lost"] > 0
    else:
        assert counters["InCsumErrors"] == 0
    return counters


def report(what: str, size: int, elapsed: float, seconds: float, stats: dict[str, Any]) -> None:
    faults = {d: {k: v for k, v in f.items() if v} for d, f in stats["faults"].items()}
    print(
        f"\n{what}: {size / MIB:g} MiB in {seconds:.2f} s of transfer ({size / seconds / 1e6:.1f}"
        f" MB/s; the command {elapsed:.2f} s); packets in {stats['packets_in']} / out "
        f"{stats['packets_out']}, super-segments in {stats['gso_in']} / out {stats['gso_out']}"
        f"; faults {json.dumps(faults)}"
    )


def stack_sends(ns: Netns, tmp: Path, size: int, *, offload: bool, faults: list[str]) -> None:
    """tcpstack -> kernel: ``size`` random bytes, hashed by the kernel side."""
    sha = random_file(tmp / "in.bin", size)
    server = start_kernel(ns, SLOW_SINK_SERVER, *sink_args(size))
    elapsed, stats = stack_connect(
        ns, "--file", str(tmp / "in.bin"), "--output", str(tmp / "reply.txt"),
        *([] if offload else ["--no-offload"]), *faults,
    )
    (tmp / "in.bin").unlink()  # do not keep hundreds of MiB in pytest's tmp dirs
    assert ns.wait_exit(server, timeout=30) == 0
    result = json.loads(ns.output("server")[0])
    assert result["error"] is None and result.get("eof") is True, result
    assert result["got"] == size
    assert result["got_sha"] == sha
    assert (tmp / "reply.txt").read_text() == sha  # the kernel's reply, read back by us
    counters = check_run(ns, stats, offload=offload, sends=True, faults=bool(faults))
    if faults:
        # Corrupted packets of ours reached the kernel: it verified their checksums.
        assert stats["faults"]["to-kernel"]["corrupted"] > 0
        assert counters["InCsumErrors"] > 0
    report(f"tcpstack -> kernel, offload {offload}, faults {bool(faults)}", size, elapsed,
           result["elapsed"], stats)


def kernel_sends(ns: Netns, tmp: Path, size: int, *, offload: bool, faults: list[str]) -> None:
    """kernel -> tcpstack: ``size`` seeded bytes, hashed from our output file."""
    server = start_kernel(ns, SOURCE_SERVER, KERNEL, "9000", str(size), str(TIME_LIMIT),
                          str(SOURCE_SEED))
    elapsed, stats = stack_connect(
        ns, "--file", "/dev/null", "--output", str(tmp / "out.bin"),
        *([] if offload else ["--no-offload"]), *faults,
    )
    result = source_delivered(ns, server, tmp / "out.bin", size)
    check_run(ns, stats, offload=offload, sends=False, faults=bool(faults))
    if faults:
        # The kernel's packets we corrupted were caught by our checksum check
        # (the device completed the checksum before the fault injector ran).
        assert stats["faults"]["from-kernel"]["corrupted"] > 0
    report(f"kernel -> tcpstack, offload {offload}, faults {bool(faults)}", size, elapsed,
           result["elapsed"], stats)


CASES = [
    pytest.param(True, [], OFFLOAD_MIB, id="offload"),
    pytest.param(True, [*FAULTS, "--seed", "11"], OFFLOAD_MIB, id="offload-faults"),
    pytest.param(False, [], PLAIN_MIB, id="plain"),
    pytest.param(False, [*FAULTS, "--seed", "12"], PLAIN_FAULTS_MIB, id="plain-faults"),
]


@pytest.mark.parametrize(("offload", "faults", "mib"), CASES)
def test_stack_sends_to_kernel(ns: Netns, tmp_path: Path, offload: bool, faults: list[str],
                               mib: int) -> None:
    stack_sends(ns, tmp_path, mib * MIB, offload=offload, faults=faults)


@pytest.mark.parametrize(("offload", "faults", "mib"), CASES)
def test_kernel_sends_to_stack(ns: Netns, tmp_path: Path, offload: bool, faults: list[str],
                               mib: int) -> None:
    kernel_sends(ns, tmp_path, mib * MIB, offload=offload, faults=faults)


# --- what the pcap and the trace show; the fallback ------------------------------------


def test_pcap_and_trace_show_super_segments_both_ways(ns: Netns) -> None:
    """An echo of 4 MiB: the pcap holds packets larger than the MTU (1500) from each
    side, as they crossed the device, and the trace segments of more than one MSS;
    ``--no-offload`` would show none (see check_run)."""
    from tcpstack.tools.pcap import read_packets

    pcap, trace = ns.tmp / "echo.pcap", ns.tmp / "echo.jsonl"
    stack = ns.start_stack(
        "serve", "--ifname", IFNAME, "--address", OURS, "--peer", PEER, "--timeout", "60",
        "--app", "echo", "--port", "7", "--count", "1", "-v", *TUNED,
        "--pcap", str(pcap), "--trace", str(trace),
    )
    out = ns.python(ECHO_CLIENT, OURS, "7", str(4 * MIB), timeout=90)
    assert out["error"] is None and out.get("eof") is True
    assert out["got_sha"] == out["sent_sha"]
    assert ns.wait_exit(stack, timeout=60) == 0
    stats = ns.stack_stats()
    assert stats["offload"] is True and stats["gso_in"] > 0 and stats["gso_out"] > 0
    ours = bytes(int(x) for x in OURS.split("."))
    packets = [p.data for p in read_packets(pcap)]
    sent = [len(p) for p in packets if p[12:16] == ours]
    received = [len(p) for p in packets if p[16:20] == ours]
    print(f"\nlargest packets: sent {max(sent)}, received {max(received)} bytes")
    assert sum(n > 1500 for n in sent) == stats["gso_out"]
    assert sum(n > 1500 for n in received) == stats["gso_in"]
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    lengths = {
        kind: max(r["data"].get("len", 0) for r in records if r["event"] == kind)
        for kind in ("segment_sent", "segment_received")
    }
    assert lengths["segment_sent"] > 1460 and lengths["segment_received"] > 1460, lengths


REFUSE_OFFLOAD = r"""
import errno, fcntl, sys
from tcpstack.cli import tun as cli_tun
from tcpstack.drivers import tun

real_ioctl = fcntl.ioctl
def ioctl(fd, request, *args):
    if request == tun.TUNSETOFFLOAD:  # as a kernel without TSO support would answer
        raise OSError(errno.EINVAL, "Invalid argument")
    return real_ioctl(fd, request, *args)
tun.fcntl.ioctl = ioctl
sys.exit(cli_tun.main(sys.argv[1:]))
"""


def test_refused_offload_falls_back_to_plain_packets(ns: Netns, tmp_path: Path) -> None:
    """A kernel that refuses TUNSETOFFLOAD: one line says so, the stack's super-segments
    (tso is on by default) are cut into MTU-sized packets by the driver, byte-exact."""
    size = 8 * MIB
    sha = random_file(tmp_path / "in.bin", size)
    server = start_kernel(ns, SLOW_SINK_SERVER, *sink_args(size))
    res = ns.run(
        [sys.executable, "-c", REFUSE_OFFLOAD, "connect", "--ifname", IFNAME, "--address",
         OURS, "--peer", PEER, "--to", f"{KERNEL}:9000", "--timeout", "120", "-v", *TUNED,
         "--file", str(tmp_path / "in.bin"), "--output", "/dev/null"],
        timeout=150,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (
        "tcpstack tun connect: offload refused by the kernel (TUNSETOFFLOAD: Invalid "
        "argument): plain packets, super-segments cut by the driver"
    ) in res.stderr.splitlines()
    assert ns.wait_exit(server, timeout=30) == 0
    result = json.loads(ns.output("server")[0])
    assert result["got"] == size and result["got_sha"] == sha
    stats = json.loads("{" + res.stderr.split(": stats {", 1)[1].splitlines()[0])
    assert stats["offload"] is False
    assert stats["segmented_out"] > 0 and stats["gso_out"] == stats["gso_in"] == 0
    assert ns.tcp_counters()["InCsumErrors"] == 0  # the driver's checksums are right
