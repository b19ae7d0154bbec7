"""tcpstack.tools.viewer.build_document: the steps, TCBs and segments the page walks through."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpstack.scenarios import ScenarioOptions, get_scenario
from tcpstack.state import RULES
from tcpstack.tools._model import build_model
from tcpstack.tools.annotate import annotate
from tcpstack.tools.i18n import Text
from tcpstack.tools.viewer import About, build_document
from tcpstack.tools.viewer.document import TCB_FIELDS
from tcpstack.tools.viewer.words import CAPTIONS, CAUSES, TIMERS, UI, catalog
from tcpstack.trace import TraceRecord


def run(name: str, **opts: Any) -> list[TraceRecord]:
    return get_scenario(name).run(ScenarioOptions(**opts)).records


@pytest.fixture(scope="module")
def lfa_records() -> list[TraceRecord]:
    return run("lost-final-ack")


@pytest.fixture(scope="module")
def lfa(lfa_records: list[TraceRecord]) -> dict[str, Any]:
    return build_document(lfa_records, left="client", right="server")


def tcb(doc: dict[str, Any], side: str, i: int) -> dict[str, Any]:
    snap: dict[str, Any] = doc["tcbs"][doc["steps"][i]["tcb"][0 if side == "L" else 1]]
    return snap


def timers(snap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["timer"]: t for t in snap["timers"]}


def retransmitted_fin_arrival(doc: dict[str, Any]) -> int:
    """The step at which the client (in TIME-WAIT) receives the server's second FIN."""
    fins = [s for s in doc["segments"] if "FIN" in s["flags"] and s["src"] == "server"]
    assert len(fins) == 2 and fins[1]["retransmission"] and not fins[0]["retransmission"]
    step: int = fins[1]["step_arrived"]
    return step


def test_the_document_is_json_with_steps_in_trace_order(lfa: dict[str, Any]) -> None:
    json.dumps(lfa, allow_nan=False)
    steps = lfa["steps"]
    assert [s["i"] for s in steps] == list(range(len(steps)))
    assert all(a["t"] <= b["t"] for a, b in itertools.pairwise(steps))
    assert lfa["hosts"]["L"]["name"] == "client" and lfa["hosts"]["R"]["name"] == "server"
    assert lfa["hosts"]["L"]["port"] == int(lfa["hosts"]["L"]["addr"].rsplit(":", 1)[1])
    kinds = {s["kind"] for s in steps}
    assert kinds >= {"call", "state", "send", "arrive", "lost", "drop", "timer"}
    # Every caption in both languages.
    assert all(s["text"]["en"] and s["text"]["zh"] for s in steps)


def test_tcb_at_the_retransmitted_fin(lfa: dict[str, Any]) -> None:
    """TIME-WAIT re-ACKs the repeated FIN and restarts 2 MSL (RFC 9293 §3.10.7.4)."""
    i = retransmitted_fin_arrival(lfa)
    step = lfa["steps"][i]
    assert step["kind"] == "arrive" and step["host"] == "client"
    before, now = tcb(lfa, "L", i - 1), tcb(lfa, "L", i)
    assert before["state"] == now["state"] == "TIME-WAIT"
    tw_before, tw_now = timers(before)["time_wait"], timers(now)["time_wait"]
    assert tw_before["prev"] is None
    assert tw_now["prev"] == tw_before["at"]
    assert tw_now["at"] == pytest.approx(step["t"] + 2 * 120.0)  # 2 MSL from the arrival
    assert tw_now["at"] > tw_before["at"]
    assert [e["action"] for e in step["effects"]] == ["restarted"]
    assert "2 MSL" in step["effects"][0]["text"]["en"]
    # The next step is TCP discarding the duplicate: a drop with its reason, not a loss.
    nxt = lfa["steps"][i + 1]
    assert (nxt["kind"], nxt["reason"], nxt["seg"]) == ("drop", "retransmitted-fin", step["seg"])
    seg = lfa["segments"][step["seg"]]
    assert seg["fate"] == "dropped" and seg["drop_reason"] == "retransmitted-fin"
    # Meanwhile the server, in LAST-ACK, has its retransmission timer running.
    server = tcb(lfa, "R", i)
    assert server["state"] == "LAST-ACK" and "rto" in timers(server)


