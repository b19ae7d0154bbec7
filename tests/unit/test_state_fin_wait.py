"""FIN-WAIT-1 and FIN-WAIT-2: RFC 9293 §3.10.7.4 fifth and eighth steps.

Conformance lines (reference/conformance-scenarios.md):

FIN-WAIT-1
* ACK of our FIN -> FIN-WAIT-2: ``test_fw1_ack_of_fin_*``.
* FIN without ACK of our FIN -> CLOSING: ``test_fw1_fin_without_ack_of_our_fin_*``.
* FIN that also ACKs our FIN -> TIME-WAIT: ``test_fw1_fin_acking_our_fin_*``.
* Data still received and ACKed; our FIN retransmitted with backoff:
  ``test_fw1_data_*``, ``test_fw1_fin_retransmitted_*``.

FIN-WAIT-2
* FIN -> TIME-WAIT, ACK it; data still received: ``test_fw2_fin_*``,
  ``test_fw2_data_*``.
* Held forever while the application holds it; orphaned -> times out after
  ``fin_wait_2_timeout``: ``test_fw2_held_*``, ``test_fw2_orphan_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_established, make_fin_wait_1, make_fin_wait_2

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.state import State

# ----------------------------------------------------------------------
# FIN-WAIT-1
# ----------------------------------------------------------------------


def test_fw1_ack_of_fin_goes_to_fin_wait_2(fin_wait_1: Script) -> None:
    s = fin_wait_1
    s.rx("A", seq=1, ack=2, at=1.1)
    assert s.state is State.FIN_WAIT_2
    s.expect_nothing(at=1.1)
    assert s.conn.timer("rto") is None
    # shutdown() keeps the application attached: no FIN-WAIT-2 timer.
    assert s.conn.next_timer() is None


def test_fw1_ack_not_covering_the_fin_stays(fin_wait_1: Script) -> None:
    s = fin_wait_1
    s.rx("A", seq=1, ack=1, at=1.1)
    assert s.state is State.FIN_WAIT_1
    s.expect_nothing(at=1.1)


def test_fw1_partial_ack_of_data_stays() -> None:
    s = make_established()
    s.conn.send(b"x" * 100, now=1.0)
    s.conn.shutdown(now=1.0)
    s.expect([Out("FPA", seq=1, ack=1, len=100)], at=1.0)
    s.rx("A", seq=1, ack=101, at=1.1)  # the data, not the FIN (at 101)
    assert s.state is State.FIN_WAIT_1
    s.rx("A", seq=1, ack=102, at=1.2)
    assert s.state is State.FIN_WAIT_2


def test_fw1_fin_without_ack_of_our_fin_goes_to_closing(fin_wait_1: Script) -> None:
    # Simultaneous close (§3.10.7.4 eighth, FIN-WAIT-1: "otherwise, enter the CLOSING state").
    s = fin_wait_1
    s.rx("FA", seq=1, ack=1, at=1.1)
    assert s.state is State.CLOSING
    s.expect([Out("A", seq=2, ack=2)], at=1.1)
    assert s.app_events() == [ev.PeerClosed()]


def test_fw1_fin_acking_our_fin_goes_to_time_wait(fin_wait_1: Script) -> None:
    # Three-segment close: "If our FIN has been ACKed (perhaps in this segment), enter TIME-WAIT".
    s = fin_wait_1
    s.rx("FA", seq=1, ack=2, at=1.1)
    assert s.state is State.TIME_WAIT
    s.expect([Out("A", seq=2, ack=2)], at=1.1)
    assert s.app_events() == [ev.PeerClosed()]
    assert s.conn.timer("time_wait") == pytest.approx(1.1 + 240.0)
    assert s.conn.timer("rto") is None


def test_fw1_fin_acking_our_fin_never_passes_fin_wait_2(fin_wait_1: Script) -> None:
    s = fin_wait_1
    s.rx("FA", seq=1, ack=2, at=1.1)
    changes = [e for e in s.events() if isinstance(e, ev.StateChanged)]
    assert changes == [ev.StateChanged(State.FIN_WAIT_1, State.TIME_WAIT)]


def test_fw1_data_is_still_received_and_acked(fin_wait_1: Script) -> None:
    s = fin_wait_1
    s.rx("PA", seq=1, ack=2, data=b"more", at=1.1)
    assert s.state is State.FIN_WAIT_2
    assert s.conn.read() == b"more"
    t = s.conn.timer("delayed_ack")
    assert t is not None and t < 1.6
    s.fire(t)
    s.expect([Out("A", seq=2, ack=5)], at=t)


def test_fw1_data_without_ack_of_fin_is_received(fin_wait_1: Script) -> None:
    s = fin_wait_1
    s.rx("PA", seq=1, ack=1, data=b"abc", at=1.1)
    assert s.state is State.FIN_WAIT_1
    assert s.conn.read() == b"abc"
    s.fire(1.5)
    s.expect([Out("A", seq=2, ack=4)], at=1.5)


def test_fw1_orphaned_connection_resets_on_data() -> None:
    # close() (not shutdown()): the application reads no more, so new data
    # draws an RST (SHLD-3, §3.6.1; Linux does the same).
    s = make_established()
    s.conn.close(now=1.0)
    s.expect([Out("FA", seq=1, ack=1)], at=1.0)
    s.rx("PA", seq=1, ack=2, data=b"late", at=1.1)
    assert s.state is State.CLOSED
    s.expect([Out("R", seq=2)], at=1.1)


def test_fw1_fin_retransmitted_with_backoff(fin_wait_1: Script) -> None:
    s = fin_wait_1
    t = 2.0  # FIN sent at 1.0 with RTO 1 s
    for backoff in (2.0, 4.0, 8.0, 16.0):
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=1)], at=t)
        assert s.state is State.FIN_WAIT_1
        t += backoff
    s.rx("A", seq=1, ack=2, at=t - 1)
    assert s.state is State.FIN_WAIT_2


def test_fw1_fin_gives_up_after_r2() -> None:
    s = make_fin_wait_1(config=TcpConfig(r2=10.0))
    for t in (2.0, 4.0, 8.0):
        s.fire(t)
        s.expect([Out("FA", seq=1, ack=1)], at=t)
    s.events()
    s.fire(16.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("fin")]
    s.expect_nothing(at=16.0)


def test_fw1_rst_closes(fin_wait_1: Script) -> None:
    s = fin_wait_1
    s.rx("R", seq=1, at=1.1)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionReset(refused=False)]


def test_fw1_abort_sends_rst(fin_wait_1: Script) -> None:
    s = fin_wait_1
    s.conn.abort(now=1.1)
    s.expect([Out("R", seq=2)], at=1.1)
    assert s.state is State.CLOSED


# ----------------------------------------------------------------------
# FIN-WAIT-2
# ----------------------------------------------------------------------


def test_fw2_fin_goes_to_time_wait_and_is_acked(fin_wait_2: Script) -> None:
    s = fin_wait_2
    s.rx("FA", seq=1, ack=2, at=5.0)
    assert s.state is State.TIME_WAIT
    s.expect([Out("A", seq=2, ack=2)], at=5.0)
    assert s.app_events() == [ev.PeerClosed()]
    assert s.conn.timer("time_wait") == pytest.approx(5.0 + 240.0)


def test_fw2_fin_with_data(fin_wait_2: Script) -> None:
    s = fin_wait_2
    s.rx("FPA", seq=1, ack=2, data=b"tail", at=5.0)
    assert s.state is State.TIME_WAIT
    s.expect([Out("A", seq=2, ack=6)], at=5.0)
    assert s.conn.read() == b"tail"


def test_fw2_fin_after_a_hole_waits(fin_wait_2: Script) -> None:
    s = fin_wait_2
    s.rx("FA", seq=4, ack=2, data=b"def", at=5.0)
    s.expect([Out("A", seq=2, ack=1)], at=5.0)
    assert s.state is State.FIN_WAIT_2
    s.rx("A", seq=1, ack=2, data=b"abc", at=5.1)
    assert s.state is State.TIME_WAIT
    s.expect([Out("A", seq=2, ack=8)], at=5.1)
    assert s.conn.read() == b"abcdef"


def test_fw2_data_is_still_received(fin_wait_2: Script) -> None:
    s = fin_wait_2
    for i in range(3):
        s.rx("PA", seq=1 + 10 * i, ack=2, data=b"0123456789", at=2.0 + i)
        s.fire(2.0 + i + 0.3)
        s.expect([Out("A", seq=2, ack=11 + 10 * i)], at=2.0 + i + 0.3)
    assert s.conn.read() == b"0123456789" * 3
    assert s.state is State.FIN_WAIT_2


def test_fw2_held_forever_while_the_application_holds_it(fin_wait_2: Script) -> None:
    s = fin_wait_2
    assert s.conn.next_timer() is None
    s.fire(100_000.0)
    s.expect_nothing(at=100_000.0)
    assert s.state is State.FIN_WAIT_2
    s.rx("FA", seq=1, ack=2, at=100_001.0)  # the peer finally closes
    assert s.state is State.TIME_WAIT


def test_fw2_orphan_times_out_when_closed_in_fin_wait_2(fin_wait_2: Script) -> None:
    s = fin_wait_2
    s.conn.close(now=3.0)  # the application lets go
    assert s.conn.timer("fin_wait_2") == pytest.approx(63.0)  # default 60 s (Linux)
    s.fire(62.9)
    assert s.state is State.FIN_WAIT_2
    s.fire(63.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("fin-wait-2")]
    s.expect_nothing(at=63.0)


def test_fw2_orphan_times_out_when_closed_before_fin_wait_2() -> None:
    s = make_established(config=TcpConfig(fin_wait_2_timeout=5.0))
    s.conn.close(now=1.0)
    s.expect([Out("FA", seq=1, ack=1)], at=1.0)
    assert s.conn.timer("fin_wait_2") is None
    s.rx("A", seq=1, ack=2, at=1.5)
    assert s.state is State.FIN_WAIT_2
    assert s.conn.timer("fin_wait_2") == pytest.approx(6.5)
    s.fire(6.5)
    assert s.state is State.CLOSED


def test_fw2_orphan_waits_forever_without_timeout() -> None:
    s = make_fin_wait_2(config=TcpConfig(fin_wait_2_timeout=None))
    s.conn.close(now=2.0)
    assert s.conn.next_timer() is None
    s.fire(10_000.0)
    assert s.state is State.FIN_WAIT_2


def test_fw2_orphan_fin_before_timeout_goes_to_time_wait(fin_wait_2: Script) -> None:
    s = fin_wait_2
    s.conn.close(now=2.0)
    s.rx("FA", seq=1, ack=2, at=10.0)
    assert s.state is State.TIME_WAIT
    assert s.conn.timer("fin_wait_2") is None
    assert s.conn.timer("time_wait") == pytest.approx(250.0)


def test_fw2_rst_closes(fin_wait_2: Script) -> None:
    s = fin_wait_2
    s.rx("R", seq=1, at=2.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionReset(refused=False)]


def test_fw2_abort_sends_rst(fin_wait_2: Script) -> None:
    s = fin_wait_2
    s.conn.abort(now=2.0)
    s.expect([Out("R", seq=2)], at=2.0)
