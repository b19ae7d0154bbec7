"""RFC 1337 TIME-WAIT assassination protection, a switch (``TcpConfig.rfc1337``), on by default.

RFC 1337 §3 (fix F1): "ignore RST segments in TIME-WAIT state". On, a RST at
RCV.NXT leaves TIME-WAIT running for its 2 MSL, nothing is sent, and it is
counted as ``rfc1337_rst_ignored``. Off, RFC 9293 §3.10.7.4 applies: the RST
ends TIME-WAIT at once (Linux ``tcp_rfc1337=0``, which the ``linux`` profile
keeps). Either way a RST in the window but not at RCV.NXT draws a challenge
ACK (RFC 5961 §3.2) and one outside the window is dropped silently.

Timeline of :meth:`Server.time_wait`: SYN at 1.0, our FIN at 2.0, its ACK at
2.1, the peer's FIN at 10.0 (TIME-WAIT from then, 2 MSL = 240 s).
"""

from __future__ import annotations

import pytest
from liveness_script import Server
from tcp_script import Out

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.state import State

TIME_WAIT_ENDS = 10.0 + 2 * 120.0


def test_on_by_default_and_off_in_the_linux_profile() -> None:
    assert TcpConfig().rfc1337 is True
    assert TcpConfig.linux().rfc1337 is False


@pytest.mark.parametrize("letters", ["R", "RA"])
def test_rst_ignored_by_default(letters: str) -> None:
    s = Server()
    conn = s.time_wait()
    s.rx(letters, seq=2, ack=2, at=50.0)
    s.expect([], at=50.0)
    assert conn.state is State.TIME_WAIT
    assert s.stack.stats["rfc1337_rst_ignored"] == 1
    assert s.app_events() == []
    assert s.stack.next_timer() == pytest.approx(TIME_WAIT_ENDS)  # not restarted
    # TIME-WAIT still does its job: a retransmitted FIN is acknowledged ...
    s.rx("FA", seq=1, ack=2, at=60.0)
    s.expect([Out("A", seq=2, ack=2)], at=60.0)
    # ... and it ends after 2 MSL (restarted by that FIN) as usual.
    s.fire(60.0 + 240.0)
    assert conn.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionClosed()]


def test_every_rst_is_ignored_and_counted() -> None:
    s = Server()
    conn = s.time_wait()
    for i in range(3):
        s.rx("R", seq=2, at=50.0 + i)
        s.expect([], at=50.0 + i)
    assert conn.state is State.TIME_WAIT
    assert s.stack.stats["rfc1337_rst_ignored"] == 3


def test_rst_closes_when_switched_off() -> None:
    s = Server(TcpConfig(rfc1337=False))
    conn = s.time_wait()
    s.rx("R", seq=2, at=50.0)
    s.expect([], at=50.0)
    assert conn.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionClosed()]
    assert s.stack.stats["rfc1337_rst_ignored"] == 0
    assert s.stack.connections == []
    # The TCB is gone: the peer's retransmitted FIN now draws a RST (§3.10.7.1).
    s.stack.unlisten(80)
    s.rx("FA", seq=1, ack=2, at=60.0)
    s.expect([Out("R", seq=2)], at=60.0)


@pytest.mark.parametrize("rfc1337", [True, False])
def test_rst_in_window_not_at_rcv_nxt_draws_challenge_ack(rfc1337: bool) -> None:
    s = Server(TcpConfig(rfc1337=rfc1337))
    conn = s.time_wait()
    s.rx("R", seq=77, at=50.0)
    s.expect([Out("A", seq=2, ack=2)], at=50.0)
    assert conn.state is State.TIME_WAIT
    assert s.stack.stats["rfc1337_rst_ignored"] == 0


@pytest.mark.parametrize("rfc1337", [True, False])
def test_rst_out_of_window_is_dropped(rfc1337: bool) -> None:
    s = Server(TcpConfig(rfc1337=rfc1337))
    conn = s.time_wait()
    s.rx("R", seq=1_000_000, at=50.0)
    s.expect([], at=50.0)
    assert conn.state is State.TIME_WAIT
    assert s.stack.stats["rfc1337_rst_ignored"] == 0


def test_rst_outside_time_wait_still_resets() -> None:
    # RFC 1337 concerns TIME-WAIT only: an established connection is reset.
    s = Server()
    conn = s.open()
    s.rx("R", seq=1, at=5.0)
    assert conn.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionReset(refused=False)]
    assert s.stack.stats["rfc1337_rst_ignored"] == 0


def test_reconfigured_per_connection() -> None:
    s = Server()
    conn = s.time_wait()
    conn.reconfigure(rfc1337=False)
    s.rx("R", seq=2, at=50.0)
    assert conn.state is State.CLOSED
