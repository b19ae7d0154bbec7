"""tcpstack.tools.plot_rtt: RTT samples measured from a trace, Karn's rule, srtt and rto."""

from __future__ import annotations

from typing import Any

import pytest

from tcpstack.tools.plot import unwrap
from tcpstack.tools.plot_rtt import RttSample, rtt_series
from tcpstack.trace import TraceRecord

C, S = "10.0.0.1:4000", "10.0.0.2:80"
CS, SC = f"{C}-{S}", f"{S}-{C}"


def sent(t: float, seq: int, length: int, flags: list[str] | None = None) -> TraceRecord:
    """A segment the client sent (ack and window do not matter here)."""
    return TraceRecord(t, "client", CS, "segment_sent",
                       {"seq": seq, "ack": 1, "flags": flags or ["ACK"], "len": length,
                        "window": 1000, "options": {}})


def acked(t: float, ack: int, sack: list[list[int]] | None = None,
          flags: list[str] | None = None) -> TraceRecord:
    """An acknowledgment the client received."""
    options: dict[str, Any] = {"sack": sack} if sack else {}
    return TraceRecord(t, "client", CS, "segment_received",
                       {"seq": 1, "ack": ack, "flags": flags or ["ACK"], "len": 0,
                        "window": 1000, "options": options})


def metrics(t: float, srtt: float | None, rto: float, host: str = "client",
            conn: str = CS) -> TraceRecord:
    return TraceRecord(t, host, conn, "metrics_updated",
                       {"cwnd": 2920, "ssthresh": 1 << 30, "srtt": srtt, "rto": rto})


def story(isn: int = 1000, sack: bool = True) -> list[TraceRecord]:
    """SYN answered in 0.25 s; three segments of 100 bytes, the second lost, the third
    SACKed, the second sent again and acknowledged; a last 50 bytes with the FIN."""
    m = 1 << 32
    return [
        metrics(0.0, None, 1.0),
        sent(0.0, isn, 0, ["SYN"]),
        acked(0.25, (isn + 1) % m, flags=["SYN", "ACK"]),
        metrics(0.25, 0.25, 1.0),
        metrics(0.25, 9.0, 9.0, "server", SC),  # the other side's estimator: not drawn
        sent(0.25, (isn + 1) % m, 100),
        sent(0.5, (isn + 101) % m, 100),  # lost in the network
        sent(0.5, (isn + 201) % m, 100),
        sent(0.6, (isn + 301) % m, 0),  # a pure ACK: nothing to time
        acked(0.75, (isn + 101) % m),
        acked(1.0, (isn + 101) % m,
              [[(isn + 201) % m, (isn + 301) % m]] if sack else None),
        metrics(1.0, 0.3125, 1.25),
        sent(1.25, (isn + 101) % m, 100),  # the retransmission
        acked(1.5, (isn + 301) % m),
        sent(1.5, (isn + 301) % m, 50, ["FIN", "PSH", "ACK"]),
        acked(2.0, (isn + 352) % m),
        acked(2.5, (isn + 352) % m),  # a duplicate covers nothing new
    ]


def test_samples_from_send_to_first_covering_ack_with_karn() -> None:
    s = rtt_series(story())
    assert s.direction.sender == C
    assert s.samples == [
        RttSample(0.25, 0.25, 0, 1),  # the SYN: relative sequence 0
        RttSample(0.75, 0.5, 1, 101),
        RttSample(1.0, 0.5, 201, 301),  # SACKed (RFC 2018) before the hole was filled
        RttSample(2.0, 0.5, 301, 352),  # 50 bytes and the FIN
    ]
    # Karn: both transmissions of 101-201 are ambiguous, neither is sampled.
    assert s.ambiguous == 2
    assert s.srtt == [(0.25, 0.25), (1.0, 0.3125)]
    assert s.rto == [(0.0, 1.0), (0.25, 1.0), (1.0, 1.25)]


