"""RFC 6528 ISNs: keyed hash of the 4-tuple plus a 4-microsecond clock."""

from __future__ import annotations

import pytest

from tcpstack.isn import TICKS_PER_SECOND, IsnGenerator


def test_deterministic_for_key_tuple_and_time() -> None:
    a = IsnGenerator(b"k" * 16).isn("192.0.2.1", 40000, "192.0.2.2", 80, 1.5)
    b = IsnGenerator(b"k" * 16).isn("192.0.2.1", 40000, "192.0.2.2", 80, 1.5)
    assert a == b


def test_clock_advances_every_four_microseconds() -> None:
    gen = IsnGenerator(b"secret-key-16byt")
    base = gen.isn("192.0.2.1", 40000, "192.0.2.2", 80, 10.0)
    later = gen.isn("192.0.2.1", 40000, "192.0.2.2", 80, 10.0 + 1.0)
    assert (later - base) % (1 << 32) == TICKS_PER_SECOND
    assert gen.isn("192.0.2.1", 40000, "192.0.2.2", 80, 10.000004) == (base + 1) % (1 << 32)


def test_offset_depends_on_tuple_and_secret() -> None:
    gen = IsnGenerator(b"secret-key-16byt")
    isns = {gen.isn("192.0.2.1", port, "192.0.2.2", 80, 0.0) for port in range(40000, 40100)}
    assert len(isns) == 100
    other = IsnGenerator(b"another-key-16by")
    assert gen.isn("192.0.2.1", 1, "192.0.2.2", 2, 0.0) != other.isn("192.0.2.1", 1, "192.0.2.2",
                                                                     2, 0.0)


def test_wraps_modulo_2_32() -> None:
    gen = IsnGenerator(b"x" * 16)
    assert 0 <= gen.isn("192.0.2.1", 1, "192.0.2.2", 2, 1e6) < 1 << 32


def test_empty_key_rejected() -> None:
    with pytest.raises(ValueError):
        IsnGenerator(b"")


def test_every_byte_of_a_long_key_counts() -> None:
    # Keys up to 32 bytes key BLAKE2s directly; a longer one is hashed down, so
    # two keys that differ only after byte 32 still give different ISNs.
    long_a = b"k" * 40 + b"a"
    long_b = b"k" * 40 + b"b"
    tuple_ = ("192.0.2.1", 1, "192.0.2.2", 2, 0.0)
    assert IsnGenerator(long_a).isn(*tuple_) != IsnGenerator(long_b).isn(*tuple_)
    assert IsnGenerator(b"k" * 32).isn(*tuple_) == IsnGenerator(b"k" * 32).isn(*tuple_)
