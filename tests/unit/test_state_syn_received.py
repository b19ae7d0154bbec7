"""SYN-RECEIVED: RFC 9293 §3.10.7.4 (and §3.10.4/§3.10.5 user calls).

Conformance lines (reference/conformance-scenarios.md, "SYN-RECEIVED"):

* ACK of our SYN -> ESTABLISHED; unacceptable ACK -> RST <SEQ=SEG.ACK>:
  ``test_ack_of_syn_*``, ``test_unacceptable_ack_*``.
* RST -> LISTEN after a passive open, CLOSED ("refused") after a simultaneous
  open (MUST-11): ``test_rst_passive_*``, ``test_rst_active_*``,
  ``test_stack_old_duplicate_syn_*``.
* SYN-ACK retransmitted on timeout: ``test_syn_ack_retransmitted_*``.
* FIN (with or without data) -> CLOSE-WAIT: ``test_fin_*``.
* close() -> FIN-WAIT-1: ``test_close_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import (
    PEER,
    Out,
    Script,
    describe,
    make_syn_received_passive,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.stack import Stack
from tcpstack.state import State

BOTH = ["syn_received", "syn_received_active"]


@pytest.fixture(params=BOTH)
def either(request: pytest.FixtureRequest) -> Script:
    """SYN-RECEIVED reached by a passive open, then by a simultaneous open."""
    return request.getfixturevalue(request.param)


# ----------------------------------------------------------------------
# ACK
# ----------------------------------------------------------------------


def test_ack_of_syn_establishes(either: Script) -> None:
    s = either
    s.rx("A", seq=1, ack=1, window=2000, at=0.3)
    assert s.state is State.ESTABLISHED
    assert s.app_events() == [ev.Connected()]
    s.expect_nothing(at=0.3)  # a pure ACK is not acknowledged
    c = s.conn
    assert (c.snd_una, c.snd_wnd, c.snd_wl1, c.snd_wl2) == (
        s.iss + 1, 2000, s.irs + 1, s.iss + 1
    )
    assert c.timer("rto") is None


def test_ack_of_syn_with_data_delivers_it(syn_received: Script) -> None:
    s = syn_received
    s.rx("PA", seq=1, ack=1, data=b"GET /", at=0.3)
    assert s.state is State.ESTABLISHED
    assert s.conn.read() == b"GET /"
    assert s.app_events() == [ev.Connected(), ev.DataReceived(5)]


@pytest.mark.parametrize("bad_ack", [0, -1, 2, 5000])
def test_unacceptable_ack_draws_rst(either: Script, bad_ack: int) -> None:
    # §3.10.7.4 fifth, SYN-RECEIVED: "If the segment acknowledgment is not
    # acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>"
    s = either
    s.rx("A", seq=1, ack=bad_ack, at=0.3)
    s.expect([Out("R", seq=bad_ack)], at=0.3)
    assert s.state is State.SYN_RECEIVED
    s.rx("A", seq=1, ack=1, at=0.4)
    assert s.state is State.ESTABLISHED


def test_out_of_window_segment_draws_ack(syn_received: Script) -> None:
    # §3.10.7.4 first: an unacceptable segment draws <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    s = syn_received
    s.rx("A", seq=200_000, ack=1, at=0.3)
    s.expect([Out("A", seq=1, ack=1)], at=0.3)
    assert s.state is State.SYN_RECEIVED


def test_segment_without_ack_is_dropped(syn_received: Script) -> None:
    s = syn_received
    s.rx("P", seq=1, data=b"x", at=0.3)
    s.expect_nothing(at=0.3)
    assert s.state is State.SYN_RECEIVED


# ----------------------------------------------------------------------
# RST (MUST-11)
# ----------------------------------------------------------------------


def test_rst_passive_returns_to_listen(syn_received: Script) -> None:
    s = syn_received
    s.rx("R", seq=1, ack=0, at=0.3)
    assert s.state is State.LISTEN
    assert s.app_events() == [ev.ConnectionReset(refused=False)]
    s.expect_nothing(at=0.3)


def test_rst_passive_with_ack_returns_to_listen(syn_received: Script) -> None:
    syn_received.rx("RA", seq=1, ack=1, at=0.3)
    assert syn_received.state is State.LISTEN


def test_rst_active_closes_refused(syn_received_active: Script) -> None:
    s = syn_received_active
    s.rx("R", seq=1, ack=0, at=0.3)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionReset(refused=True)]
    s.expect_nothing(at=0.3)
    assert s.conn.next_timer() is None


def test_rst_in_window_but_not_exact_draws_challenge_ack(either: Script) -> None:
    # RFC 5961 §3.2.
    s = either
    s.rx("R", seq=100, at=0.3)
    s.expect([Out("A", seq=1, ack=1)], at=0.3)
    assert s.state is State.SYN_RECEIVED


def test_rst_out_of_window_is_dropped(either: Script) -> None:
    s = either
    s.rx("R", seq=1_000_000, at=0.3)
    s.expect_nothing(at=0.3)
    assert s.state is State.SYN_RECEIVED


def test_stack_old_duplicate_syn_then_rst_returns_to_listen() -> None:
    """RFC 9293 Figure 9: an old duplicate SYN, the client's RST, back to LISTEN."""
    stack = Stack("192.0.2.1", isn_key=b"k" * 16)
    stack.listen(80)
    stack.receive(packet(peer_seg("S", seq=90)), 1.0)  # old duplicate
    [conn] = stack.connections
    [syn_ack] = stack_segments(stack, at=1.0)
    assert syn_ack.ack == 91
    # The client has no such connection: <SEQ=SEG.ACK><CTL=RST> answers the SYN-ACK.
    stack.receive(packet(peer_seg("R", seq=91)), 1.1)
    assert conn.state is State.LISTEN
    assert stack_segments(stack, at=1.1) == []
    assert stack.connections == []  # the TCB went back to the listener
    assert stack_events(stack) == []  # the application never saw it
    assert stack.listening(80)
    # The real SYN then opens a connection as usual.
    stack.receive(packet(peer_seg("S", seq=400)), 1.2)
    [conn2] = stack.connections
    assert conn2.state is State.SYN_RECEIVED and conn2.irs == 400