def test_without_sack_the_cumulative_ack_after_the_repair_ends_the_sample() -> None:
    s = rtt_series(story(sack=False))
    assert RttSample(1.5, 1.0, 201, 301) in s.samples
    assert [x.rtt for x in s.samples] == [0.25, 0.5, 1.0, 0.5]
    assert s.ambiguous == 2


def test_sequence_numbers_wrap() -> None:
    wrapped = rtt_series(story(isn=(1 << 32) - 150))
    assert wrapped.samples == rtt_series(story()).samples


def test_unwrap_keeps_offsets_increasing_past_4_gib() -> None:
    assert unwrap(5, (1 << 32) - 10) == (1 << 32) + 5
    assert unwrap((1 << 32) - 3, 2) == -3
    assert unwrap(100, 50) == 100


def test_hostile_fields_are_skipped() -> None:
    recs = story()
    recs.insert(10, acked(0.9, 1101, [[1, "x"], 5, [None, 3]]))  # type: ignore[list-item]
    recs.insert(10, TraceRecord(0.9, "client", CS, "segment_sent",
                                {"seq": "bad", "len": 10, "flags": 7}))
    recs.insert(10, metrics(0.9, float("nan"), -1.0))
    s = rtt_series(recs)
    assert s.samples == rtt_series(story()).samples
    assert (0.9, -1.0) not in s.rto and all(v == v for _, v in s.srtt)


def test_without_the_sender_or_timestamps_there_is_no_rtt() -> None:
    only_server = [TraceRecord(r.time + 0.1, "server", SC, "segment_received", r.data)
                   for r in story() if r.event == "segment_sent"]
    with pytest.raises(ValueError, match=r"data sender 10\.0\.0\.1:4000 is not traced and "
                                         "the connection has no timestamps"):
        rtt_series(only_server)


def test_the_receiver_measures_from_its_timestamp_echoed() -> None:
    """RFC 7323 timestamps seen by the receiver alone: its ACK with TSval X leaves at t0,
    the first data echoing X arrives at t1: t1 - t0."""
    def data(t: float, seq: int, tsecr: int, length: int = 100) -> TraceRecord:
        return TraceRecord(t, "server", SC, "segment_received",
                           {"seq": seq, "ack": 1, "flags": ["ACK"], "len": length,
                            "options": {"ts": [900 + seq, tsecr]}})

    def ack(t: float, tsval: int) -> TraceRecord:
        return TraceRecord(t, "server", SC, "segment_sent",
                           {"seq": 1, "ack": 7, "flags": ["ACK"], "len": 0,
                            "options": {"ts": [tsval, 5]}})

    recs = [
        TraceRecord(0.0, "server", SC, "segment_received",
                    {"seq": 1000, "ack": 0, "flags": ["SYN"], "len": 0,
                     "options": {"ts": [5, 0]}}),
        ack(0.0, 10),  # the SYN,ACK's TSval: echoed by the first data
        data(0.25, 1001, 10),
        ack(0.25, 11),
        ack(0.3, 11),  # the same TSval again: the first send counts
        data(0.5, 1101, 10),  # an old echo: no second sample
        data(0.75, 1201, 11),
        data(0.8, 1101, 11),  # a retransmission echoing a value already sampled
        data(0.9, 1301, 99),  # echoes nothing the receiver sent
    ]
    s = rtt_series(recs)
    assert (s.vantage, s.direction.sender, s.direction.sender_host) == ("receiver", C, None)
    assert s.samples == [RttSample(0.25, 0.25, 1, 101), RttSample(0.75, 0.5, 201, 301)]
    assert (s.srtt, s.rto, s.ambiguous) == ([], [], 0)


def test_nothing_acknowledged_is_no_rtt() -> None:
    recs = [metrics(0.0, None, 1.0), sent(0.0, 1000, 0, ["SYN"]), sent(0.1, 1001, 100)]
    with pytest.raises(ValueError, match="no RTT samples for client"):
        rtt_series(recs)
