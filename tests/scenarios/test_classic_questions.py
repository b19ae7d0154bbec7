"""The scenarios of the classic questions show their point in the segments they exchange."""

from __future__ import annotations

import pytest

from tcpstack.events import ConnectionReset, PeerClosed
from tcpstack.scenarios import ScenarioOptions, ScenarioResult, get_scenario
from tcpstack.scenarios.closing import EXIT_AT, FLUSH_BYTES, LEAK_CONNECTIONS
from tcpstack.scenarios.incarnations import (
    NEW_DATA,
    NO_TIME_WAIT_PORT,
    OLD_DATA,
    WITH_TIME_WAIT_PORT,
    Streams,
)
from tcpstack.scenarios.lifecycle import GREETING
from tcpstack.scenarios.ss import state_counts
from tcpstack.scenarios.transfer import Receiver
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


# --- close-flushes --------------------------------------------------------------


def test_close_after_write_still_delivers_everything_then_the_fin() -> None:
    r = run("close-flushes")
    conn = r.connections("client")[0]
    close = next(x for x in records(r, "client", "app") if x.data.get("call") == "close")
    data = [x for x in records(r, "client", "segment_sent", conn) if x.data["len"]]
    # close() came first, yet most of the data left afterwards, in FIN-WAIT-1.
    assert close.time < data[-1].time
    fw1 = next(x.time for x in records(r, "client", "state_updated")
               if x.data["new"] == "FIN-WAIT-1")
    assert fw1 == close.time
    iss = records(r, "client", "segment_sent")[0].data["seq"]
    fin = next(x for x in records(r, "client", "segment_sent") if "FIN" in flags(x))
    assert plus(fin.data["seq"], fin.data["len"]) == plus(iss, 1 + FLUSH_BYTES)
    # The server's application read every byte, in order, then end-of-stream.
    app = r.network.hosts["server"].app
    assert isinstance(app, Receiver)
    assert bytes(app.received) == bytes(i % 251 for i in range(FLUSH_BYTES))
    reads = [x.data for x in records(r, "server", "app") if x.data.get("call") == "read"]
    assert sum(d["bytes"] for d in reads) == FLUSH_BYTES
    assert reads[-1] == {"call": "read", "bytes": 0, "eof": True}


# --- close-wait-leak ------------------------------------------------------------


def test_close_wait_piles_up_and_fin_wait_2_times_out() -> None:
    r = run("close-wait-leak")
    assert not any("FIN" in flags(x) for x in records(r, "server", "segment_sent"))
    conns = r.connections("client")
    assert len(conns) == LEAK_CONNECTIONS
    for conn in conns:
        changes = records(r, "client", "state_updated", conn)
        fw2 = next(x.time for x in changes if x.data["new"] == "FIN-WAIT-2")
        end = changes[-1]
        assert end.data == {"old": "FIN-WAIT-2", "new": "CLOSED", "cause": "FIN-WAIT-2 timeout"}
        assert end.time - fw2 == pytest.approx(60.0)
    (client, server) = state_counts(r.records, [r.network.now], ["client", "server"])
    assert client.counts == {}
    assert server.counts == {"LISTEN": 1, "CLOSE-WAIT": LEAK_CONNECTIONS}
    (note,) = r.notes
    assert "server CLOSE-WAIT" in note.en and "server CLOSE-WAIT" in note.zh
    last_row = note.en.splitlines()[-1].split()
    assert last_row[-1] == str(LEAK_CONNECTIONS)


# --- process-exit ---------------------------------------------------------------


def test_process_exit_closes_with_fin_or_rst() -> None:
    r = run("process-exit")
    first, second = r.connections("client")
    at_exit = {conn: [x for x in records(r, "client", "segment_sent", conn)
                      if x.time == pytest.approx(EXIT_AT)] for conn in (first, second)}
    assert [flags(x) for x in at_exit[first]] == [{"FIN", "ACK"}]
    assert [flags(x) for x in at_exit[second]] == [{"RST"}]
    closes = [x for x in records(r, "client", "app") if x.data.get("call") == "close"]
    assert {x.conn for x in closes} == {first, second}
    assert all(x.time == pytest.approx(EXIT_AT) for x in closes)
    reset = records(r, "client", "state_updated", second)[-1]
    assert reset.data["cause"] == "CLOSE with unread data"
    server_events = [e for _, _, e in r.network.hosts["server"].events]
    assert ConnectionReset(refused=False) in server_events
    assert any(isinstance(e, PeerClosed) for e in server_events)
    assert [n.en.split(": ", 1)[1] for n in r.notes] == [
        "everything read at exit: FIN, a graceful close.",
        "unread data in the receive buffer at exit: RST."]