def test_stack_active_syn_received_rst_reports_refused() -> None:
    stack = Stack("192.0.2.1", isn_key=b"k" * 16)
    conn = stack.connect(PEER.address, 80, now=0.0, local_port=5555)
    [syn] = stack_segments(stack, at=0.0)
    stack.receive(packet(peer_seg("S", seq=700, sport=80, dport=5555)), 0.1)
    assert conn.state is State.SYN_RECEIVED
    [syn_ack] = stack_segments(stack, at=0.1)
    assert describe([syn_ack], [Out("SA", 0, 0)], (syn.seq, 700)) == [Out("SA", seq=0, ack=1)]
    stack.receive(packet(peer_seg("R", seq=701, sport=80, dport=5555)), 0.2)
    assert conn.state is State.CLOSED
    assert (conn, ev.ConnectionReset(refused=True)) in stack_events(stack)
    stack_segments(stack, at=0.2)
    assert stack.connections == []


# ----------------------------------------------------------------------
# SYN
# ----------------------------------------------------------------------


def test_retransmitted_syn_is_answered_with_syn_ack(either: Script) -> None:
    # Deliberate choice (as Linux): the peer resending its SYN means our
    # SYN-ACK was lost, so answer with the SYN-ACK again rather than the bare
    # ACK the acceptability test of §3.10.7.4 would give.
    s = either
    s.rx("S", seq=0, ack=0, at=0.5)
    s.expect([Out("SA", seq=0, ack=1, mss=1460)], at=0.5)
    assert s.state is State.SYN_RECEIVED


def test_new_syn_in_window_passive_returns_to_listen(syn_received: Script) -> None:
    # §3.10.7.4 fourth, SYN-RECEIVED: "If the connection was initiated with a
    # passive OPEN, then return this connection to the LISTEN state and return."
    s = syn_received
    s.rx("S", seq=10, ack=0, at=0.5)
    assert s.state is State.LISTEN
    s.expect_nothing(at=0.5)


def test_new_syn_in_window_active_draws_challenge_ack(syn_received_active: Script) -> None:
    # ... "Otherwise, handle per the directions for synchronized states" (RFC 5961 §4).
    s = syn_received_active
    s.rx("S", seq=10, ack=0, at=0.5)
    assert s.state is State.SYN_RECEIVED
    s.expect([Out("A", seq=1, ack=1)], at=0.5)


