"""The out-of-order queue under attack: bounded memory, range limit, SACK blocks (issue 12).

* Exact bytes delivered whatever the order, overlaps and page boundaries:
  ``test_queue_*`` and the hypothesis property ``test_property_*``.
* SACK blocks (RFC 2018 §4) after given arrivals, newest first, never
  claiming pruned data (RFC 2018 §8): ``test_sack_*``.
* ``ofo_max_ranges``: pruning from the top end, never below the arriving
  segment; dropping above everything (Linux ``tcp_prune_ofo_queue``):
  ``test_limit_*``, also through a connection.
* Memory: 65,536 one-byte holes held in less than twice the bytes held
  (tracemalloc; no wall-clock assertion anywhere): ``test_memory_*``.
* The counters ``ofo_queued``, ``ofo_merged``, ``ofo_dropped``,
  ``ofo_pruned``: ``test_counters_*``.
* The sender's scoreboard (RFC 6675) with tens of thousands of SACKed
  ranges, and its ``sack_max_ranges`` limit: ``test_scoreboard_*``.
"""

from __future__ import annotations

import gc
import tracemalloc
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tcp_script import (
    PEER,
    PEER_ADDR,
    Out,
    make_established,
    new_stack,
    packet,
    peer_seg,
    stack_segments,
)

from tcpstack.buffers import ReceiveBuffer
from tcpstack.config import TcpConfig
from tcpstack.reassembly import PAGE_SIZE, Held, ReassemblyQueue
from tcpstack.sack import Scoreboard
from tcpstack.wire import Mss, SackPermitted


def pattern(n: int, start: int = 0) -> bytes:
    """The stream's bytes ``[start, start + n)``: byte ``i`` is ``i * 7 % 251``."""
    return bytes((i * 7) % 251 for i in range(start, start + n))


# ----------------------------------------------------------------------
# The queue
# ----------------------------------------------------------------------


def test_queue_overlaps_keep_the_bytes_already_held() -> None:
    q = ReassemblyQueue()
    q.add(10, b"AAAA")  # 10..14
    q.add(20, b"BB")  # 20..22
    assert q.add(12, b"xxxxxxxxxxxxxxx") == Held(True, True, 0)  # 12..27 over both
    assert q.blocks() == [(10, 27)]
    assert q.ranges == 1 and len(q) == 17
    assert q.pop_contiguous(10) == b"AAAA" + b"xxxxxx" + b"BB" + b"xxxxx"
    assert not q and q.ranges == 0


def test_queue_pop_discards_bytes_below_the_offset_and_stops_at_a_hole() -> None:
    q = ReassemblyQueue()
    q.add(5, b"abcdef")  # 5..11
    q.add(13, b"gh")  # 13..15
    assert q.pop_contiguous(8) == b"def"
    assert q.blocks() == [(13, 15)]
    assert q.pop_contiguous(12) == b""  # a hole at 12: nothing, 13..15 stays
    assert q.blocks() == [(13, 15)] and len(q) == 2


def test_queue_across_pages_and_full_pages() -> None:
    q = ReassemblyQueue()
    stream = pattern(5 * PAGE_SIZE)
    # Every other page-and-a-half piece first, then the rest: full pages form.
    pieces = [(a, min(a + 3000, len(stream))) for a in range(100, len(stream), 3000)]
    for a, b in pieces[::2] + pieces[1::2]:
        q.add(a, stream[a:b])
    assert q.blocks() == [(100, 5 * PAGE_SIZE)]
    assert q.run_at(3 * PAGE_SIZE) == (100, 5 * PAGE_SIZE)
    assert q.run_at(99) is None
    assert q.pop_contiguous(100) == stream[100:]


def test_queue_counts_ranges_as_segments_join_them() -> None:
    q = ReassemblyQueue()
    for off in range(1, 20, 2):  # ten one-byte ranges
        assert q.add(off, b"x") == Held(True, False, 0)
    assert q.ranges == 10
    assert q.add(2, b"y") == Held(True, True, 0)  # joins 1 and 3
    assert q.ranges == 9
    assert q.add(4, b"y" * 15) == Held(True, True, 0)  # 4..19 joins 5, 7, ..., 19
    assert q.ranges == 1
    assert q.blocks() == [(1, 20)]


# ----------------------------------------------------------------------
# The range limit
# ----------------------------------------------------------------------


