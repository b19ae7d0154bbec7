"""Tests of the core defects fixed by the core rebuild (each failed before its fix).

Some tests pin behaviour the fixes had to keep (they passed before too).

1. Unacceptable segments draw a rate-limited ACK (ACK war, ACK amplification):
   ``test_oow_*``, ``test_invalid_ack_*``, ``test_tw_oow_*``. The pair test
   is ``tests/pairs/test_ack_war.py``.
2. TS.Recent is only taken from accepted segments (RFC 7323 §4.3): ``test_ts_recent_*``.
3. A connection reset in the accept queue leaves it: ``test_accept_queue_*``.
4. A Stack built without a key gets a fresh ISN secret (RFC 6528 §3): ``test_isn_*``.
5. CLOSE in CLOSE-WAIT enters LAST-ACK only when the FIN leaves (RFC 9293
   §3.10.4): ``test_cw_close_*``, ``test_half_close_scenario_*``.
6. CLOSE-WAIT treats text and FIN after the peer's FIN alike (§3.10.7.4
   seventh and eighth steps): ``test_cw_after_fin_*``.
"""

from __future__ import annotations

import random

import pytest
from tcp_script import (
    PEER_ADDR,
    PEER_MSS,
    Out,
    Script,
    make_established,
    new_stack,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.connection import Connection
from tcpstack.scenarios import ScenarioOptions, get_scenario
from tcpstack.seq import seq_add, seq_gt
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.wire import Flags, Mss, Nop, Timestamps

PEER_TS = 900
HUGE_TS = PEER_TS + 2**30
"""A TSval far ahead of TS.Recent (but less than 2**31 ahead, so "newer")."""


def ts_established() -> Script:
    """ESTABLISHED with timestamps negotiated; TS.Recent = PEER_TS from the SYN-ACK."""
    s = make_established(options=(Mss(PEER_MSS), Nop(), Nop(), Timestamps(PEER_TS, 0)))
    assert s.conn.negotiated.timestamps and s.ts_base is not None
    return s


# ======================================================================
# 1. Unacceptable segments: at most one ACK per connection per interval
# ======================================================================
#
# RFC 9293 §3.10.7.4 first step: "If an incoming segment is not acceptable,
# an acknowledgment should be sent in reply". Answered without limit, two
# TCBs that each find the other's pure ACKs unacceptable answer each other
# forever (an ACK war), and a spoofer gets one ACK per forged segment. Like
# Linux (tcp_oow_rate_limited, net.ipv4.tcp_invalid_ratelimit = 500 ms), a
# pure ACK that is unacceptable draws at most one ACK per connection per
# TcpConfig.invalid_ack_ratelimit seconds. Segments carrying data or a FIN
# are never limited: a retransmission must always draw its duplicate ACK.


BEYOND = 100_000
"""A SEG.SEQ offset beyond any window the fixtures offer (65535 bytes)."""


def test_invalid_ack_ratelimit_default_is_half_a_second() -> None:
    # Linux net.ipv4.tcp_invalid_ratelimit: 500 ms.
    assert TcpConfig().invalid_ack_ratelimit == 0.5
    assert TcpConfig.linux().invalid_ack_ratelimit == 0.5


@pytest.mark.parametrize("offset", [BEYOND, -BEYOND], ids=["beyond-window", "old"])
def test_oow_pure_acks_are_rate_limited(established: Script, offset: int) -> None:
    """§3.10.7.4 first step, rate-limited: a burst of out-of-window pure ACKs at one
    instant draws one ACK; the next is answered only once 0.5 s have passed."""
    s = established
    s.rx("A", seq=1 + offset, ack=1, at=2.0)
    s.expect([Out("A", seq=1, ack=1)], at=2.0)
    for _ in range(5):
        s.rx("A", seq=1 + offset, ack=1, at=2.0)
        s.expect_nothing(at=2.0)
    for t in (2.2, 2.45):
        s.rx("A", seq=1 + offset, ack=1, at=t)
        s.expect_nothing(at=t)
    s.rx("A", seq=1 + offset, ack=1, at=2.55)
    s.expect([Out("A", seq=1, ack=1)], at=2.55)
    s.rx("A", seq=1 + offset, ack=1, at=2.6)
    s.expect_nothing(at=2.6)
    assert s.state is State.ESTABLISHED
    assert s.app_events() == []
    assert s.conn.rcv_nxt == s.irs + 1


def test_oow_pure_acks_are_rate_limited_in_syn_received(syn_received: Script) -> None:
    """SYN-RECEIVED, §3.10.7.4 first step: the half of the ACK war in
    tests/pairs/test_ack_war.py (Linux tcp_check_req rate-limits this ACK too).
    The SYN-ACK's retransmission is due at 1.0; these all come before it."""
    s = syn_received
    s.rx("A", seq=1 + BEYOND, ack=1, at=0.2)
    s.expect([Out("A", seq=1, ack=1)], at=0.2)
    for t in (0.2, 0.5):
        s.rx("A", seq=1 + BEYOND, ack=1, at=t)
        s.expect_nothing(at=t)
    s.rx("A", seq=1 + BEYOND, ack=1, at=0.75)
    s.expect([Out("A", seq=1, ack=1)], at=0.75)
    assert s.state is State.SYN_RECEIVED


def test_oow_rate_limit_interval_is_configurable() -> None:
    """TcpConfig.invalid_ack_ratelimit (seconds) sets the interval."""
    s = make_established(config=TcpConfig(invalid_ack_ratelimit=2.0))
    s.rx("A", seq=1 + BEYOND, ack=1, at=2.0)
    s.expect([Out("A", seq=1, ack=1)], at=2.0)
    for t in (2.0, 2.6, 3.9):
        s.rx("A", seq=1 + BEYOND, ack=1, at=t)
        s.expect_nothing(at=t)
    s.rx("A", seq=1 + BEYOND, ack=1, at=4.1)
    s.expect([Out("A", seq=1, ack=1)], at=4.1)


def test_oow_rate_limit_zero_disables_limiting() -> None:
    """invalid_ack_ratelimit = 0: every unacceptable segment is answered (plain §3.10.7.4)."""
    s = make_established(config=TcpConfig(invalid_ack_ratelimit=0.0))
    for _ in range(4):
        s.rx("A", seq=1 + BEYOND, ack=1, at=2.0)
        s.expect([Out("A", seq=1, ack=1)], at=2.0)


@pytest.mark.parametrize(
    ("seq", "ack"),
    [(1, 5000), (1, -70_000)],
    ids=["ack-above-snd-nxt", "ack-too-old"],
)
def test_invalid_ack_field_pure_acks_are_rate_limited(
    established: Script, seq: int, ack: int
) -> None:
    """§3.10.7.4 fifth step / RFC 5961 §5.2: a pure ACK whose SEG.ACK is above
    SND.NXT or below SND.UNA - MAX.SND.WND is dropped "with an ACK sent back";
    spoofed in a burst, it draws at most one ACK per interval per connection."""
    s = established
    answers = []
    for _ in range(6):
        s.rx("A", seq=seq, ack=ack, at=2.0)
        answers += s.conn.packets_to_send(2.0)
    assert len(answers) <= 1, [a.summary(s.base) for a in answers]
    for a in answers:
        assert (a.flags, a.seq, a.ack, a.payload) == (Flags.ACK, s.iss + 1, s.irs + 1, b"")
    assert s.state is State.ESTABLISHED


def test_invalid_ack_paws_rejected_pure_acks_are_rate_limited() -> None:
    """RFC 7323 §5.3 R1: a segment failing PAWS is "unacceptable": an ACK is sent
    and the segment dropped; for pure ACKs in a burst, at most one such ACK per
    interval (Linux: LINUX_MIB_TCPACKSKIPPEDPAWS, same per-connection limit)."""
    s = ts_established()
    old_ts = (PEER_TS - 10**6) % 2**32  # far older than TS.Recent: not a disordered ACK
    answers = []
    for _ in range(6):
        s.rx("A", seq=1, ack=1, ts=(old_ts, s.tsval(0.1)), at=2.0)
        answers += s.conn.packets_to_send(2.0)
    assert len(answers) <= 1, [a.summary(s.base) for a in answers]
    for a in answers:
        assert (a.flags, a.seq, a.ack, a.payload) == (Flags.ACK, s.iss + 1, s.irs + 1, b"")
        assert a.timestamps == Timestamps(s.tsval(2.0), PEER_TS)


def test_invalid_ack_limit_is_per_connection_across_kinds(established: Script) -> None:
    """One limiter per connection: after an out-of-window pure ACK was answered, a
    spoofed ACK of unsent data within the interval draws nothing."""
    s = established
    s.rx("A", seq=1 + BEYOND, ack=1, at=2.0)
    s.expect([Out("A", seq=1, ack=1)], at=2.0)
    s.rx("A", seq=1, ack=5000, at=2.1)
    s.expect_nothing(at=2.1)
    s.rx("A", seq=1, ack=-70_000, at=2.2)
    s.expect_nothing(at=2.2)


def test_oow_retransmitted_old_data_is_acked_every_time(established: Script) -> None:
    """Pinned (not a defect): a segment carrying data is never rate-limited, even
    right after a rate-limited ACK. Old duplicate data (§3.10.7.4 first step, an
    unacceptable segment) draws an immediate duplicate ACK every time, which the
    peer's loss recovery needs (RFC 5681 §4.2); Linux tcp_oow_rate_limited
    exempts segments with SEG.LEN > 0 likewise."""
    s = established
    s.rx("PA", seq=1, ack=1, data=b"abc", at=1.0)
    s.fire(1.2)
    s.expect([Out("A", seq=1, ack=4)], at=1.2)
    assert s.conn.read() == b"abc"
    s.rx("A", seq=4 + BEYOND, ack=1, at=2.0)  # a pure ACK answered: the limiter is armed
    s.expect([Out("A", seq=1, ack=4)], at=2.0)
    for t in (2.0, 2.05, 2.1, 2.2):
        s.rx("PA", seq=1, ack=1, data=b"abc", at=t)
        s.expect([Out("A", seq=1, ack=4)], at=t)
    # Data beyond the window carries data too: answered each time.
    for t in (2.3, 2.3):
        s.rx("PA", seq=4 + BEYOND, ack=1, data=b"zzz", at=t)
        s.expect([Out("A", seq=1, ack=4)], at=t)
    assert s.conn.readable == 0
    assert s.app_events() == [ev.DataReceived(3)]


def test_tw_oow_pure_acks_are_rate_limited(time_wait: Script) -> None:
    """TIME-WAIT, §3.10.7.4 first step: out-of-window pure ACKs are rate-limited
    like in ESTABLISHED (Linux tcp_timewait_state_process uses the same limit)."""
    s = time_wait
    s.rx("A", seq=2 + BEYOND, ack=2, at=2.0)
    s.expect([Out("A", seq=2, ack=2)], at=2.0)
    for t in (2.0, 2.0, 2.3):
        s.rx("A", seq=2 + BEYOND, ack=2, at=t)
        s.expect_nothing(at=t)
    s.rx("A", seq=2 + BEYOND, ack=2, at=2.6)
    s.expect([Out("A", seq=2, ack=2)], at=2.6)
    assert s.state is State.TIME_WAIT
    assert s.conn.timer("time_wait") == pytest.approx(1.2 + 240.0)  # not restarted


def test_tw_retransmitted_fin_is_acked_even_right_after_a_limited_ack(time_wait: Script) -> None:
    """Pinned (not a defect): a FIN is never rate-limited. TIME-WAIT (§3.10.7.4):
    "The only thing that can arrive in this state is a retransmission of the
    remote FIN. Acknowledge it, and restart the 2 MSL timeout." """
    s = time_wait
    s.rx("A", seq=2 + BEYOND, ack=2, at=2.0)
    s.expect([Out("A", seq=2, ack=2)], at=2.0)
    for t in (2.1, 2.2):
        s.rx("FA", seq=1, ack=2, at=t)
        s.expect([Out("A", seq=2, ack=2)], at=t)
        assert s.conn.timer("time_wait") == pytest.approx(t + 240.0)


def test_cw_retransmitted_fin_is_acked_even_right_after_a_limited_ack(close_wait: Script) -> None:
    """Pinned (not a defect): CLOSE-WAIT, a retransmitted FIN (old sequence space,
    §3.10.7.4 first step) draws its ACK every time, since it carries a FIN."""
    s = close_wait
    s.rx("A", seq=2 + BEYOND, ack=1, at=2.0)
    s.expect([Out("A", seq=1, ack=2)], at=2.0)
    for t in (2.1, 2.2):
        s.rx("FA", seq=1, ack=1, at=t)
        s.expect([Out("A", seq=1, ack=2)], at=t)
    assert s.app_events() == []


# ======================================================================
# 2. TS.Recent only from accepted segments (RFC 7323 §4.3, §5.3)
# ======================================================================



@pytest.mark.parametrize(
    "bad_ack",
    [5000, -70_000],
    ids=["ack-above-snd-nxt", "ack-below-snd-una-minus-max-snd-wnd"],
)
def test_ts_recent_not_updated_by_a_segment_dropped_for_its_ack(bad_ack: int) -> None:
    """RFC 9293 §3.10.7.4 fifth step / RFC 5961 §5.2 drop the segment (with an
    ACK); RFC 7323 §4.3: TS.Recent is updated only from segments that are
    accepted. If it took the dropped segment's TSval, every later valid segment
    would fail PAWS (§5.3 R1) and the connection would stall."""
    s = ts_established()
    s.rx("A", seq=1, ack=bad_ack, ts=(HUGE_TS, s.tsval(0.1)), at=1.0)
    # The ACK sent back still echoes the old TS.Recent.
    s.expect([Out("A", seq=1, ack=1, options=s.ts_opt(1.0, PEER_TS))], at=1.0)
    assert s.app_events() == []
    # A valid segment with a current TSval is accepted, delivered and ACKed.
    s.rx("PA", seq=1, ack=1, data=b"hello", ts=(PEER_TS + 1, s.tsval(0.1)), at=1.1)
    assert s.app_events() == [ev.DataReceived(5)]
    assert s.conn.read() == b"hello"
    s.fire(1.3)  # delayed ACK
    s.expect([Out("A", seq=1, ack=6, options=s.ts_opt(1.3, PEER_TS + 1))], at=1.3)


def test_ts_recent_not_updated_by_a_data_segment_dropped_for_its_ack() -> None:
    """Same rule with data on the dropped segment: its text is not taken (the
    fifth step drops it) and neither is its TSval."""
    s = ts_established()
    s.rx("PA", seq=1, ack=5000, data=b"evil", ts=(HUGE_TS, s.tsval(0.1)), at=1.0)
    s.expect([Out("A", seq=1, ack=1, options=s.ts_opt(1.0, PEER_TS))], at=1.0)
    assert s.conn.readable == 0
    s.rx("PA", seq=1, ack=1, data=b"good", ts=(PEER_TS + 1, s.tsval(0.1)), at=1.1)
    assert s.conn.read() == b"good"


# ======================================================================
# 3. The accept queue holds only live connections
# ======================================================================



def handshake(stack: Stack, *, sport: int, irs: int, at: float) -> Connection:
    """Complete a passive handshake on port 80 from PEER_ADDR:sport (raw packets)."""
    stack.receive(packet(peer_seg("S", seq=irs, sport=sport)), at)
    [syn_ack] = stack_segments(stack, at=at)
    assert (syn_ack.flags, syn_ack.ack, syn_ack.dst_port) == (Flags.SYN | Flags.ACK, irs + 1, sport)
    stack.receive(packet(peer_seg("A", seq=irs + 1, ack=syn_ack.seq + 1, sport=sport)), at)
    conn = stack.find(80, PEER_ADDR, sport)
    assert conn is not None and conn.state is State.ESTABLISHED
    return conn


def test_accept_queue_reset_child_leaves_the_queue() -> None:
    """Backlog 1: a queued connection reset before accept() (§3.10.7.4 second step,
    an acceptable RST -> CLOSED) no longer counts against the backlog: the next
    client's SYN draws a SYN-ACK (§3.10.7.2 third step), and accept() returns the
    new connection, never the dead one."""
    stack = new_stack()
    stack.listen(80, backlog=1)
    dead = handshake(stack, sport=1001, irs=100, at=1.0)
    stack.receive(packet(peer_seg("R", seq=101, sport=1001)), 1.1)
    assert dead.state is State.CLOSED
    assert stack_segments(stack, at=1.1) == []
    stack_events(stack)

    stack.receive(packet(peer_seg("S", seq=5000, sport=1002)), 1.2)
    segs = stack_segments(stack, at=1.2)
    assert [(s.flags, s.ack, s.dst_port) for s in segs] == [(Flags.SYN | Flags.ACK, 5001, 1002)]
    assert stack.stats["dropped:backlog-full"] == 0
    stack.receive(packet(peer_seg("A", seq=5001, ack=segs[0].seq + 1, sport=1002)), 1.3)
    live = stack.find(80, PEER_ADDR, 1002)
    assert live is not None and live.state is State.ESTABLISHED
    assert stack.accept(80) is live
    assert stack.accept(80) is None


# ======================================================================
# 4. ISN secret: fresh per Stack unless given (RFC 6528 §3)
# ======================================================================

OURS = "192.0.2.1"
THEIRS = "192.0.2.2"


def first_syn_seq(stack: Stack, *, local_port: int | None = 40000) -> tuple[int, int]:
    """(ISN, local port) of the SYN of ``stack.connect`` to THEIRS:80 at now=1.0."""
    conn = stack.connect(THEIRS, 80, now=1.0, local_port=local_port)
    [syn] = [s for s in stack_segments(stack, at=1.0) if s.src_port == conn.local.port]
    assert syn.flags == Flags.SYN
    return syn.seq, syn.src_port


def test_isn_default_secret_differs_between_stacks() -> None:
    """RFC 6528 §3: F() is keyed with a secret; RFC 9293 MUST-9 (ISNs not
    predictable). Two default stacks, same 4-tuple, same clock: different ISNs."""
    a, _ = first_syn_seq(Stack(OURS))
    b, _ = first_syn_seq(Stack(OURS))
    assert a != b


def test_isn_default_secret_eight_stacks_all_differ() -> None:
    # Eight fresh 32-bit hashes collide with probability about 7e-9.
    isns = {first_syn_seq(Stack(OURS))[0] for _ in range(8)}
    assert len(isns) == 8


def test_isn_default_ephemeral_ports_are_not_one_fixed_sequence() -> None:
    """RFC 6056 §3.3.1: the ephemeral port choice starts at a random point; default
    stacks must not all walk the same publicly known port sequence."""

    def ports(stack: Stack) -> list[int]:
        return [first_syn_seq(stack, local_port=None)[1] for _ in range(5)]

    assert ports(Stack(OURS)) != ports(Stack(OURS))


def test_isn_explicit_key_and_seed_stay_deterministic() -> None:
    """Pinned (not a defect): the same isn_key and rng seed give the same ISNs and
    ephemeral ports, so simulations and tests are reproducible (DESIGN rule 1)."""

    def run() -> list[tuple[int, int]]:
        stack = Stack(OURS, isn_key=b"k" * 16, rng=random.Random(7))
        return [first_syn_seq(stack, local_port=None) for _ in range(3)]

    assert run() == run()


def test_isn_seed_alone_stays_deterministic() -> None:
    """Pinned (not a defect): the simulator passes only rng=random.Random(seed)."""
    a = first_syn_seq(Stack(OURS, rng=random.Random(7)), local_port=None)
    b = first_syn_seq(Stack(OURS, rng=random.Random(7)), local_port=None)
    assert a == b


# ======================================================================
# 5. CLOSE in CLOSE-WAIT: LAST-ACK when the FIN leaves (RFC 9293 §3.10.4)
# ======================================================================
#
# §3.10.4 CLOSE, CLOSE-WAIT STATE: "Queue this request until all preceding
# SENDs have been segmentized; then send a FIN segment, enter LAST-ACK state."



def state_changes(s: Script) -> list[tuple[State, State]]:
    return [(e.old, e.new) for e in s.events() if isinstance(e, ev.StateChanged)]


@pytest.mark.parametrize("call", ["shutdown", "close"])
def test_cw_close_with_nothing_queued_enters_last_ack_when_fin_leaves(
    close_wait: Script, call: str
) -> None:
    s = close_wait
    getattr(s.conn, call)(now=2.0)
    assert s.state is State.CLOSE_WAIT
    assert state_changes(s) == []
    s.expect([Out("FA", seq=1, ack=2)], at=2.0)
    assert s.state is State.LAST_ACK
    assert state_changes(s) == [(State.CLOSE_WAIT, State.LAST_ACK)]
    s.rx("A", seq=2, ack=2, at=2.1)
    assert s.state is State.CLOSED


def test_cw_close_waits_for_queued_data_behind_a_zero_window() -> None:
    """Data queued behind a closed peer window: after shutdown() the state stays
    CLOSE-WAIT while the data trickles out as the window opens; the FIN rides on
    the last data segment, and only then does the state become LAST-ACK."""
    s = make_established()
    s.rx("FA", seq=1, ack=1, window=0, at=1.0)  # the peer's FIN closes its window
    s.expect([Out("A", seq=1, ack=2)], at=1.0)
    assert s.app_events() == [ev.PeerClosed()]
    assert s.state is State.CLOSE_WAIT
    assert s.conn.send(b"d" * 2000, now=1.1) == 2000
    s.conn.shutdown(now=1.1)
    assert s.state is State.CLOSE_WAIT
    s.expect_nothing(at=1.1)
    assert state_changes(s) == []

    s.rx("A", seq=2, ack=1, window=1460, at=1.2)  # window update: one full segment
    s.expect([Out("A", seq=1, ack=2, len=1460)], at=1.2)
    assert s.state is State.CLOSE_WAIT
    assert state_changes(s) == []

    s.rx("A", seq=2, ack=1461, window=1460, at=1.3)
    s.expect([Out("FPA", seq=1461, ack=2, len=540)], at=1.3)
    assert s.state is State.LAST_ACK
    assert state_changes(s) == [(State.CLOSE_WAIT, State.LAST_ACK)]

    s.rx("A", seq=2, ack=2002, window=1460, at=1.4)
    assert s.state is State.CLOSED


def test_half_close_scenario_server_sends_data_in_close_wait() -> None:
    """The half-close demo: the server, in CLOSE-WAIT, keeps sending (RFC 9293
    §3.6 half-close) and enters LAST-ACK only with its FIN, after its data."""
    result = get_scenario("half-close").run(ScenarioOptions())
    server = [r for r in result.records if r.host == result.server]
    states = [r.data["new"] for r in server if r.event == "state_updated"]
    assert "CLOSE-WAIT" in states and "LAST-ACK" in states
    cw = next(i for i, r in enumerate(server)
              if r.event == "state_updated" and r.data["new"] == "CLOSE-WAIT")
    la = next(i for i, r in enumerate(server)
              if r.event == "state_updated" and r.data["new"] == "LAST-ACK")
    sent = [(i, r) for i, r in enumerate(server) if r.event == "segment_sent"]
    in_cw = [r for i, r in sent if cw < i < la and r.data["len"] > 0]
    assert in_cw, "no data segment sent while in CLOSE-WAIT"
    # The FIN follows every data byte: its sequence number ends the data.
    fin = next(r for _, r in sent if "FIN" in r.data["flags"])
    data_end = max(seq_add(r.data["seq"], r.data["len"]) for _, r in sent if r.data["len"])
    fin_seq = seq_add(fin.data["seq"], fin.data["len"])
    assert fin_seq == data_end
    assert not any(seq_gt(seq_add(r.data["seq"], r.data["len"]), fin_seq) for _, r in sent)


# ======================================================================
# 6. CLOSE-WAIT: text and FIN after the peer's FIN are treated alike
# ======================================================================
#
# §3.10.7.4 seventh step, CLOSE-WAIT: "This should not occur since a FIN has
# been received from the remote side. Ignore the segment text." Eighth step,
# CLOSE-WAIT: "Remain in the CLOSE-WAIT state." Data at RCV.NXT draws an ACK
# and is ignored (test_state_close_wait.test_cw_data_beyond_the_fin_is_ignored);
# a FIN at RCV.NXT must be treated the same way: the ACK <SEQ=SND.NXT><ACK=RCV.NXT>,
# RCV.NXT unchanged, no event, no state change.



def check_cw_after_fin(s: Script, letters: str, seq: int, data: bytes = b"") -> None:
    s.rx(letters, seq=seq, ack=1, data=data, at=2.0)
    s.expect([Out("A", seq=1, ack=2)], at=2.0)
    assert s.conn.rcv_nxt == s.irs + 2
    assert s.conn.readable == 0
    assert s.app_events() == []
    assert s.state is State.CLOSE_WAIT


def test_cw_after_fin_a_fin_at_rcv_nxt_draws_an_ack(close_wait: Script) -> None:
    check_cw_after_fin(close_wait, "FA", seq=2)


def test_cw_after_fin_a_fin_beyond_rcv_nxt_draws_an_ack(close_wait: Script) -> None:
    """Pinned (already so today): a FIN one beyond RCV.NXT is answered the same way."""
    check_cw_after_fin(close_wait, "FA", seq=3)


def test_cw_after_fin_data_and_fin_at_rcv_nxt_draws_an_ack(close_wait: Script) -> None:
    """Pinned (already so today): text plus FIN at RCV.NXT is answered the same way."""
    check_cw_after_fin(close_wait, "FPA", seq=2, data=b"bogus")


def test_cw_after_fin_every_fin_at_rcv_nxt_draws_an_ack(close_wait: Script) -> None:
    """Carrying a FIN, such segments are not rate-limited (see defect 1): each is answered."""
    s = close_wait
    for t in (2.0, 2.1, 2.2):
        s.rx("FA", seq=2, ack=1, at=t)
        s.expect([Out("A", seq=1, ack=2)], at=t)
    assert s.conn.rcv_nxt == s.irs + 2
    assert s.app_events() == []
