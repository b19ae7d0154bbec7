"""SYN cookies: a SYN,ACK that keeps no state (RFC 4987 §3.6).

When a listener's SYN queue is full (or always, if configured), the stack
answers a SYN without creating anything: the state the handshake needs is
folded into our initial sequence number (the *cookie*) and, when the peer
sent timestamps, into the low bits of our TSval. The final ACK gives both
back (SEG.ACK - 1 and TSecr); a valid cookie recreates the connection there.

The layout follows Linux (``__cookie_v4_init_sequence``,
``__cookie_v4_check``, ``cookie_init_timestamp``); only the facts are taken.

ISS (32 bits) = H1(4-tuple) + IRS + (counter << 24)
                + ((H2(4-tuple, counter) + MSS index) mod 2**24)     (mod 2**32)

* ``counter`` = floor(now / :data:`COOKIE_PERIOD`) (64 s), of which the top
  8 bits carry the low 8;
* H1(4-tuple), H2(4-tuple, counter, IRS): keyed BLAKE2s hashes (the stack's
  secret, drawn as the ISN key is, so a seeded run reproduces); IRS, added and
  hashed, ties the cookie to the peer's SYN (Linux hashes it only into H1's sum);
* the MSS index (2 bits' worth: :data:`MSS_TABLE_V4` / :data:`MSS_TABLE_V6`)
  is the largest table MSS not above the peer's.

A cookie is valid for the current counter and the :data:`COOKIE_AGE` before
it: 64 to 128 s. A forged ACK passes with probability about
``(COOKIE_AGE + 1) * 4 / 2**24`` (one in two million).

TSval low :data:`TS_OPTION_BITS` bits: the peer's window scale (4 bits,
``0xF`` = none), SACK-permitted (bit 4) and ECN (bit 5: reserved, always 0,
tcpstack does not do ECN). The TSval is moved back by up to 63 ms so that it
never runs ahead of the connection's timestamp clock. Without timestamps
the cookie carries MSS only: the SYN,ACK then offers no window scale or SACK
(as Linux does), so both ends agree the connection has neither.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import NamedTuple

from .wire import Flags, IPAddress, Mss, SackPermitted, Segment, TcpOption, Timestamps, WindowScale

COOKIE_PERIOD = 64.0
"""Seconds per cookie counter tick (Linux: 64 s)."""

COOKIE_AGE = 1
"""Counters before the current one whose cookies are still accepted (Linux
MAX_SYNCOOKIE_AGE 2 counts the current one too): cookies live 64 to 128 s."""

MSS_TABLE_V4 = (536, 1300, 1440, 1460)
"""MSS values a cookie can carry over IPv4 (Linux msstab): common peer MSS values."""

MSS_TABLE_V6 = (1220, 1420, 1440, 8940)
"""MSS values a cookie can carry over IPv6 (Linux msstab of syncookies.c for IPv6)."""

TS_OPTION_BITS = 6
"""Low TSval bits that carry options: window scale (4), SACK (1), ECN (1)."""

_TS_MASK = (1 << TS_OPTION_BITS) - 1
_NO_WSCALE = 0xF
_SACK_BIT = 1 << 4
_ECN_BIT = 1 << 5
_COOKIE_BITS = 24
_LOW_MASK = (1 << _COOKIE_BITS) - 1
_MOD = 1 << 32


class CookieOptions(NamedTuple):
    """What a cookie's TSval carries: the peer's window scale, SACK-permitted, ECN.

    Attributes:
        wscale: the shift the peer offered (0..14), or None if it offered none.
        sack: the peer offered SACK-permitted.
        ecn: the peer asked for ECN (reserved: tcpstack does no ECN, never set).
    """

    wscale: int | None
    sack: bool
    ecn: bool = False


def mss_table(address: IPAddress) -> tuple[int, ...]:
    """The MSS table for ``address``'s family."""
    return MSS_TABLE_V6 if isinstance(address, ipaddress.IPv6Address) else MSS_TABLE_V4


def mss_index(table: tuple[int, ...], peer_mss: int) -> int:
    """The index of the largest MSS in ``table`` not above ``peer_mss`` (0 if all are)."""
    for index in range(len(table) - 1, 0, -1):
        if peer_mss >= table[index]:
            return index
    return 0


def encode_ts_options(tsval: int, options: CookieOptions) -> int:
    """Our TSval for a cookie SYN,ACK: ``tsval`` (the connection's clock now)
    with its low :data:`TS_OPTION_BITS` bits replaced by ``options``, never
    ahead of ``tsval`` (mod 2**32)."""
    bits = (_NO_WSCALE if options.wscale is None else options.wscale) & 0xF
    bits |= _SACK_BIT if options.sack else 0
    bits |= _ECN_BIT if options.ecn else 0
    ts = (tsval & ~_TS_MASK & 0xFFFFFFFF) | bits
    if ts != tsval and (ts - tsval) % _MOD < 1 << 31:  # ahead of the clock: one step back
        ts = (ts - (_TS_MASK + 1)) % _MOD
    return ts


