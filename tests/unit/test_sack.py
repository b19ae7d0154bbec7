"""RFC 6675 sender scoreboard (tcpstack.sack): IsLost, SetPipe, NextSeg, Update.

Offsets are stream offsets; "segment k" (1-based) of a flight with SMSS 1000
is ``[base + 1000 (k - 1), base + 1000 k)``. Section numbers are RFC 6675's
unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tcpstack.sack import Scoreboard

MSS = 1000


def seg(k: int, base: int = 0) -> tuple[int, int]:
    """Segment k (1-based) of a flight of MSS-byte segments starting at ``base``."""
    return base + MSS * (k - 1), base + MSS * k


def span(first: int, last: int, base: int = 0) -> tuple[int, int]:
    """Segments first..last inclusive, as one range."""
    return seg(first, base)[0], seg(last, base)[1]


def flight(n: int, base: int = 0, mss: int = MSS) -> Scoreboard:
    """A scoreboard after sending segments 1..n as new data."""
    sb = Scoreboard(mss)
    for k in range(1, n + 1):
        sb.on_sent(*seg(k, base), retransmission=False)
    return sb


# --- the worked scenario: 10 segments, 2 and 5 lost ------------------------------


@pytest.mark.parametrize("base", [0, 2**40 + 12_345, 2**64 - 3_000, 2**100])
def test_two_losses_in_one_flight(base: int) -> None:
    """Segments 1..10 sent, 2 and 5 lost; SACKs arrive one by one.

    Pins: Update() and the newly-SACKed count (§2 "duplicate acknowledgment"),
    IsLost byte and count rules (§4), SetPipe before and after a
    retransmission (§4 rules a/b), NextSeg rules 1, 2, 3 (§4), HighRxt moving
    with retransmissions (§5 C.2), and no 2**32 wrap assumption (base).
    """
    sb = flight(10, base)
    hd = seg(10, base)[1]
    una = seg(2, base)[0]  # segment 1 cumulatively acked
    assert sb.on_ack(una, []) == 0
    assert sb.pipe(una, hd) == 9 * MSS

    # Segment 3 arrives: one SACKed segment above the hole.
    assert sb.on_ack(una, [seg(3, base)]) == MSS
    assert not sb.is_lost(una)
    # Segment 4: two segments, exactly (DupThresh - 1) * SMSS bytes: not "more than".
    assert sb.on_ack(una, [span(3, 4, base)]) == MSS
    assert sb.blocks() == [span(3, 4, base)]
    assert not sb.is_lost(una)
    # Segment 6 (5 is lost): 3000 bytes SACKed above segment 2 -> lost by bytes.
    assert sb.on_ack(una, [seg(6, base), span(3, 4, base)]) == MSS
    assert sb.blocks() == [span(3, 4, base), seg(6, base)]
    assert sb.is_lost(una)
    assert sb.is_lost(seg(2, base)[1] - 1)  # every byte of the hole
    assert not sb.is_lost(seg(5, base)[0])  # only 1000 bytes, 1 range above
    assert not sb.is_lost(seg(7, base)[0])  # nothing above
    assert not sb.is_lost(seg(3, base)[0])  # SACKed
    assert not sb.is_lost(una - 1)  # acknowledged

    assert sb.may_enter_recovery(una)
    sb.enter_recovery(hd)
    assert sb.in_recovery and sb.recovery_point == hd
    assert sb.high_rxt == una
    # SetPipe: holes are seg 2 (lost), seg 5 and segs 7..10 (not lost).
    assert sb.pipe(una, hd) == 5 * MSS

    # NextSeg rule 1: the first lost hole.
    assert sb.next_seg(una, hd, unsent=0, rwnd_end=hd) == seg(2, base)
    assert sb.last_rule == 1
    sb.on_sent(*seg(2, base), retransmission=True)
    assert sb.high_rxt == seg(2, base)[1]
    assert sb.rescue_rxt == seg(2, base)[1]  # §5 step 4.3
    # Rule b: the retransmitted lost segment is in the pipe again.
    assert sb.pipe(una, hd) == 6 * MSS

    # Nothing else lost: rule 2 (new data) when there is some and the window allows.
    assert sb.next_seg(una, hd, unsent=5000, rwnd_end=hd + 10_000) == (hd, hd + MSS)
    assert sb.last_rule == 2
    assert sb.next_seg(una, hd, unsent=300, rwnd_end=hd + 10_000) == (hd, hd + 300)
    assert sb.next_seg(una, hd, unsent=5000, rwnd_end=hd + 200) == (hd, hd + 200)
    # No new data allowed: rule 3, the unSACKed, not lost, not retransmitted seg 5.
    assert sb.next_seg(una, hd, unsent=5000, rwnd_end=hd) == seg(5, base)
    assert sb.last_rule == 3
    assert sb.next_seg(una, hd, unsent=0, rwnd_end=hd + 10_000) == seg(5, base)

    # Segments 7 and 8 arrive: seg 5 now has 3000 SACKed bytes above -> lost.
    assert sb.on_ack(una, [span(6, 8, base), span(3, 4, base)]) == 2 * MSS
    assert sb.is_lost(seg(5, base)[0])
    # seg 2: lost, retransmitted (rule b only); seg 5: lost, not yet (0); segs 9, 10: rule a.
    assert sb.pipe(una, hd) == MSS + 0 + 2 * MSS
    assert sb.next_seg(una, hd, unsent=0, rwnd_end=hd) == seg(5, base)
    assert sb.last_rule == 1
    sb.on_sent(*seg(5, base), retransmission=True)
    assert sb.high_rxt == seg(5, base)[1]
    assert sb.rescue_rxt == seg(2, base)[1]  # set once per phase
    assert sb.pipe(una, hd) == 4 * MSS
    # Nothing lost above HighRxt, nothing unSACKed below the highest SACK: rule 2 or none.
    assert sb.next_seg(una, hd, unsent=0, rwnd_end=hd) is None
    assert sb.last_rule is None

    # The retransmitted segment 2 arrives: cumulative ACK up to segment 5.
    una = seg(5, base)[0]
    assert sb.on_ack(una, [span(6, 8, base)]) == 0
    assert sb.blocks() == [span(6, 8, base)]
    assert sb.sacked_bytes() == 3 * MSS
    assert sb.pipe(una, hd) == MSS + 2 * MSS  # rxt seg 5 (lost, counted by b), 9, 10
    # Retransmitted seg 5 arrives, then 9 and 10: recovery point reached.
    una = seg(9, base)[0]
    assert sb.on_ack(una, []) == 0
    assert sb.blocks() == [] and sb.sacked_bytes() == 0
    assert sb.pipe(una, hd) == 2 * MSS
    assert sb.on_ack(hd, []) == 0
    assert sb.pipe(hd, hd) == 0
    assert sb.recovery_point is not None and hd >= sb.recovery_point
    sb.exit_recovery()
    assert not sb.in_recovery and sb.recovery_point is None
    assert sb.may_enter_recovery(hd)


def test_lost_by_count_of_discontiguous_ranges() -> None:
    """IsLost, first clause: DupThresh discontiguous SACKed sequences above (§4)."""
    sb = Scoreboard(MSS)
    sb.on_sent(0, 100_000, retransmission=False)
    # Two one-byte blocks: 2 ranges, 2 bytes: not lost.
    sb.on_ack(0, [(10_000, 10_001), (20_000, 20_001)])
    assert not sb.is_lost(0)
    # A third discontiguous block: lost, though only 3 bytes are SACKed.
    assert sb.on_ack(0, [(30_000, 30_001)]) == 1
    assert sb.is_lost(0) and sb.is_lost(9_999)
    assert not sb.is_lost(10_001)  # two ranges, two bytes above
    # Adjacent blocks merge into one "sequence": the count drops, nothing is lost.
    sb2 = Scoreboard(MSS)
    sb2.on_sent(0, 100_000, retransmission=False)
    sb2.on_ack(0, [(10_000, 10_001), (10_001, 10_002), (10_002, 10_003)])
    assert sb2.blocks() == [(10_000, 10_003)]
    assert not sb2.is_lost(0)


def test_lost_bytes_threshold_is_strict_and_follows_mss() -> None:
    """IsLost, second clause: more than (DupThresh - 1) * SMSS bytes (§4); SMSS settable."""
    sb = Scoreboard(MSS)
    sb.on_sent(0, 10_000, retransmission=False)
    sb.on_ack(0, [(1000, 3000)])
    assert not sb.is_lost(0)  # exactly 2 * SMSS
    sb.on_ack(0, [(3000, 3001)])
    assert sb.is_lost(0)  # 2 * SMSS + 1
    sb.mss = 1460  # SMSS grows: 2001 bytes no longer exceed 2920
    assert not sb.is_lost(0)
    assert sb.next_seg(0, 10_000, unsent=0, rwnd_end=10_000) == (0, 1000)
    assert sb.last_rule == 3
    sb.mss = 500
    assert sb.is_lost(0)
    with pytest.raises(ValueError):
        sb.mss = 0


def test_dupthresh_parameter() -> None:
    sb = Scoreboard(MSS, dupthresh=2)
    sb.on_sent(0, 10_000, retransmission=False)
    sb.on_ack(0, [(2000, 2001)])
    assert not sb.is_lost(0)
    sb.on_ack(0, [(4000, 4001)])  # 2 discontiguous ranges
    assert sb.is_lost(0)
    sb2 = Scoreboard(MSS, dupthresh=2)
    sb2.on_sent(0, 10_000, retransmission=False)
    sb2.on_ack(0, [(2000, 3001)])  # more than 1 * SMSS
    assert sb2.is_lost(0)
    with pytest.raises(ValueError):
        Scoreboard(MSS, dupthresh=0)
    with pytest.raises(ValueError):
        Scoreboard(0)


# --- Update(): block validation and merging -------------------------------------


def test_blocks_merge_overlap_and_bridge() -> None:
    """SACKed ranges are kept merged and sorted; the return value counts only new bytes."""
    sb = flight(10)
    assert sb.on_ack(1000, [(5000, 6000), (3000, 4000)]) == 2000
    assert sb.blocks() == [(3000, 4000), (5000, 6000)]
    assert sb.on_ack(1000, [(3500, 4500)]) == 500  # overlap
    assert sb.on_ack(1000, [(4500, 5000)]) == 500  # bridges to one range
    assert sb.blocks() == [(3000, 6000)]
    assert sb.on_ack(1000, [(3000, 6000), (3200, 3300)]) == 0  # repeats: nothing new
    assert sb.on_ack(1000, [(2000, 7000)]) == 2000  # covers and extends both sides
    assert sb.blocks() == [(2000, 7000)]
    assert sb.on_ack(1000, [(8000, 9000), (7500, 8500), (9000, 9500)]) == 2000
    assert sb.blocks() == [(2000, 7000), (7500, 9500)]
    assert sb.sacked_bytes() == 7000
    assert sb.is_sacked(2000) and sb.is_sacked(6999) and not sb.is_sacked(7000)
    assert not sb.is_sacked(1999) and sb.is_sacked(9499) and not sb.is_sacked(9500)


def test_invalid_blocks_are_ignored() -> None:
    """Empty, inverted, below/at/straddling HighACK, and beyond HighData blocks change nothing."""
    sb = flight(10)
    una = 2000
    sb.on_ack(una, [(5000, 6000)])
    before = sb.blocks()
    bad = [
        (7000, 7000),  # empty
        (8000, 7000),  # inverted
        (0, 1000),  # below HighACK (D-SACK of an old duplicate, RFC 2883)
        (1000, 2000),  # ends at HighACK
        (1500, 2500),  # straddles HighACK
        (2000, 3000),  # starts at HighACK: the receiver would have acked it
        (9500, 10_001),  # beyond HighData
        (20_000, 30_000),  # far beyond HighData
    ]
    assert sb.on_ack(una, bad) == 0
    assert sb.blocks() == before
    # D-SACK inside an already SACKed range (RFC 2883 §4.2): accepted, nothing new.
    assert sb.on_ack(una, [(5200, 5400), (5000, 6000)]) == 0
    assert sb.blocks() == before


def test_cumulative_ack_discards_state_below() -> None:
    sb = flight(10)
    sb.on_ack(1000, [(2000, 3000), (4000, 6000), (8000, 9000)])
    sb.enter_recovery(10_000)
    sb.on_sent(1000, 2000, retransmission=True)
    # An ACK that also covers the first SACKed range: only state above stays.
    assert sb.on_ack(4000, [(4000, 6000), (8000, 9000), (9000, 9500)]) == 500
    # (4000, 6000) starts at HighACK: the cumulative ACK contradicts it, so it is dropped.
    assert sb.blocks() == [(8000, 9500)]
    assert sb.high_ack == 4000
    assert sb.sacked_bytes() == 1500
    assert sb.high_rxt == 4000  # never below HighACK
    # A stale ACK (lower HighACK) changes nothing.
    assert sb.on_ack(1000, [(2000, 3000)]) == 0
    assert sb.high_ack == 4000 and sb.blocks() == [(8000, 9500)]


def test_reneging_range_reached_by_the_cumulative_ack_is_dropped() -> None:
    """RFC 2018 §8: the receiver may discard SACKed data; the ACK reveals it."""
    sb = flight(10)
    sb.on_ack(1000, [(3000, 6000), (7000, 8000)])
    # The hole [1000, 3000) filled, yet the ACK stops inside the SACKed range:
    # the receiver no longer has [4000, 6000); keep nothing of that range.
    assert sb.on_ack(4000, [(7000, 8000)]) == 0
    assert sb.blocks() == [(7000, 8000)]
    assert not sb.is_sacked(4000) and not sb.is_sacked(5000)
    assert sb.pipe(4000, 10_000) == 5000  # the reneged bytes are outstanding again
    assert sb.next_seg(4000, 10_000, unsent=0, rwnd_end=10_000) == (4000, 5000)  # rule 3


# --- NextSeg details ----------------------------------------------------------------


def test_next_seg_never_crosses_sacked_range_or_high_data_and_is_at_most_mss() -> None:
    sb = Scoreboard(MSS)
    sb.on_sent(0, 9_100, retransmission=False)
    sb.on_ack(0, [(2500, 3000), (4000, 4100), (6000, 9000)])
    assert sb.is_lost(0)
    assert sb.next_seg(0, 9_100, unsent=0, rwnd_end=0) == (0, 1000)
    sb.enter_recovery(9_100)
    sb.on_sent(0, 1000, retransmission=True)
    assert sb.next_seg(0, 9_100, unsent=0, rwnd_end=0) == (1000, 2000)
    sb.on_sent(1000, 2000, retransmission=True)
    assert sb.next_seg(0, 9_100, unsent=0, rwnd_end=0) == (2000, 2500)  # stops at SACK
    sb.on_sent(2000, 2500, retransmission=True)
    assert sb.next_seg(0, 9_100, unsent=0, rwnd_end=0) == (3000, 4000)  # skips SACK
    sb.on_sent(3000, 4000, retransmission=True)
    assert sb.next_seg(0, 9_100, unsent=0, rwnd_end=0) == (4100, 5100)
    assert sb.last_rule == 1  # [4100, 6000) has 3000 bytes SACKed above
    sb.on_sent(4100, 5100, retransmission=True)
    assert sb.next_seg(0, 9_100, unsent=0, rwnd_end=0) == (5100, 6000)
    sb.on_sent(5100, 6000, retransmission=True)
    # [9000, 9100) is above every SACK: neither rule 1 nor rule 3.
    # Rule 4 needs HighACK > RescueRxt (1000): not yet.
    assert sb.next_seg(0, 9_100, unsent=0, rwnd_end=0) is None
    # HighRxt moved with each retransmission (§5 C.2).
    assert sb.high_rxt == 6000
    # Lost and retransmitted holes count once (rule b), the tail once (rule a).
    assert sb.pipe(0, 9_100) == 2500 + 1000 + 1900 + 100


def test_rule_one_takes_the_lowest_lost_hole_above_high_rxt() -> None:
    sb = flight(20)
    # Holes: seg 2, seg 5, segs 9..20. Both low holes lost.
    sb.on_ack(1000, [span(3, 4), span(6, 8)])
    assert sb.is_lost(seg(2)[0]) and sb.is_lost(seg(5)[0]) and not sb.is_lost(seg(9)[0])
    sb.enter_recovery(seg(20)[1])
    hd = seg(20)[1]
    assert sb.next_seg(1000, hd, unsent=0, rwnd_end=hd) == seg(2)
    sb.on_sent(*seg(2), retransmission=True)
    assert sb.next_seg(1000, hd, unsent=0, rwnd_end=hd) == seg(5)
    assert sb.last_rule == 1
    sb.on_sent(*seg(5), retransmission=True)
    # Lost holes are done; segs 9..20 are above every SACK: not rule 3; rule 2 if allowed.
    assert sb.next_seg(1000, hd, unsent=1, rwnd_end=hd + 1) == (hd, hd + 1)
    assert sb.next_seg(1000, hd, unsent=0, rwnd_end=hd) is None
    # A retransmission is not offered twice: HighRxt excludes it (1.a).
    assert sb.pipe(1000, hd) == 2 * MSS + 12 * MSS


def test_rule_three_retransmits_below_highest_sack_when_nothing_else() -> None:
    """Rule 3: unSACKed, below the highest SACK, above HighRxt, not lost (§4)."""
    sb = flight(6)
    sb.on_ack(1000, [seg(4)])  # holes seg 2..3 (not lost: one segment above), seg 5..6
    assert not sb.is_lost(1000)
    assert sb.next_seg(1000, 6000, unsent=0, rwnd_end=6000) == seg(2)
    assert sb.last_rule == 3
    sb.on_sent(*seg(2), retransmission=True)
    assert sb.high_rxt == seg(2)[1]
    # §4: octets retransmitted without being lost are counted twice.
    assert sb.pipe(1000, 6000) == 2 * MSS + MSS + 2 * MSS
    assert sb.next_seg(1000, 6000, unsent=0, rwnd_end=6000) == seg(3)
    sb.on_sent(*seg(3), retransmission=True)
    assert sb.next_seg(1000, 6000, unsent=0, rwnd_end=6000) is None  # 5, 6 above all SACKs


def test_rescue_retransmission_rule_four() -> None:
    """Rule 4: loss at the end of the window and no new data (§4, §5 C.2, step 4.3)."""
    sb = flight(10)
    hd = seg(10)[1]
    sb.on_ack(1000, [span(3, 9)])  # segs 2 and 10 lost
    assert sb.is_lost(1000) and not sb.is_lost(seg(10)[0])
    sb.enter_recovery(hd)
    assert sb.next_seg(1000, hd, unsent=0, rwnd_end=hd) == seg(2)
    sb.on_sent(*seg(2), retransmission=True)
    assert sb.high_rxt == seg(2)[1] and sb.rescue_rxt == seg(2)[1]
    # Seg 10 is not lost and above every SACK: no rule 1 or 3; HighACK <= RescueRxt: no 4.
    assert sb.next_seg(1000, hd, unsent=0, rwnd_end=hd) is None
    # The retransmission of seg 2 is acked: HighACK jumps to seg 10.
    una = seg(10)[0]
    assert sb.on_ack(una, []) == 0
    assert sb.pipe(una, hd) == MSS
    assert sb.next_seg(una, hd, unsent=0, rwnd_end=hd) == seg(10)
    assert sb.last_rule == 4
    # Rule 2 still comes first when new data may go.
    assert sb.next_seg(una, hd, unsent=10, rwnd_end=hd + 10) == (hd, hd + 10)
    assert sb.next_seg(una, hd, unsent=0, rwnd_end=hd) == seg(10)
    sb.on_sent(*seg(10), retransmission=True)
    assert sb.rescue_rxt == sb.recovery_point == hd  # RescueRxt = RecoveryPoint
    assert sb.high_rxt == una  # HighRxt MUST NOT move for the rescue
    # Counted again in the pipe, as §5 C.4 counts every transmission.
    assert sb.pipe(una, hd) == 2 * MSS
    # Only one rescue per recovery phase.
    assert sb.next_seg(una, hd, unsent=0, rwnd_end=hd) is None


def test_rescue_needs_high_ack_strictly_above_rescue_rxt() -> None:
    """Rule 4's "HighACK > RescueRxt": an ACK exactly at RescueRxt does not allow it."""
    sb = flight(10)
    hd = seg(10)[1]
    sb.on_ack(1000, [span(4, 9)])  # segs 2, 3 and 10 lost
    sb.enter_recovery(hd)
    for k in (2, 3):
        assert sb.next_seg(1000, hd, unsent=0, rwnd_end=hd) == seg(k)
        sb.on_sent(*seg(k), retransmission=True)
    assert sb.rescue_rxt == seg(2)[1] and sb.high_rxt == seg(3)[1]
    # Retransmitted seg 2 arrives: HighACK == RescueRxt (the octet forms are equal too).
    sb.on_ack(seg(2)[1], [span(4, 9)])
    assert sb.next_seg(seg(2)[1], hd, unsent=0, rwnd_end=hd) is None
    # One byte further and the rescue is allowed.
    sb.on_ack(seg(2)[1] + 1, [span(4, 9)])
    assert sb.next_seg(seg(2)[1] + 1, hd, unsent=0, rwnd_end=hd) == seg(10)
    assert sb.last_rule == 4


