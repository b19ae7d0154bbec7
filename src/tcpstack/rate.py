"""Delivery-rate estimation: how fast the network delivers this connection's data.

After draft-cheng-iccrg-delivery-rate-estimation (BBR's estimator; Linux
``tcp_rate.c``). Each transmission remembers the connection's delivery state
when it left (``delivered``, ``delivered_time``, ``first_sent_time``, whether
the sender was application-limited); each ACK that delivers segments,
cumulatively or by SACK, turns the newest of them into one
:class:`~tcpstack.congestion.RateSample`: the bytes delivered since that
segment left, over the longer of its send and ACK intervals (§3.3).

Only algorithms that ask (``CongestionControl.needs_samples``) pay for it: the
:class:`DeliveryRate` of a connection is made on first use by the loss
recovery object, and holds one record per segment in flight.

Positions are stream offsets of the send direction (ints that never wrap),
sizes bytes, times seconds.
"""

from __future__ import annotations

from bisect import bisect_right

from .congestion.base import RateSample

__all__ = ["DeliveryRate"]


class _Sent:
    """The send state of one transmitted range [start, end) (the draft's "P")."""

    __slots__ = ("app_limited", "delivered", "delivered_time", "done", "end",
                 "first_sent_time", "retransmitted", "sent_time", "start")

    def __init__(self, start: int, end: int, sent_time: float, *, delivered: int,
                 delivered_time: float, first_sent_time: float, app_limited: bool,
                 retransmitted: bool) -> None:
        self.start = start
        self.end = end
        self.sent_time = sent_time
        self.delivered = delivered
        self.delivered_time = delivered_time
        self.first_sent_time = first_sent_time
        self.app_limited = app_limited
        self.retransmitted = retransmitted
        self.done = False  # delivered (SACKed): not again when cumulatively acknowledged

    def split(self, at: int) -> _Sent:
        """Cut at ``at`` (start < at < end): this keeps [start, at), the result is [at, end)."""
        tail = _Sent(at, self.end, self.sent_time, delivered=self.delivered,
                     delivered_time=self.delivered_time, first_sent_time=self.first_sent_time,
                     app_limited=self.app_limited, retransmitted=self.retransmitted)
        tail.done = self.done
        self.end = at
        return tail