# ----------------------------------------------------------------------
# Timeout
# ----------------------------------------------------------------------


@pytest.mark.parametrize("fixture", BOTH)
def test_syn_ack_retransmitted_with_backoff(request: pytest.FixtureRequest, fixture: str) -> None:
    s: Script = request.getfixturevalue(fixture)
    # Active: the RTO timer started with our SYN at 0.0 keeps running when
    # the SYN-ACK goes out at 0.1 (RFC 6298 §5.1: start it only if not running).
    t = 1.0
    for backoff in (2.0, 4.0, 8.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("SA", seq=0, ack=1, mss=1460)], at=t)
        assert s.state is State.SYN_RECEIVED
        t += backoff
    # The ACK to a retransmitted SYN-ACK: ESTABLISHED, RTO floor 3 s (RFC 6298 §5.7).
    s.rx("A", seq=1, ack=1, at=t - 1)
    assert s.state is State.ESTABLISHED
    assert s.conn.rto == 3.0


def test_syn_ack_gives_up_after_r2_syn() -> None:
    s = make_syn_received_passive(config=TcpConfig(r2_syn=10.0))
    for t in (1.0, 3.0, 7.0):
        s.fire(t)
        s.expect([Out("SA", seq=0, ack=1)], at=t)
    s.events()
    s.fire(15.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("syn")]
    s.expect_nothing(at=15.0)


# ----------------------------------------------------------------------
# FIN
# ----------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"last words"])
def test_fin_goes_to_close_wait(either: Script, data: bytes) -> None:
    s = either
    s.rx("FA", seq=1, ack=1, data=data, at=0.3)
    assert s.state is State.CLOSE_WAIT
    assert s.conn.read() == data
    assert s.conn.at_eof
    s.expect([Out("A", seq=1, ack=2 + len(data))], at=0.3)
    got = s.app_events()
    assert got[0] == ev.Connected()
    assert got[-1] == ev.PeerClosed()


def test_fin_without_ack_is_dropped(syn_received: Script) -> None:
    s = syn_received
    s.rx("F", seq=1, at=0.3)
    assert s.state is State.SYN_RECEIVED
    s.expect_nothing(at=0.3)


# ----------------------------------------------------------------------
# User calls
# ----------------------------------------------------------------------


def test_close_enters_fin_wait_1_and_sends_fin(either: Script) -> None:
    # §3.10.4 SYN-RECEIVED: "If no SENDs have been issued and there is no
    # pending data to send, then form a FIN segment and send it, and enter
    # FIN-WAIT-1 state".
    s = either
    s.conn.shutdown(now=0.3)
    assert s.state is State.FIN_WAIT_1
    s.expect([Out("FA", seq=1, ack=1)], at=0.3)
    s.rx("A", seq=1, ack=1, at=0.4)  # the handshake's ACK
    assert s.state is State.FIN_WAIT_1
    s.rx("A", seq=1, ack=2, at=0.5)  # the ACK of our FIN
    assert s.state is State.FIN_WAIT_2


def test_close_with_queued_data_sends_data_then_fin(syn_received: Script) -> None:
    s = syn_received
    assert s.conn.send(b"abc", now=0.2) == 3
    s.expect_nothing(at=0.2)  # data waits for the handshake (§3.10.2)
    s.conn.shutdown(now=0.3)
    assert s.state is State.FIN_WAIT_1
    s.rx("A", seq=1, ack=1, at=0.4)
    # The FIN rides on the queued data: SEQ 1..3, FIN at 4.
    s.expect([Out("FPA", seq=1, ack=1, len=3)], at=0.4)
    s.rx("A", seq=1, ack=5, at=0.5)
    assert s.state is State.FIN_WAIT_2


def test_abort_sends_rst_and_closes(either: Script) -> None:
    # §3.10.5: <SEQ=SND.NXT><CTL=RST>
    s = either
    s.conn.abort(now=0.3)
    assert s.state is State.CLOSED
    s.expect([Out("R", seq=1)], at=0.3)
    assert s.app_events() == [ev.ConnectionAborted()]