def test_rescue_segment_is_the_top_of_the_highest_gap() -> None:
    sb = Scoreboard(MSS)
    sb.on_sent(0, 8000, retransmission=False)
    sb.on_ack(0, [(1000, 2000), (3000, 4000), (7500, 8000)])
    sb.enter_recovery(8000)
    # Highest unSACKed byte is 7499, in gap [4000, 7500): segment [6500, 7500).
    assert sb.is_lost(0) and not sb.is_lost(4000)
    sb.on_sent(0, 1000, retransmission=True)
    sb.on_sent(2000, 3000, retransmission=True)
    sb.on_ack(2000, [(3000, 4000), (7500, 8000)])  # HighACK 2000 > RescueRxt 1000
    # Rule 3 first: [4000, 7500) is below the highest SACK and above HighRxt.
    assert sb.next_seg(2000, 8000, unsent=0, rwnd_end=8000) == (4000, 5000)
    assert sb.last_rule == 3
    sb.on_sent(4000, 7500, retransmission=True)  # caller retransmitted the whole gap
    assert sb.next_seg(2000, 8000, unsent=0, rwnd_end=8000) == (6500, 7500)
    assert sb.last_rule == 4
    # A small gap: the rescue is shorter than SMSS.
    sb2 = Scoreboard(MSS)
    sb2.on_sent(0, 3000, retransmission=False)
    sb2.on_ack(0, [(300, 3000)])
    sb2.enter_recovery(3000)
    assert sb2.next_seg(0, 3000, unsent=0, rwnd_end=3000) == (0, 300)
    assert sb2.last_rule == 1
    sb2.on_sent(0, 300, retransmission=True)
    sb2.on_ack(0, [(300, 3000)])
    assert sb2.next_seg(0, 3000, unsent=0, rwnd_end=3000) is None  # HighACK 0 <= 300


