"""The trace of a TUN run is on one clock: the driver's monotonic clock.

DESIGN.md, "The trace": ``time`` is the driver's clock, "monotonic seconds on
TUN". A record stamped with the stack's initial 0.0 (the ``listen`` call made
before any packet told the stack the time) puts the first record hours or days
before the others on a machine that has been up that long, and breaks every
tool that reads the trace (ladder, pcap alignment, durations).

Inside a namespace the test creates (192.0.2.0/24 only, no route out), run
``tcpstack tun serve --trace FILE`` for one kernel connection and check every
record's time against the monotonic clock read around the run (CLOCK_MONOTONIC
is system-wide: the child's clock is ours).

Skipped (with the reason) without root, /dev/net/tun or ``ip``; with
``TCPSTACK_REQUIRE_TUN=1`` those conditions fail the test instead.
"""

from __future__ import annotations

import json
import time
from itertools import pairwise
from pathlib import Path

import pytest
from tun_helpers import IFNAME, OURS, PEER, Netns

pytestmark = pytest.mark.tun

PING_CLIENT = r"""
import json, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(b"ping")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    chunk = s.recv(100)
    if not chunk:
        break
    got += chunk
s.close()
print(json.dumps({"got": got.decode()}))
"""


def test_tun_trace_times_are_on_the_drivers_monotonic_clock(ns: Netns, tmp_path: Path) -> None:
    trace_path = tmp_path / "trace.jsonl"
    started = time.monotonic()
    if started < 1.0:
        pytest.skip("the monotonic clock is too close to 0 to tell a 0.0 stamp apart")
    stack = ns.start_stack(
        "serve", "--ifname", IFNAME, "--address", OURS, "--peer", PEER, "--timeout", "60",
        "--app", "echo", "--port", "7", "--count", "1", "--trace", str(trace_path),
    )
    assert ns.python(PING_CLIENT, OURS, "7") == {"got": "ping"}
    assert ns.wait_exit(stack) == 0, ns.output("stack")[1]
    ended = time.monotonic()

    records = [json.loads(line) for line in trace_path.read_text().splitlines()]
    assert records, "empty trace"
    first = records[0]
    assert (first["event"], first["data"].get("call")) == ("app", "listen"), first
    assert any(r["event"] == "state_updated" for r in records)
    # One clock: every record lies within the run, on the monotonic clock.
    off_clock = [r for r in records if not started <= r["time"] <= ended]
    assert not off_clock, (
        f"{len(off_clock)} of {len(records)} records outside the run "
        f"[{started:.3f}, {ended:.3f}] s, first: {off_clock[0]}"
    )
    for host in {r["host"] for r in records}:
        times = [r["time"] for r in records if r["host"] == host]
        assert all(a <= b for a, b in pairwise(times)), f"{host}: time goes backwards"
