"""CLOSE-WAIT and LAST-ACK: the passive close (RFC 9293 §3.10.4, §3.10.7.4).

Conformance lines (reference/conformance-scenarios.md):

CLOSE-WAIT
* The application may keep sending (half-close); close() -> LAST-ACK, FIN
  sent: ``test_cw_half_close_*``, ``test_cw_close_*``.
* Reads return the buffered data, then end-of-stream: ``test_cw_reads_*``.

LAST-ACK
* ACK of our FIN -> CLOSED: ``test_la_ack_of_fin_*``.
* FIN retransmitted with backoff until ACKed or R2: ``test_la_fin_*``.
* RST -> CLOSED: ``test_la_rst_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_established, make_last_ack

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.errors import LocalProtocolError
from tcpstack.state import State

# ----------------------------------------------------------------------
# CLOSE-WAIT
# ----------------------------------------------------------------------


def test_cw_half_close_application_keeps_sending(close_wait: Script) -> None:
    s = close_wait
    total = 0
    t = 2.0
    for _i in range(4):
        assert s.conn.send(b"z" * 1000, now=t) == 1000
        s.expect([Out("PA", seq=1 + total, ack=2, len=1000)], at=t)
        total += 1000
        s.rx("A", seq=2, ack=1 + total, at=t + 0.05)
        t += 0.1
        assert s.state is State.CLOSE_WAIT
    assert s.conn.in_flight == 0
    s.conn.close(now=t)
    # §3.10.4: CLOSE-WAIT until the FIN leaves, then LAST-ACK.
    assert s.state is State.CLOSE_WAIT
    s.expect([Out("FA", seq=1 + total, ack=2)], at=t)
    assert s.state is State.LAST_ACK
    s.rx("A", seq=2, ack=2 + total, at=t + 0.1)
    assert s.state is State.CLOSED


def test_cw_close_sends_fin_and_enters_last_ack(close_wait: Script) -> None:
    s = close_wait
    s.conn.close(now=2.0)
    assert s.state is State.CLOSE_WAIT  # §3.10.4: until the FIN is segmentized
    s.expect([Out("FA", seq=1, ack=2)], at=2.0)
    assert s.state is State.LAST_ACK
    assert s.conn.timer("rto") == pytest.approx(3.0)


def test_cw_close_with_queued_data_fin_follows_the_data(close_wait: Script) -> None:
    s = close_wait
    s.conn.send(b"abc", now=2.0)
    s.conn.shutdown(now=2.0)
    assert s.state is State.CLOSE_WAIT  # §3.10.4: until the FIN is segmentized
    s.expect([Out("FPA", seq=1, ack=2, len=3)], at=2.0)
    assert s.state is State.LAST_ACK
    s.rx("A", seq=2, ack=4, at=2.1)  # the data only
    assert s.state is State.LAST_ACK
    s.rx("A", seq=2, ack=5, at=2.2)
    assert s.state is State.CLOSED


def test_cw_reads_return_buffered_data_then_end_of_stream() -> None:
    s = make_established()
    s.rx("PA", seq=1, ack=1, data=b"first ", at=1.0)
    s.rx("FPA", seq=7, ack=1, data=b"second", at=1.1)
    assert s.state is State.CLOSE_WAIT
    assert not s.conn.at_eof
    assert s.conn.read(4) == b"firs"
    assert not s.conn.at_eof
    assert s.conn.read() == b"t second"
    assert s.conn.at_eof
    assert s.conn.read() == b""  # end-of-stream: empty reads from now on
    assert s.conn.at_eof


def test_cw_data_beyond_the_fin_is_ignored(close_wait: Script) -> None:
    # §3.10.7.4 seventh, CLOSE-WAIT: "This should not occur since a FIN has
    # been received from the remote side. Ignore the segment text."
    s = close_wait
    s.rx("PA", seq=2, ack=1, data=b"bogus", at=2.0)
    assert s.conn.readable == 0
    assert s.conn.rcv_nxt == s.irs + 2
    s.expect([Out("A", seq=1, ack=2)], at=2.0)
    assert s.state is State.CLOSE_WAIT


def test_cw_close_with_unread_data_resets(close_wait: Script) -> None:
    # SHLD-3 (§3.6.1): closing while received data is unread resets the
    # connection (as Linux does), in CLOSE-WAIT as in ESTABLISHED.
    s = make_established()
    s.rx("PA", seq=1, ack=1, data=b"unread", at=1.0)
    s.rx("FA", seq=7, ack=1, at=1.1)
    assert s.state is State.CLOSE_WAIT
    s.events()
    s.conn.close(now=2.0)
    s.expect([Out("R", seq=1)], at=2.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionAborted()]


def test_cw_retransmitted_fin_is_reacked(close_wait: Script) -> None:
    s = close_wait
    s.rx("FA", seq=1, ack=1, at=2.0)
    s.expect([Out("A", seq=1, ack=2)], at=2.0)
    assert s.app_events() == []


def test_cw_rst_closes_with_reset(close_wait: Script) -> None:
    s = close_wait
    s.rx("R", seq=2, at=2.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionReset(refused=False)]


def test_cw_abort_sends_rst(close_wait: Script) -> None:
    s = close_wait
    s.conn.abort(now=2.0)
    s.expect([Out("R", seq=1)], at=2.0)
    assert s.state is State.CLOSED


def test_cw_shutdown_twice_is_a_no_op(close_wait: Script) -> None:
    s = close_wait
    s.conn.shutdown(now=2.0)
    s.conn.shutdown(now=2.0)
    s.expect([Out("FA", seq=1, ack=2)], at=2.0)
    with pytest.raises(LocalProtocolError):
        s.conn.send(b"x")


# ----------------------------------------------------------------------
# LAST-ACK
# ----------------------------------------------------------------------


def test_la_ack_of_fin_closes(last_ack: Script) -> None:
    s = last_ack
    s.rx("A", seq=2, ack=2, at=1.2)
    assert s.state is State.CLOSED
    assert s.events() == [
        ev.StateChanged(State.LAST_ACK, State.CLOSED),
        ev.ConnectionClosed(),
    ]
    s.expect_nothing(at=1.2)
    assert s.conn.next_timer() is None


def test_la_ack_not_covering_fin_stays(last_ack: Script) -> None:
    s = last_ack
    s.rx("A", seq=2, ack=1, at=1.2)
    assert s.state is State.LAST_ACK
    s.expect_nothing(at=1.2)


def test_la_fin_retransmitted_with_backoff(last_ack: Script) -> None:
    s = last_ack
    t = 2.1  # FIN sent at 1.1, RTO 1 s
    for backoff in (2.0, 4.0, 8.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=2)], at=t)
        assert s.state is State.LAST_ACK
        t += backoff
    s.rx("A", seq=2, ack=2, at=t - 1)
    assert s.state is State.CLOSED


def test_la_fin_gives_up_after_r2() -> None:
    s = make_last_ack(config=TcpConfig(r2=20.0))
    for t in (2.1, 4.1, 8.1, 16.1):
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=2)], at=t)
    s.events()
    s.fire(32.1)  # 31 s since the FIN first left: past R2
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("fin")]
    s.expect_nothing(at=32.1)


def test_la_abort_deletes_the_tcb_without_rst(last_ack: Script) -> None:
    # §3.10.5 ABORT, "CLOSING STATE, LAST-ACK STATE, TIME-WAIT STATE: Respond with
    # 'ok' and delete the TCB, enter CLOSED state, and return." No RST.
    s = last_ack
    s.conn.abort(now=1.5)
    s.expect_nothing(at=1.5)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionAborted()]
    assert s.conn.next_timer() is None


def test_la_rst_closes(last_ack: Script) -> None:
    s = last_ack
    s.rx("R", seq=2, at=1.5)
    assert s.state is State.CLOSED
    s.expect_nothing(at=1.5)
    assert s.conn.next_timer() is None
    # MUST-12: our FIN was never acknowledged, so this is not a clean close.
    assert s.app_events() == [ev.ConnectionReset(refused=False)]


def test_la_rst_in_window_not_exact_draws_challenge_ack(last_ack: Script) -> None:
    s = last_ack
    s.rx("R", seq=50, at=1.5)
    s.expect([Out("A", seq=2, ack=2)], at=1.5)
    assert s.state is State.LAST_ACK


def test_la_retransmitted_peer_fin_is_reacked(last_ack: Script) -> None:
    s = last_ack
    s.rx("FA", seq=1, ack=1, at=1.5)  # the peer did not get our ACK of its FIN
    s.expect([Out("A", seq=2, ack=2)], at=1.5)
    assert s.state is State.LAST_ACK


def test_la_from_established_with_data_both_ways() -> None:
    s = make_established()
    s.rx("PA", seq=1, ack=1, data=b"request", at=1.0)
    s.conn.send(b"response", now=1.05)
    s.expect([Out("PA", seq=1, ack=8, len=8)], at=1.05)
    s.rx("FA", seq=8, ack=9, at=1.1)
    assert s.state is State.CLOSE_WAIT
    s.expect([Out("A", seq=9, ack=9)], at=1.1)
    assert s.conn.read() == b"request"
    s.conn.close(now=1.2)
    s.expect([Out("FA", seq=9, ack=9)], at=1.2)
    s.rx("A", seq=9, ack=10, at=1.3)
    assert s.state is State.CLOSED
