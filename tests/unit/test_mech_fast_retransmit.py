"""Fast retransmit, NewReno fast recovery and limited transmit, SACK off.

RFC 5681 §2 (what a duplicate ACK is), §3.2 (fast retransmit / fast
recovery), RFC 6582 (NewReno: partial and full ACKs, ``recover``), RFC 3042
(limited transmit).

The peer advertises MSS 1000 and a 65535-byte window, with no SACK and no
timestamps, so every segment carries 1000 bytes and IW = 4 segments (RFC 5681
§3.1). :func:`ramp` grows the window to 8 segments in flight:
``4001..12000`` outstanding (relative numbers), cwnd 8000, SND.NXT 12001.

* Duplicate ACK definition: ``test_dupack_*``.
* Fast retransmit and recovery: ``test_fast_retransmit_*``,
  ``test_recovery_*``.
* NewReno partial/full ACKs: ``test_newreno_*``.
* Limited transmit: ``test_limited_transmit_*``.
"""

from __future__ import annotations

from tcp_script import Out, Script, make_established

from tcpstack.config import TcpConfig
from tcpstack.state import State

MSS = 1000


def seg_out(seq: int, *, flags: str = "A", ack: int = 1, n: int = MSS) -> Out:
    return Out(flags, seq=seq, ack=ack, len=n)


def established(config: TcpConfig | None = None, window: int = 65535) -> Script:
    return make_established(config=config, peer_mss=MSS, window=window)


def ramp(s: Script, *, total: int = 30_000, window: int = 65535) -> None:
    """Send ``total`` bytes at 1.0 and ACK the first four segments one by one."""
    assert s.conn.cwnd == 4 * MSS  # RFC 5681 §3.1: IW for SMSS <= 1095 bytes
    s.conn.send(b"\x55" * total, now=1.0)
    s.expect([seg_out(1), seg_out(1001), seg_out(2001), seg_out(3001)], at=1.0)
    t = 1.1
    for k in range(1, 5):
        s.rx("A", seq=1, ack=1 + k * MSS, window=window, at=t)
        # Slow start: +1 SMSS per ACK, two new segments per ACK.
        first = 1 + (2 * k + 2) * MSS
        s.expect([seg_out(first), seg_out(first + MSS)], at=t)
        t += 0.01
    assert s.conn.cwnd == 8 * MSS
    assert s.conn.snd_una == s.iss + 4001
    assert s.conn.snd_nxt == s.iss + 12001


def dupack(s: Script, at: float, *, ack: int = 4001, window: int = 65535) -> None:
    s.rx("A", seq=1, ack=ack, window=window, at=at)


# ----------------------------------------------------------------------
# What counts as a duplicate ACK (RFC 5681 §2)
# ----------------------------------------------------------------------


def test_dupack_three_pure_duplicates_trigger_fast_retransmit() -> None:
    s = established()
    ramp(s)
    dupack(s, 1.2)
    assert s.conn.dupacks == 1
    dupack(s, 1.21)
    assert s.conn.dupacks == 2
    s.expect([seg_out(12001), seg_out(13001)], at=1.21)  # limited transmit
    dupack(s, 1.22)
    assert s.conn.in_recovery
    s.expect([seg_out(4001)], at=1.22)  # at once, not at the RTO


def test_dupack_acks_carrying_data_do_not_count() -> None:
    s = established()
    ramp(s)
    for i in range(5):
        s.rx("A", seq=1 + 10 * i, ack=4001, data=b"d" * 10, at=1.2 + 0.01 * i)
        assert s.conn.dupacks == 0
        s.expect_nothing(at=1.2 + 0.01 * i)  # no retransmission; our ACK is delayed
    assert not s.conn.in_recovery
    assert s.conn.cwnd == 8 * MSS


def test_dupack_window_changes_do_not_count() -> None:
    s = established()
    ramp(s)
    for i, window in enumerate((60000, 50000, 40000, 30000)):
        dupack(s, 1.2 + 0.01 * i, window=window)
        assert s.conn.dupacks == 0
        assert s.conn.snd_wnd == window
        s.expect_nothing(at=1.2 + 0.01 * i)
    assert not s.conn.in_recovery


