"""Half-open connections kept as small records (tcpstack.halfopen; RFC 4987 §3.5).

A queued SYN is a TCB until its SYN,ACK leaves, then a HalfOpen record (on
a lightly loaded listener, ``Listener.light_load``, only once its SYN,ACK has
been retransmitted; most tests set it to 0); the record is rebuilt into the
same TCB for any segment, its retransmission timeout, recycling, or a lookup
by the application. The record path must be
indistinguishable from a TCB kept all along: every scripted run below is made
twice, once with records and once with the TCB pinned by ``Stack.find`` right
after the SYN (which keeps it a TCB, as before records), and the two traces,
counters and TCBs must be equal.

Scripted segments into a Stack; time is explicit.
"""

from __future__ import annotations

import gc
import ipaddress
import tracemalloc
from collections.abc import Callable

import pytest
from tcp_script import IRS, PEER_ADDR, US_ADDR, new_stack, packet, peer_seg, stack_segments
from test_syn_queue import run_timers

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.halfopen import LIGHT_LOAD, MAX_TIMES, HalfOpen, peer_key
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.trace import Trace
from tcpstack.wire import Segment, encode_packet
from tcpstack.wire.ecn import ECT_0, NOT_ECT
from tcpstack.wire.options import Mss, Nop, SackPermitted, Timestamps, WindowScale

SPORT = 5555
SYN_OPTIONS = (Mss(1400), SackPermitted(), Timestamps(100, 0), Nop(), WindowScale(7))


def syn(*, sport: int = SPORT, data: bytes = b"", fin: bool = False) -> bytes:
    return packet(peer_seg("SF" if fin else "S", seq=IRS, sport=sport, data=data,
                           options=SYN_OPTIONS))


def listening(stack: Stack, *, light_load: int = 0, backlog: int = 128) -> Stack:
    """``stack`` listening on port 80, its fresh half-open entries records
    when the SYN queue is longer than ``light_load``."""
    stack.listen(80, backlog=backlog)
    listener = stack.listener(80)
    assert listener is not None
    listener.light_load = light_load
    return stack


def queued_record() -> Stack:
    """A stack listening on port 80 whose SYN queue holds one record (SYN at 0 s)."""
    stack = listening(new_stack())
    stack.receive(syn(), 0.0)
    stack_segments(stack, at=0.0)
    synack_of(stack)
    return stack


def synack_of(stack: Stack, sport: int = SPORT) -> HalfOpen:
    listener = stack.listener(80)
    assert listener is not None
    entry = listener.half_open[peer_key(PEER_ADDR, sport)]
    assert isinstance(entry, HalfOpen)
    return entry


# A step: at a time, after running the timers up to it, what the peer sends
# (built from our ISS), or None for timers only.
Step = tuple[float, Callable[[int], Segment] | None]


def ack(letters: str = "A", *, data: bytes = b"", seq_off: int = 1, tsval: int = 200
        ) -> Callable[[int], Segment]:
    def make(iss: int) -> Segment:
        return peer_seg(letters, seq=IRS + seq_off, ack=iss + 1, sport=SPORT, data=data,
                        options=(Timestamps(tsval, 1),))
    return make


def repeated_syn(iss: int) -> Segment:
    return peer_seg("S", seq=IRS, sport=SPORT, options=SYN_OPTIONS)


SCRIPTS: dict[str, tuple[bytes, list[Step]]] = {
    "final ACK": (syn(), [(0.05, ack())]),
    "two retransmissions, then data": (syn(), [(3.5, ack("PA", data=b"hello"))]),
    "data and FIN on the SYN": (syn(data=b"early", fin=True), [(1.5, ack())]),
    "repeated SYN, then ACK": (syn(), [(2.0, repeated_syn), (2.1, ack())]),
    "RST in window": (syn(), [(1.5, ack("R"))]),
    "FIN after a retransmission": (syn(), [(1.2, ack("FA"))]),
    "bad ACK": (syn(), [(0.5, lambda iss: peer_seg("A", seq=IRS + 1, ack=iss + 9,
                                                   sport=SPORT))]),
    "given up after synack_retries": (syn(), [(40.0, None), (70.0, None)]),
}


