"""TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): parse, encode, strictness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import option_lists

from tcpstack.errors import MalformedPacket
from tcpstack.wire import (
    MAX_OPTIONS_LENGTH,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamps,
    UnknownOption,
    WindowScale,
    encode_options,
    option_size,
    options_length,
    parse_options,
)

# The option area of a real Linux SYN: mss 1460, sackOK, TS val 2580709 ecr 0, nop, wscale 7.
LINUX_SYN_OPTIONS = bytes.fromhex("020405b40402080a002760e50000000001030307")


def test_linux_syn_options() -> None:
    assert parse_options(LINUX_SYN_OPTIONS) == (
        Mss(1460),
        SackPermitted(),
        Timestamps(2580709, 0),
        Nop(),
        WindowScale(7),
    )
    assert encode_options(parse_options(LINUX_SYN_OPTIONS)) == LINUX_SYN_OPTIONS


def test_sack_blocks_parse_in_order() -> None:
    blocks = "0000000100000002fffffff0000000108000000080000100"
    data = bytes.fromhex("0101051a" + blocks)
    assert parse_options(data) == (
        Nop(),
        Nop(),
        Sack(((1, 2), (0xFFFFFFF0, 0x10), (0x80000000, 0x80000100))),
    )


def test_empty_and_eol_only() -> None:
    assert parse_options(b"") == ()
    assert parse_options(b"\x00\x00\x00\x00") == ()


def test_parsing_stops_at_eol_and_ignores_what_follows() -> None:
    # Garbage after EOL (even a bad length) is not looked at.
    assert parse_options(b"\x01\x00\x02\x01\xff") == (Nop(),)


def test_no_alignment_assumed() -> None:
    # MUST-64: options may start at any byte, e.g. MSS right after a single NOP,
    # timestamps at an odd offset.
    data = b"\x01\x02\x04\x05\xb4\x03\x03\x0e\x08\x0a" + bytes(range(8)) + b"\x00"
    assert parse_options(data) == (
        Nop(),
        Mss(1460),
        WindowScale(14),
        Timestamps(0x00010203, 0x04050607),
    )


def test_unknown_options_kept_verbatim() -> None:
    # MUST-6: e.g. TCP Fast Open cookie (34), MD5 signature (19), experimental (254).
    data = b"\x22\x06\xde\xad\xbe\xef" + b"\xfe\x02" + b"\x13\x03\x99"
    assert parse_options(data) == (
        UnknownOption(34, b"\xde\xad\xbe\xef"),
        UnknownOption(254, b""),
        UnknownOption(19, b"\x99"),
    )


def test_duplicates_kept() -> None:
    assert parse_options(b"\x02\x04\x05\xb4\x02\x04\x02\x18") == (Mss(1460), Mss(536))


def test_parse_accepts_memoryview_and_bytearray() -> None:
    expected = parse_options(LINUX_SYN_OPTIONS)
    assert parse_options(memoryview(LINUX_SYN_OPTIONS)) == expected
    assert parse_options(bytearray(LINUX_SYN_OPTIONS)) == expected


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x02", "MSS without a length byte"),
        (b"\x01\x01\x08", "timestamps kind as the last byte"),
        (b"\x02\x00\x00\x00", "length 0"),
        (b"\x02\x01\x00\x00", "length 1"),
        (b"\xfe\x01", "unknown kind, length 1"),
        (b"\xfe\x00", "unknown kind, length 0"),
        (b"\x02\x04\x05", "MSS overruns"),
        (b"\xfe\x05\x00\x00", "unknown overruns"),
        (b"\x08\x0a" + bytes(7), "timestamps overrun"),
        (b"\x02\x03\x05", "MSS length 3"),
        (b"\x02\x05\x05\xb4\x00", "MSS length 5"),
        (b"\x03\x02", "window scale length 2"),
        (b"\x03\x04\x07\x00", "window scale length 4"),
        (b"\x04\x03\x00", "SACK-permitted length 3"),
        (b"\x05\x02", "SACK with no block"),
        (b"\x05\x09" + bytes(7), "SACK length 9"),
        (b"\x05\x0b" + bytes(9), "SACK length 11"),
        (b"\x08\x08" + bytes(6), "timestamps length 8"),
        (b"\x08\x0b" + bytes(9), "timestamps length 11"),
    ],
)
def test_malformed_options(data: bytes, why: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_options(data)
    assert info.value.reason == "bad-option-length", why


# ------------------------------------------------------------------- encoding


def test_encode_pads_with_eol_zeros() -> None:
    # MUST-69: everything after the EOL is zero.
    assert encode_options([Mss(1460)]) == b"\x02\x04\x05\xb4"
    assert encode_options([WindowScale(7)]) == b"\x03\x03\x07\x00"
    assert encode_options([Nop()]) == b"\x01\x00\x00\x00"
    assert encode_options([SackPermitted(), Nop()]) == b"\x04\x02\x01\x00"
    assert encode_options([]) == b""


def test_encode_sack_and_timestamps() -> None:
    assert encode_options([Nop(), Nop(), Timestamps(1, 0xFFFFFFFF)]) == bytes.fromhex(
        "0101080a00000001ffffffff"
    )
    assert encode_options([Sack(((1, 2),))]) == bytes.fromhex("050a0000000100000002") + bytes(2)


def test_encode_forty_bytes_exactly() -> None:
    opts: list[TcpOption] = [Nop(), Nop(), Sack(((1, 2), (3, 4), (5, 6), (7, 8)))]
    assert options_length(opts) == 36
    opts += [Mss(1)]
    encoded = encode_options(opts)
    assert len(encoded) == MAX_OPTIONS_LENGTH == options_length(opts)
    assert parse_options(encoded) == tuple(opts)


def test_unknown_option_can_craft_a_malformed_known_kind() -> None:
    # Useful for tests of a receiver: an MSS with length 3.
    encoded = encode_options([UnknownOption(2, b"\x05")])
    assert encoded == b"\x02\x03\x05\x00"
    with pytest.raises(MalformedPacket):
        parse_options(encoded)


@pytest.mark.parametrize(
    "options",
    [
        [Mss(65536)],
        [Mss(-1)],
        [WindowScale(256)],
        [Timestamps(2**32, 0)],
        [Timestamps(0, -1)],
        [Sack(())],
        [Sack(((0, 2**32),))],
        [Sack(((1, 2),) * 5)],
        [UnknownOption(0, b"")],
        [UnknownOption(1, b"")],
        [UnknownOption(256, b"")],
        [UnknownOption(99, bytes(254))],
        [UnknownOption(99, bytes(39))],
        [Timestamps(1, 2)] * 4 + [Nop()],
        [Nop()] * 41,
        [Sack(((1, 2),) * 4), WindowScale(1), Nop(), Nop(), Nop(), Nop()],
    ],
)
def test_encode_rejects(options: list[TcpOption]) -> None:
    with pytest.raises(ValueError):
        encode_options(options)


def test_encode_rejects_non_options() -> None:
    with pytest.raises(TypeError):
        encode_options(["mss"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        option_size("mss")  # type: ignore[arg-type]


def test_option_sizes() -> None:
    assert [
        option_size(o)
        for o in (
            Nop(),
            Mss(1),
            WindowScale(1),
            SackPermitted(),
            Sack(((1, 2), (3, 4))),
            Timestamps(1, 2),
            UnknownOption(30, b"abc"),
        )
    ] == [1, 4, 3, 2, 18, 10, 5]


def test_options_are_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        Mss(1460).value = 1  # type: ignore[misc]
    assert len({Mss(1460), Mss(1460), Nop(), Nop()}) == 2


# ------------------------------------------------------------------ properties


@settings(max_examples=400)
@given(option_lists())
def test_round_trip(options: tuple[TcpOption, ...]) -> None:
    encoded = encode_options(options)
    assert len(encoded) % 4 == 0
    assert len(encoded) <= MAX_OPTIONS_LENGTH
    assert len(encoded) == options_length(options)
    assert parse_options(encoded) == options


@settings(max_examples=300)
@given(st.binary(max_size=48))
def test_parse_random_bytes_only_raises_malformed(data: bytes) -> None:
    try:
        parsed = parse_options(data)
    except MalformedPacket as exc:
        assert exc.reason == "bad-option-length"
    else:
        # Whatever parses re-encodes (when it fits) and parses back the same.
        if options_length(parsed) <= MAX_OPTIONS_LENGTH:
            assert parse_options(encode_options(parsed)) == parsed
