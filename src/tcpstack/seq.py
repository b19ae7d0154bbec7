"""Sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4).

Sequence numbers live on a circle of 2**32 values. Two numbers are compared by
the sign of their signed 32-bit difference, which is meaningful as long as they
are less than 2**31 apart (always true inside one window). Never compare raw
sequence numbers with ``<``; use the functions here.
"""

from __future__ import annotations

SEQ_MOD = 1 << 32
"""The sequence space: 2**32 values."""

SEQ_HALF = 1 << 31
"""Half the sequence space: a 32-bit difference at or above it is negative."""
SEQ_MASK = SEQ_MOD - 1
"""The low 32 bits: ``(a - b) & SEQ_MASK`` is ``a - b`` modulo 2**32."""
# The comparisons below test the sign of the 32-bit difference directly rather
# than calling seq_diff: they run dozens of times per segment.


def seq_add(a: int, n: int) -> int:
    """Return ``a + n`` modulo 2**32 (``n`` may be negative)."""
    return (a + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Return the signed distance ``a - b`` in the range [-2**31, 2**31).

    Positive when ``a`` is after ``b`` on the sequence circle.
    """
    d = (a - b) & SEQ_MASK
    return d - SEQ_MOD if d >= SEQ_HALF else d


def seq_lt(a: int, b: int) -> bool:
    """``a < b`` on the sequence circle."""
    return ((a - b) & SEQ_MASK) >= SEQ_HALF


def seq_le(a: int, b: int) -> bool:
    """``a <= b`` on the sequence circle."""
    return not 0 < ((a - b) & SEQ_MASK) < SEQ_HALF


def seq_gt(a: int, b: int) -> bool:
    """``a > b`` on the sequence circle."""
    return 0 < ((a - b) & SEQ_MASK) < SEQ_HALF


def seq_ge(a: int, b: int) -> bool:
    """``a >= b`` on the sequence circle."""
    return ((a - b) & SEQ_MASK) < SEQ_HALF


def seq_in_window(x: int, start: int, size: int) -> bool:
    """``start <= x < start + size`` on the sequence circle (``size`` in [0, 2**31))."""
    return 0 <= ((x - start) & SEQ_MASK) < size


def seq_max(a: int, b: int) -> int:
    """The later of two sequence numbers."""
    return a if seq_ge(a, b) else b


def seq_min(a: int, b: int) -> int:
    """The earlier of two sequence numbers."""
    return a if seq_le(a, b) else b
