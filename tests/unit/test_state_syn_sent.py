"""SYN-SENT: RFC 9293 §3.10.7.3 and the SYN retransmission rules of §3.8.3.

Conformance lines (reference/conformance-scenarios.md, "SYN-SENT"):

* SYN-ACK with ACK = ISS+1 -> ESTABLISHED, ACK sent: ``test_good_syn_ack_*``.
* SYN-ACK with a bad ACK -> RST <SEQ=SEG.ACK>, state unchanged:
  ``test_bad_ack_draws_rst_and_state_is_unchanged``.
* RST with acceptable ACK -> CLOSED, refused; RST without ACK or with a bad
  ACK ignored: ``test_rst_with_acceptable_ack_*``, ``test_rst_without_ack_*``,
  ``test_rst_with_bad_ack_*``.
* Bare SYN (simultaneous open) -> SYN-RECEIVED + SYN-ACK:
  ``test_simultaneous_open_*``.
* SYN retransmitted with backoff from 1 s; R2 >= 3 min then timeout
  (MUST-22/23): ``test_syn_retransmission_*``.
* close() -> CLOSED, nothing sent: ``test_close_*``.
"""

from __future__ import annotations

import pytest
from tcp_script import Out, Script, make_syn_sent

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.errors import LocalProtocolError
from tcpstack.state import State
from tcpstack.wire import Mss


def test_syn_carries_our_mss_and_arms_rto(syn_sent: Script) -> None:
    # The fixture checked the SYN itself: <SEQ=ISS><CTL=SYN> with MSS 1460.
    assert syn_sent.conn.snd_nxt == syn_sent.iss + 1
    assert syn_sent.conn.snd_una == syn_sent.iss
    assert syn_sent.conn.timer("rto") == 1.0  # RFC 6298 §2.1: initial RTO 1 s


def test_good_syn_ack_establishes_and_acks(syn_sent: Script) -> None:
    s = syn_sent
    s.rx("SA", seq=0, ack=1, window=12345, options=(Mss(1200),), at=0.25)
    assert s.state is State.ESTABLISHED
    assert s.events() == [ev.StateChanged(State.SYN_SENT, State.ESTABLISHED), ev.Connected()]
    # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
    s.expect([Out("A", seq=1, ack=1)], at=0.25)
    c = s.conn
    assert (c.snd_una, c.snd_nxt) == (s.iss + 1, s.iss + 1)
    assert (c.irs, c.rcv_nxt) == (s.irs, s.irs + 1)
    assert (c.snd_wnd, c.snd_wl1, c.snd_wl2) == (12345, s.irs, s.iss + 1)
    assert c.snd_mss == 1200
    assert c.timer("rto") is None  # everything acknowledged: RTO stopped (RFC 6298 §5.2)
    assert c.srtt == pytest.approx(0.25)  # the SYN was timed


def test_good_syn_ack_without_mss_assumes_536(syn_sent: Script) -> None:
    syn_sent.rx("SA", seq=0, ack=1, at=0.1)
    assert syn_sent.conn.snd_mss == 536


def test_good_syn_ack_with_data_delivers_it(syn_sent: Script) -> None:
    s = syn_sent
    s.rx("SA", seq=0, ack=1, data=b"hello", at=0.1)
    assert s.state is State.ESTABLISHED
    s.expect([Out("A", seq=1, ack=6)], at=0.1)
    assert s.conn.read() == b"hello"


def test_good_syn_ack_with_fin_goes_to_close_wait(syn_sent: Script) -> None:
    s = syn_sent
    s.rx("SFA", seq=0, ack=1, data=b"bye", at=0.1)
    assert s.state is State.CLOSE_WAIT
    s.expect([Out("A", seq=1, ack=5)], at=0.1)
    assert s.conn.read() == b"bye"
    assert s.conn.at_eof


