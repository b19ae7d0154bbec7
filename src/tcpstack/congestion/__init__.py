"""Congestion control algorithms, chosen by name (``TcpConfig.congestion_control``).

Each algorithm owns ``cwnd`` and ``ssthresh`` (bytes) and is told what the
sender saw: acknowledgements, entry into and exit from loss recovery,
timeouts. Deciding *when* those happen (duplicate-ACK counting, partial
ACKs, SACK loss detection) is the connection's job (RFC 5681 §3.2, RFC 6582,
RFC 6675); the arithmetic on the windows is the algorithm's.
"""

from __future__ import annotations

from .base import AckSample, CongestionControl, RateSample, initial_window
from .newreno import NewReno

# --- algorithm imports (one line per module; keep sorted) ---
# isort: split
from .bbr import Bbr
from .cubic import Cubic
from .vegas import Vegas

ALGORITHMS: dict[str, type[CongestionControl]] = {
    "newreno": NewReno,
    "reno": NewReno,
    # --- further algorithms register here, one line each ---
    "cubic": Cubic,
    "bbr": Bbr,
    "vegas": Vegas,
}
"""Algorithm classes by name."""


def create(name: str, mss: int) -> CongestionControl:
    """A new instance of the algorithm called ``name`` for segments of ``mss`` bytes.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"unknown congestion control {name!r}; known: {', '.join(ALGORITHMS)}"
        ) from None
    return cls(mss)


__all__ = ["ALGORITHMS", "AckSample", "CongestionControl", "NewReno", "RateSample", "create",
           "initial_window"]
