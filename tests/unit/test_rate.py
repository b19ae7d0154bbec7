"""The delivery-rate estimator (draft-cheng-iccrg-delivery-rate-estimation) against
hand-computed samples: scripted sends and ACKs, stream offsets, virtual seconds."""

from __future__ import annotations

import pytest

from tcpstack.rate import DeliveryRate

SEG = 1000


def send(rate: DeliveryRate, start: int, now: float, *, first: bool = False,
         retransmission: bool = False) -> None:
    rate.on_send(start, start + SEG, now, retransmission=retransmission, nothing_in_flight=first)


def test_samples_from_cumulative_acks() -> None:
    r = DeliveryRate()
    send(r, 0, 0.0, first=True)     # P0: delivered 0, delivered_time 0, first_sent 0
    send(r, 1000, 0.0)              # P1: the same state
    r.on_cumulative(1000, 0.1)
    rs, rtt = r.sample(0.1, 2000)
    # P0: send interval 0 - 0, ACK interval 0.1 - 0: 1000 bytes / 0.1 s.
    assert rtt == pytest.approx(0.1)
    assert rs is not None
    assert (rs.delivered, rs.interval, rs.prior_in_flight) == (1000, pytest.approx(0.1), 2000)
    assert rs.delivery_rate == pytest.approx(10_000.0)
    assert not rs.app_limited
    send(r, 2000, 0.1)  # P2: delivered 1000, delivered_time 0.1, first_sent_time 0 (P0's send)
    send(r, 3000, 0.1)
    r.on_cumulative(2000, 0.12)
    rs, rtt = r.sample(0.12, 3000)
    # P1: 2000 delivered since its send state (0 bytes, time 0), over 0.12 s.
    assert rs is not None and rs.delivered == 2000
    assert rs.delivery_rate == pytest.approx(2000 / 0.12)
    assert rtt == pytest.approx(0.12)
    r.on_cumulative(3000, 0.2)
    rs, rtt = r.sample(0.2, 2000)
    # P2: send interval 0.1 - 0 = 0.1, ACK interval 0.2 - 0.1 = 0.1; 3000 - 1000 bytes.
    assert rs is not None
    assert (rs.delivered, rs.interval) == (2000, pytest.approx(0.1))
    assert rs.delivery_rate == pytest.approx(20_000.0)
    assert r.delivered == 3000 and r.latest == rs


def test_sacked_segments_deliver_once() -> None:
    r = DeliveryRate()
    for i in range(4):
        send(r, i * SEG, 0.0, first=i == 0)
    r.on_sacked(2000, 3000, 0.1)
    rs, rtt = r.sample(0.1, 4000)
    assert rs is not None and rs.delivered == 1000 and rtt == pytest.approx(0.1)
    assert rs.delivery_rate == pytest.approx(10_000.0)
    r.on_cumulative(4000, 0.15)
    rs, _ = r.sample(0.15, 3000)
    # The SACKed segment is not counted again: 4000 bytes in all; the newest
    # (P3, the highest of those sent at 0) over 0.15 s.
    assert r.delivered == 4000
    assert rs is not None and rs.delivered == 4000
    assert rs.delivery_rate == pytest.approx(4000 / 0.15)


def test_sack_in_the_middle_of_a_record_splits_it() -> None:
    r = DeliveryRate()
    r.on_send(0, 4000, 0.0, retransmission=False, nothing_in_flight=True)  # one super-segment
    r.on_sacked(1000, 2000, 0.05)
    assert r.delivered == 1000
    r.on_cumulative(4000, 0.1)
    assert r.delivered == 4000


def test_no_rtt_from_a_retransmitted_segment() -> None:
    r = DeliveryRate()
    send(r, 0, 0.0, first=True)
    send(r, 0, 1.0, retransmission=True)  # resent after a timeout
    r.on_cumulative(1000, 1.05)
    rs, rtt = r.sample(1.05, 1000)
    assert rtt is None  # Karn (RFC 6298 §3)
    # Still a rate sample: send interval 1.0 - 0, ACK interval 1.05 - 0.
    assert rs is not None and rs.interval == pytest.approx(1.05)
    assert rs.delivery_rate == pytest.approx(1000 / 1.05)


def test_interval_shorter_than_min_rtt_gives_no_sample() -> None:
    r = DeliveryRate()
    send(r, 0, 0.0, first=True)
    r.on_cumulative(1000, 0.1)
    assert r.sample(0.1, 1000)[0] is not None and r.min_rtt == pytest.approx(0.1)
    send(r, 1000, 0.2, first=True)  # a new flight: delivered_time = first_sent_time = 0.2
    send(r, 1000, 0.25, retransmission=True)  # a spurious retransmission
    r.on_cumulative(2000, 0.27)  # the ACK of the original
    rs, rtt = r.sample(0.27, 1000)
    # No RTT (retransmitted); send interval 0.25 - 0.2 = 0.05, ACK interval
    # 0.27 - 0.2 = 0.07: shorter than min_rtt 0.1, so no rate sample.
    assert rtt is None and rs is None
    assert r.delivered == 2000 and r.latest is not None and r.latest.delivered == 1000


def test_a_new_flight_measures_from_its_first_send() -> None:
    r = DeliveryRate()
    send(r, 0, 0.0, first=True)
    r.on_cumulative(1000, 0.1)
    r.sample(0.1, 1000)
    send(r, 1000, 5.0, first=True)  # after idle: the idle time is no interval
    r.on_cumulative(2000, 5.1)
    rs, rtt = r.sample(5.1, 1000)
    assert rtt == pytest.approx(0.1)
    assert rs is not None and rs.interval == pytest.approx(0.1) and rs.delivered == 1000


def test_app_limited_marks_the_samples_until_the_bubble_is_acknowledged() -> None:
    r = DeliveryRate()
    send(r, 0, 0.0, first=True)
    r.mark_app_limited(in_flight=1000)  # C.app_limited = delivered + pipe = 1000
    assert r.app_limited == 1000
    send(r, 1000, 0.01)  # sent while application-limited
    r.on_cumulative(1000, 0.1)
    rs, _ = r.sample(0.1, 2000)
    assert rs is not None and not rs.app_limited  # P0 left before the mark
    assert r.app_limited == 1000  # delivered (1000) is not beyond the mark yet
    r.on_cumulative(2000, 0.11)
    rs, _ = r.sample(0.11, 1000)
    assert rs is not None and rs.app_limited
    assert r.app_limited == 0  # delivered 2000 > 1000: the bubble is gone


def test_mark_with_nothing_delivered_or_in_flight_is_one() -> None:
    r = DeliveryRate()
    r.mark_app_limited(in_flight=0)
    assert r.app_limited == 1  # "(C.delivered + C.pipe) ? : 1"
