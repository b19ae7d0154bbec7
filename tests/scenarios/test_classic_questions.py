"""The scenarios of the classic questions show their point in the segments they exchange."""

from __future__ import annotations

from tcpstack.scenarios import ScenarioOptions, ScenarioResult, get_scenario
from tcpstack.scenarios.lifecycle import GREETING
from tcpstack.seq import SEQ_MOD
from tcpstack.trace import TraceRecord


def run(name: str, **opts: object) -> ScenarioResult:
    return get_scenario(name).run(ScenarioOptions(**opts))  # type: ignore[arg-type]


def records(r: ScenarioResult, host: str, event: str, conn: str | None = None) -> list[TraceRecord]:
    return [x for x in r.records
            if x.host == host and x.event == event and (conn is None or x.conn == conn)]


def flags(rec: TraceRecord) -> set[str]:
    return set(rec.data["flags"])


def plus(seq: int, n: int) -> int:
    return (seq + n) % SEQ_MOD


# --- syn-fin-consume-sequence ---------------------------------------------------


def test_syn_and_fin_each_take_one_sequence_number() -> None:
    r = run("syn-fin-consume-sequence")
    c = records(r, "client", "segment_sent")
    s = records(r, "server", "segment_sent")
    syn, synack = c[0], s[0]
    assert flags(syn) == {"SYN"} and flags(synack) == {"SYN", "ACK"}
    iss, irs = syn.data["seq"], synack.data["seq"]
    assert synack.data["ack"] == plus(iss, 1)  # ack = ISN + 1: the SYN took one number
    data = next(x for x in c if x.data["len"])
    assert data.data["seq"] == plus(iss, 1) and data.data["len"] == len(GREETING)
    fin = next(x for x in c if "FIN" in flags(x))
    assert fin.data["seq"] == plus(iss, 1 + len(GREETING)) and fin.data["len"] == 0
    acks = [x.data["ack"] for x in s if flags(x) == {"ACK"}]
    # The data is acknowledged up to the FIN's number; the FIN's ACK is one more.
    assert acks == [plus(iss, 1 + len(GREETING)), plus(iss, 2 + len(GREETING))]
    server_fin = next(x for x in s if "FIN" in flags(x))
    assert server_fin.data["seq"] == plus(irs, 1)  # the server sent no data
    assert c[-1].data["ack"] == plus(irs, 2) and flags(c[-1]) == {"ACK"}
