"""ECN through a CE-marking bottleneck (issue 13, "Done means"): the same goodput, no loss.

One NewReno flow for 20 virtual seconds over 10 Mbit/s and 50 ms RTT through a
CoDel queue (RFC 8289) that marks ECT packets CE instead of dropping them
(RFC 3168 §5). With ECN negotiated (RFC 3168 §6.1.1) the sender halves cwnd on
the echo (§6.1.2) as it would on a loss, so the goodput is the same, but no
packet is lost and none is retransmitted. Without ECN the same queue drops.

The buffer is two BDPs: CoDel signals only after a packet has waited more than
its 5 ms target for a whole 100 ms interval, and the first slow start
overflows a one-BDP buffer before that (measured: 28 drops with ECN at one BDP,
all in the first second; 43 without), which is tail overflow, not AQM.
"""

from __future__ import annotations

import pytest

from tcpstack.drivers.topology import DumbbellResult, DumbbellSpec, FlowSpec, run_dumbbell

BANDWIDTH = 10e6  # bit/s
RTT = 0.05  # seconds


def run(ecn: bool) -> DumbbellResult:
    return run_dumbbell(DumbbellSpec(flows=(FlowSpec("newreno"),), bandwidth=BANDWIDTH, rtt=RTT,
                                     buffer_bdp=2.0, queue="codel", ecn_marking=ecn,
                                     duration=20.0, warmup=5.0))


@pytest.fixture(scope="module")
def results() -> tuple[DumbbellResult, DumbbellResult]:
    return run(False), run(True)


def test_marking_replaces_loss(results: tuple[DumbbellResult, DumbbellResult]) -> None:
    dropping, marking = results
    assert dropping.drops > 0 and dropping.flows[0].retransmissions > 0
    assert dropping.ce_marks == 0
    assert marking.ce_marks > 0
    assert marking.drops == 0
    assert marking.flows[0].retransmissions == 0


def test_the_same_goodput(results: tuple[DumbbellResult, DumbbellResult]) -> None:
    dropping, marking = results
    assert marking.flows[0].goodput_bps == pytest.approx(dropping.flows[0].goodput_bps, rel=0.02)
    # CoDel keeps the standing queue near its target either way.
    assert marking.queue_delay_mean < 0.010