def test_rescue_not_outside_recovery() -> None:
    sb = flight(3)
    sb.on_ack(1000, [])
    assert sb.next_seg(1000, 3000, unsent=0, rwnd_end=3000) is None
    sb.enter_recovery(3000)
    assert sb.next_seg(1000, 3000, unsent=0, rwnd_end=3000) == (2000, 3000)
    assert sb.last_rule == 4


# --- SetPipe ------------------------------------------------------------------------


def test_pipe_counts_unsacked_not_lost_plus_retransmitted() -> None:
    sb = flight(10)
    assert sb.pipe(0, 10_000) == 10_000
    sb.on_ack(0, [span(2, 4)])
    assert sb.pipe(0, 10_000) == 6000  # seg 1 lost (3000 bytes above): not counted
    sb.enter_recovery(10_000)
    sb.on_sent(0, 1000, retransmission=True)
    assert sb.pipe(0, 10_000) == 7000  # 6000 not lost + 1000 retransmitted
    # The retransmitted segment is SACKed later (original arrived late): out of pipe.
    sb.on_ack(0, [(0 + 500, 1000), span(2, 4)])
    assert sb.pipe(0, 10_000) == 6000 + 500
    # A HighACK passed to pipe() above the last ACK acts as that ACK.
    assert sb.pipe(4000, 10_000) == 6000
    assert sb.high_ack == 4000 and sb.blocks() == []
    assert sb.pipe(10_000, 10_000) == 0


