"""Receiving out of order (RFC 9293 §3.10.7.4 seventh/eighth steps, SHLD-31,
RFC 5681 §4.2).

* Many holes (20) held and reassembled, whatever the order of the repairs:
  ``test_twenty_holes_*``.
* An immediate duplicate ACK for each out-of-order segment, an immediate ACK
  when a hole fills: checked in every test with ``expect``.
* A FIN is honoured only once everything before it arrived: ``test_fin_*``.
* Data beyond the window is trimmed (§3.10.7.4 first step): ``test_window_*``.

SACK is off here (the peer offers only MSS); see ``test_mech_sack.py``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_established

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.state import State

PIECE = 100
HOLES = 20


def piece(k: int) -> bytes:
    """The peer's bytes [k*100, (k+1)*100) of its stream."""
    return bytes((k * PIECE + i) % 253 for i in range(PIECE))


def stream(n: int) -> bytes:
    return b"".join(piece(k) for k in range(n))


def delivered(s: Script) -> int:
    """Bytes reported by the pending DataReceived events (the other events must be none)."""
    events = s.app_events()
    assert all(isinstance(e, ev.DataReceived) for e in events), events
    return sum(e.length for e in events if isinstance(e, ev.DataReceived))


def send_odd_pieces(s: Script, at: float) -> float:
    """Pieces 1, 3, ..., 39 arrive (holes at 0, 2, ..., 38); each draws a dup ACK."""
    t = at
    for k in range(1, 2 * HOLES, 2):
        s.rx("A", seq=1 + k * PIECE, ack=1, data=piece(k), at=t)
        s.expect([Out("A", seq=1, ack=1, window=65535)], at=t)
        t += 0.001
    assert s.conn.readable == 0
    assert s.conn.rcv_nxt == s.irs + 1
    assert s.app_events() == []
    return t


def test_twenty_holes_repaired_from_the_left() -> None:
    s = make_established()
    t = send_odd_pieces(s, 1.0)
    for k in range(0, 2 * HOLES, 2):
        s.rx("A", seq=1 + k * PIECE, ack=1, data=piece(k), at=t)
        # The hole is filled: ACK at once, up to the next hole.
        s.expect([Out("A", seq=1, ack=1 + (k + 2) * PIECE)], at=t)
        assert delivered(s) == 2 * PIECE
        t += 0.001
    assert s.conn.read() == stream(2 * HOLES)


def test_twenty_holes_repaired_from_the_right() -> None:
    s = make_established()
    t = send_odd_pieces(s, 1.0)
    for k in range(2 * HOLES - 2, 0, -2):
        s.rx("A", seq=1 + k * PIECE, ack=1, data=piece(k), at=t)
        # Still out of order (the first hole is open): duplicate ACK at once.
        s.expect([Out("A", seq=1, ack=1)], at=t)
        t += 0.001
    assert s.conn.readable == 0
    s.rx("A", seq=1, ack=1, data=piece(0), at=t)
    s.expect([Out("A", seq=1, ack=1 + 2 * HOLES * PIECE)], at=t)
    assert delivered(s) == 2 * HOLES * PIECE
    assert s.conn.read() == stream(2 * HOLES)


def test_twenty_holes_overlapping_repairs_and_duplicates() -> None:
    s = make_established()
    t = send_odd_pieces(s, 1.0)
    # Each repair spans a hole and overlaps both neighbours (a resegmenting
    # sender): 50 bytes of the piece before, the hole, 50 bytes after.
    whole = stream(2 * HOLES)
    for k in range(2 * HOLES - 2, -1, -2):
        lo = max(0, k * PIECE - 50)
        hi = (k + 1) * PIECE + 50
        s.rx("A", seq=1 + lo, ack=1, data=whole[lo:hi], at=t)
        acked = 1 + 2 * HOLES * PIECE if k == 0 else 1
        s.expect([Out("A", seq=1, ack=acked)], at=t)
        t += 0.001
    # An old duplicate afterwards: ACKed at once, nothing delivered again.
    s.rx("A", seq=1 + 5 * PIECE, ack=1, data=piece(5), at=t)
    s.expect([Out("A", seq=1, ack=1 + 2 * HOLES * PIECE)], at=t)
    assert s.conn.read() == whole