def test_dupack_fin_does_not_count() -> None:
    s = established()
    ramp(s)
    s.rx("FA", seq=1, ack=4001, at=1.2)  # the peer closes: ACK = SND.UNA, but a FIN
    assert s.conn.dupacks == 0
    assert s.state is State.CLOSE_WAIT
    s.expect([Out("A", seq=12001, ack=2)], at=1.2)
    s.rx("A", seq=2, ack=4001, at=1.21)
    s.rx("A", seq=2, ack=4001, at=1.22)
    assert s.conn.dupacks == 2
    s.expect([seg_out(12001, ack=2), seg_out(13001, ack=2)], at=1.22)  # limited transmit
    assert not s.conn.in_recovery
    s.rx("A", seq=2, ack=4001, at=1.23)
    s.expect([seg_out(4001, ack=2)], at=1.23)  # the third real duplicate


def test_dupack_syn_does_not_count() -> None:
    s = established()
    ramp(s)
    for i in range(3):
        s.rx("SA", seq=1, ack=4001, at=1.2 + 0.01 * i)
    # Each SYN only draws a challenge ACK (RFC 5961 §4.2).
    s.expect([Out("A", seq=12001, ack=1)] * 3, at=1.23)
    assert s.conn.dupacks == 0
    assert not s.conn.in_recovery


def test_dupack_nothing_outstanding_does_not_count() -> None:
    s = established()
    s.conn.send(b"x" * 500, now=1.0)
    s.expect([Out("PA", seq=1, ack=1, len=500)], at=1.0)
    s.rx("A", seq=1, ack=501, at=1.1)
    for i in range(4):
        dupack(s, 1.2 + 0.01 * i, ack=501)
        assert s.conn.dupacks == 0
    s.expect_nothing(at=1.3)
    assert s.conn.next_timer() is None


def test_dupack_old_acks_below_snd_una_do_not_count() -> None:
    s = established()
    ramp(s)
    for i in range(3):
        dupack(s, 1.2 + 0.01 * i, ack=3001)
    assert s.conn.dupacks == 0
    s.expect_nothing(at=1.23)


# ----------------------------------------------------------------------
# Fast retransmit and NewReno fast recovery (RFC 5681 §3.2, RFC 6582)
# ----------------------------------------------------------------------


def test_fast_retransmit_single_loss_inflation_and_full_ack() -> None:
    s = established()
    ramp(s)
    # 4001 is lost; 5001 and 6001 arrive: duplicate ACKs 1 and 2, one new
    # segment each (RFC 3042), cwnd unchanged.
    dupack(s, 1.2)
    s.expect([seg_out(12001)], at=1.2)
    dupack(s, 1.21)
    s.expect([seg_out(13001)], at=1.21)
    assert s.conn.cwnd == 8000
    # Third duplicate: retransmit 4001 at once; ssthresh = FlightSize / 2
    # where FlightSize leaves out the limited-transmit segments (RFC 5681
    # §3.2 step 2): 8000 / 2 = 4000; cwnd = ssthresh + 3 * SMSS.
    dupack(s, 1.22)
    s.expect([seg_out(4001)], at=1.22)
    assert (s.conn.ssthresh, s.conn.cwnd) == (4000, 7000)
    # Further duplicates inflate cwnd by one SMSS each (step 4); new data
    # goes out once cwnd exceeds what is outstanding (10000 bytes).
    for i, cwnd in enumerate((8000, 9000, 10000)):
        dupack(s, 1.23 + 0.01 * i)
        assert s.conn.cwnd == cwnd
        s.expect_nothing(at=1.23 + 0.01 * i)
    dupack(s, 1.26)
    assert s.conn.cwnd == 11000
    s.expect([seg_out(14001)], at=1.26)
    # Full ACK (covers recover = 14000): exit with
    # cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS) = min(4000, 2000).
    s.rx("A", seq=1, ack=14001, at=1.3)
    assert not s.conn.in_recovery
    assert (s.conn.ssthresh, s.conn.cwnd) == (4000, 2000)
    s.expect([seg_out(15001)], at=1.3)


