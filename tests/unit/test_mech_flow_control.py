"""Flow control: buffers, windows, zero-window probing, SWS, Nagle, delayed ACK, PSH.

RFC 9293 §3.8.6 (MUST-34, SHLD-14..17), §3.8.6.1 (MUST-35..37, SHLD-29/30),
§3.8.6.2 (MUST-38, MUST-39), §3.7.4 (Nagle, SHLD-7, MUST-17), §3.8.6.3
(MUST-40, SHLD-18/19), §3.9.1.2 (MUST-61).

* Send and receive buffer sizes: ``test_send_buffer_*``, ``test_recv_buffer_*``.
* Window updates when the application reads (``read()``: the window must have
  grown by an SWS step and at least doubled): ``test_window_update_*``.
* A peer shrinking its window: ``test_shrinking_window_*``.
* Zero window: ``test_zero_window_*``.
* Sender and receiver SWS avoidance: ``test_sender_sws_*``,
  ``test_receiver_sws_*``.
* Nagle and no-delay: ``test_nagle_*``.
* Delayed ACKs: ``test_delayed_ack_*``.
* PSH: ``test_psh_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_established, make_syn_sent

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.state import State
from tcpstack.wire import Mss, Timestamps


def blob(n: int, start: int = 0) -> bytes:
    return bytes((start + i) % 251 for i in range(n))


# ----------------------------------------------------------------------
# Buffers
# ----------------------------------------------------------------------


def test_send_buffer_limits_what_send_accepts() -> None:
    s = make_established(config=TcpConfig(send_buffer=3000, nagle=False))
    assert s.conn.send(blob(5000), now=1.0) == 3000
    assert s.conn.send_space == 0
    assert s.conn.send(b"more", now=1.0) == 0
    s.expect(
        [Out("A", seq=1, ack=1, len=1460), Out("A", seq=1461, ack=1, len=1460),
         Out("PA", seq=2921, ack=1, len=80)],
        at=1.0,
    )
    assert s.app_events() == []
    s.rx("A", seq=1, ack=1461, at=1.1)  # acknowledged bytes free the buffer
    assert s.app_events() == [ev.SendBufferAvailable(1460)]
    assert s.conn.send(blob(2000), now=1.2) == 1460


def test_recv_buffer_is_the_window_and_fills_to_zero() -> None:
    s = make_established(config=TcpConfig(recv_buffer=4000))
    s.rx("A", seq=1, ack=1, data=blob(1460), at=1.0)
    s.expect_nothing(at=1.0)
    s.rx("A", seq=1461, ack=1, data=blob(1460), at=1.01)
    s.expect([Out("A", seq=1, ack=2921, window=1080)], at=1.01)
    s.rx("A", seq=2921, ack=1, data=blob(1080), at=1.02)
    s.fire(1.22)
    s.expect([Out("A", seq=1, ack=4001, window=0)], at=1.22)
    # Nothing more fits: a further segment is not acceptable (ACK, drop).
    s.rx("A", seq=4001, ack=1, data=blob(100), at=1.3)
    s.expect([Out("A", seq=1, ack=4001, window=0)], at=1.3)
    assert s.conn.readable == 4000


# ----------------------------------------------------------------------
# Window updates on read() (MUST-39 step, "at least doubled")
# ----------------------------------------------------------------------


def fill(s: Script, n: int, *, piece: int = 1000, at: float = 1.0) -> None:
    """The peer sends ``n`` bytes in ``piece``-byte segments; we ACK as we must."""
    seq = 1
    while seq <= n:
        size = min(piece, n - seq + 1)
        s.rx("A", seq=seq, ack=1, data=blob(size), at=at)
        s.conn.packets_to_send(at)
        seq += size
    s.fire(at + 0.2)
    s.conn.packets_to_send(at + 0.2)


def test_window_update_after_a_zero_window_once_an_sws_step_is_free() -> None:
    s = make_established(config=TcpConfig(recv_buffer=4000))
    fill(s, 4000)
    assert s.conn.rcv_wnd == 0
    # SWS step = min(4000 / 2, MSS 1460) = 1460.
    s.conn.read(1000)
    s.expect_nothing(at=2.0)
    s.conn.read(500)  # 1500 free >= 1460, and more than twice the 0 offered
    s.expect([Out("A", seq=1, ack=4001, window=1500)], at=2.1)
    s.conn.read(1000)  # 1000 more: less than a step
    s.expect_nothing(at=2.2)
    s.conn.read()  # 2500 more: a step, and the window (1500) at least doubles
    s.expect([Out("A", seq=1, ack=4001, window=4000)], at=2.3)


def test_window_update_waits_until_the_window_doubles() -> None:
    s = make_established(config=TcpConfig(recv_buffer=10000))
    fill(s, 6000, piece=1500)
    assert s.conn.rcv_wnd == 4000
    s.conn.read(2000)  # +2000: an SWS step, but 6000 < 2 * 4000
    s.expect_nothing(at=2.0)
    assert s.conn.rcv_wnd == 4000
    s.conn.read(2000)  # +4000 over the 4000 offered: doubled
    s.expect([Out("A", seq=1, ack=6001, window=8000)], at=2.1)


def test_window_update_not_sent_after_the_peer_closed() -> None:
    s = make_established(config=TcpConfig(recv_buffer=4000))
    s.rx("FA", seq=1, ack=1, data=blob(4000), at=1.0)
    s.expect([Out("A", seq=1, ack=4002, window=0)], at=1.0)
    s.conn.read()
    s.expect_nothing(at=1.1)  # the peer sends no more: no update needed


# ----------------------------------------------------------------------
# The peer shrinks its window (MUST-34, SHLD-15, SHLD-16)
# ----------------------------------------------------------------------


def test_shrinking_window_no_new_data_beyond_the_edge_retransmissions_inside() -> None:
    s = make_established(peer_mss=1000)
    s.conn.send(blob(10000), now=1.0)
    s.expect([Out("A", seq=k, ack=1, len=1000) for k in (1, 1001, 2001, 3001)], at=1.0)
    # The peer takes back window: right edge 1001 + 1500 = 2501 < SND.NXT 4001.
    s.rx("A", seq=1, ack=1001, window=1500, at=1.1)
    assert s.conn.snd_wnd == 1500
    s.expect_nothing(at=1.1)  # tolerated (MUST-34), nothing new sent (SHLD-15)
    # Timeout: the retransmission stays inside SND.UNA..SND.UNA+SND.WND.
    assert s.conn.next_timer() == pytest.approx(2.1)
    s.fire(2.1)
    s.expect([Out("A", seq=1001, ack=1, len=1000)], at=2.1)
    s.rx("A", seq=1, ack=2001, window=1500, at=2.2)  # edge 3501
    s.expect([Out("A", seq=2001, ack=1, len=1000), Out("A", seq=3001, ack=1, len=500)], at=2.2)
    s.rx("A", seq=1, ack=3501, window=1500, at=2.3)  # edge 5001
    # One full segment, old and new data (3501..4500), ends inside the edge;
    # the 500 bytes left before the edge would be a silly segment (MUST-38).
    s.expect([Out("A", seq=3501, ack=1, len=1000)], at=2.3)
    assert s.state is State.ESTABLISHED


# ----------------------------------------------------------------------
# Zero window (MUST-35, MUST-36, MUST-37, SHLD-29, SHLD-30)
# ----------------------------------------------------------------------


def probe_times(start: float, rto: float, until: float, cap: float = 60.0) -> list[float]:
    out, t, gap = [], start, rto
    while t + gap <= until:
        t += gap
        out.append(t)
        gap = min(2 * gap, cap)
    return out


def test_zero_window_probed_for_two_hours_then_data_flows() -> None:
    s = make_established()
    s.rx("A", seq=1, ack=1, window=0, at=1.0)
    assert s.conn.send(blob(100), now=1.0) == 100
    s.expect_nothing(at=1.0)
    # First probe one RTO (1 s) after, then 2, 4, ... 60, 60, ... (SHLD-29/30).
    times = probe_times(1.0, 1.0, 2 * 3600.0)
    assert times[:8] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 124.0, 184.0]
    for t in times:
        assert s.conn.next_timer() == pytest.approx(t)
        s.fire(t)
        # The probe: <SEQ=SND.UNA-1><ACK=RCV.NXT>, no data: the peer must answer.
        s.expect([Out("A", seq=0, ack=1, len=0)], at=t)
        s.rx("A", seq=1, ack=1, window=0, at=t + 0.05)  # still closed
        s.expect_nothing(at=t + 0.05)
    # Two hours later the connection is still open (MUST-37) ...
    assert s.state is State.ESTABLISHED
    assert s.app_events() == []
    # ... and the window opens: the data leaves at once.
    s.rx("A", seq=1, ack=1, window=1000, at=7300.0)
    s.expect([Out("PA", seq=1, ack=1, len=100)], at=7300.0)
    assert s.conn.timer("persist") is None
    s.rx("A", seq=1, ack=101, at=7300.1)
    assert s.conn.next_timer() is None


def test_zero_window_with_data_outstanding_is_not_a_timeout() -> None:
    # SHLD-17: data beyond a window that closed stays unacknowledged: no R2.
    s = make_established(peer_mss=1000)
    s.conn.send(blob(2000), now=1.0)
    s.expect([Out("A", seq=1, ack=1, len=1000), Out("PA", seq=1001, ack=1, len=1000)], at=1.0)
    s.rx("A", seq=1, ack=1001, window=0, at=1.1)  # 1001..2000 was dropped: no room
    t = 1.1
    while t < 2 * 3600.0:
        nxt = s.conn.next_timer()
        assert nxt is not None
        t = nxt
        s.fire(t)
        for seg in s.conn.packets_to_send(t):
            assert len(seg.payload) == 0 or seg.seq == s.iss + 1001  # probes or the old data
        s.rx("A", seq=1, ack=1001, window=0, at=t + 0.05)
        assert s.state is State.ESTABLISHED, f"gave up at {t}"
    assert ev.ConnectionTimedOut("data") not in s.app_events()
    # The window opens: the outstanding data is resent at once, and if that
    # copy is lost too, the retransmission timer resends it again.
    s.rx("A", seq=1, ack=1001, window=4000, at=t + 1)
    s.expect([Out("PA", seq=1001, ack=1, len=1000)], at=t + 1)
    rto_at = s.conn.timer("rto")
    assert rto_at is not None
    s.fire(rto_at)
    assert s.state is State.ESTABLISHED
    s.expect([Out("PA", seq=1001, ack=1, len=1000)], at=rto_at)


def test_zero_window_probe_answered_by_ack_of_data_continues() -> None:
    s = make_established()
    s.rx("A", seq=1, ack=1, window=0, at=1.0)
    s.conn.send(blob(10), now=1.0)
    s.expect_nothing(at=1.0)
    assert s.conn.next_timer() == pytest.approx(2.0)
    s.fire(2.0)
    s.expect([Out("A", seq=0, ack=1)], at=2.0)
    s.rx("A", seq=1, ack=1, window=65535, at=2.1)
    s.expect([Out("PA", seq=1, ack=1, len=10)], at=2.1)


# ----------------------------------------------------------------------
# Sender SWS avoidance (MUST-38)
# ----------------------------------------------------------------------


def test_sender_sws_waits_for_half_the_max_window_or_the_override() -> None:
    s = make_established(window=2000)  # max(SND.WND) = 2000: Fs * 2000 = 1000
    s.conn.send(blob(5000), now=1.0)
    s.expect([Out("A", seq=1, ack=1, len=1460)], at=1.0)  # 540 more would be silly
    s.rx("A", seq=1, ack=1461, window=2000, at=1.1)
    s.expect([Out("A", seq=1461, ack=1, len=1460)], at=1.1)
    s.rx("A", seq=1, ack=2921, window=700, at=1.2)
    s.expect_nothing(at=1.2)  # 700 < 1000 and not the end of the data: wait
    # A window update to 1000 (= Fs * max window) lets a segment out.
    s.rx("A", seq=1, ack=2921, window=1000, at=1.3)
    s.expect([Out("A", seq=2921, ack=1, len=1000)], at=1.3)
    s.rx("A", seq=1, ack=3921, window=2000, at=1.4)
    # The last 1080 bytes: all the data fits (pushed) -> sent, with PSH.
    s.expect([Out("PA", seq=3921, ack=1, len=1080)], at=1.4)


def test_sender_sws_override_timer_sends_the_small_segment() -> None:
    s = make_established(window=2000)
    s.conn.send(blob(5000), now=1.0)
    s.expect([Out("A", seq=1, ack=1, len=1460)], at=1.0)
    s.rx("A", seq=1, ack=1461, window=700, at=1.1)
    s.expect_nothing(at=1.1)
    at = s.conn.timer("persist")
    assert at == pytest.approx(1.1 + s.conn.rto)  # the override: one RTO (1 s)
    s.fire(at)
    s.expect([Out("A", seq=1461, ack=1, len=700)], at=at)


# ----------------------------------------------------------------------
# Receiver SWS avoidance (MUST-39)
# ----------------------------------------------------------------------


def test_receiver_sws_window_stays_closed_until_a_full_step() -> None:
    s = make_established(config=TcpConfig(recv_buffer=4000))
    fill(s, 4000)
    s.conn.read(1000)  # 1000 free: less than min(2000, 1460)
    # A zero-window probe (old sequence number) draws an ACK: window still 0.
    s.rx("A", seq=4000, ack=1, at=2.0)
    s.expect([Out("A", seq=1, ack=4001, window=0)], at=2.0)
    # A one-byte probe at RCV.NXT is acceptable but trimmed: window still 0.
    s.rx("A", seq=4001, ack=1, data=b"!", at=2.1)
    s.expect([Out("A", seq=1, ack=4001, window=0)], at=2.1)
    s.conn.read(460)  # 1460 free: one step
    s.expect([Out("A", seq=1, ack=4001, window=1460)], at=2.2)


# ----------------------------------------------------------------------
# Nagle (SHLD-7) and the per-connection switch (MUST-17)
# ----------------------------------------------------------------------


def test_nagle_holds_small_segments_while_data_is_unacknowledged() -> None:
    s = make_established()
    s.conn.send(b"a" * 10, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=10)], at=1.0)
    s.conn.send(b"b" * 10, now=1.01)
    s.expect_nothing(at=1.01)
    s.conn.send(b"c" * 10, now=1.02)
    s.expect_nothing(at=1.02)
    s.rx("A", seq=1, ack=11, at=1.1)
    s.expect([Out("PA", seq=11, ack=1, len=20)], at=1.1)  # coalesced (MAY-16)


def test_nagle_never_holds_full_segments() -> None:
    s = make_established()
    s.conn.send(b"a" * 10, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=10)], at=1.0)
    s.conn.send(blob(1500), now=1.01)
    s.expect([Out("A", seq=11, ack=1, len=1460)], at=1.01)  # the 40-byte tail waits


def test_nagle_switched_off_per_connection() -> None:
    s = make_established()
    assert s.conn.config.nagle  # on by default (SHLD-7)
    s.conn.set_nodelay()
    s.conn.send(b"a" * 10, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=10)], at=1.0)
    s.conn.send(b"b" * 10, now=1.01)
    s.expect([Out("PA", seq=11, ack=1, len=10)], at=1.01)
    s.conn.set_nodelay(False)
    s.conn.send(b"c" * 10, now=1.02)
    s.expect_nothing(at=1.02)


def test_nagle_off_in_the_config() -> None:
    s = make_established(config=TcpConfig(nagle=False))
    s.conn.send(b"a" * 10, now=1.0)
    s.conn.packets_to_send(1.0)
    s.conn.send(b"b" * 10, now=1.01)
    s.expect([Out("PA", seq=11, ack=1, len=10)], at=1.01)


# ----------------------------------------------------------------------
# Delayed ACKs (MUST-40, SHLD-18, SHLD-19)
# ----------------------------------------------------------------------


def test_delayed_ack_timer_value_and_no_restart() -> None:
    s = make_established()
    s.rx("PA", seq=1, ack=1, data=b"x" * 10, at=1.0)
    assert s.conn.timer("delayed_ack") == pytest.approx(1.2)  # 200 ms < 500 ms
    s.rx("PA", seq=11, ack=1, data=b"y" * 10, at=1.1)
    assert s.conn.timer("delayed_ack") == pytest.approx(1.2)  # not pushed back
    s.fire(1.19)
    s.expect_nothing(at=1.19)
    s.fire(1.2)
    s.expect([Out("A", seq=1, ack=21)], at=1.2)


def test_delayed_ack_linux_profile_40_ms() -> None:
    s = make_established(config=TcpConfig.linux())
    s.rx("PA", seq=1, ack=1, data=b"x" * 10, at=1.0)
    assert s.conn.timer("delayed_ack") == pytest.approx(1.04)


def test_delayed_ack_must_stay_below_half_a_second() -> None:
    with pytest.raises(ValueError):
        TcpConfig(delayed_ack=0.5)
    assert TcpConfig(delayed_ack=0.49).delayed_ack == 0.49


def test_delayed_ack_every_second_full_segment() -> None:
    s = make_established()
    for i in range(6):
        s.rx("A", seq=1 + 1460 * i, ack=1, data=blob(1460), at=1.0 + 0.01 * i)
        if i % 2:
            s.expect([Out("A", seq=1, ack=1 + 1460 * (i + 1))], at=1.0 + 0.01 * i)
        else:
            s.expect_nothing(at=1.0 + 0.01 * i)


def test_delayed_ack_every_second_full_segment_with_timestamps() -> None:
    # With timestamps a full segment carries MSS - 12 = 1448 bytes (RFC 7323,
    # RFC 6691): two of them are two full-sized segments (SHLD-19).
    s = make_syn_sent()
    assert s.ts_base is not None
    s.rx("SA", seq=0, ack=1, options=(Mss(1460), Timestamps(100, s.ts_base)), at=0.1)
    s.expect([Out("A", seq=1, ack=1)], at=0.1)
    s.rx("A", seq=1, ack=1, data=blob(1448), ts=(101, s.tsval(0.1)), at=1.0)
    s.expect_nothing(at=1.0)
    s.rx("A", seq=1449, ack=1, data=blob(1448), ts=(102, s.tsval(0.1)), at=1.01)
    s.expect([Out("A", seq=1, ack=2897, options=s.ts_opt(1.01, 101))], at=1.01)


# ----------------------------------------------------------------------
# PSH (MUST-61)
# ----------------------------------------------------------------------


def test_psh_on_the_last_segment_of_a_write() -> None:
    s = make_established(config=TcpConfig(nagle=False))
    s.conn.send(blob(3000), now=1.0)
    s.expect(
        [Out("A", seq=1, ack=1, len=1460), Out("A", seq=1461, ack=1, len=1460),
         Out("PA", seq=2921, ack=1, len=80)],
        at=1.0,
    )


def test_psh_on_the_tail_nagle_held_back() -> None:
    s = make_established()
    s.conn.send(blob(3000), now=1.0)
    # Nagle keeps the 80-byte tail while full segments are unacknowledged ...
    s.expect([Out("A", seq=1, ack=1, len=1460), Out("A", seq=1461, ack=1, len=1460)], at=1.0)
    s.rx("A", seq=1, ack=2921, at=1.1)
    # ... never indefinitely (MUST-60), and it is the last: PSH (MUST-61).
    s.expect([Out("PA", seq=2921, ack=1, len=80)], at=1.1)


def test_psh_on_the_last_buffered_segment_of_coalesced_writes() -> None:
    s = make_established(config=TcpConfig(nagle=False))
    s.conn.send(blob(1000), now=1.0)
    s.conn.send(blob(1000), now=1.0)
    s.expect([Out("A", seq=1, ack=1, len=1460), Out("PA", seq=1461, ack=1, len=540)], at=1.0)
