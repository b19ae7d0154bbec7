"""What an experiment is: a list of independent simulations ("points"), each
one :class:`~tcpstack.drivers.topology.DumbbellSpec` with the parameters that
label it, and each seeded from the experiment's seed and its own index.

Seeding per point (:func:`point_seed`) is what makes the results the same
whichever executor runs the points, in whatever order: a point's simulation
depends on its spec alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...drivers.topology import DumbbellSpec, check_spec

__all__ = ["Experiment", "ExperimentError", "Point", "make_points", "point_seed"]


class ExperimentError(ValueError):
    """A bad experiment setting (an unknown algorithm, a bad sweep file, no
    Dask...): one line, meant for the user."""


def point_seed(seed: int, index: int) -> int:
    """The seed of point ``index`` of an experiment run with ``seed``: 32 bits.

    Drawn from SHA-256 of both numbers, so that neighbouring points (and the
    same point under neighbouring experiment seeds) get unrelated random
    streams, and so that it never depends on the executor or on the order in
    which points finish.
    """
    digest = hashlib.sha256(f"tcpstack-experiment:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Point:
    """One simulation of an experiment.

    Attributes:
        index: its place in the experiment, from 0 (also what seeds it).
        parameters: what distinguishes it from the other points, by name
            (``{"algorithm": "newreno", "loss": 0.01}``): the table's, the
            JSON's and the plot's labels.
        spec: the simulation to run; its ``seed`` is
            ``point_seed(experiment seed, index)``.
    """

    index: int
    parameters: Mapping[str, Any]
    spec: DumbbellSpec


@dataclass(frozen=True)
class Experiment:
    """A named set of independent simulations.

    Attributes:
        name: ``goodput``, ``fairness``, ``bufferbloat`` or ``sweep``.
        seed: the experiment's seed (``--seed``); each point's is derived from it.
        parameters: the experiment's settings, JSON-ready (units in the names'
            docs: bit/s, seconds, bytes).
        points: the simulations, in index order.
    """

    name: str
    seed: int
    parameters: Mapping[str, Any]
    points: tuple[Point, ...] = field(default_factory=tuple)


def make_points(seed: int,
                labelled: Iterable[tuple[Mapping[str, Any], DumbbellSpec]]) -> tuple[Point, ...]:
    """Number ``(parameters, spec)`` pairs from 0 and seed each spec by its index
    (:func:`point_seed`); the specs' own ``seed`` is replaced.

    Raises:
        ExperimentError: a spec the simulator would refuse (checked here, before
            any simulation runs; the message names the point).
    """
    points = []
    for i, (params, spec) in enumerate(labelled):
        try:
            check_spec(spec)
        except ValueError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            raise ExperimentError(f"point {i} ({shown}): {exc}") from None
        points.append(Point(index=i, parameters=dict(params),
                            spec=dataclasses.replace(spec, seed=point_seed(seed, i))))
    return tuple(points)