# --- time-wait-old-duplicate ----------------------------------------------------


def test_without_time_wait_an_old_segment_corrupts_the_new_connection() -> None:
    r = run("time-wait-old-duplicate")
    app = r.network.hosts["server"].app
    assert isinstance(app, Streams)
    old, new = app.incarnations(NO_TIME_WAIT_PORT)
    assert old == OLD_DATA
    assert new != NEW_DATA and len(new) == len(NEW_DATA)
    assert b"old " in new  # the previous incarnation's bytes, read as this one's
    # The culprit: a data segment of the first incarnation that the server received
    # while the second one was established on the same 4-tuple.
    conn = next(c for c in r.connections("server") if c.endswith(f":{NO_TIME_WAIT_PORT}"))
    changes = records(r, "server", "state_updated", conn)
    reopened = [x.time for x in changes if x.data["new"] == "ESTABLISHED"][1]
    # The first incarnation's segments acknowledge the server's first ISN.
    old_synack = next(x for x in records(r, "server", "segment_sent", conn)
                      if flags(x) == {"SYN", "ACK"})
    old_ack = plus(old_synack.data["seq"], 1)
    stale = [x for x in records(r, "server", "segment_received", conn)
             if x.time > reopened and x.data["len"] and x.data["ack"] == old_ack]
    assert len(stale) == 1
    new_syn = [x for x in records(r, "client", "segment_sent") if flags(x) == {"SYN"}
               and x.conn.split("-")[0].endswith(f":{NO_TIME_WAIT_PORT}")][1]
    # Its sequence numbers straddle the new connection's first byte: it is in the window.
    start = stale[0].data["seq"]
    first_byte = plus(new_syn.data["seq"], 1)
    assert 0 < (first_byte - start) % SEQ_MOD < stale[0].data["len"]
    assert not [x for x in r.records if x.event == "segment_dropped" and x.conn == conn
                and x.time > reopened]


def test_with_time_wait_the_old_segment_cannot_reach_a_new_connection() -> None:
    r = run("time-wait-old-duplicate")
    app = r.network.hosts["server"].app
    assert isinstance(app, Streams)
    old, new = app.incarnations(WITH_TIME_WAIT_PORT)
    assert old == OLD_DATA and new == NEW_DATA
    conn = next(c for c in r.connections("client") if c.split("-")[0].endswith(
        f":{WITH_TIME_WAIT_PORT}"))
    changes = records(r, "client", "state_updated", conn)
    tw_end = next(x.time for x in changes if x.data["old"] == "TIME-WAIT")
    tw_start = next(x.time for x in changes if x.data["new"] == "TIME-WAIT")
    assert tw_end - tw_start == pytest.approx(2 * 120.0)
    reopen = [x.time for x in changes if x.data["new"] == "SYN-SENT"][1]
    assert reopen >= tw_end  # the 4-tuple was taken until 2 MSL had passed
    # The held segment found no connection: the server's RST is ignored by TIME-WAIT.
    rst = [x for x in records(r, "server", "segment_sent") if "RST" in flags(x)]
    assert len(rst) == 1 and tw_start < rst[0].time < tw_end
    dropped = records(r, "client", "segment_dropped", conn)
    assert [x.data["reason"] for x in dropped] == ["rst-out-of-window"]
    assert "failed" in r.notes[1].en and "exactly" in r.notes[1].en
    assert "corrupted" in r.notes[0].en


def test_time_wait_old_duplicate_depends_on_time_wait_not_on_the_seed() -> None:
    for seed in (2, 3, 4):
        app = run("time-wait-old-duplicate", seed=seed).network.hosts["server"].app
        assert isinstance(app, Streams)
        assert app.incarnations(NO_TIME_WAIT_PORT)[1] != NEW_DATA
        assert app.incarnations(WITH_TIME_WAIT_PORT)[1] == NEW_DATA
