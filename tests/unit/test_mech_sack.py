"""SACK on the wire: RFC 2018 (receiver), RFC 6675 (sender), through one connection.

Receiver: SACK blocks in every ACK while data is held out of order, the
block holding the newest segment first, then the most recently reported
blocks (RFC 2018 §4), at most 4 blocks, 3 with timestamps; exact edges.

Sender: recovery driven by the scoreboard retransmits exactly the holes
(RFC 6675 §5), never SACKed data; after a timeout the go-back retransmission
skips SACKed ranges (RFC 6675 §5.1).

The scoreboard itself is tested in ``test_sack.py``.
"""

from __future__ import annotations

from tcp_script import Out, Script, make_established, make_syn_sent

from tcpstack.config import TcpConfig
from tcpstack.wire import Mss, SackPermitted, Timestamps

MSS = 1000


def sack_established(*, timestamps: bool = False, peer_mss: int = 1460) -> Script:
    # Tail loss probes off: these tests pin RFC 6675 recovery and RFC 6298 timing.
    opts: tuple = (Mss(peer_mss), SackPermitted())
    if timestamps:
        s = make_syn_sent(config=TcpConfig(tail_loss_probe=False))
        assert s.ts_base is not None
        s.rx("SA", seq=0, ack=1, options=(*opts, Timestamps(500, s.ts_base)), at=0.1)
        s.expect([Out("A", seq=1, ack=1, options=s.ts_opt(0.1, 500))], at=0.1)
    else:
        s = make_established(options=opts,
                             config=TcpConfig(timestamps=False, tail_loss_probe=False))
    assert s.conn.negotiated.sack
    assert s.conn.negotiated.timestamps is timestamps
    return s


# ----------------------------------------------------------------------
# Receiver side (RFC 2018 §4)
# ----------------------------------------------------------------------


def test_receiver_blocks_newest_first_at_most_four() -> None:
    s = sack_established()

    def rx_ooo(seq: int, blocks: list[tuple[int, int]], at: float, ack: int = 1) -> None:
        s.rx("A", seq=seq, ack=1, data=b"o" * 100, at=at)
        s.expect([Out("A", seq=1, ack=ack, options=s.sack_opt(blocks))], at=at)

    rx_ooo(101, [(101, 201)], 1.0)
    rx_ooo(301, [(301, 401), (101, 201)], 1.01)
    rx_ooo(501, [(501, 601), (301, 401), (101, 201)], 1.02)
    rx_ooo(701, [(701, 801), (501, 601), (301, 401), (101, 201)], 1.03)
    # Five blocks held, four fit (no timestamps: 2 + 4*8 + 2 NOPs = 36 bytes).
    rx_ooo(901, [(901, 1001), (701, 801), (501, 601), (301, 401)], 1.04)
    # 201 joins two blocks: the merged block comes first.
    rx_ooo(201, [(101, 401), (901, 1001), (701, 801), (501, 601)], 1.05)
    # A new block: after it, the blocks most recently reported first
    # (101-401 was first in the last ACK), not simply the highest ones.
    rx_ooo(1101, [(1101, 1201), (101, 401), (901, 1001), (701, 801)], 1.06)
    assert s.conn.readable == 0


def test_receiver_hole_at_the_left_edge_filled_acks_at_once_with_remaining_blocks() -> None:
    s = sack_established()
    for i, seq in enumerate((201, 401, 601)):
        s.rx("A", seq=seq, ack=1, data=b"o" * 100, at=1.0 + 0.01 * i)
        s.conn.packets_to_send(1.0 + 0.01 * i)
    s.rx("A", seq=1, ack=1, data=b"i" * 200, at=1.1)  # fills the first hole
    # Immediate ACK (RFC 5681 §4.2); the segment advanced the ACK, so the
    # blocks that remain follow in recency order (RFC 2018 §4).
    s.expect([Out("A", seq=1, ack=301, options=s.sack_opt([(601, 701), (401, 501)]))], at=1.1)
    s.rx("A", seq=301, ack=1, data=b"j" * 100, at=1.2)
    s.expect([Out("A", seq=1, ack=501, options=s.sack_opt([(601, 701)]))], at=1.2)
    s.rx("A", seq=501, ack=1, data=b"k" * 100, at=1.3)
    # No hole left: no SACK option any more.
    s.expect([Out("A", seq=1, ack=701, options=())], at=1.3)
    assert len(s.conn.read()) == 700


def test_receiver_three_blocks_with_timestamps() -> None:
    s = sack_established(timestamps=True)
    ecr = s.tsval(0.1)
    ts = 600
    for i, seq in enumerate((101, 301, 501, 701)):
        at = 1.0 + 0.01 * i
        s.rx("A", seq=seq, ack=1, data=b"o" * 100, ts=(ts + i, ecr), at=at)
        held = [(701, 801), (501, 601), (301, 401), (101, 201)][3 - i :]
        # TSecr stays at the SYN-ACK's TSval: out-of-order segments do not
        # update TS.Recent (RFC 7323 §4.3); 10 + 2 + 2 + 8n <= 40 -> n <= 3.
        s.expect(
            [Out("A", seq=1, ack=1, options=(*s.ts_opt(at, 500), *s.sack_opt(held[:3])))],
            at=at,
        )


def test_receiver_no_sack_blocks_when_not_negotiated() -> None:
    s = make_established(options=(Mss(1460), SackPermitted()), config=TcpConfig(sack=False,
                                                                               timestamps=False))
    assert not s.conn.negotiated.sack
    s.rx("A", seq=101, ack=1, data=b"o" * 100, at=1.0)
    s.expect([Out("A", seq=1, ack=1, options=())], at=1.0)