def test_data_queued_in_syn_sent_leaves_after_the_handshake(syn_sent: Script) -> None:
    s = syn_sent
    assert s.conn.send(b"queued", now=0.05) == 6
    s.expect_nothing(at=0.05)  # §3.10.2: queued until ESTABLISHED
    s.rx("SA", seq=0, ack=1, at=0.1)
    # The data segment carries the handshake's ACK; no separate pure ACK.
    s.expect([Out("PA", seq=1, ack=1, len=6)], at=0.1)


@pytest.mark.parametrize("bad_ack", [0, -5, 2, 100, 2**31])
def test_bad_ack_draws_rst_and_state_is_unchanged(syn_sent: Script, bad_ack: int) -> None:
    # §3.10.7.3 first: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset
    # <SEQ=SEG.ACK><CTL=RST>" and discard the segment.
    s = syn_sent
    s.rx("SA", seq=0, ack=bad_ack, at=0.1)
    s.expect([Out("R", seq=bad_ack)], at=0.1)
    assert s.state is State.SYN_SENT
    assert s.events() == []
    assert s.conn.timer("rto") == 1.0
    # The real SYN-ACK still completes the handshake.
    s.rx("SA", seq=0, ack=1, at=0.2)
    assert s.state is State.ESTABLISHED


def test_bad_ack_without_syn_draws_rst(syn_sent: Script) -> None:
    syn_sent.rx("A", seq=0, ack=50, at=0.1)
    syn_sent.expect([Out("R", seq=50)], at=0.1)
    assert syn_sent.state is State.SYN_SENT


def test_acceptable_ack_without_syn_is_dropped(syn_sent: Script) -> None:
    # §3.10.7.3 fifth: "If neither of the SYN or RST bits is set, then drop".
    syn_sent.rx("A", seq=0, ack=1, at=0.1)
    syn_sent.expect_nothing(at=0.1)
    assert syn_sent.state is State.SYN_SENT


def test_rst_with_acceptable_ack_closes_refused(syn_sent: Script) -> None:
    s = syn_sent
    s.rx("RA", seq=0, ack=1, at=0.1)
    assert s.state is State.CLOSED
    assert s.events() == [
        ev.StateChanged(State.SYN_SENT, State.CLOSED),
        ev.ConnectionReset(refused=True),
    ]
    s.expect_nothing(at=0.1)  # an RST is never answered
    assert s.conn.next_timer() is None


def test_rst_without_ack_is_ignored(syn_sent: Script) -> None:
    # §3.10.7.3 second: "If the ACK was not acceptable ... drop" - without an
    # ACK there is nothing to prove the RST belongs to our SYN.
    s = syn_sent
    s.rx("R", seq=0, ack=0, at=0.1)
    s.expect_nothing(at=0.1)
    assert s.state is State.SYN_SENT
    assert s.events() == []


@pytest.mark.parametrize("bad_ack", [0, 2, 1000])
def test_rst_with_bad_ack_is_ignored_and_not_answered(syn_sent: Script, bad_ack: int) -> None:
    s = syn_sent
    s.rx("RA", seq=0, ack=bad_ack, at=0.1)
    s.expect_nothing(at=0.1)
    assert s.state is State.SYN_SENT


def test_simultaneous_open_sends_syn_ack(syn_sent: Script) -> None:
    # §3.10.7.3 fourth: bare SYN -> SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    s = syn_sent
    s.rx("S", seq=0, ack=0, options=(Mss(1000),), at=0.1)
    assert s.state is State.SYN_RECEIVED
    assert not s.conn.passive
    s.expect([Out("SA", seq=0, ack=1, mss=1460)], at=0.1)
    assert s.conn.snd_mss == 1000
    # Their SYN-ACK (or ACK) of our SYN completes it.
    # RFC 9293 Figure 8, line 6: the peer's SYN,ACK acknowledges our SYN.
    s.rx("SA", seq=0, ack=1, at=0.2)
    assert s.state is State.ESTABLISHED
    assert ev.Connected() in s.events()
    # One more ACK goes out (the SYN it repeats is old sequence space); it
    # completes the peer's handshake too if our SYN,ACK was lost.
    s.expect([Out("A", seq=1, ack=1)], at=0.2)
    assert s.conn.timer("rto") is None


