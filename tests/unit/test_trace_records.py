"""The cheaper emitters give the records the dict-per-record ones gave.

Timer records (``Tcb._trace_timer``), the ``app`` records of n bytes and of a
delivery, and ``metrics_updated`` go through ``Trace.emit_tagged`` under keys
registered once (``fields_tag``); ``packets_to_send`` keeps its segments with
one ``Trace.emit_segments`` call. These tests pin each against what it
replaced: the same records, key order, JSON Lines and sink calls.
"""

from __future__ import annotations

from typing import Any

import pytest
from tcp_script import ISS, PEER, US

from tcpstack.connection import Connection
from tcpstack.timers import Timer, Timers
from tcpstack.trace import Trace, TraceRecord, fields_tag, segment_record
from tcpstack.wire import Flags, Segment
from tcpstack.wire.options import NOP, Mss, Timestamps


def traced(*, sink: list[TraceRecord] | None = None) -> tuple[Connection, Trace]:
    trace = Trace()
    if sink is not None:
        trace.add_sink(sink.append)
    return Connection(US, PEER, iss=ISS, trace=trace, host="us"), trace


def as_dicts(records: list[TraceRecord]) -> list[tuple[Any, ...]]:
    return [(r.time, r.host, r.conn, r.event, r.data, list(r.data), r.to_json())
            for r in records]


@pytest.mark.parametrize("at", [1.0, 0.1 + 0.2, 3.000000000499, 12345.678901234567])
def test_timer_records_are_the_dicts_they_were(at: float) -> None:
    seen: list[TraceRecord] = []
    conn, trace = traced(sink=seen)
    timers = Timers(conn)
    timers.arm(Timer.RTO, at)
    timers.arm(Timer.PACING, at)  # never traced
    timers.arm(Timer.DELAYED_ACK, at + 1)
    timers.cancel(Timer.DELAYED_ACK)
    assert list(timers.due(at)) == [Timer.RTO, Timer.PACING]
    timers.arm(Timer.KEEPALIVE, at + 2)
    timers.cancel_all()
    expected = Trace()
    for event, data in [("timer_set", {"timer": "rto", "at": round(at, 9)}),
                        ("timer_set", {"timer": "delayed_ack", "at": round(at + 1, 9)}),
                        ("timer_cancelled", {"timer": "delayed_ack"}),
                        ("timer_fired", {"timer": "rto"}),
                        ("timer_set", {"timer": "keepalive", "at": round(at + 2, 9)}),
                        ("timer_cancelled", {"timer": "keepalive"})]:
        expected.emit(0.0, "us", conn.name, event, data)
    assert as_dicts(trace.records) == as_dicts(expected.records) == as_dicts(seen)


def test_untraced_timers_build_no_record_and_no_name() -> None:
    conn = Connection(US, PEER, iss=ISS, trace=Trace(keep=False), host="us")
    timers = Timers(conn)
    timers.arm(Timer.RTO, 1.0)
    timers.arm(Timer.TLP, 0.5)
    assert list(timers.due(2.0)) == [Timer.TLP, Timer.RTO]
    timers.arm(Timer.RTO, 3.0)
    timers.cancel(Timer.RTO)
    assert conn._name is None  # the record's name was never made


def test_app_and_delivered_records_are_the_dicts_they_were() -> None:
    seen: list[TraceRecord] = []
    conn, trace = traced(sink=seen)
    conn._app("read", bytes=1448)
    conn._app("send", bytes=3, urgent=True)  # the general case
    conn._app("close")
    conn._trace_delivered(2896)
    expected = Trace()
    for data in [{"call": "read", "bytes": 1448}, {"call": "send", "bytes": 3, "urgent": True},
                 {"call": "close"}, {"delivered": 2896}]:
        expected.emit(0.0, "us", conn.name, "app", data)
    assert as_dicts(trace.records) == as_dicts(expected.records) == as_dicts(seen)


