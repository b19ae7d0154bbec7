"""Retransmission timer: RFC 6298, Karn's rule, R1/R2 (RFC 9293 §3.8.1-§3.8.3).

* RttEstimator formulas (§2.2/§2.3: first sample, alpha 1/8, beta 1/4, K 4, G,
  clamping §2.4/§2.5, backoff §5.5): ``test_rtt_*``.
* A data segment lost again and again: RTO 1, 2, 4, ... capped at 60 s
  (§5.4-5.6, MUST-19): ``test_backoff_*``.
* Timer management §5.1-5.3: ``test_timer_*``.
* Rule 5.7 (3 s after a retried SYN): ``test_rule_5_7_*``.
* Karn's rule (MUST-18, §3) and samples from TSecr (RFC 7323 §4.1):
  ``test_karn_*``, ``test_timestamps_*``.
* R1 -> SoftError (SHLD-9/10), R2 -> ConnectionTimedOut("data") (MUST-20,
  SHLD-11), r2=None never gives up (MUST-21): ``test_r1_*``, ``test_r2_*``.
* ``TcpConfig.linux()``: 200 ms / 120 s bounds: ``test_linux_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_established, make_syn_sent

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.rtt import RttEstimator
from tcpstack.state import State
from tcpstack.wire import Mss, SackPermitted, Timestamps

# ----------------------------------------------------------------------
# RttEstimator (RFC 6298 §2)
# ----------------------------------------------------------------------


def test_rtt_initial_rto_is_one_second() -> None:
    est = RttEstimator()
    assert est.rto == 1.0  # §2.1
    assert est.srtt is None and est.rttvar is None


def test_rtt_first_sample() -> None:
    # §2.2: SRTT <- R, RTTVAR <- R/2, RTO <- SRTT + max(G, K*RTTVAR)
    est = RttEstimator(minimum=0.01)
    est.sample(0.5)
    assert est.srtt == 0.5
    assert est.rttvar == 0.25
    assert est.rto == pytest.approx(0.5 + 4 * 0.25)


def test_rtt_later_samples_use_alpha_beta_and_old_srtt() -> None:
    # §2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'| (with the *old* SRTT),
    # then SRTT <- 7/8 SRTT + 1/8 R'.
    est = RttEstimator(minimum=0.01)
    est.sample(0.5)
    est.sample(0.9)
    assert est.rttvar == pytest.approx(0.75 * 0.25 + 0.25 * 0.4)  # 0.2875
    assert est.srtt == pytest.approx(0.875 * 0.5 + 0.125 * 0.9)  # 0.55
    assert est.rto == pytest.approx(0.55 + 4 * 0.2875)  # 1.7
    est.sample(0.1)
    assert est.rttvar == pytest.approx(0.75 * 0.2875 + 0.25 * 0.45)
    assert est.srtt == pytest.approx(0.875 * 0.55 + 0.125 * 0.1)
    assert est.rto == pytest.approx(est.srtt + 4 * est.rttvar)


def test_rtt_clock_granularity_bounds_the_variance_term() -> None:
    # RTO = SRTT + max(G, K*RTTVAR): with RTTVAR 0 the G term (1 ms) remains.
    est = RttEstimator(minimum=0.0001)
    est.sample(0.0)
    assert est.rto == pytest.approx(0.001)
    est = RttEstimator(minimum=0.0001)
    for _ in range(60):
        est.sample(0.2)  # RTTVAR decays by 3/4 per sample towards 0
    assert est.rto == pytest.approx(0.2 + 0.001)


def test_rtt_minimum_one_second_and_maximum_sixty() -> None:
    est = RttEstimator()
    est.sample(0.1)  # 0.1 + 0.2 = 0.3 -> rounded up to 1 s (§2.4)
    assert est.rto == 1.0
    est = RttEstimator()
    est.sample(100.0)  # 100 + 200 -> capped at 60 s (§2.5)
    assert est.rto == 60.0


def test_rtt_backoff_doubles_up_to_the_maximum_and_a_sample_collapses_it() -> None:
    est = RttEstimator()
    seen = []
    for _ in range(8):
        est.backoff()
        seen.append(est.rto)
    assert seen == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]  # §5.5
    est.sample(0.1)  # a new measurement: the formulas of §2 apply again
    assert est.rto == 1.0


def test_rtt_initial_value_is_clamped() -> None:
    assert RttEstimator(initial=0.1).rto == 1.0
    assert RttEstimator(initial=100.0).rto == 60.0
    with pytest.raises(ValueError):
        RttEstimator(minimum=2.0, maximum=1.0)


# ----------------------------------------------------------------------
# Backoff of one lost data segment (RFC 6298 §5)
# ----------------------------------------------------------------------


def lose_forever(s: Script, times: list[float], *, seq: int = 1, length: int = 100) -> None:
    """Each time in ``times`` the timer is due and exactly the segment is resent."""
    for t in times:
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t - 0.001)
        s.expect_nothing(at=t - 0.001)  # not a moment early
        s.fire(t)
        s.expect([Out("PA", seq=seq, ack=1, len=length)], at=t)


def test_backoff_1_2_4_8_16_32_then_60_60() -> None:
    # The handshake took 0.1 s: SRTT 0.1, RTTVAR 0.05, RTO 0.3 -> 1 s (§2.4).
    s = make_established(config=TcpConfig(r2=None))
    assert s.conn.rto == 1.0
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    assert s.conn.timer("rto") == 2.0  # §5.1
    # Timeouts 1 s after the first transmission, then 2, 4, 8, 16, 32, 60, 60.
    lose_forever(s, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 124.0, 184.0, 244.0])
    assert s.conn.rto == 60.0
    assert s.state is State.ESTABLISHED


def test_backoff_is_per_segment_and_collapses_with_a_new_sample() -> None:
    s = make_established()
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    lose_forever(s, [2.0, 4.0])  # RTO now 4 s
    s.rx("A", seq=1, ack=101, at=4.5)
    s.conn.send(b"y" * 100, now=5.0)
    s.expect([Out("PA", seq=101, ack=1, len=100)], at=5.0)
    # Karn: the ACK at 4.5 gave no sample; the backed-off RTO (4 s) stays.
    assert s.conn.timer("rto") == pytest.approx(9.0)
    s.rx("A", seq=1, ack=201, at=5.2)  # a clean sample (0.2 s): RTO computed anew
    assert s.conn.srtt == pytest.approx(0.875 * 0.1 + 0.125 * 0.2)
    assert s.conn.rto == 1.0
    assert s.conn.timer("rto") is None  # §5.2: all acknowledged, timer off


def test_timer_restarts_on_new_ack_and_stops_when_all_acked() -> None:
    s = make_established(peer_mss=1000)
    s.conn.send(b"z" * 3000, now=1.0)
    s.expect(
        [Out("A", seq=1, ack=1, len=1000), Out("A", seq=1001, ack=1, len=1000),
         Out("PA", seq=2001, ack=1, len=1000)],
        at=1.0,
    )
    assert s.conn.timer("rto") == 2.0  # §5.1: armed once, by the first segment
    s.rx("A", seq=1, ack=1001, at=1.5)
    assert s.conn.timer("rto") == pytest.approx(1.5 + s.conn.rto)  # §5.3
    s.rx("A", seq=1, ack=3001, at=1.6)
    assert s.conn.timer("rto") is None  # §5.2
    assert s.conn.next_timer() is None


# ----------------------------------------------------------------------
# Rule 5.7
# ----------------------------------------------------------------------


def test_rule_5_7_rto_three_seconds_after_a_retried_syn() -> None:
    s = make_syn_sent()
    s.fire(1.0)
    s.expect([Out("S", seq=0, mss=1460)], at=1.0)  # the SYN timed out once
    s.rx("SA", seq=0, ack=1, options=(Mss(1460),), at=1.2)
    s.expect([Out("A", seq=1, ack=1)], at=1.2)
    # Karn: the SYN-ACK answers a retransmitted SYN: no sample; RTO = 3 s.
    assert s.conn.srtt is None
    assert s.conn.rto == 3.0
    s.conn.send(b"d" * 10, now=2.0)
    s.expect([Out("PA", seq=1, ack=1, len=10)], at=2.0)
    assert s.conn.timer("rto") == 5.0  # data transmission begins with RTO 3 s
    lose_forever(s, [5.0, 11.0], length=10)  # then 6 s, ...


def test_rule_5_7_not_applied_without_a_retried_syn() -> None:
    s = make_syn_sent(config=TcpConfig(rto_min=0.1))
    s.rx("SA", seq=0, ack=1, options=(Mss(1460),), at=0.2)
    assert s.conn.rto == pytest.approx(0.2 + 4 * 0.1)


# ----------------------------------------------------------------------
# Karn's rule and timestamps
# ----------------------------------------------------------------------


def test_karn_no_sample_from_a_retransmitted_segment() -> None:
    s = make_established()
    assert s.conn.srtt == pytest.approx(0.1)  # the SYN's sample
    s.conn.send(b"k" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    lose_forever(s, [2.0])
    s.rx("A", seq=1, ack=101, at=2.3)  # for the original or the copy? ambiguous
    assert s.conn.srtt == pytest.approx(0.1)  # no sample taken
    assert s.conn.rto == 2.0  # and the backed-off RTO is kept (RFC 6298 §5, Karn)


def test_karn_next_clean_segment_is_sampled() -> None:
    s = make_established(config=TcpConfig(rto_min=0.01))
    # SRTT 0.1, RTTVAR 0.05, RTO 0.3 after the handshake.
    s.conn.send(b"k" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    lose_forever(s, [1.3])
    s.rx("A", seq=1, ack=101, at=1.5)
    assert s.conn.srtt == pytest.approx(0.1)
    s.conn.send(b"l" * 100, now=2.0)
    s.expect([Out("PA", seq=101, ack=1, len=100)], at=2.0)
    s.rx("A", seq=1, ack=201, at=2.5)
    # R' = 0.5: RTTVAR = 3/4*0.05 + 1/4*0.4 = 0.1375; SRTT = 7/8*0.1 + 1/8*0.5 = 0.15
    assert s.conn.srtt == pytest.approx(0.15)
    assert s.conn.rto == pytest.approx(0.15 + 4 * 0.1375)


def ts_established(config: TcpConfig | None = None, peer_ts: int = 5000) -> Script:
    """ESTABLISHED with timestamps negotiated (no SACK, no window scaling)."""
    s = make_syn_sent(config=config)
    assert s.ts_base is not None
    s.rx("SA", seq=0, ack=1, options=(Mss(1460), Timestamps(peer_ts, s.ts_base)), at=0.1)
    s.expect([Out("A", seq=1, ack=1, options=s.ts_opt(0.1, peer_ts))], at=0.1)
    assert s.conn.negotiated.timestamps
    s.events()
    return s


def test_timestamps_sample_from_tsecr_of_a_retransmission() -> None:
    s = ts_established(TcpConfig(rto_min=0.01, sack=False))
    # The SYN-ACK echoed our SYN's TSval 100 ms later: SRTT 0.1, RTTVAR 0.05.
    assert s.conn.srtt == pytest.approx(0.1)
    s.conn.send(b"t" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100, options=s.ts_opt(1.0, 5000))], at=1.0)
    s.fire(1.3)
    s.expect([Out("PA", seq=1, ack=1, len=100, options=s.ts_opt(1.3, 5000))], at=1.3)
    # The ACK echoes the retransmission's TSval: unambiguous, sampled (RFC 7323 §4.1).
    s.rx("A", seq=1, ack=101, ts=(5001, s.tsval(1.3)), at=1.6)
    assert s.conn.srtt == pytest.approx(0.875 * 0.1 + 0.125 * 0.3)
    assert s.conn.rto == pytest.approx(s.conn.srtt + 4 * (0.75 * 0.05 + 0.25 * 0.2))


def test_timestamps_delayed_ack_echo_measures_to_the_echoed_segment() -> None:
    s = ts_established(TcpConfig(rto_min=0.01, sack=False, nagle=False))
    s.conn.send(b"t" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100, options=s.ts_opt(1.0, 5000))], at=1.0)
    s.conn.send(b"u" * 100, now=1.1)
    s.expect([Out("PA", seq=101, ack=1, len=100, options=s.ts_opt(1.1, 5000))], at=1.1)
    # One delayed ACK for both echoes the earlier TSval (RFC 7323 §4.3): the
    # sample is now - TSecr = 0.4 s.
    s.rx("A", seq=1, ack=201, ts=(5001, s.tsval(1.0)), at=1.4)
    assert s.conn.srtt == pytest.approx(0.875 * 0.1 + 0.125 * 0.4)


# ----------------------------------------------------------------------
# R1 and R2 (RFC 9293 §3.8.3)
# ----------------------------------------------------------------------


def test_r1_soft_error_after_three_retransmissions_once() -> None:
    s = make_established(config=TcpConfig(r2=None))
    s.conn.send(b"r" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    reported = []
    for t in (2.0, 4.0, 8.0, 16.0, 32.0):
        lose_forever(s, [t])
        reported.append(s.app_events())
    assert reported == [[], [], [ev.SoftError(3)], [], []]
    # Delivery resumes, then a new segment has trouble: reported again. (The
    # ACK gave no RTT sample, so the backed-off RTO, 32 s, stays: Karn.)
    s.rx("A", seq=1, ack=101, at=33.0)
    assert s.app_events() == []
    s.conn.send(b"s" * 100, now=40.0)
    s.expect([Out("PA", seq=101, ack=1, len=100)], at=40.0)
    lose_forever(s, [72.0, 132.0], seq=101)
    assert s.app_events() == []
    lose_forever(s, [192.0], seq=101)
    assert s.app_events() == [ev.SoftError(3)]


def test_r2_data_gives_up_at_the_first_timeout_past_100_s() -> None:
    s = make_established()
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    # Retransmissions at 2, 4, 8, 16, 32, 64 (63 s after the first send < 100 s).
    lose_forever(s, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    assert s.app_events() == [ev.SoftError(3)]
    assert s.conn.next_timer() == 124.0  # 123 s >= 100 s: R2 passed
    s.fire(124.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("data")]
    s.expect_nothing(at=124.0)
    assert s.conn.next_timer() is None


def test_r2_counts_from_the_oldest_unacknowledged_segment() -> None:
    s = make_established(config=TcpConfig(r2=10.0))
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    lose_forever(s, [2.0, 4.0, 8.0])
    s.rx("A", seq=1, ack=51, at=9.0)  # progress: half of it arrived
    # The RTO collapses? No sample (retransmitted), backed-off RTO 8 s stays.
    assert s.conn.timer("rto") == pytest.approx(17.0)
    s.fire(17.0)
    s.expect([Out("PA", seq=51, ack=1, len=50)], at=17.0)  # 8 s < R2 since progress
    assert s.state is State.ESTABLISHED
    s.fire(33.0)
    assert s.state is State.CLOSED  # 24 s since the ACK at 9.0
    assert ev.ConnectionTimedOut("data") in s.app_events()


def test_r2_none_never_gives_up_even_after_hours() -> None:
    s = make_established(config=TcpConfig(r2=None))
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    t = 1.0
    rto = 1.0
    while t < 4 * 3600:
        t += rto
        lose_forever(s, [t])
        rto = min(2 * rto, 60.0)
    assert s.state is State.ESTABLISHED
    assert s.app_events() == [ev.SoftError(3)]
    # The peer comes back: everything continues.
    s.rx("A", seq=1, ack=101, at=t + 0.5)
    assert s.conn.in_flight == 0
    assert s.conn.next_timer() is None


def test_r2_none_per_connection_via_reconfigure() -> None:
    s = make_established()
    s.conn.reconfigure(r2=None)  # MUST-21: the application sets R2
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    lose_forever(s, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 124.0, 184.0])
    assert s.state is State.ESTABLISHED


# ----------------------------------------------------------------------
# The Linux profile
# ----------------------------------------------------------------------


def test_linux_profile_bounds() -> None:
    cfg = TcpConfig.linux()
    assert (cfg.rto_min, cfg.rto_max, cfg.rto_initial) == (0.2, 120.0, 1.0)
    assert TcpConfig.profile("linux") == cfg
    est = RttEstimator(cfg.rto_initial, cfg.rto_min, cfg.rto_max)
    est.sample(0.01)
    assert est.rto == 0.2
    for _ in range(12):
        est.backoff()
    assert est.rto == 120.0


def test_linux_profile_200_ms_floor_and_120_s_cap_on_the_wire() -> None:
    s = make_syn_sent(config=TcpConfig.linux(r2=None, timestamps=False, sack=False))
    s.rx("SA", seq=0, ack=1, options=(Mss(1460),), at=0.01)
    s.expect([Out("A", seq=1, ack=1)], at=0.01)
    # SRTT 0.01 + 4 * 0.005 = 0.03 s -> 200 ms floor.
    assert s.conn.rto == 0.2
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    times = []
    t, rto = 1.0, 0.2
    for _ in range(13):
        t += rto
        times.append(t)
        rto = min(2 * rto, 120.0)
    lose_forever(s, times)
    gaps = [round(b - a, 6) for a, b in zip([1.0, *times], times, strict=False)]
    assert gaps == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 120.0, 120.0, 120.0]


def test_sack_permitted_alone_does_not_change_rto() -> None:
    # Only SACK negotiated: no timestamps, Karn applies as without options.
    # (Tail loss probes off: this pins plain RFC 6298 timing.)
    s = make_syn_sent(config=TcpConfig(tail_loss_probe=False))
    s.rx("SA", seq=0, ack=1, options=(Mss(1460), SackPermitted()), at=0.1)
    s.expect([Out("A", seq=1, ack=1)], at=0.1)
    s.conn.send(b"k" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    lose_forever(s, [2.0])
    s.rx("A", seq=1, ack=101, at=2.3)
    assert s.conn.srtt == pytest.approx(0.1)


# ----------------------------------------------------------------------
# The initial window after a lost SYN (RFC 5681 §3.1)
# ----------------------------------------------------------------------


def test_initial_window_one_segment_after_a_retransmitted_syn() -> None:
    # "If the SYN or SYN/ACK is lost, the initial window used by a sender
    # after a correctly transmitted SYN MUST be one segment."
    s = make_syn_sent()
    s.fire(1.0)
    s.expect([Out("S", seq=0, mss=1460)], at=1.0)
    s.rx("SA", seq=0, ack=1, options=(Mss(1000),), at=1.2)
    s.expect([Out("A", seq=1, ack=1)], at=1.2)
    assert s.conn.cwnd == 1000
    s.conn.send(b"w" * 5000, now=2.0)
    s.expect([Out("A", seq=1, ack=1, len=1000)], at=2.0)
    s.rx("A", seq=1, ack=1001, at=2.5)
    s.expect([Out("A", seq=1001, ack=1, len=1000), Out("A", seq=2001, ack=1, len=1000)], at=2.5)


def test_initial_window_one_segment_after_a_retransmitted_syn_ack() -> None:
    from tcp_script import make_syn_received_passive

    s = make_syn_received_passive()  # SYN-ACK sent at 0.0
    s.fire(1.0)
    s.expect([Out("SA", seq=0, ack=1)], at=1.0)  # it was lost
    s.rx("A", seq=1, ack=1, at=1.2)
    assert s.state is State.ESTABLISHED
    assert s.conn.cwnd == 1460
    s.conn.send(b"w" * 5000, now=2.0)
    s.expect([Out("A", seq=1, ack=1, len=1460)], at=2.0)


def test_initial_window_three_segments_without_loss() -> None:
    s = make_established(peer_mss=1460)
    assert s.conn.cwnd == 3 * 1460  # RFC 5681 §3.1: SMSS 1096..2190 -> 3 segments