def test_retransmission_of_sacked_or_acked_bytes_is_not_counted() -> None:
    sb = flight(10)
    sb.on_ack(2000, [span(4, 6)])
    # A go-back-N style retransmission over acked, SACKed and unSACKed bytes.
    sb.on_sent(0, 7000, retransmission=True)
    assert sb.high_rxt == 7000
    # unSACKed above HighACK: [2000, 3000) (lost), [6000, 10000); retransmitted: both pieces
    # below 7000 -> 1000 + 1000.
    assert sb.pipe(2000, 10_000) == 4000 + 1000 + 1000


def test_on_sent_rejects_inverted_and_ignores_empty() -> None:
    sb = Scoreboard(MSS)
    with pytest.raises(ValueError):
        sb.on_sent(10, 5, retransmission=False)
    sb.on_sent(5, 5, retransmission=True)
    assert sb.high_data is None and sb.high_ack is None
    sb.on_sent(5, 10, retransmission=False)
    assert sb.high_ack == 5 and sb.high_data == 10 and sb.high_rxt == 5


# --- RTO and recovery phase ----------------------------------------------------------


def test_reset_after_timeout_forgets_retransmissions_and_sacks_by_default() -> None:
    """§5.1 and RFC 2018 §8: after an RTO, retransmission state and SACK marks go."""
    sb = flight(10)
    sb.on_ack(1000, [span(3, 6)])
    sb.enter_recovery(10_000)
    sb.on_sent(*seg(2), retransmission=True)
    sb.on_sent(10_000, 11_000, retransmission=False)  # new data during recovery
    sb.reset_after_timeout()
    assert not sb.in_recovery
    assert sb.high_rxt == 1000  # back to HighACK
    assert sb.rescue_rxt is None
    assert sb.recovery_point == 11_000  # HighData at the RTO, kept (§5.1)
    assert sb.blocks() == [] and sb.sacked_bytes() == 0
    assert sb.pipe(1000, 11_000) == 10_000
    # No new recovery phase until HighACK reaches the RecoveryPoint.
    assert not sb.may_enter_recovery(1000)
    assert not sb.may_enter_recovery(10_999)
    assert sb.may_enter_recovery(11_000)
    # SACK information arriving after the RTO is used again.
    assert sb.on_ack(1000, [span(3, 6)]) == 4000
    assert sb.is_lost(1000)


