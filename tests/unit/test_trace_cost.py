"""A kept trace costs the garbage collector nothing per record, and reads back as it was emitted.

``Trace`` keeps records compactly (objects CPython's cyclic collector does not
track) and makes :class:`TraceRecord` objects when ``records`` is read. These
tests pin both halves: what the collector sees of a long kept trace, and that
every record, its ``data`` and the JSON Lines are exactly what was emitted.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import threading
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from wire_strategies import segments

from tcpstack.drivers.sim import Network
from tcpstack.harness.speed import BULK_PORT, Collector, SendClient, payload
from tcpstack.trace import Trace, TraceRecord, segment_record
from tcpstack.wire import Flags, Segment
from tcpstack.wire.options import NOP, Mss, Sack, SackPermitted, Timestamps, WindowScale


def tracked_in(trace: Trace) -> int:
    """How many objects the collector tracks among the containers a trace holds:
    its attributes' lists, tuples and dicts, followed down, and what they hold."""
    seen: set[int] = set()
    tracked = 0
    todo: list[Any] = list(vars(trace).values())
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        tracked += gc.is_tracked(obj)
        if type(obj) in (list, tuple, dict):
            todo.extend(gc.get_referents(obj))
    return tracked


def collect() -> None:
    """Full collections: each untracks the tuples that hold only untracked values,
    and may meet an outer tuple before the inner ones, so a kept segment with
    SACK blocks (tuples four deep) may take four passes."""
    for _ in range(4):
        gc.collect()


def bulk_trace(size: int, *, loss: float = 0.0) -> Trace:
    """The kept trace of a seeded transfer of ``size`` bytes (as the benchmark runs it)."""
    net = Network(seed=3, trace=Trace(), keep_packets=False)
    client = net.add_host("client", "192.0.2.1", app=SendClient(payload(size, 3)))
    server = net.add_host("server", "192.0.2.2", app=Collector())
    net.link(client, server, delay=0.005, loss=loss)
    server.stack.listen(BULK_PORT)
    net.at(net.now, lambda: client.stack.connect(server.address, BULK_PORT, now=net.now))
    net.run()
    return net.trace


def test_a_kept_bulk_trace_holds_nothing_the_collector_tracks() -> None:
    trace = bulk_trace(200_000)
    collect()
    assert len(trace) > 1_000
    # The store's list (and the empty list of read records, and of sinks):
    # not one tracked object per record.
    assert tracked_in(trace) <= 5
    records = trace.records  # reading makes the records: objects the collector tracks
    assert len(records) == len(trace)
    assert tracked_in(trace) > len(records)


def test_untracked_also_with_segments_that_carry_sack_blocks_and_drops() -> None:
    trace = bulk_trace(100_000, loss=0.05)
    collect()
    assert tracked_in(trace) <= 5
    events = {r.event for r in trace.records}
    assert {"segment_dropped", "segment_sent", "segment_received"} <= events
    assert any("sack" in r.data.get("options", {}) for r in trace.records)


json_atoms = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
    max_size=5)
json_values = st.recursive(
    json_atoms,
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12)


