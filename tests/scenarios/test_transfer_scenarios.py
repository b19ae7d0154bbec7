"""The reliability scenarios show exactly the mechanism they are named after."""

from __future__ import annotations

import itertools

import pytest

from tcpstack.events import ConnectionReset, ConnectionTimedOut
from tcpstack.scenarios import ScenarioOptions, ScenarioResult, get_scenario
from tcpstack.scenarios.transfer import KEEPALIVE_OUTAGE, SERVER_CLOSE_AT
from tcpstack.trace import TraceRecord


def run(name: str) -> ScenarioResult:
    return get_scenario(name).run(ScenarioOptions())


def records(r: ScenarioResult, host: str, event: str) -> list[TraceRecord]:
    return [x for x in r.records if x.host == host and x.event == event]


def timers_fired(r: ScenarioResult, host: str, name: str) -> list[float]:
    return [x.time for x in records(r, host, "timer_fired") if x.data["timer"] == name]


def test_retransmission_backs_off_1_2_4() -> None:
    r = run("retransmission")
    sent = records(r, "client", "segment_sent")
    lost_seq = next(x.data["seq"] for x in records(r, "client", "segment_dropped"))
    times = [x.time for x in sent if x.data["seq"] == lost_seq and x.data["len"]]
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    assert len(times) == 4
    assert gaps[1:] == [2.0, 4.0]  # doubling after the first timeout
    assert 1.0 <= gaps[0] <= 1.3  # the first RTO: max(1 s, SRTT + 4 RTTVAR)


def test_fast_retransmit_needs_no_timeout() -> None:
    r = run("fast-retransmit")
    assert timers_fired(r, "client", "rto") == []
    dropped = records(r, "client", "segment_dropped")[0]
    resent = [x for x in records(r, "client", "segment_sent")
              if x.data["seq"] == dropped.data["seq"] and x.data["len"]]
    assert len(resent) == 2
    # Retransmitted on the third duplicate ACK, carrying SACK blocks.
    dups = [x for x in records(r, "client", "segment_received")
            if x.data["ack"] == dropped.data["seq"] and "sack" in x.data["options"]
            and x.time <= resent[1].time]
    assert len(dups) >= 3
    assert resent[1].time == pytest.approx(dups[2].time)


def test_zero_window_probes_then_reopens() -> None:
    r = run("zero-window")
    zero = [x for x in records(r, "server", "segment_sent") if x.data["window"] == 0
            and "RST" not in x.data["flags"]]
    assert zero, "the window never closed"
    reopened = next(x.time for x in records(r, "server", "segment_sent")
                    if x.time > zero[0].time and x.data["window"] > 0)
    probes = [t for t in timers_fired(r, "client", "persist") if zero[0].time < t < reopened]
    assert len(probes) >= 2
    # The first probe one RTO after the window closed (SHLD-29), then backing off (SHLD-30).
    assert probes[0] - zero[0].time == pytest.approx(1.0, abs=0.05)
    assert probes[1] - probes[0] == pytest.approx(2.0, abs=0.01)
    probe_segments = [x for x in records(r, "client", "segment_sent") if x.time in probes]
    assert all(x.data["len"] == 0 for x in probe_segments)  # <SEQ=SND.UNA-1>, no data
    app = r.network.hosts["server"].app
    assert len(app.received) == 12 * 1448  # type: ignore[union-attr]


def test_keepalive_probe_times_and_timeout() -> None:
    r = run("keepalive")
    probes = [x for x in records(r, "client", "segment_sent") if x.data["len"] == 0
              and x.time > 1.0 and "RST" not in x.data["flags"]]
    established = records(r, "client", "state_updated")[1].time
    first = probes[0].time - established
    assert first == pytest.approx(7200.0, abs=0.1)
    later = [round(p.time - probes[1].time, 3) for p in probes[1:]]
    # After the outage: probes 7200 s after the last answer, then every 75 s, 9 in all.
    assert probes[1].time > KEEPALIVE_OUTAGE
    assert later == [75.0 * i for i in range(9)]
    assert probes[0].data["seq"] == (probes[0].data["seq"]) and probes[0].data["len"] == 0
    end = [t for t, _, e in r.network.hosts["client"].events if isinstance(e, ConnectionTimedOut)]
    assert end == [pytest.approx(probes[1].time + 9 * 75.0)]


def test_fin_wait_2_orphan_timeout() -> None:
    r = run("fin-wait-2-timeout")
    states = records(r, "client", "state_updated")
    fw2 = next(x.time for x in states if x.data["new"] == "FIN-WAIT-2")
    closed = next(x.time for x in states if x.data["new"] == "CLOSED")
    assert closed - fw2 == pytest.approx(60.0)
    rst = [x for x in records(r, "client", "segment_sent") if "RST" in x.data["flags"]]
    assert len(rst) == 1 and rst[0].time == pytest.approx(SERVER_CLOSE_AT + 0.01)
    server_events = [e for _, _, e in r.network.hosts["server"].events]
    assert ConnectionReset(refused=False) in server_events
