"""ESTABLISHED: RFC 9293 §3.10.7.4, RFC 5961, delayed ACKs (§3.8.6.3).

Conformance lines (reference/conformance-scenarios.md, "ESTABLISHED"):

* In-order data delivered, delayed ACK < 0.5 s, every 2nd full segment:
  ``test_in_order_data_*``, ``test_every_second_full_segment_*``.
* Old duplicate -> immediate duplicate ACK; out-of-window -> ACK with
  RCV.NXT, dropped: ``test_old_duplicate_*``, ``test_out_of_window_*``.
* ACK below SND.UNA ignored; above SND.NXT -> ACK sent, dropped:
  ``test_ack_below_snd_una_*``, ``test_ack_above_snd_nxt_*``.
* No ACK flag -> dropped: ``test_segment_without_ack_*``.
* RST outside window dropped, exact -> CLOSED + reset, inside -> challenge
  ACK, rate-limited: ``test_rst_*``.
* SYN -> challenge ACK: ``test_syn_*``.
* FIN -> CLOSE-WAIT, ACK, end-of-stream; FIN after a hole waits:
  ``test_fin_*``.
* close() with queued data: FIN on the last data segment; abort() -> RST
  <SEQ=SND.NXT>: ``test_close_*``, ``test_abort_*``.
* Peer shrinks its window: ``test_shrunk_window_*``.
* Sequence wrap-around: ``test_wrap_around_*``.
* MUST-12 (FIN vs RST told apart): ``test_must_12_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_established

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.errors import LocalProtocolError
from tcpstack.seq import seq_add, seq_diff, seq_le
from tcpstack.state import State


def blob(n: int, start: int = 0) -> bytes:
    return bytes((start + i) % 251 for i in range(n))


# ----------------------------------------------------------------------
# Receiving data and ACK generation
# ----------------------------------------------------------------------


def test_in_order_data_is_delivered_and_ack_delayed(established: Script) -> None:
    s = established
    s.rx("PA", seq=1, ack=1, data=b"hello", at=1.0)
    assert s.app_events() == [ev.DataReceived(5)]
    assert s.conn.read() == b"hello"
    s.expect_nothing(at=1.0)  # one small segment: the ACK is delayed ...
    deadline = s.conn.timer("delayed_ack")
    assert deadline is not None and 1.0 < deadline < 1.5  # ... by less than 0.5 s (MUST-40)
    s.fire(deadline - 0.01)
    s.expect_nothing(at=deadline - 0.01)
    s.fire(deadline)
    s.expect([Out("A", seq=1, ack=6)], at=deadline)
    assert s.conn.timer("delayed_ack") is None


def test_delayed_ack_rides_on_outgoing_data(established: Script) -> None:
    s = established
    s.rx("PA", seq=1, ack=1, data=b"ping", at=1.0)
    s.conn.send(b"pong", now=1.05)
    s.expect([Out("PA", seq=1, ack=5, len=4)], at=1.05)
    assert s.conn.timer("delayed_ack") is None


def test_every_second_full_segment_is_acked_at_once(established: Script) -> None:
    s = established
    s.rx("A", seq=1, ack=1, data=blob(1460), at=1.0)
    s.expect_nothing(at=1.0)
    s.rx("A", seq=1461, ack=1, data=blob(1460), at=1.01)
    s.expect([Out("A", seq=1, ack=2921)], at=1.01)  # SHLD-19
    s.rx("A", seq=2921, ack=1, data=blob(1460), at=1.02)
    s.expect_nothing(at=1.02)
    s.rx("A", seq=4381, ack=1, data=blob(1460), at=1.03)
    s.expect([Out("A", seq=1, ack=5841)], at=1.03)
    assert len(s.conn.read()) == 4 * 1460


def test_delayed_ack_can_be_disabled() -> None:
    s = make_established(config=TcpConfig(delayed_ack=0))
    s.rx("PA", seq=1, ack=1, data=b"x", at=1.0)
    s.expect([Out("A", seq=1, ack=2)], at=1.0)


def test_old_duplicate_data_draws_immediate_duplicate_ack(established: Script) -> None:
    s = established
    s.rx("PA", seq=1, ack=1, data=b"0123456789", at=1.0)
    s.fire(1.2)
    s.expect([Out("A", seq=1, ack=11)], at=1.2)
    s.events()
    s.rx("PA", seq=1, ack=1, data=b"0123456789", at=2.0)  # our ACK was lost
    s.expect([Out("A", seq=1, ack=11)], at=2.0)  # at once, no delay
    assert s.app_events() == []
    assert s.conn.read() == b"0123456789"


def test_partly_old_segment_delivers_only_the_new_part(established: Script) -> None:
    s = established
    s.rx("PA", seq=1, ack=1, data=b"abcdef", at=1.0)
    s.rx("PA", seq=4, ack=1, data=b"defGHI", at=1.1)
    assert s.conn.read() == b"abcdefGHI"


@pytest.mark.parametrize("seq", [65535 + 1, 200_000, -5, -100_000])
def test_out_of_window_segment_draws_ack_and_is_dropped(established: Script, seq: int) -> None:
    # §3.10.7.4 first: "If an incoming segment is not acceptable, an
    # acknowledgment should be sent in reply <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"
    s = established
    s.rx("PA", seq=seq, ack=1, data=b"zzzz", at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    assert s.conn.readable == 0
    assert s.app_events() == []
    assert s.conn.rcv_nxt == s.irs + 1


def test_out_of_order_data_draws_duplicate_ack_and_is_kept(established: Script) -> None:
    s = established
    s.rx("PA", seq=6, ack=1, data=b"world", at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)  # duplicate ACK at once
    assert s.conn.readable == 0
    s.rx("PA", seq=1, ack=1, data=b"hello", at=1.1)
    s.expect([Out("A", seq=1, ack=11)], at=1.1)  # hole filled: ACK at once
    assert s.conn.read() == b"helloworld"


def test_data_beyond_the_window_is_trimmed() -> None:
    s = make_established(config=TcpConfig(recv_buffer=1000))
    s.rx("A", seq=1, ack=1, data=blob(1200), at=1.0)
    assert s.conn.read() == blob(1000)
    assert s.conn.rcv_nxt == s.irs + 1001


# ----------------------------------------------------------------------
# ACK processing
# ----------------------------------------------------------------------


def send_and_ack(s: Script, n: int, acked: int, *, at: float) -> None:
    """We send ``n`` bytes at ``at``; the peer acknowledges ``acked`` of them."""
    assert s.conn.send(blob(n), now=at) == n
    segs = s.conn.packets_to_send(at)
    assert sum(len(x.payload) for x in segs) == n
    s.rx("A", seq=1, ack=1 + acked, at=at + 0.1)


def test_ack_advances_snd_una_and_frees_the_buffer(established: Script) -> None:
    s = established
    send_and_ack(s, 1000, 400, at=1.0)
    assert s.conn.snd_una == s.iss + 401
    assert s.conn.in_flight == 600
    assert s.conn.timer("rto") is not None
    s.rx("A", seq=1, ack=1001, at=1.2)
    assert s.conn.in_flight == 0
    assert s.conn.timer("rto") is None


def test_ack_below_snd_una_is_ignored(established: Script) -> None:
    # §3.10.7.4 fifth: "If the ACK is a duplicate (SEG.ACK < SND.UNA), it can be ignored."
    s = established
    send_and_ack(s, 1000, 500, at=1.0)
    wnd = s.conn.snd_wnd
    s.rx("A", seq=1, ack=200, window=10, at=1.2)
    s.expect_nothing(at=1.2)
    assert s.conn.snd_una == s.iss + 501
    assert s.conn.snd_wnd == wnd  # an old ACK does not update the window


def test_ack_below_snd_una_still_delivers_its_text(established: Script) -> None:
    s = established
    send_and_ack(s, 1000, 500, at=1.0)
    s.rx("PA", seq=1, ack=200, data=b"text", at=1.2)
    assert s.conn.read() == b"text"


def test_ack_above_snd_nxt_draws_ack_and_is_dropped(established: Script) -> None:
    # "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send
    # an ACK, drop the segment, and return."
    s = established
    send_and_ack(s, 100, 0, at=1.0)
    s.rx("PA", seq=1, ack=500, data=b"ignored", at=1.2)
    s.expect([Out("A", seq=101, ack=1)], at=1.2)
    assert s.conn.readable == 0
    assert s.conn.snd_una == s.iss + 1


def test_ack_far_below_snd_una_draws_ack(established: Script) -> None:
    # RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND -> ACK and drop.
    s = established
    send_and_ack(s, 100, 100, at=1.0)
    s.rx("PA", seq=1, ack=-200_000, data=b"ignored", at=1.2)
    s.expect([Out("A", seq=101, ack=1)], at=1.2)
    assert s.conn.readable == 0


@pytest.mark.parametrize("data", [b"", b"payload"])
def test_segment_without_ack_is_dropped(established: Script, data: bytes) -> None:
    # §3.10.7.4 fifth: "if the ACK bit is off, drop the segment and return".
    s = established
    s.rx("P" if data else "", seq=1, ack=1, data=data, at=1.0)
    s.expect_nothing(at=1.0)
    assert s.conn.readable == 0
    assert s.state is State.ESTABLISHED


def test_fin_without_ack_is_dropped(established: Script) -> None:
    s = established
    s.rx("F", seq=1, at=1.0)
    s.expect_nothing(at=1.0)
    assert s.state is State.ESTABLISHED


def test_window_update_from_newer_segment(established: Script) -> None:
    s = established
    s.rx("A", seq=1, ack=1, window=100, at=1.0)
    assert s.conn.snd_wnd == 100
    s.rx("A", seq=1, ack=1, window=3000, at=1.1)
    assert s.conn.snd_wnd == 3000


# ----------------------------------------------------------------------
# RST (RFC 5961 §3)
# ----------------------------------------------------------------------


@pytest.mark.parametrize("seq", [65535 + 1, 100_000, 0, -1000])
def test_rst_outside_window_is_dropped(established: Script, seq: int) -> None:
    s = established
    s.rx("R", seq=seq, at=1.0)
    s.expect_nothing(at=1.0)
    assert s.state is State.ESTABLISHED
    assert s.app_events() == []


@pytest.mark.parametrize("letters", ["R", "RA"])
def test_rst_exact_closes_with_reset(established: Script, letters: str) -> None:
    s = established
    s.conn.send(b"pending", now=1.0)
    s.rx(letters, seq=1, ack=1, at=1.0)
    assert s.state is State.CLOSED
    assert s.events() == [
        ev.StateChanged(State.ESTABLISHED, State.CLOSED),
        ev.ConnectionReset(refused=False),
    ]
    s.expect_nothing(at=1.0)  # an RST is never answered; pending data dropped
    assert s.conn.next_timer() is None
    with pytest.raises(LocalProtocolError):
        s.conn.send(b"more")


def test_rst_exact_with_zero_window_still_closes() -> None:
    # MUST-66: RST processed even when the receive window is zero.
    s = make_established(config=TcpConfig(recv_buffer=10))
    s.rx("PA", seq=1, ack=1, data=blob(10), at=1.0)
    assert s.conn.rcv_wnd == 0
    s.rx("R", seq=11, at=1.1)
    assert s.state is State.CLOSED


@pytest.mark.parametrize("seq", [2, 500, 65535])
def test_rst_in_window_not_exact_draws_challenge_ack(established: Script, seq: int) -> None:
    s = established
    s.rx("R", seq=seq, at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    assert s.state is State.ESTABLISHED
    assert s.app_events() == []


def test_rst_challenge_ack_is_rate_limited() -> None:
    s = make_established(config=TcpConfig(challenge_ack_limit=3))
    for i in range(6):
        s.rx("R", seq=100 + i, at=1.0 + i * 0.1)
    s.expect([Out("A", seq=1, ack=1)] * 3, at=1.5)  # RFC 5961 §7: at most 3 per second
    s.rx("R", seq=200, at=1.9)
    s.expect_nothing(at=1.9)
    s.rx("R", seq=201, at=2.0)  # a new second
    s.expect([Out("A", seq=1, ack=1)], at=2.0)
    assert s.state is State.ESTABLISHED


def test_challenge_ack_default_limit(established: Script) -> None:
    s = established
    for i in range(15):
        s.rx("R", seq=100 + i, at=1.0)
    assert len(s.conn.packets_to_send(1.0)) == 10


def test_rst_after_challenge_with_exact_seq_closes(established: Script) -> None:
    s = established
    s.rx("R", seq=300, at=1.0)
    [ack] = s.expect([Out("A", seq=1, ack=1)], at=1.0)
    s.rx("R", seq=ack.ack - s.irs, at=1.1)  # the legitimate peer answers with RCV.NXT
    assert s.state is State.CLOSED


# ----------------------------------------------------------------------
# SYN (RFC 5961 §4)
# ----------------------------------------------------------------------


@pytest.mark.parametrize("letters", ["S", "SA"])
@pytest.mark.parametrize("seq", [0, 1, 1000])
def test_syn_draws_challenge_ack(established: Script, letters: str, seq: int) -> None:
    s = established
    s.rx(letters, seq=seq, ack=1, at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    assert s.state is State.ESTABLISHED
    assert s.app_events() == []


def test_syn_with_data_does_not_deliver(established: Script) -> None:
    s = established
    s.rx("SA", seq=1, ack=1, data=b"evil", at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)
    assert s.conn.readable == 0


# ----------------------------------------------------------------------
# FIN
# ----------------------------------------------------------------------


def test_fin_goes_to_close_wait_and_reports_end_of_stream(established: Script) -> None:
    s = established
    s.rx("FA", seq=1, ack=1, at=1.0)
    assert s.state is State.CLOSE_WAIT
    assert s.conn.rcv_nxt == s.irs + 2  # RCV.NXT advanced over the FIN
    s.expect([Out("A", seq=1, ack=2)], at=1.0)  # FIN acknowledged at once
    assert s.events() == [ev.PeerClosed(), ev.StateChanged(State.ESTABLISHED, State.CLOSE_WAIT)]
    assert s.conn.at_eof
    assert s.conn.read() == b""


def test_fin_with_data(established: Script) -> None:
    s = established
    s.rx("FPA", seq=1, ack=1, data=b"bye", at=1.0)
    assert s.state is State.CLOSE_WAIT
    s.expect([Out("A", seq=1, ack=5)], at=1.0)
    assert s.app_events() == [ev.DataReceived(3), ev.PeerClosed()]
    assert not s.conn.at_eof  # data first ...
    assert s.conn.read() == b"bye"
    assert s.conn.at_eof  # ... then end-of-stream


def test_fin_after_a_hole_waits_for_the_hole(established: Script) -> None:
    s = established
    s.rx("FA", seq=6, ack=1, data=b"world", at=1.0)
    s.expect([Out("A", seq=1, ack=1)], at=1.0)  # duplicate ACK: the FIN is not in order
    assert s.state is State.ESTABLISHED
    assert s.app_events() == []
    s.rx("A", seq=1, ack=1, data=b"hello", at=1.1)
    assert s.state is State.CLOSE_WAIT
    s.expect([Out("A", seq=1, ack=12)], at=1.1)
    assert s.conn.read() == b"helloworld"
    assert s.conn.at_eof


def test_fin_beyond_the_window_is_not_processed() -> None:
    s = make_established(config=TcpConfig(recv_buffer=4))
    s.rx("FA", seq=1, ack=1, data=b"abcdef", at=1.0)
    assert s.state is State.ESTABLISHED
    assert s.conn.read() == b"abcd"


def test_retransmitted_fin_in_close_wait_is_reacked(established: Script) -> None:
    s = established
    s.rx("FA", seq=1, ack=1, at=1.0)
    s.expect([Out("A", seq=1, ack=2)], at=1.0)
    s.rx("FA", seq=1, ack=1, at=2.0)
    s.expect([Out("A", seq=1, ack=2)], at=2.0)
    assert s.state is State.CLOSE_WAIT
    assert s.app_events() == [ev.PeerClosed()]  # reported once


# ----------------------------------------------------------------------
# MUST-12: the application can tell a normal close from an abort
# ----------------------------------------------------------------------


def test_must_12_fin_is_peer_closed_not_reset(established: Script) -> None:
    s = established
    s.rx("FA", seq=1, ack=1, at=1.0)
    got = s.app_events()
    assert got == [ev.PeerClosed()]
    assert not any(isinstance(e, ev.ConnectionReset) for e in got)


def test_must_12_rst_is_reset_not_peer_closed(established: Script) -> None:
    s = established
    s.rx("R", seq=1, at=1.0)
    got = s.app_events()
    assert got == [ev.ConnectionReset(refused=False)]
    assert not s.conn.at_eof


# ----------------------------------------------------------------------
# Closing from ESTABLISHED
# ----------------------------------------------------------------------


def test_close_with_queued_data_fin_rides_on_the_last_segment(established: Script) -> None:
    s = established
    s.conn.send(blob(3000), now=1.0)
    s.conn.shutdown(now=1.0)
    assert s.state is State.FIN_WAIT_1
    # The initial window lets one or two full segments out; the peer ACKs as
    # they come. However many rounds it takes, the FIN leaves on the segment
    # carrying the last byte, never alone, never before the data.
    segs = []
    t = 1.0
    for _ in range(10):
        out = s.conn.packets_to_send(t)
        segs += out
        if any(x.has(x.flags.FIN) for x in out):
            break
        t += 0.1
        s.rx("A", seq=1, ack=sum(len(x.payload) for x in segs) + 1, at=t)
    assert [len(x.payload) for x in segs] == [1460, 1460, 80]
    assert [x.has(x.flags.FIN) for x in segs] == [False, False, True]
    assert [x.seq - s.iss for x in segs] == [1, 1461, 2921]
    assert segs[-1].has(segs[-1].flags.PSH)
    assert s.conn.snd_nxt == s.iss + 3002  # 3000 bytes + FIN
    s.rx("A", seq=1, ack=3002, at=t + 0.1)
    assert s.state is State.FIN_WAIT_2


def test_close_after_send_before_output_sends_data_then_fin(established: Script) -> None:
    s = established
    s.conn.send(b"abc", now=1.0)
    s.conn.close(now=1.0)
    s.expect([Out("FPA", seq=1, ack=1, len=3)], at=1.0)
    assert s.state is State.FIN_WAIT_1


def test_close_without_data_sends_bare_fin(established: Script) -> None:
    s = established
    s.conn.close(now=1.0)
    assert s.state is State.FIN_WAIT_1
    s.expect([Out("FA", seq=1, ack=1)], at=1.0)


def test_close_with_unread_data_resets(established: Script) -> None:
    # SHLD-3 (§3.6.1) as Linux: a close with unread received data resets.
    s = established
    s.rx("PA", seq=1, ack=1, data=b"unread", at=1.0)
    s.conn.close(now=1.1)
    assert s.state is State.CLOSED
    s.expect([Out("R", seq=1)], at=1.1)


def test_send_after_shutdown_raises(established: Script) -> None:
    s = established
    s.conn.shutdown(now=1.0)
    with pytest.raises(LocalProtocolError):
        s.conn.send(b"late")


def test_abort_sends_rst_at_snd_nxt(established: Script) -> None:
    # §3.10.5: "send a reset segment: <SEQ=SND.NXT><CTL=RST>"
    s = established
    s.conn.send(blob(500), now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=500)], at=1.0)
    s.conn.abort(now=1.1)
    assert s.state is State.CLOSED
    s.expect([Out("R", seq=501)], at=1.1)
    assert s.app_events() == [ev.ConnectionAborted()]
    assert s.conn.next_timer() is None
    s.conn.abort(now=1.2)  # aborting twice is harmless
    s.expect_nothing(at=1.2)


# ----------------------------------------------------------------------
# Peer's window
# ----------------------------------------------------------------------


def assert_within_window(s: Script, segs: list, ack: int, window: int) -> None:
    right_edge = seq_add(s.iss, ack + window)
    for seg in segs:
        end = seq_add(seg.seq, len(seg.payload))
        assert seq_le(end, right_edge), f"{seg.summary()} beyond right edge {right_edge}"


def rel_snd_nxt(s: Script) -> int:
    return seq_diff(s.conn.snd_nxt, s.iss)


def test_shrunk_window_never_sends_beyond_the_right_edge() -> None:
    s = make_established(window=4000)
    s.conn.send(blob(10000), now=1.0)
    assert_within_window(s, s.conn.packets_to_send(1.0), 1, 4000)
    s.rx("A", seq=1, ack=1461, window=4000, at=1.1)
    assert_within_window(s, s.conn.packets_to_send(1.1), 1461, 4000)
    assert rel_snd_nxt(s) > 2921 + 1000
    # The peer acknowledges up to 2921 and shrinks its window to 1000: the
    # right edge moves back to 3921, below SND.NXT.
    s.rx("A", seq=1, ack=2921, window=1000, at=1.2)
    s.expect_nothing(at=1.2)
    assert s.conn.snd_wnd == 1000
    # Retransmission on timeout stays inside the shrunk window.
    t = s.conn.next_timer()
    assert t is not None
    s.fire(t)
    retrans = s.conn.packets_to_send(t)
    assert retrans
    assert_within_window(s, retrans, 2921, 1000)
    # The window opens again: sending continues, still inside the edge.
    s.rx("A", seq=1, ack=3921, window=3000, at=t + 0.1)
    more = s.conn.packets_to_send(t + 0.1)
    assert_within_window(s, more, 3921, 3000)
    s.rx("A", seq=1, ack=rel_snd_nxt(s), window=500, at=t + 0.2)
    assert_within_window(s, s.conn.packets_to_send(t + 0.2), rel_snd_nxt(s), 500)


def test_zero_window_stops_sending_and_probes(established: Script) -> None:
    s = established
    s.rx("A", seq=1, ack=1, window=0, at=1.0)
    s.conn.send(b"data", now=1.0)
    s.expect_nothing(at=1.0)
    t = s.conn.timer("persist")
    assert t is not None
    s.fire(t)
    [probe] = s.conn.packets_to_send(t)
    # Whatever the probe carries, it may not advance SND.NXT beyond one byte.
    assert seq_diff(seq_add(probe.seq, len(probe.payload)), s.iss + 1) <= 1
    s.rx("A", seq=1, ack=1, window=1000, at=t + 0.1)
    s.expect([Out("PA", seq=1, ack=1, len=4)], at=t + 0.1)


# ----------------------------------------------------------------------
# Sequence-number wrap-around
# ----------------------------------------------------------------------


def test_wrap_around_mid_transfer() -> None:
    iss = 2**32 - 3000
    s = make_established(iss=iss, irs=2**32 - 2000)
    assert s.iss == iss
    sent_data = blob(8000)
    s.conn.send(sent_data, now=1.0)
    received = bytearray()
    incoming = blob(6000, start=7)
    t = 1.0
    peer_next = 1  # relative SEQ of the peer's next byte
    acked = 1  # relative ACK the peer sends
    for _ in range(50):
        for seg in s.conn.packets_to_send(t):
            rel = (seg.seq - s.iss) % 2**32
            if seg.payload and rel == acked:
                received += seg.payload
                acked += len(seg.payload)
        chunk = incoming[peer_next - 1 : peer_next - 1 + 1000]
        s.rx("PA" if chunk else "A", seq=peer_next, ack=acked, data=chunk, at=t + 0.05)
        peer_next += len(chunk)
        t += 0.1
        if len(received) == len(sent_data) and peer_next > len(incoming):
            break
    assert bytes(received) == sent_data
    assert s.conn.snd_una == (iss + 1 + 8000) % 2**32 < iss  # SND.UNA wrapped
    assert s.conn.rcv_nxt == (2**32 - 2000 + 1 + 6000) % 2**32
    assert s.conn.read() == incoming
    assert s.state is State.ESTABLISHED
    # Close across the wrap too.
    s.rx("FA", seq=peer_next, ack=acked, at=t)
    assert s.state is State.CLOSE_WAIT
    s.conn.close(now=t + 0.1)
    s.expect([Out("FA", seq=8001, ack=6002)], at=t + 0.1)
    s.rx("A", seq=6002, ack=8002, at=t + 0.2)
    assert s.state is State.CLOSED