def test_fast_retransmit_ssthresh_is_at_least_two_segments() -> None:
    s = established()
    s.conn.send(b"x" * 3000, now=1.0)
    s.expect([seg_out(1), seg_out(1001), seg_out(2001, flags="PA")], at=1.0)
    # Segment 1 is lost. The application writes more on the way.
    dupack(s, 1.1, ack=1)
    s.expect_nothing(at=1.1)  # limited transmit has nothing to send
    s.conn.send(b"y" * 1000, now=1.11)
    s.expect([seg_out(3001, flags="PA")], at=1.11)  # ... now it has
    dupack(s, 1.12, ack=1)
    dupack(s, 1.13, ack=1)
    s.expect([seg_out(1)], at=1.13)
    # FlightSize 3000 (limited transmit left out): max(1500, 2 * SMSS) = 2000.
    assert (s.conn.ssthresh, s.conn.cwnd) == (2000, 5000)


def test_newreno_partial_ack_retransmits_next_hole_and_deflates() -> None:
    s = established()
    ramp(s)
    # 4001 and 7001 lost. 5001, 6001 -> dup 1, 2 (limited transmit).
    dupack(s, 1.2)
    dupack(s, 1.21)
    s.expect([seg_out(12001), seg_out(13001)], at=1.21)
    dupack(s, 1.22)  # 8001 arrives: third duplicate
    s.expect([seg_out(4001)], at=1.22)
    assert (s.conn.ssthresh, s.conn.cwnd) == (4000, 7000)
    for i in range(5):  # 9001, 10001, 11001, 12001, 13001
        dupack(s, 1.23 + 0.01 * i)
    assert s.conn.cwnd == 12000
    s.expect([seg_out(14001), seg_out(15001)], at=1.27)
    # The retransmitted 4001 arrives: ACK 7001, a partial ACK (below
    # recover = 14001). Retransmit 7001 at once; deflate by the 3000 bytes
    # acknowledged and add back one SMSS: 12000 - 3000 + 1000 (RFC 6582 §3.2 (3)).
    s.rx("A", seq=1, ack=7001, at=1.3)
    assert s.conn.in_recovery
    assert s.conn.cwnd == 10000
    s.expect([seg_out(7001), seg_out(16001)], at=1.3)
    # 14001 arrives: another duplicate (of 7001) inflates again.
    dupack(s, 1.31, ack=7001)
    assert s.conn.cwnd == 11000
    s.expect([seg_out(17001)], at=1.31)
    # The retransmitted 7001 fills the last hole: a full ACK ends recovery.
    s.rx("A", seq=1, ack=16001, at=1.4)
    assert not s.conn.in_recovery
    # FlightSize 16001..18001 = 2000: cwnd = min(4000, 2000 + 1000).
    assert (s.conn.ssthresh, s.conn.cwnd) == (4000, 3000)
    s.expect([seg_out(18001)], at=1.4)


def test_newreno_partial_ack_smaller_than_smss_adds_nothing_back() -> None:
    s = established()
    ramp(s)
    dupack(s, 1.2)
    s.expect([seg_out(12001)], at=1.2)
    dupack(s, 1.21)
    s.expect([seg_out(13001)], at=1.21)
    dupack(s, 1.22)
    s.expect([seg_out(4001)], at=1.22)
    assert s.conn.cwnd == 7000
    # Only 500 bytes of the retransmission got through (a middlebox split it).
    s.rx("A", seq=1, ack=4501, at=1.3)
    assert s.conn.cwnd == 6500  # 7000 - 500, no SMSS added back
    s.expect([Out("A", seq=4501, ack=1, len=1000)], at=1.3)


