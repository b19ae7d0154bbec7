"""CLOSING: simultaneous close (RFC 9293 §3.10.7.4 fifth step, Figure 13).

Conformance lines (reference/conformance-scenarios.md, "CLOSING"):

* ACK of our FIN -> TIME-WAIT: ``test_ack_of_fin_goes_to_time_wait``.
* Anything else -> ignored: ``test_*_is_ignored``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script

from tcpstack import events as ev
from tcpstack.state import State


def test_ack_of_fin_goes_to_time_wait(closing: Script) -> None:
    s = closing
    s.rx("A", seq=2, ack=2, at=1.2)
    assert s.state is State.TIME_WAIT
    s.expect_nothing(at=1.2)
    assert s.conn.timer("time_wait") == pytest.approx(1.2 + 240.0)
    assert s.conn.timer("rto") is None


def test_ack_not_covering_fin_is_ignored(closing: Script) -> None:
    s = closing
    s.rx("A", seq=2, ack=1, at=1.2)
    assert s.state is State.CLOSING
    s.expect_nothing(at=1.2)


def test_data_is_ignored(closing: Script) -> None:
    # §3.10.7.4 seventh, CLOSING: "Ignore the segment text."
    s = closing
    s.rx("PA", seq=2, ack=1, data=b"junk", at=1.2)
    assert s.state is State.CLOSING
    assert s.conn.readable == 0
    assert s.conn.rcv_nxt == s.irs + 2
    s.expect_nothing(at=1.2)


def test_segment_without_ack_is_ignored(closing: Script) -> None:
    s = closing
    s.rx("", seq=2, at=1.2)
    assert s.state is State.CLOSING
    s.expect_nothing(at=1.2)


@pytest.mark.parametrize("ack", [1, 2])
def test_retransmitted_peer_fin_is_acked_again(closing: Script, ack: int) -> None:
    # Not "ignored": the retransmitted FIN is old sequence space, and §3.10.7.4
    # first step answers an unacceptable segment with an ACK - which is what
    # the peer needs if our ACK of its FIN was lost. The segment is then
    # dropped whole, so even an ACK of our FIN on it is not taken (strict
    # RFC reading; our FIN's retransmission will draw a fresh ACK).
    s = closing
    s.rx("FA", seq=1, ack=ack, at=1.5)
    s.expect([Out("A", seq=2, ack=2)], at=1.5)
    assert s.state is State.CLOSING
    assert s.app_events() == []


def test_our_fin_is_retransmitted(closing: Script) -> None:
    s = closing
    assert s.conn.next_timer() == pytest.approx(2.0)
    s.fire(2.0)
    s.expect([Out("FA", seq=1, ack=2)], at=2.0)
    assert s.state is State.CLOSING
    s.rx("A", seq=2, ack=2, at=2.5)
    assert s.state is State.TIME_WAIT


def test_rst_closes(closing: Script) -> None:
    s = closing
    s.rx("R", seq=2, at=1.5)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionReset(refused=False)]
    s.expect_nothing(at=1.5)


def test_syn_draws_challenge_ack(closing: Script) -> None:
    s = closing
    s.rx("S", seq=2, at=1.5)
    s.expect([Out("A", seq=2, ack=2)], at=1.5)
    assert s.state is State.CLOSING


def test_abort_sends_nothing(closing: Script) -> None:
    # §3.10.5 CLOSING, LAST-ACK, TIME-WAIT: "respond with 'ok' and delete the TCB".
    s = closing
    s.conn.abort(now=1.5)
    assert s.state is State.CLOSED
    s.expect_nothing(at=1.5)