def run(script: tuple[bytes, list[Step]], *, pin: bool) -> tuple[Stack, Trace, list[str]]:
    trace = Trace()
    stack = listening(Stack(US_ADDR, isn_key=b"k" * 16, name="us", trace=trace))
    first, steps = script
    stack.receive(first, 0.0)
    if pin:
        assert stack.find(80, PEER_ADDR, SPORT) is not None  # a TCB it stays
    [synack] = stack_segments(stack, at=0.0)
    kinds = []
    for at, make in steps:
        run_timers(stack, at)
        entry = stack.listener(80).half_open.get(peer_key(PEER_ADDR, SPORT))  # type: ignore[union-attr]
        kinds.append(type(entry).__name__)
        if make is not None:
            stack.receive(packet(make(synack.seq)), at)
            stack_segments(stack, at=at)
    run_timers(stack, 80.0)
    return stack, trace, kinds


def tcb_view(conn: Connection | None) -> tuple[object, ...] | None:
    if conn is None:
        return None
    return (conn.state, conn.snd_una, conn.snd_nxt, conn.snd_max, conn.snd_wnd, conn.rcv_nxt,
            conn.rcv_wnd, conn.srtt, conn.rto, conn.cwnd, conn.ssthresh, conn.retransmissions,
            conn.snd_mss, conn.negotiated, conn.ts_recent, conn.next_timer(), dict(conn.stats))


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_record_behaves_as_the_tcb_it_replaces(name: str) -> None:
    kept, kept_trace, kept_kinds = run(SCRIPTS[name], pin=True)
    rec, rec_trace, rec_kinds = run(SCRIPTS[name], pin=False)
    assert set(kept_kinds) <= {"Connection", "NoneType"}
    assert "HalfOpen" in rec_kinds  # the record path was taken
    assert [r.to_dict() for r in rec_trace] == [r.to_dict() for r in kept_trace]
    assert rec.stats == kept.stats
    assert rec.stats.per_connection() == kept.stats.per_connection()
    assert tcb_view(rec.find(80, PEER_ADDR, SPORT)) == tcb_view(kept.find(80, PEER_ADDR, SPORT))
    assert [tcb_view(c) for c in rec.connections] == [tcb_view(c) for c in kept.connections]


def test_the_synack_leaves_then_a_record_holds_the_entry() -> None:
    stack = listening(new_stack())
    stack.receive(syn(), 0.0)
    listener = stack.listener(80)
    assert listener is not None
    assert isinstance(listener.half_open[peer_key(PEER_ADDR, SPORT)], Connection)
    [synack] = stack_segments(stack, at=0.0)
    record = synack_of(stack)
    # RFC 6298 §2.1: the initial RTO is 1 s; the SYN,ACK is ISS, acknowledging IRS + 1.
    assert (record.iss, synack.ack, record.deadline, record.retransmissions) == (
        synack.seq, IRS + 1, 1.0, 0)
    assert record.times == (0.0, 0.0)
    assert record.syn == peer_seg("S", seq=IRS, sport=SPORT, options=SYN_OPTIONS)
    assert stack.next_timer() == 1.0


def test_synack_retransmissions_keep_the_entry_a_record() -> None:
    stack = listening(new_stack())
    stack.receive(syn(), 0.0)
    [first] = stack_segments(stack, at=0.0)
    again = []
    for at, deadline in ((1.0, 3.0), (3.0, 7.0), (7.0, 15.0)):
        # RFC 6298 §5.5: the RTO doubles: 1, 2, 4, 8 s.
        assert stack.next_timer() == at
        stack.handle_timer(at)
        [seg] = stack_segments(stack, at=at)
        again.append(seg)
        record = synack_of(stack)
        assert (record.deadline, record.retransmissions) == (deadline, len(again))
    assert {(s.seq, s.ack, s.flags.letters(), s.mss) for s in again} == {
        (first.seq, first.ack, first.flags.letters(), first.mss)}
    assert synack_of(stack).times == (0.0, 0.0, 1.0, 1.0, 3.0, 3.0, 7.0, 7.0)


def test_the_final_ack_rebuilds_the_tcb_with_its_history() -> None:
    stack = listening(new_stack())
    stack.receive(syn(), 0.0)
    [synack] = stack_segments(stack, at=0.0)
    run_timers(stack, 1.0)  # one retransmission
    stack.receive(packet(ack()(synack.seq)), 1.25)
    conn = stack.find(80, PEER_ADDR, SPORT)
    assert conn is not None and conn.state is State.ESTABLISHED
    assert conn.stats["rto_timeouts"] == 1  # counted on the TCB, kept by the record
    # Karn: no RTT sample from a retransmitted SYN,ACK; RFC 6298 §5.7: RTO >= 3 s after.
    assert conn.srtt is None and conn.rto == 3.0
    assert stack.accept(80) is conn
    assert stack.listener(80).half_open == {}  # type: ignore[union-attr]


