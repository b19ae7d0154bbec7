"""Congestion-window arithmetic of RFC 5681 / RFC 6582 (the algorithm, without a connection)."""

from __future__ import annotations

import pytest

from tcpstack.congestion import ALGORITHMS, AckSample, NewReno, create, initial_window

MSS = 1000


def ack(acked: int, flight_size: int) -> AckSample:
    """An ACK of ``acked`` new bytes outside recovery, ``flight_size`` bytes then in flight."""
    return AckSample(0.0, acked, in_flight=flight_size)


@pytest.mark.parametrize(("mss", "iw"), [(536, 2144), (1095, 4380), (1460, 4380), (2190, 6570),
                                         (4000, 8000)])
def test_initial_window(mss: int, iw: int) -> None:
    assert initial_window(mss) == iw


def test_slow_start_grows_by_acked_up_to_one_mss_per_ack() -> None:
    cc = NewReno(MSS)
    start = cc.cwnd
    cc.on_ack(ack(500, start))
    cc.on_ack(ack(3000, start))  # ABC L = 1 SMSS
    assert cc.cwnd == start + 500 + MSS


def test_congestion_avoidance_one_mss_per_window() -> None:
    cc = NewReno(MSS)
    cc.on_timeout(flight_size=20 * MSS)  # ssthresh = 10 MSS, cwnd = 1 MSS
    assert (cc.ssthresh, cc.cwnd) == (10 * MSS, MSS)
    while cc.in_slow_start:
        cc.on_ack(ack(MSS, cc.cwnd))
    assert cc.cwnd == 10 * MSS
    for _ in range(10):  # one window's worth of ACKs
        cc.on_ack(ack(MSS, cc.cwnd))
    assert cc.cwnd == 11 * MSS


def test_fast_recovery_newreno() -> None:
    cc = NewReno(MSS)
    cc.cwnd = 20 * MSS
    cc.on_enter_recovery(flight_size=20 * MSS, sack=False)
    assert cc.ssthresh == 10 * MSS and cc.cwnd == 13 * MSS
    cc.on_recovery_dupack()
    assert cc.cwnd == 14 * MSS
    cc.on_partial_ack(3 * MSS)  # deflate by 3 MSS, add back 1
    assert cc.cwnd == 12 * MSS
    cc.on_partial_ack(500)
    assert cc.cwnd == 12 * MSS - 500
    cc.on_exit_recovery(flight_size=4 * MSS)
    assert cc.cwnd == 5 * MSS  # min(ssthresh, max(flight, SMSS) + SMSS)


def test_sack_recovery_does_not_inflate() -> None:
    cc = NewReno(MSS)
    cc.cwnd = 20 * MSS
    cc.on_enter_recovery(flight_size=20 * MSS, sack=True)
    assert cc.cwnd == 10 * MSS
    cc.on_recovery_dupack()
    cc.on_partial_ack(2 * MSS)
    assert cc.cwnd == 10 * MSS


def test_ssthresh_floor_is_two_segments() -> None:
    cc = NewReno(MSS)
    cc.on_timeout(flight_size=MSS)
    assert cc.ssthresh == 2 * MSS


def test_idle_restart() -> None:
    cc = NewReno(MSS)
    cc.cwnd = 50 * MSS
    cc.on_idle()
    assert cc.cwnd == initial_window(MSS)


def test_registry() -> None:
    assert isinstance(create("newreno", MSS), NewReno)
    assert "reno" in ALGORITHMS
    with pytest.raises(ValueError, match="known: newreno"):
        create("bbr9", MSS)


def test_an_ecn_echo_ack_does_not_grow_cwnd() -> None:
    """RFC 3168 §6.1.2: no increase in response to an ACK with ECN-Echo, in slow start
    or congestion avoidance (the reduction itself is on_ecn's)."""
    cc = NewReno(MSS)
    start = cc.cwnd
    cc.on_ack(AckSample(0.0, MSS, in_flight=start, ece=True))
    assert cc.cwnd == start
    cc.on_ack(ack(MSS, start))
    assert cc.cwnd == start + MSS
