"""Every scenario produces exactly its declared state sequence, and the segments that show it."""

from __future__ import annotations

import pytest

from tcpstack.events import ConnectionReset, PeerClosed
from tcpstack.scenarios import SCENARIOS, ScenarioOptions, ScenarioResult, get_scenario
from tcpstack.trace import TraceRecord


def run(name: str, **opts: object) -> ScenarioResult:
    return get_scenario(name).run(ScenarioOptions(**opts))  # type: ignore[arg-type]


def sent(result: ScenarioResult, host: str) -> list[TraceRecord]:
    return [r for r in result.records if r.host == host and r.event == "segment_sent"]


def flags(rec: TraceRecord) -> str:
    return ",".join(sorted(rec.data["flags"]))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_state_sequence(name: str) -> None:
    scenario = SCENARIOS[name]
    result = scenario.run(ScenarioOptions())
    for host, expected in scenario.expected.items():
        assert tuple(result.states(host)) == expected, host


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_deterministic(name: str) -> None:
    a = [r.to_json() for r in run(name, seed=3).records]
    b = [r.to_json() for r in run(name, seed=3).records]
    assert a == b


def test_lifecycle_segments() -> None:
    r = run("lifecycle")
    c = [flags(x) for x in sent(r, "client")]
    s = [flags(x) for x in sent(r, "server")]
    assert c == ["SYN", "ACK,PSH", "ACK,FIN", "ACK"]
    assert s == ["ACK,SYN", "ACK,PSH", "ACK", "ACK,FIN"]
    # TIME-WAIT lasts 2 x MSL = 240 s from the final ACK.
    tw = [x for x in r.records if x.host == "client" and x.event == "state_updated"]
    entered = next(x.time for x in tw if x.data["new"] == "TIME-WAIT")
    closed = next(x.time for x in tw if x.data["old"] == "TIME-WAIT")
    assert closed - entered == pytest.approx(240.0)


def test_custom_msl() -> None:
    r = run("lifecycle", msl=30.0)
    tw = [x for x in r.records if x.host == "client" and x.event == "state_updated"]
    entered = next(x.time for x in tw if x.data["new"] == "TIME-WAIT")
    closed = next(x.time for x in tw if x.data["old"] == "TIME-WAIT")
    assert closed - entered == pytest.approx(60.0)


def test_three_way_close_combines_fin_and_ack() -> None:
    s = [flags(x) for x in sent(run("three-way-close"), "server")]
    assert s == ["ACK,SYN", "ACK,PSH", "ACK,FIN"]


def test_lost_final_ack_retransmits_fin_and_restarts_time_wait() -> None:
    r = run("lost-final-ack")
    fins = [x for x in sent(r, "server") if "FIN" in x.data["flags"]]
    assert len(fins) == 2
    assert fins[1].time - fins[0].time == pytest.approx(1.0, abs=0.05)  # RTO >= 1 s
    drops = [x for x in r.records if x.event == "segment_dropped" and x.host == "client"]
    assert [d.data["reason"] for d in drops] == ["scripted-drop", "retransmitted-fin"]
    tw_timers = [x for x in r.records if x.host == "client" and x.event == "timer_set"
                 and x.data["timer"] == "time_wait"]
    assert len(tw_timers) == 2
    # The restarted 2MSL timer runs from the second FIN's arrival.
    closed = [x for x in r.records if x.host == "client" and x.event == "state_updated"][-1]
    assert closed.time == pytest.approx(tw_timers[1].data["at"])
    assert closed.time == pytest.approx(fins[1].time + 0.010 + 240.0)


def test_lost_syn_backoff() -> None:
    syns = [x for x in sent(run("lost-syn"), "client") if flags(x) == "SYN"]
    assert [round(x.time, 3) for x in syns] == [0.0, 1.0]


def test_lost_syn_ack_both_retransmit() -> None:
    r = run("lost-syn-ack")
    assert [flags(x) for x in sent(r, "client")][:2] == ["SYN", "SYN"]
    synacks = [x for x in sent(r, "server") if flags(x) == "ACK,SYN"]
    assert len(synacks) >= 2
    assert synacks[1].time >= 1.0


def test_refused_reset_shape() -> None:
    r = run("refused")
    syn = sent(r, "client")[0]
    (rst,) = sent(r, "server")
    assert flags(rst) == "ACK,RST"
    assert rst.data["seq"] == 0
    assert rst.data["ack"] == (syn.data["seq"] + 1) % (1 << 32)
    events = [e for _, _, e in r.network.hosts["client"].events]
    assert ConnectionReset(refused=True) in events


def test_half_open_reset() -> None:
    r = run("half-open")
    data = sent(r, "client")[-1]
    (rst,) = [x for x in sent(r, "server") if "RST" in x.data["flags"]]
    assert flags(rst) == "RST"
    assert rst.data["seq"] == data.data["ack"]  # <SEQ=SEG.ACK><CTL=RST>
    events = [e for _, _, e in r.network.hosts["client"].events]
    assert ConnectionReset(refused=False) in events


def test_old_duplicate_syn_rst_uses_stale_ack() -> None:
    r = run("old-duplicate-syn")
    synack = next(x for x in sent(r, "server") if flags(x) == "ACK,SYN")
    rst = next(x for x in sent(r, "client") if "RST" in x.data["flags"])
    assert rst.data["seq"] == synack.data["ack"]


def test_half_close_delivers_everything() -> None:
    from tcpstack.scenarios.lifecycle import HALF_CLOSE_BYTES, HalfCloseClient

    r = run("half-close")
    app = r.network.hosts["client"].app
    assert isinstance(app, HalfCloseClient)
    assert bytes(app.received) == bytes(i % 251 for i in range(HALF_CLOSE_BYTES))
    # The client's FIN went out before the server's data.
    client_fin = next(x for x in sent(r, "client") if "FIN" in x.data["flags"])
    server_data = [x for x in sent(r, "server") if x.data["len"] > 0]
    assert client_fin.time < server_data[0].time
    assert any(isinstance(e, PeerClosed) for _, _, e in r.network.hosts["server"].events)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("name", ["lifecycle", "half-close", "simultaneous-close"])
def test_lossy_scenarios_still_close_cleanly(name: str, seed: int) -> None:
    r = run(name, seed=seed, loss=0.15, duplicate=0.05, reorder=0.1, jitter=0.004)
    for host in ("client", "server"):
        states = r.states(host)
        assert states[-1] == "CLOSED", (host, states)
