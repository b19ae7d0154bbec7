"""Keep-alive (RFC 9293 §3.8.4: MAY-5, MUST-24..29, SHLD-12).

Defaults: off (MUST-25); idle 7200 s (MUST-28), then probes every 75 s, 9
unanswered probes and the connection is dead (Linux tcp_keepalive_*). The
probe is <SEQ=SND.NXT-1><ACK=RCV.NXT> without data (SHLD-12), so a live peer
must answer with an ACK.

The established fixture's last step is at 0.1 s, so with keep-alive on from
the start the first probe is due at 7200.1 s.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_close_wait, make_established

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.state import State

IDLE = 7200.0
INTERVAL = 75.0


def keepalive_established(**changes: object) -> Script:
    return make_established(config=TcpConfig(keepalive=True, **changes))  # type: ignore[arg-type]


def probe(seq: int = 0, ack: int = 1) -> Out:
    return Out("A", seq=seq, ack=ack, len=0)


def test_off_by_default() -> None:
    s = make_established()
    assert not s.conn.config.keepalive
    assert s.conn.config.keepalive_idle == IDLE  # MUST-28: >= 2 h
    assert s.conn.next_timer() is None
    for t in (IDLE + 0.1, IDLE + INTERVAL + 0.1, 5 * IDLE):
        s.fire(t)
        s.expect_nothing(at=t)
    assert s.state is State.ESTABLISHED


def test_probes_at_7200_then_every_75_s_and_death_after_nine() -> None:
    s = keepalive_established()
    assert s.conn.timer("keepalive") == pytest.approx(0.1 + IDLE)
    times = [0.1 + IDLE + k * INTERVAL for k in range(9)]
    for i, t in enumerate(times):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t - 0.01)
        s.expect_nothing(at=t - 0.01)
        s.fire(t)
        s.expect([probe()], at=t)
        assert s.state is State.ESTABLISHED, f"dead after {i + 1} probes"  # MUST-29
        assert s.app_events() == []
    t = 0.1 + IDLE + 9 * INTERVAL  # 7875.1: the ninth probe went unanswered
    assert s.conn.next_timer() == pytest.approx(t)
    s.fire(t)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("keepalive")]
    s.expect([Out("R", seq=1)], at=t)  # as Linux: tell the peer, if it is there
    assert s.conn.next_timer() is None


def test_probe_carries_snd_nxt_minus_one_after_data() -> None:
    s = keepalive_established()
    s.conn.send(b"0123456789", now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=10)], at=1.0)
    s.rx("PA", seq=1, ack=11, data=b"abc", at=1.1)  # peer traffic: idle restarts
    s.fire(1.3)
    s.expect([Out("A", seq=11, ack=4)], at=1.3)
    assert s.conn.read() == b"abc"
    t = 1.1 + IDLE
    assert s.conn.timer("keepalive") == pytest.approx(t)
    s.fire(t)
    s.expect([probe(seq=10, ack=4)], at=t)  # SEQ = SND.NXT - 1, no data (SHLD-12)


def test_one_lost_probe_is_not_death_and_an_answer_resets_the_idle_timer() -> None:
    s = keepalive_established()
    t1 = 0.1 + IDLE
    assert s.conn.next_timer() == pytest.approx(t1)
    s.fire(t1)
    s.expect([probe()], at=t1)  # lost
    t2 = t1 + INTERVAL
    assert s.conn.next_timer() == pytest.approx(t2)
    s.fire(t2)
    s.expect([probe()], at=t2)
    s.rx("A", seq=1, ack=1, at=t2 + 0.2)  # answered
    s.expect_nothing(at=t2 + 0.2)
    assert s.state is State.ESTABLISHED
    assert s.app_events() == []
    # The idle time starts again from the answer, with a fresh probe count.
    t3 = t2 + 0.2 + IDLE
    assert s.conn.next_timer() == pytest.approx(t3)
    for k in range(9):
        assert s.conn.next_timer() == pytest.approx(t3 + k * INTERVAL)
        s.fire(t3 + k * INTERVAL)
        s.expect([probe()], at=t3 + k * INTERVAL)
    assert s.state is State.ESTABLISHED
    s.fire(t3 + 9 * INTERVAL)
    assert s.state is State.CLOSED


def test_rst_answer_aborts_the_connection() -> None:
    s = keepalive_established()
    t = 0.1 + IDLE
    s.fire(t)
    s.expect([probe()], at=t)
    # The peer rebooted: no TCB, so it answers <SEQ=SEG.ACK><CTL=RST>.
    s.rx("R", seq=1, ack=0, at=t + 0.1)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionReset(refused=False)]
    s.expect_nothing(at=t + 0.1)


def test_set_keepalive_per_connection_with_its_own_times() -> None:
    s = make_established()
    other = make_established()
    s.conn.set_keepalive(True, idle=60.0, interval=10.0, count=3)  # MUST-24, MUST-27
    for t in (60.1, 70.1, 80.1):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([probe()], at=t)
        other.fire(t)
        other.expect_nothing(at=t)
    s.fire(90.1)
    assert s.state is State.CLOSED
    assert ev.ConnectionTimedOut("keepalive") in s.app_events()
    assert other.state is State.ESTABLISHED


def test_set_keepalive_off_again() -> None:
    s = keepalive_established()
    s.conn.set_keepalive(False)
    assert s.conn.timer("keepalive") is None
    s.fire(0.1 + IDLE)
    s.expect_nothing(at=0.1 + IDLE)


def test_no_probes_while_data_is_outstanding() -> None:
    # MUST-26: only an idle connection is probed; unacknowledged data is
    # the retransmission timer's business.
    s = make_established(config=TcpConfig(r2=None))
    s.conn.set_keepalive(True, idle=10.0, interval=5.0, count=2)
    s.conn.send(b"x" * 100, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=1.0)
    t = 1.0
    rto_times = []
    while t < 600.0:
        nxt = s.conn.next_timer()
        assert nxt is not None
        t = nxt
        s.fire(t)
        for seg in s.conn.packets_to_send(t):
            assert seg.payload == b"x" * 100, f"a probe at {t}"
            rto_times.append(t)
    assert s.state is State.ESTABLISHED
    assert rto_times[:8] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 124.0, 184.0]
    # The data is acknowledged: the idle clock starts, probes follow.
    s.rx("A", seq=1, ack=101, at=600.0)
    assert s.conn.next_timer() == pytest.approx(610.0)
    s.fire(610.0)
    s.expect([probe(seq=100)], at=610.0)


def test_probes_in_close_wait_too() -> None:
    s = make_close_wait()
    s.conn.set_keepalive(True, idle=100.0)
    assert s.conn.next_timer() == pytest.approx(101.0)
    s.fire(101.0)  # (the fixture's last step was at 1.0)
    s.expect([probe(ack=2)], at=101.0)
    s.rx("A", seq=2, ack=1, at=101.1)
    assert s.conn.timer("keepalive") == pytest.approx(201.1)


def test_close_wait_peer_gone_ends_with_rst_and_timeout() -> None:
    # §3.8.4: probes in CLOSE-WAIT too (the application may wait to send); after
    # keepalive_count unanswered probes the connection ends like in ESTABLISHED.
    s = make_close_wait()
    s.conn.set_keepalive(True, idle=100.0, interval=10.0, count=2)
    s.events()
    for t in (101.0, 111.0):
        s.fire(t)
        s.expect([probe(ack=2)], at=t)
    s.fire(121.0)
    s.expect([Out("R", seq=1)], at=121.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("keepalive")]
