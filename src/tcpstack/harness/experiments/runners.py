"""The experiments: which simulations each runs (its points) and what it
concludes from their results (a :class:`Summary`: the rows of its table and JSON).

* goodput: one flow per (algorithm, loss rate) over a clean link with random
  loss, beside the Mathis model;
* fairness: N flows of chosen algorithms sharing one bottleneck, Jain's index;
* bufferbloat: queueing delay and goodput per (algorithm, buffer size);
* sweep: any grid of parameters from a TOML file (:mod:`.sweep`).

All units: bit/s, seconds, bytes; buffer sizes in bandwidth-delay products.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...drivers.topology import DumbbellResult, DumbbellSpec, FlowSpec
from .models import jain_index, mathis_goodput
from .plan import Experiment, ExperimentError, make_points
from .sweep import SweepFile

__all__ = ["Column", "Summary", "aggregate_goodput", "bufferbloat_experiment", "check_algorithms",
           "fairness_experiment", "goodput_experiment", "summarize", "sweep_experiment"]

QUEUES = ("droptail", "red", "codel")
"""The bottleneck's queue disciplines (DumbbellSpec.queue)."""


@dataclass(frozen=True)
class Column:
    """A column of a summary: the row key, its heading, how to show a value
    (a format spec such as ``".2f"``; a ``/N`` suffix divides first: ``".2f/1e6"``)."""

    key: str
    heading: str
    fmt: str = ""

    def show(self, value: Any) -> str:
        """``value`` as the table shows it (``-`` for a missing one; a list
        of values, one per flow, each formatted alike)."""
        if isinstance(value, list | tuple):
            return ", ".join(self.show(v) for v in value)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        fmt, _, scale = self.fmt.partition("/")
        if scale and isinstance(value, int | float):
            value = value / float(scale)
        return format(value, fmt)


@dataclass(frozen=True)
class Summary:
    """What an experiment concludes: one row per point (or per point and flow).

    Attributes:
        title: the table's title.
        columns: the table's columns.
        rows: one mapping per row, keyed by the columns' keys (JSON-ready:
            numbers in bit/s, seconds, bytes; the table scales them).
        notes: sentences printed under the table.
    """

    title: str
    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_algorithms(names: Sequence[str]) -> None:
    """Check congestion-control names against the registry (read at run time,
    so algorithms registered later are accepted).

    Raises:
        ExperimentError: an unknown name (the message lists the known ones).
    """
    from ...congestion import ALGORITHMS

    for name in names:
        if name not in ALGORITHMS:
            raise ExperimentError(f"unknown congestion control {name!r} "
                                  f"(known: {', '.join(ALGORITHMS)})")


def aggregate_goodput(result: DumbbellResult) -> float:
    """All flows' goodput together over the measured period (``warmup`` to
    ``duration``), bit/s: bytes delivered * 8 / period.

    Not the sum of the flows' ``goodput_bps``: each of those is over the
    flow's own period, and a flow that starts late would count its rate
    over a shorter time (the sum could exceed the link).
    """
    spec = result.spec
    return sum(f.delivered_bytes for f in result.flows) * 8 / (spec.duration - spec.warmup)


def _check_link(bandwidth: float, rtt: float, duration: float, queue: str) -> None:
    if not bandwidth > 0 or not rtt > 0 or not duration > 0:
        raise ExperimentError("--bandwidth, --rtt and --duration must be > 0")
    if queue not in QUEUES:
        raise ExperimentError(f"unknown queue {queue!r} (choose {', '.join(QUEUES)})")


# -- goodput vs loss ----------------------------------------------------------------


