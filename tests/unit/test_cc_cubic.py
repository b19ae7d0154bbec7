"""CUBIC (RFC 9438) and HyStart++ (RFC 9406) arithmetic, against hand-computed values.

MSS = 1000 bytes throughout, so a window of N segments is N * 1000 bytes.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpstack.config import TcpConfig
from tcpstack.congestion import AckSample, CongestionControl, create
from tcpstack.congestion.base import INFINITE_SSTHRESH
from tcpstack.congestion.bbr import Bbr
from tcpstack.congestion.cubic import ALPHA_CUBIC, Cubic, cubic_k, w_cubic
from tcpstack.congestion.vegas import Vegas

MSS = 1000
K_75 = 4.217163326508746
"""cbrt(75): K for W_max = 100 segments after a reduction to 70 (cbrt(30 / 0.4))."""


def ack(now: float, acked: int = MSS, *, rtt: float | None = None,
        round_start: bool = False) -> AckSample:
    return AckSample(now, acked, rtt=rtt, round_start=round_start)


def after_loss_at_100() -> Cubic:
    """cwnd = 100 segments, a SACK loss with 100 segments in flight, recovery over."""
    cc = Cubic(MSS)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, sack=True)
    cc.on_exit_recovery(70 * MSS)  # min(ssthresh, flight + SMSS) = 70 segments
    return cc


@pytest.mark.parametrize(("name", "cls"), [("cubic", Cubic), ("bbr", Bbr), ("vegas", Vegas)])
def test_registered_and_configurable(name: str, cls: type[CongestionControl]) -> None:
    """The three algorithms of this part (in this file for all three)."""
    assert type(create(name, MSS)) is cls
    assert TcpConfig(congestion_control=name).congestion_control == name
    assert cls.needs_samples
    assert cls.name == name


def test_constants() -> None:
    # RFC 9438 §4.3: alpha_cubic = 3 (1 - 0.7) / (1 + 0.7) = 0.9 / 1.7.
    assert round(ALPHA_CUBIC, 10) == 0.5294117647


def test_k_and_w_cubic_follow_equations_1_and_2() -> None:
    # eq. 2: K = cbrt((W_max - cwnd_epoch) / C) = cbrt((100 - 70) / 0.4) = cbrt(75).
    k = cubic_k(100.0, 70.0)
    assert k == pytest.approx(K_75)
    # eq. 1: W(t) = C (t - K)^3 + W_max, segments.
    assert w_cubic(0.0, w_max=100.0, k=k) == pytest.approx(70.0)  # 0.4 * -75 + 100
    assert w_cubic(k, w_max=100.0, k=k) == pytest.approx(100.0)  # the plateau
    assert w_cubic(k + 2.0, w_max=100.0, k=k) == pytest.approx(103.2)  # 100 + 0.4 * 8
    assert w_cubic(k - 1.0, w_max=100.0, k=k) == pytest.approx(99.6)  # 100 - 0.4
    # cwnd_epoch at or above W_max: no concave region, K = 0.
    assert cubic_k(50.0, 60.0) == 0.0


def test_multiplicative_decrease_on_loss() -> None:
    cc = Cubic(MSS)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, sack=True)
    # §4.6: ssthresh = 100 * 0.7 = 70 segments, cwnd = ssthresh; W_max = 100.
    assert (cc.ssthresh, cc.cwnd, cc.w_max) == (70 * MSS, 70 * MSS, 100 * MSS)
    cc2 = Cubic(MSS)
    cc2.cwnd = 100 * MSS
    cc2.on_enter_recovery(100 * MSS, sack=False)
    assert cc2.cwnd == 73 * MSS  # ssthresh + 3 SMSS without SACK (RFC 5681 §3.2 (3))
    cc2.on_recovery_dupack()
    assert cc2.cwnd == 74 * MSS


def test_decrease_floor_is_two_segments() -> None:
    cc = Cubic(MSS)
    cc.cwnd = 2 * MSS
    cc.on_enter_recovery(2 * MSS, sack=True)  # 2 * 0.7 = 1.4 segments -> floor 2
    assert cc.ssthresh == 2 * MSS


def test_fast_convergence() -> None:
    cc = after_loss_at_100()
    cc.cwnd = 80 * MSS  # the next loss comes below W_max = 100 segments
    cc.on_enter_recovery(80 * MSS, sack=True)
    # §4.7: W_max = 80 * (1 + 0.7) / 2 = 68 segments; ssthresh = 80 * 0.7 = 56.
    assert cc.w_max == 68 * MSS
    assert cc.ssthresh == 56 * MSS


def test_ecn_and_timeout_reductions() -> None:
    cc = Cubic(MSS)
    cc.cwnd = 100 * MSS
    cc.on_ecn(100 * MSS)  # §4.6: ECE reduces like a loss, cwnd = ssthresh
    assert (cc.ssthresh, cc.cwnd, cc.w_max) == (70 * MSS, 70 * MSS, 100 * MSS)
    cc = Cubic(MSS)
    cc.cwnd = 100 * MSS
    cc.on_timeout(100 * MSS)  # §4.8: ssthresh with beta_cubic, cwnd = 1 SMSS
    assert (cc.ssthresh, cc.cwnd) == (70 * MSS, MSS)


def test_flight_above_cwnd_does_not_raise_the_window() -> None:
    cc = Cubic(MSS)
    cc.cwnd = 50 * MSS
    cc.on_enter_recovery(200 * MSS, sack=True)  # min(flight, cwnd) * 0.7 = 35 segments
    assert cc.ssthresh == 35 * MSS


def test_reno_friendly_region_at_the_start_of_an_epoch() -> None:
    cc = after_loss_at_100()
    cc.on_ack(ack(1.0))
    # The epoch begins: cwnd_epoch = 70000, K = cbrt(75). W_est = 70000 +
    # alpha * 1000 * 1000 / 70000 = 70000 + 7.563 = 70007.56 (§4.3), while
    # W_cubic(0) = 70000 < W_est: the Reno-friendly region, cwnd = W_est.
    assert cc.epoch_start == 1.0 and cc.k == pytest.approx(K_75)
    assert cc.w_est == pytest.approx(70007.563, abs=1e-3)
    assert cc.cwnd == 70007


def test_concave_region_grows_toward_w_cubic_of_t_plus_rtt() -> None:
    cc = after_loss_at_100()
    cc.on_ack(ack(1.0, rtt=0.1))  # srtt = 0.1 (first sample); cwnd = 70007 as above
    assert cc.cwnd == 70007
    cc.on_ack(ack(2.0, rtt=0.1))
    # t = 1: W_cubic(1) = 0.4 (1 - 4.21716)^3 + 100 = 86.681 segments > W_est
    # (70015.1), so the cubic region. target = W_cubic(1.1) = 0.4 (-3.117163)^3
    # + 100 = 100 - 0.4 * 30.2886 = 87.8846 segments = 87884.6 bytes (inside
    # [cwnd, 1.5 cwnd]); increase = (87884.6 - 70007) * 1000 / 70007 = 255.37, plus the
    # 0.563 carried from the first ACK: 255.93 -> cwnd = 70007 + 255 = 70262.
    assert cc.w_cubic(1.1) == pytest.approx(87884.6, abs=0.1)
    assert cc.cwnd == 70262


def test_convex_region_target_is_capped_at_one_and_a_half_cwnd() -> None:
    cc = after_loss_at_100()
    cc.on_ack(ack(1.0, rtt=0.1))
    cc.on_ack(ack(1.0 + 20.0, rtt=0.1))
    # t = 20: W_cubic(20.1) = 0.4 (15.88)^3 + 100 = 1702 segments, far above
    # 1.5 cwnd = 105010.5 bytes: increase = (105010.5 - 70007) * 1000 / 70007
    # = 500 bytes (plus the 0.563 carried): cwnd = 70507.
    assert cc.cwnd == 70507


def test_alpha_becomes_one_once_w_est_reaches_cwnd_prior() -> None:
    cc = after_loss_at_100()  # cwnd_prior = 100 segments
    cc.on_ack(ack(1.0))
    cc.w_est = 100 * MSS  # W_est reached cwnd_prior
    cc.on_ack(ack(1.0))
    # t = 0: W_cubic = 70000 < W_est; W_est += 1 * 1000 * 1000 / 70007 = 14.284.
    assert cc.w_est == pytest.approx(100014.284, abs=1e-3)
    assert cc.cwnd == 100014


def test_no_growth_during_recovery() -> None:
    cc = Cubic(MSS)
    cc.cwnd = 100 * MSS
    cc.on_enter_recovery(100 * MSS, sack=True)
    cc.on_ack(AckSample(1.0, 5 * MSS, in_recovery=True, rtt=0.1))
    assert cc.cwnd == 70 * MSS


# -- HyStart++ (RFC 9406) ---------------------------------------------------------


def round_of(cc: Cubic, now: float, rtt: float | None, n: int = 8) -> None:
    """One round: a round-starting ACK then n - 1 more, each of one segment."""
    cc.on_ack(ack(now, rtt=rtt, round_start=True))
    for i in range(1, n):
        cc.on_ack(ack(now + i * 0.001, rtt=rtt))


def test_slow_start_without_rtt_samples_is_plain_with_l_8() -> None:
    cc = Cubic(MSS)
    assert cc.cwnd == 4 * MSS  # RFC 5681 IW for SMSS <= 1095
    cc.on_ack(ack(0.1, 10 * MSS, round_start=True))
    assert cc.cwnd == 12 * MSS  # + min(N, L * SMSS) = 8 segments (RFC 9406 §4.2)
    for r in range(40):  # any number of rounds: no delay-based exit without samples
        round_of(cc, 1.0 + r, None)
    assert cc.in_slow_start and not cc.in_css


def test_hystart_exits_to_css_on_delay_increase() -> None:
    cc = Cubic(MSS)
    round_of(cc, 0.0, 0.100)  # first round: lastRoundMinRTT unknown, no check
    assert cc.cwnd == 12 * MSS  # 4 + 8 segments
    # RttThresh = max(4 ms, min(100 ms / 8, 16 ms)) = 12.5 ms; 112 ms < 112.5 ms.
    round_of(cc, 0.2, 0.112)
    assert not cc.in_css and cc.cwnd == 20 * MSS
    cc2 = Cubic(MSS)
    round_of(cc2, 0.0, 0.100)
    round_of(cc2, 0.2, 0.113)  # 113 ms >= 112.5 ms at the 8th sample: CSS
    assert cc2.in_css
    # 7 ACKs of slow start (+1000 each), the 8th already in CSS (+1000 / 4).
    assert cc2.cwnd == 12 * MSS + 7 * MSS + 250
    assert cc2.ssthresh == INFINITE_SSTHRESH


def css_entered() -> Cubic:
    cc = Cubic(MSS)
    round_of(cc, 0.0, 0.100)
    round_of(cc, 0.2, 0.113)
    assert cc.in_css and cc.cwnd == 19250
    return cc


def test_css_ends_in_avoidance_after_css_rounds() -> None:
    cc = css_entered()
    for i in range(4):  # four CSS rounds begin: +250 each
        cc.on_ack(ack(0.4 + 0.1 * i, rtt=0.113, round_start=True))
    assert cc.cwnd == 20250 and cc.in_css
    cc.on_ack(ack(0.8, rtt=0.113, round_start=True))  # the 5th: CSS_ROUNDS done
    # ssthresh = cwnd = 20250, then this ACK is the first of avoidance:
    # W_est = 20250 + 0.52941 * 1000 * 1000 / 20250 = 20276.14 > W_cubic(0).
    assert cc.ssthresh == 20250
    assert not cc.in_css and cc.phase == "avoidance"
    assert cc.cwnd == 20276


def test_css_resumes_slow_start_when_rtt_falls_below_baseline() -> None:
    cc = css_entered()  # cssBaselineMinRtt = 113 ms
    round_of(cc, 0.4, 0.100)
    # 7 ACKs of CSS (+250 each), at the 8th sample 100 ms < 113 ms: slow start
    # again, and that ACK grows by a full segment.
    assert not cc.in_css
    assert cc.cwnd == 19250 + 7 * 250 + MSS


def test_loss_in_css_ends_hystart() -> None:
    cc = css_entered()
    cc.on_enter_recovery(cc.cwnd, sack=True)
    assert not cc.in_css
    assert cc.ssthresh == int(19250 * 0.7)
    cc.on_exit_recovery(cc.ssthresh)
    cc.on_timeout(cc.cwnd)  # later slow start is standard (RFC 9406 §4.2)
    round_of(cc, 5.0, 0.1)
    round_of(cc, 6.0, 0.2)
    assert not cc.in_css


# -- invariants ---------------------------------------------------------------------

HOOK_EVENTS = [
    st.tuples(st.just("loss"), st.integers(0, 300 * MSS), st.booleans()),
    st.tuples(st.just("exit"), st.integers(0, 300 * MSS)),
    st.tuples(st.just("rto"), st.integers(0, 300 * MSS)),
    st.tuples(st.just("ecn"), st.integers(0, 300 * MSS)),
    st.tuples(st.just("dup"),),
    st.tuples(st.just("partial"), st.integers(0, 20 * MSS)),
    st.tuples(st.just("idle"),),
]
"""Every hook but on_ack, as hypothesis events (shared with test_cc_bbr.py)."""


def apply_hook_event(cc: CongestionControl, event: tuple[object, ...]) -> None:
    """Call the hook that one of :data:`HOOK_EVENTS` names."""
    match event:
        case ("loss", int(flight), bool(sack)):
            cc.on_enter_recovery(flight, sack=sack)
        case ("exit", int(flight)):
            cc.on_exit_recovery(flight)
        case ("rto", int(flight)):
            cc.on_timeout(flight)
        case ("ecn", int(flight)):
            cc.on_ecn(flight)
        case ("dup",):
            cc.on_recovery_dupack()
        case ("partial", int(acked)):
            cc.on_partial_ack(acked)
        case ("idle",):
            cc.on_idle()
        case _:
            raise AssertionError(event)


ACK_EVENT = st.tuples(st.floats(0.0, 0.1), st.integers(0, 20 * MSS), st.floats(0.001, 1.0),
                      st.booleans(), st.booleans())


@given(st.lists(st.one_of(ACK_EVENT, *HOOK_EVENTS), max_size=80))
def test_windows_stay_sane(events: list[tuple[object, ...]]) -> None:
    cc = Cubic(MSS)
    now = 0.0
    for ev in events:
        now += 0.01
        match ev:
            case (float(dt), int(acked), float(rtt), bool(rs), bool(rec)):
                now += dt
                cc.on_ack(AckSample(now, acked, rtt=rtt, round_start=rs, in_recovery=rec))
            case _:
                apply_hook_event(cc, ev)
        assert cc.cwnd >= MSS
        assert cc.ssthresh >= 2 * MSS
        assert math.isfinite(cc.w_est) and cc.k >= 0


def test_an_ecn_echo_ack_does_not_grow_cwnd() -> None:
    """RFC 3168 §6.1.2: no increase for an ACK carrying ECN-Echo, in slow start or
    congestion avoidance (on_ecn makes the reduction)."""
    from tcpstack.congestion import AckSample, create

    cc = create("cubic", 1000)
    start = cc.cwnd
    cc.on_ack(AckSample(1.0, 1000, in_flight=start, ece=True))
    assert cc.cwnd == start
    # IW 4 x 1000 = 4000 in flight; beta_cubic 0.7: ssthresh = cwnd = 0.7 * 4000 = 2800.
    cc.on_ecn(flight_size=start)
    assert (start, cc.ssthresh, cc.cwnd) == (4000, 2800, 2800)
    cc.on_ack(AckSample(1.1, 1000, in_flight=2800, ece=True))
    assert cc.cwnd == 2800