def test_limit_prunes_from_the_top_but_not_below_the_arrival() -> None:
    q = ReassemblyQueue()
    for off in (10, 20, 30, 40):
        q.add(off, b"ab", max_ranges=4)
    # A new range below the top: the highest range goes (an eighth of 4 rounds up to one).
    assert q.add(25, b"c", max_ranges=4) == Held(True, False, 1)
    assert q.blocks() == [(10, 12), (20, 22), (25, 26), (30, 32)]
    # Above everything held: nothing to prune above it, dropped.
    assert q.add(50, b"d", max_ranges=4) == Held(False, False, 0)
    # Touching a held range needs no room, at the limit too.
    assert q.add(32, b"ef", max_ranges=4) == Held(True, True, 0)
    assert q.blocks() == [(10, 12), (20, 22), (25, 26), (30, 34)]


def test_limit_prunes_an_eighth_at_a_time() -> None:
    q = ReassemblyQueue()
    for k in range(64):
        q.add(10 + 2 * k, b"z", max_ranges=64)
    held = q.add(1, b"a", max_ranges=64)
    assert held == Held(True, False, 8)
    assert q.ranges == 64 - 8 + 1
    assert q.end == 10 + 2 * 55 + 1  # the eight highest ranges are gone


def test_limit_through_a_connection_keeps_the_data_nearest_rcv_nxt() -> None:
    s = make_established(options=(Mss(1460), SackPermitted()),
                         config=TcpConfig(timestamps=False, ofo_max_ranges=2))
    s.rx("A", seq=101, ack=1, data=pattern(100, 100), at=1.0)
    s.expect([Out("A", seq=1, ack=1, options=s.sack_opt([(101, 201)]))], at=1.0)
    s.rx("A", seq=401, ack=1, data=pattern(100, 400), at=1.1)
    s.expect([Out("A", seq=1, ack=1, options=s.sack_opt([(401, 501), (101, 201)]))], at=1.1)
    # Third range, above the others: dropped, not reported.
    s.rx("A", seq=601, ack=1, data=pattern(100, 600), at=1.2)
    s.expect([Out("A", seq=1, ack=1, options=s.sack_opt([(401, 501), (101, 201)]))], at=1.2)
    # Third range below the top: 401..501 is pruned and no longer reported (RFC 2018 §8).
    s.rx("A", seq=251, ack=1, data=pattern(50, 250), at=1.3)
    s.expect([Out("A", seq=1, ack=1, options=s.sack_opt([(251, 301), (101, 201)]))], at=1.3)
    s.rx("A", seq=1, ack=1, data=pattern(100), at=1.4)
    s.expect([Out("A", seq=1, ack=201, options=s.sack_opt([(251, 301)]))], at=1.4)
    assert s.conn.read() == pattern(200)


# ----------------------------------------------------------------------
# SACK blocks (RFC 2018 §4)
# ----------------------------------------------------------------------


def test_sack_blocks_newest_first_then_reported_then_highest() -> None:
    rcv = ReceiveBuffer(1000)
    for off in (10, 30, 50, 70, 90):
        rcv.hold(off, b"xx", sack=False)
    # No arrival reported yet: the highest blocks.
    assert rcv.sack_blocks(3) == ((1090, 1092), (1070, 1072), (1050, 1052))
    rcv.hold(20, b"y", sack=True)
    assert rcv.sack_blocks(3) == ((1020, 1021), (1090, 1092), (1070, 1072))
    rcv.hold(21, b"yyyyyyyyy", sack=True)  # 21..30 joins 20..21 and 30..32
    assert rcv.sack_blocks(4) == ((1020, 1032), (1090, 1092), (1070, 1072), (1050, 1052))
    # A delivery that reaches a reported block drops it from the report.
    rcv.deliver(pattern(10))
    assert rcv.join() == b"xx"
    assert rcv.sack_blocks(4) == ((1020, 1032), (1090, 1092), (1070, 1072), (1050, 1052))