def test_reset_after_timeout_can_keep_sacks() -> None:
    sb = flight(10)
    sb.on_ack(1000, [span(3, 6)])
    sb.enter_recovery(10_000)
    sb.on_sent(*seg(2), retransmission=True)
    assert sb.pipe(1000, 10_000) == 5000
    sb.reset_after_timeout(keep_sacks=True)
    assert sb.blocks() == [span(3, 6)]
    assert sb.high_rxt == 1000
    assert sb.pipe(1000, 10_000) == 4000  # the retransmission mark is gone
    assert not sb.is_sacked(1000)  # the left edge is never SACKed
    # Rule 1 offers the lost segment again (HighRxt is back at HighACK).
    assert sb.next_seg(1000, 10_000, unsent=0, rwnd_end=10_000) == seg(2)


def test_enter_recovery_restarts_high_rxt_and_marks() -> None:
    sb = flight(10)
    sb.on_ack(1000, [span(3, 6)])
    sb.on_sent(*seg(2), retransmission=True)  # e.g. before a phase, by the caller
    assert sb.high_rxt == 2000 and sb.rescue_rxt is None  # not in recovery: no RescueRxt
    sb.enter_recovery(10_000)
    assert sb.high_rxt == 1000
    assert sb.pipe(1000, 10_000) == 4000
    assert sb.may_enter_recovery(1000) is False
    sb.exit_recovery()
    assert sb.may_enter_recovery(1000)