def test_in_order_data_after_reassembly_is_delayed_acked_again() -> None:
    s = make_established()
    s.rx("A", seq=101, ack=1, data=piece(1), at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    s.rx("A", seq=1, ack=1, data=piece(0), at=1.1)
    s.expect([Out("A", seq=1, ack=201)], at=1.1)
    s.rx("A", seq=201, ack=1, data=piece(2), at=1.2)
    s.expect_nothing(at=1.2)  # in order, no hole: delayed
    assert s.conn.timer("delayed_ack") == pytest.approx(1.4)


def test_fin_beyond_a_hole_waits_for_it() -> None:
    s = make_established()
    s.rx("FA", seq=301, ack=1, data=piece(3), at=1.0)  # data and FIN, after holes
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    assert s.state is State.ESTABLISHED
    s.rx("A", seq=201, ack=1, data=piece(2), at=1.1)
    s.expect([Out("A", seq=1, ack=1)], at=1.1)
    assert s.state is State.ESTABLISHED
    s.rx("A", seq=1, ack=1, data=stream(2), at=1.2)
    # Everything up to the FIN is here: ACK covers the FIN (+1), CLOSE-WAIT.
    s.expect([Out("A", seq=1, ack=402)], at=1.2)
    assert s.state is State.CLOSE_WAIT
    events = s.app_events()
    assert events[-1] == ev.PeerClosed()
    assert sum(e.length for e in events if isinstance(e, ev.DataReceived)) == 400
    assert s.conn.read() == stream(4)
    assert s.conn.at_eof


def test_fin_alone_beyond_a_hole_waits_for_it() -> None:
    s = make_established()
    s.rx("FA", seq=201, ack=1, at=1.0)  # a bare FIN at 201: 200 bytes missing
    # An out-of-order segment, if only a FIN: duplicate ACK at once (RFC 5681 §4.2).
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    assert s.state is State.ESTABLISHED
    s.rx("A", seq=1, ack=1, data=stream(2), at=1.1)
    s.expect([Out("A", seq=1, ack=202)], at=1.1)
    assert s.state is State.CLOSE_WAIT


def test_window_data_beyond_the_right_edge_is_trimmed() -> None:
    s = make_established(config=TcpConfig(recv_buffer=1000))
    # A segment starting inside the window and ending beyond it keeps its head.
    s.rx("A", seq=801, ack=1, data=stream(4), at=1.0)  # 801..1200
    s.expect([Out("A", seq=1, ack=1, window=1000)], at=1.0)
    s.rx("A", seq=1, ack=1, data=stream(8), at=1.1)  # 1..800
    # 801..1000 was kept, 1001..1200 trimmed: RCV.NXT = 1001, window closed.
    s.expect([Out("A", seq=1, ack=1001, window=0)], at=1.1)
    assert s.conn.read() == stream(8) + stream(2)


def test_window_segment_wholly_beyond_the_window_is_dropped_with_an_ack() -> None:
    s = make_established(config=TcpConfig(recv_buffer=1000))
    s.rx("A", seq=1001, ack=1, data=piece(0), at=1.0)
    s.expect([Out("A", seq=1, ack=1, window=1000)], at=1.0)
    s.rx("A", seq=1, ack=1, data=piece(0), at=1.1)
    s.expect_nothing(at=1.1)  # nothing was held: an ordinary delayed ACK
    assert s.conn.read() == piece(0)


def test_window_fin_beyond_the_window_is_not_honoured() -> None:
    s = make_established(config=TcpConfig(recv_buffer=1000))
    s.rx("FA", seq=1, ack=1, data=stream(10) + b"!", at=1.0)  # 1001 bytes + FIN
    s.fire(1.2)  # (the ACK of the 1000 bytes taken is delayed)
    s.expect([Out("A", seq=1, ack=1001, window=0)], at=1.2)
    assert s.state is State.ESTABLISHED  # the FIN lay beyond the window
    assert s.conn.read() == stream(10)


def test_partly_filled_gap_is_acked_at_once() -> None:
    # RFC 5681 §4.2: an ACK at once for a segment that fills "all or part of" a gap.
    s = make_established()
    s.rx("A", seq=301, ack=1, data=piece(3), at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    s.rx("A", seq=1, ack=1, data=piece(0), at=1.1)  # 1..100 of the 1..300 gap
    s.expect([Out("A", seq=1, ack=101)], at=1.1)
    s.rx("A", seq=201, ack=1, data=piece(2), at=1.2)  # the far end of the gap
    s.expect([Out("A", seq=1, ack=101)], at=1.2)
    s.rx("A", seq=101, ack=1, data=piece(1), at=1.3)  # the last piece: all joins up
    s.expect([Out("A", seq=1, ack=401)], at=1.3)
    assert s.conn.read() == stream(4)