# ----------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    """A stream and segments ``(start, end)`` covering it, shuffled, with overlaps
    and duplicates."""
    n = draw(st.integers(1, 3 * PAGE_SIZE))
    cuts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=40)) if n > 1 else []))
    edges = [0, *cuts, n]
    segs = list(pairwise(edges))
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, PAGE_SIZE)),
                          max_size=10))
    segs += [(a, min(n, a + k)) for a, k in extra]
    order = draw(st.permutations(segs))
    return pattern(n), list(order)


@settings(max_examples=100, deadline=None)
@given(arrivals(), st.sampled_from([None, 1, 3, 64]))
def test_property_delivered_bytes_are_the_stream_and_blocks_are_held(
    case: tuple[bytes, list[tuple[int, int]]], max_ranges: int | None
) -> None:
    stream, segs = case
    rcv = ReceiveBuffer(0)
    out = bytearray()
    # With a range limit a round may drop data: the sender sends it all again.
    # Each round delivers at least the segment at RCV.NXT, so the rounds are bounded.
    rounds = segs * (len(segs) + 1 if max_ranges is not None else 1)
    for a, b in rounds:
        if b <= rcv.rcv_off:
            continue
        a = max(a, rcv.rcv_off)
        data = stream[a:b]
        if a == rcv.rcv_off:
            rcv.deliver(data)
            if rcv.has_holes:
                rcv.deliver(rcv.join())
        else:
            rcv.hold(a, data, sack=True, max_ranges=max_ranges)
        out += rcv.read()
        assert bytes(out) == stream[: len(out)]
        ooo = rcv._ooo
        held = ooo.blocks() if ooo is not None else []
        if max_ranges is not None:
            assert len(held) <= max_ranges
        for left, right in rcv.sack_blocks(4):
            # Every reported block is exactly one held range (RFC 2018 §4).
            assert (left - rcv.rcv_nxt + rcv.rcv_off, right - rcv.rcv_nxt + rcv.rcv_off) in held
    assert bytes(out) == stream
    assert not rcv.has_holes


def model_runs(held: dict[int, int]) -> list[tuple[int, int]]:
    """The maximal ranges of a model queue (offset -> byte)."""
    runs: list[list[int]] = []
    for off in sorted(held):
        if runs and runs[-1][1] == off:
            runs[-1][1] = off + 1
        else:
            runs.append([off, off + 1])
    return [(a, b) for a, b in runs]


operation = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 6 * PAGE_SIZE),
              st.one_of(st.integers(1, 3), st.integers(1, 3 * PAGE_SIZE))),
    st.tuples(st.just("pop"), st.integers(0, 3 * PAGE_SIZE), st.just(0)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(operation, min_size=1, max_size=60), st.sampled_from([None, 1, 4, 40]),
       st.lists(st.integers(0, 7 * PAGE_SIZE), min_size=4, max_size=4))
def test_property_queue_matches_a_byte_model(
    ops: list[tuple[str, int, int]], max_ranges: int | None, probes: list[int]
) -> None:
    """Against a dict of held bytes: ranges, counts, the range around an offset,
    pruning only whole ranges above the arrival, and the bytes popped."""
    q = ReassemblyQueue()
    model: dict[int, int] = {}
    base = 0
    for kind, at, n in ops:
        if kind == "add":
            start = base + at
            data = pattern(n, start)
            held = q.add(start, data, max_ranges)
            runs = model_runs(model)
            for _ in range(held.pruned):  # whole ranges from the top, above the arrival
                a, b = runs.pop()
                assert a > start
                for off in range(a, b):
                    del model[off]
            if held.kept:
                for i, byte in enumerate(data):
                    model.setdefault(start + i, byte)
        else:
            offset = base + at
            out = q.pop_contiguous(offset)
            end = offset
            while end in model:
                end += 1
            assert out == bytes(model[off] for off in range(offset, end))
            model = {off: byte for off, byte in model.items() if off >= end}
            base = end
        runs = model_runs(model)
        assert q.blocks() == runs
        assert (q.ranges, len(q), q.end) == (len(runs), len(model), runs[-1][1] if runs else 0)
        if max_ranges is not None:
            assert q.ranges <= max_ranges
        for probe in probes:
            off = base + probe
            assert q.run_at(off) == next(((a, b) for a, b in runs if a <= off < b), None)


# ----------------------------------------------------------------------
# Memory (tracemalloc: deterministic enough; no timing)
# ----------------------------------------------------------------------


def test_memory_65536_one_byte_holes_within_twice_the_bytes_held() -> None:
    window = 128 * 1024
    rcv = ReceiveBuffer(0)
    gc.collect()  # also empties CPython's free lists, which tracemalloc counts
    tracemalloc.start()
    try:
        for off in range(1, window, 2):  # every other byte: 65,536 holes
            held = rcv.hold(off, b"%c" % (off % 251), sack=True, max_ranges=65536)
            assert held.kept
        rcv.sack_blocks(3)
        gc.collect()
        memory, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    ooo = rcv._ooo
    assert ooo is not None and len(ooo) == 65536 and ooo.ranges == 65536
    assert memory < 2 * len(ooo)
    # Filling the holes delivers the exact bytes.
    for off in range(0, window, 2):
        data = b"%c" % (off % 251)
        assert off == rcv.rcv_off
        rcv.deliver(data)
        rcv.deliver(rcv.join())
    assert rcv.read() == bytes(off % 251 for off in range(window))
    assert not rcv.has_holes


def test_memory_default_limit_holds_65536_ranges() -> None:
    assert TcpConfig().ofo_max_ranges == 65536
    with pytest.raises(ValueError, match="ofo_max_ranges"):
        TcpConfig(ofo_max_ranges=0)


# ----------------------------------------------------------------------
# Counters, through a stack
# ----------------------------------------------------------------------


def test_counters_through_a_stack() -> None:
    stack = new_stack(config=TcpConfig(ofo_max_ranges=2, timestamps=False))
    stack.listen(80)
    irs = 1000
    stack.receive(packet(peer_seg("S", seq=irs, options=(Mss(1460), SackPermitted()))), 1.0)
    [syn_ack] = stack_segments(stack, at=1.0)
    una = syn_ack.seq + 1
    stack.receive(packet(peer_seg("A", seq=irs + 1, ack=una)), 1.0)

    def rx(rel: int, n: int, at: float) -> None:
        seg = peer_seg("A", seq=irs + 1 + rel, ack=una, data=pattern(n, rel))
        stack.receive(packet(seg), at)
        stack_segments(stack, at=at)

    rx(100, 10, 1.1)  # queued
    rx(110, 10, 1.2)  # queued, merged
    rx(300, 10, 1.3)  # queued: two ranges
    rx(500, 10, 1.4)  # above both at the limit: dropped
    rx(200, 10, 1.5)  # below the top: 300..310 pruned, queued
    counts = {k: stack.stats[k] for k in ("ofo_queued", "ofo_merged", "ofo_dropped",
                                          "ofo_pruned")}
    assert counts == {"ofo_queued": 4, "ofo_merged": 1, "ofo_dropped": 1, "ofo_pruned": 1}
    rx(0, 100, 1.6)
    conn = stack.find(80, PEER_ADDR, PEER.port)
    assert conn is not None and conn.read() == pattern(120)


# ----------------------------------------------------------------------
# The sender's scoreboard (RFC 6675) under many tiny SACKed ranges
# ----------------------------------------------------------------------


def test_scoreboard_range_limit_ignores_blocks_that_would_add_a_range() -> None:
    sb = Scoreboard(mss=100, max_ranges=2)
    sb.on_sent(0, 1000, retransmission=False)
    assert sb.on_ack(0, [(100, 110), (200, 210), (300, 310)]) == 20
    assert sb.blocks() == [(100, 110), (200, 210)]
    # Touching or overlapping a kept range is always taken.
    assert sb.on_ack(0, [(110, 120), (195, 200), (300, 310)]) == 15
    assert sb.blocks() == [(100, 120), (195, 210)]
    with pytest.raises(ValueError, match="max_ranges"):
        Scoreboard(mss=100, max_ranges=0)


def test_scoreboard_thousands_of_one_byte_ranges() -> None:
    # A peer SACKs every other byte of 64 KiB, four blocks per ACK.
    sb = Scoreboard(mss=1000)
    sb.on_sent(0, 65536, retransmission=False)
    for left in range(1, 65536, 8):
        blocks = [(a, a + 1) for a in range(left, min(left + 8, 65536), 2)]
        sb.on_ack(0, blocks)
    assert sb.sacked_bytes() == 32768 and len(sb.blocks()) == 32768
    # IsLost: three (DupThresh) ranges above -> every hole but the top two is lost.
    assert sb.is_lost(0) and sb.is_lost(65530) and not sb.is_lost(65534)
    assert sb.pipe(0, 65536) == 2  # the holes at 65532 and 65534: neither lost nor SACKed
    assert sb.next_seg(0, 65536, unsent=0, rwnd_end=65536) == (0, 1)
    # A cumulative ACK over half of them drops those ranges at once.
    sb.on_ack(32768, [])
    assert sb.sacked_bytes() == 16384 and sb.blocks()[0] == (32769, 32770)