# --- Efficiency: thousands of segments, ACK after ACK ------------------------------


def test_many_segments_scale() -> None:
    n = 4000
    sb = Scoreboard(MSS)
    hd = n * MSS
    sb.on_sent(0, hd, retransmission=False)
    # Every other segment lost; SACKs arrive 3 blocks per ACK, newest first.
    received = [seg(k) for k in range(2, n + 1, 2)]
    for i in range(len(received)):
        newest = received[i]
        older = received[max(0, i - 2) : i]
        assert sb.on_ack(0, [newest, *reversed(older)]) == MSS
        sb.pipe(0, hd)
    assert len(sb.blocks()) == n // 2
    assert sb.sacked_bytes() == hd // 2
    sb.enter_recovery(hd)
    sent = 0
    while (nxt := sb.next_seg(0, hd, unsent=0, rwnd_end=hd)) is not None and sent < n:
        sb.on_sent(*nxt, retransmission=True)
        sent += 1
    # Every hole once: rule 1 for the 1998 lost ones, rule 3 for the top two (only one
    # and two SACKed segments above them); then rule 4 would need HighACK > RescueRxt.
    assert sent == n // 2
    assert sb.pipe(0, hd) == 1998 * MSS + 2 * (2 * MSS)


# --- Differential property test against a byte-by-byte reading of the RFC -------------


