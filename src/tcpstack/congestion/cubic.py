"""CUBIC congestion control (RFC 9438) with HyStart++ slow start (RFC 9406).

Windows are bytes here (``cwnd``, ``ssthresh``, ``w_max``); the RFC's cubic
function is written in segments, so :meth:`Cubic.w_cubic` converts with the
SMSS. Times are seconds. Loss recovery itself (fast retransmit, partial
ACKs, RFC 6675's pipe) is NewReno's (RFC 9438 §4.6 leaves it to the
standard recovery), so :class:`Cubic` inherits those hooks.

Without per-ACK RTT samples (``AckSample.rtt`` None) HyStart++ never
leaves slow start early (plain slow start until a loss) and W_cubic is
evaluated at t instead of t + RTT.
"""

from __future__ import annotations

import math

from .base import AckSample
from .newreno import NewReno

C = 0.4
"""CUBIC's scaling constant C, segments / s^3 (RFC 9438 §5.1)."""
BETA_CUBIC = 0.7
"""Multiplicative decrease factor beta_cubic (RFC 9438 §4.6)."""
ALPHA_CUBIC = 3 * (1 - BETA_CUBIC) / (1 + BETA_CUBIC)
"""Reno-friendly additive increase per RTT, segments (RFC 9438 §4.3, eq. 4): ~0.529."""

# HyStart++ constants (RFC 9406 §4.3, the recommended values).
N_RTT_SAMPLE = 8
"""RTT samples a round needs before its minimum counts."""
MIN_RTT_THRESH = 0.004
"""Lower bound of the RTT increase that ends slow start, seconds."""
MAX_RTT_THRESH = 0.016
"""Upper bound of the RTT increase that ends slow start, seconds."""
MIN_RTT_DIVISOR = 8
"""The threshold is the last round's minimum RTT divided by this (clamped)."""
CSS_GROWTH_DIVISOR = 4
"""Conservative Slow Start grows this many times slower than slow start."""
CSS_ROUNDS = 5
"""Rounds of Conservative Slow Start before congestion avoidance."""
HYSTART_L = 8
"""L, the most segments one ACK may add in slow start (RFC 9406 §4.2: "L = infinity
if paced, L = 8 if non-paced"): this CUBIC does not pace, so 8."""


def w_cubic(t: float, *, w_max: float, k: float) -> float:
    """W_cubic(t) = C * (t - K)^3 + W_max (RFC 9438 §4.2, eq. 1), segments.

    ``t``: seconds since the congestion avoidance epoch began; ``w_max``:
    segments; ``k``: seconds (eq. 2).
    """
    return C * (t - k) ** 3 + w_max


def cubic_k(w_max: float, cwnd_epoch: float) -> float:
    """K = cbrt((W_max - cwnd_epoch) / C) (RFC 9438 §4.2, eq. 2), seconds.

    Both windows in segments; 0 when cwnd_epoch >= W_max (the epoch starts at
    or above the plateau: no concave region, Linux ``bictcp_update`` likewise).
    """
    return math.cbrt((w_max - cwnd_epoch) / C) if w_max > cwnd_epoch else 0.0