def test_fields_tag_is_one_per_key_tuple_and_emit_tagged_is_emit_fields() -> None:
    keys = ("x_tagged", "y_tagged")
    tag = fields_tag(keys)
    assert fields_tag(keys) == tag
    assert fields_tag(tuple(["x_tagged", "y_tagged"])) == tag  # equal, made anew
    assert fields_tag(("y_tagged", "x_tagged")) != tag
    seen: list[TraceRecord] = []
    by_tag, by_fields = Trace(), Trace()
    by_tag.add_sink(seen.append)
    by_tag.emit_tagged(1.5, "h", "c", "metrics_updated", tag, (7, None))
    by_fields.emit_fields(1.5, "h", "c", "metrics_updated", keys, (7, None))
    assert len(by_tag) == 1
    assert as_dicts(by_tag.records) == as_dicts(by_fields.records) == as_dicts(seen)
    assert not [x for x in by_tag._compact if isinstance(x, tuple | list | dict)]
    quiet = Trace(keep=False)
    quiet.emit_tagged(1.5, "h", "c", "metrics_updated", tag, (7, None))
    assert quiet.records == []


SEGMENTS = [
    Segment(1, 2, 100, 200, Flags.ACK, 65535, 0, (NOP, NOP, Timestamps(5, 6)), b"abc"),
    Segment(1, 2, 103, 200, Flags.ACK | Flags.PSH, 1000, 0, (), b"de"),
    Segment(1, 2, 105, 200, Flags.SYN, 1000, 0, (Mss(1460),), b"", ecn=2),
]


@pytest.mark.parametrize("with_sink", [False, True])
def test_emit_segments_is_emit_segment_of_each(with_sink: bool) -> None:
    many, each = Trace(), Trace()
    seen_many: list[list[TraceRecord]] = []
    seen_each: list[list[TraceRecord]] = []
    if with_sink:
        # A sink that reads the kept records sees, at each record, what it saw.
        many.add_sink(lambda rec: seen_many.append(list(many.records)))
        each.add_sink(lambda rec: seen_each.append(list(each.records)))
    many.emit_segments(2.0, "h", "c", "segment_sent", SEGMENTS)
    for seg in SEGMENTS:
        each.emit_segment(2.0, "h", "c", "segment_sent", seg)
    assert as_dicts(many.records) == as_dicts(each.records)
    assert [r.data for r in many.records] == [segment_record(s) for s in SEGMENTS]
    assert [as_dicts(x) for x in seen_many] == [as_dicts(x) for x in seen_each]
    assert len(seen_many) == (len(SEGMENTS) if with_sink else 0)


def test_rounded_values_are_rounded_when_read_and_forwarded() -> None:
    tag = fields_tag(("name_r", "at_r"), rounded=("at_r",))
    assert tag != fields_tag(("name_r", "at_r"))  # the same keys unrounded: another kind
    assert fields_tag(("name_r", "at_r"), rounded=("at_r",)) == tag
    seen: list[TraceRecord] = []
    trace = Trace()
    trace.add_sink(seen.append)
    trace.emit_tagged(0.0, "h", "c", "timer_set", tag, ("rto", 0.1 + 0.2))
    trace.emit_tagged(0.0, "h", "c", "timer_set", tag, ("rto", 7))
    assert 0.1 + 0.2 in trace._compact  # kept as given
    assert [r.data for r in trace.records] == [r.data for r in seen] == [
        {"name_r": "rto", "at_r": 0.3}, {"name_r": "rto", "at_r": 7}]
    assert type(trace.records[1].data["at_r"]) is int  # round(7, 9) is 7, an int
    with pytest.raises(ValueError):
        fields_tag(("name_r",), rounded=("at_r",))


def test_kinds_registered_by_threads_at_once_keep_their_keys() -> None:
    import threading

    kinds = [[(f"thread{t}_key{i}",) for i in range(200)] for t in range(4)]
    tags: list[list[int]] = [[] for _ in kinds]

    def register(t: int) -> None:
        tags[t] = [fields_tag(keys) for keys in kinds[t]]

    threads = [threading.Thread(target=register, args=(t,)) for t in range(len(kinds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trace = Trace()
    for t, keys_of in enumerate(kinds):
        for keys, tag in zip(keys_of, tags[t], strict=True):
            trace.emit_tagged(0.0, "h", "c", "app", tag, (t,))
            assert fields_tag(keys) == tag
    assert [list(r.data.items()) for r in trace.records] == [
        [(keys[0], t)] for t, keys_of in enumerate(kinds) for keys in keys_of]
