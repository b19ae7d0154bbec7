"""TCP flows through the simulator's shared bottleneck (the dumbbell): a NewReno
flow fills a BDP-buffered drop-tail queue; RED and CoDel keep the queue short."""

from __future__ import annotations

import pytest

from tcpstack.drivers.topology import DumbbellResult, DumbbellSpec, FlowSpec, run_dumbbell

BANDWIDTH = 10e6  # bit/s
RTT = 0.05  # seconds
BUFFER_DRAIN = 62_500 * 8 / BANDWIDTH  # 1 BDP of buffer empties in one RTT: 0.05 s


@pytest.fixture(scope="module")
def droptail() -> DumbbellResult:
    """One NewReno flow for 20 s over 10 Mbit/s, 50 ms, 1 BDP drop-tail; 5 s warm-up."""
    return run_dumbbell(DumbbellSpec(flows=(FlowSpec("newreno"),), bandwidth=BANDWIDTH,
                                     rtt=RTT, buffer_bdp=1.0, duration=20.0, warmup=5.0))


def test_one_newreno_flow_fills_a_bdp_buffered_droptail_bottleneck(
        droptail: DumbbellResult) -> None:
    # RFC 5681 halving from BDP + buffer = 2 BDP leaves cwnd >= 1 BDP: the link
    # never idles once the flow is in congestion avoidance.
    assert droptail.utilisation >= 0.95
    assert droptail.drops > 0 and droptail.flows[0].retransmissions > 0
    # Goodput: the payload share of the busy link (1448 of 1500 bytes with timestamps).
    assert droptail.flows[0].goodput_bps >= 0.9 * BANDWIDTH * 1448 / 1500
    # No packet waits longer than the full buffer takes to drain.
    assert 0 < droptail.queue_delay_mean < droptail.queue_delay_p95
    assert droptail.queue_delay_max <= BUFFER_DRAIN + 1e-9
    # The flow sees the base RTT plus (part of) the standing queue.
    rtt = droptail.flows[0].mean_rtt
    assert rtt is not None and RTT < rtt < RTT + BUFFER_DRAIN + 0.01


@pytest.mark.parametrize("queue", ["red", "codel"])
def test_aqm_keeps_the_queue_shorter_than_droptail(queue: str,
                                                   droptail: DumbbellResult) -> None:
    result = run_dumbbell(DumbbellSpec(flows=(FlowSpec("newreno"),), bandwidth=BANDWIDTH,
                                       rtt=RTT, buffer_bdp=1.0, duration=12.0, warmup=4.0,
                                       queue=queue))
    assert result.drops > 0
    assert result.queue_delay_mean < droptail.queue_delay_mean / 2
    # RED keeps its average below max_th (half the buffer: 25 ms of queue);
    # CoDel its standing queue near the 5 ms target.
    bound = BUFFER_DRAIN / 2 if queue == "red" else 0.010
    assert result.queue_delay_mean < bound
    assert result.utilisation > 0.6


def test_two_flows_share_the_bottleneck_without_exceeding_it() -> None:
    result = run_dumbbell(DumbbellSpec(flows=(FlowSpec(), FlowSpec(start=1.0)),
                                       bandwidth=BANDWIDTH, rtt=RTT, duration=10.0,
                                       warmup=3.0))
    total = sum(f.goodput_bps for f in result.flows)
    assert result.utilisation >= 0.95
    assert 0.9 * BANDWIDTH * 1448 / 1500 <= total <= BANDWIDTH
    assert min(f.goodput_bps for f in result.flows) > 0.2 * BANDWIDTH