def shape(value: Any) -> Any:
    """``value`` with its containers' types and dict key order made explicit."""
    if isinstance(value, dict):
        return ("dict", [(k, shape(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [shape(v) for v in value])
    return (type(value).__name__, value)


@given(st.lists(st.dictionaries(st.text(max_size=4), json_values, max_size=4), max_size=4))
def test_records_read_back_with_the_same_types_and_key_order(datas: list[dict[str, Any]]) -> None:
    trace = Trace()
    for i, data in enumerate(datas):
        trace.emit(float(i), "h", "c", "app", data)
    assert [shape(r.data) for r in trace.records] == [shape(d) for d in datas]
    assert [(r.time, r.host, r.conn, r.event) for r in trace] == [
        (float(i), "h", "c", "app") for i in range(len(datas))]


def test_reading_in_the_middle_keeps_one_growing_list_in_order() -> None:
    trace = Trace()
    trace.emit(0.0, "a", "", "app", {"call": "listen", "port": 80})
    first = trace.records
    assert len(first) == 1
    trace.emit(1.0, "b", "x", "timer_set", {"timer": "rto", "at": 2.0})
    trace.emit(2.0, "b", "x", "app", {"call": "send", "sacks": [[1, 2]]})
    assert len(trace) == 3
    assert trace.records is first
    assert [r.time for r in first] == [0.0, 1.0, 2.0]
    assert trace.select(event="app", host="b")[0].data == {"call": "send", "sacks": [[1, 2]]}


def test_sinks_get_the_records_that_are_kept() -> None:
    trace = Trace()
    seen: list[TraceRecord] = []
    trace.add_sink(seen.append)
    seg = Segment(1000, 80, 5, 6, Flags.SYN | Flags.ACK, 100,
                  options=(Mss(1460), NOP, WindowScale(7)))
    trace.emit(0.5, "h", "c", "metrics_updated", {"cwnd": 14600, "srtt": None})
    trace.emit_segment(0.75, "h", "c", "segment_sent", seg)
    assert seen == trace.records
    assert seen[1].data == segment_record(seg)


def reference_record(seg: Segment) -> dict[str, Any]:
    """``segment_record`` as the trace's documentation defines it (docs/trace.md)."""
    record: dict[str, Any] = {"seq": seg.seq, "ack": seg.ack, "flags": seg.flags.names(),
                              "len": len(seg.payload), "window": seg.window,
                              "options": seg.options_dict()}
    if seg.ecn:
        record["ecn"] = {1: "ECT(1)", 2: "ECT(0)", 3: "CE"}[seg.ecn]
    return record


TIMESTAMPED = Segment(40000, 80, 7, 9, Flags.ACK, 502, options=(NOP, NOP, Timestamps(11, 12)),
                      payload=b"x" * 100)
OTHER_OPTIONS = [
    (),
    (NOP, NOP, Timestamps(11, 12)),
    (Timestamps(11, 12), NOP, NOP),
    (NOP, NOP, Timestamps(1, 2), NOP, NOP, Sack(((100, 200), (300, 400)))),
    (Mss(1460), SackPermitted(), Timestamps(3, 0), NOP, WindowScale(7)),
]


@given(segments(max_payload=64), st.integers(0, 3))
def test_a_kept_segment_reads_back_as_segment_record_says(seg: Segment, ecn: int) -> None:
    seg = dataclasses.replace(seg, ecn=ecn)
    check_segment(seg)


def test_the_timestamp_shortcut_and_the_other_options_read_back_the_same() -> None:
    for options in OTHER_OPTIONS:
        for ecn in range(4):
            check_segment(dataclasses.replace(TIMESTAMPED, options=options, ecn=ecn))


def check_segment(seg: Segment) -> None:
    want = reference_record(seg)
    assert shape(segment_record(seg)) == shape(want)
    trace = Trace()
    trace.emit_segment(1.0, "h", "c", "segment_received", seg)
    trace.emit(1.0, "h", "c", "segment_received", segment_record(seg))
    via_segment, via_dict = trace.records
    assert shape(via_segment.data) == shape(via_dict.data) == shape(want)


def test_the_json_lines_of_a_kept_trace_are_those_of_its_records() -> None:
    trace = bulk_trace(30_000, loss=0.05)
    out = io.StringIO()
    trace.write_jsonl(out)
    assert out.getvalue() == "".join(r.to_json() + "\n" for r in trace.records)



def test_records_emitted_by_another_thread_while_they_are_read_are_all_kept_in_order() -> None:
    trace = Trace()
    total = 50_000

    def emit_all() -> None:
        for i in range(total):
            trace.emit(float(i), "h", "c", "app", {"delivered": i})

    emitter = threading.Thread(target=emit_all)
    emitter.start()
    while emitter.is_alive():
        records = trace.records  # grows only when read, in this thread
        assert [r.time for r in records] == [float(i) for i in range(len(records))]
    emitter.join()
    assert [r.data["delivered"] for r in trace.records] == list(range(total))


def test_emit_fields_keeps_the_record_emit_of_its_dict_keeps() -> None:
    keys = ("cwnd", "srtt", "phase", "pacing_rate")
    values = (14600, 0.0125, "slow_start", None)
    by_fields, by_dict = Trace(), Trace()
    seen: list[TraceRecord] = []
    by_fields.add_sink(seen.append)
    by_fields.emit_fields(2.5, "h", "c", "metrics_updated", keys, values)
    by_dict.emit(2.5, "h", "c", "metrics_updated", dict(zip(keys, values, strict=True)))
    empty = Trace()
    empty.add_sink(seen.append)
    collect()
    assert tracked_in(by_fields) == tracked_in(empty)  # nothing tracked for the record
    [kept] = by_fields.records
    assert kept == by_dict.records[0] == seen[0]
    assert list(kept.data) == list(keys)  # key order too: the JSON Lines are the same
    assert kept.to_json() == by_dict.records[0].to_json()
