"""Hypothesis strategies for wire values, shared by the test suites.

Test helper only: needs ``hypothesis`` (the ``test`` extra) and is not
imported by :mod:`tcpstack.wire`. Everything drawn here encodes without error,
and decodes back to an equal value (unknown options never use a known kind).

Example::

    from hypothesis import given
    from wire_strategies import address_pairs, segments

    @given(segments(), address_pairs())
    def test_round_trip(seg, addrs): ...
"""

from __future__ import annotations

from functools import cache
from ipaddress import IPv4Address, IPv6Address

from hypothesis import strategies as st

from tcpstack.wire.options import (
    MAX_OPTIONS_LENGTH,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    option_size,
)
from tcpstack.wire.segment import Flags, IPAddress, Segment

__all__ = [
    "KNOWN_KINDS",
    "address_pairs",
    "flags",
    "ipv4_addresses",
    "ipv6_addresses",
    "option_lists",
    "options",
    "segments",
    "u16",
    "u32",
]

KNOWN_KINDS = frozenset({0, 1, 2, 3, 4, 5, 8})
"""Option kinds :func:`~tcpstack.wire.options.parse_options` decodes to a specific type."""

u16 = st.integers(0, 0xFFFF)
"""Any 16-bit unsigned value (ports, window, MSS, urgent pointer)."""

u32 = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]),
)
"""Any 32-bit unsigned value, with the wrap-around edges drawn often."""

flags = st.integers(0, 0xFF).map(Flags)
"""Any combination of the eight control bits."""

ipv4_addresses = st.integers(0, 2**32 - 1).map(IPv4Address)
"""Any IPv4 address."""

ipv6_addresses = st.integers(0, 2**128 - 1).map(IPv6Address)
"""Any IPv6 address."""


def address_pairs() -> st.SearchStrategy[tuple[IPAddress, IPAddress]]:
    """``(src, dst)`` of one family, IPv4 or IPv6."""
    v4: st.SearchStrategy[tuple[IPAddress, IPAddress]] = st.tuples(ipv4_addresses, ipv4_addresses)
    v6: st.SearchStrategy[tuple[IPAddress, IPAddress]] = st.tuples(ipv6_addresses, ipv6_addresses)
    return st.one_of(v4, v6)


def options(*, max_size: int = MAX_OPTIONS_LENGTH) -> st.SearchStrategy[TcpOption]:
    """One option of any type whose encoding takes at most ``max_size`` bytes (>= 1)."""
    return _options(max_size)


_UNKNOWN_KINDS = sorted(set(range(2, 256)) - KNOWN_KINDS)


@cache
def _options(max_size: int) -> st.SearchStrategy[TcpOption]:
    choices: list[st.SearchStrategy[TcpOption]] = [st.just(Nop())]
    if max_size >= 2:
        choices.append(st.just(SackPermitted()))
        choices.append(
            st.builds(
                UnknownOption,
                st.sampled_from(_UNKNOWN_KINDS),
                st.binary(max_size=max_size - 2),
            )
        )
    if max_size >= 3:
        choices.append(st.builds(WindowScale, st.integers(0, 255)))
    if max_size >= 4:
        choices.append(st.builds(Mss, u16))
    if max_size >= 10:
        choices.append(st.builds(Timestamps, u32, u32))
        blocks = st.lists(st.tuples(u32, u32), min_size=1, max_size=min(4, (max_size - 2) // 8))
        choices.append(st.builds(Sack, blocks.map(tuple)))
    return st.one_of(choices)


@st.composite
def option_lists(draw: st.DrawFn, max_length: int = MAX_OPTIONS_LENGTH) -> tuple[TcpOption, ...]:
    """A tuple of options whose encoding fits ``max_length`` bytes (default 40)."""
    out: list[TcpOption] = []
    used = 0
    count = draw(st.integers(0, 8))
    for _ in range(count):
        room = max_length - used
        if room < 1:
            break
        option = draw(options(max_size=room))
        out.append(option)
        used += option_size(option)
    return tuple(out)


@st.composite
def segments(draw: st.DrawFn, max_payload: int = 1500) -> Segment:
    """Any valid segment: random ports, seq/ack (wrap edges included), flags, options, payload."""
    return Segment(
        src_port=draw(u16),
        dst_port=draw(u16),
        seq=draw(u32),
        ack=draw(u32),
        flags=draw(flags),
        window=draw(u16),
        urgent=draw(u16),
        options=draw(option_lists()),
        payload=draw(st.binary(max_size=max_payload)),
    )
