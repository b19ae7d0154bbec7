"""BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00): states, gains, filters,
pinned against hand-computed values.

MSS = 1000 bytes; the initial window is 4 segments (RFC 5681 for SMSS <= 1095).
The path in these tests: BtlBw 1,000,000 bytes/s, RTprop 50 ms, so one BDP
is 50,000 bytes.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cc_cubic import HOOK_EVENTS, apply_hook_event

from tcpstack.congestion import AckSample, RateSample
from tcpstack.congestion.base import INFINITE_SSTHRESH
from tcpstack.congestion.bbr import PACING_GAIN_CYCLE, SEED, Bbr

MSS = 1000
BW = 1_000_000.0
RTT = 0.05
HIGH_GAIN = 2.8853900817779268  # 2 / ln 2


def ack(now: float, *, acked: int = MSS, bw: float = BW, rtt: float | None = RTT,
        in_flight: int = 0, round_start: bool = False, app_limited: bool = False,
        prior_in_flight: int | None = None, in_recovery: bool = False) -> AckSample:
    rate = RateSample(bw, acked, RTT, RTT, in_flight + acked if prior_in_flight is None
                      else prior_in_flight, app_limited)
    return AckSample(now, acked, in_flight=in_flight, rtt=rtt, rate=rate,
                     round_start=round_start, in_recovery=in_recovery)


def in_probe_bw() -> Bbr:
    """Startup over four rounds of the same BtlBw, then drained: PROBE_BW at t = 0.3 s."""
    cc = Bbr(MSS)
    for r in range(4):
        cc.on_ack(ack(0.05 * (r + 1), round_start=True, in_flight=100_000))
    assert cc.phase == "drain"
    cc.on_ack(ack(0.3, in_flight=50_000))
    assert cc.phase == "probe_bw"
    return cc


def test_initial_state_and_pacing_rate() -> None:
    cc = Bbr(MSS)
    assert cc.phase == "startup"
    assert cc.pacing_gain == pytest.approx(HIGH_GAIN) and cc.cwnd_gain == pytest.approx(HIGH_GAIN)
    # Draft §4.2.1: pacing_rate = 2.885 * InitialCwnd / 1 ms before an RTT is known.
    assert cc.pacing_rate == pytest.approx(HIGH_GAIN * 4000 / 0.001)
    assert cc.ssthresh == INFINITE_SSTHRESH and cc.cwnd == 4 * MSS


def test_first_rtt_sets_nominal_rate_then_btlbw_takes_over() -> None:
    cc = Bbr(MSS)
    cc.on_ack(AckSample(0.05, MSS, rtt=RTT, round_start=True))  # no rate sample yet
    # nominal = 2.885 * 4000 / 0.05 = 230,831.2 bytes/s
    assert cc.pacing_rate == pytest.approx(HIGH_GAIN * 4000 / RTT)
    cc.on_ack(ack(0.06))
    # BtlBw = 1e6: 2.885e6 > the nominal rate, so it is taken (draft §4.2.1)
    assert cc.btlbw == BW
    assert cc.pacing_rate == pytest.approx(HIGH_GAIN * BW)


def test_startup_grows_cwnd_by_delivered_bytes() -> None:
    cc = Bbr(MSS)
    cc.on_ack(ack(0.05, acked=3000, round_start=True))
    assert cc.cwnd == 7000  # 4000 + 3000 delivered (below target 2.885 BDP + 3 MSS)
    # target = 2.885 * 50,000 + 3,000 = 147,269 bytes
    assert cc.inflight(cc.cwnd_gain) == int(HIGH_GAIN * 50_000) + 3 * MSS


def test_delivered_counter_counts_sacked_bytes_once() -> None:
    cc = Bbr(MSS)
    rate = RateSample(BW, 3000, RTT, RTT, 3000, False)
    cc.on_ack(AckSample(0.05, 0, sacked=3000, delivered=3000, rtt=RTT, rate=rate,
                        round_start=True))
    assert cc.cwnd == 7000  # 4000 + the 3000 bytes SACKed
    cc.on_ack(AckSample(0.06, 3000, delivered=3000, rtt=RTT, rate=rate))
    assert cc.cwnd == 7000  # the cumulative ACK of those bytes delivers nothing new
    cc.on_ack(AckSample(0.07, 4000, delivered=4000, rtt=RTT, rate=rate))
    assert cc.cwnd == 8000


def test_startup_drain_probe_bw_transitions() -> None:
    cc = Bbr(MSS)
    gains = []
    for r in range(4):
        cc.on_ack(ack(0.05 * (r + 1), round_start=True, in_flight=100_000))
        gains.append(cc.phase)
    # Round 1 sets full_bw = 1e6; rounds 2, 3, 4 bring no 25 % growth: the pipe
    # is full after the third (draft §4.3.2.2), and DRAIN begins on that ACK.
    assert gains == ["startup", "startup", "startup", "drain"]
    assert cc.filled_pipe
    assert cc.pacing_gain == pytest.approx(1 / HIGH_GAIN)
    assert cc.pacing_rate == pytest.approx(BW / HIGH_GAIN)  # 346,573.6 bytes/s
    # DRAIN lasts while in flight > BBRInflight(1) = 50,000 + 3,000.
    cc.on_ack(ack(0.25, in_flight=53_001))
    assert cc.phase == "drain"
    cc.on_ack(ack(0.3, in_flight=53_000))
    assert cc.phase == "probe_bw"
    assert cc.cwnd_gain == 2.0
    assert cc.pacing_gain in PACING_GAIN_CYCLE and cc.cycle_index != 1


def test_growing_bandwidth_keeps_startup() -> None:
    cc = Bbr(MSS)
    for r in range(6):  # +25 % every round: never three rounds without growth
        cc.on_ack(ack(0.05 * (r + 1), bw=BW * 1.25 ** r, round_start=True, in_flight=100_000))
    assert cc.phase == "startup" and not cc.filled_pipe


def test_probe_bw_start_phase_is_random_but_never_the_drain_phase() -> None:
    starts = set()
    for seed in range(60):
        cc = Bbr(MSS)
        cc.rng = random.Random(seed)
        for r in range(4):
            cc.on_ack(ack(0.05 * (r + 1), round_start=True, in_flight=100_000))
        cc.on_ack(ack(0.3, in_flight=0))
        starts.add(cc.cycle_index)
    # Draft §4.3.4.4: cycle_index = 7 - random(0..6), then advanced once: 0, 2..7.
    assert starts == {0, 2, 3, 4, 5, 6, 7}


def test_default_seed_is_documented_and_deterministic() -> None:
    cc = in_probe_bw()
    r = random.Random(SEED).randint(0, 6)
    assert cc.cycle_index == (7 - r + 1) % 8


def test_gain_cycle_one_phase_per_rtprop() -> None:
    cc = in_probe_bw()
    start = cc.cycle_index
    seen = [cc.pacing_gain]
    now = 0.3
    for _ in range(8):
        # More than one RTprop later; in flight as 1.25 BDP + 3 MSS, so the
        # probing phase may end too (draft §4.3.4.3).
        now += 0.051
        cc.on_ack(ack(now, prior_in_flight=int(1.25 * 50_000) + 3 * MSS, in_flight=40_000))
        seen.append(cc.pacing_gain)
        assert cc.pacing_rate == pytest.approx(cc.pacing_gain * BW)
    expected = [PACING_GAIN_CYCLE[(start + i) % 8] for i in range(9)]
    assert seen == expected


def test_gain_cycle_phase_waits_for_rtprop() -> None:
    cc = in_probe_bw()
    index = cc.cycle_index
    cc.on_ack(ack(0.3 + 0.049, prior_in_flight=10**6))  # less than RTprop since the phase began
    assert cc.cycle_index == index


def test_probing_phase_waits_for_inflight_and_drain_phase_ends_early() -> None:
    cc = in_probe_bw()
    while cc.pacing_gain != 1.25:  # walk to the 1.25 phase
        cc.on_ack(ack(cc.cycle_stamp + 0.051, prior_in_flight=60_000))
    stamp = cc.cycle_stamp
    # A full RTprop has passed but in flight (60,000) < 1.25 BDP + 3 MSS = 65,500.
    cc.on_ack(ack(stamp + 0.06, prior_in_flight=65_499))
    assert cc.pacing_gain == 1.25
    cc.on_ack(ack(stamp + 0.07, prior_in_flight=65_500))
    assert cc.pacing_gain == 0.75
    # The 0.75 phase ends at once when in flight <= BDP + 3 MSS = 53,000.
    cc.on_ack(ack(stamp + 0.071, prior_in_flight=53_000))
    assert cc.pacing_gain == 1.0


def test_probing_phase_ends_on_loss() -> None:
    cc = in_probe_bw()
    while cc.pacing_gain != 1.25:
        cc.on_ack(ack(cc.cycle_stamp + 0.051, prior_in_flight=60_000))
    stamp = cc.cycle_stamp
    # In flight below 1.25 BDP, but an ACK in loss recovery: "rs.losses > 0".
    cc.on_ack(ack(stamp + 0.06, prior_in_flight=10_000, in_recovery=True))
    assert cc.pacing_gain == 0.75


def test_probe_bw_cwnd_is_two_bdp_plus_quanta() -> None:
    cc = in_probe_bw()
    for i in range(200):
        cc.on_ack(ack(0.3 + 0.001 * i, acked=5000, in_flight=40_000))
    assert cc.cwnd == 2 * 50_000 + 3 * MSS


def test_btlbw_max_filter_forgets_after_ten_rounds_and_ignores_app_limited() -> None:
    cc = Bbr(MSS)
    cc.on_ack(ack(0.05, bw=2 * BW, round_start=True))
    cc.on_ack(ack(0.06, bw=3 * BW, app_limited=True))  # app-limited but higher: counts
    assert cc.btlbw == 3 * BW
    cc.on_ack(ack(0.07, bw=0.5 * BW, app_limited=True))  # app-limited and lower: ignored
    for r in range(9):
        cc.on_ack(ack(0.1 + 0.05 * r, bw=BW, round_start=True))
    assert cc.btlbw == 3 * BW  # round 1's sample is 9 rounds old
    cc.on_ack(ack(1.0, bw=BW, round_start=True))
    assert cc.btlbw == BW  # 10 rounds later it left the window


def test_probe_rtt_after_ten_seconds_without_new_min() -> None:
    cc = in_probe_bw()
    for i in range(100):
        cc.on_ack(ack(0.3 + 0.001 * i, acked=5000, in_flight=40_000))
    full = cc.cwnd
    assert full == 103_000
    # Every 50 ms sample refreshed RTprop's stamp (rtt <= RTprop): last at
    # t = 0.399. At t = 10.5 the filter expired: PROBE_RTT.
    cc.on_ack(ack(10.5, rtt=0.06, in_flight=40_000))
    assert cc.phase == "probe_rtt"
    assert cc.rtprop == 0.06  # an expired filter takes the sample
    assert cc.cwnd == 4 * MSS and cc.pacing_gain == 1.0
    cc.on_ack(ack(10.52, rtt=0.06, in_flight=4 * MSS))  # at the minimum: 200 ms from now
    cc.on_ack(ack(10.6, rtt=0.06, in_flight=4 * MSS, round_start=True))  # a round ended
    cc.on_ack(ack(10.71, rtt=0.06, in_flight=4 * MSS))
    assert cc.phase == "probe_rtt"  # 200 ms are not over (10.72)
    cc.on_ack(ack(10.73, rtt=0.06, in_flight=4 * MSS))
    assert cc.phase == "probe_bw"
    # Restored to 103,000 (draft §4.3.5), then this ACK's 1,000 bytes are added
    # (target now 2 * 1e6 * 0.06 + 3,000 = 123,000 with the new RTprop).
    assert cc.cwnd == full + MSS
    assert cc.rtprop_stamp == 10.73


def test_probe_rtt_needs_a_round_too() -> None:
    cc = in_probe_bw()
    cc.on_ack(ack(10.5, rtt=0.06, in_flight=3 * MSS))  # enter; in flight low: until 10.7
    assert cc.phase == "probe_rtt"
    cc.on_ack(ack(11.0, rtt=0.06, in_flight=3 * MSS))  # time is over, no round yet
    assert cc.phase == "probe_rtt"
    cc.on_ack(ack(11.05, rtt=0.06, in_flight=3 * MSS, round_start=True))
    assert cc.phase == "probe_bw"


def test_recovery_conserves_packets_then_restores_cwnd() -> None:
    cc = in_probe_bw()
    for i in range(100):
        cc.on_ack(ack(0.3 + 0.001 * i, acked=5000, in_flight=40_000))
    assert cc.cwnd == 103_000
    cc.on_enter_recovery(80_000, sack=True)
    assert cc.cwnd == 81_000  # in flight + 1 segment (draft §4.2.3.4)
    cc.on_ack(ack(1.0, acked=2000, in_flight=90_000, in_recovery=True))
    assert cc.cwnd == 92_000  # max(cwnd, in flight + delivered)
    cc.on_ack(ack(1.01, acked=2000, in_flight=200_000, in_recovery=True))
    assert cc.cwnd == 103_000  # never above the cwnd saved at entry
    cc.on_exit_recovery(50_000)
    assert cc.cwnd == 103_000
    assert cc.ssthresh == INFINITE_SSTHRESH and cc.phase == "probe_bw"  # the model is kept


def test_timeout_sets_one_segment_and_keeps_the_model() -> None:
    cc = in_probe_bw()
    cc.on_timeout(50_000)
    assert cc.cwnd == MSS and cc.btlbw == BW and cc.rtprop == RTT
    cc.on_ack(ack(0.4, acked=MSS, in_flight=0))
    assert cc.cwnd == 4 * MSS  # grows by what is delivered, at least BBRMinPipeCwnd


def test_ecn_is_ignored() -> None:
    cc = in_probe_bw()
    before = (cc.cwnd, cc.ssthresh, cc.pacing_rate)
    cc.on_ecn(100_000)
    assert (cc.cwnd, cc.ssthresh, cc.pacing_rate) == before


def test_without_rate_samples_one_per_round() -> None:
    cc = Bbr(MSS)
    cc.on_ack(AckSample(0.0, MSS, rtt=None, round_start=True))
    cc.on_ack(AckSample(0.02, 9000, rtt=None))
    cc.on_ack(AckSample(0.05, 10_000, rtt=None, round_start=True))
    # The round 0 .. 0.05 s acknowledged 9,000 + 10,000 bytes: 380,000 bytes/s;
    # its duration is the RTT sample.
    assert cc.btlbw == pytest.approx(19_000 / 0.05)
    assert cc.rtprop == pytest.approx(0.05)


# -- invariants --------------------------------------------------------------------

ACK_EVENT = st.tuples(st.integers(0, 20 * MSS), st.floats(1e3, 1e8), st.floats(0.001, 0.5),
                      st.integers(0, 500 * MSS), st.booleans(), st.booleans(), st.booleans())


@given(st.lists(st.one_of(ACK_EVENT, *HOOK_EVENTS), max_size=80), st.floats(0.001, 2.0))
def test_windows_and_rates_stay_sane(events: list[tuple[object, ...]], step: float) -> None:
    cc = Bbr(MSS)
    now = 0.0
    for ev in events:
        now += step
        match ev:
            case (int(acked), float(bw), float(rtt), int(flight), bool(rs), bool(al), bool(rec)):
                cc.on_ack(AckSample(now, acked, in_flight=flight, rtt=rtt,
                                    rate=RateSample(bw, acked, rtt, rtt, flight, al),
                                    round_start=rs, in_recovery=rec))
                assert cc.cwnd >= 4 * MSS or (cc.cwnd >= MSS and rec)
            case _:
                apply_hook_event(cc, ev)
        assert cc.cwnd >= MSS
        assert cc.pacing_rate is not None and cc.pacing_rate > 0 and math.isfinite(cc.pacing_rate)
        assert cc.phase in ("startup", "drain", "probe_bw", "probe_rtt")


def delivered_ack(now: float, delivered: int, since: int, *, acked: int = 0, sacked: int = 0,
                  round_start: bool = False, in_recovery: bool = False) -> AckSample:
    """An ACK after which ``delivered`` bytes are delivered in all, whose newest
    delivered segment left when ``delivered - since`` were (rs.prior_delivered)."""
    rate = RateSample(BW, since, RTT, RTT, 10 * MSS, False)
    return AckSample(now, acked, sacked, in_flight=10 * MSS, rtt=RTT, delivered=delivered,
                     rate=rate, round_start=round_start, in_recovery=in_recovery)


def test_rounds_are_counted_by_delivered_bytes_sacked_ones_too() -> None:
    # Draft §4.1.1.3 BBRUpdateRound: a round ends when rs.prior_delivered >=
    # next_round_delivered, then next_round_delivered = C.delivered.
    cc = Bbr(MSS)
    counts = []
    # prior 0 >= 0: round 1; next = 1000.
    cc.on_ack(delivered_ack(0.05, 1000, 1000, acked=1000))
    counts.append(cc.round_count)
    # prior 2000 - 2000 = 0 < 1000.
    cc.on_ack(delivered_ack(0.06, 2000, 2000, acked=1000))
    counts.append(cc.round_count)
    # A SACK-only ACK (SND.UNA stays behind a hole): prior 3000 - 2000 = 1000
    # >= 1000: round 2 (the sender's round_start, False, is not used); next = 3000.
    cc.on_ack(delivered_ack(0.1, 3000, 2000, sacked=1000))
    counts.append(cc.round_count)
    # The sender's round_start True is not used either: prior 3500 - 2500 = 1000 < 3000.
    cc.on_ack(delivered_ack(0.11, 3500, 2500, acked=500, round_start=True))
    counts.append(cc.round_count)
    assert counts == [1, 1, 2, 2]


def test_recovery_starts_the_conservation_round_at_its_entry() -> None:
    # Linux bbr_set_cwnd_to_recover_or_restore: next_rtt_delivered = delivered
    # on entering recovery, so packet conservation lasts a round from there.
    cc = Bbr(MSS)
    cc.on_ack(delivered_ack(0.05, 1000, 1000, acked=1000))  # round 1, next = 1000
    cc.on_ack(delivered_ack(0.06, 3000, 3000, acked=2000))  # prior 0: no round
    cc.on_enter_recovery(10 * MSS, sack=True)  # next = 3000 (delivered so far)
    # prior 4000 - 1500 = 2500 >= 1000 would end round 1, but < 3000: no.
    cc.on_ack(delivered_ack(0.07, 4000, 1500, sacked=1000, in_recovery=True))
    assert cc.round_count == 1
    # prior 5000 - 2000 = 3000 >= 3000: round 2.
    cc.on_ack(delivered_ack(0.1, 5000, 2000, sacked=1000, in_recovery=True))
    assert cc.round_count == 2
