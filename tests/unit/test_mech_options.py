"""Options negotiated on the SYN: MSS, window scale, timestamps, SACK-permitted.

RFC 9293 §3.7.1 (MUST-14, MUST-15, MUST-16, MUST-65, MUST-67), RFC 7323 §2
(window scale), §3-§5 (timestamps, TS.Recent, PAWS), RFC 2018 §2
(SACK-permitted). Each is switchable off in TcpConfig, and then not offered;
a peer that offers nothing gets nothing.

* MSS: ``test_mss_*``.
* Window scaling: ``test_wscale_*``.
* Timestamps: ``test_ts_*``.
* SACK-permitted and switching options off: ``test_offer_*``.
* Interop with a peer that offers no option: ``test_plain_peer_*``.
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from tcp_script import (
    PEER,
    PEER_MSS,
    US,
    Out,
    Script,
    make_established,
    make_listen,
    make_syn_sent,
)

from tcpstack.config import TcpConfig
from tcpstack.connection import Connection, Endpoint
from tcpstack.wire import Mss, Nop, SackPermitted, Timestamps, WindowScale


def blob(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def no_options_after_syn(segs: list) -> None:
    for seg in segs:
        assert seg.mss is None, "MSS only on SYN segments (MUST-65)"
        assert seg.wscale is None and not seg.sack_permitted


# ----------------------------------------------------------------------
# Our SYN and SYN-ACK
# ----------------------------------------------------------------------


def test_offer_every_option_on_our_syn() -> None:
    s = make_syn_sent(config=TcpConfig(recv_buffer=1 << 20))
    assert s.ts_base is not None
    s.fire(1.0)  # the retransmitted SYN offers the same, TSval moved on
    s.expect(
        [Out("S", seq=0, window=65535, options=(
            Mss(1460), SackPermitted(), Timestamps(s.tsval(1.0), 0), Nop(), WindowScale(5)))],
        at=1.0,
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (TcpConfig(window_scaling=False), (Mss(1460), SackPermitted(), "ts")),
        # Without timestamps SACK-permitted follows two NOPs; without SACK the
        # timestamps do (4-byte alignment, Linux's layout).
        (TcpConfig(timestamps=False),
         (Mss(1460), Nop(), Nop(), SackPermitted(), Nop(), WindowScale(0))),
        (TcpConfig(sack=False), (Mss(1460), Nop(), Nop(), "ts", Nop(), WindowScale(0))),
        (TcpConfig(window_scaling=False, timestamps=False, sack=False), (Mss(1460),)),
    ],
)
def test_offer_only_what_is_switched_on(config: TcpConfig, expected: tuple) -> None:
    conn = Connection(US, PEER, iss=1000, config=config)
    conn.open_active(0.0)
    [syn] = conn.packets_to_send(0.0)
    ts = syn.timestamps
    want = tuple(Timestamps(ts.tsval, 0) if o == "ts" and ts else o for o in expected)
    assert syn.options == want


def test_offer_syn_ack_answers_only_what_the_syn_offered() -> None:
    s = make_listen()
    s.rx("S", seq=0, ack=0, options=(Mss(1400), Timestamps(77, 0)), at=0.0)
    [synack] = s.expect([Out("SA", seq=0, ack=1)], at=0.0)
    ts = synack.timestamps
    assert ts is not None and ts.tsecr == 77  # echoes the SYN's TSval (RFC 7323 §3.2)
    assert synack.options == (Mss(1460), Nop(), Nop(), Timestamps(ts.tsval, 77))
    assert s.conn.negotiated.timestamps
    assert not s.conn.negotiated.sack
    assert s.conn.negotiated.snd_wscale == 0 and s.conn.negotiated.rcv_wscale == 0


def test_offer_syn_ack_with_everything_when_the_syn_had_everything() -> None:
    s = make_listen(config=TcpConfig(recv_buffer=200_000))
    opts = (Mss(1400), SackPermitted(), Timestamps(77, 0), Nop(), WindowScale(3))
    s.rx("S", seq=0, ack=0, options=opts, at=0.0)
    [synack] = s.expect([Out("SA", seq=0, ack=1, window=65535)], at=0.0)
    ts = synack.timestamps
    assert ts is not None
    assert synack.options == (Mss(1460), SackPermitted(), Timestamps(ts.tsval, 77),
                              Nop(), WindowScale(2))
    n = s.conn.negotiated
    assert (n.snd_wscale, n.rcv_wscale, n.timestamps, n.sack) == (3, 2, True, True)


def test_offer_none_when_switched_off_even_if_the_peer_offers() -> None:
    cfg = TcpConfig(window_scaling=False, timestamps=False, sack=False)
    s = make_listen(config=cfg)
    opts = (Mss(1400), SackPermitted(), Timestamps(77, 0), Nop(), WindowScale(3))
    s.rx("S", seq=0, ack=0, options=opts, at=0.0)
    s.expect([Out("SA", seq=0, ack=1, options=(Mss(1460),))], at=0.0)
    n = s.conn.negotiated
    assert (n.snd_wscale, n.rcv_wscale, n.timestamps, n.sack) == (0, 0, False, False)
    # The peer's later segments carry timestamps: fine, ignored.
    s.rx("A", seq=1, ack=1, options=(Nop(), Nop(), Timestamps(78, 0)), at=0.1)
    s.rx("PA", seq=1, ack=1, data=b"hi", window=100,
         options=(Nop(), Nop(), Timestamps(79, 0)), at=0.2)
    assert s.conn.read() == b"hi"
    assert s.conn.snd_wnd == 100  # not scaled by the 3 the peer asked for
    s.conn.send(b"x", now=0.3)
    s.expect([Out("PA", seq=1, ack=3, len=1, options=())], at=0.3)


# ----------------------------------------------------------------------
# MSS (MUST-14, 15, 16, 65, 67)
# ----------------------------------------------------------------------


def test_mss_only_on_syns() -> None:
    s = make_established(options=())
    # Our SYN carried MSS (checked by the builder); nothing after it does.
    s.conn.send(blob(3000), now=1.0)
    no_options_after_syn(s.conn.packets_to_send(1.0))
    s.rx("PA", seq=1, ack=1, data=b"abc", at=1.1)
    s.fire(1.3)
    no_options_after_syn(s.conn.packets_to_send(1.3))


@pytest.mark.parametrize(
    ("peer_mss", "size"), [(1000, 1000), (536, 536), (9000, 1460), (None, 536)]
)
def test_mss_sets_the_segment_size(peer_mss: int | None, size: int) -> None:
    # MUST-15: 536 without the option; MUST-16: never above what we can take.
    s = make_established(peer_mss=peer_mss, config=TcpConfig(nagle=False))
    s.conn.send(blob(size + 10), now=1.0)
    s.expect([Out("A", seq=1, ack=1, len=size), Out("PA", seq=1 + size, ack=1, len=10)], at=1.0)


def test_mss_less_twelve_with_timestamps() -> None:
    s = make_syn_sent(config=TcpConfig(nagle=False))
    assert s.ts_base is not None
    s.rx("SA", seq=0, ack=1, options=(Mss(1460), Timestamps(900, s.ts_base)), at=0.1)
    s.expect([Out("A", seq=1, ack=1)], at=0.1)
    s.conn.send(blob(2000), now=1.0)
    s.expect(
        [Out("A", seq=1, ack=1, len=1448, options=s.ts_opt(1.0, 900)),
         Out("PA", seq=1449, ack=1, len=552, options=s.ts_opt(1.0, 900))],
        at=1.0,
    )


def test_mss_advertised_over_ipv6_leaves_room_for_the_bigger_header() -> None:
    us = Endpoint(IPv6Address("2001:db8::1"), 40000)
    peer = Endpoint(IPv6Address("2001:db8::2"), 80)
    conn = Connection(us, peer, iss=1000)
    conn.open_active(0.0)
    [syn] = conn.packets_to_send(0.0)
    assert syn.mss == 1440  # MUST-67: MMS_R - 20 with a 40-byte IPv6 header
    conn.receive(Script(conn).seg("SA", seq=0, ack=1), 0.1)  # no MSS option
    assert conn.snd_mss == 1220  # MUST-15, IPv6


# ----------------------------------------------------------------------
# Window scaling (RFC 7323 §2)
# ----------------------------------------------------------------------


def test_wscale_applied_both_ways_syn_windows_never_scaled() -> None:
    s = make_syn_sent(config=TcpConfig(recv_buffer=1 << 20, timestamps=False, sack=False))
    # Our SYN: window 65535 (unscaled, RFC 7323 §2.2), shift 5 for 1 MiB.
    s.rx("SA", seq=0, ack=1, window=20000, options=(Mss(1460), Nop(), WindowScale(3)), at=0.1)
    assert s.conn.snd_wnd == 20000  # the SYN-ACK's window is not scaled
    # Our ACK: 1 MiB >> 5 = 32768 in the field.
    s.expect([Out("A", seq=1, ack=1, window=32768, options=())], at=0.1)
    s.rx("A", seq=1, ack=1, window=1000, at=0.2)
    assert s.conn.snd_wnd == 8000  # later windows are scaled by 2**3
    s.rx("PA", seq=1, ack=1, data=blob(100), window=1000, at=0.3)
    s.fire(0.5)
    # (1 MiB - 100) >> 5 = 32764 (the edge grows: the window does not shrink).
    s.expect([Out("A", seq=1, ack=101, window=32764)], at=0.5)


def test_wscale_large_buffer_and_shift_capped_at_14() -> None:
    s = make_syn_sent(config=TcpConfig(recv_buffer=1 << 30, timestamps=False, sack=False))
    s.rx("SA", seq=0, ack=1, window=65535,
         options=(Mss(1460), Nop(), WindowScale(15)), at=0.1)
    # A shift above 14 is taken as 14 (RFC 7323 §2.3).
    assert s.conn.negotiated.snd_wscale == 14
    assert s.conn.negotiated.rcv_wscale == 14
    s.expect([Out("A", seq=1, ack=1, window=65535)], at=0.1)  # (2**30) >> 14 = 65536 -> 65535
    s.rx("A", seq=1, ack=1, window=2, at=0.2)
    assert s.conn.snd_wnd == 2 << 14


def test_wscale_recv_buffer_above_64k_advertised_exactly() -> None:
    s = make_syn_sent(config=TcpConfig(recv_buffer=200_000, timestamps=False, sack=False))
    s.rx("SA", seq=0, ack=1, options=(Mss(1460), Nop(), WindowScale(0)), at=0.1)
    assert s.conn.negotiated.rcv_wscale == 2  # 65535 << 2 >= 200000
    s.expect([Out("A", seq=1, ack=1, window=50000)], at=0.1)
    # The peer may send 200000 bytes before waiting: all acceptable.
    t = 0.2
    for k in range(0, 200_000, 1460):
        s.rx("A", seq=1 + k, ack=1, data=blob(min(1460, 200_000 - k)), at=t)
        s.conn.packets_to_send(t)
    s.fire(t + 0.2)
    s.expect([Out("A", seq=1, ack=200_001, window=0)], at=t + 0.2)
    assert s.conn.readable == 200_000


def test_wscale_not_used_unless_both_syns_carry_it() -> None:
    s = make_syn_sent(config=TcpConfig(recv_buffer=1 << 20, timestamps=False, sack=False))
    s.rx("SA", seq=0, ack=1, window=20000, options=(Mss(1460),), at=0.1)
    # No scaling: our window is what fits 16 bits.
    s.expect([Out("A", seq=1, ack=1, window=65535)], at=0.1)
    s.rx("A", seq=1, ack=1, window=1000, at=0.2)
    assert s.conn.snd_wnd == 1000


# ----------------------------------------------------------------------
# Timestamps (RFC 7323 §3-§5)
# ----------------------------------------------------------------------


def ts_established(peer_ts: int = 900) -> Script:
    s = make_syn_sent(config=TcpConfig(sack=False, window_scaling=False))
    assert s.ts_base is not None
    s.rx("SA", seq=0, ack=1, options=(Mss(1460), Timestamps(peer_ts, s.ts_base)), at=0.1)
    s.expect([Out("A", seq=1, ack=1, options=s.ts_opt(0.1, peer_ts))], at=0.1)
    return s


def test_ts_on_every_segment_with_echo_of_ts_recent() -> None:
    s = ts_established()
    s.rx("PA", seq=1, ack=1, data=b"abc", ts=(905, s.tsval(0.1)), at=1.0)
    s.conn.send(b"reply", now=1.0)
    s.expect([Out("PA", seq=1, ack=4, len=5, options=s.ts_opt(1.0, 905))], at=1.0)
    assert s.conn.read() == b"abc"
    s.conn.shutdown(now=1.1)
    s.expect([Out("FA", seq=6, ack=4, options=s.ts_opt(1.1, 905))], at=1.1)


def test_ts_recent_from_the_earliest_unacknowledged_segment() -> None:
    # RFC 7323 §4.3: with a delayed ACK the echo is the TSval of the *first*
    # segment not yet acknowledged (SEG.SEQ =< Last.ACK.sent).
    s = ts_established()
    s.rx("PA", seq=1, ack=1, data=b"a", ts=(910, s.tsval(0.1)), at=1.0)
    s.rx("PA", seq=2, ack=1, data=b"b", ts=(911, s.tsval(0.1)), at=1.05)
    s.fire(1.2)
    s.expect([Out("A", seq=1, ack=3, options=s.ts_opt(1.2, 910))], at=1.2)
    # The next segment starts at Last.ACK.sent: it updates TS.Recent.
    s.rx("PA", seq=3, ack=1, data=b"c", ts=(912, s.tsval(0.1)), at=1.3)
    s.fire(1.5)
    s.expect([Out("A", seq=1, ack=4, options=s.ts_opt(1.5, 912))], at=1.5)


def test_ts_out_of_order_segment_does_not_update_ts_recent() -> None:
    s = ts_established()
    s.rx("PA", seq=11, ack=1, data=b"later", ts=(920, s.tsval(0.1)), at=1.0)
    # The duplicate ACK echoes the segment that last advanced RCV.NXT (the SYN-ACK).
    s.expect([Out("A", seq=1, ack=1, options=s.ts_opt(1.0, 900))], at=1.0)
    s.rx("PA", seq=1, ack=1, data=b"0123456789", ts=(921, s.tsval(0.1)), at=1.1)
    s.expect([Out("A", seq=1, ack=16, options=s.ts_opt(1.1, 921))], at=1.1)


def test_ts_paws_drops_an_old_segment_with_an_ack() -> None:
    s = ts_established()
    s.rx("PA", seq=1, ack=1, data=b"new", ts=(950, s.tsval(0.1)), at=1.0)
    s.fire(1.2)
    s.expect([Out("A", seq=1, ack=4, options=s.ts_opt(1.2, 950))], at=1.2)
    s.events()
    # An old duplicate from a previous wrap: TSval 949 < TS.Recent 950 (RFC 7323 §5.3).
    s.rx("PA", seq=4, ack=1, data=b"old", ts=(949, s.tsval(0.1)), at=1.3)
    s.expect([Out("A", seq=1, ack=4, options=s.ts_opt(1.3, 950))], at=1.3)
    assert s.conn.read() == b"new"
    assert s.app_events() == []
    # The same bytes with a current TSval are taken.
    s.rx("PA", seq=4, ack=1, data=b"cur", ts=(951, s.tsval(0.1)), at=1.4)
    assert s.conn.read() == b"cur"


def test_ts_paws_does_not_apply_to_rst() -> None:
    s = ts_established()
    s.rx("PA", seq=1, ack=1, data=b"new", ts=(950, s.tsval(0.1)), at=1.0)
    s.conn.read()
    s.rx("R", seq=4, ack=0, ts=(1, 0), at=1.1)
    assert s.conn.state.name == "CLOSED"


def test_ts_segment_without_timestamps_is_dropped_once_negotiated() -> None:
    s = ts_established()
    s.rx("PA", seq=1, ack=1, data=b"bare", at=1.0)  # RFC 7323 §3.2: SHOULD drop
    s.expect_nothing(at=1.0)
    assert s.conn.readable == 0
    s.fire(1.5)
    s.expect_nothing(at=1.5)


def test_ts_tsecr_zero_on_the_syn_and_echoed_on_syn_ack() -> None:
    conn = Connection(US, PEER, iss=1000)
    conn.open_active(0.0)
    [syn] = conn.packets_to_send(0.0)
    assert syn.timestamps is not None and syn.timestamps.tsecr == 0  # no ACK bit: 0
    listen = make_listen()
    listen.rx("S", seq=0, ack=0, options=(Mss(1460), Timestamps(4242, 0)), at=0.0)
    [synack] = listen.conn.packets_to_send(0.0)
    assert synack.timestamps is not None and synack.timestamps.tsecr == 4242


# ----------------------------------------------------------------------
# A peer offering nothing
# ----------------------------------------------------------------------


def test_plain_peer_nothing_is_used() -> None:
    s = make_established(options=(), config=TcpConfig(recv_buffer=1 << 20))
    n = s.conn.negotiated
    assert (n.snd_wscale, n.rcv_wscale, n.timestamps, n.sack) == (0, 0, False, False)
    assert s.conn.snd_mss == 536
    s.rx("PA", seq=101, ack=1, data=b"x" * 10, window=1000, at=1.0)
    # Out of order: a duplicate ACK without SACK blocks or timestamps, the
    # window in 16 bits unscaled.
    s.expect([Out("A", seq=1, ack=1, window=65535, options=())], at=1.0)
    assert s.conn.snd_wnd == 1000
    s.conn.send(blob(600), now=1.1)
    [seg] = s.expect([Out("A", seq=1, ack=1, len=536, options=())], at=1.1)
    assert seg.header_length == 20


def test_plain_peer_syn_on_passive_side() -> None:
    s = make_listen()
    s.rx("S", seq=0, ack=0, at=0.0)
    s.expect([Out("SA", seq=0, ack=1, window=65535, options=(Mss(1460),))], at=0.0)
    s.rx("A", seq=1, ack=1, at=0.1)
    assert s.conn.snd_mss == 536
    s.conn.send(b"hello", now=0.2)
    s.expect([Out("PA", seq=1, ack=1, len=5, options=())], at=0.2)


def test_peer_mss_constant_is_the_established_default() -> None:
    s = make_established()
    assert s.conn.snd_mss == PEER_MSS


def test_ts_paws_after_24_days_idle_ts_recent_is_no_longer_valid() -> None:
    # RFC 7323 §5.5: after more than 24 days idle the peer's 1 ms clock may
    # have moved by more than 2**31: TS.Recent is too old to judge by, and a
    # current segment must not be rejected as an old duplicate forever.
    s = ts_established()
    s.rx("PA", seq=1, ack=1, data=b"a", ts=(950, s.tsval(0.1)), at=1.0)
    s.fire(1.2)
    s.expect([Out("A", seq=1, ack=2, options=s.ts_opt(1.2, 950))], at=1.2)
    day = 86400.0
    # 23 days later an old duplicate is still caught by PAWS ...
    t = 1.0 + 23 * day
    s.rx("PA", seq=2, ack=1, data=b"x", ts=(949, s.tsval(0.1)), at=t)
    s.expect([Out("A", seq=1, ack=2, options=s.ts_opt(t, 950))], at=t)
    assert s.conn.readable == 1
    # ... 25 days after the last update, the peer's clock has advanced
    # 2.16e9 ms: modulo 2**32 that looks older, yet the segment is current.
    t = 1.0 + 25 * day
    tsval = (950 + int(25 * day * 1000)) % 2**32
    s.rx("PA", seq=2, ack=1, data=b"b", ts=(tsval, s.tsval(0.1)), at=t)
    s.fire(t + 0.2)
    s.expect([Out("A", seq=1, ack=3, options=s.ts_opt(t + 0.2, tsval))], at=t + 0.2)
    assert s.conn.read() == b"ab"