def test_simultaneous_open_completes_with_a_plain_ack_too(syn_sent: Script) -> None:
    s = syn_sent
    s.rx("S", seq=0, ack=0, at=0.1)
    s.expect([Out("SA", seq=0, ack=1)], at=0.1)
    s.rx("A", seq=1, ack=1, at=0.2)
    assert s.state is State.ESTABLISHED


def test_syn_retransmission_backs_off_and_gives_up_after_r2() -> None:
    """MUST-22/23: RTO 1 s doubling (capped at 60 s); R2 for a SYN >= 3 minutes."""
    s = make_syn_sent()
    expected_at = [1.0, 3.0, 7.0, 15.0, 31.0, 63.0, 123.0]
    for i, t in enumerate(expected_at):
        assert s.conn.next_timer() == t
        s.fire(t - 0.001)
        s.expect_nothing(at=t - 0.001)  # not yet
        s.fire(t)
        s.expect([Out("S", seq=0, mss=1460)], at=t)
        assert s.state is State.SYN_SENT
        events = s.events()
        assert events == ([ev.SoftError(3)] if i == 2 else [])  # R1 = 3 (SHLD-10)
    # 123 + 60 = 183 s: more than 180 s since the first SYN: give up.
    assert s.conn.next_timer() == 183.0
    s.fire(183.0)
    assert s.state is State.CLOSED
    assert s.app_events() == [ev.ConnectionTimedOut("syn")]
    s.expect_nothing(at=183.0)
    assert s.conn.next_timer() is None


def test_syn_retransmission_never_gives_up_before_three_minutes() -> None:
    s = make_syn_sent(config=TcpConfig(rto_max=120.0))
    t = 0.0
    while (nxt := s.conn.next_timer()) is not None and nxt < 180.0:
        t = nxt
        s.fire(t)
        s.expect([Out("S", seq=0, mss=1460)], at=t)
        assert s.state is State.SYN_SENT
    assert s.state is State.SYN_SENT
    assert t < 180.0


def test_syn_ack_after_retransmission_sets_rto_floor() -> None:
    # RFC 6298 §5.7: a retransmitted SYN -> RTO of 3 s once data flows.
    s = make_syn_sent()
    s.fire(1.0)
    s.expect([Out("S", seq=0, mss=1460)], at=1.0)
    s.rx("SA", seq=0, ack=1, at=1.2)
    assert s.state is State.ESTABLISHED
    assert s.conn.rto == 3.0


def test_r2_syn_none_retries_forever() -> None:
    s = make_syn_sent(config=TcpConfig(r2_syn=None))
    for _ in range(12):
        t = s.conn.next_timer()
        assert t is not None
        s.fire(t)
        s.expect([Out("S", seq=0, mss=1460)], at=t)
    assert s.state is State.SYN_SENT


@pytest.mark.parametrize("call", ["close", "shutdown", "abort"])
def test_close_deletes_tcb_and_sends_nothing(syn_sent: Script, call: str) -> None:
    # §3.10.4 SYN-SENT: "Delete the TCB"; §3.10.5 ABORT: no RST in SYN-SENT.
    s = syn_sent
    getattr(s.conn, call)(now=0.5)
    assert s.state is State.CLOSED
    s.expect_nothing(at=0.5)
    assert s.conn.next_timer() is None
    assert s.events()[0] == ev.StateChanged(State.SYN_SENT, State.CLOSED)
    # A SYN-ACK arriving later finds no connection (the Stack would RST it).
    s.rx("SA", seq=0, ack=1, at=0.6)
    s.expect_nothing(at=0.6)


def test_send_after_close_raises(syn_sent: Script) -> None:
    syn_sent.conn.close(now=0.5)
    with pytest.raises(LocalProtocolError):
        syn_sent.conn.send(b"x")


def test_open_twice_raises(syn_sent: Script) -> None:
    with pytest.raises(LocalProtocolError):
        syn_sent.conn.open_active(0.5)