def test_find_and_connections_give_a_tcb_that_stays_one() -> None:
    stack = queued_record()
    [conn] = stack.connections
    assert conn.state is State.SYN_RECEIVED and conn.retransmissions == 0
    assert stack.find(80, PEER_ADDR, SPORT) is conn
    run_timers(stack, 3.0)
    assert stack.listener(80).half_open == {peer_key(PEER_ADDR, SPORT): conn}  # type: ignore[union-attr]
    assert conn.retransmissions == 2


def test_a_retransmitted_record_is_recycled_for_a_new_syn() -> None:
    stack = listening(new_stack(config=TcpConfig(max_syn_backlog=1, syncookies="off")))
    stack.receive(syn(), 0.0)
    stack_segments(stack, at=0.0)
    run_timers(stack, 1.0)
    assert synack_of(stack).retransmissions == 1
    stack.receive(syn(sport=SPORT + 1), 1.5)
    stack_segments(stack, at=1.5)
    listener = stack.listener(80)
    assert listener is not None
    assert list(listener.half_open) == [peer_key(PEER_ADDR, SPORT + 1)]
    assert stack.stats["syn_recycled"] == 1
    assert [c.remote.port for c in stack.connections] == [SPORT + 1]


def test_the_completing_ack_to_a_full_accept_queue_leaves_the_record() -> None:
    stack = listening(new_stack(config=TcpConfig(max_syn_backlog=1)), backlog=2)
    for sport in (SPORT, SPORT + 1, SPORT + 2):  # a record, then two cookies
        stack.receive(syn(sport=sport), 0.0)
    synacks = {s.dst_port: s for s in stack_segments(stack, at=0.0)}
    for sport in (SPORT + 1, SPORT + 2):
        stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=synacks[sport].seq + 1,
                                      sport=sport, options=(Timestamps(200, 1),))), 0.1)
    assert stack.stats["syncookies_validated"] == 2
    final = packet(ack()(synacks[SPORT].seq))
    stack.receive(final, 0.2)  # the accept queue is full: dropped (Linux tcp_check_req)
    assert stack.stats["dropped:backlog-full"] == 1
    assert synack_of(stack).retransmissions == 0  # still a record
    assert stack.accept(80) is not None
    stack.receive(final, 0.3)
    conn = stack.find(80, PEER_ADDR, SPORT)
    assert conn is not None and conn.state is State.ESTABLISHED


def test_unlisten_keeps_the_half_open_entries_as_tcbs() -> None:
    stack = queued_record()
    stack.unlisten(80)
    conn = stack.find(80, PEER_ADDR, SPORT)
    assert conn is not None and conn.state is State.SYN_RECEIVED
    assert run_timers(stack, 1.0) == [(1.0, "S.")]


