"""Options negotiated on the SYN: MSS, window scale, timestamps, SACK-permitted, ECN.

Pure functions used by the connection. Sources: RFC 9293 §3.7.1 (MSS),
RFC 7323 §2 (window scale) and §3 (timestamps), RFC 2018 §2 (SACK-permitted),
RFC 3168 §6.1.1 (ECN, negotiated with the ECE and CWR flags, not an option).

A side offers an option on its SYN only if enabled in its configuration;
the passive side answers only with options the peer offered (RFC 7323
§1.3, §2.2; RFC 2018 §2), and an option is in use only if both SYNs carried
it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .config import TcpConfig
from .wire import Flags, Mss, Nop, SackPermitted, Segment, TcpOption, Timestamps, WindowScale
from .wire.ecn import NOT_ECT

MAX_WSCALE = 14
"""Largest window shift (RFC 7323 §2.3); larger received values are treated as 14."""

TS_OPTION_SPACE = 12
"""Bytes a timestamps option takes in a data segment (NOP, NOP, kind 8 len 10)."""


def window_shift(buffer: int) -> int:
    """Smallest shift that lets ``buffer`` bytes be advertised in 16 bits (<= 14)."""
    shift = 0
    while (65535 << shift) < buffer and shift < MAX_WSCALE:
        shift += 1
    return shift


def _scaled_space(config: TcpConfig) -> int:
    """The receive space the window scale must cover: the buffer's largest size."""
    return max(config.recv_buffer, config.recv_buffer_max or 0)


@dataclass(frozen=True)
class Negotiated:
    """What both SYNs agreed on.

    Attributes:
        snd_wscale: shift applied to the peer's advertised windows (0 if unused).
        rcv_wscale: shift we apply to the windows we advertise (0 if unused).
        timestamps: both sides sent the timestamps option (RFC 7323 §3.2).
        sack: both sides sent SACK-permitted (RFC 2018 §2).
        ecn: ECN is in use: an ECN-setup SYN and an ECN-setup SYN,ACK were
            exchanged (RFC 3168 §6.1.1; see :func:`ecn_agreed`).
    """

    snd_wscale: int = 0
    rcv_wscale: int = 0
    timestamps: bool = False
    sack: bool = False
    ecn: bool = False


def syn_options(
    config: TcpConfig,
    *,
    mss: int,
    tsval: int,
    peer_syn: Segment | None = None,
) -> tuple[TcpOption, ...]:
    """Options for our SYN (``peer_syn`` None) or SYN,ACK (answering ``peer_syn``).

    Layout as Linux sends them: MSS, SACK-permitted, timestamps, NOP, window
    scale (20 bytes when all are present); NOPs keep each option aligned when
    some are absent. With ``config.syn_option_layout == "freebsd"``, FreeBSD's
    order instead (MSS, NOP, window scale, SACK-permitted, timestamps).

    Args:
        config: our configuration (which options are enabled, buffer size).
        mss: the MSS to advertise, bytes.
        tsval: our timestamp clock's current value.
        peer_syn: the SYN being answered, for a SYN,ACK.
    """
    sack = config.sack and (peer_syn is None or peer_syn.sack_permitted)
    ts = config.timestamps and (peer_syn is None or peer_syn.timestamps is not None)
    wscale = config.window_scaling and (peer_syn is None or peer_syn.wscale is not None)
    # RFC 7323 §3.2: a SYN,ACK echoes the SYN's TSval in TSecr.
    ecr = peer_syn.timestamps.tsval if peer_syn is not None and peer_syn.timestamps else 0
    scale = WindowScale(window_shift(_scaled_space(config))) if wscale else None
    stamps = Timestamps(tsval, ecr) if ts else None
    if config.syn_option_layout == "freebsd":
        return _freebsd_layout(mss, scale, sack, stamps)
    opts: list[TcpOption] = [Mss(mss)]
    # Linux's layout keeps every option 4-byte aligned: SACK-permitted rides in
    # the two bytes before the timestamps, or after two NOPs without them.
    if stamps is not None:
        opts += [SackPermitted()] if sack else [Nop(), Nop()]
        opts.append(stamps)
    elif sack:
        opts += [Nop(), Nop(), SackPermitted()]
    if scale is not None:
        opts += [Nop(), scale]
    return tuple(opts)