def goodput_experiment(*, algorithms: Sequence[str], losses: Sequence[float],
                       bandwidth: float, rtt: float, duration: float, buffer_bdp: float,
                       queue: str = "droptail", warmup: float = 0.0, mss: int = 1460,
                       seed: int = 1) -> Experiment:
    """One flow per (algorithm, loss probability), loss applied at random on the link.

    Args:
        algorithms: congestion-control names.
        losses: loss probabilities in [0, 1).
        bandwidth: bottleneck rate, bit/s. Make it large enough that the flow
            is limited by loss, not the link: Mathis' model only holds then.
        rtt: base round-trip time, seconds.
        duration: simulated time per point, seconds.
        buffer_bdp: bottleneck buffer, bandwidth-delay products.
        queue: ``droptail``, ``red`` or ``codel``.
        warmup: seconds at the start that goodput does not count.
        mss: segment size, bytes.
        seed: the experiment's seed.

    Raises:
        ExperimentError: an unknown algorithm or queue, or a value out of range.
    """
    check_algorithms(algorithms)
    _check_link(bandwidth, rtt, duration, queue)
    if any(not 0 <= p < 1 for p in losses):
        raise ExperimentError("--loss: each loss probability must be in [0, 1)")
    labelled = [
        ({"algorithm": a, "loss": p},
         DumbbellSpec(flows=(FlowSpec(algorithm=a),), bandwidth=bandwidth, rtt=rtt,
                      buffer_bdp=buffer_bdp, queue=queue, loss=p, duration=duration,
                      warmup=warmup, mss=mss))
        for a in algorithms for p in losses
    ]
    params = {"algorithms": list(algorithms), "losses": list(losses), "bandwidth": bandwidth,
              "rtt": rtt, "duration": duration, "buffer_bdp": buffer_bdp, "queue": queue,
              "warmup": warmup, "mss": mss}
    return Experiment("goodput", seed, params, make_points(seed, labelled))


def _goodput_summary(experiment: Experiment, results: Sequence[DumbbellResult]) -> Summary:
    rows = []
    for point, result in zip(experiment.points, results, strict=True):
        flow = result.flows[0]
        spec = point.spec
        model = mathis_goodput(spec.mss, spec.rtt, spec.loss) if spec.loss > 0 else None
        rows.append({
            "algorithm": flow.algorithm, "loss": spec.loss, "goodput_bps": flow.goodput_bps,
            "mathis_bps": model,
            "ratio": flow.goodput_bps / model if model else None,
            # The model's rate beyond the link's: the link, not loss, is the limit.
            "limit": None if model is None else ("link" if model >= spec.bandwidth else "loss"),
            "retransmissions": flow.retransmissions, "mean_rtt": flow.mean_rtt,
        })
    columns = (Column("algorithm", "algorithm"), Column("loss", "loss", ".2%"),
               Column("goodput_bps", "goodput Mbit/s", ".3f/1e6"),
               Column("mathis_bps", "Mathis Mbit/s", ".3f/1e6"),
               Column("ratio", "goodput/Mathis", ".2f"), Column("limit", "limited by"),
               Column("retransmissions", "retransmits", ","),
               Column("mean_rtt", "mean RTT ms", ".1f/1e-3"))
    p = experiment.parameters
    notes = ("Mathis et al. 1997: MSS/RTT * sqrt(3/2)/sqrt(p) for a Reno flow limited by loss; "
             "'link' marks points where the model exceeds the link rate "
             f"({p['bandwidth'] / 1e6:g} Mbit/s), so it does not apply.",)
    return Summary(f"goodput vs loss: {p['bandwidth'] / 1e6:g} Mbit/s, RTT "
                   f"{p['rtt'] * 1e3:g} ms, {p['duration']:g} s per point", columns,
                   tuple(rows), notes)


# -- fairness -----------------------------------------------------------------------


