"""Seeded experiments over the simulator's dumbbell (``tcpstack experiment``, issue 13).

An experiment is a set of independent simulations (:class:`Point`, one
:class:`~tcpstack.drivers.topology.DumbbellSpec` each, seeded from the
experiment's seed and the point's index), run through a
``concurrent.futures`` executor (:func:`open_executor`: processes here, or a
Dask cluster), summarised (:func:`summarize`) and shown as a table, a JSON
object or a plot (:mod:`.reports`). Typical use::

    exp = goodput_experiment(algorithms=["newreno"], losses=[0.01], bandwidth=100e6,
                             rtt=0.05, duration=60, buffer_bdp=1, seed=1)
    with open_executor("process", jobs=2) as executor:
        results = run_points(exp.points, submit_points(executor, exp.points))
    print(summarize(exp, results).rows)
"""

from __future__ import annotations

from .executors import (
    EXECUTORS,
    InlineExecutor,
    SimulationError,
    open_executor,
    run_points,
    submit_points,
)
from .models import MATHIS_C, jain_index, mathis_goodput
from .plan import Experiment, ExperimentError, Point, make_points, point_seed
from .reports import (
    experiment_json,
    machine_info,
    plot_experiment,
    summary_table,
)
from .runners import (
    QUEUES,
    Column,
    Summary,
    bufferbloat_experiment,
    check_algorithms,
    fairness_experiment,
    goodput_experiment,
    summarize,
    sweep_experiment,
)
from .sweep import SweepFile, expand_grid, load_sweep

__all__ = [
    "EXECUTORS",
    "MATHIS_C",
    "QUEUES",
    "Column",
    "Experiment",
    "ExperimentError",
    "InlineExecutor",
    "Point",
    "SimulationError",
    "Summary",
    "SweepFile",
    "bufferbloat_experiment",
    "check_algorithms",
    "expand_grid",
    "experiment_json",
    "fairness_experiment",
    "goodput_experiment",
    "jain_index",
    "load_sweep",
    "machine_info",
    "make_points",
    "mathis_goodput",
    "open_executor",
    "plot_experiment",
    "point_seed",
    "run_points",
    "submit_points",
    "summarize",
    "summary_table",
    "sweep_experiment",
]