@dataclass
class Model:
    """Every byte by itself: a literal, slow reading of RFC 6675 §4 and of the API."""

    mss: int
    dupthresh: int = 3
    sacked: set[int] = field(default_factory=set)
    rexmit: set[int] = field(default_factory=set)
    high_ack: int = 0
    high_data: int = 0
    high_rxt: int = 0
    rescue_rxt: int | None = None
    recovery_point: int | None = None
    in_recovery: bool = False
    offer: tuple[int, int] | None = None

    def sent(self, start: int, end: int, retransmission: bool) -> None:
        offer, self.offer = self.offer, None
        if end <= start:
            return
        self.high_data = max(self.high_data, end)
        if not retransmission:
            return
        start = max(start, self.high_ack)
        if end <= start:
            return
        self.rexmit |= {b for b in range(start, end) if b not in self.sacked}
        if offer is not None and self.in_recovery and offer[0] <= start and end <= offer[1]:
            self.rescue_rxt = self.recovery_point
            return
        if self.in_recovery and self.rescue_rxt is None:
            self.rescue_rxt = end
        self.high_rxt = max(self.high_rxt, end)

    def advance(self, high_ack: int) -> None:
        if high_ack > self.high_ack:
            self.high_ack = high_ack
            self.sacked = {b for b in self.sacked if b >= high_ack}
            b = high_ack
            while b in self.sacked:  # a run reached by the cumulative ACK: reneged
                self.sacked.discard(b)
                b += 1
            self.rexmit = {b for b in self.rexmit if b >= high_ack}
            self.high_data = max(self.high_data, high_ack)
        self.high_rxt = max(self.high_rxt, self.high_ack)

    def ack(self, high_ack: int, blocks: list[tuple[int, int]]) -> int:
        self.advance(high_ack)
        self.offer = None
        new = 0
        for left, right in blocks:
            if right <= left or left <= self.high_ack or right > self.high_data:
                continue
            fresh = set(range(left, right)) - self.sacked
            new += len(fresh)
            self.sacked |= fresh
            self.rexmit -= fresh
        return new

    def is_lost(self, s: int) -> bool:
        if s < self.high_ack or s in self.sacked:
            return False
        above = sorted(b for b in self.sacked if b > s)
        runs = sum(1 for i, b in enumerate(above) if i == 0 or above[i - 1] != b - 1)
        return runs >= self.dupthresh or len(above) > (self.dupthresh - 1) * self.mss

    def pipe(self) -> int:
        total = 0
        for s in range(self.high_ack, self.high_data):
            if s in self.sacked:
                continue
            total += (not self.is_lost(s)) + (s in self.rexmit)
        return total

    def _run(self, s: int) -> tuple[int, int]:
        e = s
        while e < self.high_data and e not in self.sacked and e - s < self.mss:
            e += 1
        return s, e

    def next_seg(self, unsent: int, rwnd_end: int) -> tuple[tuple[int, int], int] | None:
        self.offer = None
        top_sack = max(self.sacked) if self.sacked else -1
        lo = max(self.high_rxt, self.high_ack)
        cands = [s for s in range(lo, self.high_data) if s not in self.sacked and s < top_sack]
        for s in cands:
            if self.is_lost(s):
                return self._run(s), 1
        if unsent > 0 and rwnd_end > self.high_data:
            n = min(self.mss, unsent, rwnd_end - self.high_data)
            return (self.high_data, self.high_data + n), 2
        if cands:
            return self._run(cands[0]), 3
        if self.in_recovery and (self.rescue_rxt is None or self.high_ack > self.rescue_rxt):
            unsacked = [b for b in range(self.high_ack, self.high_data) if b not in self.sacked]
            if unsacked:
                end = unsacked[-1] + 1
                start = end
                while (
                    start > self.high_ack
                    and start - 1 not in self.sacked
                    and end - start < self.mss
                ):
                    start -= 1
                self.offer = (start, end)
                return (start, end), 4
        return None


