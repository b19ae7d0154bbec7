"""TIME-WAIT reuse by a new SYN: RFC 9293 §3.6.1 MAY-2, RFC 1122 §4.2.2.13, RFC 6191 §2.

A SYN (no ACK, no RST) for a 4-tuple in TIME-WAIT, with a listener, opens a
new incarnation only when its old segments cannot be mistaken for the new
one's:

* without timestamps: its SEQ is above RCV.NXT of the old incarnation;
* when the old incarnation used timestamps and the SYN carries one: its TSval
  is newer than TS.Recent, or equal with a higher SEQ; an older TSval is
  refused whatever the SEQ;
* a SYN without timestamps after an incarnation with them: the SEQ decides;
* an incarnation without timestamps followed by a SYN with them: accepted
  (RFC 6191 §2: the new incarnation's timestamps protect it).

Accepted: the old TCB ends (ConnectionClosed), a SYN-ACK leaves from the new
one, counted ``time_wait_reused``. Refused: counted
``time_wait_reuse_refused``, and the SYN is processed as TIME-WAIT processes
any segment (§3.10.7.4): an ACK <SEQ=SND.NXT><ACK=RCV.NXT> (the acceptability
test, the SYN check's challenge ACK, or PAWS), or silence for a segment
without the timestamps the old incarnation requires (RFC 7323 §3.2).

Timeline of :meth:`Server.time_wait`: SYN at 1.0, our FIN at 2.0, its ACK at
2.1, the peer's FIN at 10.0 (RCV.NXT = IRS + 2; with timestamps TS.Recent is
the FIN's TSval). New SYNs arrive at 20.0. SEQ below are relative to the old
IRS: 2 is RCV.NXT.
"""

from __future__ import annotations

import pytest
from liveness_script import Server
from tcp_script import Out, describe, stack_segments

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.seq import seq_add
from tcpstack.state import State

AT = 20.0
RCV_NXT = 2
"""RCV.NXT of the old incarnation, relative to its IRS."""
OLD_ACK = Out("A", seq=2, ack=2)
"""TIME-WAIT's ACK: <SEQ=SND.NXT><ACK=RCV.NXT> of the old incarnation."""


def in_time_wait(*, timestamps: bool, config: TcpConfig | None = None,
                 ts_base: int | None = None) -> tuple[Server, Connection]:
    s = Server(config, timestamps=timestamps)
    if ts_base is not None:
        s.ts_base = ts_base
    old = s.time_wait()
    assert old.negotiated.timestamps is timestamps
    return s, old


def assert_reused(s: Server, old: Connection, seq: int) -> None:
    """The SYN at relative ``seq`` opened a new incarnation."""
    assert old.state is State.CLOSED
    [new] = s.stack.connections
    assert new is not old
    assert new.state is State.SYN_RECEIVED
    assert new.irs == seq_add(s.irs, seq)
    [syn_ack] = stack_segments(s.stack, at=AT)
    assert describe([syn_ack], [Out("SA", 0, 0)], (new.iss, new.irs)) == [
        Out("SA", seq=0, ack=1)
    ]
    assert s.app_events() == [ev.ConnectionClosed()]  # the old one ended cleanly
    assert s.stack.stats["time_wait_reused"] == 1
    assert s.stack.stats["time_wait_reuse_refused"] == 0


def assert_refused(s: Server, old: Connection, expected: list[Out]) -> None:
    """The SYN left the old incarnation in TIME-WAIT and drew ``expected``."""
    s.expect(expected, at=AT)
    assert old.state is State.TIME_WAIT
    assert s.stack.connections == [old]
    assert s.app_events() == []
    assert s.stack.stats["time_wait_reused"] == 0
    assert s.stack.stats["time_wait_reuse_refused"] == 1


# ----------------------------------------------------------------------
# Without timestamps: the ISN decides (RFC 1122 §4.2.2.13)
# ----------------------------------------------------------------------


@pytest.mark.parametrize("seq", [RCV_NXT + 1, RCV_NXT + 100_000])
def test_higher_isn_accepted(seq: int) -> None:
    s, old = in_time_wait(timestamps=False)
    s.rx("S", seq=seq, at=AT, syn_options=True)
    assert_reused(s, old, seq)


def test_lower_isn_refused() -> None:
    s, old = in_time_wait(timestamps=False)
    s.rx("S", seq=-10, at=AT)
    assert_refused(s, old, [OLD_ACK])  # not acceptable: an ACK


