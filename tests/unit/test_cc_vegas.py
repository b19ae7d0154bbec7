"""Vegas (Brakmo & Peterson 1995; Linux alpha = 2, beta = 4, gamma = 1) against
hand-computed values. MSS = 1000 bytes; BaseRTT 100 ms in every test.

diff = (cwnd / BaseRTT - cwnd / RTT) * BaseRTT = cwnd * (RTT - BaseRTT) / RTT segments.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpstack.congestion import AckSample, NewReno
from tcpstack.congestion.vegas import Vegas

MSS = 1000


def ack(now: float, rtt: float | None, *, round_start: bool = False, acked: int = MSS) -> AckSample:
    return AckSample(now, acked, rtt=rtt, round_start=round_start)


def three_acks(cc: Vegas, now: float, first_rtt: float, rtt: float) -> None:
    """A round-starting ACK (RTT ``first_rtt``) and two more (``rtt``), one segment each."""
    cc.on_ack(ack(now, first_rtt, round_start=True))
    cc.on_ack(ack(now + 0.01, rtt))
    cc.on_ack(ack(now + 0.02, rtt))


def test_slow_start_doubles_every_other_round_and_exits_on_gamma() -> None:
    cc = Vegas(MSS)
    assert cc.cwnd == 4000
    # Round boundary with 1 sample: too few, the next round is Reno's: +1 MSS per ACK.
    three_acks(cc, 0.0, 0.1, 0.1)
    assert cc.cwnd == 7000
    # Round end with 3 samples, RTT = BaseRTT: diff = 0 <= gamma; growth
    # alternates: this round holds cwnd.
    three_acks(cc, 0.1, 0.1, 0.1)
    assert cc.diff == 0.0
    assert cc.cwnd == 7000
    # Next round end (diff 0 again): a growth round, +1 MSS per ACK.
    three_acks(cc, 0.2, 0.1, 0.15)
    assert cc.cwnd == 10_000
    # Round end, min RTT 150 ms: diff = 10 * (0.15 - 0.1) / 0.15 = 3.33 > gamma:
    # cwnd = min(cwnd, target + 1) with target = 10 * 0.1 / 0.15 = 6.667
    # segments: 7,666 bytes; ssthresh = cwnd - 1 MSS = 6,666: avoidance.
    cc.on_ack(ack(0.3, 0.15, round_start=True))
    assert cc.diff == pytest.approx(10 / 3)
    assert (cc.cwnd, cc.ssthresh) == (7666, 6666)
    assert cc.phase == "avoidance"


def avoidance_round(rtt: float) -> Vegas:
    """cwnd 20 segments in avoidance; one round with BaseRTT 100 ms, then one at ``rtt``."""
    cc = Vegas(MSS)
    cc.cwnd, cc.ssthresh = 20 * MSS, 10 * MSS
    three_acks(cc, 0.0, 0.1, rtt)  # 1 sample, then Reno: 2,000 of 20,000 bytes, no growth
    cc.on_ack(ack(0.1, rtt, round_start=True))  # 3 samples, min = rtt: Vegas decides
    return cc


@pytest.mark.parametrize(("rtt", "diff", "cwnd", "ssthresh"), [
    (0.100, 0.0, 21_000, 10_000),     # diff 0 < alpha: +1 segment
    (0.110, 1.818, 21_000, 10_000),   # 20 * 0.010 / 0.110 = 1.818 < alpha = 2
    (0.112, 2.143, 20_000, 10_000),   # 20 * 0.012 / 0.112 = 2.143: hold
    (0.125, 4.0, 20_000, 10_000),     # 20 * 0.025 / 0.125 = 4.0: not above beta: hold
    (0.130, 4.615, 19_000, 10_000),   # 20 * 0.030 / 0.130 = 4.615 > beta: -1 segment
])
def test_avoidance_keeps_diff_between_alpha_and_beta(rtt: float, diff: float, cwnd: int,
                                                     ssthresh: int) -> None:
    cc = avoidance_round(rtt)
    assert cc.diff == pytest.approx(diff, abs=1e-3)
    assert (cc.cwnd, cc.ssthresh) == (cwnd, ssthresh)


def test_decrease_keeps_ssthresh_below_cwnd() -> None:
    cc = Vegas(MSS)
    cc.cwnd, cc.ssthresh = 20 * MSS, 19 * MSS
    three_acks(cc, 0.0, 0.1, 0.2)
    cc.on_ack(ack(0.1, 0.2, round_start=True))  # diff = 20 * 0.1 / 0.2 = 10 > beta
    assert (cc.cwnd, cc.ssthresh) == (19_000, 18_000)  # ssthresh = min(19000, cwnd - MSS)
    assert not cc.in_slow_start


def test_slow_start_exit_floor_is_two_segments() -> None:
    cc = Vegas(MSS)
    three_acks(cc, 0.0, 0.1, 1.0)  # BaseRTT 100 ms; a Reno round: 7,000
    cc.on_ack(ack(1.0, 1.0, round_start=True))
    # diff = 7 * 0.9 / 1.0 = 6.3 > gamma; target + 1 = 7 * 0.1 / 1.0 + 1 = 1.7
    # segments, below the floor of 2 segments; ssthresh = cwnd - 1 MSS.
    assert cc.diff == pytest.approx(6.3)
    assert (cc.cwnd, cc.ssthresh) == (2 * MSS, MSS)


def test_loss_is_reno() -> None:
    cc = Vegas(MSS)
    cc.cwnd = 20 * MSS
    cc.on_enter_recovery(20 * MSS, sack=True)
    assert (cc.ssthresh, cc.cwnd) == (10 * MSS, 10 * MSS)  # RFC 5681 §3.2 eq. 4
    cc.on_timeout(20 * MSS)
    assert (cc.ssthresh, cc.cwnd) == (10 * MSS, MSS)


def test_without_rtt_samples_it_is_newreno() -> None:
    vegas, reno = Vegas(MSS), NewReno(MSS)
    for i in range(300):
        sample = ack(0.01 * i, None, round_start=i % 7 == 0, acked=1000 + (i % 3) * 500)
        vegas.on_ack(sample)
        reno.on_ack(sample)
        if i == 150:
            vegas.on_enter_recovery(vegas.cwnd, sack=True)
            reno.on_enter_recovery(reno.cwnd, sack=True)
            vegas.on_exit_recovery(vegas.cwnd)
            reno.on_exit_recovery(reno.cwnd)
        assert (vegas.cwnd, vegas.ssthresh) == (reno.cwnd, reno.ssthresh)


@given(st.lists(st.tuples(st.floats(0.001, 1.0), st.booleans(), st.integers(0, 10 * MSS),
                          st.sampled_from(["ack", "loss", "rto"])), max_size=120))
def test_windows_stay_sane(events: list[tuple[float, bool, int, str]]) -> None:
    cc = Vegas(MSS)
    now = 0.0
    for rtt, round_start, acked, kind in events:
        now += 0.01
        if kind == "ack":
            cc.on_ack(AckSample(now, acked, rtt=rtt, round_start=round_start))
        elif kind == "loss":
            cc.on_enter_recovery(cc.cwnd, sack=True)
            cc.on_exit_recovery(cc.cwnd)
        else:
            cc.on_timeout(cc.cwnd)
        assert cc.cwnd >= MSS and cc.ssthresh >= MSS
        assert cc.base_rtt <= rtt or kind != "ack"
