"""BBR v1 congestion control (Cardwell et al., "BBR: Congestion-Based Congestion
Control", ACM Queue 14(5), 2016; draft-cardwell-iccrg-bbr-congestion-control-00).

BBR models the path by two numbers: BtlBw, the bottleneck bandwidth (a
windowed maximum of delivery-rate samples over 10 round trips, bytes/s), and
RTprop, the round-trip propagation time (a windowed minimum of RTT samples
over 10 seconds). It paces at ``pacing_gain * BtlBw`` and keeps at most
``cwnd_gain * BtlBw * RTprop`` (plus a send-quantum allowance) in flight.
Its states and gains (draft §4.3):

=============  ==================  ==========================================
``startup``    2/ln2 (both gains)  until BtlBw grew < 25 % in 3 rounds
``drain``      ln2/2 pacing        until in flight <= one BDP
``probe_bw``   cycle of 8 phases   [1.25, 0.75, 1 x 6], one per RTprop
``probe_rtt``  cwnd 4 packets      200 ms and one round, after 10 s without
                                   a lower RTprop
=============  ==================  ==========================================

Round trips are counted by delivered bytes (draft §4.1.1.3): a segment sent
after the round began is delivered, by SACK as well as cumulatively, so
rounds go on while a hole holds SND.UNA.

Losses do not reduce the model; recovery uses packet conservation for one
round and restores the prior cwnd afterwards (draft §4.2.3.4).

Degraded inputs: without delivery-rate samples (``AckSample.rate`` None)
rounds come from ``AckSample.round_start`` and one sample per round is made
from the bytes acknowledged over the round's duration (counted as not
app-limited); without RTT samples RTprop stays
unknown and the target window is the initial window.
"""

from __future__ import annotations

import math
import random
from collections import deque

from .base import AckSample, CongestionControl, initial_window