_send = st.tuples(st.just("send"), st.integers(1, 12))
_ack = st.tuples(
    st.just("ack"),
    st.sampled_from([0, 0, 0, 1, 2, 5]),
    st.lists(st.tuples(st.integers(-3, 30), st.integers(-2, 8)), max_size=4),
)
_next = st.tuples(st.just("next"), st.sampled_from([0, 0, 3]), st.integers(0, 8))
ops = st.lists(
    st.one_of(
        _send,
        _ack,
        _ack,
        _ack,
        _next,
        _next,
        _next,
        st.tuples(st.just("rxt"), st.integers(-3, 40), st.integers(0, 8)),
        st.tuples(st.just("enter")),
        st.tuples(st.just("exit")),
        st.tuples(st.just("rto"), st.booleans()),
        st.tuples(st.just("mss"), st.integers(1, 5)),
    ),
    max_size=50,
)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([0, 7, 2**32 - 20, 2**45 + 3]),
    mss=st.integers(1, 5),
    dupthresh=st.integers(1, 4),
    script=ops,
)
def test_matches_bytewise_model_and_keeps_invariants(
    base: int, mss: int, dupthresh: int, script: list[tuple[object, ...]]
) -> None:
    """Pins Update, IsLost, SetPipe and NextSeg rules 1-4 against a per-byte reading.

    Invariants on every step: pipe >= 0; blocks disjoint, non-adjacent, sorted,
    above HighACK and within HighData; NextSeg never returns SACKed bytes,
    bytes below HighACK, more than SMSS, or (rules 1, 3, 4) bytes at or above
    HighData; HighRxt >= HighACK.
    """
    sb = Scoreboard(mss, dupthresh)
    sb.on_sent(base, base, retransmission=False)  # no-op
    m = Model(mss, dupthresh)  # model offsets are relative to base
    sb.on_sent(base, base + 24, retransmission=False)
    m.sent(0, 24, False)
    for op in script:
        kind = op[0]
        if kind == "send":
            n = op[1]
            assert isinstance(n, int)
            sb.on_sent(base + m.high_data, base + m.high_data + n, retransmission=False)
            m.sent(m.high_data, m.high_data + n, False)
        elif kind == "ack":
            adv, raw = op[1], op[2]
            assert isinstance(adv, int) and isinstance(raw, list)
            ha = min(m.high_ack + adv, m.high_data)
            blocks = [(m.high_ack + off, m.high_ack + off + w) for off, w in raw]
            got = sb.on_ack(base + ha, [(base + a, base + b) for a, b in blocks])
            assert got == m.ack(ha, blocks)
        elif kind == "next":
            unsent, wnd = op[1], op[2]
            assert isinstance(unsent, int) and isinstance(wnd, int)
            rwnd_end = m.high_data + wnd - 3
            got_seg = sb.next_seg(
                base + m.high_ack, base + m.high_data, unsent=unsent, rwnd_end=base + rwnd_end
            )
            want = m.next_seg(unsent, rwnd_end)
            if want is None:
                assert got_seg is None and sb.last_rule is None
            else:
                assert got_seg is not None
                (ws, we), rule = want
                event(f"NextSeg rule {rule}")
                assert (got_seg[0] - base, got_seg[1] - base, sb.last_rule) == (ws, we, rule)
                s, e = got_seg
                assert 0 < e - s <= sb.mss
                assert s >= base + m.high_ack
                assert not any(sb.is_sacked(b) for b in range(s, e))
                if rule != 2:
                    assert e <= base + m.high_data
                    # send what NextSeg offered, as a caller would
                    sb.on_sent(s, e, retransmission=True)
                    m.sent(s - base, e - base, True)
                else:
                    assert s == base + m.high_data
        elif kind == "rxt":
            start, n = op[1], op[2]
            assert isinstance(start, int) and isinstance(n, int)
            start = max(0, min(start, m.high_data))
            end = min(start + n, m.high_data)
            sb.on_sent(base + start, base + end, retransmission=True)
            m.sent(start, end, True)
        elif kind == "enter":
            if sb.may_enter_recovery(base + m.high_ack):
                sb.enter_recovery(base + m.high_data)
                m.in_recovery, m.recovery_point = True, m.high_data
                m.rescue_rxt, m.offer, m.rexmit, m.high_rxt = None, None, set(), m.high_ack
        elif kind == "exit":
            sb.exit_recovery()
            m.in_recovery, m.recovery_point, m.rescue_rxt, m.offer = False, None, None, None
        elif kind == "rto":
            keep = op[1]
            assert isinstance(keep, bool)
            sb.reset_after_timeout(keep_sacks=keep)
            m.high_rxt, m.rexmit, m.rescue_rxt, m.offer = m.high_ack, set(), None, None
            m.in_recovery, m.recovery_point = False, m.high_data
            if not keep:
                m.sacked = set()
        elif kind == "mss":
            n = op[1]
            assert isinstance(n, int)
            sb.mss = m.mss = n

        # invariants and agreement after every step
        hd = base + m.high_data
        ha = base + m.high_ack
        pipe = sb.pipe(ha, hd)
        assert pipe >= 0
        if sb.is_lost(ha):
            event("HighACK lost")
        assert pipe == m.pipe()
        assert sb.high_rxt >= ha
        blocks_now = sb.blocks()
        for (_s1, e1), (s2, _e2) in pairwise(blocks_now):
            assert e1 < s2
        assert all(ha < s < e <= hd for s, e in blocks_now)
        assert sum(e - s for s, e in blocks_now) == sb.sacked_bytes() == len(m.sacked)
        assert {b - base for s, e in blocks_now for b in range(s, e)} == m.sacked
        for b in range(m.high_ack - 1, m.high_data + 1):
            assert sb.is_lost(base + b) == m.is_lost(b)
        assert sb.rescue_rxt == (None if m.rescue_rxt is None else base + m.rescue_rxt)
