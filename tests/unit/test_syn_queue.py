"""A listener's SYN queue (RFC 4987 §3.1-3.4): bounded, SYN,ACK retries bounded,
the oldest retransmitted entry recycled under pressure.

Scripted segments into a Stack; time is explicit.
"""

from __future__ import annotations

from tcp_script import (
    US_ADDR,
    Out,
    describe,
    new_stack,
    packet,
    peer_seg,
    stack_segments,
)

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.trace import Trace

IRS = 9_000_000


def syn(sport: int) -> bytes:
    return packet(peer_seg("S", seq=IRS, sport=sport))


def run_timers(stack: Stack, until: float) -> list[tuple[float, str]]:
    """Fire every timer up to ``until`` (seconds); what was sent, as (time, flags)."""
    sent = []
    while (at := stack.next_timer()) is not None and at <= until:
        stack.handle_timer(at)
        sent += [(at, s.flags.letters()) for s in stack_segments(stack, at=at)]
    return sent


def half_open(stack: Stack) -> list[int]:
    return [c.remote.port for c in stack.connections if c.state is State.SYN_RECEIVED]


def test_synack_retries_then_the_entry_goes_silently() -> None:
    trace = Trace()
    stack = Stack(US_ADDR, isn_key=b"k" * 16, name="us", trace=trace)
    stack.listen(80)
    stack.receive(syn(1000), 0.0)
    [syn_ack] = stack_segments(stack, at=0.0)
    [conn] = stack.connections
    # Default 5 retries, RTO 1 s doubling: 1, 3, 7, 15, 31; given up at 63 s (Linux).
    sent = run_timers(stack, 200.0)
    assert sent == [(1.0, "S."), (3.0, "S."), (7.0, "S."), (15.0, "S."), (31.0, "S.")]
    assert conn.state is State.CLOSED and stack.connections == []
    assert stack.stats["synack_retries_exceeded"] == 1
    [gone] = [r for r in trace.records if r.event == "state_updated"
              and r.data["new"] == "CLOSED"]
    assert (gone.time, gone.data["old"], gone.data["cause"]) == (
        63.0, "SYN-RECEIVED", "SYN,ACK retries exceeded")
    assert syn_ack.flags.letters() == "S."


def test_synack_retries_is_configurable() -> None:
    stack = new_stack(config=TcpConfig(synack_retries=2))
    stack.listen(80)
    stack.receive(syn(1000), 0.0)
    stack_segments(stack, at=0.0)
    assert run_timers(stack, 200.0) == [(1.0, "S."), (3.0, "S.")]
    assert stack.connections == [] and stack.stats["synack_retries_exceeded"] == 1


def test_a_peer_that_answers_late_still_completes_before_the_retries_run_out() -> None:
    stack = new_stack()
    stack.listen(80)
    stack.receive(syn(1000), 0.0)
    [syn_ack] = stack_segments(stack, at=0.0)
    run_timers(stack, 40.0)
    stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=syn_ack.seq + 1, sport=1000)), 40.0)
    [conn] = stack.connections
    assert conn.state is State.ESTABLISHED
    assert stack.stats["synack_retries_exceeded"] == 0


def test_full_queue_recycles_the_oldest_retransmitted_entry() -> None:
    """Cookies off, queue of 2: once both entries retransmitted their SYN,ACK, a
    new SYN takes the oldest's place, silently (no RST to its spoofed source)."""
    trace = Trace()
    stack = Stack(US_ADDR, config=TcpConfig(syncookies="off", max_syn_backlog=2),
                  isn_key=b"k" * 16, name="us", trace=trace)
    stack.listen(80)
    stack.receive(syn(1000), 0.0)
    stack_segments(stack, at=0.0)
    stack.receive(syn(1001), 0.1)
    stack_segments(stack, at=0.1)
    oldest: Connection = stack.connections[0]
    # Before any retransmission nothing is recyclable: the SYN is dropped.
    stack.receive(syn(1002), 0.5)
    assert stack_segments(stack, at=0.5) == []
    assert stack.stats["dropped:syn-queue-full"] == 1
    assert run_timers(stack, 1.1) == [(1.0, "S."), (1.1, "S.")]  # one SYN,ACK each
    stack.receive(syn(1003), 1.5)
    segs = stack_segments(stack, at=1.5)
    assert describe(segs, [Out("SA", 0, 1)], (0, IRS)) == [Out("SA", segs[0].seq, 1)]
    assert segs[0].dst_port == 1003
    assert oldest.state is State.CLOSED
    assert half_open(stack) == [1001, 1003]
    assert stack.stats["syn_recycled"] == 1 and stack.stats["syn_queue_overflow"] == 2
    [gone] = [r for r in trace.records if r.event == "state_updated"
              and r.data["new"] == "CLOSED"]
    assert gone.data["cause"] == "recycled for a new SYN"


def test_cookies_come_before_recycling() -> None:
    stack = new_stack(config=TcpConfig(max_syn_backlog=1))
    stack.listen(80)
    stack.receive(syn(1000), 0.0)
    stack_segments(stack, at=0.0)
    run_timers(stack, 1.0)  # the entry is recyclable now
    stack.receive(syn(1001), 1.5)
    [cookie] = stack_segments(stack, at=1.5)
    assert cookie.dst_port == 1001
    assert half_open(stack) == [1000]
    assert (stack.stats["syncookies_sent"], stack.stats["syn_recycled"]) == (1, 0)


def test_backlog_counts_half_open_entries_and_recycles_too() -> None:
    """Half-open plus queued connections are held to the backlog (below the SYN
    queue's bound): a retransmitted entry gives way, a fresh one does not."""
    stack = new_stack()
    stack.listen(80, backlog=1)
    stack.receive(syn(1000), 0.0)
    stack.receive(syn(1001), 0.0)
    assert len(stack_segments(stack, at=0.0)) == 1
    assert stack.stats["dropped:backlog-full"] == 1
    assert stack.stats["backlog_overflow"] == 1
    run_timers(stack, 1.0)
    stack.receive(syn(1002), 1.5)
    assert [s.dst_port for s in stack_segments(stack, at=1.5)] == [1002]
    assert half_open(stack) == [1002]
    assert stack.stats["syn_recycled"] == 1


def test_syn_queue_is_separate_from_the_accept_queue() -> None:
    stack = new_stack(config=TcpConfig(max_syn_backlog=3, syncookies="off"))
    stack.listen(80, backlog=10)
    for port in range(1000, 1005):
        stack.receive(syn(port), 0.0)
    assert half_open(stack) == [1000, 1001, 1002]
    listener = stack.listener(80)
    assert listener is not None
    assert (len(listener.half_open), len(listener.accept_queue)) == (3, 0)
    assert stack.stats["syn_queue_overflow"] == 2


def test_a_burst_of_spoofed_syns_no_longer_blocks_the_listener() -> None:
    """Issue 12: 128 spoofed SYNs used to block a default listener for ~187 s.
    Now the 129th SYN, a real client's, gets a cookie at once and connects."""
    stack = new_stack()
    stack.listen(80)
    for port in range(1000, 1128):
        stack.receive(syn(port), 0.0)
    stack_segments(stack, at=0.0)
    stack.receive(syn(5000), 0.001)
    [cookie] = stack_segments(stack, at=0.001)
    assert cookie.dst_port == 5000
    stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=cookie.seq + 1, sport=5000)), 0.002)
    conn = stack.accept(80)
    assert conn is not None and conn.remote.port == 5000 and conn.state is State.ESTABLISHED
    assert len(half_open(stack)) == 128