def fairness_experiment(*, flows: Sequence[int], algorithms: Sequence[str], bandwidth: float,
                        rtt: float, duration: float, buffer_bdp: float, queue: str = "droptail",
                        ecn: bool = False, stagger: float = 0.0, warmup: float = 0.0,
                        sample_interval: float = 1.0, mss: int = 1460,
                        seed: int = 1) -> Experiment:
    """N flows on one bottleneck, one point per N in ``flows``; flow i runs
    ``algorithms[i % len(algorithms)]`` and starts at ``i * stagger`` seconds.

    Raises:
        ExperimentError: an unknown algorithm or queue, or a value out of range.
    """
    check_algorithms(algorithms)
    _check_link(bandwidth, rtt, duration, queue)
    if not algorithms or any(n < 1 for n in flows) or not flows:
        raise ExperimentError("--flows must be whole numbers >= 1 and --algorithms not empty")
    if stagger < 0 or sample_interval <= 0:
        raise ExperimentError("--stagger must be >= 0 and --sample-interval > 0")
    labelled = []
    for n in flows:
        names = [algorithms[i % len(algorithms)] for i in range(n)]
        specs = tuple(FlowSpec(algorithm=a, start=i * stagger) for i, a in enumerate(names))
        labelled.append(({"flows": n, "algorithms": ",".join(names)},
                         DumbbellSpec(flows=specs, bandwidth=bandwidth, rtt=rtt,
                                      buffer_bdp=buffer_bdp, queue=queue, ecn_marking=ecn,
                                      duration=duration, warmup=warmup,
                                      sample_interval=sample_interval, mss=mss)))
    params = {"flows": list(flows), "algorithms": list(algorithms), "bandwidth": bandwidth,
              "rtt": rtt, "duration": duration, "buffer_bdp": buffer_bdp, "queue": queue,
              "ecn": ecn, "stagger": stagger, "warmup": warmup,
              "sample_interval": sample_interval, "mss": mss}
    return Experiment("fairness", seed, params, make_points(seed, labelled))


def _fairness_summary(experiment: Experiment, results: Sequence[DumbbellResult]) -> Summary:
    rows = []
    for point, result in zip(experiment.points, results, strict=True):
        rates = [f.goodput_bps for f in result.flows]
        rows.append({
            "flows": len(rates), "algorithms": point.parameters["algorithms"],
            "jain": jain_index(rates), "utilisation": result.utilisation,
            "goodput_bps": aggregate_goodput(result), "per_flow_bps": rates,
            "queue_delay_mean": result.queue_delay_mean, "drops": result.drops,
        })
    columns = (Column("flows", "flows"), Column("algorithms", "algorithms"),
               Column("jain", "Jain's index", ".3f"), Column("utilisation", "utilisation", ".1%"),
               Column("goodput_bps", "total Mbit/s", ".3f/1e6"),
               Column("per_flow_bps", "per flow Mbit/s", ".3f/1e6"),
               Column("queue_delay_mean", "queue delay ms", ".1f/1e-3"),
               Column("drops", "drops", ","))
    p = experiment.parameters
    return Summary(f"fairness: {p['bandwidth'] / 1e6:g} Mbit/s, RTT {p['rtt'] * 1e3:g} ms, "
                   f"{p['buffer_bdp']:g} BDP {p['queue']}, {p['duration']:g} s", columns,
                   tuple(rows), ("Jain's index: 1 when every flow gets the same goodput, "
                                 "1/N when one takes all.",))


# -- bufferbloat --------------------------------------------------------------------


def bufferbloat_experiment(*, buffers: Sequence[float], algorithms: Sequence[str],
                           bandwidth: float, rtt: float, duration: float, flows: int = 1,
                           queue: str = "droptail", ecn: bool = False, warmup: float = 0.0,
                           mss: int = 1460, seed: int = 1) -> Experiment:
    """``flows`` flows of each algorithm per bottleneck buffer size (BDP multiples).

    Raises:
        ExperimentError: an unknown algorithm or queue, or a value out of range.
    """
    check_algorithms(algorithms)
    _check_link(bandwidth, rtt, duration, queue)
    if not buffers or any(not b > 0 for b in buffers) or flows < 1:
        raise ExperimentError("--buffers must be > 0 and --flows >= 1")
    labelled = [
        ({"algorithm": a, "buffer_bdp": b},
         DumbbellSpec(flows=tuple(FlowSpec(algorithm=a) for _ in range(flows)),
                      bandwidth=bandwidth, rtt=rtt, buffer_bdp=b, queue=queue,
                      ecn_marking=ecn, duration=duration, warmup=warmup, mss=mss))
        for a in algorithms for b in buffers
    ]
    params = {"buffers": list(buffers), "algorithms": list(algorithms), "flows": flows,
              "bandwidth": bandwidth, "rtt": rtt, "duration": duration, "queue": queue,
              "ecn": ecn, "warmup": warmup, "mss": mss}
    return Experiment("bufferbloat", seed, params, make_points(seed, labelled))