def decode_ts_options(tsecr: int) -> CookieOptions | None:
    """The options a cookie's TSval carried (the final ACK's TSecr), or None if
    the bits are not ones :func:`encode_ts_options` writes (window scale above 14)."""
    wscale: int | None = tsecr & 0xF
    if wscale == _NO_WSCALE:
        wscale = None
    elif wscale is not None and wscale > 14:  # RFC 7323 §2.3: at most 14
        return None
    return CookieOptions(wscale, bool(tsecr & _SACK_BIT), bool(tsecr & _ECN_BIT))


class SynCookies:
    """Makes and checks SYN cookies with a secret key (RFC 4987 §3.6).

    Args:
        key: the secret (16 bytes or more); outsiders who do not know it
            cannot make a cookie that passes :meth:`check`.

    Raises:
        ValueError: the key is empty.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("SYN cookie key must not be empty")
        self._key = hashlib.blake2s(bytes(key), digest_size=32, person=b"syncooki").digest()

    @staticmethod
    def counter(now: float) -> int:
        """The coarse time counter at ``now`` (seconds): one tick per :data:`COOKIE_PERIOD`."""
        return int(now // COOKIE_PERIOD)

    def _hash(self, tuple4: bytes, counter: int | None, irs: int = 0) -> int:
        h = hashlib.blake2s(tuple4, key=self._key, digest_size=4)
        if counter is not None:
            h.update(counter.to_bytes(8, "big", signed=True) + irs.to_bytes(4, "big"))
        return int.from_bytes(h.digest(), "big")

    @staticmethod
    def _tuple(local: IPAddress, local_port: int, remote: IPAddress, remote_port: int) -> bytes:
        return (local.packed + local_port.to_bytes(2, "big") + remote.packed
                + remote_port.to_bytes(2, "big"))

    def make(self, local: IPAddress, local_port: int, remote: IPAddress, remote_port: int,
             irs: int, index: int, now: float) -> int:
        """The cookie (our ISS, in [0, 2**32)) for a SYN with sequence number
        ``irs`` from ``remote``:``remote_port``, carrying MSS table ``index``, at
        ``now`` (seconds).

        Raises:
            ValueError: ``index`` is outside the MSS table.
        """
        if not 0 <= index < len(MSS_TABLE_V4):
            raise ValueError(f"MSS index must be in 0..{len(MSS_TABLE_V4) - 1}, got {index}")
        tuple4 = self._tuple(local, local_port, remote, remote_port)
        count = self.counter(now)
        low = (self._hash(tuple4, count, irs) + index) & _LOW_MASK
        return (self._hash(tuple4, None) + irs + ((count & 0xFF) << _COOKIE_BITS) + low) % _MOD

    def check(self, local: IPAddress, local_port: int, remote: IPAddress, remote_port: int,
              irs: int, cookie: int, now: float) -> int | None:
        """The MSS table index a valid ``cookie`` carries, or None.

        ``irs``: the peer's initial sequence number (the final ACK's SEG.SEQ - 1);
        ``cookie``: the final ACK's SEG.ACK - 1. Valid if made for this 4-tuple
        and IRS with the current counter or one of the :data:`COOKIE_AGE`
        before it (at ``now``, seconds).
        """
        tuple4 = self._tuple(local, local_port, remote, remote_port)
        rest = (cookie - self._hash(tuple4, None) - irs) % _MOD
        count = self.counter(now)
        age = (count - (rest >> _COOKIE_BITS)) & 0xFF
        if age > COOKIE_AGE:
            return None
        index = ((rest & _LOW_MASK) - self._hash(tuple4, count - age, irs)) & _LOW_MASK
        return index if index < len(MSS_TABLE_V4) else None


def recalled_syn(seg: Segment, irs: int, mss: int, options: CookieOptions | None,
                 tsval: int) -> Segment:
    """The peer's SYN as a cookie recalls it: sequence number ``irs``, MSS from
    the table, and with timestamps (``tsval``), the window scale and
    SACK-permitted it offered; ports from ``seg`` (the SYN or the final ACK)."""
    opts: list[TcpOption] = [Mss(mss)]
    if options is not None:
        if options.wscale is not None:
            opts.append(WindowScale(options.wscale))
        if options.sack:
            opts.append(SackPermitted())
        opts.append(Timestamps(tsval, 0))
    return Segment(seg.src_port, seg.dst_port, irs, 0, Flags.SYN, seg.window,
                   options=tuple(opts))