def test_receiver_blocks_only_on_pure_acks_not_on_data() -> None:
    s = sack_established()
    s.rx("A", seq=101, ack=1, data=b"o" * 100, at=1.0)
    s.expect([Out("A", seq=1, ack=1, options=s.sack_opt([(101, 201)]))], at=1.0)
    s.conn.send(b"reply", now=1.1)
    s.expect([Out("PA", seq=1, ack=1, len=5, options=())], at=1.1)


# ----------------------------------------------------------------------
# Sender side (RFC 6675)
# ----------------------------------------------------------------------


def seg_out(seq: int, n: int = MSS) -> Out:
    return Out("A", seq=seq, ack=1, len=n)


def ramp(s: Script) -> None:
    """8 segments of 1000 bytes outstanding (4001..12000), cwnd 8000."""
    s.conn.send(b"\x55" * 30_000, now=1.0)
    s.expect([seg_out(1), seg_out(1001), seg_out(2001), seg_out(3001)], at=1.0)
    for k in range(1, 5):
        t = 1.1 + 0.01 * (k - 1)
        s.rx("A", seq=1, ack=1 + k * MSS, at=t)
        first = 1 + (2 * k + 2) * MSS
        s.expect([seg_out(first), seg_out(first + MSS)], at=t)
    assert s.conn.cwnd == 8000


def test_sender_recovery_retransmits_exactly_the_holes() -> None:
    s = sack_established(peer_mss=MSS)
    ramp(s)

    def ack(at: float, blocks: list[tuple[int, int]], expect: list[Out], una: int = 4001) -> None:
        s.rx("A", seq=1, ack=una, sack=blocks, at=at)
        s.expect(expect, at=at)

    # 4001 and 7001 are lost.
    ack(1.2, [(5001, 6001)], [seg_out(12001)])  # dup 1: limited transmit
    ack(1.21, [(5001, 7001)], [seg_out(13001)])  # dup 2: limited transmit
    # dup 3: recovery. ssthresh = cwnd = FlightSize / 2 = 4000 (the limited
    # transmit segments left out, RFC 5681 §3.2); 4001 retransmitted (§5 (4.3));
    # pipe = 7000 > cwnd: nothing else.
    ack(1.22, [(8001, 9001), (5001, 7001)], [seg_out(4001)])
    assert s.conn.in_recovery
    assert (s.conn.ssthresh, s.conn.cwnd) == (4000, 4000)
    ack(1.23, [(8001, 10001), (5001, 7001)], [])  # pipe 6000
    ack(1.24, [(8001, 11001), (5001, 7001)], [])  # 7001 now lost: pipe 4000
    # pipe 3000: NextSeg rule 1, the lost hole 7001 (not SACKed 5001..7000).
    ack(1.25, [(8001, 12001), (5001, 7001)], [seg_out(7001)])
    # No lost hole left: new data (rule 2).
    ack(1.26, [(8001, 13001), (5001, 7001)], [seg_out(14001)])
    ack(1.27, [(8001, 14001), (5001, 7001)], [seg_out(15001)])
    # The retransmitted 4001 arrives: ACK 7001, still below RecoveryPoint 14001.
    ack(1.3, [(8001, 14001)], [seg_out(16001)], una=7001)
    assert s.conn.in_recovery
    # The retransmitted 7001 arrives: ACK 14001 ends recovery (§5 (A)).
    ack(1.4, [], [seg_out(17001)], una=14001)
    assert not s.conn.in_recovery
    assert s.conn.cwnd == 4000


def test_sender_acks_without_sack_blocks_are_not_duplicate_acks() -> None:
    # With SACK in use a receiver holding out-of-order data reports it in every
    # duplicate ACK (RFC 2018 §4); an ACK of SND.UNA without blocks is what an
    # old or out-of-window (possibly spoofed) segment draws, and RFC 6675 §2
    # does not count it: no limited transmit, no fast retransmit.
    s = sack_established(peer_mss=MSS)
    ramp(s)
    for i in range(5):
        s.rx("A", seq=1, ack=4001, at=1.2 + 0.01 * i)
        s.expect([], at=1.2 + 0.01 * i)
    assert s.conn.dupacks == 0
    assert not s.conn.in_recovery
    # One that SACKs new data still counts (limited transmit).
    s.rx("A", seq=1, ack=4001, sack=[(5001, 6001)], at=1.3)
    s.expect([seg_out(12001)], at=1.3)
    assert s.conn.dupacks == 1


def test_sender_go_back_after_timeout_skips_sacked_ranges() -> None:
    s = sack_established(peer_mss=MSS)
    ramp(s)
    blocks = [(6001, 7001), (9001, 10001)]
    # 2000 bytes in 2 blocks above 4001: not yet lost (RFC 6675 IsLost).
    s.rx("A", seq=1, ack=4001, sack=blocks, at=1.2)
    s.expect([seg_out(12001)], at=1.2)  # limited transmit
    assert not s.conn.in_recovery
    rto_at = s.conn.timer("rto")
    assert rto_at is not None
    s.fire(rto_at)
    s.expect([seg_out(4001)], at=rto_at)
    assert s.conn.cwnd == 1000
    t = rto_at + 0.1
    s.rx("A", seq=1, ack=5001, sack=blocks, at=t)
    s.expect([seg_out(5001)], at=t)  # cwnd 2000; 6001..7000 is SACKed
    s.rx("A", seq=1, ack=7001, sack=blocks[1:], at=t + 0.1)
    s.expect([seg_out(7001), seg_out(8001)], at=t + 0.1)  # cwnd 3000
    s.rx("A", seq=1, ack=10001, at=t + 0.2)
    # cwnd 4000: 9001..10000 was SACKed and is not sent again.
    s.expect([seg_out(10001), seg_out(11001), seg_out(12001), seg_out(13001)], at=t + 0.2)