def test_timers_running_at_a_step(lfa: dict[str, Any]) -> None:
    steps = lfa["steps"]
    syn = next(s for s in steps if s["kind"] == "send" and s["host"] == "client")
    rto = timers(tcb(lfa, "L", syn["i"]))["rto"]
    assert rto["at"] == pytest.approx(syn["t"] + 1.0)  # the initial RTO, RFC 6298 §2.1
    synack = next(s for s in steps if s["kind"] == "arrive" and s["host"] == "client")
    assert "rto" not in timers(tcb(lfa, "L", synack["i"]))
    assert any(e["action"] == "cancelled" and e["timer"] == "rto"
               for e in synack["effects"])
    last = len(steps) - 1
    assert tcb(lfa, "L", last)["timers"] == [] and tcb(lfa, "L", last)["state"] == "CLOSED"


def test_tcb_follows_the_latest_metrics_record(lfa_records: list[TraceRecord],
                                               lfa: dict[str, Any]) -> None:
    """At the last step of each instant, a TCB is the host's latest metrics_updated."""
    steps = lfa["steps"]
    for k, step in enumerate(steps):
        if k + 1 < len(steps) and steps[k + 1]["t"] == step["t"]:
            continue
        for side, host in (("L", "client"), ("R", "server")):
            latest = [r for r in lfa_records if r.host == host and r.event == "metrics_updated"
                      and r.time <= step["t"]]
            snap = tcb(lfa, side, k)
            if not latest:
                assert all(snap[f] is None for f in TCB_FIELDS)
                continue
            assert {f: snap[f] for f in TCB_FIELDS} == {f: latest[-1].data[f] for f in TCB_FIELDS}


def test_relative_sequence_numbers_in_the_tcb(lfa: dict[str, Any]) -> None:
    isn = {side: lfa["hosts"][side]["isn"] for side in "LR"}
    for k in range(len(lfa["steps"])):
        for side, peer in (("L", "R"), ("R", "L")):
            snap = tcb(lfa, side, k)
            if snap["snd_una"] is not None:
                assert snap["snd_una_rel"] == (snap["snd_una"] - isn[side]) % 2**32
            if snap["rcv_nxt_rel"] is not None:
                assert snap["rcv_nxt_rel"] == (snap["rcv_nxt"] - isn[peer]) % 2**32
    final = tcb(lfa, "L", len(lfa["steps"]) - 1)
    # The client sent 18 bytes: SYN + 18 + FIN = 20; it read 44 bytes and the FIN: 46.
    assert (final["snd_nxt_rel"], final["rcv_nxt_rel"]) == (20, 46)


def test_the_three_fates(lfa: dict[str, Any]) -> None:
    fates = [(s["flags"], s["src"], s["fate"]) for s in lfa["segments"]]
    lost = [f for f in fates if f[2] == "lost"]
    assert lost == [(["ACK"], "client", "lost")]  # the final ACK, dropped by the scenario
    assert [f[2] for f in fates].count("dropped") == 1
    assert all(f[2] in ("processed", "lost", "dropped") for f in fates)
    lost_seg = next(s for s in lfa["segments"] if s["fate"] == "lost")
    assert lost_seg["drop_reason"] == "scripted-drop" and lost_seg["step_arrived"] is None
    assert lost_seg["step_lost"] > lost_seg["step_sent"]


