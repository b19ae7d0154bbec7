"""tcpstack.tools.annotate: each explanation appears where the run does the thing, and nowhere else.

The runs are the simulator's scenarios (virtual time) and small networks
built here; every expectation is derived from the records, not written down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tcpstack import Network, TcpConfig
from tcpstack.connection import Connection
from tcpstack.events import Connected, Event
from tcpstack.scenarios import SCENARIOS, ScenarioOptions
from tcpstack.tools._model import LadderModel, SegmentView, build_model
from tcpstack.tools.annotate import KINDS, Annotation, annotate
from tcpstack.trace import TraceRecord
from tcpstack.wire import Flags, Segment, encode_packet


@dataclass
class Run:
    records: list[TraceRecord]
    model: LadderModel
    notes: list[Annotation]

    def of(self, kind: str, host: str | None = None) -> list[Annotation]:
        return [a for a in self.notes if a.kind == kind and (host is None or a.host == host)]

    def seg(self, note: Annotation) -> SegmentView:
        assert note.segment is not None, note
        return self.model.segments[note.segment]

    def sent(self, host: str) -> list[SegmentView]:
        return [s for s in self.model.segments if s.src == host]


def analyse(records: list[TraceRecord], **kw: Any) -> Run:
    model = build_model(records, **kw)
    return Run(records, model, annotate(model, records))


_RUNS: dict[tuple[str, float], Run] = {}


def scenario(name: str, msl: float = 120.0) -> Run:
    if (name, msl) not in _RUNS:
        result = SCENARIOS[name].run(ScenarioOptions(msl=msl))
        _RUNS[(name, msl)] = analyse(result.records, left=result.client, right=result.server)
    return _RUNS[(name, msl)]


def test_every_kind_is_documented_and_both_languages_are_there() -> None:
    for name in ("lifecycle", "lost-final-ack", "fast-retransmit", "zero-window", "keepalive",
                 "retransmission", "half-open"):
        for note in scenario(name).notes:
            assert note.kind in KINDS
            assert note.text.en.strip() and note.text.zh.strip()
            assert note.text.en != note.text.zh


# -- the handshake and the close --------------------------------------------------------


def test_the_syn_consumes_one_sequence_number() -> None:
    run = scenario("lifecycle")
    notes = run.of("syn-consumes")
    assert {n.host for n in notes} == {"client", "server"}
    for note in notes:
        seg = run.seg(note)
        peer_syn = next(s for s in run.model.segments if s.src != seg.src and "SYN" in s.flags)
        assert seg.ack == (peer_syn.seq or 0) + 1
        # The first acknowledgment of that SYN, not a later one.
        earlier = [s for s in run.sent(seg.src) if s.time < seg.time and s.ack == seg.ack
                   and "ACK" in s.flags]
        assert earlier == []
    assert "ack = x + 1" in notes[0].text.en and "序列号" in notes[0].text.zh


def test_each_syn_is_explained_once_also_an_old_duplicate() -> None:
    # old-duplicate-syn: the server answers a stale SYN, is reset, then answers
    # the real one: two different client SYNs, each acknowledged with x + 1.
    run = scenario("old-duplicate-syn")
    acked = sorted((run.seg(n).ack or 0) - 1 for n in run.of("syn-consumes", "server"))
    client_syns = sorted({s.seq or 0 for s in run.model.segments
                          if s.src == "client" and s.flags == frozenset({"SYN"})})
    assert acked == client_syns and len(acked) == 2
    # Retransmitted SYNs carry the same number: explained once.
    assert len(scenario("lost-syn").of("syn-consumes", "server")) == 1


def test_fin_consumes_one_sequence_number_also_after_data() -> None:
    run = scenario("lifecycle")
    notes = run.of("fin-consumes")
    assert sorted(n.host for n in notes) == ["client", "server"]
    for note in notes:
        seg = run.seg(note)
        fin = next(s for s in run.model.segments if s.src != seg.src and "FIN" in s.flags)
        assert seg.ack == (fin.seq or 0) + (fin.length or 0) + 1
        assert "FIN's seq + 1" in note.text.en
    # The client's FIN rides on its last data segment: seq + len + 1.
    data_fin = scenario("retransmission")
    fin_ack = next(n for n in data_fin.of("fin-consumes") if n.host == "server")
    assert "len + 1" in fin_ack.text.en


def test_no_fin_annotation_before_the_close() -> None:
    run = scenario("lifecycle")
    first_fin = min(s.time for s in run.model.segments if "FIN" in s.flags)
    before = analyse([r for r in run.records if r.time < first_fin],
                     left="client", right="server")
    assert before.of("fin-consumes") == [] and before.of("time-wait") == []
    assert len(before.of("syn-consumes")) == 2


def test_time_wait_is_2_msl_from_the_timer() -> None:
    for msl, shown in ((120.0, "2 MSL = 240 s"), (30.0, "2 MSL = 60 s")):
        notes = scenario("lifecycle", msl=msl).of("time-wait")
        assert [n.host for n in notes] == ["client"]  # the active closer only
        assert shown in notes[0].text.en and "最大报文段生存时间" in notes[0].text.zh
    both = scenario("simultaneous-close").of("time-wait")
    assert sorted(n.host for n in both) == ["client", "server"]


def test_2_msl_restarts_on_the_retransmitted_fin_and_only_there() -> None:
    run = scenario("lost-final-ack")
    (note,) = run.of("time-wait-restart")
    seg = run.seg(note)
    assert note.host == "client" and "FIN" in seg.flags
    assert seg.fate == "dropped" and seg.drop_reason == "retransmitted-fin"
    timer = next(r for r in run.records if r.host == "client" and r.event == "timer_set"
                 and r.data.get("timer") == "time_wait" and r.time == note.time)
    assert "2 MSL restarted" in note.text.en
    assert f"{timer.data['at']:g} s" in note.text.en
    assert scenario("lifecycle").of("time-wait-restart") == []


def test_read_returns_0_at_the_end_of_the_stream() -> None:
    run = scenario("retransmission")
    (note,) = run.of("eof")
    eof = next(r for r in run.records if r.event == "app" and r.data.get("eof"))
    assert (note.host, note.time) == (eof.host, eof.time)
    assert "read() returns 0" in note.text.en and "FIN" in note.text.zh
    for name in ("lifecycle", "keepalive", "half-close", "refused"):
        run = scenario(name)
        eofs = [(r.host, r.time) for r in run.records
                if r.event == "app" and r.data.get("eof")]
        assert [(n.host, n.time) for n in run.of("eof")] == eofs, name
    assert scenario("keepalive").of("eof") == []  # nobody reads the end there


# -- losses and retransmissions ---------------------------------------------------------


def test_rto_fired_with_its_backoff() -> None:
    run = scenario("retransmission")
    notes = run.of("rto")
    assert [n.text.en for n in notes] == [
        "RTO fired, backoff to 2 s", "RTO fired, backoff to 4 s", "RTO fired, backoff to 8 s"]
    fired = [r.time for r in run.records if r.event == "timer_fired"
             and r.data.get("timer") == "rto"]
    assert [n.time for n in notes] == fired
    for note in notes:
        seg = run.seg(note)  # the retransmission the timer caused
        assert seg.send_time == note.time and seg.length
    assert scenario("lifecycle").of("rto") == []


def test_rto_of_a_lost_syn_backs_off_from_1_s() -> None:
    run = scenario("lost-syn")
    (note,) = run.of("rto")
    assert note.text.en == "RTO fired, backoff to 2 s" and "SYN" in run.seg(note).flags


def test_duplicate_acks_count_up_and_trigger_the_fast_retransmit() -> None:
    run = scenario("fast-retransmit")
    dups = run.of("dup-ack", "client")
    assert [n.text.en for n in dups] == [f"duplicate ACK {i}" for i in range(1, len(dups) + 1)]
    acks = {run.seg(n).ack for n in dups}
    assert len(acks) == 1  # all repeat one acknowledgment number
    (fast,) = run.of("fast-retransmit")
    assert fast.text.en == "fast retransmit (3 dup ACKs)" and "快速重传" in fast.text.zh
    resent = run.seg(fast)
    assert resent.seq == acks.pop()  # it resends what the duplicates ask for
    lost = [s for s in run.model.segments if s.fate == "lost"]
    assert [s.seq for s in lost] == [resent.seq]
    third = dups[2]
    assert third.time <= fast.time
    assert run.of("rto") == []


def test_no_fast_retransmit_where_timeouts_did_the_work() -> None:
    for name in ("retransmission", "lifecycle", "lost-syn", "zero-window"):
        assert scenario(name).of("fast-retransmit") == [], name
    assert scenario("lifecycle").of("dup-ack") == []


def test_other_retransmissions_are_named_so() -> None:
    # lost-syn-ack: the server answers the client's repeated SYN with its SYN,ACK again.
    run = scenario("lost-syn-ack")
    plain = run.of("retransmission", "server")
    assert plain and all("SYN" in run.seg(n).flags for n in plain)
    # In a simultaneous open the SYN,ACK repeats the host's own SYN: not a retransmission.
    assert scenario("simultaneous-open").of("retransmission") == []
    assert scenario("lifecycle").of("retransmission") == []


# -- windows, probes and keep-alive -------------------------------------------------------


def test_zero_window_probes_and_reopening() -> None:
    run = scenario("zero-window")
    (zero,) = run.of("zero-window")
    assert zero.host == "server" and run.seg(zero).window == 0
    probes = run.of("window-probe", "client")
    persist_fired = [r.time for r in run.records if r.event == "timer_fired"
                     and r.data.get("timer") == "persist"]
    assert [p.time for p in probes] == [t for t in persist_fired if t > zero.time]
    assert all(run.seg(p).length == 0 for p in probes)
    (opened,) = run.of("window-reopened")
    assert opened.host == "server" and (run.seg(opened).window or 0) > 0
    assert zero.time < probes[0].time < opened.time
    for name in ("lifecycle", "fast-retransmit"):
        run = scenario(name)
        assert not run.of("zero-window") and not run.of("window-reopened") and not run.of(
            "window-probe")


def test_keep_alive_probes_then_the_timeout() -> None:
    run = scenario("keepalive")
    probes = run.of("keepalive")
    fired = [r.time for r in run.records if r.event == "timer_fired"
             and r.data.get("timer") == "keepalive"]
    assert [p.time for p in probes] == fired[:-1]  # the last firing gives up: no probe
    assert all("RST" not in run.seg(p).flags for p in probes)
    assert all(p.text.zh == "保活探测" for p in probes)
    causes = [n.text.en for n in run.of("cause", "client")]
    assert any("keep-alive" in c for c in causes)
    assert scenario("lifecycle").of("keepalive") == []


# -- challenge ACK (RFC 5961), in a network built here -------------------------------------


def _challenged(flags: Flags) -> list[TraceRecord]:
    """An open connection; at 1 s a forged segment with ``flags`` reaches the client,
    in the window but not at RCV.NXT."""
    net = Network(seed=3)
    plain = TcpConfig(timestamps=False)  # a forged SYN would lack them (dropped, RFC 7323)
    c = net.add_host("client", "192.0.2.1", config=plain)
    s = net.add_host("server", "192.0.2.2", config=plain)
    net.link("client", "server", delay=0.01)
    conns: list[Connection] = []

    def remember(conn: Connection, event: Event) -> None:
        if isinstance(event, Connected):
            conns.append(conn)

    c.app = remember
    s.stack.listen(80)
    net.at(0.0, lambda: c.stack.connect("192.0.2.2", 80, now=net.now))

    def forge() -> None:
        conn = conns[0]
        seg = Segment(80, conn.local.port, seq=(conn.rcv_nxt + 100) % 2**32,
                      ack=conn.snd_nxt, flags=flags, window=1000)
        net.inject(net.now, "server", encode_packet(s.address, c.address, seg))

    net.at(1.0, forge)
    net.at(2.0, lambda: conns[0].close())
    net.run(until=3.0)
    return net.trace.records


@pytest.mark.parametrize(("flags", "reason"), [
    (Flags.RST, "rst-challenged"), (Flags.SYN, "syn-challenged")])
def test_challenge_ack_answers_an_in_window_rst_or_syn(flags: Flags, reason: str) -> None:
    records = _challenged(flags)
    run = analyse(records, left="client", right="server")
    drop = next(r for r in records if r.event == "segment_dropped"
                and r.data.get("reason") == reason)
    (note,) = run.of("challenge-ack")
    ack = run.seg(note)
    assert note.host == "client" and note.time == drop.time
    assert ack.src == "client" and ack.flags == frozenset({"ACK"})
    assert "RFC 5961" in note.text.en and "挑战 ACK" in note.text.zh
    assert scenario("lifecycle").of("challenge-ack") == []


# -- odd traces ---------------------------------------------------------------------------------


def test_odd_traces_give_no_annotations_and_no_errors() -> None:
    odd = [
        TraceRecord(0.0, "a", "x:1-y:2", "timer_fired", {"timer": "rto"}),
        TraceRecord(0.0, "a", "x:1-y:2", "timer_set", {"timer": "time_wait", "at": "soon"}),
        TraceRecord(0.1, "a", "x:1-y:2", "segment_received", {"flags": "ACK", "ack": 5}),
        TraceRecord(0.2, "a", "x:1-y:2", "segment_received", {"flags": "ACK", "ack": 5}),
        TraceRecord(0.3, "a", "x:1-y:2", "app", {"call": "read", "eof": True}),
        TraceRecord(float("nan"), "a", "x:1-y:2", "state_updated", {"new": "CLOSED"}),
        TraceRecord(0.4, "a", "x:1-y:2", "metrics_updated", {"snd_una": "x"}),
    ]
    kinds = {n.kind for n in analyse(odd).notes}
    assert kinds <= {"rto", "eof"}
    assert analyse([]).notes == []
