"""The analytic models an experiment is compared with: Mathis et al.'s goodput
of a loss-limited Reno flow, and Jain's fairness index.

Both are pure arithmetic on plain numbers (no simulation), pinned by unit
tests against hand-computed values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["MATHIS_C", "jain_index", "mathis_goodput"]

MATHIS_C = math.sqrt(3.0 / 2.0)
"""The constant C of the Mathis model, sqrt(3/2) ~= 1.22: a Reno sawtooth
with periodic loss and one ACK per segment (Mathis, Semke, Mahdavi, Ott,
"The Macroscopic Behavior of the TCP Congestion Avoidance Algorithm",
ACM SIGCOMM CCR 27(3), 1997, equation 3)."""


def mathis_goodput(mss: int, rtt: float, loss: float) -> float:
    """Goodput of a loss-limited Reno flow, bit/s: ``MSS / RTT * C / sqrt(p) * 8``.

    Args:
        mss: segment payload, bytes (> 0).
        rtt: round-trip time, seconds (> 0).
        loss: probability that a segment is lost, in (0, 1].

    Returns:
        The model's goodput in bit/s. It holds only while the flow is limited
        by loss, not by the link or the receive window (then the link's rate
        is the bound), and it overestimates at high loss where timeouts
        dominate (Padhye et al., SIGCOMM 1998).

    Raises:
        ValueError: a value out of range (the model has no answer at p = 0).
    """
    if mss <= 0 or not rtt > 0 or not 0 < loss <= 1:
        raise ValueError(f"the Mathis model needs mss > 0, rtt > 0 and 0 < p <= 1; "
                         f"got mss={mss}, rtt={rtt}, p={loss}")
    # Mathis et al. 1997, eq. 3: BW = MSS / RTT * C / sqrt(p), in bytes/s; * 8 for bit/s.
    return mss / rtt * MATHIS_C / math.sqrt(loss) * 8.0


def jain_index(rates: Iterable[float]) -> float:
    """Jain's fairness index of ``rates`` (any unit, each >= 0): ``(sum x)^2 / (n * sum x^2)``.

    1.0 when all are equal, 1/n when one flow takes everything (Jain, Chiu,
    Hawe, "A Quantitative Measure of Fairness and Discrimination for
    Resource Allocation in Shared Computer Systems", DEC-TR-301, 1984).
    All zero counts as fair (1.0): nobody got more than anyone else.

    Raises:
        ValueError: no rates, or a negative or non-finite one.
    """
    xs = list(rates)
    if not xs:
        raise ValueError("Jain's index needs at least one rate")
    if any(not math.isfinite(x) or x < 0 for x in xs):
        raise ValueError(f"Jain's index needs finite rates >= 0, got {xs}")
    squares = sum(x * x for x in xs)
    if squares == 0:
        return 1.0
    # Jain et al. 1984, eq. 1.
    return sum(xs) ** 2 / (len(xs) * squares)
