"""Liveness: zero-window probes that go unanswered, and orphans (issue 12, item 3).

* RFC 9293 §3.8.6.1 (MUST-26) and RFC 1122 §4.2.2.17: a connection stays open
  while its zero-window probes are ANSWERED, by any ACK, even one that still
  offers a zero window: ``test_answered_*``. Unanswered probes count towards R2
  and the user timeout (Linux tcp_probe_timer): the connection is given up
  R2 (or the user timeout) after the first unanswered probe, the last wait cut
  to that deadline, with ConnectionTimedOut("zero-window"), no RST, counted
  ``persist_timeout``: ``test_unanswered_*``.
* Orphans (the application closed): given up after ``orphan_retries``
  retransmission timeouts or zero-window probes, answered or not (Linux
  tcp_orphan_retries), no RST, counted ``orphan_retries_exceeded``:
  ``test_orphan_*``.

Timeline of :meth:`Server.open` here: the peer's SYN at 1.0, its ACK at 1.1
offering a zero window; RTO 1 s (one 0.1 s sample, RFC 6298 floor 1 s). The
application sends 100 bytes at 2.0: nothing leaves, the persist timer is due
one RTO later (SHLD-29) and backs off by doubling up to ``rto_max`` 60 s
(SHLD-30): probes at 3, 5, 9, 17, 33, 65, 125, 185, ...
"""

from __future__ import annotations

import pytest
from liveness_script import Server
from tcp_script import Out

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.state import State

PROBE = Out("A", seq=0, ack=1, len=0)
"""A zero-window probe: <SEQ=SND.UNA-1><ACK=RCV.NXT>, no data (SND.UNA = ISS+1)."""


def probe_times(first: float, gap: float, until: float, cap: float = 60.0) -> list[float]:
    """When the persist timer fires: ``first``, then gaps doubling from ``gap``
    up to ``cap`` (RFC 9293 §3.8.6.1, SHLD-29/30), while before ``until``."""
    out, t = [], first
    while t < until:
        out.append(t)
        t += gap
        gap = min(2 * gap, cap)
    return out


def behind_zero_window(config: TcpConfig | None = None) -> Server:
    """A connection whose peer offers a zero window; 100 bytes queued at 2.0."""
    s = Server(config)
    conn = s.open(window=0)
    assert conn.rto == 1.0
    assert conn.send(bytes(100), now=2.0) == 100
    s.expect([], at=2.0)
    assert s.stack.next_timer() == pytest.approx(3.0)
    return s


def probe_at(s: Server, t: float, probe: Out = PROBE) -> None:
    """The persist timer is due at ``t`` and sends one probe then."""
    assert s.stack.next_timer() == pytest.approx(t)
    s.fire(t)
    s.expect([probe], at=t)


# ----------------------------------------------------------------------
# Unanswered probes: R2 and the user timeout
# ----------------------------------------------------------------------


def test_unanswered_probes_end_r2_after_the_first() -> None:
    s = behind_zero_window()
    r2 = s.stack.config.r2
    assert r2 == 100.0
    deadline = 3.0 + r2  # the first unanswered probe at 3.0
    times = probe_times(3.0, 2.0, deadline)
    assert times == [3.0, 5.0, 9.0, 17.0, 33.0, 65.0]
    for t in times:
        probe_at(s, t)
    # The next probe would be due at 125: the wait is cut to the deadline.
    assert s.stack.next_timer() == pytest.approx(deadline)
    s.fire(deadline - 0.001)
    assert s.conn is not None and s.conn.state is State.ESTABLISHED
    s.fire(deadline)
    assert s.conn.state is State.CLOSED
    s.expect([], at=deadline)  # given up without a RST (Linux tcp_write_err)
    assert s.app_events() == [ev.ConnectionTimedOut("zero-window")]
    assert s.stack.stats["persist_timeout"] == 1
    assert s.stack.stats["orphan_retries_exceeded"] == 0
    assert s.stack.connections == []


