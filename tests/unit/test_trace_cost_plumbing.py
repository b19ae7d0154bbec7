"""The cheaper tracing plumbing gives the records the plain one gave.

``Trace.active`` is an attribute rather than a property, ``Tcb._tcb_values``
does the arithmetic of ``seq_diff``, ``ReceiveBuffer.rcv_wnd`` and
``LossRecovery.phase_name`` itself, and the connection's name is read from
its slot: these tests pin each against what it replaced, on values chosen to
reach the wrap of the sequence space and every recovery phase.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tcp_script import ISS, PEER, US, make_established, make_syn_sent

from tcpstack.config import TcpConfig
from tcpstack.congestion import ALGORITHMS
from tcpstack.connection import Connection
from tcpstack.drivers.sim import Network
from tcpstack.harness.speed import BULK_PORT, Collector, SendClient, payload
from tcpstack.recovery import Phase
from tcpstack.tcb import TRACED_TCB
from tcpstack.trace import Trace

SEQ_MOD = 1 << 32


def public_values(conn: Connection) -> tuple[Any, ...]:
    """What ``metrics_updated`` carries, read through the public view (properties)."""
    rec = conn.recovery
    latest = rec.ext.rate.latest if rec.ext is not None and rec.ext.rate is not None else None
    return (conn.cwnd, conn.ssthresh, conn.srtt, conn.rto, conn.snd_wnd, conn.snd_una,
            conn.snd_nxt, conn.rcv_nxt, conn.rcv_wnd, conn.in_flight, rec.cc.pacing_rate,
            latest.delivery_rate if latest is not None else None, rec.phase_name,
            rec.cc.name)


def test_active_follows_keep_and_sinks() -> None:
    assert Trace().active is True
    quiet = Trace(keep=False)
    assert quiet.active is False
    quiet.add_sink(lambda rec: None)
    assert quiet.active is True


def test_a_subclass_may_still_make_active_a_property() -> None:
    class Always(Trace):
        @property
        def active(self) -> bool:
            return True

    assert Always(keep=False).active is True


@given(una=st.integers(0, SEQ_MOD - 1), flight=st.integers(-(1 << 31), (1 << 31) - 1),
       rcv_nxt=st.integers(0, SEQ_MOD - 1), adv=st.integers(-(1 << 31), (1 << 31) - 1),
       phase=st.sampled_from(list(Phase)), cwnd=st.integers(1, 1 << 20),
       ssthresh=st.integers(1, 1 << 20), algorithm=st.sampled_from(sorted(ALGORITHMS)))
def test_tcb_values_equal_the_public_view(una: int, flight: int, rcv_nxt: int, adv: int,
                                          phase: Phase, cwnd: int, ssthresh: int,
                                          algorithm: str) -> None:
    conn = make_established(config=TcpConfig(congestion_control=algorithm)).conn
    conn._snd_una = una
    conn._snd_max = (una + flight) % SEQ_MOD  # SND.MAX before SND.UNA too: a negative flight
    rcv = conn._rcvbuf
    assert rcv is not None
    rcv.rcv_nxt = rcv_nxt
    rcv.rcv_adv = (rcv_nxt + adv) % SEQ_MOD  # and a window edge behind RCV.NXT: RCV.WND 0
    conn._recovery.phase = phase
    conn._recovery.cc.cwnd = cwnd
    conn._recovery.cc.ssthresh = ssthresh
    assert conn._tcb_values() == public_values(conn)


def test_tcb_values_before_the_receive_buffer_exists() -> None:
    conn = make_syn_sent().conn
    assert conn._rcvbuf is None
    assert conn._tcb_values() == public_values(conn)


def test_every_record_of_a_connection_carries_its_name_and_host() -> None:
    trace = Trace()
    conn = Connection(US, PEER, iss=ISS, trace=trace, host="us")
    conn.open_active(0.0)  # its first record is made before anything asked for its name
    conn.packets_to_send(0.0)
    conn.handle_timer(5.0)  # the SYN's retransmission: timer and metrics records
    conn.packets_to_send(5.0)
    records = trace.records
    assert {r.event for r in records} >= {"app", "state_updated", "timer_set", "timer_fired",
                                          "segment_sent", "metrics_updated"}
    assert {(r.host, r.conn) for r in records} == {("us", f"{US}-{PEER}")}
    metrics = [r for r in records if r.event == "metrics_updated"]
    assert list(metrics[-1].data) == list(TRACED_TCB)
    assert tuple(metrics[-1].data.values()) == public_values(conn)


def test_a_kept_bulk_trace_keeps_no_container_per_record() -> None:
    # What the collector counts as allocations until its next pass: dicts,
    # lists and tuples. Only the shared keys of metrics_updated and the
    # options of the few segments with more than a timestamp are there.
    net = Network(seed=3, trace=Trace(), keep_packets=False)
    client = net.add_host("client", "192.0.2.1", app=SendClient(payload(200_000, 3)))
    server = net.add_host("server", "192.0.2.2", app=Collector())
    net.link(client, server, delay=0.005)
    server.stack.listen(BULK_PORT)
    net.at(net.now, lambda: client.stack.connect(server.address, BULK_PORT, now=net.now))
    net.run()
    kept = net.trace._compact
    containers = [x for x in kept if type(x) in (dict, list, tuple) and x is not TRACED_TCB]
    assert len(net.trace) > 1_000
    assert len(containers) < 10
    events = {r.event for r in net.trace.records}
    assert {"segment_sent", "segment_received", "metrics_updated", "timer_set", "app"} <= events


def test_len_counts_records_of_every_kind_before_and_after_reading() -> None:
    trace = Trace()
    conn = make_established().conn
    conn.send(b"x" * 3000, now=0.2)
    seg = conn.packets_to_send(0.2)
    assert seg
    trace.emit(0.0, "h", "c", "app", {})
    trace.emit(0.1, "h", "c", "app", {"call": "send", "bytes": 3})
    trace.emit(0.2, "h", "c", "segment_dropped", {"reason": "x", "flags": ["ACK"]})
    trace.emit_fields(0.3, "h", "c", "metrics_updated", ("a", "b"), (1, None))
    for s in seg:
        trace.emit_segment(0.4, "h", "c", "segment_sent", s)
    assert len(trace) == 4 + len(seg)
    records = trace.records
    assert [r.data for r in records[:4]] == [
        {}, {"call": "send", "bytes": 3}, {"reason": "x", "flags": ["ACK"]}, {"a": 1, "b": None}]
    trace.emit(0.5, "h", "c", "app", {"delivered": 1})
    assert len(trace) == len(records) + 1 == 5 + len(seg)
