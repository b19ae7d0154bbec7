"""TIME-WAIT: RFC 9293 §3.6.1, §3.10.7.4, §3.10.8; RFC 1337; MAY-2 via a Stack.

Conformance lines (reference/conformance-scenarios.md, "TIME-WAIT"):

* Lasts 2 x MSL (MSL configurable, RFC value 120 s): ``test_lasts_2msl*``.
* Retransmitted FIN -> ACK again, 2MSL timer restarted:
  ``test_retransmitted_fin_*``.
* Timer expires -> CLOSED, TCB deleted: ``test_expiry_*``.
* RST -> CLOSED (RFC 9293, ``rfc1337=False``) or ignored (RFC 1337, the default):
  ``test_rst_*``.
* New SYN with a higher ISN may reopen the connection (MAY-2):
  ``test_stack_new_syn_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import (
    PEER_ADDR,
    Out,
    Script,
    describe,
    make_time_wait,
    new_stack,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.stack import Stack
from tcpstack.state import State

# ----------------------------------------------------------------------
# The 2 MSL timer
# ----------------------------------------------------------------------


def test_lasts_2msl_default(time_wait: Script) -> None:
    assert time_wait.conn.config.msl == 120.0
    assert time_wait.conn.timer("time_wait") == pytest.approx(1.2 + 240.0)  # MUST-13
    assert time_wait.conn.next_timer() == time_wait.conn.timer("time_wait")


def test_lasts_2msl_custom_msl_and_expires_to_closed() -> None:
    s = make_time_wait(config=TcpConfig(msl=5.0))
    assert s.conn.timer("time_wait") == pytest.approx(11.2)
    s.fire(11.19)
    assert s.state is State.TIME_WAIT
    s.expect_nothing(at=11.19)
    s.fire(11.2)
    assert s.state is State.CLOSED
    assert s.events() == [
        ev.StateChanged(State.TIME_WAIT, State.CLOSED),
        ev.ConnectionClosed(),
    ]
    s.expect_nothing(at=11.2)
    assert s.conn.next_timer() is None


def test_expiry_deletes_tcb_in_stack() -> None:
    stack, conn, irs, iss = stack_time_wait(msl=1.0)
    assert stack.connections == [conn]
    assert stack.next_timer() == pytest.approx(10.0 + 2.0)
    stack.handle_timer(12.0)
    assert conn.state is State.CLOSED
    assert stack_segments(stack, at=12.0) == []
    assert stack.connections == []  # TCB deleted
    assert (conn, ev.ConnectionClosed()) in stack_events(stack)
    # With no TCB and no listener, a late segment now draws a RST (§3.10.7.1).
    stack.unlisten(80)
    stack.receive(packet(peer_seg("FA", seq=irs + 1, ack=iss + 2, sport=5555)), 13.0)
    [rst] = stack_segments(stack, at=13.0)
    assert describe([rst], [Out("R", 0)], (0, 0)) == [Out("R", seq=iss + 2)]


# ----------------------------------------------------------------------
# Retransmitted FIN
# ----------------------------------------------------------------------


@pytest.mark.parametrize("letters", ["FA", "F"])
def test_retransmitted_fin_is_acked_and_timer_restarted(time_wait: Script, letters: str) -> None:
    # §3.10.7.4 TIME-WAIT: "The only thing that can arrive in this state is a
    # retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL
    # timeout."
    s = time_wait
    s.rx(letters, seq=1, ack=2, at=100.0)
    s.expect([Out("A", seq=2, ack=2)], at=100.0)
    assert s.state is State.TIME_WAIT
    assert s.conn.timer("time_wait") == pytest.approx(100.0 + 240.0)
    assert s.app_events() == []  # PeerClosed is not repeated
    s.fire(241.2)  # the old deadline no longer ends it
    assert s.state is State.TIME_WAIT
    s.fire(340.0)
    assert s.state is State.CLOSED


def test_pure_ack_is_ignored(time_wait: Script) -> None:
    s = time_wait
    s.rx("A", seq=2, ack=2, at=50.0)
    s.expect_nothing(at=50.0)
    assert s.conn.timer("time_wait") == pytest.approx(241.2)


def test_syn_draws_challenge_ack_on_a_bare_connection(time_wait: Script) -> None:
    s = time_wait
    s.rx("S", seq=2, at=50.0)
    s.expect([Out("A", seq=2, ack=2)], at=50.0)
    assert s.state is State.TIME_WAIT


# ----------------------------------------------------------------------
# RST: RFC 9293 vs RFC 1337
# ----------------------------------------------------------------------


def test_rst_closes_without_rfc1337() -> None:
    s = make_time_wait(config=TcpConfig(rfc1337=False))  # RFC 9293 alone (RFC 1337 off)
    s.rx("R", seq=2, at=50.0)
    assert s.state is State.CLOSED
    s.expect_nothing(at=50.0)
    assert s.conn.next_timer() is None
    # Both directions were already closed and acknowledged: reported as an
    # ordinary end of the connection, not as a reset.
    assert s.app_events() == [ev.ConnectionClosed()]


def test_rst_ignored_with_rfc1337() -> None:
    s = make_time_wait(config=TcpConfig(rfc1337=True))
    s.rx("R", seq=2, at=50.0)
    s.rx("RA", seq=2, ack=2, at=51.0)
    assert s.state is State.TIME_WAIT
    s.expect_nothing(at=51.0)
    assert s.conn.timer("time_wait") == pytest.approx(241.2)
    assert s.app_events() == []
    s.fire(241.2)
    assert s.state is State.CLOSED


def test_rst_out_of_window_is_dropped(time_wait: Script) -> None:
    s = time_wait
    s.rx("R", seq=1_000_000, at=50.0)
    s.expect_nothing(at=50.0)
    assert s.state is State.TIME_WAIT


def test_rst_in_window_not_exact_draws_challenge_ack(time_wait: Script) -> None:
    s = time_wait
    s.rx("R", seq=77, at=50.0)
    s.expect([Out("A", seq=2, ack=2)], at=50.0)
    assert s.state is State.TIME_WAIT


def test_abort_sends_nothing(time_wait: Script) -> None:
    s = time_wait
    s.conn.abort(now=50.0)
    assert s.state is State.CLOSED
    s.expect_nothing(at=50.0)


# ----------------------------------------------------------------------
# MAY-2: a new SYN reopens (through the Stack)
# ----------------------------------------------------------------------


def stack_time_wait(*, msl: float = 120.0) -> tuple[Stack, Connection, int, int]:
    """A server Stack whose accepted connection closed first and sits in TIME-WAIT.

    Timeline: SYN at 1.0, ACK at 1.1, server shutdown at 2.0, peer ACK at
    2.1, peer FIN at 10.0 (-> TIME-WAIT). Returns ``(stack, conn, irs, iss)``.
    """
    stack = new_stack(config=TcpConfig(msl=msl))
    stack.listen(80)
    irs = 5_000
    stack.receive(packet(peer_seg("S", seq=irs, sport=5555)), 1.0)
    [syn_ack] = stack_segments(stack, at=1.0)
    iss = syn_ack.seq
    stack.receive(packet(peer_seg("A", seq=irs + 1, ack=iss + 1, sport=5555)), 1.1)
    conn = stack.accept(80)
    assert conn is not None and conn.state is State.ESTABLISHED
    conn.shutdown(now=2.0)
    [fin] = stack_segments(stack, at=2.0)
    assert describe([fin], [Out("FA", 0, 0)], (iss, irs)) == [Out("FA", seq=1, ack=1)]
    stack.receive(packet(peer_seg("A", seq=irs + 1, ack=iss + 2, sport=5555)), 2.1)
    stack.receive(packet(peer_seg("FA", seq=irs + 1, ack=iss + 2, sport=5555)), 10.0)
    assert conn.state is State.TIME_WAIT
    [ack] = stack_segments(stack, at=10.0)
    assert describe([ack], [Out("A", 0, 0)], (iss, irs)) == [Out("A", seq=2, ack=2)]
    stack_events(stack)
    return stack, conn, irs, iss


def test_stack_new_syn_with_higher_isn_reopens() -> None:
    stack, old, irs, _ = stack_time_wait()
    new_irs = irs + 100_000
    stack.receive(packet(peer_seg("S", seq=new_irs, sport=5555)), 20.0)
    assert old.state is State.CLOSED
    [new] = stack.connections
    assert new is not old
    assert new.state is State.SYN_RECEIVED
    assert new.irs == new_irs
    [syn_ack] = stack_segments(stack, at=20.0)
    assert describe([syn_ack], [Out("SA", 0, 0)], (new.iss, new_irs)) == [
        Out("SA", seq=0, ack=1)
    ]
    # The old connection ended cleanly (its application sees no reset).
    assert (old, ev.ConnectionClosed()) in stack_events(stack)
    stack.receive(packet(peer_seg("A", seq=new_irs + 1, ack=new.iss + 1, sport=5555)), 20.1)
    assert new.state is State.ESTABLISHED
    assert stack.accept(80) is new


def test_stack_new_syn_with_lower_isn_does_not_reopen() -> None:
    stack, old, irs, iss = stack_time_wait()
    stack.receive(packet(peer_seg("S", seq=irs - 10, sport=5555)), 20.0)
    assert old.state is State.TIME_WAIT
    assert stack.connections == [old]
    [ack] = stack_segments(stack, at=20.0)  # unacceptable: ACK <SEQ=SND.NXT><ACK=RCV.NXT>
    assert describe([ack], [Out("A", 0, 0)], (iss, irs)) == [Out("A", seq=2, ack=2)]


def test_stack_new_syn_without_listener_does_not_reopen() -> None:
    stack, old, irs, _ = stack_time_wait()
    stack.unlisten(80)
    stack.receive(packet(peer_seg("S", seq=irs + 100_000, sport=5555)), 20.0)
    assert old.state is State.TIME_WAIT
    assert stack.connections == [old]
    assert all(not seg.has(seg.flags.SYN) for seg in stack_segments(stack, at=20.0))


def test_stack_syn_from_another_peer_port_is_independent() -> None:
    stack, old, _irs, _ = stack_time_wait()
    stack.receive(packet(peer_seg("S", seq=1, sport=6666)), 20.0)
    assert old.state is State.TIME_WAIT
    assert len(stack.connections) == 2
    assert stack.find(80, PEER_ADDR, 6666).state is State.SYN_RECEIVED