def test_unanswered_probes_end_at_the_user_timeout() -> None:
    s = behind_zero_window(TcpConfig(user_timeout=20.0))
    for t in [3.0, 5.0, 9.0, 17.0]:
        probe_at(s, t)
    # 17 + 16 = 33 is past 3 + 20: the connection ends at 23 exactly (RFC 5482 §3).
    assert s.stack.next_timer() == pytest.approx(23.0)
    s.fire(23.0)
    s.expect([], at=23.0)
    assert s.conn is not None and s.conn.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("zero-window")]
    assert s.stack.stats["persist_timeout"] == 1


def test_user_timeout_shorter_than_the_probe_interval() -> None:
    s = behind_zero_window(TcpConfig(user_timeout=0.5))
    probe_at(s, 3.0)  # one probe is always sent (an unanswered probe, MUST-26)
    assert s.stack.next_timer() == pytest.approx(3.5)
    s.fire(3.5)
    s.expect([], at=3.5)
    assert s.app_events() == [ev.ConnectionTimedOut("zero-window")]


def test_r2_off_probes_for_ever() -> None:
    s = behind_zero_window(TcpConfig(r2=None))  # MUST-21: never give up
    for t in probe_times(3.0, 2.0, 3 * 3600.0):
        probe_at(s, t)
    assert s.conn is not None and s.conn.state is State.ESTABLISHED
    assert s.app_events() == []
    assert s.stack.stats["persist_timeout"] == 0


# ----------------------------------------------------------------------
# Answered probes: the connection stays open (MUST-26)
# ----------------------------------------------------------------------


def test_answered_with_zero_window_stays_alive_then_r2_from_the_first_unanswered() -> None:
    s = behind_zero_window()
    times = probe_times(3.0, 2.0, 10 * 100.0)  # ten times R2
    for t in times:
        probe_at(s, t)
        # The peer is alive and answers, its window still closed.
        s.rx("A", seq=1, ack=1, window=0, at=t + 0.05)
        s.expect([], at=t + 0.05)
    assert s.conn is not None and s.conn.state is State.ESTABLISHED
    assert s.app_events() == []
    # Now it vanishes: R2 counts from the first unanswered probe.
    first = times[-1] + 60.0
    probe_at(s, first)
    for t in probe_times(first + 60.0, 60.0, first + 100.0):
        probe_at(s, t)
    assert s.stack.next_timer() == pytest.approx(first + 100.0)
    s.fire(first + 100.0)
    assert s.conn.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("zero-window")]
    assert s.stack.stats["persist_timeout"] == 1


def test_answered_keeps_the_user_timeout_from_running_out() -> None:
    # RFC 9293 §3.8.6.1 as the issue asks: any ACK answers (Linux since 5.11
    # measures TCP_USER_TIMEOUT from the last ACK opening the window instead).
    s = behind_zero_window(TcpConfig(user_timeout=20.0))
    # The probes back off as far as the user timeout, not beyond.
    for t in probe_times(3.0, 2.0, 600.0, cap=20.0):
        probe_at(s, t)
        s.rx("A", seq=1, ack=1, window=0, at=t + 0.05)
    assert s.conn is not None and s.conn.state is State.ESTABLISHED
    assert s.stack.stats["persist_timeout"] == 0


def test_window_opens_after_unanswered_probes_and_data_flows() -> None:
    s = behind_zero_window()
    for t in [3.0, 5.0, 9.0]:
        probe_at(s, t)
    s.rx("A", seq=1, ack=1, window=1000, at=10.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=10.0)
    s.rx("A", seq=1, ack=101, window=0, at=10.1)
    assert s.conn is not None
    assert s.conn.send(bytes(50), now=11.0) == 50
    # A new zero-window period: a fresh count, the first probe one RTO later.
    s.expect([], at=11.0)
    probe_at(s, 12.0, Out("A", seq=100, ack=1))  # SND.UNA - 1
    s.fire(12.0 + 100.0 - 0.001)
    assert s.conn.state is State.ESTABLISHED


# ----------------------------------------------------------------------
# Orphans
# ----------------------------------------------------------------------


