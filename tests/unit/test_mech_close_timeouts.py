"""Giving up on a FIN: FIN-WAIT-1, CLOSING and LAST-ACK after R2 (RFC 9293 §3.6,
§3.8.3 MUST-20, SHLD-11: R2 >= 100 s), with the default configuration; data
unacknowledged in CLOSE-WAIT; a half-closed peer gone silent in FIN-WAIT-2.

The FIN is retransmitted like data (RTO 1, 2, 4, ... s); the first timeout
100 s or more after the FIN (or the oldest unacknowledged data) first left
closes the connection with ConnectionTimedOut. FIN-WAIT-2 and its orphan
timeout are in ``test_state_fin_wait.py``.
"""

from __future__ import annotations

import pytest
from tcp_script import (
    Out,
    make_close_wait,
    make_closing,
    make_established,
    make_fin_wait_1,
    make_fin_wait_2,
    make_last_ack,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.state import State


def test_fin_wait_1_gives_up_after_r2() -> None:
    s = make_fin_wait_1()  # FIN sent at 1.0, RTO 1 s
    for t in (2.0, 4.0, 8.0, 16.0, 32.0, 64.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=1)], at=t)
        assert s.state is State.FIN_WAIT_1
    assert s.app_events() == [ev.SoftError(3)]
    assert s.conn.next_timer() == pytest.approx(124.0)  # 123 s after the FIN
    s.fire(124.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("fin")]
    s.expect_nothing(at=124.0)
    assert s.conn.next_timer() is None


def test_fin_wait_1_orphan_gives_up_after_r2_too() -> None:
    s = make_established()
    s.conn.close(now=1.0)  # the application is gone: close() not shutdown()
    s.expect([Out("FA", seq=1, ack=1)], at=1.0)
    for t in (2.0, 4.0, 8.0, 16.0, 32.0, 64.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=1)], at=t)
    s.events()
    s.fire(124.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("fin")]


def test_fin_wait_1_with_unacknowledged_data_gives_up_on_the_data() -> None:
    s = make_established()
    s.conn.send(b"last words", now=1.0)
    s.conn.shutdown(now=1.0)
    s.expect([Out("FPA", seq=1, ack=1, len=10)], at=1.0)  # the FIN rides along
    for t in (2.0, 4.0, 8.0, 16.0, 32.0, 64.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FPA", seq=1, ack=1, len=10)], at=t)
    s.events()
    s.fire(124.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("data")]


def test_fin_wait_1_r2_counts_from_the_last_progress() -> None:
    s = make_established()
    s.conn.send(b"last words", now=1.0)
    s.conn.shutdown(now=1.0)
    s.expect([Out("FPA", seq=1, ack=1, len=10)], at=1.0)
    for t in (2.0, 4.0, 8.0, 16.0, 32.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FPA", seq=1, ack=1, len=10)], at=t)
    s.rx("A", seq=1, ack=11, at=50.0)  # the data, not the FIN
    assert s.state is State.FIN_WAIT_1
    # Only the FIN is outstanding now; the backed-off RTO (32 s) is kept
    # (Karn: no RTT sample from a retransmitted segment).
    t = 50.0
    for gap in (32.0, 60.0):
        t += gap
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=11, ack=1)], at=t)
        assert s.state is State.FIN_WAIT_1
    assert s.conn.next_timer() == pytest.approx(t + 60.0)
    s.fire(t + 60.0)  # 152 s after the progress at 50.0
    assert s.state is State.CLOSED
    assert ev.ConnectionTimedOut("fin") in s.app_events()


def test_last_ack_gives_up_after_r2() -> None:
    s = make_last_ack()  # FIN sent at 1.1
    for t in (2.1, 4.1, 8.1, 16.1, 32.1, 64.1):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=2)], at=t)
        assert s.state is State.LAST_ACK
    assert s.app_events() == [ev.SoftError(3)]
    assert s.conn.next_timer() == pytest.approx(124.1)
    s.fire(124.1)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("fin")]
    s.expect_nothing(at=124.1)
    assert s.conn.next_timer() is None


def test_last_ack_r2_none_retransmits_forever() -> None:
    s = make_last_ack(config=TcpConfig(r2=None))
    t, gap = 1.1, 1.0
    while t < 3600.0:
        t += gap
        gap = min(2 * gap, 60.0)
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=2)], at=t)
    assert s.state is State.LAST_ACK
    s.rx("A", seq=2, ack=2, at=t + 1)
    assert s.state is State.CLOSED


def test_closing_gives_up_after_r2() -> None:
    # Simultaneous close whose FIN is never acknowledged: the FIN is resent
    # (RTO 1, 2, 4, ... s from 1.0) until R2, then "fin" times out.
    s = make_closing()
    for t in (2.0, 4.0, 8.0, 16.0, 32.0, 64.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=2)], at=t)
        assert s.state is State.CLOSING
    assert s.app_events() == [ev.SoftError(3)]
    s.fire(124.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("fin")]


def test_close_wait_data_gives_up_after_r2() -> None:
    # The half-closed side keeps sending (§3.6); its data is never acknowledged.
    s = make_close_wait(config=TcpConfig(r2=10.0))
    s.conn.send(b"x" * 100, now=2.0)
    s.expect([Out("PA", seq=1, ack=2, len=100)], at=2.0)
    for t in (3.0, 5.0, 9.0):
        s.fire(t)
        s.expect([Out("PA", seq=1, ack=2, len=100)], at=t)
    s.events()
    s.fire(17.0)  # the first timeout 10 s or more after the data first left
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("data")]


def test_fin_wait_2_peer_gone_ends_by_keepalive() -> None:
    # Not orphaned (shutdown, not close): no FIN-WAIT-2 timeout; keep-alive
    # probes FIN-WAIT-2 too (as Linux does) and ends the wait when they go
    # unanswered (§3.8.4).
    s = make_fin_wait_2()
    s.conn.set_keepalive(True, idle=50.0, interval=5.0, count=2)
    assert s.conn.timer("fin_wait_2") is None
    for t in (51.1, 56.1):
        s.fire(t)
        s.expect([Out("A", seq=1, ack=1)], at=t)
    s.events()
    s.fire(61.1)
    s.expect([Out("R", seq=2)], at=61.1)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("keepalive")]
