"""SYN option negotiation (RFC 7323 §2-3, RFC 2018 §2, RFC 9293 §3.7.1)."""

from __future__ import annotations

import pytest

from tcpstack.config import TcpConfig
from tcpstack.negotiation import MAX_WSCALE, negotiate, syn_options, window_shift
from tcpstack.wire import (
    Flags,
    Mss,
    Nop,
    SackPermitted,
    Segment,
    Timestamps,
    WindowScale,
    encode_options,
)


def syn(*options: object) -> Segment:
    return Segment(1, 2, seq=0, ack=0, flags=Flags.SYN, window=65535,
                   options=tuple(options))  # type: ignore[arg-type]


@pytest.mark.parametrize(("buffer", "shift"), [(1, 0), (65535, 0), (65536, 1), (131070, 1),
                                                (131071, 2), (1 << 20, 5), (1 << 30, 14)])
def test_window_shift(buffer: int, shift: int) -> None:
    assert window_shift(buffer) == shift


def test_active_syn_offers_everything_enabled_in_linux_order() -> None:
    cfg = TcpConfig(recv_buffer=1 << 20)
    opts = syn_options(cfg, mss=1460, tsval=77)
    assert opts == (Mss(1460), SackPermitted(), Timestamps(77, 0), Nop(), WindowScale(5))
    assert len(encode_options(opts)) == 20


def test_switched_off_options_are_not_offered() -> None:
    cfg = TcpConfig(window_scaling=False, timestamps=False, sack=False)
    assert syn_options(cfg, mss=1460, tsval=1) == (Mss(1460),)


def test_syn_ack_answers_only_what_was_offered() -> None:
    cfg = TcpConfig(recv_buffer=1 << 20)
    bare = syn(Mss(1000))
    assert syn_options(cfg, mss=1460, tsval=5, peer_syn=bare) == (Mss(1460),)
    full = syn(Mss(1000), SackPermitted(), Timestamps(1234, 0), Nop(), WindowScale(7))
    opts = syn_options(cfg, mss=1460, tsval=5, peer_syn=full)
    assert Timestamps(5, 1234) in opts  # TSecr echoes the SYN's TSval
    assert WindowScale(5) in opts and SackPermitted() in opts


def test_negotiated_values() -> None:
    cfg = TcpConfig(recv_buffer=1 << 20)
    n = negotiate(cfg, syn(Mss(1000), SackPermitted(), Timestamps(1, 0), WindowScale(7)))
    assert (n.snd_wscale, n.rcv_wscale, n.timestamps, n.sack) == (7, 5, True, True)
    none = negotiate(cfg, syn(Mss(1000)))
    assert (none.snd_wscale, none.rcv_wscale, none.timestamps, none.sack) == (0, 0, False, False)


def test_shift_above_14_is_clamped() -> None:
    n = negotiate(TcpConfig(), syn(WindowScale(15)))
    assert n.snd_wscale == MAX_WSCALE


def test_our_switches_win_over_the_peer_offer() -> None:
    cfg = TcpConfig(window_scaling=False, timestamps=False, sack=False)
    n = negotiate(cfg, syn(SackPermitted(), Timestamps(1, 0), WindowScale(7)))
    assert (n.snd_wscale, n.rcv_wscale, n.timestamps, n.sack) == (0, 0, False, False)


def test_big_buffer_needs_window_scaling() -> None:
    TcpConfig(recv_buffer=1 << 30)
    with pytest.raises(ValueError, match="without window scaling"):
        TcpConfig(recv_buffer=70_000, window_scaling=False)


FREEBSD = TcpConfig(syn_option_layout="freebsd", recv_buffer=65536, recv_buffer_max=2097152)


def test_freebsd_layout_of_a_syn() -> None:
    """FreeBSD's tcp_addoptions order: MSS, NOP, WS, SACK-permitted, timestamps (20 bytes)."""
    opts = syn_options(FREEBSD, mss=1460, tsval=100)
    assert opts == (Mss(1460), Nop(), WindowScale(6), SackPermitted(), Timestamps(100, 0))
    assert encode_options(opts) == bytes(
        [2, 4, 5, 0xB4, 1, 3, 3, 6, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0])


@pytest.mark.parametrize(
    ("peer", "wire"),
    [
        # The peer offered MSS and SACK only: MSS, SACK-permitted, EOL padding.
        ((Mss(1460), SackPermitted()), [2, 4, 5, 0xB4, 4, 2, 0, 0]),
        # Timestamps without window scale: SACK-permitted then timestamps, aligned.
        ((Mss(1460), SackPermitted(), Timestamps(7, 0)),
         [2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 7]),
        # Window scale and timestamps without SACK: NOP, WS, then two NOPs before TS.
        ((Mss(1460), Timestamps(7, 0), WindowScale(2)),
         [2, 4, 5, 0xB4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 100, 0, 0, 0, 7]),
    ],
)
def test_freebsd_layout_of_a_syn_ack(peer: tuple[object, ...], wire: list[int]) -> None:
    opts = syn_options(FREEBSD, mss=1460, tsval=100, peer_syn=syn(*peer))
    assert encode_options(opts) == bytes(wire)


def test_the_layout_must_be_known() -> None:
    with pytest.raises(ValueError, match="syn_option_layout"):
        TcpConfig(syn_option_layout="windows")