class DeliveryRate:
    """The delivery-rate estimator of one connection (draft §3; "C" in its pseudocode).

    Call :meth:`on_send` for every data transmission, :meth:`mark_app_limited`
    when the sender runs short of data, and per ACK :meth:`on_cumulative` /
    :meth:`on_sacked` for what it delivered, then :meth:`sample`.

    Attributes:
        delivered: bytes delivered so far (cumulatively acknowledged or SACKed).
        delivered_time: when ``delivered`` last grew, seconds.
        first_sent_time: send time of the newest segment delivered so far: the
            start of the current send interval, seconds.
        app_limited: ``delivered`` value that ends the application-limited
            stretch (the draft's ``C.app_limited``), 0 when not limited.
        min_rtt: the smallest RTT measured, seconds (None before any): a
            sample over a shorter interval is not trusted (draft §3.3).
        latest: the last valid sample, or None.
    """

    __slots__ = ("_acked_newest", "_last_rtt", "_rs", "_sent", "_starts", "app_limited",
                 "delivered", "delivered_time", "first_sent_time", "latest", "min_rtt")

    def __init__(self) -> None:
        self.delivered = 0
        self.delivered_time = 0.0
        self.first_sent_time = 0.0
        self.app_limited = 0
        self.min_rtt: float | None = None
        self.latest: RateSample | None = None
        self._sent: list[_Sent] = []  # sorted by start, not overlapping
        self._starts: list[int] = []  # their starts (bisect)
        self._rs: _Sent | None = None  # the newest segment this ACK delivered
        self._acked_newest: _Sent | None = None  # ... that was never retransmitted (RTT)
        self._last_rtt: float | None = None  # the latest RTT measured

    # -- sending ------------------------------------------------------------

    def on_send(self, start: int, end: int, now: float, *, retransmission: bool,
                nothing_in_flight: bool) -> None:
        """Data [start, end) left at ``now`` (a ``retransmission`` or new data);
        ``nothing_in_flight``: no data was outstanding before it (draft §3.2
        ``SendPacket``)."""
        if end <= start:
            return
        if nothing_in_flight:
            # "if (SND.NXT == SND.UNA): C.first_sent_time = C.delivered_time = Now()":
            # a new flight starts; the idle time before it is no interval.
            self.first_sent_time = self.delivered_time = now
        sent, starts = self._sent, self._starts
        if retransmission:
            # The records it covers take the new send state (ranges sent before
            # the estimator existed have none: they give no sample).
            self._cut(start)
            self._cut(end)
            i = max(bisect_right(starts, start) - 1, 0)
            while i < len(sent) and sent[i].start < end:
                if sent[i].start >= start:
                    self._stamp(sent[i], now, retransmitted=True)
                i += 1
            return
        if sent and start < sent[-1].end:
            return  # (not new after all: never overlap the records)
        record = _Sent(start, end, now, delivered=0, delivered_time=0.0,
                       first_sent_time=0.0, app_limited=False, retransmitted=False)
        self._stamp(record, now, retransmitted=False)
        sent.append(record)
        starts.append(start)

    def _stamp(self, p: _Sent, now: float, *, retransmitted: bool) -> None:
        """P.* = C.* at the send (draft §3.2)."""
        p.sent_time = now
        p.delivered = self.delivered
        p.delivered_time = self.delivered_time
        p.first_sent_time = self.first_sent_time
        p.app_limited = self.app_limited != 0
        p.retransmitted = p.retransmitted or retransmitted

    def _cut(self, at: int) -> None:
        """Make ``at`` a record boundary (if it falls inside one)."""
        i = bisect_right(self._starts, at) - 1
        if i >= 0:
            p = self._sent[i]
            if p.start < at < p.end:
                self._sent.insert(i + 1, p.split(at))
                self._starts.insert(i + 1, at)

    def mark_app_limited(self, in_flight: int) -> None:
        """The sender has less than a segment to send and room in cwnd: mark the
        samples of the coming round trip application-limited (draft §3.4
        ``CheckIfApplicationLimited``: ``C.app_limited = (C.delivered + C.pipe) ? : 1``)."""
        self.app_limited = (self.delivered + in_flight) or 1

    # -- acknowledgments ----------------------------------------------------------

    def on_cumulative(self, una_off: int, now: float) -> None:
        """SND.UNA reached ``una_off``: everything before it is delivered."""
        sent = self._sent
        if sent and sent[0].start < una_off < sent[0].end:
            self._cut(una_off)
        n = 0
        for p in sent:
            if p.end > una_off:
                break
            self._delivered(p, now)
            n += 1
        if n:
            del sent[:n]
            del self._starts[:n]

    def on_sacked(self, left: int, right: int, now: float) -> None:
        """The range [left, right) was SACKed (draft §3.3: SACKed segments deliver too)."""
        if not self._sent or right <= left:
            return
        self._cut(left)
        self._cut(right)
        sent = self._sent
        i = max(bisect_right(self._starts, left) - 1, 0)
        while i < len(sent) and sent[i].start < right:
            if sent[i].start >= left:
                self._delivered(sent[i], now)
            i += 1

    def _delivered(self, p: _Sent, now: float) -> None:
        """``UpdateRateSample(P)`` (draft §3.3)."""
        if p.done:
            return  # already SACKed: delivered once
        self.delivered += p.end - p.start
        self.delivered_time = now
        rs = self._rs
        # Use the newest segment (last sent, ties to the higher sequence).
        if rs is None or p.sent_time > rs.sent_time or (
                p.sent_time == rs.sent_time and p.end > rs.end):
            self._rs = p
            self.first_sent_time = p.sent_time
        if not p.retransmitted:
            # Karn: an RTT only from a segment sent once (RFC 6298 §3).
            newest = self._acked_newest
            if newest is None or p.sent_time > newest.sent_time:
                self._acked_newest = p
        p.done = True

    def sample(self, now: float, prior_in_flight: int) -> tuple[RateSample | None, float | None]:
        """End of an ACK (draft §3.3 ``GenerateRateSample``): its rate sample (or None)
        and its RTT sample in seconds (or None: nothing never-retransmitted was delivered).

        The sample's ``rtt`` is this ACK's RTT, or when it delivered only
        retransmitted data the latest RTT measured before (never one from a
        retransmission, RFC 6298 §3), or the interval before any.
        ``prior_in_flight``: bytes in flight when the ACK arrived."""
        rs, self._rs = self._rs, None
        newest, self._acked_newest = self._acked_newest, None
        rtt = None
        if newest is not None:
            rtt = self._last_rtt = now - newest.sent_time
            if self.min_rtt is None or rtt < self.min_rtt:
                self.min_rtt = rtt
        if self.app_limited and self.delivered > self.app_limited:
            self.app_limited = 0  # the bubble is acknowledged and gone
        if rs is None:
            return None, rtt
        send_elapsed = rs.sent_time - rs.first_sent_time
        ack_elapsed = self.delivered_time - rs.delivered_time
        interval = max(send_elapsed, ack_elapsed)
        delivered = self.delivered - rs.delivered
        if interval <= 0 or (self.min_rtt is not None and interval < self.min_rtt):
            # "Normally we expect interval >= MinRTT": a shorter one would
            # over-estimate the rate (ACK compression): no sample.
            return None, rtt
        sample = RateSample(delivery_rate=delivered / interval, delivered=delivered,
                            interval=interval, rtt=self._last_rtt if self._last_rtt is not None
                            else interval,
                            prior_in_flight=prior_in_flight, app_limited=rs.app_limited)
        self.latest = sample
        return sample, rtt