def _bufferbloat_summary(experiment: Experiment, results: Sequence[DumbbellResult]) -> Summary:
    rows = []
    for point, result in zip(experiment.points, results, strict=True):
        spec = point.spec
        rows.append({
            "algorithm": point.parameters["algorithm"], "buffer_bdp": spec.buffer_bdp,
            # One BDP is bandwidth (bit/s) * RTT (s) / 8 bytes.
            "buffer_bytes": spec.buffer,
            "goodput_bps": aggregate_goodput(result),
            "utilisation": result.utilisation, "queue_delay_mean": result.queue_delay_mean,
            "queue_delay_p95": result.queue_delay_p95, "drops": result.drops,
        })
    columns = (Column("algorithm", "algorithm"), Column("buffer_bdp", "buffer BDP", "g"),
               Column("buffer_bytes", "buffer bytes", ","),
               Column("goodput_bps", "goodput Mbit/s", ".3f/1e6"),
               Column("utilisation", "utilisation", ".1%"),
               Column("queue_delay_mean", "delay mean ms", ".1f/1e-3"),
               Column("queue_delay_p95", "delay p95 ms", ".1f/1e-3"), Column("drops", "drops", ","))
    p = experiment.parameters
    return Summary(f"bufferbloat: {p['bandwidth'] / 1e6:g} Mbit/s, RTT {p['rtt'] * 1e3:g} ms, "
                   f"{p['queue']}, {p['flows']} flow(s) each, {p['duration']:g} s", columns,
                   tuple(rows), ("Queueing delay at the bottleneck: what a bigger buffer "
                                 "costs every packet once the flow has filled it.",))


# -- sweep --------------------------------------------------------------------------


def sweep_experiment(sweep: SweepFile, *, seed: int = 1, source: str = "") -> Experiment:
    """The points of a sweep file's grid.

    Raises:
        ExperimentError: an unknown algorithm, or a point the spec refuses.
    """
    labelled = sweep.points()
    check_algorithms(sorted({f.algorithm for _, spec in labelled for f in spec.flows}))
    params = {"name": sweep.name, "file": source, "dumbbell": dict(sweep.dumbbell),
              "flows": [dict(f) for f in sweep.flows],
              "grid": {k: list(v) for k, v in sweep.grid.items()}}
    return Experiment("sweep", seed, params, make_points(seed, labelled))


def _sweep_summary(experiment: Experiment, results: Sequence[DumbbellResult]) -> Summary:
    keys = list(experiment.parameters["grid"])
    rows = []
    for point, result in zip(experiment.points, results, strict=True):
        rates = [f.goodput_bps for f in result.flows]
        row: dict[str, Any] = {k: point.parameters[k] for k in keys}
        row.update({
            "goodput_bps": aggregate_goodput(result),
            "jain": jain_index(rates) if rates else None,
            "utilisation": result.utilisation, "queue_delay_mean": result.queue_delay_mean,
            "queue_delay_p95": result.queue_delay_p95, "drops": result.drops,
            "retransmissions": sum(f.retransmissions for f in result.flows),
        })
        rows.append(row)
    columns = (*(Column(k, k) for k in keys),
               Column("goodput_bps", "goodput Mbit/s", ".3f/1e6"),
               Column("jain", "Jain", ".3f"), Column("utilisation", "utilisation", ".1%"),
               Column("queue_delay_mean", "delay mean ms", ".1f/1e-3"),
               Column("queue_delay_p95", "delay p95 ms", ".1f/1e-3"),
               Column("drops", "drops", ","), Column("retransmissions", "retransmits", ","))
    return Summary(f"sweep: {experiment.parameters['name']}", columns, tuple(rows))


_SUMMARIES: dict[str, Callable[[Experiment, Sequence[DumbbellResult]], Summary]] = {
    "goodput": _goodput_summary,
    "fairness": _fairness_summary,
    "bufferbloat": _bufferbloat_summary,
    "sweep": _sweep_summary,
}


def summarize(experiment: Experiment, results: Sequence[DumbbellResult]) -> Summary:
    """The summary of ``experiment`` from its ``results`` (in point order)."""
    return _SUMMARIES[experiment.name](experiment, results)
