"""tcpstack.tools.plot_throughput: goodput per flow in windows, from delivery or ACKs."""

from __future__ import annotations

import pytest

from tcpstack.tools.plot_throughput import auto_interval, throughput_series
from tcpstack.trace import TraceRecord

A, SERVER = "10.0.0.1:4000", "10.0.0.2:80"  # flow A: both ends traced
B, FAR = "10.0.0.3:4001", "10.0.0.9:80"  # flow B: the receiver is not traced


def seg(t: float, host: str, conn: str, event: str, seq: int, ack: int, length: int = 0,
        flags: tuple[str, ...] = ("ACK",)) -> TraceRecord:
    return TraceRecord(t, host, conn, event, {"seq": seq, "ack": ack, "flags": list(flags),
                                              "len": length, "window": 1000})


def flow_a() -> list[TraceRecord]:
    """3 x 1000 bytes, each delivered in order at the server 0.1 s after it left."""
    recs = []
    for k, t in enumerate((0.1, 0.6, 1.1)):
        seq = 1 + 1000 * k
        recs += [seg(t, "a", f"{A}-{SERVER}", "segment_sent", seq, 1, 1000),
                 seg(t + 0.05, "server", f"{SERVER}-{A}", "segment_received", seq, 1, 1000),
                 TraceRecord(round(t + 0.1, 9), "server", f"{SERVER}-{A}", "app",
                             {"delivered": 1000})]
    return recs


def flow_b(isn: int = 0, sender: bool = True, receiver: bool = False) -> list[TraceRecord]:
    """SYN, 2 x 500 bytes and a FIN; cumulative ACKs at 0.3 (500), 0.8 (1000) and
    1.3 s (the FIN's number: no data byte)."""
    m = 1 << 32
    out, back = f"{B}-{FAR}", f"{FAR}-{B}"
    segments = [(0.0, isn, 0, 0, ("SYN",)), (0.0, isn + 1, 0, 500, ("ACK",)),
                (0.1, isn + 501, 0, 500, ("ACK",)), (0.2, isn + 1001, 0, 0, ("FIN", "ACK"))]
    acks = [(0.05, isn + 1), (0.3, isn + 501), (0.35, isn + 501), (0.8, isn + 1001),
            (1.3, isn + 1002)]
    recs = []
    for t, seq, ack, length, flags in segments:
        if sender:
            recs.append(seg(t, "b", out, "segment_sent", seq % m, ack, length, flags))
        if receiver:
            recs.append(seg(round(t + 0.01, 9), "far", back, "segment_received", seq % m,
                            ack, length, flags))
    for t, ack in acks:
        if receiver:
            recs.append(seg(round(t - 0.01, 9), "far", back, "segment_sent", 7, ack % m))
        if sender:
            recs.append(seg(t, "b", out, "segment_received", 7, ack % m))
    if sender:
        recs.append(TraceRecord(0.0, "b", out, "metrics_updated",
                                {"cwnd": 2920, "ssthresh": 1 << 30, "srtt": 0.25,
                                 "congestion_control": "cubic"}))
    return sorted(recs, key=lambda r: r.time)


def test_two_flows_in_given_windows() -> None:
    s = throughput_series(sorted(flow_a() + flow_b(), key=lambda r: r.time), interval=0.5)
    assert (s.interval, s.start, s.windows) == (0.5, 0.0, [0.0, 0.5, 1.0])
    a, b = s.flows  # largest first
    assert (a.direction.sender, a.source, a.congestion_control) == (A, "delivered", None)
    assert a.events == [(0.2, 1000), (0.7, 1000), (1.2, 1000)]
    assert a.rates == [16000.0, 16000.0, 16000.0]  # 1000 bytes * 8 / 0.5 s
    assert (b.direction.sender, b.source, b.total) == (B, "acked", 1000)
    assert b.events == [(0.3, 500), (0.8, 500)]  # the duplicate ACK and the FIN: nothing
    assert b.rates == [8000.0, 8000.0, 0.0]
    assert b.label == f"b ({B}) → {FAR} [cubic]"


def test_windows_start_on_a_multiple_of_the_interval() -> None:
    s = throughput_series(flow_a(), interval=0.25)
    assert (s.start, s.windows) == (0.0, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert s.flows[0].rates == [32000.0, 0.0, 32000.0, 0.0, 32000.0]
    late = [TraceRecord(r.time + 10, r.host, r.conn, r.event, r.data) for r in flow_a()]
    assert throughput_series(late, interval=0.5).start == 10.0


def test_default_interval_is_the_active_time_over_50_at_least_the_srtt() -> None:
    assert auto_interval(10.0, 0.05) == 0.2
    assert auto_interval(1.0, 0.05) == 0.05  # one srtt: 1 / 50 = 0.02 is shorter
    assert auto_interval(3.0, None) == 0.1  # 0.06 rounded up to 1, 2, 5 x 10^k
    assert auto_interval(0.0, None) == 1.0
    # Both flows move data from 0.2 to 1.2 s; flow b's srtt 0.25 s rounds up to 0.5.
    s = throughput_series(sorted(flow_a() + flow_b(), key=lambda r: r.time))
    assert s.interval == 0.5


def test_choosing_flows() -> None:
    recs = sorted(flow_a() + flow_b(), key=lambda r: r.time)
    assert [f.direction.sender for f in throughput_series(recs, conn=f"{FAR}-{B}",
                                                          interval=1).flows] == [B]
    assert [f.direction.sender for f in throughput_series(recs, host="a",
                                                          interval=1).flows] == [A]
    with pytest.raises(ValueError, match="not in the trace"):
        throughput_series(recs, conn="1.1.1.1:1-2.2.2.2:2")
    with pytest.raises(ValueError, match="positive number of seconds"):
        throughput_series(recs, interval=0.0)


def test_acks_as_the_receiver_sent_them_when_the_sender_is_not_traced() -> None:
    (f,) = throughput_series(flow_b(sender=False, receiver=True), interval=0.5).flows
    assert (f.source, f.direction.sender_host, f.congestion_control) == (
        "acked-by-receiver", None, None)
    assert f.events == [(0.29, 500), (0.79, 500)]


def test_acks_across_the_sequence_wrap() -> None:
    (f,) = throughput_series(flow_b(isn=(1 << 32) - 700), interval=0.5).flows
    assert f.events == [(0.3, 500), (0.8, 500)]


def test_no_data_delivered() -> None:
    recs = [r for r in flow_b() if not (r.event == "segment_received" and r.time > 0.1)]
    with pytest.raises(ValueError, match="no data delivered"):
        throughput_series(recs)
