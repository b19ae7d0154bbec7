"""What an experiment shows: a JSON object, a rich table, a matplotlib plot.

The JSON object (``--json``, one object on stdout)::

    {"experiment": "goodput", "seed": 1, "parameters": {...},
     "points": [{"index": 0, "seed": 2849..., "parameters": {"algorithm": ..., "loss": ...},
                 "spec": {...DumbbellSpec...}, "result": {...DumbbellResult...}}, ...],
     "summary": {"title": ..., "rows": [...], "notes": [...]},
     "machine": {"executor": "process", "jobs": 2, "hostname": ..., "python": ...,
                 "tcpstack": ..., "wall_seconds": ...}}

Everything but ``machine`` depends only on the experiment and its seed: it is
the same whichever executor ran the points. Rates are bit/s, times seconds,
sizes bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ... import __version__
from ...drivers.topology import DumbbellResult, DumbbellSpec
from ...tools.plot_draw import _figure as new_figure
from ...tools.plot_draw import _save as save_figure
from ...tools.plot_draw import file_format
from .models import mathis_goodput
from .plan import Experiment
from .runners import Summary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["experiment_json", "machine_info", "plot_experiment",
           "summary_table"]

MAX_PANELS = 6
"""Most points drawn one panel each (fairness' goodput over time)."""


def jsonable(value: Any) -> Any:
    """``value`` as JSON types: dataclasses as objects (a TcpConfig as its
    fields that differ from the defaults), tuples as lists, enums by value,
    non-finite floats as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        defaults = _defaults(type(value))
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in defaults or getattr(value, f.name) != defaults[f.name]}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _defaults(cls: type) -> dict[str, Any]:
    """Default field values of a configuration dataclass (only TcpConfig is
    shortened: specs and results are shown whole)."""
    from ...config import TcpConfig

    if cls is not TcpConfig:
        return {}
    return {f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}


def _spec_json(spec: DumbbellSpec) -> Any:
    return jsonable(spec)


def _result_json(result: DumbbellResult) -> dict[str, Any]:
    """The result without its spec (shown once per point) and its trace records."""
    out = {f.name: jsonable(getattr(result, f.name)) for f in dataclasses.fields(result)
           if f.name not in ("spec", "trace_records")}
    return out


def machine_info(*, executor: str, jobs: int | None, scheduler: str | None,
                 wall_seconds: float) -> dict[str, Any]:
    """Where and how an experiment ran (the part of the JSON that may differ between runs)."""
    return {"executor": executor, "jobs": jobs, "scheduler": scheduler,
            "hostname": platform.node(), "python": platform.python_version(),
            "platform": platform.platform(), "cpus": os.cpu_count(), "tcpstack": __version__,
            "wall_seconds": round(wall_seconds, 3)}


def experiment_json(experiment: Experiment, results: Sequence[DumbbellResult],
                    summary: Summary, machine: Mapping[str, Any]) -> dict[str, Any]:
    """The ``--json`` object (format in the module's doc)."""
    return {
        "experiment": experiment.name,
        "seed": experiment.seed,
        "parameters": jsonable(experiment.parameters),
        "points": [{"index": p.index, "seed": p.spec.seed, "parameters": jsonable(p.parameters),
                    "spec": _spec_json(p.spec), "result": _result_json(r)}
                   for p, r in zip(experiment.points, results, strict=True)],
        "summary": {"title": summary.title, "rows": jsonable(summary.rows),
                    "notes": list(summary.notes)},
        "machine": dict(machine),
    }


def summary_table(summary: Summary) -> Table:
    """The summary as a rich table (rates in Mbit/s, delays in ms)."""
    table = Table(title=summary.title, caption="\n".join(summary.notes) or None)
    for column in summary.columns:
        table.add_column(column.heading, justify="left" if column.fmt == "" else "right")
    for row in summary.rows:
        table.add_row(*(column.show(row.get(column.key)) for column in summary.columns))
    return table


# -- plots --------------------------------------------------------------------------


def plot_experiment(experiment: Experiment, results: Sequence[DumbbellResult],
                    summary: Summary, path: Path) -> None:
    """Draw the experiment into ``path`` (PNG, SVG or PDF by suffix).

    Raises:
        ValueError: not ``.png``, ``.svg`` or ``.pdf`` (checked before drawing).
        OSError: the file cannot be written.
    """
    file_format(path)
    draw = {"goodput": _plot_goodput, "fairness": _plot_fairness,
            "bufferbloat": _plot_bufferbloat}.get(experiment.name, _plot_sweep)
    fig = draw(experiment, results, summary)
    save_figure(fig, path)


def _figure(rows: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure of ``rows`` axes one above the other, 3.2 inches high each."""
    fig = new_figure((10.0, 3.2 * rows + 1.2))
    return fig, list(fig.subplots(rows, 1, squeeze=False)[:, 0])


def _by_algorithm(rows: Sequence[Mapping[str, Any]], x: str, y: str
                  ) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        xs, ys = out.setdefault(row["algorithm"], ([], []))
        if row.get(y) is not None:
            xs.append(row[x])
            ys.append(row[y])
    return out


def _plot_goodput(experiment: Experiment, results: Sequence[DumbbellResult],
                  summary: Summary) -> Figure:
    fig, (ax,) = _figure()
    p = experiment.parameters
    for algorithm, (xs, ys) in _by_algorithm(summary.rows, "loss", "goodput_bps").items():
        ax.plot([x * 100 for x in xs], [y / 1e6 for y in ys], "o-", label=algorithm)
    losses = sorted({x for x in p["losses"] if x > 0})
    if losses:
        # The model as a smooth curve over the measured range of p.
        lo, hi = math.log10(losses[0]), math.log10(losses[-1])
        grid = [10 ** (lo + (hi - lo) * i / 50) for i in range(51)] if hi > lo else losses
        ax.plot([q * 100 for q in grid],
                [mathis_goodput(p["mss"], p["rtt"], q) / 1e6 for q in grid], "k--",
                label="Mathis model (Reno)")
        ax.set_xscale("log")
        ax.set_xticks([q * 100 for q in losses], [f"{q * 100:g}" for q in losses])
    ax.axhline(p["bandwidth"] / 1e6, color="grey", linestyle=":", label="link rate")
    ax.set_yscale("log")
    ax.set_xlabel("random loss probability (%)")
    ax.set_ylabel("goodput (Mbit/s)")
    ax.set_title(summary.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


def _plot_fairness(experiment: Experiment, results: Sequence[DumbbellResult],
                   summary: Summary) -> Figure:
    shown = list(zip(experiment.points, results, summary.rows, strict=True))[:MAX_PANELS]
    fig, axes = _figure(rows=len(shown))
    for ax, (point, result, row) in zip(axes, shown, strict=True):
        for i, flow in enumerate(result.flows):
            ts = [t for t, _ in flow.series]
            ax.plot(ts, [v / 1e6 for _, v in flow.series], label=f"flow {i} ({flow.algorithm})")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("goodput (Mbit/s)")
        ax.set_title(f"{point.parameters['flows']} flow(s): Jain's index {row['jain']:.3f}")
        ax.grid(True, alpha=0.3)
        if len(result.flows) <= 10:
            ax.legend(loc="lower right", fontsize="small")
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(summary.title)
    return fig


def _plot_bufferbloat(experiment: Experiment, results: Sequence[DumbbellResult],
                      summary: Summary) -> Figure:
    fig, (delay, rate) = _figure(rows=2)
    for algorithm, (xs, ys) in _by_algorithm(summary.rows, "buffer_bdp",
                                             "queue_delay_mean").items():
        line = delay.plot(xs, [y * 1e3 for y in ys], "o-", label=f"{algorithm} mean")[0]
        p95 = _by_algorithm(summary.rows, "buffer_bdp", "queue_delay_p95")[algorithm]
        delay.plot(p95[0], [y * 1e3 for y in p95[1]], "s--", color=line.get_color(),
                   label=f"{algorithm} p95")
    for algorithm, (xs, ys) in _by_algorithm(summary.rows, "buffer_bdp",
                                             "goodput_bps").items():
        rate.plot(xs, [y / 1e6 for y in ys], "o-", label=algorithm)
    rate.axhline(experiment.parameters["bandwidth"] / 1e6, color="grey", linestyle=":",
                 label="link rate")
    buffers = sorted(set(experiment.parameters["buffers"]))
    for ax in (delay, rate):
        ax.set_xscale("log", base=2)
        ax.set_xticks(buffers, [f"{b:g}" for b in buffers])
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    delay.set_ylabel("queueing delay (ms)")
    rate.set_ylabel("goodput (Mbit/s)")
    rate.set_xlabel("bottleneck buffer (bandwidth-delay products)")
    fig.suptitle(summary.title)
    return fig


def _plot_sweep(experiment: Experiment, results: Sequence[DumbbellResult],
                summary: Summary) -> Figure:
    fig, (rate, delay) = _figure(rows=2)
    labels = [", ".join(f"{k}={v}" for k, v in p.parameters.items()) or "(one point)"
              for p in experiment.points]
    xs = list(range(len(labels)))
    rate.bar(xs, [row["goodput_bps"] / 1e6 for row in summary.rows])
    delay.bar(xs, [(row["queue_delay_mean"] or 0.0) * 1e3 for row in summary.rows])
    rate.set_ylabel("goodput (Mbit/s)")
    delay.set_ylabel("mean queueing delay (ms)")
    for ax in (rate, delay):
        ax.set_xticks(xs)
        ax.set_xticklabels(labels if len(labels) <= 24 else [str(x) for x in xs],
                           rotation=30 if len(labels) > 3 else 0, ha="right", fontsize="small")
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(summary.title)
    return fig
