"""SYN cookies (RFC 4987 §3.6): the cookie itself, the cookie SYN,ACK and the final ACK.

Scripted segments into a Stack, exact expected segments; cookies are decoded
with :class:`~tcpstack.syncookies.SynCookies` under the stack's key.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from tcp_script import (
    PEER_ADDR,
    STACK_KEY,
    US_ADDR,
    Out,
    describe,
    new_stack,
    packet,
    peer_seg,
    stack_events,
    stack_segments,
)

from tcpstack import events as ev
from tcpstack.config import TcpConfig
from tcpstack.stack import Stack
from tcpstack.state import State
from tcpstack.syncookies import (
    COOKIE_PERIOD,
    MSS_TABLE_V4,
    CookieOptions,
    SynCookies,
    decode_ts_options,
    encode_ts_options,
    mss_index,
)
from tcpstack.trace import Trace
from tcpstack.wire import Mss, SackPermitted, Segment, Timestamps, WindowScale

IRS = 5_000_000
SPORT = 4242
PEER_TSVAL = 777_000
FULL_OPTIONS = (Mss(1400), SackPermitted(), Timestamps(PEER_TSVAL, 0), WindowScale(7))


def cookies() -> SynCookies:
    return SynCookies(STACK_KEY)


def cookie_stack(mode: str = "always", **config: object) -> Stack:
    stack = new_stack(config=TcpConfig(syncookies=mode, **config))  # type: ignore[arg-type]
    stack.listen(80)
    return stack


def syn(*, sport: int = SPORT, irs: int = IRS, options: tuple[object, ...] = FULL_OPTIONS
        ) -> bytes:
    return packet(peer_seg("S", seq=irs, sport=sport, options=options))  # type: ignore[arg-type]


def cookie_handshake(stack: Stack, at: float = 1.0) -> Segment:
    stack.receive(syn(), at)
    [syn_ack] = stack_segments(stack, at=at)
    return syn_ack


def final_ack(syn_ack: Segment, *, sport: int = SPORT, ack_delta: int = 0, data: bytes = b"",
              tsval: int = PEER_TSVAL + 10, ts: bool = True) -> bytes:
    tsecr = syn_ack.timestamps.tsval if syn_ack.timestamps is not None else 0
    options = (Timestamps(tsval, tsecr),) if ts else ()
    return packet(peer_seg("A", seq=IRS + 1, ack=syn_ack.seq + 1 + ack_delta, sport=sport,
                           data=data, window=1000, options=options))


# ----------------------------------------------------------------------
# The cookie and the timestamp bits, alone
# ----------------------------------------------------------------------


def test_cookie_round_trip_carries_the_mss_index() -> None:
    jar = cookies()
    peer = IPv4Address("198.51.100.7")
    for index in range(len(MSS_TABLE_V4)):
        cookie = jar.make(US_ADDR, 80, peer, 999, IRS, index, now=100.0)
        assert jar.check(US_ADDR, 80, peer, 999, IRS, cookie, now=100.0) == index
        # The previous counter is still valid (64 to 128 s); the one before is not.
        assert jar.check(US_ADDR, 80, peer, 999, IRS, cookie, now=100.0 + COOKIE_PERIOD) == index
        assert jar.check(US_ADDR, 80, peer, 999, IRS, cookie,
                         now=100.0 + 2 * COOKIE_PERIOD) is None


def test_cookie_is_bound_to_the_four_tuple_irs_and_key() -> None:
    jar = cookies()
    cookie = jar.make(US_ADDR, 80, PEER_ADDR, 999, IRS, 3, now=5.0)
    assert jar.check(US_ADDR, 80, PEER_ADDR, 998, IRS, cookie, now=5.0) is None
    assert jar.check(US_ADDR, 81, PEER_ADDR, 999, IRS, cookie, now=5.0) is None
    assert jar.check(US_ADDR, 80, IPv4Address("192.0.2.3"), 999, IRS, cookie, now=5.0) is None
    assert jar.check(US_ADDR, 80, PEER_ADDR, 999, IRS + 1, cookie, now=5.0) is None
    assert SynCookies(b"another key").check(US_ADDR, 80, PEER_ADDR, 999, IRS, cookie,
                                            now=5.0) is None
    # Low bits hold the hash plus the index: a neighbour fails, or gives another index.
    assert jar.check(US_ADDR, 80, PEER_ADDR, 999, IRS, cookie + 1, now=5.0) is None


def test_mss_index_picks_the_largest_table_value_not_above_the_peers() -> None:
    assert [mss_index(MSS_TABLE_V4, m) for m in (100, 536, 1299, 1300, 1459, 1460, 9000)] == [
        0, 0, 0, 1, 2, 3, 3]


@pytest.mark.parametrize("options", [CookieOptions(7, True), CookieOptions(None, False),
                                     CookieOptions(0, True), CookieOptions(14, False)])
def test_ts_options_round_trip_and_never_run_ahead(options: CookieOptions) -> None:
    for clock in (0, 63, 64, 1_000_000, 0xFFFFFFFF):
        ts = encode_ts_options(clock, options)
        assert decode_ts_options(ts) == options
        assert 0 <= (clock - ts) % (1 << 32) < 64


def test_ts_options_reject_a_window_scale_above_14() -> None:
    assert decode_ts_options(0x0E) == CookieOptions(14, False)
    assert decode_ts_options(0x0F) == CookieOptions(None, False)
    assert decode_ts_options(0x1F) == CookieOptions(None, True)
    # 0xF means "none"; 15 cannot be a shift, but the 4 bits have no other values
    # above 14: the ECN bit is reserved and decoded as given.
    assert decode_ts_options(0x20) == CookieOptions(0, False, True)


# ----------------------------------------------------------------------
# The cookie SYN,ACK
# ----------------------------------------------------------------------


def test_cookie_syn_ack_fields() -> None:
    trace = Trace()
    stack = Stack(US_ADDR, config=TcpConfig(syncookies="always"), isn_key=STACK_KEY,
                  name="us", trace=trace)
    stack.listen(80)
    syn_ack = cookie_handshake(stack)
    assert stack.connections == []  # nothing kept
    # <SEQ=cookie><ACK=IRS+1><CTL=SYN,ACK>, our MSS; window scale and SACK offered
    # back, since the peer offered them with timestamps.
    assert describe([syn_ack], [Out("SA", 0, 0, mss=1)], (0, IRS)) == [
        Out("SA", seq=syn_ack.seq, ack=1, mss=1460)]
    assert syn_ack.window == 65535
    assert syn_ack.wscale is not None and syn_ack.sack_permitted
    # The ISS decodes: MSS 1400 -> index 1 (1300).
    assert cookies().check(US_ADDR, 80, PEER_ADDR, SPORT, IRS, syn_ack.seq, now=1.0) == 1
    # TSecr echoes the peer; TSval's low 6 bits: wscale 7, SACK (bit 4), no ECN.
    assert syn_ack.timestamps is not None
    assert syn_ack.timestamps.tsecr == PEER_TSVAL
    assert syn_ack.timestamps.tsval & 0x3F == 7 | 0x10
    assert stack.stats["syncookies_sent"] == 1
    [sent] = [r for r in trace.records if r.event == "segment_sent"]
    assert sent.data["syncookie"] is True
    assert sent.data["flags"] == ["SYN", "ACK"]


def test_without_timestamps_the_syn_ack_offers_mss_only() -> None:
    stack = cookie_stack()
    stack.receive(syn(options=(Mss(1460), SackPermitted(), WindowScale(7))), 1.0)
    [syn_ack] = stack_segments(stack, at=1.0)
    assert describe([syn_ack], [Out("SA", 0, 0, options=())], (0, IRS)) == [
        Out("SA", seq=syn_ack.seq, ack=1, options=(Mss(1460),))]
    assert cookies().check(US_ADDR, 80, PEER_ADDR, SPORT, IRS, syn_ack.seq, now=1.0) == 3


def test_always_answers_every_syn_with_a_cookie() -> None:
    stack = cookie_stack("always")
    for i in range(5):
        stack.receive(syn(sport=1000 + i), 1.0)
    segs = stack_segments(stack, at=1.0)
    assert [(s.flags, s.dst_port) for s in segs] == [(s.flags, 1000 + i)
                                                     for i, s in enumerate(segs)]
    assert len(segs) == 5 and all(s.ack == IRS + 1 for s in segs)
    assert all(cookies().check(US_ADDR, 80, PEER_ADDR, 1000 + i, IRS, s.seq, now=1.0) == 1
               for i, s in enumerate(segs))
    assert stack.connections == [] and stack.stats["syncookies_sent"] == 5


def test_a_listener_config_sets_its_own_cookie_mode() -> None:
    # The stack's default (on-overflow) queues the SYN on port 80; the listener
    # on 81 was given syncookies="always" and answers with a cookie, keeping nothing.
    stack = new_stack()
    stack.listen(80)
    stack.listen(81, config=TcpConfig(syncookies="always"))
    stack.receive(packet(peer_seg("S", seq=IRS, sport=1000, dport=80,
                                  options=FULL_OPTIONS)), 1.0)  # type: ignore[arg-type]
    stack.receive(packet(peer_seg("S", seq=IRS, sport=1001, dport=81,
                                  options=FULL_OPTIONS)), 1.0)  # type: ignore[arg-type]
    assert [(c.local.port, c.state) for c in stack.connections] == [(80, State.SYN_RECEIVED)]
    assert stack.stats["syncookies_sent"] == 1
    # The stateless reply leaves first (the stack's own outbox), then the TCB's.
    [cookie, queued] = stack_segments(stack, at=1.0)
    assert (cookie.src_port, queued.src_port) == (81, 80)
    assert cookies().check(US_ADDR, 81, PEER_ADDR, 1001, IRS, cookie.seq, now=1.0) == 1


# ----------------------------------------------------------------------
# The final ACK
# ----------------------------------------------------------------------


def test_valid_final_ack_makes_an_established_connection() -> None:
    trace = Trace()
    stack = Stack(US_ADDR, config=TcpConfig(syncookies="always"), isn_key=STACK_KEY,
                  name="us", trace=trace)
    stack.listen(80)
    syn_ack = cookie_handshake(stack)
    stack.receive(final_ack(syn_ack, data=b"hello"), 1.2)
    [conn] = stack.connections
    assert conn.state is State.ESTABLISHED and conn.passive
    assert (conn.iss, conn.irs) == (syn_ack.seq, IRS)
    assert (conn.snd_una, conn.snd_nxt, conn.rcv_nxt) == (syn_ack.seq + 1, syn_ack.seq + 1,
                                                          IRS + 1 + 5)
    assert conn.snd_mss == 1300  # the table's value for the peer's 1400
    neg = conn.negotiated
    assert (neg.snd_wscale, neg.timestamps, neg.sack) == (7, True, True)
    assert neg.rcv_wscale == syn_ack.wscale
    assert conn.ts_recent == PEER_TSVAL + 10
    assert conn.snd_wnd == 1000 << 7  # the ACK's window, scaled
    assert conn.read() == b"hello"
    assert stack.accept(80) is conn
    assert [type(e) for _, e in stack_events(stack)][-2:] == [ev.Connected, ev.DataReceived]
    assert stack.stats["syncookies_validated"] == 1
    states = [r.data for r in trace.records if r.event == "state_updated"]
    assert states == [{"old": "LISTEN", "new": "ESTABLISHED",
                       "cause": "rcv ACK with a valid SYN cookie"}]
    # The data is acknowledged, with our timestamp clock going on from the cookie's.
    stack.handle_timer(1.4)  # the delayed ACK (0.2 s)
    [ack] = stack_segments(stack, at=1.4)
    assert describe([ack], [Out("A", 0, 0)], (syn_ack.seq, IRS)) == [Out("A", seq=1, ack=6)]
    assert ack.timestamps is not None and syn_ack.timestamps is not None
    assert 0 < (ack.timestamps.tsval - syn_ack.timestamps.tsval) % (1 << 32) < 1000


def test_final_ack_without_timestamps_makes_a_connection_without_options() -> None:
    stack = cookie_stack()
    stack.receive(syn(options=(Mss(536), WindowScale(3), SackPermitted())), 1.0)
    [syn_ack] = stack_segments(stack, at=1.0)
    stack.receive(final_ack(syn_ack, ts=False), 1.1)
    [conn] = stack.connections
    assert conn.state is State.ESTABLISHED
    assert conn.snd_mss == 536
    neg = conn.negotiated
    assert (neg.snd_wscale, neg.rcv_wscale, neg.timestamps, neg.sack) == (0, 0, False, False)


@pytest.mark.parametrize(("why", "at", "sport", "ack_delta"), [
    ("expired counter", 1.0 + 2 * COOKIE_PERIOD, SPORT, 0),
    ("wrong 4-tuple", 1.1, SPORT + 1, 0),
    ("forged hash", 1.1, SPORT, 1 << 10),
])
def test_invalid_cookie_draws_a_rst_and_is_counted(why: str, at: float, sport: int,
                                                   ack_delta: int) -> None:
    stack = cookie_stack("always")
    syn_ack = cookie_handshake(stack)
    bad = final_ack(syn_ack, sport=sport, ack_delta=ack_delta)
    stack.receive(bad, at)
    # §3.10.7.2: an ACK to a listener draws <SEQ=SEG.ACK><CTL=RST>.
    assert describe(stack_segments(stack, at=at), [Out("R", 0)], (0, 0)) == [
        Out("R", seq=(syn_ack.seq + 1 + ack_delta) % (1 << 32))], why
    assert stack.connections == []
    assert stack.stats["syncookies_failed"] == 1
    assert stack.stats["dropped:bad-syncookie"] == 1
    assert stack.stats["syncookies_validated"] == 0


def test_ack_to_a_listener_that_sent_no_cookie_is_not_checked() -> None:
    """on-overflow, no overflow yet: an ACK is answered as §3.10.7.2 says, and
    not counted as a failed cookie (Linux checks only after a recent overflow)."""
    stack = cookie_stack("on-overflow")
    stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=12345, sport=SPORT)), 1.0)
    assert describe(stack_segments(stack, at=1.0), [Out("R", 0)], (0, 0)) == [
        Out("R", seq=12345)]
    assert stack.stats["syncookies_failed"] == 0


# ----------------------------------------------------------------------
# When cookies are used: on-overflow, off, and the accept queue
# ----------------------------------------------------------------------


def test_on_overflow_cookies_only_once_the_syn_queue_is_full() -> None:
    stack = cookie_stack("on-overflow", max_syn_backlog=2)
    for i in range(3):
        stack.receive(syn(sport=2000 + i), 1.0)
    segs = {s.dst_port: s for s in stack_segments(stack, at=1.0)}
    assert sorted(segs) == [2000, 2001, 2002]
    assert [c.remote.port for c in stack.connections] == [2000, 2001]
    assert all(c.state is State.SYN_RECEIVED for c in stack.connections)
    assert cookies().check(US_ADDR, 80, PEER_ADDR, 2002, IRS, segs[2002].seq, now=1.0) == 1
    assert (stack.stats["syn_queue_overflow"], stack.stats["syncookies_sent"]) == (1, 1)


def test_off_drops_a_syn_when_the_syn_queue_is_full() -> None:
    stack = cookie_stack("off", max_syn_backlog=2)
    for i in range(3):
        stack.receive(syn(sport=2000 + i), 1.0)
    assert len(stack_segments(stack, at=1.0)) == 2
    assert [c.remote.port for c in stack.connections] == [2000, 2001]
    assert stack.stats["syn_queue_overflow"] == 1
    assert stack.stats["dropped:syn-queue-full"] == 1
    assert stack.stats["syncookies_sent"] == 0


def test_full_accept_queue_drops_the_cookie_ack_until_accept_makes_room() -> None:
    stack = new_stack(config=TcpConfig(syncookies="always"))
    stack.listen(80, backlog=1)
    first = cookie_handshake(stack)
    stack.receive(syn(sport=SPORT + 1), 1.05)
    [second] = stack_segments(stack, at=1.05)
    stack.receive(final_ack(first), 1.1)
    stack.receive(final_ack(second, sport=SPORT + 1), 1.3)
    assert len(stack.connections) == 1
    assert stack_segments(stack, at=1.3) == []  # dropped, no RST (Linux)
    assert stack.stats["backlog_overflow"] == 1
    assert stack.stats["dropped:backlog-full"] == 1
    # A SYN meets the full accept queue too.
    stack.receive(syn(sport=SPORT + 2), 1.35)
    assert stack_segments(stack, at=1.35) == []
    assert stack.stats["backlog_overflow"] == 2
    # Room again: the peer's next segment with the cookie completes it.
    assert stack.accept(80) is not None
    stack.receive(final_ack(second, sport=SPORT + 1, data=b"x"), 1.4)
    assert [c.remote.port for c in stack.connections] == [SPORT, SPORT + 1]
    assert stack.accept(80) is not None


def test_full_accept_queue_drops_the_ack_completing_a_half_open_connection() -> None:
    stack = new_stack(config=TcpConfig(max_syn_backlog=1))
    stack.listen(80, backlog=2)
    stack.receive(syn(sport=3000), 1.0)  # half-open, in the SYN queue
    stack.receive(syn(sport=3001), 1.0)  # queue full: cookies
    stack.receive(syn(sport=3002), 1.0)
    segs = {s.dst_port: s for s in stack_segments(stack, at=1.0)}
    stack.receive(final_ack(segs[3001], sport=3001), 1.1)
    stack.receive(final_ack(segs[3002], sport=3002), 1.1)
    assert stack.stats["syncookies_validated"] == 2
    [conn] = [c for c in stack.connections if c.remote.port == 3000]
    ack = final_ack(segs[3000], sport=3000)
    stack.receive(ack, 1.2)
    assert conn.state is State.SYN_RECEIVED  # the ACK was dropped
    assert stack.stats["dropped:backlog-full"] == 1 and stack.stats["backlog_overflow"] == 1
    assert stack.accept(80) is not None
    stack.receive(ack, 1.3)
    assert conn.state is State.ESTABLISHED


def test_ipv6_cookie_uses_the_ipv6_mss_table() -> None:
    us, peer = IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")
    stack = Stack(us, config=TcpConfig(syncookies="always"), isn_key=STACK_KEY, name="us")
    stack.listen(80)
    stack.receive(packet(peer_seg("S", seq=IRS, sport=SPORT, options=(Mss(1430),)),
                         src=peer, dst=us), 1.0)
    [syn_ack] = stack_segments(stack, at=1.0)
    assert syn_ack.mss == 1440  # ours: 1460 - 20 over IPv6
    assert cookies().check(us, 80, peer, SPORT, IRS, syn_ack.seq, now=1.0) == 1  # 1420
    stack.receive(packet(peer_seg("A", seq=IRS + 1, ack=syn_ack.seq + 1, sport=SPORT),
                         src=peer, dst=us), 1.1)
    [conn] = stack.connections
    assert conn.state is State.ESTABLISHED and conn.snd_mss == 1420


def test_a_retransmitted_syn_gets_the_same_cookie_and_syn_data_waits_for_a_resend() -> None:
    """The cookie depends on the SYN and the 64 s counter only: a retransmitted SYN
    draws the same SYN,ACK. Data on a SYN is not kept (nothing is): the SYN,ACK
    acknowledges the SYN alone, so the peer sends the data again."""
    stack = cookie_stack()
    with_data = packet(peer_seg("S", seq=IRS, sport=SPORT, data=b"early",
                                options=FULL_OPTIONS))  # type: ignore[arg-type]
    stack.receive(with_data, 1.0)
    stack.receive(with_data, 2.0)
    first, again = stack_segments(stack, at=2.0)
    assert (first.seq, first.ack) == (again.seq, again.ack) == (first.seq, IRS + 1)
    stack.receive(final_ack(first, data=b"early"), 2.1)
    [conn] = stack.connections
    assert conn.read() == b"early" and conn.rcv_nxt == IRS + 1 + 5
