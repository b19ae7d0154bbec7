"""How ``tcpstack bench`` states a figure: repeated runs, a median, a target.

A figure is measured ``runs`` times and printed as one JSON object::

    {"median": 1.04, "min": 1.01, "max": 1.09, "runs": 3, "values": [...],
     "unit": "...", "target": "<= 1.10", "met": true,
     "wall_seconds": 12.3, "cpu_seconds": 12.2, ...details}

``met`` compares the median with the target; a figure with no target has
``"target": null, "met": null``. ``wall_seconds`` and ``cpu_seconds`` are
what measuring the whole figure took, set-up included.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal


@dataclass(frozen=True)
class Target:
    """A figure's goal: its median must be ``op`` ``limit`` (in the figure's unit)."""

    op: Literal["<=", ">="]
    limit: float

    def met(self, value: float) -> bool:
        """True if ``value`` meets the target."""
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def __str__(self) -> str:
        whole = float(self.limit).is_integer() and self.limit >= 100
        return f"{self.op} {self.limit:.0f}" if whole else f"{self.op} {self.limit:.2f}"


class Stopwatch:
    """Wall-clock (``time.perf_counter``) and CPU (``time.process_time``) seconds
    of a ``with`` block: ``with Stopwatch() as sw: ...; sw.wall, sw.cpu``."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Stopwatch:
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0


@dataclass(frozen=True)
class Sample:
    """A timed stretch of work and how many units (packets, connections) it did."""

    cost: Stopwatch
    count: int

    @property
    def wall_us(self) -> float:
        """Wall-clock microseconds per unit."""
        return self.cost.wall / self.count * 1e6

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per unit."""
        return self.cost.cpu / self.count * 1e6


class Ratios:
    """Runs of a comparison: the cost per unit of a loaded case over a base case.

    Args:
        base, loaded: the names of the two cases in the figure's details.
    """

    def __init__(self, base: str, loaded: str) -> None:
        self.names = (base, loaded)
        self.runs: list[tuple[Sample, Sample]] = []

    def add(self, base: Sample, loaded: Sample) -> None:
        """Record one run."""
        self.runs.append((base, loaded))

    def figure(self, *, per: str, unit: str, target: Target, cost: Stopwatch,
               **details: Any) -> dict[str, Any]:
        """The figure of the wall-time ratios (:func:`figure`), with ``cpu``
        (the spread of the CPU-time ratios) and ``per_<per>_us`` (the spread
        of each case's wall microseconds per unit)."""
        base = [b.wall_us for b, _ in self.runs]
        loaded = [x.wall_us for _, x in self.runs]
        cpu = [x.cpu_us / b.cpu_us for b, x in self.runs]
        details[f"per_{per}_us"] = {self.names[0]: spread(base, 2),
                                    self.names[1]: spread(loaded, 2)}
        return figure([x / b for b, x in zip(base, loaded, strict=True)], unit=unit,
                      target=target, cost=cost, cpu=spread(cpu), **details)


def require_positive(**sizes: int) -> None:
    """Raise ValueError naming the first of ``sizes`` (name=value) that is below 1."""
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def spread(values: Sequence[float], digits: int = 4) -> dict[str, float]:
    """``{"median", "min", "max"}`` of ``values`` (at least one), rounded to ``digits``."""
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def figure(values: Sequence[float], *, unit: str, target: Target | None, cost: Stopwatch,
           digits: int = 4, **details: Any) -> dict[str, Any]:
    """One figure as a JSON-serialisable dict (the shape in the module docstring).

    Args:
        values: the figure measured once per run, in ``unit``.
        unit: what the values count, e.g. ``"bytes per connection end"``.
        target: the goal the median is held to (None: the figure has none).
        cost: what measuring the figure took (wall and CPU seconds).
        digits: decimals kept in the printed values.
        details: further JSON-serialisable fields (sizes, the CPU-time spread...).
    """
    summary = spread(values, digits)
    return {
        **summary,
        "runs": len(values),
        "values": [round(v, digits) for v in values],
        "unit": unit,
        "target": None if target is None else str(target),
        "met": None if target is None else target.met(statistics.median(values)),
        "wall_seconds": round(cost.wall, 3),
        "cpu_seconds": round(cost.cpu, 3),
        **details,
    }


def skipped(reason: str, *, unit: str, target: Target | None) -> dict[str, Any]:
    """A figure that could not be measured here: ``{"skipped": reason, "unit",
    "target", "met": null}`` (``reason`` says what it needs, e.g. root)."""
    return {"skipped": reason, "unit": unit,
            "target": None if target is None else str(target), "met": None}