def test_a_half_open_entry_costs_a_few_hundred_bytes() -> None:
    # 1,000 queued SYNs (from 10 addresses, so that the stack's per-peer caches
    # do not count), each answered: memory per entry, by tracemalloc (memory is
    # deterministic; a TCB costs about 2,500 bytes here).
    n, addresses = 1000, 10
    stack = listening(Stack(US_ADDR, config=TcpConfig(max_syn_backlog=n), isn_key=b"k" * 16),
                      backlog=n + 1)
    base = int(ipaddress.IPv4Address("198.51.100.1"))
    packets = [packet(peer_seg("S", seq=IRS, sport=1024 + i // addresses, options=SYN_OPTIONS),
                      src=ipaddress.IPv4Address(base + i % addresses)) for i in range(n)]
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i, p in enumerate(packets):
            stack.receive(p, i * 1e-3)
            stack.packets_to_send(i * 1e-3)
        gc.collect()
        per_entry = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        if not started:
            tracemalloc.stop()
    listener = stack.listener(80)
    assert listener is not None and len(listener.half_open) == n
    assert all(isinstance(e, HalfOpen) for e in listener.half_open.values())
    assert 200 < per_entry < 450


def test_an_ipv6_record_rebuilds_its_peer() -> None:
    us, peer = ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("2001:db8::2")
    stack = listening(Stack(us, isn_key=b"k" * 16, name="us"))
    stack.receive(packet(peer_seg("S", seq=IRS, sport=SPORT, options=SYN_OPTIONS),
                         src=peer, dst=us), 0.0)
    [synack] = stack_segments(stack, at=0.0)
    listener = stack.listener(80)
    assert listener is not None
    assert isinstance(listener.half_open[peer_key(peer, SPORT)], HalfOpen)
    stack.receive(packet(ack()(synack.seq), src=peer, dst=us), 0.1)
    conn = stack.accept(80)
    assert conn is not None and conn.state is State.ESTABLISHED
    # The peer's MSS (1400) is below the MTU's: it is the send MSS (RFC 9293 §3.7.1).
    assert (conn.remote.address, conn.remote.port, conn.snd_mss) == (peer, SPORT, 1400)


def test_a_lightly_loaded_listener_keeps_fresh_entries_whole() -> None:
    stack = new_stack()
    stack.listen(80)
    listener = stack.listener(80)
    assert listener is not None and listener.light_load == LIGHT_LOAD == 128
    stack.receive(syn(), 0.0)
    stack_segments(stack, at=0.0)
    key = peer_key(PEER_ADDR, SPORT)
    assert isinstance(listener.half_open[key], Connection)  # no rebuild when answered
    assert run_timers(stack, 1.0) == [(1.0, "S.")]
    record = synack_of(stack)  # unanswered within the initial RTO: a record
    assert (record.retransmissions, record.deadline) == (1, 3.0)
    # A longer SYN queue: a fresh entry is a record once its SYN,ACK has left.
    listener.light_load = 1
    stack.receive(syn(sport=SPORT + 1), 1.5)
    stack_segments(stack, at=1.5)
    assert synack_of(stack, SPORT + 1).retransmissions == 0


def test_more_retransmissions_than_a_record_keeps_leave_a_tcb() -> None:
    # MAX_TIMES = 255 input times at most: the SYN, its SYN,ACK, then 126 pairs
    # (timeout, SYN,ACK); the 127th retransmission leaves a TCB.
    stack = listening(new_stack(config=TcpConfig(synack_retries=130, r2_syn=None)))
    stack.receive(syn(), 0.0)
    stack_segments(stack, at=0.0)
    listener = stack.listener(80)
    assert listener is not None
    key = peer_key(PEER_ADDR, SPORT)
    for _ in range(126):
        at = stack.next_timer()
        assert at is not None
        stack.handle_timer(at)
        stack_segments(stack, at=at)
    assert synack_of(stack).retransmissions == 126 and len(synack_of(stack).times) == MAX_TIMES - 1
    at = stack.next_timer()
    assert at is not None
    stack.handle_timer(at)
    stack_segments(stack, at=at)
    entry = listener.half_open[key]
    assert isinstance(entry, Connection) and entry.retransmissions == 127


def ecn_run(*, pin: bool, tos: int) -> tuple[Stack, Trace]:
    """An ECN-setup SYN (ECE+CWR, RFC 3168 §6.1.1) sent in an IP packet with TOS
    ``tos`` to a listener that accepts ECN (``ecn="passive"``); the final ACK
    comes after one SYN,ACK retransmission, so the entry was a record meanwhile."""
    trace = Trace()
    stack = listening(Stack(US_ADDR, config=TcpConfig(ecn="passive"), isn_key=b"k" * 16,
                            name="us", trace=trace))
    seg = peer_seg("SEC", seq=IRS, sport=SPORT, options=SYN_OPTIONS)
    stack.receive(encode_packet(PEER_ADDR, US_ADDR, seg, tos=tos), 0.0)
    if pin:
        assert stack.find(80, PEER_ADDR, SPORT) is not None
    [synack] = stack_segments(stack, at=0.0)
    run_timers(stack, 1.5)
    if not pin:
        assert isinstance(stack.listener(80).half_open.get(  # type: ignore[union-attr]
            peer_key(PEER_ADDR, SPORT)), HalfOpen)
    stack.receive(packet(ack()(synack.seq)), 1.5)
    stack_segments(stack, at=1.5)
    return stack, trace


@pytest.mark.parametrize(("tos", "agreed"), [(NOT_ECT, True), (ECT_0, False)])
def test_an_ecn_setup_syn_is_negotiated_alike_through_a_record(tos: int, agreed: bool) -> None:
    """A Not-ECT ECN-setup SYN is accepted, one marked ECT refused (as Linux), and
    the record keeps the SYN's IP codepoint: the same outcome and trace either way."""
    kept, kept_trace = ecn_run(pin=True, tos=tos)
    rec, rec_trace = ecn_run(pin=False, tos=tos)
    assert [r.to_dict() for r in rec_trace] == [r.to_dict() for r in kept_trace]
    conns = [rec.find(80, PEER_ADDR, SPORT), kept.find(80, PEER_ADDR, SPORT)]
    assert all(c is not None and c.state is State.ESTABLISHED for c in conns)
    assert [c.negotiated.ecn for c in conns if c is not None] == [agreed, agreed]
