"""Small conversions of trace values that the viewer's modules share.

Trace records come from files as well as from the stack: every field may be
missing or of the wrong type, and nothing here raises on that.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MOD", "clean", "code", "endpoint", "fmt_secs", "num", "round_time"]

MOD = 1 << 32
"""Sequence numbers are modulo 2^32 (RFC 9293 §3.4)."""


def num(value: Any) -> float | int | None:
    """A finite number from the trace, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def clean(value: Any) -> Any:
    """A trace value made safe for JSON: non-finite floats become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def round_time(t: float) -> float:
    """A trace time rounded to 1 ns, as the trace writes it."""
    return round(t, 9)


def endpoint(addr: str) -> tuple[str, int | None]:
    """``"192.0.2.1:80"`` -> ``("192.0.2.1", 80)``; ``"[2001:db8::1]:80"`` ->
    ``("2001:db8::1", 80)``; no port: ``(addr, None)``."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host, int(port) if port.isdigit() else None


def code(value: object, default: str) -> str:
    """A code from the trace (a reason, a cause, a state) as text; ``default`` if missing."""
    text = str(value).strip() if value is not None else ""
    return text or default


def fmt_secs(t: float | int | None) -> str:
    """Seconds with three decimals; ``?`` when unknown."""
    return "?" if t is None else f"{t:.3f}"
