"""The data path's second pass (docs/performance.md "The data path, buffers and
wire, second pass"): each shortcut against the general computation it replaces.

* ``Segment.timestamps`` / ``sack_blocks`` recognise the two common option
  layouts without a scan: against a plain scan of any option tuple;
  ``Segment.seg_len`` against its definition (RFC 9293 §3.4);
* ``ReceiveBuffer.window_update_worth`` against ``window_edge``'s growth and
  ``rcv_wnd`` (MUST-39), ``ReceiveBuffer.read``'s urgent test against
  ``urgent_pending``, ``deliver``, ``off`` and ``rcv_wnd`` across the
  sequence-number wrap;
* ``SendBuffer``'s mappings written without ``len(self)`` and ``seq_diff``
  (``beyond``, ``unsent``, ``space``, ``end_off``, ``end_seq``, ``off``,
  ``index``, ``acknowledge``) against the formulas they replace, across the wrap;
* ``Tcb.rcv_mss`` / ``sws_step`` for IPv4, IPv6 and address subclasses;
* ``sender.S`` holds State's own members; ``Connection.read`` reads the
  clock exactly when it did.
"""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st
from tcp_script import ISS, PEER, US, Script
from wire_strategies import option_lists

from tcpstack.buffers import MAX_UNSCALED_WINDOW, ReceiveBuffer, SendBuffer
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.sender import S
from tcpstack.seq import SEQ_MOD, seq_add, seq_diff
from tcpstack.state import State
from tcpstack.tcb import Endpoint
from tcpstack.wire import NOP, Flags, Mss, Nop, Sack, Segment, Timestamps

SEQS = st.one_of(st.integers(0, SEQ_MOD - 1), st.integers(SEQ_MOD - 70_000, SEQ_MOD - 1))


# -- the wire ---------------------------------------------------------------------


def _scan_timestamps(seg: Segment) -> Timestamps | None:
    return next((o for o in seg.options if isinstance(o, Timestamps)), None)


def _scan_sack(seg: Segment) -> tuple[tuple[int, int], ...]:
    return next((o.blocks for o in seg.options if isinstance(o, Sack)), ())


class _Stamp(Timestamps):
    """A Timestamps subclass: isinstance accepts it, the exact-type shortcut must not miss it."""

    __slots__ = ()


LAYOUTS = st.one_of(
    option_lists(),
    st.builds(lambda a, b: (NOP, NOP, Timestamps(a, b)),
              st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.builds(lambda a: (Nop(), Nop(), Timestamps(a, 0)), st.integers(0, 9)),
    st.builds(lambda a: (NOP, NOP, _Stamp(a, 1)), st.integers(0, 9)),
    st.builds(lambda a: (NOP, NOP, Sack(((a, a + 5),))), st.integers(0, 9)),
    st.builds(lambda a: (NOP, NOP, Timestamps(a, 2), NOP, NOP, Sack(((1, 2),))),
              st.integers(0, 9)),
    st.sampled_from([(), (NOP, NOP, NOP), (NOP, NOP, Mss(1460)), (NOP, Timestamps(1, 2)),
                     (Timestamps(3, 4), NOP, NOP), (NOP, NOP, Timestamps(5, 6), Timestamps(7, 8))]),
)


@settings(max_examples=300, deadline=None)
@given(LAYOUTS)
def test_timestamps_and_sack_blocks_equal_a_plain_scan(options: tuple[object, ...]) -> None:
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5, 0, options)  # type: ignore[arg-type]
    assert seg.timestamps is _scan_timestamps(seg)
    assert seg.sack_blocks == _scan_sack(seg)


def test_shortcut_layout_gives_the_option_object_itself() -> None:
    ts = Timestamps(7, 8)
    seg = Segment(1, 2, 3, 4, Flags.ACK, 5, 0, (NOP, NOP, ts))
    assert seg.timestamps is ts and seg.sack_blocks == ()
    stamp = _Stamp(1, 2)
    assert Segment(1, 2, 3, 4, Flags.ACK, 5, 0, (NOP, NOP, stamp)).timestamps is stamp


@given(st.integers(0, 255), st.integers(0, 3000))
def test_seg_len_counts_payload_syn_and_fin(bits: int, size: int) -> None:
    seg = Segment(1, 2, 3, 4, Flags(bits), 5, payload=b"x" * size)
    assert seg.seg_len == size + (1 if bits & 0x02 else 0) + (1 if bits & 0x01 else 0)


# -- the receive buffer -------------------------------------------------------------


def _receive_buffer(rcv_nxt: int, adv: int, unread: int) -> ReceiveBuffer:
    rcv = ReceiveBuffer(rcv_nxt)
    if unread:
        rcv.deliver(b"d" * unread)
    rcv.rcv_adv = seq_add(rcv.rcv_nxt, adv)
    return rcv


@settings(max_examples=400, deadline=None)
@given(SEQS, st.integers(-3000, 2**20), st.integers(0, 70_000),
       st.integers(0, 2**21), st.integers(0, 14), st.integers(0, 4000))
def test_window_update_worth_is_growth_by_a_step_and_by_rcv_wnd(
        rcv_nxt: int, adv: int, unread: int, capacity: int, wscale: int, step: int) -> None:
    rcv = _receive_buffer(rcv_nxt, adv, unread)
    grown = seq_diff(rcv.window_edge(capacity, wscale), rcv.rcv_adv)  # the growth
    expected = grown >= step and grown >= rcv.rcv_wnd
    assert rcv.window_update_worth(capacity, wscale, step) is expected
    free = max(0, capacity - rcv.readable)
    assert grown == seq_diff(seq_add(rcv.rcv_nxt, min(free, MAX_UNSCALED_WINDOW << wscale)),
                             rcv.rcv_adv)


