"""The faults the viewer and the command line set: ``--drop N`` and ``--drop-final-ack``."""

from __future__ import annotations

import pytest

from tcpstack.scenarios import ScenarioOptions, ScenarioResult, get_scenario
from tcpstack.trace import TraceRecord
from tcpstack.wire import decode_packet


def run(name: str, **opts: object) -> ScenarioResult:
    return get_scenario(name).run(ScenarioOptions(**opts))  # type: ignore[arg-type]


def flags(rec: TraceRecord) -> set[str]:
    return set(rec.data["flags"])


def jsonl(r: ScenarioResult) -> list[str]:
    return [x.to_json() for x in r.records]


def test_drop_final_ack_is_lost_final_ack() -> None:
    assert jsonl(run("lifecycle", drop_final_ack=True)) == jsonl(run("lost-final-ack"))


def test_drop_1_loses_the_first_syn() -> None:
    r = run("lifecycle", drop=(1,))
    first = r.records[0:10]
    (lost,) = [x for x in first if x.event == "segment_dropped"]
    assert lost.host == "client" and flags(lost) == {"SYN"}
    assert lost.data["reason"] == "scripted-drop"
    assert jsonl(r) == jsonl(run("lost-syn"))


def test_drop_counts_packets_over_the_whole_network() -> None:
    r = run("lifecycle", drop=(3, 2))
    lost = [x for x in r.records if x.event == "segment_dropped"]
    sent = [decode_packet(raw)[1] for _, raw in r.network.packets]
    assert [(x.data["seq"], x.data["ack"]) for x in lost] == [
        (sent[i].seq, sent[i].ack) for i in (1, 2)]  # packets 2 and 3, in send order


def test_drop_final_ack_in_simultaneous_close() -> None:
    r = run("simultaneous-close", drop_final_ack=True)
    (lost,) = [x for x in r.records if x.event == "segment_dropped"
               and x.data["reason"] == "scripted-drop"]
    assert flags(lost) == {"ACK"} and lost.data["len"] == 0
    fins = [x for x in r.records if x.event == "segment_sent" and "FIN" in flags(x)
            and x.host != lost.host]
    assert len(fins) == 2  # the peer, still in CLOSING, sent its FIN again
    for host in ("client", "server"):
        assert r.states(host)[-1] == "CLOSED"


def test_bad_drop_number() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        ScenarioOptions(drop=(0,))
