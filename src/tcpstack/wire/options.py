"""TCP options: parsing and encoding (RFC 9293 §3.1–§3.2, RFC 7323, RFC 2018).

The option area is the part of the TCP header after the fixed 20 bytes, at
most 40 bytes. Each option is either a single kind byte (EOL = 0, NOP = 1) or
``kind, length, data`` where ``length`` counts the kind and length bytes too.

Options are frozen values. Unknown kinds are kept verbatim as
:class:`UnknownOption` (RFC 9293 MUST-6: a TCP must be able to receive an
option it does not implement and ignore it). Parsing makes no alignment
assumptions (MUST-64) and trusts no length field.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from tcpstack.errors import MalformedPacket

__all__ = [
    "MAX_OPTIONS_LENGTH",
    "NOP",
    "Mss",
    "Nop",
    "Sack",
    "SackPermitted",
    "TcpOption",
    "Timestamps",
    "UnknownOption",
    "WindowScale",
    "encode_options",
    "option_size",
    "options_length",
    "parse_options",
]

MAX_OPTIONS_LENGTH = 40
"""Largest option area in bytes: data offset 15 words (60 bytes) minus the 20-byte header."""

KIND_EOL = 0
KIND_NOP = 1
KIND_MSS = 2
KIND_WSCALE = 3
KIND_SACK_PERMITTED = 4
KIND_SACK = 5
KIND_TIMESTAMPS = 8

_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Nop:
    """No-Operation, kind 1, one byte (RFC 9293 §3.2). Used to align later options."""


@dataclass(frozen=True, slots=True)
class Mss:
    """Maximum Segment Size, kind 2, length 4 (RFC 9293 §3.2, §3.7.1).

    Attributes:
        value: the largest segment payload the sender of the option is willing
            to receive, in bytes (0..65535). Only meaningful on a SYN.
    """

    value: int


@dataclass(frozen=True, slots=True)
class WindowScale:
    """Window Scale, kind 3, length 3 (RFC 7323 §2).

    Attributes:
        shift: the shift count (0..255 on the wire). The receiver of a value
            above 14 must use 14 (RFC 7323 §2.3); that clamping is the
            connection's job, the wire layer keeps the value as sent.
    """

    shift: int


@dataclass(frozen=True, slots=True)
class SackPermitted:
    """SACK-Permitted, kind 4, length 2 (RFC 2018 §2). Only on a SYN."""


@dataclass(frozen=True, slots=True)
class Sack:
    """Selective Acknowledgment, kind 5, length 2 + 8n (RFC 2018 §3).

    Attributes:
        blocks: 1..4 ``(left, right)`` pairs of 32-bit sequence numbers: each
            block covers ``[left, right)`` received out of order.
    """

    blocks: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Timestamps:
    """Timestamps, kind 8, length 10 (RFC 7323 §3).

    Attributes:
        tsval: the sender's timestamp clock value (32 bits, unit chosen by the sender).
        tsecr: the echoed TSval of the peer (32 bits; meaningful when ACK is set).
    """

    tsval: int
    tsecr: int


@dataclass(frozen=True, slots=True)
class UnknownOption:
    """Any option of a kind this stack does not implement, kept verbatim (MUST-6).

    Attributes:
        kind: the option kind, 2..255 (0 and 1 are single-byte kinds).
        data: the option bytes after the kind and length bytes.

    When encoding, ``kind`` may also be a known kind: the bytes are then
    written as given, which lets tests craft options a parser must reject
    (e.g. ``UnknownOption(2, b"\\x05")``, an MSS with length 3).
    """

    kind: int
    data: bytes


TcpOption = Nop | Mss | WindowScale | SackPermitted | Sack | Timestamps | UnknownOption
"""Any parsed TCP option value."""

NOP = Nop()
"""The No-Operation option: one shared value (options are immutable)."""
_SACK_PERMITTED = SackPermitted()
_NOP_NOP_TS = struct.Struct("!III")
"""NOP, NOP, kind 8, length 10 (one word), TSval, TSecr."""
_NOP_NOP_TS_HEAD = (KIND_NOP << 24) | (KIND_NOP << 16) | (KIND_TIMESTAMPS << 8) | 10


def _bad(detail: str) -> MalformedPacket:
    return MalformedPacket("bad-option-length", detail)


def parse_options(data: bytes | bytearray | memoryview) -> tuple[TcpOption, ...]:
    """Parse a TCP option area (RFC 9293 §3.1 "Options", §3.2).

    Args:
        data: the option bytes (the header after its first 20 bytes), 0..40
            bytes in a real header; any length is accepted.

    Returns:
        The options in wire order. Parsing stops at End of Option List
        (kind 0), which is not returned; the bytes after it are ignored. No
        alignment is assumed (MUST-64). Duplicates are kept.

    Raises:
        MalformedPacket: reason ``"bad-option-length"`` if a multi-byte option
            has no length byte, a length below 2, a length that runs past the
            end of ``data``, or a known kind with the wrong length (MSS != 4,
            window scale != 3, SACK-permitted != 2, SACK not 2 + 8n with
            n in 1..4, timestamps != 10).
    """
    n = len(data)
    if n == 12 and data[0] == KIND_NOP and data[1] == KIND_NOP and data[2] == KIND_TIMESTAMPS \
            and data[3] == 10:
        # NOP, NOP, Timestamps: the option area of nearly every segment once
        # timestamps are negotiated (RFC 7323 Appendix A's layout); one unpack
        # instead of the general loop.
        _, tsval, tsecr = _NOP_NOP_TS.unpack_from(data)
        return (NOP, NOP, Timestamps(tsval, tsecr))
    out: list[TcpOption] = []
    i = 0
    while i < n:
        kind = data[i]
        if kind == KIND_EOL:
            break
        if kind == KIND_NOP:
            out.append(NOP)
            i += 1
            continue
        if i + 1 >= n:
            raise _bad(f"option kind {kind} at offset {i} has no length byte")
        length = data[i + 1]
        if length < 2:
            raise _bad(f"option kind {kind} at offset {i} has length {length} < 2")
        end = i + length
        if end > n:
            raise _bad(
                f"option kind {kind} at offset {i} has length {length}, "
                f"only {n - i} bytes left in the option area"
            )
        if kind == KIND_MSS:
            if length != 4:
                raise _bad(f"MSS option length {length} != 4")
            out.append(Mss((data[i + 2] << 8) | data[i + 3]))
        elif kind == KIND_WSCALE:
            if length != 3:
                raise _bad(f"window scale option length {length} != 3")
            out.append(WindowScale(data[i + 2]))
        elif kind == KIND_SACK_PERMITTED:
            if length != 2:
                raise _bad(f"SACK-permitted option length {length} != 2")
            out.append(_SACK_PERMITTED)
        elif kind == KIND_SACK:
            if length < 10 or (length - 2) % 8:
                raise _bad(f"SACK option length {length} is not 2 + 8n with n >= 1")
            body = int.from_bytes(data[i + 2 : end], "big")
            count = (length - 2) // 8
            blocks = []
            for k in range(count - 1, -1, -1):
                shift = 64 * k
                block = (body >> shift) & 0xFFFFFFFFFFFFFFFF
                blocks.append((block >> 32, block & _U32))
            out.append(Sack(tuple(blocks)))
        elif kind == KIND_TIMESTAMPS:
            if length != 10:
                raise _bad(f"timestamps option length {length} != 10")
            both = int.from_bytes(data[i + 2 : end], "big")
            out.append(Timestamps(both >> 32, both & _U32))
        else:
            out.append(UnknownOption(kind, bytes(data[i + 2 : end])))
        i = end
    return tuple(out)


def option_size(option: TcpOption) -> int:
    """Return the encoded size of one option in bytes (before padding).

    Raises:
        TypeError: ``option`` is not a :data:`TcpOption`.
    """
    if isinstance(option, Nop):
        return 1
    if isinstance(option, Mss):
        return 4
    if isinstance(option, WindowScale):
        return 3
    if isinstance(option, SackPermitted):
        return 2
    if isinstance(option, Sack):
        return 2 + 8 * len(option.blocks)
    if isinstance(option, Timestamps):
        return 10
    if isinstance(option, UnknownOption):
        return 2 + len(option.data)
    raise TypeError(f"not a TCP option: {option!r}")


def options_length(options: Sequence[TcpOption]) -> int:
    """Return the length in bytes of the encoded, padded option area.

    A multiple of 4 (the header is counted in 32-bit words). Does not check
    the 40-byte limit or the option values; :func:`encode_options` does.
    """
    total = 0
    for option in options:
        total += option_size(option)
    return (total + 3) & ~3


def _check(value: int, bits: int, what: str) -> None:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value} out of range 0..{(1 << bits) - 1}")


def encode_options(options: Sequence[TcpOption]) -> bytes:
    """Encode options in order and pad to a multiple of 4 bytes (RFC 9293 §3.1).

    Padding is End of Option List (0) bytes: the first pad byte is an EOL and
    the bytes after it are zero (MUST-69).

    Args:
        options: the options to write, in wire order.

    Returns:
        The option area, 0..40 bytes, a multiple of 4.

    Raises:
        ValueError: the padded area exceeds 40 bytes, or a value does not fit
            its field (MSS 16 bits, window-scale shift 8 bits, SACK edges and
            timestamps 32 bits, 1..4 SACK blocks, unknown kind 2..255 with at
            most 253 data bytes).
        TypeError: an element is not a :data:`TcpOption`.
    """
    if len(options) == 3:
        first, second, ts = options
        if type(first) is Nop and type(second) is Nop and type(ts) is Timestamps \
                and 0 <= ts.tsval <= _U32 and 0 <= ts.tsecr <= _U32:
            # NOP, NOP, Timestamps (RFC 7323 Appendix A), on every segment once
            # timestamps are negotiated: one pack instead of the general loop.
            return _NOP_NOP_TS.pack(_NOP_NOP_TS_HEAD, ts.tsval, ts.tsecr)
    out = bytearray()
    for option in options:
        if isinstance(option, Nop):
            out.append(KIND_NOP)
        elif isinstance(option, Mss):
            _check(option.value, 16, "MSS")
            out += bytes((KIND_MSS, 4)) + option.value.to_bytes(2, "big")
        elif isinstance(option, WindowScale):
            _check(option.shift, 8, "window scale shift")
            out += bytes((KIND_WSCALE, 3, option.shift))
        elif isinstance(option, SackPermitted):
            out += bytes((KIND_SACK_PERMITTED, 2))
        elif isinstance(option, Sack):
            if not 1 <= len(option.blocks) <= 4:
                raise ValueError(f"SACK option needs 1..4 blocks, got {len(option.blocks)}")
            out += bytes((KIND_SACK, 2 + 8 * len(option.blocks)))
            for left, right in option.blocks:
                _check(left, 32, "SACK left edge")
                _check(right, 32, "SACK right edge")
                out += left.to_bytes(4, "big") + right.to_bytes(4, "big")
        elif isinstance(option, Timestamps):
            _check(option.tsval, 32, "TSval")
            _check(option.tsecr, 32, "TSecr")
            out += bytes((KIND_TIMESTAMPS, 10))
            out += option.tsval.to_bytes(4, "big") + option.tsecr.to_bytes(4, "big")
        elif isinstance(option, UnknownOption):
            if not 2 <= option.kind <= 255:
                raise ValueError(f"option kind {option.kind} out of range 2..255")
            if len(option.data) > 253:
                raise ValueError(f"option data of {len(option.data)} bytes exceeds 253")
            out += bytes((option.kind, 2 + len(option.data))) + option.data
        else:
            raise TypeError(f"not a TCP option: {option!r}")
        if len(out) > MAX_OPTIONS_LENGTH:
            raise ValueError(f"options exceed {MAX_OPTIONS_LENGTH} bytes: {list(options)!r}")
    pad = -len(out) % 4
    if pad:
        out += bytes(pad)
    return bytes(out)