HIGH_GAIN = 2 / math.log(2)
"""BBRHighGain, 2/ln2 ~ 2.885: STARTUP's pacing and cwnd gain (draft §4.3.2.1)."""
DRAIN_GAIN = 1 / HIGH_GAIN
"""DRAIN's pacing gain, ln2/2 ~ 0.347 (draft §4.3.3)."""
PROBE_BW_CWND_GAIN = 2.0
"""PROBE_BW's cwnd gain (draft §4.3.4)."""
PACING_GAIN_CYCLE = (1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
"""PROBE_BW's pacing gains, one phase per RTprop (draft §4.3.4.3)."""
BTLBW_FILTER_ROUNDS = 10
"""BtlBwFilterLen: rounds of the BtlBw max filter (draft §4.1.1)."""
RTPROP_FILTER_LEN = 10.0
"""RTpropFilterLen: seconds of the RTprop min filter (draft §4.1.2)."""
PROBE_RTT_DURATION = 0.2
"""ProbeRTTDuration: seconds at the minimum cwnd in PROBE_RTT (draft §4.3.5)."""
MIN_PIPE_SEGMENTS = 4
"""BBRMinPipeCwnd in segments (draft §4.2.3)."""
FULL_BW_THRESH = 1.25
"""Startup ends when BtlBw grew less than 25 % ..."""
FULL_BW_COUNT = 3
"""... for this many rounds in a row (draft §4.3.2.2)."""
SEND_QUANTA_SEGMENTS = 3
"""The target window's allowance for send quanta: 3 * SMSS (draft §4.2.3.2 says
3 * send_quantum; this sender sends one segment at a time: send_quantum = SMSS)."""
SEED = 0xBB1
"""The per-instance random source is ``random.Random(SEED)``: every BBR flow picks
the same PROBE_BW start phase sequence, and runs are reproducible."""

STARTUP = "startup"
DRAIN = "drain"
PROBE_BW = "probe_bw"
PROBE_RTT = "probe_rtt"


class Bbr(CongestionControl):
    """BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00).

    Attributes:
        state: ``"startup"``, ``"drain"``, ``"probe_bw"`` or ``"probe_rtt"``.
        pacing_gain: the current pacing gain.
        cwnd_gain: the current cwnd gain.
        rtprop: RTprop, seconds (``math.inf`` before a sample).
        rtprop_stamp: when RTprop was last set, seconds.
        round_count: round trips counted (draft §4.1.1.3: by delivered bytes; see
            :meth:`_update_round`).
        filled_pipe: startup found the bottleneck full.
        cycle_index: the PROBE_BW phase (index into :data:`PACING_GAIN_CYCLE`).
        cycle_stamp: when that phase began, seconds.
        prior_cwnd: cwnd saved before recovery or PROBE_RTT, bytes.
        rng: the random source of the PROBE_BW start phase (see :data:`SEED`).
    """

    __slots__ = ("_bw_samples", "_conservation_round", "_delivered", "_full_bw", "_full_bw_count",
                 "_idle_restart", "_next_round_delivered", "_pacing_from_rtt", "_probe_rtt_done_at",
                 "_probe_rtt_round_done", "_round_acked", "_round_began", "_round_clean",
                 "_rounds_by_delivery", "_sack_recovery", "cwnd_gain", "cycle_index", "cycle_stamp",
                 "filled_pipe", "pacing_gain", "pacing_rate", "prior_cwnd", "rng", "round_count",
                 "rtprop", "rtprop_stamp", "state")

    name = "bbr"
    needs_samples = True
    paces = True  # (for listings: BBR sets pacing_rate)

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.rng = random.Random(SEED)
        self.rtprop = math.inf
        self.rtprop_stamp = 0.0
        self.round_count = 0
        self.filled_pipe = False
        self.cycle_index = 0
        self.prior_cwnd = 0
        self._bw_samples: deque[tuple[int, float]] = deque()  # (round, delivery rate)
        self._full_bw = 0.0
        self._full_bw_count = 0
        self.cycle_stamp = 0.0
        self._probe_rtt_done_at: float | None = None
        self._probe_rtt_round_done = False
        self._idle_restart = False
        self._conservation_round: int | None = None  # round recovery began in
        self._sack_recovery = False  # the current recovery uses SACK (RFC 6675)
        self._delivered = 0  # bytes delivered so far (C.delivered of the draft)
        self._next_round_delivered = 0  # BBR.next_round_delivered: C.delivered at the round's start
        self._rounds_by_delivery = False  # rounds counted from rate samples (else round_start)
        self._round_acked = 0  # bytes acknowledged this round (fallback rate samples)
        self._round_began: float | None = None
        self._round_clean = True  # no loss reported in this round so far
        self._enter_startup()
        self._init_pacing_rate(None)

    # -- the model ---------------------------------------------------------------

    @property
    def btlbw(self) -> float:
        """BtlBw, bytes/s: the most of the delivery rates of the last 10 rounds (0 before any)."""
        oldest = self.round_count - BTLBW_FILTER_ROUNDS
        return max((rate for rnd, rate in self._bw_samples if rnd > oldest), default=0.0)

    def bdp(self) -> float | None:
        """BtlBw * RTprop, bytes, or None while either is unknown."""
        bw = self.btlbw
        if math.isinf(self.rtprop) or bw <= 0:
            return None
        return bw * self.rtprop

    def inflight(self, gain: float) -> int:
        """BBRInflight(gain): gain * BDP + 3 * SMSS, bytes (draft §4.2.3.2);
        the initial window while the BDP is unknown."""
        bdp = self.bdp()
        if bdp is None:
            return initial_window(self.mss, self.iw_segments)
        return int(gain * bdp) + SEND_QUANTA_SEGMENTS * self.mss

    @property
    def phase(self) -> str:
        """The BBR state (see :attr:`state`)."""
        return self.state

    def set_mss(self, mss: int, iw_segments: int | None = None) -> None:
        super().set_mss(mss, iw_segments)
        self._init_pacing_rate(None)

    def _init_pacing_rate(self, srtt: float | None) -> None:
        # Draft §4.2.1 BBRInitPacingRate: nominal_bandwidth = InitialCwnd /
        # (SRTT ? SRTT : 1ms); pacing_rate = pacing_gain * nominal_bandwidth.
        # (Made at construction without an RTT, again at the first RTT sample.)
        self._pacing_from_rtt = srtt is not None
        rtt = srtt if srtt else 0.001
        self.pacing_rate = self.pacing_gain * initial_window(self.mss, self.iw_segments) / rtt

    # -- state transitions ----------------------------------------------------

    def _enter_startup(self) -> None:
        # Draft §4.3.2: both gains 2/ln2.
        self.state = STARTUP
        self.pacing_gain = HIGH_GAIN
        self.cwnd_gain = HIGH_GAIN

    def _enter_drain(self) -> None:
        # Draft §4.3.3: pacing_gain = 1/high_gain, until in flight <= one BDP.
        # The draft keeps cwnd_gain = high_gain and lets pacing drain the
        # queue; cwnd_gain 1 here drains it through cwnd as well, so DRAIN
        # ends when the sender does not pace (with pacing it changes nothing:
        # DRAIN ends as in flight reaches that cwnd).
        self.state = DRAIN
        self.pacing_gain = DRAIN_GAIN
        self.cwnd_gain = 1.0

    def _enter_probe_bw(self, now: float) -> None:
        # Draft §4.3.4.4: cwnd_gain 2; start at a random phase other than the
        # 0.75 one: cycle_index = 8 - 1 - random(0..6), then advance once.
        self.state = PROBE_BW
        self.pacing_gain = 1.0
        self.cwnd_gain = PROBE_BW_CWND_GAIN
        self.cycle_index = len(PACING_GAIN_CYCLE) - 1 - self.rng.randint(0, 6)
        self._advance_cycle_phase(now)

    def _advance_cycle_phase(self, now: float) -> None:
        self.cycle_stamp = now
        self.cycle_index = (self.cycle_index + 1) % len(PACING_GAIN_CYCLE)
        self.pacing_gain = PACING_GAIN_CYCLE[self.cycle_index]

    def _enter_probe_rtt(self) -> None:
        # Draft §4.3.5: pacing_gain = cwnd_gain = 1; save cwnd; cwnd 4 packets.
        self.state = PROBE_RTT
        self.pacing_gain = 1.0
        self.cwnd_gain = 1.0
        self._save_cwnd()
        self._probe_rtt_done_at = None

    def _exit_probe_rtt(self, now: float) -> None:
        # Draft §4.3.5 BBRExitProbeRTT: back to PROBE_BW if the pipe was filled, else STARTUP.
        self.cwnd = max(self.cwnd, self.prior_cwnd)
        if self.filled_pipe:
            self._enter_probe_bw(now)
        else:
            self._enter_startup()

    def _save_cwnd(self) -> None:
        # Draft §4.2.3.4 BBRSaveCwnd: the larger cwnd if saved already in recovery / PROBE_RTT.
        if self._conservation_round is None and self.state != PROBE_RTT:
            self.prior_cwnd = self.cwnd
        else:
            self.prior_cwnd = max(self.prior_cwnd, self.cwnd)

    # -- per ACK ----------------------------------------------------------------

    def on_ack(self, sample: AckSample) -> None:
        now = sample.now
        newly = self._newly_delivered(sample)
        rate = sample.rate
        rtt = sample.rtt if sample.rtt is not None else (rate.rtt if rate is not None else None)
        prior_in_flight = (rate.prior_in_flight if rate is not None
                           else sample.in_flight + newly)
        # Draft §4.1.1 BBRUpdateBtlBw: count rounds; feed the max filter.
        round_start = self._update_round(sample)
        if round_start:
            self.round_count += 1
        # "if rs.delivery_rate >= BtlBw or not rs.is_app_limited": app-limited
        # samples only count when they raise the estimate.
        if rate is not None and (not rate.app_limited or rate.delivery_rate >= self.btlbw):
            self._add_bw_sample(rate.delivery_rate)
        if sample.in_recovery:
            self._round_clean = False
        round_time = self._round_time(now, newly, round_start)
        if rate is None and round_time is not None and self._round_acked > 0 \
                and self._round_clean:
            # (a round with losses is skipped: its cumulative ACKs also count
            # bytes delivered in earlier rounds)
            self._add_bw_sample(self._round_acked / round_time)
        round_bytes = self._round_acked
        if round_start:
            self._round_acked = 0
            self._round_clean = not sample.in_recovery
        if rtt is None and round_time is not None and 4 * round_bytes >= self.cwnd \
                and self.state != PROBE_RTT:
            # (only a round that carried at least a quarter of cwnd, outside
            # PROBE_RTT: a round of a few segments sent together ends when the
            # last one is acknowledged, a few serialisation times later, not an RTT)
            rtt = round_time
        app_limited = rate is not None and rate.app_limited
        self._check_cycle_phase(now, prior_in_flight, sample.in_recovery)
        self._check_full_pipe(round_start, app_limited)
        self._check_drain(now, sample.in_flight)
        self._update_rtprop(now, rtt, sample.in_flight, round_start)
        self._set_pacing_rate(rtt)
        self._set_cwnd(sample, newly)

    def _update_round(self, sample: AckSample) -> bool:
        """Draft §4.1.1.3 BBRUpdateRound: does this ACK end a round trip?

        A round ends when a segment sent after it began is delivered,
        cumulatively or by SACK: "if (rs.prior_delivered >=
        BBR.next_round_delivered)", with rs.prior_delivered the
        C.delivered its newest delivered segment was sent with (here
        ``AckSample.delivered - RateSample.delivered``). Counting by SACKed
        deliveries keeps rounds going while a hole holds SND.UNA (a loss
        recovery of many round trips); counting by SND.UNA alone would
        freeze STARTUP's full-pipe check, the BtlBw filter's aging and the
        one-round packet conservation until the hole is filled. Without
        rate samples (``delivered`` 0 or ``rate`` None on every ACK so far)
        the sender's ``round_start`` (SND.UNA passed the round's HighData)
        is used instead."""
        rate = sample.rate
        if rate is not None and sample.delivered > 0:
            self._rounds_by_delivery = True
            if sample.delivered - rate.delivered >= self._next_round_delivered:
                self._next_round_delivered = sample.delivered
                return True
            return False
        # (an ACK without a sample among ACKs with them: no round end here)
        return sample.round_start and not self._rounds_by_delivery

    def _newly_delivered(self, sample: AckSample) -> int:
        """Bytes this ACK delivered: the growth of ``AckSample.delivered`` when the
        sender counts it (a cumulative ACK of bytes SACKed before delivers nothing
        new), else the bytes it acknowledged or SACKed."""
        if sample.delivered > 0:
            newly = max(0, sample.delivered - self._delivered)
            self._delivered = max(self._delivered, sample.delivered)
            return newly
        newly = sample.acked + sample.sacked
        self._delivered += newly
        return newly

    def _round_time(self, now: float, newly: int, round_start: bool) -> float | None:
        """Count this ACK's bytes into the round; at a round's end, its duration
        (seconds), else None. The fallback samples: without delivery-rate samples
        BtlBw gets one per round (its bytes over its duration, never app-limited),
        without RTT samples RTprop gets the round's duration (about one RTT)."""
        self._round_acked += newly
        began = self._round_began
        if began is None or round_start:
            self._round_began = now
        if began is None or not round_start or now <= began:
            return None
        return now - began

    def _add_bw_sample(self, rate: float) -> None:
        """The windowed max filter: keep the samples of the last 10 rounds."""
        samples = self._bw_samples
        if samples and samples[-1][0] == self.round_count:
            # one entry per round, its best sample: at most 10 entries to scan
            if rate > samples[-1][1]:
                samples[-1] = (self.round_count, rate)
            return
        samples.append((self.round_count, rate))
        while samples and samples[0][0] <= self.round_count - BTLBW_FILTER_ROUNDS:
            samples.popleft()

    def _check_cycle_phase(self, now: float, prior_in_flight: int, in_recovery: bool) -> None:
        """Draft §4.3.4.3 BBRIsNextCyclePhase: one phase per RTprop; the 1.25 phase
        also until in flight reached 1.25 BDP, the 0.75 phase ends early at 1 BDP."""
        if self.state != PROBE_BW:
            return
        full_length = now - self.cycle_stamp > self.rtprop
        gain = self.pacing_gain
        if gain > 1:
            # "is_full_length and (rs.losses > 0 or prior_inflight >= BBRInflight(gain))":
            # losses are seen here as an ACK in loss recovery.
            due = full_length and (in_recovery or prior_in_flight >= self.inflight(gain))
        elif gain < 1:
            due = full_length or prior_in_flight <= self.inflight(1.0)
        else:
            due = full_length
        if due:
            self._advance_cycle_phase(now)

    def _check_full_pipe(self, round_start: bool, app_limited: bool) -> None:
        """Draft §4.3.2.2 BBRCheckFullPipe: 3 rounds without 25 % BtlBw growth."""
        if self.filled_pipe or not round_start or app_limited:
            return
        bw = self.btlbw
        if bw >= self._full_bw * FULL_BW_THRESH:
            self._full_bw = bw  # still growing: record it, restart the count
            self._full_bw_count = 0
            return
        self._full_bw_count += 1
        if self._full_bw_count >= FULL_BW_COUNT:
            self.filled_pipe = True

    def _check_drain(self, now: float, in_flight: int) -> None:
        """Draft §4.3.3 BBRCheckDrain: STARTUP -> DRAIN -> PROBE_BW."""
        if self.state == STARTUP and self.filled_pipe:
            self._enter_drain()
        if self.state == DRAIN and in_flight <= self.inflight(1.0):
            self._enter_probe_bw(now)

    def _update_rtprop(self, now: float, rtt: float | None, in_flight: int,
                       round_start: bool) -> None:
        """Draft §4.1.2 BBRUpdateRTprop and §4.3.5 BBRCheckProbeRTT."""
        # (the filter starts with the first sample: no expiry before it)
        expired = not math.isinf(self.rtprop) and now > self.rtprop_stamp + RTPROP_FILTER_LEN
        if rtt is not None and rtt >= 0 and (rtt <= self.rtprop or expired):
            self.rtprop = rtt
            self.rtprop_stamp = now
        if self.state != PROBE_RTT and expired and not self._idle_restart:
            self._enter_probe_rtt()
        if self.state == PROBE_RTT:
            self._handle_probe_rtt(now, in_flight, round_start)
        self._idle_restart = False

    def _handle_probe_rtt(self, now: float, in_flight: int, round_start: bool) -> None:
        """Draft §4.3.5 BBRHandleProbeRTT: hold the minimum cwnd 200 ms and a round."""
        if self._probe_rtt_done_at is None:
            if in_flight <= MIN_PIPE_SEGMENTS * self.mss:
                # "BBR.next_round_delivered = BBR.delivered": the round that must
                # pass at the minimum cwnd starts now.
                self._probe_rtt_done_at = now + PROBE_RTT_DURATION
                self._probe_rtt_round_done = False
                self._next_round_delivered = self._delivered
            return
        if round_start:
            self._probe_rtt_round_done = True
        if self._probe_rtt_round_done and now >= self._probe_rtt_done_at:
            self.rtprop_stamp = now
            self._exit_probe_rtt(now)

    def _set_pacing_rate(self, rtt: float | None) -> None:
        """Draft §4.2.1 BBRSetPacingRateWithGain: pacing_gain * BtlBw, never lowered
        before the pipe is filled."""
        if not self._pacing_from_rtt and rtt is not None and rtt > 0:
            self._init_pacing_rate(rtt)  # the nominal rate, now from a real RTT
        bw = self.btlbw
        if bw <= 0:
            return
        rate = self.pacing_gain * bw
        if self.filled_pipe or self.pacing_rate is None or rate > self.pacing_rate:
            self.pacing_rate = rate

    def _set_cwnd(self, sample: AckSample, newly: int) -> None:
        """Draft §4.2.3 BBRSetCwnd, with recovery (§4.2.3.4) and PROBE_RTT (§4.2.3.5)."""
        mss = self.mss
        min_pipe = MIN_PIPE_SEGMENTS * mss
        if self._conservation_round is not None and (
                self.round_count > self._conservation_round or not sample.in_recovery):
            self._conservation_round = None  # packet conservation lasts one round
        if self._conservation_round is not None:
            # Packet conservation: cwnd = max(cwnd, inflight + delivered), never
            # above the cwnd saved at entry (restored at the exit anyway): an
            # in_flight that counts SACKed bytes must not inflate it.
            conserve = sample.in_flight + newly
            self.cwnd = max(self.cwnd, min(conserve, max(self.prior_cwnd, self.cwnd)))
        else:
            target = self.inflight(self.cwnd_gain)
            if self.filled_pipe:
                # cwnd grows by what was delivered, up to the target.
                self.cwnd = min(self.cwnd + newly, target)
            elif self.cwnd < target or self._delivered < initial_window(mss, self.iw_segments):
                # Before the pipe is full: grow by what was delivered (slow-start like).
                self.cwnd += newly
            self.cwnd = max(self.cwnd, min_pipe)
        if self.state == PROBE_RTT:
            self.cwnd = min(self.cwnd, min_pipe)  # BBRModulateCwndForProbeRTT

    # -- losses ---------------------------------------------------------------

    def on_enter_recovery(self, flight_size: int, *, sack: bool) -> None:
        # Draft §4.2.3.4: save cwnd; cwnd = packets in flight + 1 packet delivered;
        # packet conservation for one round. (FlightSize is taken at most cwnd:
        # data sent in an earlier SACK recovery can leave more outstanding.)
        self._save_cwnd()
        self.cwnd = min(flight_size, self.cwnd) + self.mss
        # The conservation round starts now (Linux tcp_bbr.c
        # bbr_set_cwnd_to_recover_or_restore: "next_rtt_delivered =
        # tp->delivered; start round now"): it ends when data sent from here
        # on is delivered, not at a round end already under way.
        self._next_round_delivered = self._delivered
        self._conservation_round = self.round_count
        self._round_clean = False
        self._sack_recovery = sack

    def on_recovery_dupack(self) -> None:
        # Packet conservation without SACK: each duplicate ACK means a segment
        # left the network, so one more may enter (RFC 5681's inflation, same rule).
        # With SACK the sender's pipe (RFC 6675) already counts it.
        if self._conservation_round is not None and not self._sack_recovery:
            self.cwnd += self.mss

    def on_partial_ack(self, acked: int) -> None:
        pass  # on_ack already applied conservation / growth for this ACK

    def on_exit_recovery(self, flight_size: int) -> None:
        # Draft §4.2.3.4 BBRRestoreCwnd: cwnd = max(cwnd, prior_cwnd).
        self._conservation_round = None
        self.cwnd = max(self.cwnd, self.prior_cwnd)

    def on_timeout(self, flight_size: int) -> None:
        # Draft §4.2.3.4: on a retransmission timeout save cwnd and set it to 1 packet;
        # the model (BtlBw, RTprop) is kept; cwnd regrows by what is delivered.
        self._save_cwnd()
        self._conservation_round = None
        self.cwnd = self.mss
        self._round_clean = False

    def on_ecn(self, flight_size: int) -> None:
        pass  # BBR v1 does not respond to ECN (draft -00 has no ECN rule)

    def on_idle(self) -> None:
        # Draft §4.3.4.4 (restarting from idle): keep cwnd; in PROBE_BW pace at
        # BtlBw (gain 1) while restarting; no PROBE_RTT on this ACK.
        self._idle_restart = True
        if self.state == PROBE_BW and self.btlbw > 0:
            self.pacing_rate = self.btlbw


__all__ = ["DRAIN_GAIN", "HIGH_GAIN", "PACING_GAIN_CYCLE", "SEED", "Bbr"]
