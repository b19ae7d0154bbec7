"""The dumbbell runner: spec checks, determinism, pickling, flow timing, buffers."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from tcpstack.config import TcpConfig
from tcpstack.drivers.topology import (
    DumbbellResult,
    DumbbellSpec,
    FlowSpec,
    check_spec,
    flow_config,
    run_dumbbell,
)
from tcpstack.wire.ecn import ECT_0

ONE = (FlowSpec(),)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"flows": ()}, "at least one flow"),
        ({"flows": (FlowSpec("bogus"),)}, "flow 1: unknown algorithm 'bogus'"),
        ({"buffer_bytes": 1000}, "exactly one of buffer_bdp and buffer_bytes"),
        ({"buffer_bdp": None}, "exactly one of buffer_bdp and buffer_bytes"),
        ({"buffer_bdp": -1.0}, "buffer_bdp must be >= 0"),
        ({"queue": "fifo"}, "unknown queue 'fifo'"),
        ({"ecn_marking": True}, "ecn_marking needs"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"rtt": -0.1}, "rtt"),
        ({"loss": 1.0}, "loss"),
        ({"duration": 0.0}, "duration"),
        ({"warmup": 60.0}, "warmup"),
        ({"sample_interval": 0.0}, "sample_interval"),
        ({"flows": (FlowSpec(start=-1.0),)}, "flow 1: start"),
        ({"flows": (FlowSpec(), FlowSpec(start=2.0, stop=1.0))}, "flow 2: stop"),
        ({"flows": (FlowSpec(nbytes=0),)}, "flow 1: nbytes"),
    ],
)
def test_bad_specs_raise_one_clear_line(changes: dict[str, object], message: str) -> None:
    spec = replace(DumbbellSpec(flows=ONE), **changes)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        run_dumbbell(spec)


def test_buffer_in_bdp_multiples_or_bytes() -> None:
    assert DumbbellSpec(flows=ONE, buffer_bdp=1.5).buffer == 93_750  # 1.5 * 62,500
    assert DumbbellSpec(flows=ONE, buffer_bdp=None, buffer_bytes=3000).buffer == 3000
    check_spec(DumbbellSpec(flows=ONE, buffer_bdp=None, buffer_bytes=3000))


def test_flow_config_sizes_buffers_to_the_path_or_keeps_the_given_one() -> None:
    spec = DumbbellSpec(flows=ONE, mss=1000)
    cfg = flow_config(FlowSpec("reno"), spec)
    # 2 * (BDP 62,500 + buffer 62,500) = 250,000 bytes of receive buffer.
    assert (cfg.congestion_control, cfg.mss, cfg.recv_buffer) == ("reno", 1000, 250_000)
    given = TcpConfig(recv_buffer=30_000)
    cfg = flow_config(FlowSpec("newreno", config=given), spec)
    assert (cfg.recv_buffer, cfg.mss) == (30_000, 1000)


SHORT = DumbbellSpec(flows=(FlowSpec(), FlowSpec(start=1.0, stop=2.5)), bandwidth=2e6,
                     rtt=0.04, duration=3.0, warmup=0.5, seed=7, trace=True)


def test_same_spec_same_result_and_both_pickle() -> None:
    one, two = run_dumbbell(SHORT), run_dumbbell(SHORT)
    assert one == two
    assert pickle.loads(pickle.dumps(SHORT)) == SHORT
    back = pickle.loads(pickle.dumps(one))
    assert isinstance(back, DumbbellResult) and back == one
    assert one.trace_records and one.trace_records[0]["event"]
    other = run_dumbbell(replace(SHORT, seed=8, loss=0.02, trace=False))
    assert other.trace_records is None and other.flows != one.flows


def test_late_flow_has_no_goodput_before_it_starts_and_counts_its_own_period() -> None:
    spec = DumbbellSpec(flows=(FlowSpec(), FlowSpec(start=2.0, stop=4.0)), bandwidth=2e6,
                        rtt=0.04, duration=5.0, sample_interval=0.5)
    result = run_dumbbell(spec)
    late = result.flows[1]
    assert [t for t, _ in late.series] == pytest.approx([0.5 * (k + 1) for k in range(10)])
    assert all(bps == 0 for t, bps in late.series if t <= 2.0)
    assert all(bps > 0 for t, bps in late.series if 2.5 <= t <= 4.0)
    # Goodput over its own 2 s (start to stop), not the run's 5 s.
    assert late.goodput_bps == pytest.approx(late.delivered_bytes * 8 / 2.0)
    assert 0 < late.goodput_bps < 2e6
    # Together no more than the bottleneck carries in the run.
    delivered = sum(bps * 0.5 for f in result.flows for _, bps in f.series)
    assert delivered / 5.0 <= 2e6


def test_a_sized_flow_is_measured_until_its_last_byte() -> None:
    spec = DumbbellSpec(flows=(FlowSpec(nbytes=100_000),), bandwidth=2e6, rtt=0.04,
                        duration=3.0, sample_interval=0.5)
    flow = run_dumbbell(spec).flows[0]
    assert flow.delivered_bytes == 100_000
    # 100 kB at 2 Mbit/s takes at least 0.4 s: goodput below the rate, but over
    # the transfer's time, far above 100 kB / 3 s.
    assert 100_000 * 8 / 3.0 * 1.5 < flow.goodput_bps < 2e6
    assert sum(bps * 0.5 for _, bps in flow.series) / 8 == pytest.approx(100_000)
    assert flow.mean_rtt is not None and flow.mean_rtt >= 0.04


def test_random_loss_after_the_queue_counts_as_drops() -> None:
    spec = DumbbellSpec(flows=ONE, bandwidth=2e6, rtt=0.04, duration=2.0, loss=0.05,
                        buffer_bdp=10.0)
    result = run_dumbbell(spec)
    assert result.drops > 0 and result.flows[0].retransmissions > 0


@pytest.mark.parametrize("queue", ["red", "codel"])
def test_a_marking_queue_marks_ect_packets_and_drops_others(queue: str) -> None:
    # The senders' IP packets carry ECT(0) through TcpConfig.tos (whatever the
    # TCP does with the marks): the queue marks them where it would drop.
    ect = TcpConfig(tos=ECT_0)
    spec = DumbbellSpec(flows=(FlowSpec(config=ect),), bandwidth=2e6, rtt=0.04, duration=3.0,
                        queue=queue, ecn_marking=True)
    assert run_dumbbell(spec).ce_marks > 0
    plain = run_dumbbell(replace(spec, flows=(FlowSpec(config=TcpConfig()),)))  # ECN off
    assert plain.ce_marks == 0 and plain.drops > 0