def test_equal_isn_refused() -> None:
    s, old = in_time_wait(timestamps=False)
    s.rx("S", seq=RCV_NXT, at=AT)
    assert_refused(s, old, [OLD_ACK])  # SYN at RCV.NXT: the challenge ACK (RFC 5961 §4.2)


def test_accepted_incarnation_completes() -> None:
    s, old = in_time_wait(timestamps=False)
    s.rx("S", seq=100, at=AT, syn_options=True)
    assert old.state is State.CLOSED
    [new] = s.stack.connections
    stack_segments(s.stack, at=AT)
    s.irs, s.iss = new.irs, new.iss
    s.rx("A", seq=1, ack=1, at=AT + 0.1)
    assert new.state is State.ESTABLISHED
    assert s.stack.accept(80) is new


def test_syn_ack_or_rst_syn_is_not_a_reuse_attempt() -> None:
    s, old = in_time_wait(timestamps=False)
    s.rx("SA", seq=100, ack=2, at=AT)
    s.rx("SR", seq=100, at=AT + 1)
    assert old.state is State.TIME_WAIT
    assert s.stack.stats["time_wait_reused"] == 0
    assert s.stack.stats["time_wait_reuse_refused"] == 0


# ----------------------------------------------------------------------
# With timestamps (RFC 6191 §2)
# ----------------------------------------------------------------------


def ts_recent(s: Server) -> int:
    """TS.Recent of the old incarnation: the TSval of the peer's FIN at 10.0."""
    return s.tsval(10.0)


def test_newer_timestamp_accepted_even_with_a_lower_isn() -> None:
    s, old = in_time_wait(timestamps=True)
    s.rx("S", seq=-10, at=AT, tsval=ts_recent(s) + 1, syn_options=True)
    assert_reused(s, old, -10)


def test_older_timestamp_refused_even_with_a_higher_isn() -> None:
    s, old = in_time_wait(timestamps=True)
    s.rx("S", seq=100_000, at=AT, tsval=ts_recent(s) - 1)
    assert_refused(s, old, [OLD_ACK])  # PAWS (RFC 7323 §5.3): ACK and drop


def test_equal_timestamp_and_higher_isn_accepted() -> None:
    s, old = in_time_wait(timestamps=True)
    s.rx("S", seq=RCV_NXT + 1, at=AT, tsval=ts_recent(s), syn_options=True)
    assert_reused(s, old, RCV_NXT + 1)


@pytest.mark.parametrize("seq", [-10, RCV_NXT])
def test_equal_timestamp_and_no_higher_isn_refused(seq: int) -> None:
    s, old = in_time_wait(timestamps=True)
    s.rx("S", seq=seq, at=AT, tsval=ts_recent(s))
    assert_refused(s, old, [OLD_ACK])


def test_newer_timestamp_across_the_wrap_accepted() -> None:
    # TS.Recent just below 2**32; the SYN's TSval wrapped to a small number.
    s, old = in_time_wait(timestamps=True, ts_base=(1 << 32) - 10_005)
    assert ts_recent(s) == (1 << 32) - 5
    s.rx("S", seq=-10, at=AT, tsval=3, syn_options=True)
    assert_reused(s, old, -10)


def test_syn_without_timestamps_higher_isn_accepted() -> None:
    s, old = in_time_wait(timestamps=True)
    s.timestamps = False
    s.rx("S", seq=100_000, at=AT, syn_options=True)
    assert_reused(s, old, 100_000)


def test_syn_without_timestamps_lower_isn_refused() -> None:
    s, old = in_time_wait(timestamps=True)
    s.timestamps = False
    s.rx("S", seq=-10, at=AT)
    # Refused, then dropped in silence: the old incarnation requires timestamps
    # on every segment (RFC 7323 §3.2).
    assert_refused(s, old, [])


def test_old_incarnation_without_timestamps_new_one_with_them_accepted() -> None:
    s, old = in_time_wait(timestamps=False)
    s.timestamps = True
    s.rx("S", seq=-10, at=AT, syn_options=True)
    assert_reused(s, old, -10)


def test_our_timestamps_off_the_isn_decides() -> None:
    s, old = in_time_wait(timestamps=False, config=TcpConfig(timestamps=False))
    s.timestamps = True  # the SYN offers them, but they would not be used
    s.rx("S", seq=-10, at=AT)
    assert_refused(s, old, [OLD_ACK])