def test_recovery_no_new_recovery_before_recover_is_acknowledged() -> None:
    s = established()
    ramp(s)
    # Nothing gets through: the retransmission timer fires (RTO 1 s).
    rto_at = s.conn.timer("rto")
    assert rto_at is not None
    s.fire(rto_at)
    s.expect([seg_out(4001)], at=rto_at)
    assert (s.conn.ssthresh, s.conn.cwnd) == (4000, 1000)
    # Late duplicates of the first flight arrive: recover = 12000 is not yet
    # acknowledged, so they start no fast retransmit (RFC 6582 §3.2 (2)),
    # and cwnd = 1 SMSS leaves no room for anything else.
    for i in range(4):
        dupack(s, rto_at + 0.1 + 0.01 * i)
        s.expect_nothing(at=rto_at + 0.1 + 0.01 * i)
    assert not s.conn.in_recovery
    assert s.conn.cwnd == 1000
    # The retransmission repaired everything: all of 4001..12000 acknowledged.
    t = rto_at + 0.2
    s.rx("A", seq=1, ack=12001, at=t)
    assert s.conn.cwnd == 2000
    s.expect([seg_out(12001), seg_out(13001)], at=t)
    # A new loss (12001) after recover was acknowledged: recovery is allowed.
    dupack(s, t + 0.1, ack=12001)
    s.expect([seg_out(14001)], at=t + 0.1)
    dupack(s, t + 0.11, ack=12001)
    s.expect([seg_out(15001)], at=t + 0.11)
    dupack(s, t + 0.12, ack=12001)
    # FlightSize 2000 without the limited-transmit segments: ssthresh 2000
    # (2 * SMSS), cwnd 5000: the retransmission and one new segment.
    s.expect([seg_out(12001), seg_out(16001)], at=t + 0.12)
    assert s.conn.in_recovery
    assert (s.conn.ssthresh, s.conn.cwnd) == (2000, 5000)


def test_recovery_ends_by_timeout_and_recover_is_raised() -> None:
    s = established()
    ramp(s)
    dupack(s, 1.2)
    s.expect([seg_out(12001)], at=1.2)
    dupack(s, 1.21)
    s.expect([seg_out(13001)], at=1.21)
    dupack(s, 1.22)
    s.expect([seg_out(4001)], at=1.22)
    rto_at = s.conn.timer("rto")
    assert rto_at is not None
    s.fire(rto_at)
    assert not s.conn.in_recovery
    s.expect([seg_out(4001)], at=rto_at)
    # FlightSize at the timeout 4001..14001 = 10000: ssthresh 5000, cwnd 1 SMSS.
    assert (s.conn.ssthresh, s.conn.cwnd) == (5000, 1000)


# ----------------------------------------------------------------------
# Limited transmit (RFC 3042)
# ----------------------------------------------------------------------


def test_limited_transmit_respects_the_receiver_window() -> None:
    s = established(window=8000)
    ramp(s, window=8000)
    # 8000 bytes outstanding fill the peer's window: nothing new may go.
    dupack(s, 1.2, window=8000)
    dupack(s, 1.21, window=8000)
    s.expect_nothing(at=1.21)
    dupack(s, 1.22, window=8000)
    s.expect([seg_out(4001)], at=1.22)


def test_limited_transmit_can_be_switched_off() -> None:
    s = established(TcpConfig(limited_transmit=False))
    ramp(s)
    dupack(s, 1.2)
    dupack(s, 1.21)
    s.expect_nothing(at=1.21)
    dupack(s, 1.22)
    s.expect([seg_out(4001)], at=1.22)
    # Without limited transmit FlightSize is 8000 too.
    assert (s.conn.ssthresh, s.conn.cwnd) == (4000, 7000)


def test_limited_transmit_sends_only_new_data_and_leaves_cwnd_alone() -> None:
    s = established(TcpConfig(nagle=False))  # (Nagle would hold the 500-byte tail)
    ramp(s, total=12_500)  # 500 bytes left unsent after the ramp
    dupack(s, 1.2)
    s.expect([Out("PA", seq=12001, ack=1, len=500)], at=1.2)
    dupack(s, 1.21)
    s.expect_nothing(at=1.21)  # nothing new left to send
    assert s.conn.cwnd == 8000
