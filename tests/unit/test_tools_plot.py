"""tcpstack.tools.plot: the series of the time-sequence graph and of cwnd, and their files."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tcpstack.scenarios import ScenarioOptions, ScenarioResult, get_scenario
from tcpstack.tools.plot import (
    CwndSeries,
    DataSegment,
    cwnd_series,
    find_direction,
    plot_cwnd,
    plot_tsg,
    tsg_series,
)
from tcpstack.trace import TraceRecord

C, S = "10.0.0.1:4000", "10.0.0.2:80"


@functools.cache
def _run(name: str) -> ScenarioResult:
    """A scenario's run with the default options (runs are deterministic; never mutated here)."""
    return get_scenario(name).run(ScenarioOptions())

CS, SC = f"{C}-{S}", f"{S}-{C}"


def seg(time: float, host: str, event: str, seq: int, ack: int, flags: list[str],
        length: int = 0, window: int = 1000, **extra: Any) -> TraceRecord:
    conn = CS if host == "client" else SC
    return TraceRecord(time, host, conn, event, {"seq": seq, "ack": ack, "flags": flags,
                                                 "len": length, "window": window, **extra})


def both(time: float, delay: float, sender: str, seq: int, ack: int, flags: list[str],
         length: int = 0, window: int = 1000, **extra: Any) -> list[TraceRecord]:
    """The send and, ``delay`` later, the arrival of one segment."""
    receiver = "server" if sender == "client" else "client"
    return [seg(time, sender, "segment_sent", seq, ack, flags, length, window, **extra),
            seg(time + delay, receiver, "segment_received", seq, ack, flags, length, window,
                **extra)]


def transfer(isn: int = 1000, client_wscale: int | None = 2) -> list[TraceRecord]:
    """A small run written by hand: 250 bytes from the client, the second segment lost
    and sent again; the server advertises 100 << 3 bytes after its SYN,ACK."""
    syn_opts = {"mss": 1460} | ({"wscale": client_wscale} if client_wscale is not None else {})
    recs = [
        *both(0.0, 0.5, "client", isn, 0, ["SYN"], options=syn_opts),
        *both(0.5, 0.5, "server", 5000, isn + 1, ["SYN", "ACK"], window=1000,
              options={"mss": 1460, "wscale": 3}),
        *both(1.0, 0.5, "client", isn + 1, 5001, ["ACK"], 100),
        seg(2.0, "client", "segment_sent", isn + 101, 5001, ["ACK"], 100),
        TraceRecord(2.0, "client", CS, "segment_dropped",
                    {"reason": "lost-in-network", "to": "server", "packet": 5,
                     "seq": isn + 101, "ack": 5001, "flags": ["ACK"], "len": 100}),
        *both(1.5, 0.5, "server", 5001, isn + 101, ["ACK"], window=100),
        *both(3.0, 0.5, "client", isn + 201, 5001, ["PSH", "ACK"], 50),
        *both(3.5, 0.5, "server", 5001, isn + 101, ["ACK"], window=90),  # a duplicate ACK
        *both(4.0, 0.5, "client", isn + 101, 5001, ["ACK"], 100),  # the retransmission
        *both(4.5, 0.5, "server", 5001, isn + 251, ["ACK"], window=100),
    ]
    return sorted(recs, key=lambda r: r.time)


def test_tsg_series_has_exact_values() -> None:
    s = tsg_series(transfer())
    assert (s.direction.sender, s.direction.receiver) == (C, S)
    assert (s.direction.sender_host, s.direction.data_bytes) == ("client", 350)
    assert (s.vantage, s.isn, s.window_scale) == ("sender", 1000, 3)
    assert s.segments == [
        DataSegment(1.0, 1, 101, False),
        DataSegment(2.0, 101, 201, False),
        DataSegment(3.0, 201, 251, False),
        DataSegment(4.0, 101, 201, True),
    ]
    assert s.lost == [DataSegment(2.0, 101, 201, False)]
    # ACKs as the client received them; the SYN,ACK's window is never scaled.
    assert s.acks == [(1.0, 1), (2.0, 101), (4.0, 101), (5.0, 251)]
    assert s.window == [(1.0, 1 + 1000), (2.0, 101 + 800), (4.0, 101 + 720), (5.0, 251 + 800)]


def test_window_scale_needs_both_syns() -> None:
    s = tsg_series(transfer(client_wscale=None))
    assert s.window_scale == 0 and s.window[1] == (2.0, 101 + 100)


def test_sequence_numbers_wrap_modulo_2_32() -> None:
    s = tsg_series(transfer(isn=2**32 - 150))
    assert [(x.start, x.end) for x in s.segments] == [(1, 101), (101, 201), (201, 251),
                                                       (101, 201)]
    assert s.acks[-1] == (5.0, 251)


def test_seen_from_the_receiver_when_the_sender_is_not_traced() -> None:
    """A TUN trace where the kernel sends: the data and ACKs as the server saw them."""
    only_server = [r for r in transfer() if r.host == "server"]
    s = tsg_series(only_server)
    assert s.vantage == "receiver" and s.direction.sender_host is None
    assert s.segments == [DataSegment(1.5, 1, 101, False), DataSegment(3.5, 201, 251, False),
                          DataSegment(4.5, 101, 201, True)]
    assert s.lost == []
    assert s.acks == [(0.5, 1), (1.5, 101), (3.5, 101), (4.5, 251)]


