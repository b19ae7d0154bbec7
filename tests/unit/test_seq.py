"""Sequence-number arithmetic modulo 2**32, across the wrap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpstack.seq import (
    SEQ_MOD,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_in_window,
    seq_le,
    seq_lt,
    seq_max,
    seq_min,
)

seqs = st.integers(0, SEQ_MOD - 1)
small = st.integers(-(2**31) + 1, 2**31 - 1)


def test_wrap_examples() -> None:
    top = SEQ_MOD - 1
    assert seq_add(top, 1) == 0
    assert seq_add(0, -1) == top
    assert seq_lt(top, 0) and seq_gt(0, top)
    assert seq_diff(5, top) == 6
    assert seq_diff(top, 5) == -6
    assert seq_in_window(2, top - 3, 10)
    assert not seq_in_window(top - 4, top - 3, 10)
    assert not seq_in_window(6, top - 3, 10)
    assert seq_max(top, 3) == 3 and seq_min(top, 3) == top


@given(seqs, small)
def test_add_then_diff(a: int, n: int) -> None:
    b = seq_add(a, n)
    assert 0 <= b < SEQ_MOD
    assert seq_diff(b, a) == n


@given(seqs, st.integers(1, 2**31 - 1))
def test_order_is_antisymmetric(a: int, n: int) -> None:
    b = seq_add(a, n)
    assert seq_lt(a, b) and seq_le(a, b) and not seq_ge(a, b)
    assert seq_gt(b, a) and seq_ge(b, a) and not seq_le(b, a)
    assert seq_le(a, a) and seq_ge(a, a) and not seq_lt(a, a)


@given(seqs, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_in_window(start: int, size: int, off: int) -> None:
    assert seq_in_window(seq_add(start, off), start, size) == (off < size)


@given(seqs, st.one_of(seqs, st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**31 + 1, SEQ_MOD - 1])))
def test_comparisons_are_the_sign_of_seq_diff(a: int, delta: int) -> None:
    """Each comparison is exactly the sign test of seq_diff, 2**31 apart included."""
    b = seq_add(a, delta)
    d = seq_diff(a, b)
    assert (seq_lt(a, b), seq_le(a, b), seq_gt(a, b), seq_ge(a, b)) == (
        d < 0, d <= 0, d > 0, d >= 0)