def test_segment_fields_for_the_header_view(lfa: dict[str, Any]) -> None:
    syn = lfa["segments"][0]
    assert syn["flags"] == ["SYN"] and syn["rel_seq"] == 0 and syn["next_rel_seq"] == 1
    assert syn["src_ip"] == "192.0.2.1" and syn["dst_port"] == 80
    assert syn["window_scaled"] == syn["window"]  # never scaled on a SYN (RFC 7323 §2.2)
    shift = syn["options"]["wscale"]
    data = next(s for s in lfa["segments"] if s["len"] and s["src"] == "client")
    assert data["window_shift"] == shift and data["window_scaled"] == data["window"] << shift
    assert data["label_rel"].startswith("PSH,ACK seq=1 ack=1 len=18")
    assert data["label_abs"].startswith(f"PSH,ACK seq={data['seq']}")


def test_sack_blocks_relative_to_the_data_senders_isn() -> None:
    doc = build_document(run("fast-retransmit"))
    sacks = [s for s in doc["segments"] if s["options"].get("sack")]
    assert sacks
    isn = doc["hosts"]["L"]["isn"]  # the client sends the data the server SACKs
    for seg in sacks:
        assert seg["src"] == "server"
        assert seg["sack_rel"] == [[(a - isn) % 2**32, (b - isn) % 2**32]
                                   for a, b in seg["options"]["sack"]]
        assert all(seg["rel_ack"] < a < b for a, b in seg["sack_rel"])  # above the hole


def test_the_state_diagram_covers_every_rule(lfa: dict[str, Any]) -> None:
    table = {(t["old"], t["new"], t["cause"]): t["rule"] for t in lfa["transitions"]}
    assert table == {(str(o), str(n), str(c)): rule for (o, n, c), rule in RULES.items()}
    assert len(lfa["states"]) == 11
    # A step of the run names its rule from the same table.
    closing = [s for s in lfa["steps"] if s["kind"] == "state"]
    assert all(s["rule"] for s in closing)


def test_app_calls_are_steps(lfa: dict[str, Any]) -> None:
    calls = [(s["host"], s["label"]) for s in lfa["steps"] if s["kind"] == "call"]
    assert calls[:3] == [("server", "listen()"), ("client", "connect()"), ("client", "write(18)")]
    assert ("server", "accept()") in calls and ("client", "close()") in calls
    assert ("client", "read() → 44") in calls


def test_unread_bytes_until_read() -> None:
    doc = build_document(run("lifecycle"))
    arrival = next(s for s in doc["steps"] if s["kind"] == "arrive" and s["host"] == "server"
                   and doc["segments"][s["seg"]]["len"])
    assert tcb(doc, "R", arrival["i"] - 1)["unread"] == 0
    read = next(s for s in doc["steps"] if s.get("label") == "read() → 18")
    assert tcb(doc, "R", read["i"] - 1)["unread"] == 18  # delivered, not read yet
    assert tcb(doc, "R", read["i"])["unread"] == 0


def test_series_for_the_plots(lfa: dict[str, Any]) -> None:
    series = lfa["series"]
    assert series["has_data"] is True
    assert series["tsg"]["L"]["bytes"] == 18 and series["tsg"]["R"]["bytes"] == 44
    _, seq, length, retx, fate = series["tsg"]["R"]["data"][0]
    assert (seq, length, retx, fate) == (1, 44, False, "processed")
    assert all(p[1] is not None for p in series["cwnd"]["R"])
    refused = build_document(run("refused"))
    assert refused["series"]["has_data"] is False


def test_about_is_carried() -> None:
    about = About(name="x", summary="only English", question=Text("why?", "为什么？"),
                  answer=None, options={"seed": 1, "loss": float("nan")})
    doc = build_document([], about=about)
    assert doc["about"] == {"name": "x", "summary": {"en": "only English"},
                            "question": {"en": "why?", "zh": "为什么？"}, "answer": None,
                            "options": {"seed": 1, "loss": None}}
    assert doc["title"] == "x"


def test_an_empty_trace_is_an_empty_document() -> None:
    doc = build_document([])
    assert doc["steps"] == [] and doc["segments"] == [] and doc["tcbs"] == []
    json.dumps(doc, allow_nan=False)