@pytest.mark.parametrize("retries", [3, 8])
def test_orphan_in_fin_wait_1_behind_zero_window_gives_up_after_orphan_retries(
        retries: int) -> None:
    s = behind_zero_window(TcpConfig(orphan_retries=retries))
    assert s.conn is not None
    s.conn.close(now=2.5)
    assert s.conn.state is State.FIN_WAIT_1
    assert s.conn.orphaned
    s.expect([], at=2.5)  # the FIN waits behind the 100 bytes
    times = probe_times(3.0, 2.0, 10_000.0)[: retries + 1]
    for t in times[:retries]:
        probe_at(s, t)
        # The peer answers every probe, holding its window closed: R2 never
        # runs out, but the orphan's probes are used up.
        s.rx("A", seq=1, ack=1, window=0, at=t + 0.05)
    assert s.stack.next_timer() == pytest.approx(times[retries])
    s.fire(times[retries])
    s.expect([], at=times[retries])  # no RST (Linux tcp_write_err)
    assert s.conn.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("zero-window")]
    assert s.stack.stats["orphan_retries_exceeded"] == 1
    assert s.stack.stats["persist_timeout"] == 0
    assert s.stack.connections == []


def test_default_orphan_retries_is_linux_eight() -> None:
    assert TcpConfig().orphan_retries == 8


def test_orphan_retries_zero_gives_up_at_the_first_timeout() -> None:
    s = behind_zero_window(TcpConfig(orphan_retries=0))
    assert s.conn is not None
    s.conn.close(now=2.5)
    s.fire(3.0)
    s.expect([], at=3.0)
    assert s.conn.state is State.CLOSED
    assert s.stack.stats["orphan_retries_exceeded"] == 1


@pytest.mark.parametrize("orphan", [True, False])
def test_retransmitting_orphan_gives_up_after_orphan_retries(orphan: bool) -> None:
    s = Server(TcpConfig(orphan_retries=2))
    conn = s.open()
    conn.send(bytes(100), now=2.0)
    if orphan:
        conn.close(now=2.0)
    data = Out("FPA" if orphan else "PA", seq=1, ack=1, len=100)
    s.expect([data], at=2.0)
    for t in [3.0, 5.0]:  # RTO 1 s, backed off (RFC 6298 §5.5)
        assert s.stack.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([data], at=t)
    assert s.stack.next_timer() == pytest.approx(9.0)
    s.fire(9.0)
    if orphan:
        s.expect([], at=9.0)  # no RST (Linux tcp_write_err)
        assert conn.state is State.CLOSED
        assert s.app_events() == [ev.ConnectionTimedOut("data")]
    else:
        # While the application holds the connection, R2 alone decides.
        s.expect([data], at=9.0)
        assert conn.state is State.ESTABLISHED
        assert s.app_events() == [ev.SoftError(3)]  # R1 (SHLD-9)
    assert s.stack.stats["orphan_retries_exceeded"] == int(orphan)


def test_orphan_with_acks_advancing_starts_its_count_again() -> None:
    s = Server(TcpConfig(orphan_retries=1))
    conn = s.open()
    conn.send(bytes(2000), now=2.0)
    conn.close(now=2.0)
    sent = s.expect([Out("A", seq=1, ack=1, len=1460), Out("FPA", seq=1461, ack=1, len=540)],
                    at=2.0)
    assert len(sent) == 2
    s.fire(3.0)  # one retransmission: the limit
    s.expect([Out("A", seq=1, ack=1, len=1460)], at=3.0)
    s.rx("A", seq=1, ack=1461, at=3.1)  # progress: the count starts again
    assert conn.state is State.FIN_WAIT_1
    rto_at = s.stack.next_timer()
    assert rto_at is not None
    s.fire(rto_at)
    assert conn.state is State.FIN_WAIT_1
    s.expect([Out("FPA", seq=1461, ack=1, len=540)], at=rto_at)


def test_orphan_retries_must_be_a_whole_number() -> None:
    with pytest.raises(ValueError, match="orphan_retries"):
        TcpConfig(orphan_retries=-1)
    with pytest.raises(ValueError, match="orphan_retries"):
        TcpConfig(orphan_retries=1.5)  # type: ignore[arg-type]