@given(SEQS, st.integers(-3000, 2**20), st.lists(st.integers(0, 3000), max_size=5), SEQS)
def test_deliver_off_and_rcv_wnd_across_the_wrap(rcv_nxt: int, adv: int, sizes: list[int],
                                                  seq: int) -> None:
    rcv = ReceiveBuffer(rcv_nxt)
    rcv.rcv_adv = seq_add(rcv_nxt, adv)
    for n in sizes:
        assert rcv.deliver(b"z" * n) == n
    total = sum(sizes)
    assert rcv.rcv_nxt == seq_add(rcv_nxt, total) and rcv.rcv_off == total
    assert rcv.readable == total
    assert rcv.off(seq) == total + seq_diff(seq, rcv.rcv_nxt)
    assert rcv.rcv_wnd == max(0, seq_diff(rcv.rcv_adv, rcv.rcv_nxt))


@given(st.integers(1, 5000), st.integers(0, 6000), st.integers(-1, 6000))
def test_read_clears_the_urgent_signal_exactly_when_nothing_urgent_is_left(
        size: int, up_off: int, max_bytes: int) -> None:
    rcv = ReceiveBuffer(100)
    rcv.deliver(b"u" * size)
    rcv.up_off = up_off
    rcv.urgent_signaled = True
    out = rcv.read(max_bytes)
    assert rcv.urgent_signaled is not (bool(out) and not rcv.urgent_pending)


# -- the send buffer ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(SEQS, st.lists(st.integers(1, 5000), max_size=4), st.integers(0, 30_000),
       st.integers(-3000, 30_000), st.integers(0, 40_000))
def test_send_buffer_mappings_equal_their_formulas(
        head: int, writes: list[int], acked: int, probe: int, capacity: int) -> None:
    buf = SendBuffer(head)
    for n in writes:
        buf.append(b"s" * n, 1 << 20)
    acked = min(acked, len(buf))
    before = len(buf)
    assert buf.acknowledge(seq_add(head, acked)) == acked
    assert len(buf) == before - acked
    seq = seq_add(buf.head_seq, probe)
    assert buf.index(seq) == seq_diff(seq, buf.head_seq) == probe
    assert buf.off(seq) == buf.head_off + probe
    assert buf.beyond(seq) == len(buf) - buf.index(seq)
    assert buf.unsent(seq) == len(buf) - max(0, min(buf.index(seq), len(buf)))
    assert buf.space(capacity) == max(0, capacity - len(buf))
    assert buf.end_off == buf.head_off + len(buf)
    assert buf.end_seq == buf.fin_seq == seq_add(buf.head_seq, len(buf))


@given(SEQS, st.integers(1, 5000), st.integers(-5000, 10_000))
def test_acknowledge_takes_only_what_is_held(head: int, size: int, delta: int) -> None:
    buf = SendBuffer(head)
    buf.append(b"a" * size, 1 << 20)
    got = buf.acknowledge(seq_add(head, delta))
    assert got == max(0, min(delta, size))
    assert buf.head_off == got and buf.head_seq == seq_add(head, got)
    assert len(buf) == size - got


# -- the TCB ------------------------------------------------------------------------


class _V4(ipaddress.IPv4Address):
    pass


class _V6(ipaddress.IPv6Address):
    pass


def test_rcv_mss_and_sws_step_by_address_family() -> None:
    config = TcpConfig(mss=1460, recv_buffer=2000)
    cases = [(US.address, 1460), (_V4("192.0.2.1"), 1460),
             (ipaddress.IPv6Address("2001:db8::1"), 1440), (_V6("2001:db8::1"), 1440)]
    for address, mss in cases:
        peer = PEER.address if address.version == 4 else ipaddress.IPv6Address("2001:db8::2")
        conn = Connection(Endpoint(address, 40000), Endpoint(peer, 80), iss=1, config=config)
        assert conn.rcv_mss == mss
        assert conn.sws_step() == min(2000 // 2, mss)
    big = Connection(US, PEER, iss=1, config=TcpConfig(recv_buffer=1 << 20))
    assert big.sws_step() == big.rcv_mss


def test_sender_s_holds_the_state_members() -> None:
    names = [name for name in vars(S) if not name.startswith("_")]
    assert sorted(names) == sorted(State.__members__)
    for name in names:
        assert getattr(S, name) is State[name]


def test_read_reads_the_clock_only_with_data_or_a_fin() -> None:
    calls: list[float] = []

    def clock() -> float:
        calls.append(5.0)
        return 5.0

    s = Script(Connection(US, PEER, iss=ISS, clock=clock))
    s.conn.open_active(0.0)
    s.conn.packets_to_send(0.0)
    s.rx("SA", seq=0, ack=1, window=65535, at=0.1)
    s.conn.packets_to_send(0.1)
    assert s.state is State.ESTABLISHED
    conn = s.conn
    calls.clear()
    assert conn.read() == b"" and conn.read(10) == b"" and conn.read(0) == b""
    assert calls == []  # nothing buffered, no FIN: not even the clock
    s.rx("A", seq=1, ack=1, data=b"hello", at=2.0)
    assert conn.read(0) == b"" and len(calls) == 1  # data buffered: as before
    assert conn.read(2) == b"he" and len(calls) == 2
    assert conn.read() == b"llo" and len(calls) == 3
    assert conn.read() == b"" and len(calls) == 3
    s.rx("FA", seq=6, ack=1, at=3.0)
    assert conn.read() == b"" and len(calls) == 4  # the FIN: end of stream, as before