def _freebsd_layout(mss: int, scale: WindowScale | None, sack: bool,
                    stamps: Timestamps | None) -> tuple[TcpOption, ...]:
    """FreeBSD's order (tcp_addoptions): MSS; NOPs until the length is odd, window
    scale; NOPs until it is even, SACK-permitted; NOPs until it is 2 mod 4,
    timestamps. The encoder pads the end with EOL bytes, as FreeBSD does."""
    opts: list[TcpOption] = [Mss(mss)]
    length = 4
    if scale is not None:
        while length % 2 != 1:
            opts.append(Nop())
            length += 1
        opts.append(scale)
        length += 3
    if sack:
        while length % 2:
            opts.append(Nop())
            length += 1
        opts.append(SackPermitted())
        length += 2
    if stamps is not None:
        while length % 4 != 2:
            opts.append(Nop())
            length += 1
        opts.append(stamps)
    return tuple(opts)


def negotiate(config: TcpConfig, peer_syn: Segment, *, ecn_ok: bool = False) -> Negotiated:
    """What is in use, given our configuration and the peer's SYN or SYN,ACK.

    For an active open call it with the SYN,ACK (which only carries options
    we offered); for a passive open with the SYN (we answer with the same set).
    ``ecn_ok``: we may use ECN if the peer's segment agrees (see
    :func:`ecn_agreed`). Equal results are one shared (immutable) object.
    """
    wscale_ok = config.window_scaling and peer_syn.wscale is not None
    return _negotiated(
        min(peer_syn.wscale or 0, MAX_WSCALE) if wscale_ok else 0,
        window_shift(_scaled_space(config)) if wscale_ok else 0,
        config.timestamps and peer_syn.timestamps is not None,
        config.sack and peer_syn.sack_permitted,
        ecn_ok and ecn_agreed(peer_syn),
    )


@functools.cache
def _negotiated(snd_wscale: int, rcv_wscale: int, timestamps: bool, sack: bool,
                ecn: bool) -> Negotiated:
    # At most 15 * 15 * 2 * 2 * 2 distinct values: one object each, shared by all TCBs.
    return Negotiated(snd_wscale, rcv_wscale, timestamps, sack, ecn)


ECN_SETUP_SYN = Flags.SYN | Flags.ECE | Flags.CWR
"""The flags of an ECN-setup SYN (RFC 3168 §6.1.1)."""
ECN_SETUP_SYN_ACK = Flags.SYN | Flags.ACK | Flags.ECE
"""The flags of an ECN-setup SYN,ACK: ECE without CWR (RFC 3168 §6.1.1)."""

_ECE_CWR = int(Flags.ECE | Flags.CWR)


def ecn_agreed(peer_syn: Segment) -> bool:
    """The peer's SYN or SYN,ACK agrees to ECN (RFC 3168 §6.1.1).

    * A SYN,ACK is an ECN-setup SYN,ACK with ECE and without CWR (§6.1.1);
      one with both set is not: it may come from a peer or middlebox that
      reflects the SYN's flags (Linux tcp_ecn_rcv_synack alike).
    * A SYN (passive or simultaneous open) is an ECN-setup SYN with both ECE
      and CWR, and arriving Not-ECT: SYNs "MUST NOT" be ECT (§6.1.1); one that
      arrives ECT or CE crossed a middlebox that rewrites the field, and ECN is
      refused, as Linux does (tcp_ecn_create_request).
    """
    bits = int(peer_syn.flags) & _ECE_CWR
    if peer_syn.flags & Flags.ACK:
        return bits == int(Flags.ECE)
    return bits == _ECE_CWR and peer_syn.ecn == NOT_ECT


def ecn_syn_flags(config: TcpConfig, *, retransmission: bool) -> Flags:
    """The ECN flags of our SYN in an active open (RFC 3168 §6.1.1): ECE and CWR
    with ``ecn="on"``; none on a retransmitted SYN with ``ecn_fallback``
    (§6.1.1.1: a host "MAY" resend a non-ECN-setup SYN when an ECN-setup SYN
    drew no answer; Linux tcp_ecn_clear_syn), and none otherwise."""
    if config.ecn != "on" or (retransmission and config.ecn_fallback):
        return Flags(0)
    return Flags.ECE | Flags.CWR


IPV6_DEFAULT_PEER_MSS = 1220
"""Send MSS assumed when an IPv6 peer's SYN has no MSS option (MUST-15: 1280 - 60)."""


def send_mss(config: TcpConfig, peer_syn: Segment, rcv_mss: int, *, ipv6: bool) -> int:
    """The MSS we send with, bytes (RFC 9293 §3.7.1, MUST-15/16).

    The peer's MSS option, or without one 536 (IPv4, ``config.default_peer_mss``)
    or 1220 (IPv6); at most our own ``rcv_mss``, at least ``config.min_peer_mss``
    (a hostile MSS of 0 or 1 must not make us loop).
    """
    if peer_syn.mss is not None:
        peer = peer_syn.mss
    elif ipv6:
        peer = IPV6_DEFAULT_PEER_MSS
    else:
        peer = config.default_peer_mss
    return max(config.min_peer_mss, min(peer, rcv_mss))