def test_a_one_sided_trace(lfa_records: list[TraceRecord]) -> None:
    """Only the client is traced (as against a kernel on TUN): the server is an empty lifeline."""
    doc = build_document([r for r in lfa_records if r.host == "client"])
    assert doc["hosts"]["L"]["traced"] and not doc["hosts"]["R"]["traced"]
    assert all(tcb(doc, "R", s["i"])["state"] is None for s in doc["steps"])
    sent = [s for s in doc["segments"] if s["src"] == "client"]
    assert sent and all(s["fate"] in ("unknown", "lost") for s in sent)
    received = [s for s in doc["segments"] if s["dst"] == "client"]
    assert received and all(s["fate"] in ("processed", "dropped") for s in received)


def test_a_host_that_restarts_forgets_its_tcb() -> None:
    doc = build_document(run("half-open"), left="client", right="server")
    restart = next(s for s in doc["steps"] if s["kind"] == "restart")
    assert restart["host"] == "server"
    snap = tcb(doc, "R", restart["i"])
    assert snap["state"] == "CLOSED" and snap["timers"] == [] and snap["cwnd"] is None


@st.composite
def mangled(draw: st.DrawFn, records: list[TraceRecord]) -> list[TraceRecord]:
    """A trace with records left out, and some fields replaced by junk."""
    keep = draw(st.lists(st.booleans(), min_size=len(records), max_size=len(records)))
    junk = st.one_of(st.none(), st.integers(-5, 2**40), st.floats(), st.text(max_size=4),
                     st.lists(st.integers(0, 9), max_size=3))
    out = []
    for r, k in zip(records, keep, strict=True):
        if not k:
            continue
        data = dict(r.data)
        if data and draw(st.integers(0, 9)) == 0:
            data[draw(st.sampled_from(sorted(data)))] = draw(junk)
        out.append(TraceRecord(r.time, r.host, r.conn, r.event, data))
    return out


_LFA = run("lost-final-ack")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled(_LFA))
def test_odd_traces_never_raise(records: list[TraceRecord]) -> None:
    doc = build_document(records)
    json.dumps(doc, allow_nan=False)
    for step in doc["steps"]:
        assert len(step["tcb"]) == 2


def test_annotations_land_on_their_step(lfa_records: list[TraceRecord]) -> None:
    """Annotations come from tools.annotate; one about a segment lands on that segment's step
    at that host, one about a timer on its host's step at that time."""
    doc = build_document(lfa_records, left="client", right="server")
    i = retransmitted_fin_arrival(doc)
    notes = doc["steps"][i]["notes"]
    assert [n["kind"] for n in notes] == ["time-wait-restart"]
    assert notes[0]["text"]["en"].startswith("2 MSL restarted")
    assert "2 MSL 重新计时" in notes[0]["text"]["zh"]
    kinds = [(s["host"], n["kind"]) for s in doc["steps"] for n in s["notes"]]
    assert ("server", "rto") in kinds and ("client", "time-wait") in kinds
    assert kinds.count(("client", "time-wait-restart")) == 1
    expected = annotate(build_model(lfa_records, left="client", right="server"), lfa_records)
    assert sum(len(s["notes"]) for s in doc["steps"]) == len(expected)


def test_every_word_has_both_languages() -> None:
    words = catalog()
    assert set(words) >= set(UI) | {"fate_lost", "fate_dropped", "fate_processed",
                                    "timer_time_wait", "cause_rcv FIN"}
    assert all(w["en"].strip() and w["zh"].strip() for w in words.values())
    # Every cause of the state table and every timer of the trace has its words.
    assert {str(c) for _, _, c in RULES} <= set(CAUSES)
    assert set(TIMERS) == {"rto", "tlp", "persist", "delayed_ack", "keepalive", "time_wait",
                           "fin_wait_2"}
    # Templates fill the same fields in both languages.
    for text in CAPTIONS.values():
        fields_en = sorted(part.split("}")[0] for part in text.en.split("{")[1:])
        fields_zh = sorted(part.split("}")[0] for part in text.zh.split("{")[1:])
        assert fields_en == fields_zh, text