class Cubic(NewReno):
    """RFC 9438 CUBIC: cubic growth from the last W_max, a Reno-friendly floor,
    fast convergence, beta_cubic = 0.7; HyStart++ (RFC 9406) in the first slow start.

    Attributes:
        w_max: W_max, bytes: cwnd just before the last reduction (after fast
            convergence, §4.7); 0 before any.
        k: K of the current epoch, seconds.
        epoch_start: when the current congestion avoidance epoch began,
            seconds, or None (not in congestion avoidance yet, or just reduced).
        cwnd_epoch: cwnd at the epoch's start, bytes.
        w_est: the Reno-friendly estimate W_est, bytes (§4.3).
        cwnd_prior: cwnd before the last reduction, bytes (§4.3, §4.6).
        srtt: smoothed RTT from the samples (RFC 6298 gains), seconds, or None.
        in_css: HyStart++ is in Conservative Slow Start.
    """

    __slots__ = ("_carry", "_css_baseline", "_css_rounds", "_cur_min_rtt", "_hystart_done",
                 "_last_min_rtt", "_rtt_count", "cwnd_epoch", "cwnd_prior", "epoch_start",
                 "in_css", "k", "srtt", "w_est", "w_max")

    name = "cubic"
    needs_samples = True

    def __init__(self, mss: int) -> None:
        super().__init__(mss)
        self.w_max = 0
        self.k = 0.0
        self.epoch_start: float | None = None
        self.cwnd_epoch = 0
        self.w_est = 0.0
        self.cwnd_prior = 0
        self.srtt: float | None = None
        self._carry = 0.0  # fractional bytes of cwnd growth not yet added
        # HyStart++ (RFC 9406 §4.2): per-round minimum RTTs and the CSS state.
        self._last_min_rtt = math.inf
        self._cur_min_rtt = math.inf
        self._rtt_count = 0
        self.in_css = False
        self._css_baseline = math.inf
        self._css_rounds = 0
        self._hystart_done = False  # HyStart++ only in the initial slow start (§4.2)

    # -- the cubic function ---------------------------------------------------

    def w_cubic(self, t: float) -> float:
        """W_cubic(t) of the current epoch in bytes (eq. 1 times SMSS); ``t`` seconds."""
        return w_cubic(t, w_max=self.w_max / self.mss, k=self.k) * self.mss

    # -- acknowledgments ------------------------------------------------------

    def on_ack(self, sample: AckSample) -> None:
        if sample.rtt is not None and sample.rtt > 0:
            # RFC 6298 §2.3 gains: the "smoothed round-trip time" of RFC 9438 §4.2.
            rtt = sample.rtt
            self.srtt = rtt if self.srtt is None else 0.875 * self.srtt + 0.125 * rtt
        if self.in_slow_start:
            self._hystart(sample)
        acked = sample.acked
        if acked <= 0 or sample.in_recovery:
            return  # recovery: NewReno's on_partial_ack / on_exit_recovery (RFC 9438 §4.6)
        if sample.ece:
            return  # RFC 3168 §6.1.2: an ECN-Echo ACK does not grow the window
        if self.in_slow_start:
            self._slow_start(acked)
        else:
            self._avoidance(sample.now, acked)

    def _slow_start(self, acked: int) -> None:
        limit = HYSTART_L * self.mss
        if self.in_css:
            # RFC 9406 §4.2, CSS: cwnd += min(N, L*SMSS) / CSS_GROWTH_DIVISOR.
            self._grow(min(acked, limit) / CSS_GROWTH_DIVISOR)
        else:
            # RFC 9406 §4.2, standard slow start: cwnd += min(N, L*SMSS).
            self.cwnd += min(acked, limit)

    def _hystart(self, sample: AckSample) -> None:
        """RFC 9406 §4.2: round minimum RTTs, the delay-increase exit, CSS rounds."""
        if self._hystart_done:
            return
        if sample.round_start:
            if self.in_css:
                self._css_rounds += 1
                if self._css_rounds >= CSS_ROUNDS:
                    # "If CSS_ROUNDS rounds are complete, enter congestion
                    # avoidance by setting the ssthresh to the current cwnd."
                    self.ssthresh = self.cwnd
                    self.in_css = False
                    self._hystart_done = True
                    return
            # "At the start of each round": lastRoundMinRTT = currentRoundMinRTT, reset.
            self._last_min_rtt = self._cur_min_rtt
            self._cur_min_rtt = math.inf
            self._rtt_count = 0
        if sample.rtt is None:
            return  # no sample: no exit (plain slow start)
        self._cur_min_rtt = min(self._cur_min_rtt, sample.rtt)
        self._rtt_count += 1
        if self._rtt_count < N_RTT_SAMPLE or math.isinf(self._last_min_rtt):
            return
        if not self.in_css:
            # RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR,
            # MAX_RTT_THRESH)); exit to CSS if currentRoundMinRTT >= last + RttThresh.
            thresh = max(MIN_RTT_THRESH, min(self._last_min_rtt / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
            if self._cur_min_rtt >= self._last_min_rtt + thresh:
                self.in_css = True
                self._css_baseline = self._cur_min_rtt
                self._css_rounds = 0
        elif self._cur_min_rtt < self._css_baseline:
            # "If currentRoundMinRTT < cssBaselineMinRtt": the exit was spurious,
            # resume standard slow start.
            self.in_css = False
            self._css_baseline = math.inf

    def _avoidance(self, now: float, acked: int) -> None:
        """RFC 9438 §4.2-4.5: one ACK of ``acked`` bytes in congestion avoidance."""
        mss = self.mss
        if self.epoch_start is None:
            # §4.2: the epoch begins; K from eq. 2 with cwnd_epoch; W_est = cwnd_epoch (§4.3).
            self.epoch_start = now
            self.cwnd_epoch = self.cwnd
            if self.w_max < self.cwnd:
                self.w_max = self.cwnd  # no (larger) plateau known: K = 0, grow convex
            self.k = cubic_k(self.w_max / mss, self.cwnd_epoch / mss)
            self.w_est = float(self.cwnd)
        cwnd = self.cwnd
        t = now - self.epoch_start
        # §4.3: W_est += alpha_cubic * segments_acked / cwnd (segments); in bytes
        # alpha * acked * SMSS / cwnd. alpha_cubic becomes 1 once W_est >= cwnd_prior.
        alpha = 1.0 if self.cwnd_prior and self.w_est >= self.cwnd_prior else ALPHA_CUBIC
        self.w_est += alpha * acked * mss / cwnd
        if self.w_cubic(t) < self.w_est:
            # §4.3 Reno-friendly region: cwnd = W_est.
            if self.w_est > cwnd:
                self.cwnd = int(self.w_est)
                self._carry = self.w_est - self.cwnd
            return
        # §4.4 concave / §4.5 convex region: target = W_cubic(t + RTT) clamped to
        # [cwnd, 1.5 cwnd]; cwnd += (target - cwnd) / cwnd per segment acknowledged.
        rtt = self.srtt if self.srtt is not None else 0.0
        target = min(max(self.w_cubic(t + rtt), cwnd), 1.5 * cwnd)
        self._grow((target - cwnd) * acked / cwnd)

    def _grow(self, increase: float) -> None:
        """Add ``increase`` bytes (fractional) to cwnd, carrying the fraction."""
        total = self._carry + increase
        whole = int(total)
        self.cwnd += whole
        self._carry = total - whole

    # -- congestion events -----------------------------------------------------

    def _reduce(self, flight_size: int) -> None:
        """RFC 9438 §4.6-4.7: W_max with fast convergence, ssthresh = flight * beta."""
        cwnd = self.cwnd
        if cwnd < self.w_max:
            # §4.7 fast convergence: the plateau fell: W_max = cwnd * (1 + beta) / 2.
            self.w_max = int(cwnd * (1 + BETA_CUBIC) / 2)
        else:
            self.w_max = cwnd  # §4.6: W_max = cwnd at the congestion event
        self.cwnd_prior = cwnd
        # §4.6: ssthresh = flight_size * beta_cubic, at least 2 SMSS (RFC 5681's floor).
        # FlightSize is taken at most cwnd: §4.6 allows cwnd in its place, and a
        # flight above cwnd (data sent in SACK recovery, RFC 6675 pipe < cwnd)
        # must not raise the window at a congestion event.
        self.ssthresh = max(int(min(flight_size, cwnd) * BETA_CUBIC), 2 * self.mss)
        self.epoch_start = None
        self._carry = 0.0
        self._end_hystart()

    def _end_hystart(self) -> None:
        """A congestion event ends the initial slow start, CSS included (RFC 9406 §4.2)."""
        self.in_css = False
        self._hystart_done = True

    def on_enter_recovery(self, flight_size: int, *, sack: bool) -> None:
        # RFC 9438 §4.6: cwnd = ssthresh (+ 3 SMSS of RFC 5681 §3.2 (3) without SACK);
        # the recovery itself is NewReno's (RFC 6582) or RFC 6675's.
        self._reduce(flight_size)
        self._sack_recovery = sack
        self.cwnd = self.ssthresh if sack else self.ssthresh + 3 * self.mss
        self._ca_bytes = 0

    def on_ecn(self, flight_size: int) -> None:
        # RFC 9438 §4.6: an ECN-Echo is a congestion event like a loss: cwnd = ssthresh.
        self._reduce(flight_size)
        self.cwnd = max(self.ssthresh, self.mss)

    def on_timeout(self, flight_size: int) -> None:
        # RFC 9438 §4.8: ssthresh as in §4.6 (beta_cubic), cwnd = 1 SMSS (RFC 5681).
        self._reduce(flight_size)
        self.cwnd = self.mss
        self._ca_bytes = 0
        self._sack_recovery = False

    def on_idle(self) -> None:
        # Restart after idle (RFC 5681 §4.1); the epoch restarts too, so t does
        # not count the idle time (RFC 9438 §5.8: no growth while app-limited).
        super().on_idle()
        self.epoch_start = None


__all__ = ["ALPHA_CUBIC", "BETA_CUBIC", "C", "Cubic", "cubic_k", "w_cubic"]