def test_direction_is_chosen_by_data_host_and_conn() -> None:
    recs = transfer()
    assert find_direction(recs).sender == C
    assert find_direction(recs, host=C).sender_host == "client"
    assert find_direction(recs, conn=SC).sender == C
    with pytest.raises(ValueError, match="no data in the trace"):
        find_direction(recs, host="server")
    with pytest.raises(ValueError, match=r"host 'nobody' sends nothing .*client, server"):
        find_direction(recs, host="nobody")
    with pytest.raises(ValueError, match=f"not in the trace .*{C}-{S}"):
        find_direction(recs, conn="10.9.9.9:1-10.9.9.8:2")
    with pytest.raises(ValueError, match="no segments"):
        find_direction([])


def test_cwnd_series_of_the_sender_only() -> None:
    def metrics(t: float, host: str, cwnd: int, ssthresh: int, conn: str = CS) -> TraceRecord:
        return TraceRecord(t, host, conn, "metrics_updated",
                           {"cwnd": cwnd, "ssthresh": ssthresh, "srtt": None, "rto": 1.0})

    recs = sorted([
        *transfer(),
        metrics(0.0, "client", 2920, 1 << 30),
        metrics(1.5, "client", 4380, 1 << 30),
        metrics(0.5, "server", 9999, 1 << 30, SC),
        metrics(3.0, "client", 9999, 77, "10.0.0.1:4001-10.0.0.2:80"),  # another connection
        metrics(4.0, "client", 2190, 2190),
    ], key=lambda r: r.time)
    s = cwnd_series(recs)
    assert (s.host, s.conn) == ("client", CS)
    assert (s.times, s.cwnd, s.ssthresh) == ([0.0, 1.5, 4.0], [2920, 4380, 2190],
                                              [None, None, 2190])
    with pytest.raises(ValueError, match="no metrics_updated"):
        cwnd_series(transfer())
    with pytest.raises(ValueError, match="not traced"):
        cwnd_series([r for r in recs if r.host == "server"])


def test_a_real_fast_retransmit() -> None:
    """The scenario drops one data segment: it is marked lost, sent again later and marked
    as a retransmission; ssthresh leaves "infinity" then."""
    result = _run("fast-retransmit")
    s = tsg_series(result.records)
    assert s.direction.sender_host == result.client
    sent = [r for r in result.records
            if r.event == "segment_sent" and r.host == result.client and r.data["len"]]
    assert len(s.segments) == len(sent)
    (lost,) = s.lost
    again = [x for x in s.segments if x.retransmission]
    assert again and again[0].start == lost.start and again[0].time > lost.time
    assert [a for _, a in s.acks] == sorted(a for _, a in s.acks)
    c = cwnd_series(result.records)
    first_finite = next(i for i, v in enumerate(c.ssthresh) if v is not None)
    assert c.ssthresh[:first_finite] == [None] * first_finite
    assert c.times[first_finite] >= lost.time


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_files_are_valid_pictures(tmp_path: Path, suffix: str) -> None:
    result = _run("fast-retransmit")
    tsg, cwnd = tmp_path / f"tsg{suffix}", tmp_path / f"cwnd{suffix}"
    plot_tsg(tsg_series(result.records), tsg)
    plot_cwnd(cwnd_series(result.records), cwnd)
    for path in (tsg, cwnd):
        data = path.read_bytes()
        if suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        else:
            root = ET.fromstring(data)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
    if suffix == ".svg":  # reproducible: no date, fixed ids
        again = tmp_path / "again.svg"
        plot_tsg(tsg_series(result.records), again)
        assert again.read_bytes() == tsg.read_bytes()


def _svg_text(path: Path) -> str:
    root = ET.fromstring(path.read_bytes())
    return " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


def test_the_graph_zooms_on_the_data_when_the_window_is_far_above(tmp_path: Path) -> None:
    """An RTO story (18 bytes in flight, a 64 KiB window) is drawn at the scale of the data."""
    result = _run("retransmission")
    series = tsg_series(result.records)
    top = max(w for _, w in series.window)
    assert top > 3 * max(s.end for s in series.segments)
    plot_tsg(series, tmp_path / "rto.svg")
    text = _svg_text(tmp_path / "rto.svg")
    assert f"window line above, up to {top}" in text
    assert "Time-sequence graph: client (192.0.2.1:" in text and "retransmission" in text
    bulk = tsg_series(_run("fast-retransmit").records)
    assert max(w for _, w in bulk.window) < 3 * max(s.end for s in bulk.segments)
    plot_tsg(bulk, tmp_path / "bulk.svg")
    assert "window line above" not in _svg_text(tmp_path / "bulk.svg")


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plot_tsg(tsg_series(transfer()), tmp_path / "x.jpg")
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plot_cwnd(CwndSeries("h", "c", [0.0], [1], [None]), tmp_path / "x.gif")
    assert list(tmp_path.iterdir()) == []
